/**
 * The group coordinator behind the AccessPolicy: what every door (the native group apis,
 * `/api/groups`, later the Kafka listener) calls, so group operations are authorized the same
 * way whichever protocol asks. The coordinator's own logic is unchanged; this checks first
 * and filters after, with Kafka's rules:
 *
 *   heartbeat (join, stay, leave)   read on the group; describe on each subscribed topic
 *                                   (TOPIC_AUTHORIZATION_FAILED names the first that is not)
 *   commitOffsets (also resets)     read on the group; read on each topic (a denied topic's
 *                                   partitions answer TOPIC_AUTHORIZATION_FAILED, the rest commit)
 *   fetchOffsets                    describe on the group; describe on each topic (a denied
 *                                   topic's partitions answer TOPIC_AUTHORIZATION_FAILED; asked
 *                                   for all, the denied topics are left out)
 *   listGroups                      all with describe on the cluster, otherwise the groups the
 *                                   caller may describe
 *   describeGroups                  describe on each group (GROUP_AUTHORIZATION_FAILED per group);
 *                                   offsets shown only for topics the caller may describe
 *   deleteGroups                    delete on each group
 *
 * Kafka's classic groups (JoinGroup/SyncGroup, the Kafka listener's groups.ts), as Kafka's
 * broker authorizes them — group-level denials throw GROUP_AUTHORIZATION_FAILED, which the
 * listener answers in each api's own shape:
 *   classicJoin, classicSync, classicHeartbeat, classicLeave   read on the group
 *   classicCommit                   read on the group; read on each topic (a denied topic's
 *                                   partitions answer TOPIC_AUTHORIZATION_FAILED, the rest commit)
 *   classicFetch                    describe on the group; describe on each topic (denied: its
 *                                   partitions answer TOPIC_AUTHORIZATION_FAILED; asked for all,
 *                                   left out)
 *   classicDeleteOffsets            delete on the group; read on each topic (as commits)
 *   visibleGroupIds                 ListGroups: all with describe on the cluster, else those
 *                                   the caller may describe
 *   mayDescribe                     DescribeGroups: describe on the group (a denial is logged)
 */

import { GroupAuthorizationFailedError, TopicAuthorizationFailedError } from '../../protocol/errors.js'
import type { RequestOf, ResponseOf } from '../../protocol/native/api-keys.js'
import type { Caller } from '../security/principal.js'
import { CLUSTER_RESOURCE, type AccessPolicy } from '../services/access.js'
import type { CommitPartition, JoinRequest, JoinResult, SyncRequest, SyncResult } from './classic-coordinator.js'
import type { ClientInfo, GroupCoordinator } from './coordinator.js'

const TOPIC_AUTHORIZATION_FAILED = new TopicAuthorizationFailedError('').errorCode

/** Committed offsets per topic, as the classic side takes and answers them. */
type TopicPartitions<P> = ReadonlyArray<{ name: string, partitions: readonly P[] }>
type PartitionCodes = Array<{ name: string, partitions: Array<{ partition: number, errorCode: number }> }>
type FetchedOffsets = Array<{ name: string, partitions: Array<{ partition: number, offset: number, leaderEpoch: number, metadata: string | null, errorCode: number }> }>

type Body<N extends 'GroupHeartbeat' | 'OffsetCommit' | 'OffsetFetch' | 'ListGroups' | 'DescribeGroups' | 'DeleteGroups'> = Omit<ResponseOf<N>, 'errorCode' | 'errorMessage'>

function topicDenied (topic: string, operation: string): TopicAuthorizationFailedError {
  return new TopicAuthorizationFailedError(`Not authorized to ${operation} topic ${topic}`)
}

export class GroupAccess {
  readonly coordinator: GroupCoordinator
  readonly #access: AccessPolicy

  constructor (coordinator: GroupCoordinator, access: AccessPolicy) {
    this.coordinator = coordinator
    this.#access = access
  }

  heartbeat (caller: Caller, req: RequestOf<'GroupHeartbeat'>, client: ClientInfo): Body<'GroupHeartbeat'> {
    this.#access.check(caller, 'read', 'group', req.groupId)
    for (const topic of req.subscribedTopics ?? []) {
      if (!this.#access.allows(caller, 'describe', 'topic', topic)) {
        this.#access.check(caller, 'describe', 'topic', topic) // counted, logged, thrown
        throw topicDenied(topic, 'describe')
      }
    }
    return this.coordinator.heartbeat(req, client)
  }

