/**
 * The classic (Kafka JoinGroup/SyncGroup) side of the group coordinator: one ClassicGroup
 * state machine per group id, beside the native broker-side groups of coordinator.ts and
 * sharing with them the committed offsets (one map per group, one `__consumer_offsets`
 * topic), listing, description, deletion and lag — so a group committed by kafkajs is
 * listed, described and reset by `spool group` and the console like any other.
 *
 * A group id is used by one protocol at a time: a Kafka-protocol JoinGroup for a group with
 * native members, or a native join for a group with Kafka-protocol members, is refused with
 * INCONSISTENT_GROUP_PROTOCOL naming the other side. Offsets committed by either stay.
 *
 * Membership of Stable and Empty groups is persisted (key ['classic', groupId], offset-store.ts)
 * so that after a restart members keep their generation and assignment and go on
 * heartbeating without a rebalance (members that do not come back expire by session).
 *
 * Requests are validated as Kafka's coordinator does: an empty group id is INVALID_GROUP_ID,
 * a session timeout outside [groupMinSessionTimeoutMs, groupMaxSessionTimeoutMs] is
 * INVALID_SESSION_TIMEOUT. Results carry Kafka's codes (the same numbers as protocol/errors.ts).
 */

import type { Logger } from 'pino'
import { ERROR_TABLE } from '../../protocol/errors.js'
import { tpKey, tpParse, type TopicPartition } from './assignor.js'
import { ClassicGroup, CLASSIC_CODES, type ClassicSnapshot, type JoinRequest, type JoinResult, type SyncRequest, type SyncResult } from './classic-group.js'
import type { CommittedOffset } from './group.js'

export type { ClassicSnapshot, JoinRequest, JoinResult, SyncRequest, SyncResult }

/** What the classic side needs from the coordinator. */
export interface ClassicHost {
  /** The group's committed offsets (shared with the native side). */
  offsets (groupId: string): Map<TopicPartition, CommittedOffset>
  /** Members the group has under the native protocol. */
  nativeMembers (groupId: string): number
  writeOffsets (groupId: string, entries: ReadonlyArray<{ topic: string, partition: number, value: CommittedOffset | null }>): void
  writeClassic (groupId: string, snapshot: ClassicSnapshot | null): void
  partitionExists (topic: string, partition: number): boolean
}

export interface ClassicConfig {
  groupMinSessionTimeoutMs: number
  groupMaxSessionTimeoutMs: number
  groupMaxSize: number
  groupInitialRebalanceDelayMs: number
}

export interface CommitPartition {
  partition: number
  offset: number
  leaderEpoch: number
  metadata: string | null
}

const INVALID_GROUP_ID = ERROR_TABLE.INVALID_GROUP_ID.code
const INVALID_SESSION_TIMEOUT = ERROR_TABLE.INVALID_SESSION_TIMEOUT.code
const UNKNOWN_TOPIC_OR_PARTITION = ERROR_TABLE.UNKNOWN_TOPIC_OR_PARTITION.code
const GROUP_ID_NOT_FOUND = ERROR_TABLE.GROUP_ID_NOT_FOUND.code
/** Kafka's GROUP_SUBSCRIBED_TO_TOPIC (OffsetDelete of a topic the group consumes). */
const GROUP_SUBSCRIBED_TO_TOPIC = 86

export class ClassicGroups {
  readonly #groups = new Map<string, ClassicGroup>()
  readonly #host: ClassicHost
  readonly #config: ClassicConfig
  readonly #logger: Logger
  readonly #now: () => number
  /** Decodes a member's subscribed topics from its protocol metadata (null: not the consumer protocol). */
  readonly #topicsOf: (metadata: Uint8Array) => string[] | null

  constructor (options: { host: ClassicHost, config: ClassicConfig, logger: Logger, now: () => number, topicsOf: (metadata: Uint8Array) => string[] | null }) {
    this.#host = options.host
    this.#config = options.config
    this.#logger = options.logger
    this.#now = options.now
    this.#topicsOf = options.topicsOf
  }

