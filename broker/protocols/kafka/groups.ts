/**
 * The group apis for Kafka clients: JoinGroup (v0-6), SyncGroup (v0-4), Heartbeat (v0-4),
 * LeaveGroup (v0-4) — wire adapters over the classic side of the group coordinator
 * (groups/classic-coordinator.ts, which holds the state machine) — and OffsetCommit (v2-8),
 * OffsetFetch (v1-8), ListGroups (v0-4), DescribeGroups (v0-5), DeleteGroups (v0-2),
 * OffsetDelete (v0) over the offsets and groups both protocols share.
 *
 * JoinGroup and SyncGroup are long polls: their answer comes when the join or sync phase
 * completes (the request pipeline keeps later answers of the connection behind them, as
 * Kafka's broker does).
 *
 * Authorization (groups/group-access.ts, as Kafka's broker): read on the group to join,
 * sync, heartbeat, leave and commit (and read on each committed topic), describe to fetch
 * offsets (and describe on each topic) and to describe, delete to delete groups or offsets;
 * ListGroups shows the groups the principal may describe (all with describe on the cluster).
 * A group-level denial is GROUP_AUTHORIZATION_FAILED in the api's own shape, a topic's
 * TOPIC_AUTHORIZATION_FAILED on its partitions.
 *
 * Native groups seen from Kafka clients: listed and described like classic ones, protocol
 * type "consumer", each member's subscription and assignment written in the consumer
 * protocol's format, so Kafka admin tools show their members and lag; states are named in
 * Kafka's vocabulary (empty → Empty, reconciling → PreparingRebalance, stable → Stable).
 */

import { encodeAssignment, encodeSubscription } from '../../../protocol/kafka/consumer-protocol.js'
import type { RequestBody, ResponseInput } from '../../../protocol/kafka/registry.js'
import { GroupAuthorizationFailedError } from '../../../protocol/errors.js'
import { kafkaError, type KafkaContext, type KafkaRequestContext } from './context.js'

const EMPTY = new Uint8Array(0)
const GROUP_AUTHORIZATION_FAILED = new GroupAuthorizationFailedError('').errorCode
const CONSUMER = 'consumer'
const NATIVE_STATES: Record<string, string> = { empty: 'Empty', reconciling: 'PreparingRebalance', stable: 'Stable', dead: 'Dead' }

export async function joinGroup (ctx: KafkaContext, req: RequestBody<'JoinGroup'>, rc: KafkaRequestContext): Promise<ResponseInput<'JoinGroup'>> {
  rc.connection.group = req.groupId
  const r = await ctx.groupAccess.classicJoin(rc.connection.caller, req.groupId, {
    memberId: req.memberId,
    groupInstanceId: req.groupInstanceId,
    sessionTimeoutMs: req.sessionTimeoutMs,
    // v0 has no rebalance timeout: Kafka uses the session timeout.
    rebalanceTimeoutMs: rc.apiVersion >= 1 ? req.rebalanceTimeoutMs : req.sessionTimeoutMs,
    protocolType: req.protocolType,
    protocols: req.protocols,
    clientId: rc.connection.clientId,
    clientHost: rc.connection.peer.host,
    requireKnownMemberId: rc.apiVersion >= 4,
  })
  return { errorCode: r.errorCode, generationId: r.generationId, protocolName: r.protocolName ?? '', leader: r.leader, memberId: r.memberId, members: r.members }
}

export async function syncGroup (ctx: KafkaContext, req: RequestBody<'SyncGroup'>, rc: KafkaRequestContext): Promise<ResponseInput<'SyncGroup'>> {
  const r = await ctx.groupAccess.classicSync(rc.connection.caller, req.groupId, { memberId: req.memberId, groupInstanceId: req.groupInstanceId, generationId: req.generationId, assignments: req.assignments })
  return { errorCode: r.errorCode, assignment: r.assignment }
}

export function heartbeat (ctx: KafkaContext, req: RequestBody<'Heartbeat'>, rc: KafkaRequestContext): ResponseInput<'Heartbeat'> {
  return { errorCode: ctx.groupAccess.classicHeartbeat(rc.connection.caller, req.groupId, req.memberId, req.groupInstanceId, req.generationId) }
}

export function leaveGroup (ctx: KafkaContext, req: RequestBody<'LeaveGroup'>, rc: KafkaRequestContext): ResponseInput<'LeaveGroup'> {
  const caller = rc.connection.caller
  if (rc.apiVersion < 3) {
    const code = ctx.groupAccess.classicLeave(caller, req.groupId, [{ memberId: req.memberId, groupInstanceId: null }])[0]!
    rc.connection.group = null
    return { errorCode: code }
  }
  const codes = ctx.groupAccess.classicLeave(caller, req.groupId, req.members)
  rc.connection.group = null
  return { errorCode: 0, members: req.members.map((m, i) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, errorCode: codes[i]! })) }
}

export function offsetCommit (ctx: KafkaContext, req: RequestBody<'OffsetCommit'>, rc: KafkaRequestContext): ResponseInput<'OffsetCommit'> {
  const topics = ctx.groupAccess.classicCommit(rc.connection.caller, req.groupId, req.memberId, req.groupInstanceId, req.generationIdOrMemberEpoch, req.topics.map(t => ({
    name: t.name,
    partitions: t.partitions.map(p => ({ partition: p.partitionIndex, offset: p.committedOffset, leaderEpoch: p.committedLeaderEpoch, metadata: p.committedMetadata })),
  })))
  return { topics: topics.map(t => ({ name: t.name, partitions: t.partitions.map(p => ({ partitionIndex: p.partition, errorCode: p.errorCode })) })) }
}

