/**
 * Admin: topics, offsets, consumer groups, quotas and the broker's connections. Every call is one request to the bootstrap
 * broker, retried on retriable errors; a per-topic or per-group error is thrown as its typed
 * error, naming the topic or group.
 */

import type { GroupDescription, GroupMemberDescription, GroupPartitionLag } from '../protocol/native/apis/groups.js'
import type { ConnectionActivityRow, ConnectionView, ConnectionsDescription } from '../protocol/native/apis/describe-connections.js'
import { ERROR_TABLE, GroupIdNotFoundError, InvalidArgumentError, NonEmptyGroupError, UnknownTopicOrPartitionError, errorFromCode, type SpoolError } from '../protocol/errors.js'
import type { Cluster } from './cluster.js'
import { EARLIEST, LATEST, listOffsets, type OffsetAnswer, type OffsetQuery } from './offsets.js'

export type TopicConfig = Record<string, number | string>

export interface NewTopic {
  topic: string
  /** Default: the broker's default partition count. */
  partitions?: number
  /** Copies of each partition in a cluster. Default: the brokers' defaultReplicationFactor (a single broker ignores it). */
  replicationFactor?: number
  /** Broker topic config names: retentionMs, retentionBytes, cleanupPolicy, segmentBytes, ... */
  config?: TopicConfig
}

export interface ClusterDescription {
  clusterId: string
  /** Node id of the controller (-1: none known). */
  controllerId: number
  brokers: Array<{ nodeId: number, host: string, port: number, rack: string | null, decommissioned: boolean }>
  topics: Array<{ topic: string, internal: boolean, partitions: ClusterPartition[] }>
}

export interface ClusterPartition {
  partition: number
  /** Node id of the leader; -1 while offline. */
  leader: number
  leaderEpoch: number
  replicas: number[]
  isr: number[]
  offlineReplicas: number[]
  addingReplicas: number[]
  removingReplicas: number[]
}

export interface PartitionDescription {
  partition: number
  logStartOffset: number
  logEndOffset: number
  highWatermark: number
  sizeBytes: number
}

export interface TopicDescription {
  topic: string
  internal: boolean
  config: TopicConfig
  partitions: PartitionDescription[]
}

export interface TopicOffsets {
  partition: number
  /** The earliest offset (log start). */
  low: number
  /** The latest offset (high watermark: the next offset to be written). */
  high: number
}

export interface GroupListing {
  groupId: string
  /** 'empty' (offsets, no members), 'reconciling' (partitions moving) or 'stable'. */
  state: string
  members: number
}

export type { GroupDescription, GroupMemberDescription, GroupPartitionLag }
export type { ConnectionActivityRow, ConnectionView, ConnectionsDescription }

/**
 * What a quota applies to: a client id, a principal (`User:alice`), a consumer group, or
 * the default (name null: each client id without a quota of its own).
 */
export interface QuotaEntity {
  type: 'client-id' | 'principal' | 'group' | 'default'
  name: string | null
}

/** Limits in bytes (or requests) per second; absent: no limit of that kind. */
export interface QuotaLimits {
  produceBytesPerSec?: number
  fetchBytesPerSec?: number
  requestsPerSec?: number
}

export interface ClientQuota {
  entity: QuotaEntity
  limits: QuotaLimits
}

export interface QuotaAlteration {
  entity: QuotaEntity
  /** Limits to set (others of the entity stay). */
  set?: QuotaLimits
  /** Limits to remove, or 'all' (the entity's quota goes away). */
  remove?: Array<keyof QuotaLimits> | 'all'
}

const QUOTA_LIMIT_KEYS: Array<keyof QuotaLimits> = ['produceBytesPerSec', 'fetchBytesPerSec', 'requestsPerSec']

export interface CommittedOffset {
  topic: string
  partition: number
  /** The next offset the group reads; -1 when nothing is committed. */
  offset: number
  metadata: string | null
}

const UNKNOWN_TOPIC = ERROR_TABLE.UNKNOWN_TOPIC_OR_PARTITION.code
const GROUP_NOT_FOUND = ERROR_TABLE.GROUP_ID_NOT_FOUND.code
const NON_EMPTY_GROUP = ERROR_TABLE.NON_EMPTY_GROUP.code

function groupError (groupId: string, errorCode: number, errorMessage: string | null): SpoolError {
  if (errorCode === GROUP_NOT_FOUND) return new GroupIdNotFoundError(`group "${groupId}" does not exist`)
  return errorFromCode(errorCode, errorMessage ?? undefined)
}

function topicError (topic: string, errorCode: number, errorMessage: string | null): SpoolError {
  if (errorCode === UNKNOWN_TOPIC) return new UnknownTopicOrPartitionError(`topic "${topic}" does not exist`)
  const error = errorFromCode(errorCode, errorMessage ?? undefined)
  return errorMessage === null || errorMessage.includes(topic) ? error : errorFromCode(errorCode, `topic "${topic}": ${error.message}`)
}

