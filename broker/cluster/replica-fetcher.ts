/**
 * The follower side of replication: one fetcher per leader broker, carrying every partition
 * this broker follows there (Kafka's ReplicaFetcherThread). Each partition goes through:
 *
 *   truncating  ask the leader (OffsetForLeaderEpoch) where the epoch of our latest batch
 *               ends in its log, and cut our log there — or at our own end of the leader's
 *               answer epoch when the leader does not know ours (KIP-279) — so a tail written
 *               under an older leader that the new one does not have is dropped, and
 *               committed records (below the high watermark) never are
 *   fetching    ReplicaFetch from our log end offset in the leader epoch we know; the
 *               batches are appended as they are (same bytes, same offsets), the leader's
 *               high watermark (capped by our end) becomes ours
 *
 * and back to truncating after anything that may mean the leader changed (FENCED or
 * UNKNOWN_LEADER_EPOCH, NOT_LEADER_OR_FOLLOWER, an out-of-range fetch), after a short
 * backoff during which the metadata usually brings the new leader (the manager then moves
 * the partition to that leader's fetcher). A fetch offset below the leader's log start
 * (retention took what we lack) empties our log and restarts it at the leader's start.
 *
 * Replicas being added by a reassignment (the partition's `addingReplicas`) catch up at
 * most `reassignmentThrottleBytesPerSec` (a token bucket per fetcher), so a move does not
 * starve the produce traffic; in-sync replicas are never throttled.
 */

import type { Logger } from 'pino'
import { ERROR_TABLE, SpoolError, errorFromCode } from '../../protocol/errors.js'
import { UNDEFINED_EPOCH } from '../storage/leader-epoch-cache.js'
import type { PartitionLog } from '../storage/partition-log.js'
import type { PartitionReplica } from './partition-replica.js'
import type { PeerPool } from './peer-client.js'

/** What the fetchers need of the replica manager (replica-manager.ts implements it). */
export interface FetcherHost {
  readonly nodeId: number
  readonly settings: { replicaFetchWaitMs: number, replicaFetchMaxBytes: number, reassignmentThrottleBytesPerSec: number }
  readonly counters: { truncations: number }
  log (topic: string, partition: number): PartitionLog
  /** Runs `fn` on the follower's log behind the partition's role changes, if it still follows `leader` in `leaderEpoch` (else null). */
  whileFollowing<T> (r: PartitionReplica, leader: number, leaderEpoch: number, fn: (log: PartitionLog) => Promise<T>): Promise<T | null>
  /** Appends fetched batches and takes the leader's high watermark and log start offset, if `r` still follows `leader` in `leaderEpoch`. */
  appendFetched (r: PartitionReplica, leader: number, leaderEpoch: number, records: Uint8Array, leaderHighWatermark: number, leaderLogStartOffset: number): boolean
}

type FetchState = 'truncating' | 'fetching'

interface Followed {
  replica: PartitionReplica
  leaderEpoch: number
  state: FetchState
  retryAtMs: number
  /** Throttled (a replica being added by a reassignment). */
  throttled: boolean
}

const BACKOFF_MS = 200
const MAX_BACKOFF_MS = 1000
const REQUEST_SLACK_MS = 5000
const RETRY_CODES = new Set<number>([
  ERROR_TABLE.NOT_LEADER_OR_FOLLOWER.code, ERROR_TABLE.FENCED_LEADER_EPOCH.code, ERROR_TABLE.UNKNOWN_LEADER_EPOCH.code,
  ERROR_TABLE.UNKNOWN_TOPIC_OR_PARTITION.code, ERROR_TABLE.OFFSET_OUT_OF_RANGE.code,
])

export class ReplicaFetchers {
  readonly #manager: FetcherHost
  readonly #peers: PeerPool
  readonly #logger: Logger
  readonly #now: () => number
  readonly #byLeader = new Map<number, ReplicaFetcher>()
  readonly #leaderOf = new Map<string, number>()

  constructor (o: { manager: FetcherHost, peers: PeerPool, logger: Logger, now: () => number }) {
    this.#manager = o.manager
    this.#peers = o.peers
    this.#logger = o.logger
    this.#now = o.now
  }

