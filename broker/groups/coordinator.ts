/**
 * The group coordinator: heartbeats (join, leave, reconcile), offset commits and fetches,
 * group listing, description and deletion, session and revocation timeouts. State lives in
 * memory and in `__consumer_offsets` (offset-store.ts); on start it is rebuilt from that log
 * and restored members get a fresh session timeout to come back, so a broker restart keeps
 * both committed offsets and membership. What a native member's heartbeat does (join, leave,
 * reconcile), its eviction and the stored member snapshots are in native-membership.ts; the
 * coordinator routes to it, as it routes Kafka's JoinGroup/SyncGroup to classic-coordinator.ts.
 *
 * Every method runs to completion on the event loop (appends are synchronous), so group
 * state is never seen half-changed.
 *
 * Cluster mode (a GroupOwnership given, docs/cluster.md): a group is coordinated by the leader
 * of its `__consumer_offsets` partition. Nothing is loaded at start; when this broker becomes
 * a partition's leader the cluster code calls loadPartition (its groups are rebuilt from the
 * local replica, up to the log end) and, when it stops leading it, unloadPartition (they are
 * forgotten). Requests for a group whose partition this broker does not own get
 * NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS while loading), and clients find the
 * coordinator with FindCoordinator (`coordinatorPartition`).
 */

import type { Logger } from 'pino'
import {
  CoordinatorLoadInProgressError, FencedMemberEpochError, GroupIdNotFoundError, IllegalGenerationError,
  NotCoordinatorError,
  NonEmptyGroupError, SpoolError, StaleMemberEpochError, UnknownMemberIdError,
  UnknownTopicOrPartitionError,
} from '../../protocol/errors.js'
import type { RequestOf, ResponseOf } from '../../protocol/native/api-keys.js'
import type { PartitionService } from '../services/partitions.js'
import type { TopicService } from '../services/topics.js'
import { decodeAssignment, decodeSubscription } from '../../protocol/kafka/consumer-protocol.js'
import { tpKey, tpParse, type TopicPartition } from './assignor.js'
import { ClassicGroups } from './classic-coordinator.js'
import { Group, type CommittedOffset, type Member } from './group.js'
import {
  applyHeartbeat, evictExpired, identity, restoreMembers, toList, type ClientInfo, type Heartbeat, type MembershipHost,
} from './native-membership.js'
import { OFFSETS_TOPIC, OffsetStore, type StoreRecord } from './offset-store.js'

export type { ClientInfo } from './native-membership.js'

export interface CoordinatorConfig {
  offsetsTopicPartitions: number
  groupHeartbeatIntervalMs: number
  groupMinSessionTimeoutMs: number
  groupMaxSessionTimeoutMs: number
  groupMaxSize: number
  /** The classic protocol's initial rebalance delay (classic-group.ts). */
  groupInitialRebalanceDelayMs: number
}

/** Which offsets partitions this broker coordinates now (cluster mode; cluster/group-leadership.ts). */
export interface GroupOwnership {
  /** This broker leads partition `partition` of `__consumer_offsets` and has loaded it. */
  owns (partition: number): boolean
  /** It leads it and is loading it. */
  loading (partition: number): boolean
}

const TICK_MS = 100

/** A member's subscribed topics from its consumer-protocol subscription, null if it is not one. */
function subscribedTopicsOf (metadata: Uint8Array): string[] | null {
  try {
    return decodeSubscription(metadata).topics
  } catch {
    return null
  }
}

/** A member's partitions from its consumer-protocol assignment (empty if it is not one). */
function assignedOf (assignment: Uint8Array): Array<{ topic: string, partitions: number[] }> {
  try {
    return decodeAssignment(assignment).assignedPartitions.map(a => ({ topic: a.topic, partitions: [...a.partitions].sort((x, y) => x - y) }))
  } catch {
    return []
  }
}

/** The native state name of a classic group's state (DescribeGroups, ListGroups, the console). */
const CLASSIC_STATE_NAMES = { Empty: 'empty', PreparingRebalance: 'reconciling', CompletingRebalance: 'reconciling', Stable: 'stable' } as const