export class Admin {
  readonly #cluster: Cluster

  /** @internal Created by `client.admin()`. */
  constructor (cluster: Cluster) {
    this.#cluster = cluster
  }

  /**
   * Creates topics; resolves with each topic's partition count, or throws the first topic's
   * error (e.g. TopicAlreadyExistsError).
   */
  async createTopics (topics: NewTopic[], options: { validateOnly?: boolean } = {}): Promise<Array<{ topic: string, partitions: number }>> {
    const { body } = await this.#cluster.request('CreateTopics', {
      topics: topics.map(t => ({ topic: t.topic, partitions: t.partitions ?? -1, replicationFactor: t.replicationFactor ?? -1, config: t.config ?? {} })),
      validateOnly: options.validateOnly ?? false,
    })
    for (const t of body.topics) {
      if (t.errorCode !== 0) throw topicError(t.topic, t.errorCode, t.errorMessage)
      this.#cluster.metadata.invalidate(t.topic)
    }
    return body.topics.map(t => ({ topic: t.topic, partitions: t.partitions }))
  }

  /** Deletes topics and their data; throws the first topic's error (e.g. unknown topic). */
  async deleteTopics (topics: string[]): Promise<void> {
    const { body } = await this.#cluster.request('DeleteTopics', { topics })
    for (const t of body.topics) {
      this.#cluster.metadata.invalidate(t.topic)
      if (t.errorCode !== 0) throw topicError(t.topic, t.errorCode, t.errorMessage)
    }
  }

  /** Names of all topics (internal ones only with includeInternal), sorted. */
  async listTopics (options: { includeInternal?: boolean } = {}): Promise<string[]> {
    const body = await this.#cluster.metadata.refresh(null)
    return body.topics
      .filter(t => t.errorCode === 0 && (options.includeInternal === true || !t.internal))
      .map(t => t.topic)
      .sort()
  }

  /** Config and per-partition offsets and sizes; all topics when none are named. */
  async describeTopics (topics?: string[], options: { includeInternal?: boolean } = {}): Promise<TopicDescription[]> {
    const { body } = await this.#cluster.request('DescribeTopics', {
      topics: topics ?? null,
      includeInternal: options.includeInternal ?? false,
    })
    return body.topics.map(t => {
      if (t.errorCode !== 0) throw topicError(t.topic, t.errorCode, t.errorMessage)
      return {
        topic: t.topic,
        internal: t.internal,
        config: t.config,
        partitions: [...t.partitions].sort((a, b) => a.partition - b.partition),
      }
    })
  }

  /** Offsets by timestamp: -2 earliest, -1 latest, T >= 0 the first offset at or after T (-1: none). */
  listOffsets (queries: OffsetQuery[]): Promise<OffsetAnswer[]> {
    return listOffsets(this.#cluster, queries)
  }

  /** Earliest and latest offset of every partition of a topic. */
  async fetchTopicOffsets (topic: string): Promise<TopicOffsets[]> {
    const info = await this.#cluster.metadata.topic(topic)
    const queries: OffsetQuery[] = []
    for (let partition = 0; partition < info.partitions; partition++) {
      queries.push({ topic, partition, timestamp: EARLIEST }, { topic, partition, timestamp: LATEST })
    }
    const answers = await listOffsets(this.#cluster, queries)
    const result: TopicOffsets[] = []
    for (let i = 0; i < answers.length; i += 2) {
      result.push({ partition: answers[i]!.partition, low: answers[i]!.offset, high: answers[i + 1]!.offset })
    }
    return result
  }

  /** For each partition of a topic, the first offset with timestamp >= `timestamp` (-1: none). */
  async fetchTopicOffsetsByTimestamp (topic: string, timestamp: number): Promise<Array<{ partition: number, offset: number }>> {
    const info = await this.#cluster.metadata.topic(topic)
    const queries: OffsetQuery[] = []
    for (let partition = 0; partition < info.partitions; partition++) queries.push({ topic, partition, timestamp })
    return (await listOffsets(this.#cluster, queries)).map(a => ({ partition: a.partition, offset: a.offset }))
  }

  /**
   * The cluster as the broker describes it: its id, the controller, every live broker and,
   * per partition of every topic (internal ones included), its leader (-1: offline), leader
   * epoch, replicas, in-sync replicas and a reassignment in progress. A single broker is a
   * cluster of one.
   */
  async describeCluster (): Promise<ClusterDescription> {
    const names = (await this.#cluster.request('DescribeTopics', { topics: null, includeInternal: true })).body.topics.map(t => t.topic)
    const { body: internal } = await this.#cluster.request('Metadata', { topics: names, allowAutoCreate: false })
    return {
      clusterId: internal.clusterId,
      controllerId: internal.controllerId,
      brokers: internal.brokers.map(b => ({ nodeId: b.nodeId, host: b.host, port: b.port, rack: b.rack, decommissioned: b.decommissioned })),
      topics: internal.topics.filter(t => t.errorCode === 0).map(t => ({
        topic: t.topic,
        internal: t.internal,
        partitions: t.partitions.map(p => ({
          partition: p.partition, leader: p.leader, leaderEpoch: p.leaderEpoch, replicas: [...p.replicas], isr: [...p.isr],
          offlineReplicas: [...p.offlineReplicas], addingReplicas: [...p.addingReplicas], removingReplicas: [...p.removingReplicas],
        })),
      })).sort((a, b) => (a.topic < b.topic ? -1 : 1)),
    }
  }

  /**
   * Cluster mode: moves partitions to new replica lists (a reassignment: the new replicas
   * catch up, then the old ones are removed; progress in describeCluster). Resolves with how
   * many moves were started and how many were already complete.
   */
  async reassignPartitions (moves: Array<{ topic: string, partition: number, replicas: number[] }>): Promise<{ started: number, completed: number }> {
    const { body } = await this.#cluster.request('AlterPartitionReassignments', { moves })
    return { started: body.started, completed: body.completed }
  }

  /** Cluster mode: drains a broker (its replicas move to others; it gets no new ones). Resolves with the replicas moved. */
  async decommissionBroker (nodeId: number): Promise<{ moved: number }> {
    const { body } = await this.#cluster.request('DecommissionBroker', { nodeId, recommission: false })
    return { moved: body.moved }
  }

  /** Cluster mode: a decommissioned broker may take replicas again. */
  async recommissionBroker (nodeId: number): Promise<void> {
    await this.#cluster.request('DecommissionBroker', { nodeId, recommission: true })
  }

  /**
   * Consumer groups (with members or committed offsets), sorted by id. In a cluster each
   * broker lists the groups it coordinates: every broker is asked and the lists are merged.
   */
  async listGroups (): Promise<GroupListing[]> {
    const meta = await this.#cluster.metadata.refresh([])
    const nodes = meta.brokers.length > 1 ? meta.brokers.map(b => b.nodeId) : [-1]
    const byId = new Map<string, GroupListing>()
    await Promise.all(nodes.map(async node => {
      const { body } = await this.#cluster.retry(async () => (await this.#cluster.nodeConnection(node)).request('ListGroups', {}))
      for (const g of body.groups) byId.set(g.groupId, { groupId: g.groupId, state: g.state, members: g.members })
    }))
    return [...byId.values()].sort((a, b) => (a.groupId < b.groupId ? -1 : 1))
  }

  /**
   * Members (client ids, hosts, assignments) and, per partition, the committed offset, log
   * end offset and lag of each group; GroupIdNotFoundError for an unknown group.
   */
  async describeGroups (groupIds: string[]): Promise<GroupDescription[]> {
    const groups = (await Promise.all(groupIds.map(async groupId => (await this.#cluster.groupRequest(groupId, 'DescribeGroups', { groupIds: [groupId] }, { check: r => movedCoordinator(r.body.groups) })).body.groups))).flat()
    return groups.map(g => {
      if (g.errorCode !== 0) throw groupError(g.groupId, g.errorCode, g.errorMessage)
      return {
        groupId: g.groupId,
        state: g.state,
        groupEpoch: g.groupEpoch,
        assignor: g.assignor,
        members: g.members.map(m => ({ ...m, subscribedTopics: [...m.subscribedTopics], assignment: m.assignment.map(a => ({ topic: a.topic, partitions: [...a.partitions] })) })),
        offsets: g.offsets.map(o => ({ ...o })),
        totalLag: g.totalLag,
      }
    })
  }

  /** Deletes groups and their committed offsets; NonEmptyGroupError while a group has members. */
  async deleteGroups (groupIds: string[]): Promise<void> {
    const groups = (await Promise.all(groupIds.map(async groupId => (await this.#cluster.groupRequest(groupId, 'DeleteGroups', { groupIds: [groupId] }, { check: r => movedCoordinator(r.body.groups) })).body.groups))).flat()
    for (const g of groups) {
      if (g.errorCode === NON_EMPTY_GROUP) throw new NonEmptyGroupError(`group "${g.groupId}" has active members; stop them before deleting it`)
      if (g.errorCode !== 0) throw groupError(g.groupId, g.errorCode, g.errorMessage)
    }
  }

  /** A group's committed offsets: of the named topics' partitions, or all it has committed. */
  async fetchOffsets (groupId: string, topics?: string[]): Promise<CommittedOffset[]> {
    let request: Array<{ topic: string, partitions: number[] }> | null = null
    if (topics !== undefined) {
      request = []
      for (const topic of topics) {
        const info = await this.#cluster.metadata.topic(topic)
        request.push({ topic, partitions: [...Array(info.partitions).keys()] })
      }
    }
    const { body } = await this.#cluster.groupRequest(groupId, 'OffsetFetch', { groupId, topics: request })
    const out: CommittedOffset[] = []
    for (const t of body.topics) {
      for (const p of t.partitions) {
        if (p.errorCode !== 0) throw errorFromCode(p.errorCode, p.errorMessage ?? undefined)
        out.push({ topic: t.topic, partition: p.partition, offset: p.offset, metadata: p.metadata })
      }
    }
    return out.sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1))
  }

  /** Every quota set on the broker. */
  async describeClientQuotas (): Promise<ClientQuota[]> {
    const { body } = await this.#cluster.request('DescribeClientQuotas', {})
    return body.quotas.map(q => {
      const limits: QuotaLimits = {}
      for (const key of QUOTA_LIMIT_KEYS) if (q[key] !== null) limits[key] = q[key]
      return { entity: { type: q.entity.type as QuotaEntity['type'], name: q.entity.name }, limits }
    })
  }

  /**
   * Sets and removes quotas; they apply to open connections from their next request and are
   * kept across broker restarts. Throws the first entity's error (InvalidRequestError for a
   * limit that is not a whole number >= 1, an unknown entity type).
   */
  async alterClientQuotas (alterations: QuotaAlteration[], options: { validateOnly?: boolean } = {}): Promise<void> {
    const entries = alterations.map(a => {
      const ops: Array<{ key: string, value: number | null }> = []
      for (const [key, value] of Object.entries(a.set ?? {})) if (value !== undefined) ops.push({ key, value })
      const removed = a.remove === 'all' ? QUOTA_LIMIT_KEYS : a.remove ?? []
      for (const key of removed) if (a.set?.[key] === undefined) ops.push({ key, value: null })
      return { entity: { type: a.entity.type, name: a.entity.name }, ops }
    })
    const { body } = await this.#cluster.request('AlterClientQuotas', { entries, validateOnly: options.validateOnly ?? false })
    for (const e of body.entries) {
      if (e.errorCode !== 0) throw errorFromCode(e.errorCode, e.errorMessage ?? undefined)
    }
  }

  /**
   * The broker's open connections (every protocol) with their rates over the last second,
   * heaviest egress first; `by` aggregates them by group, topic, client id or host.
   */
  async describeConnections (options: { by?: ConnectionView } = {}): Promise<ConnectionsDescription> {
    const { body } = await this.#cluster.request('DescribeConnections', { by: options.by ?? 'connection' })
    const { errorCode: _code, errorMessage: _message, ...rest } = body
    return rest
  }

  /**
   * Sets a group's committed offsets (each the next offset to read), e.g. to reset it.
   * Refused with NonEmptyGroupError while the group has members: stop them first.
   */
  async setOffsets (groupId: string, offsets: Array<{ topic: string, partition: number, offset: number }>): Promise<void> {
    const byTopic = new Map<string, Array<{ partition: number, offset: number, metadata: null }>>()
    for (const o of offsets) {
      if (!Number.isInteger(o.offset) || o.offset < 0) throw new InvalidArgumentError(`offset must be an integer >= 0, got ${String(o.offset)}`)
      const list = byTopic.get(o.topic)
      const entry = { partition: o.partition, offset: o.offset, metadata: null }
      if (list === undefined) byTopic.set(o.topic, [entry])
      else list.push(entry)
    }
    let body
    try {
      ({ body } = await this.#cluster.groupRequest(groupId, 'OffsetCommit', { groupId, memberId: '', memberEpoch: -1, topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) }))
    } catch (err) {
      if (err instanceof NonEmptyGroupError) throw new NonEmptyGroupError(`group "${groupId}" has active members; stop them before changing its offsets`, { cause: err })
      throw err
    }
    for (const t of body.topics) {
      for (const p of t.partitions) {
        if (p.errorCode === UNKNOWN_TOPIC) throw new UnknownTopicOrPartitionError(`topic "${t.topic}" partition ${p.partition} does not exist`)
        if (p.errorCode !== 0) throw errorFromCode(p.errorCode, p.errorMessage ?? undefined)
      }
    }
  }
}

/** A per-group answer from a broker that is not (or not yet) the coordinator: thrown, so the request goes to the right one. */
function movedCoordinator (groups: ReadonlyArray<{ errorCode: number, errorMessage: string | null }>): void {
  for (const g of groups) {
    if (g.errorCode === ERROR_TABLE.NOT_COORDINATOR.code || g.errorCode === ERROR_TABLE.COORDINATOR_LOAD_IN_PROGRESS.code) throw errorFromCode(g.errorCode, g.errorMessage ?? undefined)
  }
}
