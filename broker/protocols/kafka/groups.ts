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
 * Native groups seen from Kafka clients: listed and described like classic ones, protocol
 * type "consumer", each member's subscription and assignment written in the consumer
 * protocol's format, so Kafka admin tools show their members and lag; states are named in
 * Kafka's vocabulary (empty → Empty, reconciling → PreparingRebalance, stable → Stable).
 */

import { encodeAssignment, encodeSubscription } from '../../../protocol/kafka/consumer-protocol.js'
import type { RequestBody, ResponseInput } from '../../../protocol/kafka/registry.js'
import type { KafkaContext, KafkaRequestContext } from './context.js'

const EMPTY = new Uint8Array(0)
const CONSUMER = 'consumer'
const NATIVE_STATES: Record<string, string> = { empty: 'Empty', reconciling: 'PreparingRebalance', stable: 'Stable', dead: 'Dead' }

export async function joinGroup (ctx: KafkaContext, req: RequestBody<'JoinGroup'>, rc: KafkaRequestContext): Promise<ResponseInput<'JoinGroup'>> {
  rc.connection.group = req.groupId
  const r = await ctx.groups.classic.join(req.groupId, {
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

export async function syncGroup (ctx: KafkaContext, req: RequestBody<'SyncGroup'>): Promise<ResponseInput<'SyncGroup'>> {
  const r = await ctx.groups.classic.sync(req.groupId, { memberId: req.memberId, groupInstanceId: req.groupInstanceId, generationId: req.generationId, assignments: req.assignments })
  return { errorCode: r.errorCode, assignment: r.assignment }
}

export function heartbeat (ctx: KafkaContext, req: RequestBody<'Heartbeat'>): ResponseInput<'Heartbeat'> {
  return { errorCode: ctx.groups.classic.heartbeat(req.groupId, req.memberId, req.groupInstanceId, req.generationId) }
}

export function leaveGroup (ctx: KafkaContext, req: RequestBody<'LeaveGroup'>, rc: KafkaRequestContext): ResponseInput<'LeaveGroup'> {
  rc.connection.group = null
  if (rc.apiVersion < 3) return { errorCode: ctx.groups.classic.leave(req.groupId, [{ memberId: req.memberId, groupInstanceId: null }])[0]! }
  const codes = ctx.groups.classic.leave(req.groupId, req.members)
  return { errorCode: 0, members: req.members.map((m, i) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, errorCode: codes[i]! })) }
}

export function offsetCommit (ctx: KafkaContext, req: RequestBody<'OffsetCommit'>): ResponseInput<'OffsetCommit'> {
  const topics = ctx.groups.classic.commit(req.groupId, req.memberId, req.groupInstanceId, req.generationIdOrMemberEpoch, req.topics.map(t => ({
    name: t.name,
    partitions: t.partitions.map(p => ({ partition: p.partitionIndex, offset: p.committedOffset, leaderEpoch: p.committedLeaderEpoch, metadata: p.committedMetadata })),
  })))
  return { topics: topics.map(t => ({ name: t.name, partitions: t.partitions.map(p => ({ partitionIndex: p.partition, errorCode: p.errorCode })) })) }
}

function fetched (ctx: KafkaContext, groupId: string, topics: ReadonlyArray<{ name: string, partitionIndexes: readonly number[] }> | null): Array<{ name: string, partitions: Array<{ partitionIndex: number, committedOffset: number, committedLeaderEpoch: number, metadata: string | null, errorCode: number }> }> {
  return ctx.groups.classic.fetch(groupId, topics === null ? null : topics.map(t => ({ name: t.name, partitions: t.partitionIndexes }))).map(t => ({
    name: t.name,
    partitions: t.partitions.map(p => ({ partitionIndex: p.partition, committedOffset: p.offset, committedLeaderEpoch: p.leaderEpoch, metadata: p.metadata, errorCode: 0 })),
  }))
}

export function offsetFetch (ctx: KafkaContext, req: RequestBody<'OffsetFetch'>, rc: KafkaRequestContext): ResponseInput<'OffsetFetch'> {
  if (rc.apiVersion >= 8) return { groups: req.groups.map(g => ({ groupId: g.groupId, topics: fetched(ctx, g.groupId, g.topics), errorCode: 0 })) }
  return { topics: fetched(ctx, req.groupId, req.topics), errorCode: 0 }
}

/** A group's state in Kafka's vocabulary. */
function kafkaState (ctx: KafkaContext, groupId: string): string {
  const classic = ctx.groups.classic.get(groupId)
  if (classic !== undefined && classic.members.size > 0) return classic.state
  return NATIVE_STATES[ctx.groups.stateOf(groupId)] ?? 'Dead'
}

export function listGroups (ctx: KafkaContext, req: RequestBody<'ListGroups'>, rc: KafkaRequestContext): ResponseInput<'ListGroups'> {
  const wanted = rc.apiVersion >= 4 && req.statesFilter.length > 0 ? new Set(req.statesFilter.map(s => s.toLowerCase())) : null
  const groups = ctx.groups.groupIds().sort()
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

export function describeGroups (ctx: KafkaContext, req: RequestBody<'DescribeGroups'>): ResponseInput<'DescribeGroups'> {
  return { groups: req.groups.map(groupId => describeOne(ctx, groupId)) }
}

export function deleteGroups (ctx: KafkaContext, req: RequestBody<'DeleteGroups'>): ResponseInput<'DeleteGroups'> {
  const r = ctx.groups.deleteGroups({ groupIds: req.groupsNames })
  return { results: r.groups.map(g => ({ groupId: g.groupId, errorCode: g.errorCode })) }
}

export function offsetDelete (ctx: KafkaContext, req: RequestBody<'OffsetDelete'>): ResponseInput<'OffsetDelete'> {
  const r = ctx.groups.classic.deleteOffsets(req.groupId, req.topics.map(t => ({ name: t.name, partitions: t.partitions.map(p => p.partitionIndex) })))
  return { errorCode: r.errorCode, topics: r.topics.map(t => ({ name: t.name, partitions: t.partitions.map(p => ({ partitionIndex: p.partition, errorCode: p.errorCode })) })) }
}