  /** Follows `replica` at `leader` in `leaderEpoch` (starting with a truncation). */
  add (replica: PartitionReplica, leader: number, leaderEpoch: number): void {
    this.remove(replica)
    let fetcher = this.#byLeader.get(leader)
    if (fetcher === undefined) {
      fetcher = new ReplicaFetcher(leader, this.#manager, this.#peers, this.#logger, this.#now)
      this.#byLeader.set(leader, fetcher)
    }
    fetcher.add(replica, leaderEpoch)
    this.#leaderOf.set(replica.key, leader)
  }

  remove (replica: PartitionReplica): void {
    const leader = this.#leaderOf.get(replica.key)
    if (leader === undefined) return
    this.#leaderOf.delete(replica.key)
    const fetcher = this.#byLeader.get(leader)
    if (fetcher === undefined) return
    fetcher.remove(replica.key)
    if (fetcher.size === 0) {
      fetcher.stop()
      this.#byLeader.delete(leader)
    }
  }

  /** Marks a partition's fetch as throttled (reassignment catch-up) or not. */
  setThrottled (replica: PartitionReplica, throttled: boolean): void {
    const leader = this.#leaderOf.get(replica.key)
    if (leader !== undefined) this.#byLeader.get(leader)?.setThrottled(replica.key, throttled)
  }

  /** Leaders this broker fetches from, with how many partitions each. */
  describe (): Array<{ leader: number, partitions: number }> {
    return [...this.#byLeader.entries()].map(([leader, f]) => ({ leader, partitions: f.size }))
  }

  close (): void {
    for (const f of this.#byLeader.values()) f.stop()
    this.#byLeader.clear()
    this.#leaderOf.clear()
  }
}

class ReplicaFetcher {
  readonly leader: number
  readonly #manager: FetcherHost
  readonly #peers: PeerPool
  readonly #logger: Logger
  readonly #now: () => number
  readonly #partitions = new Map<string, Followed>()
  #stopped = false
  #wake: (() => void) | null = null
  #failures = 0
  /** Token bucket of throttled catch-up bytes. */
  #tokens = 0
  #tokensAtMs = 0

  constructor (leader: number, manager: FetcherHost, peers: PeerPool, logger: Logger, now: () => number) {
    this.leader = leader
    this.#manager = manager
    this.#peers = peers
    this.#logger = logger.child({ fetchingFrom: leader })
    this.#now = now
    void this.#run()
  }

  get size (): number { return this.#partitions.size }

  add (replica: PartitionReplica, leaderEpoch: number): void {
    this.#partitions.set(replica.key, { replica, leaderEpoch, state: 'truncating', retryAtMs: 0, throttled: false })
    this.#poke()
  }

  remove (key: string): void {
    this.#partitions.delete(key)
  }

  setThrottled (key: string, throttled: boolean): void {
    const f = this.#partitions.get(key)
    if (f !== undefined) f.throttled = throttled
  }

  stop (): void {
    this.#stopped = true
    this.#poke()
  }

  #poke (): void {
    const w = this.#wake
    this.#wake = null
    w?.()
  }

  #sleep (ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve()
    return new Promise(resolve => {
      let timer: ReturnType<typeof setTimeout> | null = null
      const done = (): void => {
        if (timer !== null) clearTimeout(timer)
        if (this.#wake === done) this.#wake = null
        resolve()
      }
      timer = setTimeout(done, Math.max(1, ms))
      this.#wake = done
    })
  }

  async #run (): Promise<void> {
    while (!this.#stopped) {
      const now = this.#now()
      const due = [...this.#partitions.values()].filter(f => f.retryAtMs <= now)
      if (due.length === 0) {
        const next = Math.min(...[...this.#partitions.values()].map(f => f.retryAtMs), now + 1000)
        await this.#sleep(next - now)
        continue
      }
      try {
        const truncating = due.filter(f => f.state === 'truncating')
        if (truncating.length > 0) await this.#truncate(truncating)
        const fetching = due.filter(f => f.state === 'fetching' && this.#partitions.get(f.replica.key) === f)
        if (fetching.length > 0) await this.#fetch(fetching)
        this.#failures = 0
      } catch (err) {
        if (this.#stopped) break
        const ms = Math.min(MAX_BACKOFF_MS, BACKOFF_MS * 2 ** Math.min(this.#failures++, 4))
        this.#logger.debug({ err: (err as Error).message, code: (err as SpoolError).code, backoffMs: ms }, 'replica fetch failed')
        if (this.#failures > 2) this.#peers.drop(this.leader)
        await this.#sleep(ms)
      }
    }
  }

  #backOff (f: Followed, state: FetchState): void {
    f.state = state
    f.retryAtMs = this.#now() + BACKOFF_MS
  }

  /** OffsetForLeaderEpoch for every partition starting to follow, then each log cut at the answer. */
  async #truncate (list: Followed[]): Promise<void> {
    const connection = await this.#peers.connection(this.leader)
    const asked = list.map(f => ({ f, latest: this.#manager.log(f.replica.topic, f.replica.partition).latestEpoch }))
    const { body } = await connection.request('OffsetForLeaderEpoch', {
      replicaId: this.#manager.nodeId,
      partitions: asked.map(({ f, latest }) => ({ topic: f.replica.topic, partition: f.replica.partition, currentLeaderEpoch: f.leaderEpoch, leaderEpoch: latest })),
    }, { timeoutMs: REQUEST_SLACK_MS })
    await Promise.all(body.partitions.map(async (p, i) => {
      const { f, latest } = asked[i]!
      if (this.#partitions.get(f.replica.key) !== f) return
      if (p.errorCode !== 0) {
        this.#logger.debug({ topic: p.topic, partition: p.partition, code: errorFromCode(p.errorCode).code }, 'OffsetForLeaderEpoch refused; retrying')
        this.#backOff(f, 'truncating')
        return
      }
      const done = await this.#manager.whileFollowing(f.replica, this.leader, f.leaderEpoch, async log => {
        const before = log.logEndOffset
        let target = before
        if (latest !== UNDEFINED_EPOCH) {
          if (p.leaderEpoch === UNDEFINED_EPOCH) {
            target = Math.min(log.highWatermark, p.logEndOffset)
          } else {
            const own = p.leaderEpoch === latest ? before : log.endOffsetForEpoch(p.leaderEpoch).endOffset
            target = Math.min(p.endOffset, own < 0 ? before : own, before)
          }
        }
        if (target < log.logStartOffset || before < p.logStartOffset || target < p.logStartOffset) {
          await log.truncateFullyAndStartAt(p.logStartOffset)
        } else if (target < before) {
          await log.truncateTo(target)
        }
        if (log.logEndOffset < before) {
          this.#manager.counters.truncations++
          this.#logger.info({ topic: f.replica.topic, partition: f.replica.partition, leaderEpoch: f.leaderEpoch, from: before, to: log.logEndOffset }, 'truncated a divergent tail before following the leader')
        }
        return true
      })
      if (done === null) return
      f.state = 'fetching'
      f.retryAtMs = 0
    }))
  }

  async #fetch (list: Followed[]): Promise<void> {
    const connection = await this.#peers.connection(this.leader)
    const settings = this.#manager.settings
    const perPartition = Math.max(1024 * 1024, Math.floor(settings.replicaFetchMaxBytes / 4))
    const throttleRoom = this.#throttleRoom()
    const sent = list.filter(f => !f.throttled || throttleRoom > 0)
    if (sent.length === 0) {
      await this.#sleep(100)
      return
    }
    const partitions = sent.map(f => {
      const log = this.#manager.log(f.replica.topic, f.replica.partition)
      return {
        topic: f.replica.topic, partition: f.replica.partition, leaderEpoch: f.leaderEpoch, fetchOffset: log.logEndOffset,
        highWatermark: log.highWatermark, maxBytes: f.throttled ? Math.max(1, Math.min(perPartition, throttleRoom)) : perPartition,
      }
    })
    const { body, records } = await connection.request('ReplicaFetch', {
      replicaId: this.#manager.nodeId, maxWaitMs: settings.replicaFetchWaitMs, minBytes: 1, maxBytes: settings.replicaFetchMaxBytes, partitions,
    }, { timeoutMs: settings.replicaFetchWaitMs + REQUEST_SLACK_MS })
    let pos = 0
    for (let i = 0; i < body.partitions.length; i++) {
      const p = body.partitions[i]!
      const slice = records.subarray(pos, pos + p.recordsBytes)
      pos += p.recordsBytes
      const f = this.#partitions.get(`${p.topic}/${p.partition}`)
      if (f === undefined || !sent.includes(f)) continue
      if (p.errorCode !== 0) {
        if (!RETRY_CODES.has(p.errorCode)) this.#logger.warn({ topic: p.topic, partition: p.partition, code: errorFromCode(p.errorCode).code, message: p.errorMessage }, 'replica fetch refused')
        this.#backOff(f, 'truncating')
        continue
      }
      if (f.throttled) this.#tokens -= slice.length
      try {
        this.#manager.appendFetched(f.replica, this.leader, f.leaderEpoch, slice, p.highWatermark, p.logStartOffset)
      } catch (err) {
        this.#logger.warn({ topic: p.topic, partition: p.partition, err: (err as Error).message, code: (err as SpoolError).code }, 'fetched batches could not be appended; truncating again')
        this.#backOff(f, 'truncating')
      }
    }
  }

  /** Bytes throttled partitions may fetch now (Infinity when not throttled). */
  #throttleRoom (): number {
    const rate = this.#manager.settings.reassignmentThrottleBytesPerSec
    if (rate <= 0) return Number.POSITIVE_INFINITY
    const now = this.#now()
    this.#tokens = Math.min(rate, this.#tokens + ((now - this.#tokensAtMs) / 1000) * rate)
    this.#tokensAtMs = now
    return Math.floor(this.#tokens)
  }
}