  commitOffsets (caller: Caller, req: RequestOf<'OffsetCommit'>): Body<'OffsetCommit'> {
    this.#access.check(caller, 'read', 'group', req.groupId)
    const denied = new Set(req.topics.filter(t => !this.#allowedLogged(caller, 'read', t.topic)).map(t => t.topic))
    if (denied.size === 0) return this.coordinator.commitOffsets(req)
    const allowed = req.topics.filter(t => !denied.has(t.topic))
    const done = allowed.length === 0 ? [] : this.coordinator.commitOffsets({ ...req, topics: allowed }).topics
    let next = 0
    return {
      topics: req.topics.map(t => {
        if (!denied.has(t.topic)) return done[next++]!
        const err = topicDenied(t.topic, 'read')
        return { topic: t.topic, partitions: t.partitions.map(p => ({ partition: p.partition, errorCode: err.errorCode, errorMessage: err.message })) }
      }),
    }
  }

  fetchOffsets (caller: Caller, req: RequestOf<'OffsetFetch'>): Body<'OffsetFetch'> {
    this.#access.check(caller, 'describe', 'group', req.groupId)
    if (req.topics === null) {
      const all = this.coordinator.fetchOffsets(req)
      return { topics: all.topics.filter(t => this.#access.allows(caller, 'describe', 'topic', t.topic)) }
    }
    const answer = this.coordinator.fetchOffsets({ ...req, topics: req.topics })
    return {
      topics: answer.topics.map(t => {
        if (this.#allowedLogged(caller, 'describe', t.topic)) return t
        const err = topicDenied(t.topic, 'describe')
        return { topic: t.topic, partitions: t.partitions.map(p => ({ partition: p.partition, offset: -1, metadata: null, errorCode: err.errorCode, errorMessage: err.message })) }
      }),
    }
  }

  listGroups (caller: Caller): Body<'ListGroups'> {
    const all = this.coordinator.listGroups()
    if (this.#access.allows(caller, 'describe', 'cluster', CLUSTER_RESOURCE)) return all
    return { groups: all.groups.filter(g => this.#access.allows(caller, 'describe', 'group', g.groupId)) }
  }

  describeGroups (caller: Caller, req: RequestOf<'DescribeGroups'>): Body<'DescribeGroups'> {
    const allowed = req.groupIds.filter(id => this.#allowedLogged(caller, 'describe', id, 'group'))
    const described = new Map(this.coordinator.describeGroups({ groupIds: allowed }).groups.map(g => [g.groupId, g]))
    return {
      groups: req.groupIds.map(groupId => {
        const g = described.get(groupId)
        if (g === undefined) {
          const err = new GroupAuthorizationFailedError(`Not authorized to describe group ${groupId}`)
          return { groupId, errorCode: err.errorCode, errorMessage: err.message, state: 'dead', groupEpoch: -1, assignor: 'uniform', members: [], offsets: [], totalLag: 0 }
        }
        const offsets = g.offsets.filter(o => this.#access.allows(caller, 'describe', 'topic', o.topic))
        if (offsets.length === g.offsets.length) return g
        let totalLag = 0
        for (const o of offsets) if (o.lag > 0) totalLag += o.lag
        return { ...g, offsets, totalLag }
      }),
    }
  }

  deleteGroups (caller: Caller, req: RequestOf<'DeleteGroups'>): Body<'DeleteGroups'> {
    const allowed = req.groupIds.filter(id => this.#allowedLogged(caller, 'delete', id, 'group'))
    const deleted = new Map(this.coordinator.deleteGroups({ groupIds: allowed }).groups.map(g => [g.groupId, g]))
    return {
      groups: req.groupIds.map(groupId => deleted.get(groupId) ?? (() => {
        const err = new GroupAuthorizationFailedError(`Not authorized to delete group ${groupId}`)
        return { groupId, errorCode: err.errorCode, errorMessage: err.message }
      })()),
    }
  }

  // ---- Kafka's classic groups --------------------------------------------------------

  classicJoin (caller: Caller, groupId: string, req: JoinRequest): JoinResult | Promise<JoinResult> {
    this.#access.check(caller, 'read', 'group', groupId)
    return this.coordinator.classic.join(groupId, req)
  }

  classicSync (caller: Caller, groupId: string, req: SyncRequest): SyncResult | Promise<SyncResult> {
    this.#access.check(caller, 'read', 'group', groupId)
    return this.coordinator.classic.sync(groupId, req)
  }

  classicHeartbeat (caller: Caller, groupId: string, memberId: string, groupInstanceId: string | null, generationId: number): number {
    this.#access.check(caller, 'read', 'group', groupId)
    return this.coordinator.classic.heartbeat(groupId, memberId, groupInstanceId, generationId)
  }

  classicLeave (caller: Caller, groupId: string, members: ReadonlyArray<{ memberId: string, groupInstanceId: string | null }>): number[] {
    this.#access.check(caller, 'read', 'group', groupId)
    return this.coordinator.classic.leave(groupId, members)
  }

  classicCommit (caller: Caller, groupId: string, memberId: string, groupInstanceId: string | null, generationId: number, topics: TopicPartitions<CommitPartition>): PartitionCodes {
    this.#access.check(caller, 'read', 'group', groupId)
    return this.#perTopic(caller, 'read', topics, p => p.partition, allowed => this.coordinator.classic.commit(groupId, memberId, groupInstanceId, generationId, allowed))
  }

  /** Committed offsets (-1 where none); `errorCode` is 0 except for a denied topic's partitions. */
  classicFetch (caller: Caller, groupId: string, topics: TopicPartitions<number> | null): FetchedOffsets {
    this.#access.check(caller, 'describe', 'group', groupId)
    const classic = this.coordinator.classic
    const found = (t: ReturnType<typeof classic.fetch>[number]): FetchedOffsets[number] => ({ name: t.name, partitions: t.partitions.map(p => ({ ...p, errorCode: 0 })) })
    if (topics === null) return classic.fetch(groupId, null).filter(t => this.#access.allows(caller, 'describe', 'topic', t.name)).map(found)
    const denied = new Set(topics.filter(t => !this.#allowedLogged(caller, 'describe', t.name)).map(t => t.name))
    const answer = classic.fetch(groupId, topics.filter(t => !denied.has(t.name)))
    let next = 0
    return topics.map(t => denied.has(t.name)
      ? { name: t.name, partitions: t.partitions.map(partition => ({ partition, offset: -1, leaderEpoch: -1, metadata: null, errorCode: TOPIC_AUTHORIZATION_FAILED })) }
      : found(answer[next++]!))
  }

  classicDeleteOffsets (caller: Caller, groupId: string, topics: TopicPartitions<number>): { errorCode: number, topics: PartitionCodes } {
    this.#access.check(caller, 'delete', 'group', groupId)
    let errorCode = 0
    const result = this.#perTopic(caller, 'read', topics, p => p, allowed => {
      const r = this.coordinator.classic.deleteOffsets(groupId, allowed)
      errorCode = r.errorCode
      return r.errorCode === 0 ? r.topics : allowed.map(t => ({ name: t.name, partitions: t.partitions.map(partition => ({ partition, errorCode: r.errorCode })) }))
    })
    return { errorCode, topics: errorCode === 0 ? result : [] }
  }

  /** The group ids a Kafka ListGroups shows this caller. */
  visibleGroupIds (caller: Caller): string[] {
    const all = this.coordinator.groupIds()
    if (this.#access.allows(caller, 'describe', 'cluster', CLUSTER_RESOURCE)) return all
    return all.filter(id => this.#access.allows(caller, 'describe', 'group', id))
  }

  /** Whether the caller may describe the group (a denial is counted and logged). */
  mayDescribe (caller: Caller, groupId: string): boolean {
    return this.#allowedLogged(caller, 'describe', groupId, 'group')
  }

  /**
   * Runs `apply` on the topics `operation` is allowed on and answers the others'
   * partitions with TOPIC_AUTHORIZATION_FAILED, in request order.
   */
  #perTopic<P> (caller: Caller, operation: 'read' | 'describe', topics: TopicPartitions<P>, partitionOf: (p: P) => number, apply: (allowed: TopicPartitions<P>) => PartitionCodes): PartitionCodes {
    const denied = new Set(topics.filter(t => !this.#allowedLogged(caller, operation, t.name)).map(t => t.name))
    const allowed = topics.filter(t => !denied.has(t.name))
    const done = allowed.length === 0 ? [] : apply(allowed)
    let next = 0
    return topics.map(t => denied.has(t.name)
      ? { name: t.name, partitions: t.partitions.map(p => ({ partition: partitionOf(p), errorCode: TOPIC_AUTHORIZATION_FAILED })) }
      : done[next++]!)
  }

  /** Whether allowed; a denial is counted and logged like a check's. */
  #allowedLogged (caller: Caller, operation: 'read' | 'describe' | 'delete', name: string, type: 'topic' | 'group' = 'topic'): boolean {
    try {
      this.#access.check(caller, operation, type, name)
      return true
    } catch (err) {
      if (err instanceof TopicAuthorizationFailedError || err instanceof GroupAuthorizationFailedError) return false
      throw err
    }
  }
}
