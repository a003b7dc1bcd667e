/**
 * One partition as the replica manager sees it on this broker: its role, the leader and
 * epoch it follows, the replica set and ISR from the cluster metadata, and — while this
 * broker leads it — what each follower has (its log end offset and when it last caught
 * up), the acks=all writes waiting for the high watermark, and the ISR change in flight.
 * The rules here are Kafka's (Partition.scala, ReplicaManager), written without I/O:
 *
 * - Follower progress: a follower's fetch offset is its log end offset. It is caught up at
 *   the time of a fetch that asks for the leader's log end offset; a fetch that asks for at
 *   least the leader's log end offset of the follower's previous fetch proves it was caught
 *   up then (lastCaughtUpTimeMs = that fetch's time).
 * - ISR shrink: an ISR follower not caught up within replicaLagTimeMs leaves the ISR.
 * - ISR expand: a replica outside the ISR joins once its log end offset reaches the high
 *   watermark and the start of the current leader epoch.
 * - High watermark: the lowest log end offset among the leader and the members of the
 *   "maximal" ISR (the ISR plus members being added), never moving back while leading; a
 *   member whose log end offset is not known since this broker became leader holds it.
 * - acks=all: a write is committed once the high watermark passes it; with fewer in-sync
 *   replicas than minInsyncReplicas then, NOT_ENOUGH_REPLICAS_AFTER_APPEND.
 *
 * Concurrency: methods are synchronous; the manager serialises role changes per partition
 * (`serial`) so a truncation never interleaves with becoming leader.
 */

import { NotEnoughReplicasAfterAppendError, NotLeaderOrFollowerError, RequestTimedOutError } from '../../protocol/errors.js'
import type { ReplicaRole } from './cluster-agent.js'

export interface FollowerProgress {
  /** The follower's log end offset (its last fetch offset); -1 until it fetches from this leadership. */
  logEndOffset: number
  lastCaughtUpTimeMs: number
  lastFetchTimeMs: number
  /** The leader's log end offset at the follower's last fetch. */
  lastFetchLeaderLogEndOffset: number
}

interface CommitWaiter {
  offset: number
  resolve (): void
  reject (err: Error): void
  timer: ReturnType<typeof setTimeout>
}

export class PartitionReplica {
  readonly topic: string
  readonly partition: number
  role: ReplicaRole = 'none'
  leader = -1
  leaderEpoch = -1
  partitionEpoch = 0
  replicas: number[] = []
  isr: number[] = []
  /** Members being added by an ISR change in flight (count for the high watermark already). */
  pendingAdds: number[] = []
  /** True while an ISR change request is in flight. */
  isrChangeInFlight = false
  /** Leader: the log end offset when this leadership began (a joiner must reach it). */
  epochStartOffset = 0
  readonly followers = new Map<number, FollowerProgress>()
  #waiters: CommitWaiter[] = []
  #chain: Promise<unknown> = Promise.resolve()

  constructor (topic: string, partition: number) {
    this.topic = topic
    this.partition = partition
  }

  get key (): string { return `${this.topic}/${this.partition}` }

  /** Runs `fn` after every earlier one of this partition (role changes, truncations). */
  serial<T> (fn: () => Promise<T> | T): Promise<T> {
    const run = this.#chain.then(fn)
    this.#chain = run.catch(() => undefined)
    return run
  }

  /** Leader now, from `logEndOffset` on: follower progress restarts (caught up as of now). */
  beginLeadership (logEndOffset: number, nowMs: number, self: number): void {
    this.epochStartOffset = logEndOffset
    this.followers.clear()
    for (const r of this.replicas) {
      if (r === self) continue
      this.followers.set(r, { logEndOffset: -1, lastCaughtUpTimeMs: nowMs, lastFetchTimeMs: 0, lastFetchLeaderLogEndOffset: -1 })
    }
  }