type FetchedTopic = { name: string, partitions: Array<{ partitionIndex: number, committedOffset: number, committedLeaderEpoch: number, metadata: string | null, errorCode: number }> }

function fetched (ctx: KafkaContext, rc: KafkaRequestContext, groupId: string, topics: ReadonlyArray<{ name: string, partitionIndexes: readonly number[] }> | null): FetchedTopic[] {
  return ctx.groupAccess.classicFetch(rc.connection.caller, groupId, topics === null ? null : topics.map(t => ({ name: t.name, partitions: t.partitionIndexes }))).map(t => ({
    name: t.name,
    partitions: t.partitions.map(p => ({ partitionIndex: p.partition, committedOffset: p.offset, committedLeaderEpoch: p.leaderEpoch, metadata: p.metadata, errorCode: p.errorCode })),
  }))
}

export function offsetFetch (ctx: KafkaContext, req: RequestBody<'OffsetFetch'>, rc: KafkaRequestContext): ResponseInput<'OffsetFetch'> {
  if (rc.apiVersion >= 8) {
    // One group's denial is that group's error; the others are answered.
    return {
      groups: req.groups.map(g => {
        try {
          return { groupId: g.groupId, topics: fetched(ctx, rc, g.groupId, g.topics), errorCode: 0 }
        } catch (err) {
          return { groupId: g.groupId, topics: [], errorCode: kafkaError(ctx, err, 'offset fetch').errorCode }
        }
      }),
    }
  }
  return { topics: fetched(ctx, rc, req.groupId, req.topics), errorCode: 0 }
}

/** A group's state in Kafka's vocabulary. */
function kafkaState (ctx: KafkaContext, groupId: string): string {
  const classic = ctx.groups.classic.get(groupId)
  if (classic !== undefined && classic.members.size > 0) return classic.state
  return NATIVE_STATES[ctx.groups.stateOf(groupId)] ?? 'Dead'
}

export function listGroups (ctx: KafkaContext, req: RequestBody<'ListGroups'>, rc: KafkaRequestContext): ResponseInput<'ListGroups'> {
  const wanted = rc.apiVersion >= 4 && req.statesFilter.length > 0 ? new Set(req.statesFilter.map(s => s.toLowerCase())) : null
  const groups = ctx.groupAccess.visibleGroupIds(rc.connection.caller).sort()
    .map(groupId => ({ groupId, protocolType: CONSUMER, groupState: kafkaState(ctx, groupId) }))
    .filter(g => wanted === null || wanted.has(g.groupState.toLowerCase()))
  return { errorCode: 0, groups }
}

type DescribedGroup = NonNullable<ResponseInput<'DescribeGroups'>['groups']> extends ReadonlyArray<infer E> ? E : never

function describeOne (ctx: KafkaContext, groupId: string): DescribedGroup {
  const classic = ctx.groups.classic.get(groupId)
  if (classic !== undefined && classic.members.size > 0) {
    return {
      errorCode: 0,
      groupId,
      groupState: classic.state,
      protocolType: classic.protocolType ?? CONSUMER,
      protocolData: classic.state === 'PreparingRebalance' ? '' : classic.protocolName ?? '',
      members: [...classic.members.values()].map(m => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        memberMetadata: classic.metadataOf(m),
        memberAssignment: classic.state === 'Stable' ? m.assignment : EMPTY,
      })),
    }
  }
  const native = ctx.groups.describeGroups({ groupIds: [groupId] }).groups[0]!
  if (native.errorCode !== 0) return { errorCode: 0, groupId, groupState: 'Dead', protocolType: '', protocolData: '', members: [] }
  return {
    errorCode: 0,
    groupId,
    groupState: NATIVE_STATES[native.state] ?? 'Dead',
    protocolType: CONSUMER,
    protocolData: native.members.length > 0 ? native.assignor : '',
    members: native.members.map(m => ({
      memberId: m.memberId,
      groupInstanceId: m.instanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      memberMetadata: encodeSubscription({ topics: m.subscribedTopics }, 0),
      memberAssignment: encodeAssignment({ assignedPartitions: m.assignment }, 0),
    })),
  }
}

export function describeGroups (ctx: KafkaContext, req: RequestBody<'DescribeGroups'>, rc: KafkaRequestContext): ResponseInput<'DescribeGroups'> {
  const caller = rc.connection.caller
  return {
    groups: req.groups.map(groupId => ctx.groupAccess.mayDescribe(caller, groupId)
      ? describeOne(ctx, groupId)
      : { errorCode: GROUP_AUTHORIZATION_FAILED, groupId, groupState: '', protocolType: '', protocolData: '', members: [] }),
  }
}

export function deleteGroups (ctx: KafkaContext, req: RequestBody<'DeleteGroups'>, rc: KafkaRequestContext): ResponseInput<'DeleteGroups'> {
  const r = ctx.groupAccess.deleteGroups(rc.connection.caller, { groupIds: req.groupsNames })
  return { results: r.groups.map(g => ({ groupId: g.groupId, errorCode: g.errorCode })) }
}

export function offsetDelete (ctx: KafkaContext, req: RequestBody<'OffsetDelete'>, rc: KafkaRequestContext): ResponseInput<'OffsetDelete'> {
  const r = ctx.groupAccess.classicDeleteOffsets(rc.connection.caller, req.groupId, req.topics.map(t => ({ name: t.name, partitions: t.partitions.map(p => p.partitionIndex) })))
  return { errorCode: r.errorCode, topics: r.topics.map(t => ({ name: t.name, partitions: t.partitions.map(p => ({ partitionIndex: p.partition, errorCode: p.errorCode })) })) }
}
