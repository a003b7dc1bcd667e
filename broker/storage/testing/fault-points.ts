/**
 * Named fault points in the storage engine, armed by tests to throw, exit the process or
 * run a callback at an exact step (in the spirit of redpanda's `failure_probes.h`).
 *
 * Call sites are written `if (faultPoints.active) faultPoints.hit('append.afterWrite')`, so
 * an unarmed point costs one boolean read. Points in use:
 *
 *   append.beforeWrite        after validation and offset assignment, before the write
 *   segment.midWrite          half of the payload written to the .log, the rest not yet
 *   append.afterWrite         after the write, before the in-memory state moves
 *   roll.beforeCreate         roll: old segment's index files written, new .log not created
 *   roll.beforeSnapshot       roll: new active segment created, producer snapshot not written
 *   segment.afterRoll         after a new active segment was created
 *   snapshot.midWrite         producer snapshot: half its bytes in `<offset>.snapshot.tmp`
 *   snapshot.beforeRename     producer snapshot: temp file complete and fsynced (at close), not renamed
 *   segment.midRetire         deleting a segment: `.log` renamed to `.deleted`, its indexes not yet
 *   sync.beforeFdatasync      once per fdatasync of a segment (tests count group commits)
 *   retention.beforeDelete    retention chose segments, nothing renamed yet
 *   compaction.beforeSwap     cleaned files written and fsynced, no manifest yet
 *   compaction.afterManifest  swap manifest committed, old segments still in place
 *   compaction.midSwap        between renaming the first and the remaining segments
 *   close.beforeSnapshot      in close(), data fsynced, producer snapshot not yet written
 *   truncate.afterSegments    truncation: later segments renamed away, the cut segment untouched
 *   truncate.afterCut         truncation: the cut segment truncated and fsynced, epochs and
 *                             checkpoint not yet rewritten
 *   topics.beforeCreateMetadata   createTopic made the directories, topics.json not yet written
 *   topics.afterDeleteMetadata    deleteTopic wrote topics.json, directories not yet renamed
 *
 * And one point per protocol front-end, for the failure-rule tests (detail: the client id):
 *   native.request            a native request, before its handler (native TCP and /ws)
 *   kafka.request             a Kafka request, before its handler
 *   mqtt.packet               an MQTT packet, before it is handled (MQTT TCP and /mqtt)
 *   http.request              an HTTP request, before its route handler
 *
 * A child process can arm points from a string such as `compaction.midSwap:exit` through
 * `armFromSpec` (the test helper does this; the engine never reads the environment).
 */

export type FaultAction = 'throw' | 'exit' | ((name: string, detail: string | undefined) => void)

export interface ArmOptions {
  /** Hits to let pass before acting (default 0). */
  skip?: number
  /** How many times to act before disarming itself (default unlimited). */
  times?: number
  /** Exit code for 'exit' (default 137, like SIGKILL). */
  exitCode?: number
}

/** Thrown by a point armed with 'throw'. */
export class FaultInjectedError extends Error {
  constructor (readonly point: string) {
    super(`fault injected at ${point}`)
    this.name = 'FaultInjectedError'
  }
}

interface Armed {
  action: FaultAction
  skip: number
  times: number
  exitCode: number
}

export class FaultPoints {
  /** True while any point is armed or counting; call sites test this first. */
  active = false
  readonly #armed = new Map<string, Armed>()
  readonly #hits = new Map<string, number>()
  #counting = false

  /** Arms `name`; replaces an earlier arming of the same point. */
  arm (name: string, action: FaultAction, options: ArmOptions = {}): void {
    this.#armed.set(name, {
      action,
      skip: options.skip ?? 0,
      times: options.times ?? Number.POSITIVE_INFINITY,
      exitCode: options.exitCode ?? 137,
    })
    this.active = true
  }

  /** Counts hits of every point (without acting) until `reset`. */
  count (): void {
    this.#counting = true
    this.active = true
  }

  /** How often `name` was hit while counting or armed. */
  hits (name: string): number {
    return this.#hits.get(name) ?? 0
  }

  /** Disarms one point, or everything (and clears the counters) without a name. */
  reset (name?: string): void {
    if (name !== undefined) {
      this.#armed.delete(name)
    } else {
      this.#armed.clear()
      this.#hits.clear()
      this.#counting = false
    }
    this.active = this.#counting || this.#armed.size > 0
  }

  /** `point:action[:skip]` items separated by commas, action `throw` or `exit`. */
  armFromSpec (spec: string): void {
    for (const item of spec.split(',').map(s => s.trim()).filter(Boolean)) {
      const [name, action, skip] = item.split(':')
      if (name === undefined || (action !== 'throw' && action !== 'exit')) {
        throw new Error(`bad fault point spec ${JSON.stringify(item)}`)
      }
      this.arm(name, action, { skip: skip === undefined ? 0 : Number(skip), times: 1 })
    }
  }

  /** Called by the engine at the point `name` (only when `active`); `detail` goes to a callback action. */
  hit (name: string, detail?: string): void {
    this.#hits.set(name, (this.#hits.get(name) ?? 0) + 1)
    const armed = this.#armed.get(name)
    if (armed === undefined) return
    if (armed.skip > 0) {
      armed.skip--
      return
    }
    if (--armed.times <= 0) this.reset(name)
    if (armed.action === 'throw') throw new FaultInjectedError(name)
    if (armed.action === 'exit') process.exit(armed.exitCode)
    armed.action(name, detail)
  }
}

/** The process-wide registry the storage engine consults. */
export const faultPoints = new FaultPoints()
