/**
 * The replica manager (docs/cluster.md, "Replication"): what this broker does for every
 * partition it holds a replica of, driven by the cluster agent's `partitionRole` and
 * `partitionChanged` events.
 *
 *   leader    appends stamp the leader epoch (PartitionLog.becomeLeader); followers fetch
 *             with ReplicaFetch and their fetch offsets move the high watermark (the
 *             lowest log end offset of the ISR, partition-replica.ts); acks=all writes wait
 *             for it; the ISR shrinks (a follower not caught up for replicaLagTimeMs) and
 *             grows (a follower reaching the high watermark) through agent.requestIsrChange
 *   follower  a fetcher per leader (replica-fetcher.ts) first asks the leader where the
 *             logs diverge (OffsetForLeaderEpoch) and truncates, then appends what it
 *             fetches as it is and takes the leader's high watermark (capped by its own end)
 *   none      no replica here: fetching stops, the local log is emptied
 *
 * It is the only code that moves a replicated partition's high watermark, and it is the
 * partition service's ReplicaGate: client writes and reads of partitions this broker does
 * not lead are NOT_LEADER_OR_FOLLOWER. The serving side of ReplicaFetch and
 * OffsetForLeaderEpoch is in replica-serving.ts.
 *
 * Role changes of one partition run one after another (PartitionReplica.serial), and wait
 * for the topic's local log to exist (topic-sync.ts creates it when the topic appears).
 */

import type { Logger } from 'pino'
import {
  FencedLeaderEpochError, LogClosedError, NotEnoughReplicasError, NotLeaderOrFollowerError, SpoolError, UnknownLeaderEpochError,
} from '../../protocol/errors.js'
import type { PartitionService } from '../services/partitions.js'
import type { ReplicaGate, RequiredAcks } from '../services/replication.js'
import type { LogManager } from '../storage/log-manager.js'
import type { PartitionLog } from '../storage/partition-log.js'
import type { ClusterAgent, PartitionRole } from './cluster-agent.js'
import { PartitionReplica } from './partition-replica.js'
import type { PartitionState } from './records.js'
import { ReplicaFetchers } from './replica-fetcher.js'
import type { PeerPool } from './peer-client.js'

export interface ReplicationSettings {
  /** A follower not caught up for this long leaves the ISR. */
  replicaLagTimeMs: number
  /** acks=all needs at least this many in-sync replicas. */
  minInsyncReplicas: number
  /** How long a follower's fetch waits at the leader for new records. */
  replicaFetchWaitMs: number
  /** Bytes a follower asks for per fetch (and per partition: a quarter of it, at least 1 MiB). */
  replicaFetchMaxBytes: number
  /** Catch-up of replicas being added by a reassignment is throttled to this (0 = not throttled). */
  reassignmentThrottleBytesPerSec: number
}

export interface ReplicaManagerOptions {
  nodeId: number
  logs: LogManager
  settings: ReplicationSettings
  peers: PeerPool
  /** Resolves once the topic's local logs exist (topic-sync.ts). */
  topicReady: (topic: string) => Promise<void>
  logger: Logger
  now?: () => number
}

/** What the manager counts for /metrics (observability reads it). */
export interface ReplicationCounters {
  isrShrinks: number
  isrExpands: number
  truncations: number
  bytesFetched: number
}

const HW_CHECKPOINT_INTERVAL_MS = 5000

export class ReplicaManager implements ReplicaGate {
  readonly nodeId: number
  readonly settings: ReplicationSettings
  readonly counters: ReplicationCounters = { isrShrinks: 0, isrExpands: 0, truncations: 0, bytesFetched: 0 }
  readonly #logs: LogManager
  readonly #logger: Logger
  readonly #now: () => number
  readonly #topicReady: (topic: string) => Promise<void>
  readonly #replicas = new Map<string, PartitionReplica>()
  /** Replica fetches waiting at this leader, by partition key. */
  readonly #fetchWaiters = new Map<string, Set<() => void>>()
  readonly fetchers: ReplicaFetchers
  readonly #leadershipListeners: Array<(topic: string, partition: number, leading: boolean) => void> = []
  #partitions: PartitionService | null = null
  #agent: ClusterAgent | null = null
  #timers: NodeJS.Timeout[] = []
  #closed = false