  /** Records a follower's fetch at `fetchOffset`; returns its progress. */
  recordFetch (replicaId: number, fetchOffset: number, leaderLogEndOffset: number, nowMs: number): FollowerProgress {
    let f = this.followers.get(replicaId)
    if (f === undefined) {
      f = { logEndOffset: -1, lastCaughtUpTimeMs: nowMs, lastFetchTimeMs: 0, lastFetchLeaderLogEndOffset: -1 }
      this.followers.set(replicaId, f)
    }
    if (fetchOffset >= leaderLogEndOffset) f.lastCaughtUpTimeMs = nowMs
    else if (f.lastFetchLeaderLogEndOffset >= 0 && fetchOffset >= f.lastFetchLeaderLogEndOffset) f.lastCaughtUpTimeMs = Math.max(f.lastCaughtUpTimeMs, f.lastFetchTimeMs)
    f.logEndOffset = fetchOffset
    f.lastFetchTimeMs = nowMs
    f.lastFetchLeaderLogEndOffset = leaderLogEndOffset
    return f
  }

  /** ISR followers that have not caught up within `lagMs` (they leave the ISR). */
  laggingFollowers (self: number, nowMs: number, lagMs: number): number[] {
    return this.isr.filter(r => r !== self && nowMs - (this.followers.get(r)?.lastCaughtUpTimeMs ?? 0) > lagMs)
  }

  /** Whether `replicaId` (outside the ISR) may join it now. */
  mayJoinIsr (replicaId: number, highWatermark: number): boolean {
    if (this.isr.includes(replicaId) || !this.replicas.includes(replicaId)) return false
    const f = this.followers.get(replicaId)
    return f !== undefined && f.logEndOffset >= highWatermark && f.logEndOffset >= this.epochStartOffset
  }

  /**
   * The high watermark the members allow: the lowest log end offset among the leader and
   * every other member of the maximal ISR; null while a member's is unknown.
   */
  highWatermarkCandidate (self: number, leaderLogEndOffset: number): number | null {
    let hw = leaderLogEndOffset
    for (const r of new Set([...this.isr, ...this.pendingAdds])) {
      if (r === self) continue
      const leo = this.followers.get(r)?.logEndOffset ?? -1
      if (leo < 0) return null
      if (leo < hw) hw = leo
    }
    return hw
  }

  /** Waits (at most `timeoutMs`) until `settle` is called with a high watermark >= offset. */
  waitCommitted (offset: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: CommitWaiter = {
        offset,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters = this.#waiters.filter(w => w !== waiter)
          reject(new RequestTimedOutError(`${this.key}: the in-sync replicas did not all acknowledge offset ${offset - 1} within ${timeoutMs} ms`))
        }, timeoutMs),
      }
      this.#waiters.push(waiter)
    })
  }

  get waitingWrites (): number { return this.#waiters.length }

  /** The high watermark is `hw`: writes below it are committed (or fail below minInsyncReplicas). */
  settle (hw: number, minInsyncReplicas: number): void {
    if (this.#waiters.length === 0) return
    const done = this.#waiters.filter(w => w.offset <= hw)
    if (done.length === 0) return
    this.#waiters = this.#waiters.filter(w => w.offset > hw)
    const enough = this.isr.length >= minInsyncReplicas
    for (const w of done) {
      clearTimeout(w.timer)
      if (enough) w.resolve()
      else w.reject(new NotEnoughReplicasAfterAppendError(`${this.key}: written, but only ${this.isr.length} in-sync replicas have it (minInsyncReplicas ${minInsyncReplicas})`))
    }
  }

  /** Leadership moved: waiting writes fail (they may or may not survive; a retry with idempotence is safe). */
  failWaiters (why: string): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) {
      clearTimeout(w.timer)
      w.reject(new NotLeaderOrFollowerError(`${this.key}: ${why} before the write was acknowledged by every in-sync replica`))
    }
  }
}
