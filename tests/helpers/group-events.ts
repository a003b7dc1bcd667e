/**
 * Consumer-group members for tests, in this process or as processes
 * (tests/helpers/group-member.ts), all reporting the same event timeline, and the checks
 * made on it: exclusive ownership (no partition owned by two live members at once) and
 * coverage (every offset processed at least once).
 */

import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Client, type Consumer, type SpoolError } from '../../client/index.js'
import type { TestLike } from './broker.js'

export interface GroupEvent {
  ev: 'joined' | 'assign' | 'revoke' | 'processed' | 'commit' | 'closed' | 'death'
  name: string
  t: number
  p?: number | number[]
  o?: number
  lost?: boolean
  ok?: boolean
  code?: string
  memberId?: string
}

export const MEMBER_SCRIPT = fileURLToPath(new URL('./group-member.js', import.meta.url))

export { waitFor as until } from './wait.js'

/** The partitions a member owns according to its events (assign minus revoke). */
export function ownedFrom (events: readonly GroupEvent[], name: string): number[] {
  const owned = new Set<number>()
  for (const e of events) {
    if (e.name !== name) continue
    if (e.ev === 'assign') for (const p of e.p as number[]) owned.add(p)
    if (e.ev === 'revoke') for (const p of e.p as number[]) owned.delete(p)
  }
  return [...owned].sort((a, b) => a - b)
}

/**
 * Replays the timeline (deaths included) and returns every moment a partition was assigned
 * to a member while another live member still owned it. A revoke or death at the same
 * millisecond as the assign counts as before it (it is printed before the release).
 */
export function overlaps (events: readonly GroupEvent[]): string[] {
  const order = { death: 0, revoke: 1, assign: 2 } as Record<string, number>
  const timeline = events.filter(e => e.ev in order).sort((a, b) => a.t - b.t || order[a.ev]! - order[b.ev]!)
  const owner = new Map<number, string>()
  const problems: string[] = []
  for (const e of timeline) {
    if (e.ev === 'death') {
      for (const [p, who] of owner) if (who === e.name) owner.delete(p)
      continue
    }
    for (const p of e.p as number[]) {
      if (e.ev === 'revoke') {
        if (owner.get(p) === e.name) owner.delete(p)
      } else {
        const held = owner.get(p)
        if (held !== undefined && held !== e.name) problems.push(`partition ${p} assigned to ${e.name} at ${e.t} while ${held} owned it`)
        owner.set(p, e.name)
      }
    }
  }
  return problems
}

/** Offsets of [0, end) per partition never seen in a processed event. */
export function missing (events: readonly GroupEvent[], ends: ReadonlyMap<number, number>): string[] {
  const seen = new Set(events.filter(e => e.ev === 'processed').map(e => `${e.p as number}:${e.o!}`))
  const out: string[] = []
  for (const [p, end] of ends) for (let o = 0; o < end; o++) if (!seen.has(`${p}:${o}`)) out.push(`${p}:${o}`)
  return out
}

/** A member in its own process, killed at teardown if still running. */
export class MemberProcess {
  readonly name: string
  readonly child: ChildProcess
  readonly exited: Promise<number | string>
  #buffered = ''
  #stderr = ''

  constructor (t: TestLike, readonly events: GroupEvent[], config: { broker: string, group: string, topic: string, name: string, sessionTimeoutMs: number, processMs?: number, stallMs?: number }) {
    this.name = config.name
    this.child = spawn(process.execPath, [MEMBER_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SPOOL_TEST_MEMBER: JSON.stringify(config) } })
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.#buffered += chunk
      let at = this.#buffered.indexOf('\n')
      while (at >= 0) {
        events.push(JSON.parse(this.#buffered.slice(0, at)) as GroupEvent)
        this.#buffered = this.#buffered.slice(at + 1)
        at = this.#buffered.indexOf('\n')
      }
    })
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.#stderr += d })
    this.exited = new Promise(resolve => this.child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)))
    t.teardown(() => { if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL') })
  }

  get stderr (): string { return this.#stderr }

  /** SIGKILL; a 'death' event at the moment of the kill. */
  async kill (): Promise<void> {
    this.events.push({ ev: 'death', name: this.name, t: Date.now() })
    this.child.kill('SIGKILL')
    await this.exited
  }
}

/** A member in this process, on its own Client (closed at teardown), with the same events. */
export class MemberInProcess {
  readonly client: Client
  readonly consumer: Consumer
  readonly joined: Promise<void>
  running: Promise<void> | null = null

  constructor (t: TestLike, readonly events: GroupEvent[], readonly name: string, config: { broker: string, group: string, topics: string[], sessionTimeoutMs?: number, transport?: { url: string, WebSocket: unknown } }) {
    const retry = { retries: 5, initialRetryTimeMs: 50, maxRetryTimeMs: 500 }
    this.client = config.transport === undefined
      ? new Client({ brokers: [config.broker], clientId: `member-${name}`, retry })
      : new Client({ url: config.transport.url, WebSocket: config.transport.WebSocket as never, clientId: `member-${name}`, retry })
    t.teardown(() => this.client.close())
    const print = (e: Omit<GroupEvent, 'name' | 't'>): void => { events.push({ ...e, name, t: Date.now() }) }
    this.consumer = this.client.consumer({
      groupId: config.group,
      fromBeginning: true,
      sessionTimeoutMs: config.sessionTimeoutMs ?? 10_000,
      autoCommitIntervalMs: 200,
      maxWaitMs: 100,
      onAssigned: ps => print({ ev: 'assign', p: ps.map(tp => tp.partition) }),
      onRevoked: (ps, { lost }) => print({ ev: 'revoke', p: ps.map(tp => tp.partition), lost }),
    })
    this.joined = this.consumer.subscribe({ topics: config.topics })
  }

  /** Starts run({ eachMessage }) recording processed events. */
  run (): void {
    this.running = this.consumer.run({
      eachMessage: ({ message }) => { this.events.push({ ev: 'processed', name: this.name, t: Date.now(), p: message.partition, o: message.offset }) },
    }).catch((err: SpoolError) => { this.events.push({ ev: 'commit', name: this.name, t: Date.now(), ok: false, code: err.code }) })
  }

  owned (): number[] {
    return this.consumer.assignment().map(tp => tp.partition).sort((a, b) => a - b)
  }

  async close (): Promise<void> {
    await this.consumer.close()
    await this.running
  }
}