export class GroupCoordinator {
  /** Groups under Kafka's classic protocol (JoinGroup/SyncGroup), sharing the offsets here. */
  readonly classic: ClassicGroups
  readonly #groups = new Map<string, Group>()
  readonly #partitions: PartitionService
  readonly #topics: TopicService
  readonly #store: OffsetStore
  readonly #config: CoordinatorConfig
  readonly #logger: Logger
  readonly #now: () => number
  #timer: NodeJS.Timeout | null = null
  #ownership: GroupOwnership | null = null
  /** What native membership (native-membership.ts) uses of the coordinator. */
  readonly #membership: MembershipHost

  constructor (options: { topics: TopicService, partitions: PartitionService, config: CoordinatorConfig, logger: Logger, now?: () => number }) {
    this.#partitions = options.partitions
    this.#topics = options.topics
    this.#config = options.config
    this.#logger = options.logger.child({ component: 'groups' })
    this.#now = options.now ?? Date.now
    this.#store = new OffsetStore(options, options.config.offsetsTopicPartitions)
    this.classic = new ClassicGroups({
      host: {
        offsets: groupId => this.#group(groupId).offsets,
        nativeMembers: groupId => this.#groups.get(groupId)?.members.size ?? 0,
        writeOffsets: (groupId, entries) => {
          if (entries.length === 0) return
          this.#store.writeOffsets(groupId, entries)
          const offsets = this.#group(groupId).offsets
          for (const e of entries) {
            if (e.value === null) offsets.delete(tpKey(e.topic, e.partition))
            else offsets.set(tpKey(e.topic, e.partition), e.value)
          }
        },
        writeClassic: (groupId, snapshot) => this.#store.writeClassic(groupId, snapshot),
        partitionExists: (topic, partition) => this.#partitions.has(topic, partition),
      },
      config: options.config,
      logger: this.#logger,
      now: this.#now,
      topicsOf: subscribedTopicsOf,
    })
    this.#membership = {
      config: this.#config,
      logger: this.#logger,
      classicMembers: groupId => this.classic.members(groupId),
      partitionCounts: group => this.#partitionCounts(group),
      writeGroup: (groupId, snapshot) => this.#store.writeGroup(groupId, snapshot),
    }
  }

  /** Cluster mode: groups are coordinated where their offsets partition is led (call before any request). */
  ownedBy (ownership: GroupOwnership): void {
    this.#ownership = ownership
  }

  /** Cluster mode's start: creates `__consumer_offsets` if needed, loads nothing, starts the timeout checks. */
  async startOwned (): Promise<void> {
    await this.#store.open()
    this.#timer = setInterval(() => this.tick(), TICK_MS)
    this.#timer.unref()
    this.#topics.onDeleted(topic => this.#forgetTopic(topic))
  }

  /** The `__consumer_offsets` partition of a group (its coordinator leads it). */
  coordinatorPartition (groupId: string): number {
    return this.#store.partitionFor(groupId)
  }

  /** Cluster mode: this broker now leads offsets partition `partition`; rebuilds its groups. */
  async loadPartition (partition: number): Promise<number> {
    this.unloadPartition(partition)
    const records = await this.#store.loadPartition(partition, r => this.#apply(r))
    let groups = 0
    for (const group of this.#groups.values()) {
      if (this.#store.partitionFor(group.groupId) !== partition) continue
      group.refreshTarget(this.#partitionCounts(group))
      groups++
    }
    this.#logger.info({ partition, groups, records }, 'group partition loaded')
    return groups
  }

  /** Cluster mode: this broker no longer leads offsets partition `partition`; forgets its groups. */
  unloadPartition (partition: number): void {
    for (const id of [...this.#groups.keys()]) if (this.#store.partitionFor(id) === partition) this.#groups.delete(id)
  }

  /** Resolves once the group's writes so far are durable (a cluster: held by the offsets partition's ISR). */
  durable (groupId: string): Promise<void> {
    return this.#store.durable(groupId)
  }

  /** Throws NOT_COORDINATOR (or COORDINATOR_LOAD_IN_PROGRESS) unless this broker coordinates the group. */
  #coordinates (groupId: string): void {
    const ownership = this.#ownership
    if (ownership === null) return
    const p = this.#store.partitionFor(groupId)
    if (ownership.owns(p)) return
    if (ownership.loading(p)) throw new CoordinatorLoadInProgressError(`the coordinator of group ${groupId} is loading partition ${p} of ${OFFSETS_TOPIC}`)
    throw new NotCoordinatorError(`this broker is not the coordinator of group ${groupId} (partition ${p} of ${OFFSETS_TOPIC}); ask FindCoordinator`)
  }

  /** Opens `__consumer_offsets`, rebuilds state from it and starts the timeout checks. */
  async start (): Promise<void> {
    await this.#store.open()
    const started = this.#now()
    const records = await this.#store.load(r => this.#apply(r))
    for (const group of this.#groups.values()) group.refreshTarget(this.#partitionCounts(group))
    this.#logger.info({ groups: this.#groups.size, records, ms: this.#now() - started }, 'group state loaded')
    this.#timer = setInterval(() => this.tick(), TICK_MS)
    this.#timer.unref()
    this.#topics.onDeleted(topic => this.#forgetTopic(topic))
  }

  /**
   * A deleted topic's committed offsets go with it (as in Kafka): a topic created again
   * under the same name starts empty, and an old offset past its end would otherwise hold
   * a group back and show as no lag.
   */
  #forgetTopic (topic: string): void {
    for (const group of [...this.#groups.values()]) {
      const gone = [...group.offsets.keys()].map(tpParse).filter(tp => tp.topic === topic)
      if (gone.length === 0) continue
      this.#store.writeOffsets(group.groupId, gone.map(tp => ({ ...tp, value: null })))
      for (const tp of gone) group.offsets.delete(tpKey(tp.topic, tp.partition))
      this.#logger.info({ group: group.groupId, topic, partitions: gone.length }, 'offsets of a deleted topic dropped')
    }
  }

  close (): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  #apply (r: StoreRecord): void {
    if (r.kind === 'classic') {
      this.classic.restore(r.groupId, r.value)
      return
    }
    if (r.kind === 'offset') {
      const group = this.#group(r.groupId)
      if (r.value === null) group.offsets.delete(tpKey(r.topic, r.partition))
      else group.offsets.set(tpKey(r.topic, r.partition), r.value)
      return
    }
    if (r.value === null) {
      this.#groups.delete(r.groupId)
      return
    }
    restoreMembers(this.#group(r.groupId), r.value, this.#now())
  }

  #group (groupId: string): Group {
    let g = this.#groups.get(groupId)
    if (g === undefined) this.#groups.set(groupId, (g = new Group(groupId)))
    return g
  }

  #partitionCounts (group: Group): Map<string, number> {
    const counts = new Map<string, number>()
    for (const topic of group.subscribedTopics()) counts.set(topic, this.#topics.partitionCount(topic))
    return counts
  }

  heartbeat (req: RequestOf<'GroupHeartbeat'>, client: ClientInfo): Heartbeat {
    this.#coordinates(req.groupId)
    const now = this.#now()
    return applyHeartbeat(this.#membership, this.#group(req.groupId), req, client, now)
  }

  /** Evicts members whose session or revocation deadline passed. Called every TICK_MS. */
  tick (): void {
    this.classic.tick()
    const now = this.#now()
    for (const group of this.#groups.values()) evictExpired(this.#membership, group, now)
  }

  commitOffsets (req: RequestOf<'OffsetCommit'>): Omit<ResponseOf<'OffsetCommit'>, 'errorCode' | 'errorMessage'> {
    this.#coordinates(req.groupId)
    const group = this.#group(req.groupId)
    let member: Member | undefined
    if (req.memberEpoch === -1 && req.memberId === '') {
      const members = group.members.size + this.classic.members(req.groupId)
      if (members > 0) {
        throw new NonEmptyGroupError(`group ${req.groupId} has ${members} active members; stop them before resetting offsets`)
      }
    } else if (this.classic.members(req.groupId) > 0) {
      throw new UnknownMemberIdError(`member ${req.memberId} is not in group ${req.groupId} (its members use the Kafka consumer protocol)`)
    } else {
      member = group.members.get(req.memberId)
      if (member === undefined) throw new UnknownMemberIdError(`member ${req.memberId} is not in group ${req.groupId}`)
      if (req.memberEpoch > member.memberEpoch) throw new FencedMemberEpochError(`member epoch ${req.memberEpoch} is ahead of the coordinator's`)
      if (req.memberEpoch !== member.memberEpoch && req.memberEpoch !== member.previousMemberEpoch) {
        throw new StaleMemberEpochError(`member epoch ${req.memberEpoch} is stale (current ${member.memberEpoch})`)
      }
    }
    const now = this.#now()
    const writes: Array<{ topic: string, partition: number, value: { offset: number, metadata: string | null, commitTimestampMs: number } }> = []
    const topics = req.topics.map(t => ({
      topic: t.topic,
      partitions: t.partitions.map(p => {
        const tp = tpKey(t.topic, p.partition)
        let error: SpoolError | null = null
        const info = this.#topics.info(t.topic)
        if (info === undefined || p.partition >= info.partitions) {
          error = new UnknownTopicOrPartitionError(`${t.topic}-${p.partition} does not exist`)
        } else if (member !== undefined && !member.assigned.has(tp) && !member.revoking.has(tp)) {
          error = new IllegalGenerationError(`member ${member.memberId} does not own ${t.topic}-${p.partition}`)
        }
        if (error !== null) return { partition: p.partition, errorCode: error.errorCode, errorMessage: error.message }
        const value = { offset: p.offset, metadata: p.metadata, commitTimestampMs: now }
        writes.push({ topic: t.topic, partition: p.partition, value })
        return { partition: p.partition, errorCode: 0, errorMessage: null }
      }),
    }))
    this.#store.writeOffsets(req.groupId, writes)
    for (const w of writes) group.offsets.set(tpKey(w.topic, w.partition), w.value)
    return { topics }
  }

  fetchOffsets (req: RequestOf<'OffsetFetch'>): Omit<ResponseOf<'OffsetFetch'>, 'errorCode' | 'errorMessage'> {
    this.#coordinates(req.groupId)
    const group = this.#groups.get(req.groupId)
    const requested = req.topics ?? toList(group?.offsets.keys() ?? [])
    return {
      topics: requested.map(t => ({
        topic: t.topic,
        partitions: t.partitions.map(partition => {
          const c = group?.offsets.get(tpKey(t.topic, partition))
          return { partition, offset: c?.offset ?? -1, metadata: c?.metadata ?? null, errorCode: 0, errorMessage: null }
        }),
      })),
    }
  }

  listGroups (): Omit<ResponseOf<'ListGroups'>, 'errorCode' | 'errorMessage'> {
    return {
      groups: this.groupIds()
        .map(groupId => ({ groupId, state: this.stateOf(groupId), members: this.memberCount(groupId) }))
        .sort((a, b) => (a.groupId < b.groupId ? -1 : 1)),
    }
  }

  /** Every group with members (of either protocol) or committed offsets. */
  groupIds (): string[] {
    const ids = new Set<string>()
    for (const g of this.#groups.values()) if (g.members.size > 0 || g.offsets.size > 0) ids.add(g.groupId)
    for (const g of this.classic.groups()) if (g.members.size > 0) ids.add(g.groupId)
    return [...ids]
  }

  /** Members of a group under either protocol. */
  memberCount (groupId: string): number {
    return (this.#groups.get(groupId)?.members.size ?? 0) + this.classic.members(groupId)
  }

  /** A group's state in the native vocabulary: empty, reconciling, stable (dead: no such group). */
  stateOf (groupId: string): string {
    const classic = this.classic.get(groupId)
    if (classic !== undefined && classic.members.size > 0) return CLASSIC_STATE_NAMES[classic.state]
    const g = this.#groups.get(groupId)
    if (g === undefined || (g.members.size === 0 && g.offsets.size === 0)) return 'dead'
    return g.state
  }

  /** The committed offsets of a group (empty when none), shared by both protocols. */
  committed (groupId: string): ReadonlyMap<TopicPartition, CommittedOffset> {
    return this.#groups.get(groupId)?.offsets ?? new Map()
  }

  describeGroups (req: RequestOf<'DescribeGroups'>): Omit<ResponseOf<'DescribeGroups'>, 'errorCode' | 'errorMessage'> {
    return {
      groups: req.groupIds.map(groupId => {
        const g = this.#groups.get(groupId) ?? new Group(groupId)
        const classic = this.classic.get(groupId)
        const classicMembers = classic === undefined ? [] : [...classic.members.values()].map(m => ({
          memberId: m.memberId,
          instanceId: m.groupInstanceId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          memberEpoch: classic.generationId,
          subscribedTopics: subscribedTopicsOf(classic.metadataOf(m)) ?? [],
          assignment: classic.state === 'Stable' ? assignedOf(m.assignment) : [],
        }))
        const notHere = this.#notCoordinated(groupId)
        if (notHere !== null || (g.members.size === 0 && g.offsets.size === 0 && classicMembers.length === 0)) {
          const err = notHere ?? new GroupIdNotFoundError(`group ${groupId} does not exist`)
          return { groupId, errorCode: err.errorCode, errorMessage: err.message, state: 'dead', groupEpoch: -1, assignor: 'uniform', members: [], offsets: [], totalLag: 0 }
        }
        const owner = new Map<TopicPartition, string>()
        for (const m of g.members.values()) for (const tp of m.assigned) owner.set(tp, m.memberId)
        for (const m of classicMembers) for (const a of m.assignment) for (const p of a.partitions) owner.set(tpKey(a.topic, p), m.memberId)
        const tps = new Set<TopicPartition>([...g.offsets.keys(), ...owner.keys()])
        let totalLag = 0
        const offsets = [...tps].sort().map(tp => {
          const { topic, partition } = tpParse(tp)
          const committed = g.offsets.get(tp)?.offset ?? -1
          let end = -1
          try {
            end = this.#partitions.offsets(topic, partition).highWatermark
          } catch { /* topic deleted since the commit */ }
          const lag = committed >= 0 && end >= 0 ? Math.max(0, end - committed) : -1
          if (lag > 0) totalLag += lag
          return { topic, partition, committedOffset: committed, logEndOffset: end, lag, memberId: owner.get(tp) ?? null }
        })
        return {
          groupId,
          errorCode: 0,
          errorMessage: null,
          state: this.stateOf(groupId),
          groupEpoch: classicMembers.length > 0 ? classic!.generationId : g.groupEpoch,
          assignor: classicMembers.length > 0 ? classic!.protocolName ?? '' : 'uniform',
          members: classicMembers.length > 0
            ? classicMembers
            : [...g.members.values()].map(m => ({
                ...identity(m),
                assignment: toList(m.assigned),
              })),
          offsets,
          totalLag,
        }
      }),
    }
  }

  deleteGroups (req: RequestOf<'DeleteGroups'>): Omit<ResponseOf<'DeleteGroups'>, 'errorCode' | 'errorMessage'> {
    return {
      groups: req.groupIds.map(groupId => {
        const g = this.#groups.get(groupId)
        let error: SpoolError | null = this.#notCoordinated(groupId)
        if (error !== null) return { groupId, errorCode: error.errorCode, errorMessage: error.message }
        const members = this.memberCount(groupId)
        if (members === 0 && (g === undefined || g.offsets.size === 0)) error = new GroupIdNotFoundError(`group ${groupId} does not exist`)
        else if (members > 0) error = new NonEmptyGroupError(`group ${groupId} has ${members} active members`)
        if (error !== null) return { groupId, errorCode: error.errorCode, errorMessage: error.message }
        this.#store.writeOffsets(groupId, [...g!.offsets.keys()].map(tp => ({ ...tpParse(tp), value: null })))
        this.#store.writeGroup(groupId, null)
        this.classic.delete(groupId)
        this.#groups.delete(groupId)
        this.#logger.info({ group: groupId }, 'group deleted')
        return { groupId, errorCode: 0, errorMessage: null }
      }),
    }
  }

  #notCoordinated (groupId: string): SpoolError | null {
    try {
      this.#coordinates(groupId)
      return null
    } catch (err) {
      return err as SpoolError
    }
  }

  /** Lag per group and partition, for /metrics (only partitions with a committed offset). */
  *lag (): Iterable<[{ group: string, topic: string, partition: string }, number]> {
    for (const g of this.#groups.values()) {
      for (const [tp, c] of g.offsets) {
        const { topic, partition } = tpParse(tp)
        const info = this.#topics.info(topic)
        if (info === undefined || partition >= info.partitions) continue
        const end = this.#partitions.offsets(topic, partition).highWatermark
        yield [{ group: g.groupId, topic, partition: String(partition) }, Math.max(0, end - c.offset)]
      }
    }
  }

  /** Total lag per group (sum over its committed partitions). */
  *totalLag (): Iterable<[string, number]> {
    const totals = new Map<string, number>()
    for (const [{ group }, lag] of this.lag()) totals.set(group, (totals.get(group) ?? 0) + lag)
    yield * totals
  }

  /** Members per group, for /metrics. */
  *memberCounts (): Iterable<[{ group: string }, number]> {
    for (const groupId of this.groupIds()) {
      const n = this.memberCount(groupId)
      if (n > 0) yield [{ group: groupId }, n]
    }
  }
}