  /** The group, if it exists under the classic protocol. */
  get (groupId: string): ClassicGroup | undefined { return this.#groups.get(groupId) }

  groups (): IterableIterator<ClassicGroup> { return this.#groups.values() }

  /** Members the group has under the classic protocol (0 when none). */
  members (groupId: string): number { return this.#groups.get(groupId)?.members.size ?? 0 }

  #group (groupId: string): ClassicGroup {
    let g = this.#groups.get(groupId)
    if (g === undefined) {
      const logger = this.#logger.child({ group: groupId, groupProtocol: 'classic' })
      g = new ClassicGroup(groupId, {
        settings: { initialRebalanceDelayMs: this.#config.groupInitialRebalanceDelayMs, maxSize: this.#config.groupMaxSize },
        now: this.#now,
        changed: group => this.#host.writeClassic(group.groupId, group.members.size > 0 ? group.snapshot() : null),
        log: (event, fields) => logger.info(fields, event),
      })
      this.#groups.set(groupId, g)
    }
    return g
  }

  restore (groupId: string, snapshot: ClassicSnapshot | null): void {
    if (snapshot === null) {
      this.#groups.delete(groupId)
      return
    }
    this.#group(groupId).restore(snapshot)
  }

  join (groupId: string, req: JoinRequest): JoinResult | Promise<JoinResult> {
    const fail = (errorCode: number): JoinResult => ({ errorCode, generationId: -1, protocolType: null, protocolName: null, leader: '', memberId: req.memberId, members: [] })
    if (groupId === '') return fail(INVALID_GROUP_ID)
    if (req.sessionTimeoutMs < this.#config.groupMinSessionTimeoutMs || req.sessionTimeoutMs > this.#config.groupMaxSessionTimeoutMs) return fail(INVALID_SESSION_TIMEOUT)
    if (this.#host.nativeMembers(groupId) > 0) {
      this.#logger.info({ group: groupId, clientId: req.clientId }, 'Kafka-protocol member refused: the group has native members')
      return fail(CLASSIC_CODES.INCONSISTENT_GROUP_PROTOCOL)
    }
    return this.#group(groupId).join(req)
  }

  sync (groupId: string, req: SyncRequest): SyncResult | Promise<SyncResult> {
    const g = this.#groups.get(groupId)
    if (g === undefined) return { errorCode: groupId === '' ? INVALID_GROUP_ID : CLASSIC_CODES.UNKNOWN_MEMBER_ID, protocolType: null, protocolName: null, assignment: new Uint8Array(0) }
    return g.sync(req)
  }

  heartbeat (groupId: string, memberId: string, groupInstanceId: string | null, generationId: number): number {
    const g = this.#groups.get(groupId)
    if (g === undefined) return groupId === '' ? INVALID_GROUP_ID : CLASSIC_CODES.UNKNOWN_MEMBER_ID
    return g.heartbeat(memberId, groupInstanceId, generationId)
  }

  /** LeaveGroup: one code per member, in order. */
  leave (groupId: string, members: ReadonlyArray<{ memberId: string, groupInstanceId: string | null }>): number[] {
    const g = this.#groups.get(groupId)
    if (g === undefined) return members.map(() => CLASSIC_CODES.UNKNOWN_MEMBER_ID)
    return members.map(m => g.leave(m.memberId, m.groupInstanceId))
  }

  /**
   * OffsetCommit from a Kafka client: the group check (classic-group.ts `commitCheck`; a
   * group with native members only takes commits from its members, so a Kafka client's is
   * UNKNOWN_MEMBER_ID), then per partition: unknown partitions are UNKNOWN_TOPIC_OR_PARTITION,
   * the rest are stored with their leader epoch and metadata in one batch.
   */
  commit (groupId: string, memberId: string, groupInstanceId: string | null, generationId: number, topics: ReadonlyArray<{ name: string, partitions: readonly CommitPartition[] }>): Array<{ name: string, partitions: Array<{ partition: number, errorCode: number }> }> {
    let code = 0
    if (groupId === '') code = INVALID_GROUP_ID
    else if (this.#host.nativeMembers(groupId) > 0) code = CLASSIC_CODES.UNKNOWN_MEMBER_ID
    else {
      const g = this.#groups.get(groupId)
      if (g !== undefined) code = g.commitCheck(memberId, groupInstanceId, generationId)
      else if (generationId >= 0 || memberId !== '') code = CLASSIC_CODES.UNKNOWN_MEMBER_ID
    }
    const now = this.#now()
    const writes: Array<{ topic: string, partition: number, value: CommittedOffset }> = []
    const result = topics.map(t => ({
      name: t.name,
      partitions: t.partitions.map(p => {
        if (code !== 0) return { partition: p.partition, errorCode: code }
        if (!this.#host.partitionExists(t.name, p.partition)) return { partition: p.partition, errorCode: UNKNOWN_TOPIC_OR_PARTITION }
        writes.push({ topic: t.name, partition: p.partition, value: { offset: p.offset, metadata: p.metadata, commitTimestampMs: now, ...(p.leaderEpoch >= 0 ? { leaderEpoch: p.leaderEpoch } : {}) } })
        return { partition: p.partition, errorCode: 0 }
      }),
    }))
    this.#host.writeOffsets(groupId, writes)
    return result
  }

  /** Committed offsets (-1 where none) of the topics asked for, or of every committed partition. */
  fetch (groupId: string, topics: ReadonlyArray<{ name: string, partitions: readonly number[] }> | null): Array<{ name: string, partitions: Array<{ partition: number, offset: number, leaderEpoch: number, metadata: string | null }> }> {
    const offsets = this.#host.offsets(groupId)
    let asked = topics
    if (asked === null) {
      const byTopic = new Map<string, number[]>()
      for (const tp of offsets.keys()) {
        const { topic, partition } = tpParse(tp)
        let list = byTopic.get(topic)
        if (list === undefined) byTopic.set(topic, (list = []))
        list.push(partition)
      }
      asked = [...byTopic].map(([name, partitions]) => ({ name, partitions: partitions.sort((a, b) => a - b) }))
    }
    return asked.map(t => ({
      name: t.name,
      partitions: t.partitions.map(partition => {
        const c = offsets.get(tpKey(t.name, partition))
        return { partition, offset: c?.offset ?? -1, leaderEpoch: c?.leaderEpoch ?? -1, metadata: c?.metadata ?? null }
      }),
    }))
  }

  /**
   * OffsetDelete: removes committed offsets, except of topics the group's members subscribe
   * to (GROUP_SUBSCRIBED_TO_TOPIC). GROUP_ID_NOT_FOUND for a group with nothing.
   */
  deleteOffsets (groupId: string, topics: ReadonlyArray<{ name: string, partitions: readonly number[] }>): { errorCode: number, topics: Array<{ name: string, partitions: Array<{ partition: number, errorCode: number }> }> } {
    const offsets = this.#host.offsets(groupId)
    const g = this.#groups.get(groupId)
    if (offsets.size === 0 && (g === undefined || g.members.size === 0) && this.#host.nativeMembers(groupId) === 0) {
      return { errorCode: GROUP_ID_NOT_FOUND, topics: [] }
    }
    const subscribed = new Set<string>()
    if (g !== undefined) for (const m of g.members.values()) for (const topic of this.#topicsOf(g.metadataOf(m)) ?? []) subscribed.add(topic)
    const gone: Array<{ topic: string, partition: number, value: null }> = []
    const result = topics.map(t => ({
      name: t.name,
      partitions: t.partitions.map(partition => {
        if (subscribed.has(t.name)) return { partition, errorCode: GROUP_SUBSCRIBED_TO_TOPIC }
        if (offsets.has(tpKey(t.name, partition))) gone.push({ topic: t.name, partition, value: null })
        return { partition, errorCode: 0 }
      }),
    }))
    this.#host.writeOffsets(groupId, gone)
    return { errorCode: 0, topics: result }
  }

  /** Forgets a group (DeleteGroups of a group without members). */
  delete (groupId: string): void {
    if (this.#groups.delete(groupId)) this.#host.writeClassic(groupId, null)
  }

  tick (): void {
    for (const g of this.#groups.values()) g.tick()
  }
}