  constructor (o: ReplicaManagerOptions) {
    this.nodeId = o.nodeId
    this.settings = o.settings
    this.#logs = o.logs
    this.#logger = o.logger.child({ component: 'replication' })
    this.#now = o.now ?? Date.now
    this.#topicReady = o.topicReady
    this.fetchers = new ReplicaFetchers({ manager: this, peers: o.peers, logger: this.#logger, now: this.#now })
  }

  /** The partition service (built with this manager as its gate). */
  attach (partitions: PartitionService): void {
    this.#partitions = partitions
  }

  get partitionService (): PartitionService {
    if (this.#partitions === null) throw new Error('replica manager used before attach()')
    return this.#partitions
  }

  get logger (): Logger { return this.#logger }
  get now (): () => number { return this.#now }

  /** Takes the roles the agent knows and follows its events; starts the ISR and checkpoint timers. */
  start (agent: ClusterAgent): void {
    this.#agent = agent
    agent.on('partitionRole', role => this.apply(role))
    agent.on('partitionChanged', state => this.#changed(state))
    for (const role of agent.localPartitions()) this.apply(role)
    const every = (ms: number, fn: () => void): void => {
      const t = setInterval(fn, ms)
      t.unref()
      this.#timers.push(t)
    }
    every(Math.max(100, Math.floor(this.settings.replicaLagTimeMs / 2)), () => this.#checkIsr())
    every(HW_CHECKPOINT_INTERVAL_MS, () => this.#checkpointHighWatermarks())
  }

  close (): void {
    this.#closed = true
    for (const t of this.#timers) clearInterval(t)
    this.#timers = []
    this.fetchers.close()
    for (const r of this.#replicas.values()) r.failWaiters('the broker is shutting down')
    for (const set of this.#fetchWaiters.values()) for (const w of [...set]) w()
    this.#checkpointHighWatermarks()
  }

  /**
   * Calls `fn` when this broker starts leading a partition (after it is ready to take
   * writes) and when it stops (the group coordinator loads and unloads its groups).
   */
  onLeadershipChange (fn: (topic: string, partition: number, leading: boolean) => void): void {
    this.#leadershipListeners.push(fn)
  }

  #leadership (r: PartitionReplica, leading: boolean): void {
    for (const fn of this.#leadershipListeners) {
      try {
        fn(r.topic, r.partition, leading)
      } catch (err) {
        this.#logger.error({ err, topic: r.topic, partition: r.partition }, 'leadership listener failed')
      }
    }
  }

  replica (topic: string, partition: number): PartitionReplica | undefined {
    return this.#replicas.get(`${topic}/${partition}`)
  }

  replicas (): IterableIterator<PartitionReplica> { return this.#replicas.values() }

  /** The local log of a partition (UNKNOWN_TOPIC_OR_PARTITION when absent). */
  log (topic: string, partition: number): PartitionLog {
    return this.#logs.partition(topic, partition)
  }

  // ---- role changes

  /** Applies the latest role of a partition (queued behind earlier changes of it). */
  apply (role: PartitionRole): void {
    const key = `${role.topic}/${role.partition}`
    let r = this.#replicas.get(key)
    if (r === undefined) {
      r = new PartitionReplica(role.topic, role.partition)
      this.#replicas.set(key, r)
    }
    const replica = r
    replica.serial(() => this.#transition(replica, role)).catch(err => {
      if (!this.#closed && !(err instanceof LogClosedError)) this.#logger.error({ err, topic: role.topic, partition: role.partition, role: role.role }, 'partition role change failed')
    })
  }

  async #transition (r: PartitionReplica, role: PartitionRole): Promise<void> {
    if (this.#closed) return
    if (role.role !== 'none') await this.#topicReady(role.topic)
    const log = this.#logs.partition(role.topic, role.partition)
    const wasLeader = r.role === 'leader'
    r.replicas = [...role.replicas]
    r.isr = [...role.isr]
    r.partitionEpoch = role.partitionEpoch
    r.pendingAdds = []
    log.setReplicated(true)
    if (role.role === 'leader') {
      this.fetchers.remove(r)
      const sameLeadership = wasLeader && r.leaderEpoch === role.leaderEpoch
      log.becomeLeader(role.leaderEpoch)
      r.role = 'leader'
      r.leader = this.nodeId
      r.leaderEpoch = role.leaderEpoch
      if (!sameLeadership) r.beginLeadership(log.logEndOffset, this.#now(), this.nodeId)
      this.#logger.info({ topic: r.topic, partition: r.partition, leaderEpoch: r.leaderEpoch, isr: r.isr, logEndOffset: log.logEndOffset, highWatermark: log.highWatermark }, 'leading partition')
      this.#maybeAdvanceHighWatermark(r, log)
      if (!wasLeader) this.#leadership(r, true)
      return
    }
    if (wasLeader) {
      r.failWaiters('leadership moved')
      this.#leadership(r, false)
    }
    this.#wakeFetchWaiters(r.key)
    r.role = role.role
    r.leader = role.leader
    r.leaderEpoch = role.leaderEpoch
    r.followers.clear()
    // Consumers long-polling a leader that no longer leads read again now and are told where
    // the partition went, instead of at the end of their maxWaitMs.
    if (wasLeader) this.partitionService.notifyReadable(r.topic, r.partition)
    if (role.role === 'follower') {
      if (role.leader >= 0) this.fetchers.add(r, role.leader, role.leaderEpoch)
      else this.fetchers.remove(r)
      const state = this.#agent?.metadata.partition(r.topic, r.partition)
      if (state !== undefined) this.#throttle(r, state)
      this.#logger.info({ topic: r.topic, partition: r.partition, leader: role.leader, leaderEpoch: role.leaderEpoch, logEndOffset: log.logEndOffset }, 'following partition')
      return
    }
    this.fetchers.remove(r)
    if (log.logEndOffset > 0 || log.logStartOffset > 0) await log.truncateFullyAndStartAt(0)
    this.#logger.info({ topic: r.topic, partition: r.partition }, 'no longer a replica of the partition; local log emptied')
  }

  /** A replica being added by a reassignment catches up throttled until it is in the ISR. */
  #throttle (r: PartitionReplica, state: PartitionState): void {
    this.fetchers.setThrottled(r, state.addingReplicas.includes(this.nodeId) && !state.isr.includes(this.nodeId))
  }

  /** ISR, replicas or partition epoch changed (no role change): keep them, maybe move the high watermark. */
  #changed (state: PartitionState): void {
    const r = this.#replicas.get(`${state.topic}/${state.partition}`)
    if (r === undefined) return
    void r.serial(() => {
      if (state.partitionEpoch < r.partitionEpoch) return
      r.isr = [...state.isr]
      r.replicas = [...state.replicas]
      r.partitionEpoch = state.partitionEpoch
      r.pendingAdds = r.pendingAdds.filter(x => !state.isr.includes(x))
      if (r.role === 'follower') this.#throttle(r, state)
      if (r.role === 'leader' && state.leaderEpoch === r.leaderEpoch) {
        for (const id of state.replicas) {
          if (id !== this.nodeId && !r.followers.has(id)) r.followers.set(id, { logEndOffset: -1, lastCaughtUpTimeMs: this.#now(), lastFetchTimeMs: 0, lastFetchLeaderLogEndOffset: -1 })
        }
        this.#maybeAdvanceHighWatermark(r, this.#logs.partition(r.topic, r.partition))
      }
    })
  }

  // ---- the gate (services/replication.ts)

  #leading (topic: string, partition: number, what: string): PartitionReplica {
    const r = this.#replicas.get(`${topic}/${partition}`)
    if (r === undefined || r.role !== 'leader' || this.#closed) {
      throw new NotLeaderOrFollowerError(`broker ${this.nodeId} does not lead ${topic}-${partition}${r !== undefined && r.leader >= 0 ? ` (the leader is broker ${r.leader})` : ''}; ${what} goes to the leader`)
    }
    return r
  }

  leads (topic: string, partition: number): boolean {
    return !this.#closed && this.#replicas.get(`${topic}/${partition}`)?.role === 'leader'
  }

  checkWrite (topic: string, partition: number, acks: RequiredAcks): void {
    const r = this.#leading(topic, partition, 'a write')
    if (acks === -1 && r.isr.length < this.settings.minInsyncReplicas) {
      throw new NotEnoughReplicasError(`${topic}-${partition} has ${r.isr.length} in-sync replicas, fewer than minInsyncReplicas ${this.settings.minInsyncReplicas}`)
    }
  }

  appended (topic: string, partition: number): void {
    const r = this.#replicas.get(`${topic}/${partition}`)
    if (r === undefined) return
    this.#wakeFetchWaiters(r.key)
    this.#maybeAdvanceHighWatermark(r, this.#logs.partition(topic, partition))
  }

  waitCommitted (topic: string, partition: number, offset: number, timeoutMs: number): Promise<void> {
    let r: PartitionReplica
    try {
      r = this.#leading(topic, partition, 'an acks=all write')
    } catch (err) {
      return Promise.reject(err)
    }
    const wait = r.waitCommitted(offset, timeoutMs)
    r.settle(this.#logs.partition(topic, partition).highWatermark, this.settings.minInsyncReplicas)
    return wait
  }

  checkRead (topic: string, partition: number, followerRead: boolean): void {
    const r = this.#replicas.get(`${topic}/${partition}`)
    if (followerRead && r !== undefined && r.role === 'follower') return
    this.#leading(topic, partition, 'a read')
  }

  preferredReadReplica (topic: string, partition: number, rack: string): number {
    const r = this.#replicas.get(`${topic}/${partition}`)
    const agent = this.#agent
    if (r === undefined || r.role !== 'leader' || agent === null) return -1
    if (agent.settings.rack === rack) return -1
    for (const id of r.isr) {
      if (id !== this.nodeId && agent.metadata.brokers.get(id)?.rack === rack) return id
    }
    return -1
  }

  // ---- leader: followers, high watermark, ISR

  /** Checks a follower's request against this leadership (FENCED / UNKNOWN epoch, not leader, not a replica). */
  validateFollower (topic: string, partition: number, replicaId: number, leaderEpoch: number): PartitionReplica {
    const r = this.#replicas.get(`${topic}/${partition}`)
    if (r === undefined || r.role !== 'leader') throw new NotLeaderOrFollowerError(`broker ${this.nodeId} does not lead ${topic}-${partition}`)
    if (leaderEpoch < r.leaderEpoch) throw new FencedLeaderEpochError(`${topic}-${partition}: epoch ${leaderEpoch} is older than the leader's ${r.leaderEpoch}`)
    if (leaderEpoch > r.leaderEpoch) throw new UnknownLeaderEpochError(`${topic}-${partition}: epoch ${leaderEpoch} is newer than the leader's ${r.leaderEpoch}`)
    if (!r.replicas.includes(replicaId)) throw new NotLeaderOrFollowerError(`broker ${replicaId} is not a replica of ${topic}-${partition}`)
    return r
  }

  /** A follower fetched at `fetchOffset`: progress recorded, ISR maybe grown, high watermark maybe moved. */
  followerFetched (r: PartitionReplica, replicaId: number, fetchOffset: number, log: PartitionLog): void {
    r.recordFetch(replicaId, fetchOffset, log.logEndOffset, this.#now())
    if (!r.isrChangeInFlight && r.mayJoinIsr(replicaId, log.highWatermark)) {
      r.pendingAdds = [...r.pendingAdds, replicaId]
      this.#requestIsr(r, [...r.isr, replicaId], 'expand')
    }
    this.#maybeAdvanceHighWatermark(r, log)
  }

  #maybeAdvanceHighWatermark (r: PartitionReplica, log: PartitionLog): void {
    if (r.role !== 'leader') return
    const candidate = r.highWatermarkCandidate(this.nodeId, log.logEndOffset)
    if (candidate !== null && candidate > log.highWatermark && log.setHighWatermark(candidate)) this.highWatermarkMoved(r, log)
  }

  /** The high watermark of a replica moved (leader or follower): readers, waiting writes, waiting fetches. */
  highWatermarkMoved (r: PartitionReplica, log: PartitionLog): void {
    this.partitionService.notifyReadable(r.topic, r.partition)
    if (r.role === 'leader') {
      r.settle(log.highWatermark, this.settings.minInsyncReplicas)
      this.#wakeFetchWaiters(r.key)
    }
  }

  #checkIsr (): void {
    if (this.#closed) return
    const now = this.#now()
    for (const r of this.#replicas.values()) {
      if (r.role !== 'leader' || r.isrChangeInFlight) continue
      const lagging = r.laggingFollowers(this.nodeId, now, this.settings.replicaLagTimeMs)
      if (lagging.length === 0) continue
      this.#logger.warn({ topic: r.topic, partition: r.partition, lagging, replicaLagTimeMs: this.settings.replicaLagTimeMs }, 'followers fell behind; shrinking the ISR')
      this.#requestIsr(r, r.isr.filter(x => !lagging.includes(x)), 'shrink')
    }
  }

  #requestIsr (r: PartitionReplica, isr: number[], kind: 'shrink' | 'expand'): void {
    const agent = this.#agent
    if (agent === null || this.#closed) return
    r.isrChangeInFlight = true
    const epoch = r.leaderEpoch
    agent.requestIsrChange({ topic: r.topic, partition: r.partition, leaderEpoch: epoch, partitionEpoch: r.partitionEpoch, isr }).then(state => {
      if (kind === 'shrink') this.counters.isrShrinks++
      else this.counters.isrExpands++
      this.#logger.info({ topic: r.topic, partition: r.partition, isr: state.isr, partitionEpoch: state.partitionEpoch }, kind === 'shrink' ? 'ISR shrunk' : 'ISR expanded')
      if (r.role === 'leader' && r.leaderEpoch === epoch && state.partitionEpoch >= r.partitionEpoch) {
        r.isr = [...state.isr]
        r.partitionEpoch = state.partitionEpoch
        r.pendingAdds = r.pendingAdds.filter(x => !state.isr.includes(x))
        this.#maybeAdvanceHighWatermark(r, this.#logs.partition(r.topic, r.partition))
      }
    }, (err: unknown) => {
      r.pendingAdds = []
      if (!this.#closed) this.#logger.warn({ topic: r.topic, partition: r.partition, isr, code: (err as SpoolError).code, err: (err as Error).message }, `ISR ${kind} refused`)
    }).finally(() => { r.isrChangeInFlight = false })
  }

  // ---- waiting replica fetches (replica-serving.ts)

  /** Calls `fn` once on the next append or high-watermark move of any partition; returns a cancel function. */
  onReplicaWake (keys: string[], fn: () => void): () => void {
    let fired = false
    const once = (): void => {
      if (fired) return
      fired = true
      cancel()
      fn()
    }
    for (const key of keys) {
      let set = this.#fetchWaiters.get(key)
      if (set === undefined) this.#fetchWaiters.set(key, (set = new Set()))
      set.add(once)
    }
    const cancel = (): void => {
      for (const key of keys) {
        const set = this.#fetchWaiters.get(key)
        set?.delete(once)
        if (set?.size === 0) this.#fetchWaiters.delete(key)
      }
    }
    return cancel
  }

  #wakeFetchWaiters (key: string): void {
    const set = this.#fetchWaiters.get(key)
    if (set !== undefined) for (const w of [...set]) w()
  }

  // ---- follower side (called by the fetchers)

  /** Runs a truncation or another change of a follower's log behind the partition's role changes. */
  whileFollowing<T> (r: PartitionReplica, leader: number, leaderEpoch: number, fn: (log: PartitionLog) => Promise<T>): Promise<T | null> {
    return r.serial(async () => {
      if (this.#closed || r.role !== 'follower' || r.leader !== leader || r.leaderEpoch !== leaderEpoch) return null
      return fn(this.#logs.partition(r.topic, r.partition))
    })
  }

  /** Appends fetched batches if `r` still follows `leader` in `leaderEpoch`, and takes the leader's high watermark. */
  appendFetched (r: PartitionReplica, leader: number, leaderEpoch: number, records: Uint8Array, leaderHighWatermark: number, leaderLogStartOffset: number): boolean {
    if (this.#closed || r.role !== 'follower' || r.leader !== leader || r.leaderEpoch !== leaderEpoch) return false
    const log = this.#logs.partition(r.topic, r.partition)
    if (records.length > 0) {
      this.partitionService.appendReplica(r.topic, r.partition, records)
      this.counters.bytesFetched += records.length
    }
    if (log.setHighWatermark(Math.min(leaderHighWatermark, log.logEndOffset))) this.highWatermarkMoved(r, log)
    // The leader's log start moved (DeleteRecords): the follower's follows, as far as its own
    // high watermark, so a later leader does not serve what was deleted (Kafka's followers do
    // the same). A failure (a full disk) is retried with the next fetch.
    const start = Math.min(leaderLogStartOffset, log.highWatermark)
    if (start > log.logStartOffset) {
      try {
        log.deleteRecordsBefore(start)
        this.#logger.info({ topic: r.topic, partition: r.partition, logStartOffset: start }, 'log start offset follows the leader')
      } catch (err) {
        this.#logger.warn({ topic: r.topic, partition: r.partition, logStartOffset: start, err: (err as Error).message }, 'could not move the log start offset to the leader\'s')
      }
    }
    return true
  }

  #checkpointHighWatermarks (): void {
    for (const r of this.#replicas.values()) {
      if (r.role === 'none') continue
      try {
        this.#logs.partition(r.topic, r.partition).checkpointHighWatermark()
      } catch {
        // the topic was deleted meanwhile
      }
    }
  }

  /** Forgets a partition whose topic was deleted. */
  forget (topic: string, partition: number): void {
    const r = this.#replicas.get(`${topic}/${partition}`)
    if (r === undefined) return
    this.#replicas.delete(r.key)
    this.fetchers.remove(r)
    r.failWaiters('the topic was deleted')
    if (r.role === 'leader') this.#leadership(r, false)
  }

  /** Under-replicated partitions this broker leads (ISR smaller than the replica set). */
  underReplicatedCount (): number {
    let n = 0
    for (const r of this.#replicas.values()) if (r.role === 'leader' && r.isr.length < r.replicas.length) n++
    return n
  }
}
