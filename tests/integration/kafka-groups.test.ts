// Consumer groups over the Kafka listener: the classic JoinGroup/SyncGroup protocol beside
// the native one, in the same coordinator and offset store.
// - the state machine, version by version (raw client): MEMBER_ID_REQUIRED two-step join
//   (v4+), protocol voting, INCONSISTENT_GROUP_PROTOCOL, generations (ILLEGAL_GENERATION),
//   REBALANCE_IN_PROGRESS on heartbeats during a rebalance, session and rebalance timeouts,
//   static membership (FENCED_INSTANCE_ID, a rejoin without rebalance), the initial
//   rebalance delay, leaves; offsets committed with their leader epoch and fetched at every
//   version; ListGroups, DescribeGroups, DeleteGroups, OffsetDelete;
// - a native and a Kafka-protocol member in one group are refused, both ways;
// - kafkajs: a group of three processes, one killed, the others take its partitions and read
//   everything; seek; the group listed, described with its lag and reset by `spool group`;
//   transactions refused clearly;
// - kcat -G: two processes share the partitions of a topic and read every record once.
import t from 'tap'
import { Kafka, logLevel } from 'kafkajs'
import { fileURLToPath } from 'node:url'
import { Client } from '../../client/index.js'
import { KafkaErrorCode, decodeAssignment, encodeAssignment, encodeSubscription } from '../../protocol/kafka/index.js'
import { encodeBatch } from '../../protocol/record-batch/records.js'
import type { Broker } from '../../broker/broker.js'
import { httpGet, startBroker, type TestLike } from '../helpers/broker.js'
import { KafkaRawClient } from '../helpers/kafka-raw.js'
import { kcat, runProgram, startProgram, type Program } from '../helpers/kafka-programs.js'
import { tpKey } from '../../broker/groups/assignor.js'
import { SPOOL_BIN, waitFor } from '../helpers/processes.js'

const MEMBER = fileURLToPath(new URL('../helpers/kafkajs-member.js', import.meta.url))
const utf8 = new TextEncoder()

async function raw (t: TestLike, broker: Broker, clientId = 'group-test'): Promise<KafkaRawClient> {
  const c = await KafkaRawClient.connect(broker.ports.kafka!, clientId)
  t.teardown(() => c.close())
  return c
}

const sub = (topics: string[]): Uint8Array => encodeSubscription({ topics }, 1)

interface JoinOptions { memberId?: string, instanceId?: string | null, protocols?: Array<{ name: string, metadata: Uint8Array }>, protocolType?: string, session?: number, rebalance?: number }

function join (c: KafkaRawClient, version: number, groupId: string, o: JoinOptions = {}): Promise<Awaited<ReturnType<KafkaRawClient['call']>> & Record<string, unknown>> {
  return c.call('JoinGroup', version, {
    groupId,
    sessionTimeoutMs: o.session ?? 6000,
    rebalanceTimeoutMs: o.rebalance ?? 5000,
    memberId: o.memberId ?? '',
    groupInstanceId: o.instanceId ?? null,
    protocolType: o.protocolType ?? 'consumer',
    protocols: o.protocols ?? [{ name: 'range', metadata: sub(['t']) }],
  }, 20_000) as never
}

interface Joined { errorCode: number, generationId: number, protocolName: string, leader: string, memberId: string, members: Array<{ memberId: string, metadata: Uint8Array }> }

/** Joins as a new member (two steps from v4) and returns the join answer. */
async function joinFully (c: KafkaRawClient, version: number, groupId: string, o: JoinOptions = {}): Promise<Joined> {
  let r = await join(c, version, groupId, o) as unknown as Joined
  if (r.errorCode === KafkaErrorCode.MEMBER_ID_REQUIRED) r = await join(c, version, groupId, { ...o, memberId: r.memberId }) as unknown as Joined
  return r
}

async function produce (c: KafkaRawClient, topic: string, partition: number, values: string[]): Promise<void> {
  const r = await c.call('Produce', 7, { acks: 1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: partition, records: encodeBatch(values.map(v => ({ value: utf8.encode(v) }))) }] }] })
  if (r.responses[0]!.partitionResponses[0]!.errorCode !== 0) throw new Error('produce failed')
}

t.test('JoinGroup v0-6, SyncGroup v0-4, Heartbeat v0-4, LeaveGroup v0-4: one member through every version', async t => {
  const broker = await startBroker(t, { groupInitialRebalanceDelayMs: 0 })
  const c = await raw(t, broker)
  for (let v = 0; v <= 6; v++) {
    const groupId = `solo-${v}`
    const first = await join(c, v, groupId) as unknown as Joined
    if (v >= 4) {
      t.equal(first.errorCode, KafkaErrorCode.MEMBER_ID_REQUIRED, `v${v}: MEMBER_ID_REQUIRED first`)
      t.match(first.memberId, /^group-test-[0-9a-f-]{36}$/, `v${v}: with the member id to use (client id + uuid)`)
    }
    const joined = v >= 4 ? await join(c, v, groupId, { memberId: first.memberId }) as unknown as Joined : first
    t.same([joined.errorCode, joined.generationId, joined.protocolName, joined.leader], [0, 1, 'range', joined.memberId], `JoinGroup v${v}: generation 1, leader`)
    t.equal(joined.members.length, 1, `v${v}: the leader gets the members`)
    const sv = Math.min(v, 4)
    const assignment = encodeAssignment({ assignedPartitions: [{ topic: 't', partitions: [0] }] }, 0)
    const synced = await c.call('SyncGroup', sv, { groupId, generationId: 1, memberId: joined.memberId, assignments: [{ memberId: joined.memberId, assignment }] })
    t.same([synced.errorCode, decodeAssignment(synced.assignment).assignedPartitions], [0, [{ topic: 't', partitions: [0] }]], `SyncGroup v${sv}: the leader's assignment`)
    const hv = Math.min(v, 4)
    t.equal((await c.call('Heartbeat', hv, { groupId, generationId: 1, memberId: joined.memberId })).errorCode, 0, `Heartbeat v${hv}`)
    t.equal((await c.call('Heartbeat', hv, { groupId, generationId: 2, memberId: joined.memberId })).errorCode, KafkaErrorCode.ILLEGAL_GENERATION, `Heartbeat v${hv}: a wrong generation`)
    t.equal((await c.call('Heartbeat', hv, { groupId, generationId: 1, memberId: 'nobody' })).errorCode, KafkaErrorCode.UNKNOWN_MEMBER_ID, `Heartbeat v${hv}: an unknown member`)
    t.equal((await c.call('SyncGroup', sv, { groupId, generationId: 0, memberId: joined.memberId, assignments: [] })).errorCode, KafkaErrorCode.ILLEGAL_GENERATION, `SyncGroup v${sv}: a wrong generation`)
    const lv = Math.min(v, 4)
    const left = await c.call('LeaveGroup', lv, lv >= 3 ? { groupId, members: [{ memberId: joined.memberId, groupInstanceId: null }, { memberId: 'ghost', groupInstanceId: null }] } : { groupId, memberId: joined.memberId })
    if (lv >= 3) t.same(left.members.map(m => m.errorCode), [0, KafkaErrorCode.UNKNOWN_MEMBER_ID], `LeaveGroup v${lv}: per member`)
    else t.equal(left.errorCode, 0, `LeaveGroup v${lv}`)
    t.equal(broker.groups.classic.get(groupId)?.state, 'Empty', `v${v}: the group is empty after the leave`)
  }
})

t.test('two members: a rebalance, heartbeats told REBALANCE_IN_PROGRESS, protocol voting, inconsistent protocols refused', async t => {
  const broker = await startBroker(t, { groupInitialRebalanceDelayMs: 0 })
  const a = await raw(t, broker, 'member-a')
  const b = await raw(t, broker, 'member-b')
  const aProtocols = [{ name: 'roundrobin', metadata: sub(['t']) }, { name: 'range', metadata: sub(['t']) }]
  const bProtocols = [{ name: 'range', metadata: sub(['t']) }, { name: 'roundrobin', metadata: sub(['t']) }, { name: 'sticky', metadata: sub(['t']) }]
  const ja = await joinFully(a, 5, 'pair', { protocols: aProtocols })
  await a.call('SyncGroup', 3, { groupId: 'pair', generationId: 1, memberId: ja.memberId, assignments: [] })
  // B joins: A is told to rejoin by its heartbeat; the join phase holds B until A is back.
  const bFirst = await join(b, 5, 'pair', { protocols: bProtocols }) as unknown as Joined
  const bJoin = join(b, 5, 'pair', { protocols: bProtocols, memberId: bFirst.memberId })
  await waitFor(() => broker.groups.classic.get('pair')?.state === 'PreparingRebalance', 5000, 'the rebalance')
  t.equal((await a.call('Heartbeat', 3, { groupId: 'pair', generationId: 1, memberId: ja.memberId })).errorCode, KafkaErrorCode.REBALANCE_IN_PROGRESS, 'A\'s heartbeat: REBALANCE_IN_PROGRESS')
  t.equal((await a.call('SyncGroup', 3, { groupId: 'pair', generationId: 1, memberId: ja.memberId, assignments: [] })).errorCode, KafkaErrorCode.REBALANCE_IN_PROGRESS, 'and its SyncGroup too')
  const commitDuring = await a.call('OffsetCommit', 5, { groupId: 'pair', generationIdOrMemberEpoch: 1, memberId: ja.memberId, topics: [] })
  t.same(commitDuring.topics, [], 'commits of the current generation are still taken while preparing')
  const ja2 = await join(a, 5, 'pair', { protocols: aProtocols, memberId: ja.memberId }) as unknown as Joined
  const jb = await bJoin as unknown as Joined
  t.same([ja2.generationId, jb.generationId], [2, 2], 'both in generation 2')
  t.same([ja2.leader, jb.leader], [ja.memberId, ja.memberId], 'the leader stays the leader')
  t.equal(ja2.protocolName, 'roundrobin', 'one vote each (A roundrobin, B range; sticky is not common): the tie goes to the leader\'s order')
  t.same([ja2.members.length, jb.members.length], [2, 0], 'only the leader sees the members')
  t.equal((await a.call('Heartbeat', 3, { groupId: 'pair', generationId: 2, memberId: ja.memberId })).errorCode, 0, 'heartbeats are answered NONE while the group waits for the leader\'s sync')
  const bSync = b.call('SyncGroup', 3, { groupId: 'pair', generationId: 2, memberId: jb.memberId, assignments: [] })
  const commitWaiting = await a.call('OffsetCommit', 5, { groupId: 'pair', generationIdOrMemberEpoch: 2, memberId: ja.memberId, topics: [{ name: 'nope', partitions: [{ partitionIndex: 0, committedOffset: 1, committedMetadata: null }] }] })
  t.equal(commitWaiting.topics[0]!.partitions[0]!.errorCode, KafkaErrorCode.REBALANCE_IN_PROGRESS, 'commits wait for the sync to complete')
  const assignments = [
    { memberId: ja.memberId, assignment: encodeAssignment({ assignedPartitions: [{ topic: 't', partitions: [0] }] }, 0) },
    { memberId: jb.memberId, assignment: encodeAssignment({ assignedPartitions: [{ topic: 't', partitions: [1] }] }, 0) },
  ]
  const aSync = await a.call('SyncGroup', 3, { groupId: 'pair', generationId: 2, memberId: ja.memberId, assignments })
  t.same(decodeAssignment(aSync.assignment).assignedPartitions, [{ topic: 't', partitions: [0] }], 'the leader gets its part')
  t.same(decodeAssignment((await bSync).assignment).assignedPartitions, [{ topic: 't', partitions: [1] }], 'the follower, held until then, gets its part')

  const c = await raw(t, broker, 'member-c')
  const wrongType = await join(c, 5, 'pair', { protocolType: 'connect', protocols: [{ name: 'range', metadata: sub(['t']) }] }) as unknown as Joined
  t.equal(wrongType.errorCode, KafkaErrorCode.INCONSISTENT_GROUP_PROTOCOL, 'another protocol type: INCONSISTENT_GROUP_PROTOCOL')
  const noCommon = await join(c, 5, 'pair', { protocols: [{ name: 'RoundRobinAssigner', metadata: sub(['t']) }] }) as unknown as Joined
  t.equal(noCommon.errorCode, KafkaErrorCode.INCONSISTENT_GROUP_PROTOCOL, 'no assignor in common (kafkajs beside librdkafka): INCONSISTENT_GROUP_PROTOCOL')
  t.equal(broker.groups.classic.get('pair')?.state, 'Stable', 'and the group is undisturbed')
  const empty = await join(c, 5, 'empty-protocols', { protocols: [] }) as unknown as Joined
  t.equal(empty.errorCode, KafkaErrorCode.INCONSISTENT_GROUP_PROTOCOL, 'no protocols at all')
  const badSession = await join(c, 5, 'pair', { session: 10 }) as unknown as Joined
  t.equal(badSession.errorCode, KafkaErrorCode.INVALID_SESSION_TIMEOUT, 'a session timeout below groupMinSessionTimeoutMs')
  const noGroup = await join(c, 5, '') as unknown as Joined
  t.equal(noGroup.errorCode, KafkaErrorCode.INVALID_GROUP_ID, 'an empty group id')
})

t.test('timeouts: a silent member is evicted, one that does not rejoin is dropped, the initial delay gathers members', async t => {
  const broker = await startBroker(t, { groupInitialRebalanceDelayMs: 0, groupMinSessionTimeoutMs: 100 })
  const a = await raw(t, broker, 'a')
  const b = await raw(t, broker, 'b')
  const ja = await joinFully(a, 5, 'evict', { session: 60_000 })
  await a.call('SyncGroup', 3, { groupId: 'evict', generationId: ja.generationId, memberId: ja.memberId, assignments: [] })
  const jbFirst = await join(b, 5, 'evict', { session: 400 }) as unknown as Joined
  // A never rejoins: the join phase ends at the rebalance timeout (1 s) without it.
  const jb = await join(b, 5, 'evict', { session: 400, rebalance: 1000, memberId: jbFirst.memberId }) as unknown as Joined
  t.same([jb.errorCode, jb.generationId, jb.leader], [0, 2, jb.memberId], 'A did not rejoin in time: B alone in generation 2, its leader')
  t.equal((await a.call('Heartbeat', 3, { groupId: 'evict', generationId: 1, memberId: ja.memberId })).errorCode, KafkaErrorCode.UNKNOWN_MEMBER_ID, 'A was removed')
  await b.call('SyncGroup', 3, { groupId: 'evict', generationId: 2, memberId: jb.memberId, assignments: [] })
  // B stops heartbeating: evicted after its 400 ms session.
  await waitFor(() => broker.groups.classic.get('evict')?.state === 'Empty', 10_000, 'B\'s session to expire')
  t.equal(broker.groups.classic.get('evict')?.members.size, 0, 'the silent member was evicted by its session timeout')

  const delayed = await startBroker(t, { groupInitialRebalanceDelayMs: 300 })
  const x = await raw(t, delayed, 'x')
  const y = await raw(t, delayed, 'y')
  const xJoin = joinFully(x, 5, 'together')
  await waitFor(() => delayed.groups.classic.get('together')?.members.size === 1, 5000, 'the first member')
  const [jx, jy] = await Promise.all([xJoin, joinFully(y, 5, 'together')])
  t.same([jx.generationId, jy.generationId], [1, 1], 'two members starting together form generation 1 (the initial delay waited for the second)')
})

t.test('static membership: a restarted member keeps its place, the old id is fenced', async t => {
  const broker = await startBroker(t, { groupInitialRebalanceDelayMs: 0 })
  const a = await raw(t, broker, 'static')
  const b = await raw(t, broker, 'dynamic')
  const ja = await joinFully(a, 5, 'static-g', { instanceId: 'worker-1' })
  t.equal(ja.errorCode, 0, 'a static member joins in one step')
  t.match(ja.memberId, /^worker-1-/, 'its member id starts with its instance id')
  const jbFirst = await join(b, 5, 'static-g') as unknown as Joined
  const jbP = join(b, 5, 'static-g', { memberId: jbFirst.memberId })
  const ja2 = await join(a, 5, 'static-g', { instanceId: 'worker-1', memberId: ja.memberId }) as unknown as Joined
  const jb = await jbP as unknown as Joined
  const assignments = [
    { memberId: ja2.memberId, assignment: encodeAssignment({ assignedPartitions: [{ topic: 't', partitions: [0] }] }, 0) },
    { memberId: jb.memberId, assignment: encodeAssignment({ assignedPartitions: [{ topic: 't', partitions: [1] }] }, 0) },
  ]
  const leader = ja2.leader === ja2.memberId ? a : b
  const other = leader === a ? b : a
  const otherJoin = leader === a ? jb : ja2
  const otherSync = other.call('SyncGroup', 3, { groupId: 'static-g', generationId: 2, memberId: otherJoin.memberId, groupInstanceId: otherJoin === ja2 ? 'worker-1' : null, assignments: [] })
  await leader.call('SyncGroup', 3, { groupId: 'static-g', generationId: 2, memberId: (leader === a ? ja2 : jb).memberId, groupInstanceId: leader === a ? 'worker-1' : null, assignments })
  await otherSync
  t.equal(broker.groups.classic.get('static-g')?.state, 'Stable')
  // worker-1 restarts (a new process: no member id) with the same subscription.
  const restarted = await raw(t, broker, 'static')
  const jr = await join(restarted, 5, 'static-g', { instanceId: 'worker-1' }) as unknown as Joined
  t.same([jr.errorCode, jr.generationId], [0, 2], 'the restarted static member is back in generation 2, no rebalance')
  t.not(jr.memberId, ja.memberId, 'under a new member id')
  t.equal(broker.groups.classic.get('static-g')?.state, 'Stable', 'the group stayed stable')
  const again = await restarted.call('SyncGroup', 3, { groupId: 'static-g', generationId: 2, memberId: jr.memberId, groupInstanceId: 'worker-1', assignments: [] })
  t.same(decodeAssignment(again.assignment).assignedPartitions, [{ topic: 't', partitions: [0] }], 'with its old partitions')
  t.equal((await a.call('Heartbeat', 3, { groupId: 'static-g', generationId: 2, memberId: ja.memberId, groupInstanceId: 'worker-1' })).errorCode, KafkaErrorCode.FENCED_INSTANCE_ID, 'the old incarnation is fenced')
  const leave = await restarted.call('LeaveGroup', 4, { groupId: 'static-g', members: [{ memberId: '', groupInstanceId: 'worker-1' }] })
  t.same(leave.members.map(m => m.errorCode), [0], 'a static member leaves by instance id')
})

t.test('offsets: OffsetCommit v2-8 with generations and leader epochs, OffsetFetch v1-8; ListGroups, DescribeGroups, DeleteGroups, OffsetDelete', async t => {
  const broker = await startBroker(t, { groupInitialRebalanceDelayMs: 0 })
  const c = await raw(t, broker)
  await c.call('CreateTopics', 4, { topics: [{ name: 'oc', numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 })
  await produce(c, 'oc', 0, ['a', 'b', 'c', 'd'])
  for (let v = 2; v <= 8; v++) {
    const r = await c.call('OffsetCommit', v, { groupId: 'simple', generationIdOrMemberEpoch: -1, memberId: '', topics: [{ name: 'oc', partitions: [{ partitionIndex: 0, committedOffset: v, committedLeaderEpoch: v >= 6 ? 0 : -1, committedMetadata: `m${v}` }, { partitionIndex: 7, committedOffset: 1, committedMetadata: null }] }] })
    t.same(r.topics[0]!.partitions.map(p => p.errorCode), [0, KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION], `OffsetCommit v${v}: a commit from outside a member-less group; an unknown partition`)
  }
  for (let v = 1; v <= 8; v++) {
    const r = v >= 8
      ? await c.call('OffsetFetch', v, { groups: [{ groupId: 'simple', topics: [{ name: 'oc', partitionIndexes: [0, 1] }] }, { groupId: 'never', topics: null }] })
      : await c.call('OffsetFetch', v, { groupId: 'simple', topics: [{ name: 'oc', partitionIndexes: [0, 1] }] })
    const topics = v >= 8 ? r.groups[0]!.topics : r.topics
    t.same(topics[0]!.partitions.map(p => [p.committedOffset, p.metadata]), [[8, 'm8'], [-1, null]], `OffsetFetch v${v}: committed, and -1 where none`)
    if (v >= 5) t.equal(topics[0]!.partitions[0]!.committedLeaderEpoch, 0, `OffsetFetch v${v}: the committed leader epoch`)
    if (v >= 8) t.same(r.groups[1]!.topics, [], 'v8: several groups at once')
    if (v >= 2 && v < 8) {
      const all = await c.call('OffsetFetch', v, { groupId: 'simple', topics: null })
      t.same(all.topics.map(x => [x.name, x.partitions.map(p => p.partitionIndex)]), [['oc', [0]]], `OffsetFetch v${v}: null topics is every committed partition`)
    }
  }
  t.same(broker.groups.committed('simple').get(tpKey('oc', 0)), { offset: 8, metadata: 'm8', commitTimestampMs: broker.groups.committed('simple').get(tpKey('oc', 0))?.commitTimestampMs, leaderEpoch: 0 }, 'the offset lives in the shared store, with its leader epoch')

  const j = await joinFully(c, 5, 'member-commits', { protocols: [{ name: 'range', metadata: sub(['oc']) }] })
  const outsider = await c.call('OffsetCommit', 5, { groupId: 'member-commits', generationIdOrMemberEpoch: -1, memberId: '', topics: [{ name: 'oc', partitions: [{ partitionIndex: 0, committedOffset: 1, committedMetadata: null }] }] })
  t.equal(outsider.topics[0]!.partitions[0]!.errorCode, KafkaErrorCode.UNKNOWN_MEMBER_ID, 'a group with members takes no commits from outside')
  const stale = await c.call('OffsetCommit', 7, { groupId: 'member-commits', generationIdOrMemberEpoch: 0, memberId: j.memberId, groupInstanceId: null, topics: [{ name: 'oc', partitions: [{ partitionIndex: 0, committedOffset: 1, committedLeaderEpoch: 0, committedMetadata: null }] }] })
  t.equal(stale.topics[0]!.partitions[0]!.errorCode, KafkaErrorCode.ILLEGAL_GENERATION, 'a stale generation')
  await c.call('SyncGroup', 3, { groupId: 'member-commits', generationId: 1, memberId: j.memberId, assignments: [{ memberId: j.memberId, assignment: encodeAssignment({ assignedPartitions: [{ topic: 'oc', partitions: [0, 1] }] }, 0) }] })
  const ok = await c.call('OffsetCommit', 8, { groupId: 'member-commits', generationIdOrMemberEpoch: 1, memberId: j.memberId, groupInstanceId: null, topics: [{ name: 'oc', partitions: [{ partitionIndex: 0, committedOffset: 3, committedLeaderEpoch: 0, committedMetadata: '' }] }] })
  t.equal(ok.topics[0]!.partitions[0]!.errorCode, 0, 'the member commits in its generation')

  for (let v = 0; v <= 4; v++) {
    const r = await c.call('ListGroups', v, v >= 4 ? { statesFilter: ['stable'] } : {})
    const ids = r.groups.map(g => g.groupId)
    if (v >= 4) t.same(ids, ['member-commits'], 'ListGroups v4: filtered by state')
    else t.same(ids, ['member-commits', 'simple'], `ListGroups v${v}: every group`)
  }
  for (let v = 0; v <= 5; v++) {
    const r = await c.call('DescribeGroups', v, { groups: ['member-commits', 'simple', 'nope'] })
    const [m, s, n] = r.groups
    t.same([m!.groupState, m!.protocolType, m!.protocolData, m!.members.length], ['Stable', 'consumer', 'range', 1], `DescribeGroups v${v}: the live group`)
    t.same(decodeAssignment(m!.members[0]!.memberAssignment).assignedPartitions, [{ topic: 'oc', partitions: [0, 1] }], `v${v}: the member's assignment`)
    t.same([s!.groupState, s!.members.length], ['Empty', 0], `v${v}: a group with offsets only`)
    t.same([n!.errorCode, n!.groupState], [0, 'Dead'], `v${v}: an unknown group is Dead`)
  }
  const described = broker.groups.describeGroups({ groupIds: ['member-commits'] }).groups[0]!
  t.same([described.state, described.members[0]!.assignment, described.offsets.map(o => [o.partition, o.committedOffset, o.lag])], ['stable', [{ topic: 'oc', partitions: [0, 1] }], [[0, 3, 1], [1, -1, -1]]], 'the native view: members, assignment, lag')

  const od = await c.call('OffsetDelete', 0, { groupId: 'member-commits', topics: [{ name: 'oc', partitions: [{ partitionIndex: 0 }] }] })
  t.equal(od.topics[0]!.partitions[0]!.errorCode, 86, 'OffsetDelete of a subscribed topic: GROUP_SUBSCRIBED_TO_TOPIC')
  const od2 = await c.call('OffsetDelete', 0, { groupId: 'simple', topics: [{ name: 'oc', partitions: [{ partitionIndex: 0 }] }] })
  t.equal(od2.topics[0]!.partitions[0]!.errorCode, 0, 'OffsetDelete')
  t.same(broker.groups.committed('simple').size, 0, 'the offset is gone')
  await produce(c, 'oc', 1, ['x'])
  await c.call('OffsetCommit', 2, { groupId: 'simple', generationIdOrMemberEpoch: -1, memberId: '', topics: [{ name: 'oc', partitions: [{ partitionIndex: 1, committedOffset: 1, committedMetadata: null }] }] })
  for (let v = 0; v <= 2; v++) {
    const r = await c.call('DeleteGroups', v, { groupsNames: v === 0 ? ['member-commits', 'simple', 'nope'] : ['nope'] })
    if (v === 0) t.same(r.results.map(x => x.errorCode), [KafkaErrorCode.NON_EMPTY_GROUP, 0, KafkaErrorCode.GROUP_ID_NOT_FOUND], 'DeleteGroups v0: non-empty, deleted, not found')
    else t.same(r.results.map(x => x.errorCode), [KafkaErrorCode.GROUP_ID_NOT_FOUND], `DeleteGroups v${v}`)
  }
  t.same(broker.groups.listGroups().groups.map(g => g.groupId), ['member-commits'], 'simple is gone')
})

t.test('a native and a Kafka-protocol member in one group are refused, both ways', async t => {
  const broker = await startBroker(t, { groupInitialRebalanceDelayMs: 0 })
  await broker.logs.createTopic('mixed', { partitions: 2 })
  const client = new Client({ brokers: [`127.0.0.1:${broker.ports.native}`] })
  t.teardown(() => client.close())
  const native = client.consumer({ groupId: 'mixed-native' })
  await native.subscribe({ topics: ['mixed'] })
  const iterator = native[Symbol.asyncIterator]()
  void iterator.next().catch(() => {})
  await waitFor(() => broker.groups.memberCount('mixed-native') === 1, 10_000, 'the native member')
  const c = await raw(t, broker)
  const refused = await join(c, 5, 'mixed-native') as unknown as Joined
  t.equal(refused.errorCode, KafkaErrorCode.INCONSISTENT_GROUP_PROTOCOL, 'a Kafka client joining a native group: INCONSISTENT_GROUP_PROTOCOL')
  await native.close()

  const joined = await joinFully(c, 5, 'mixed-kafka', { protocols: [{ name: 'range', metadata: sub(['mixed']) }] })
  t.equal(joined.errorCode, 0)
  const second = client.consumer({ groupId: 'mixed-kafka' })
  const failure = await second.subscribe({ topics: ['mixed'] }).then(() => second[Symbol.asyncIterator]().next()).then(() => null, (err: unknown) => err as { code?: string, message?: string })
  t.equal(failure?.code, 'INCONSISTENT_GROUP_PROTOCOL', 'a native consumer joining a Kafka-protocol group is refused')
  t.match(failure?.message, /Kafka consumer protocol/, 'saying why')
  await second.close().catch(() => {})
})

function records (p: Program): string[] {
  return p.stdout().split('\n').filter(l => l.startsWith('rec ')).map(l => l.split(' ').slice(3).join(' '))
}

t.test('kafkajs: a group of three processes, one killed; seek; spool group list, describe and reset; transactions refused', async t => {
  const broker = await startBroker(t, { groupInitialRebalanceDelayMs: 500 })
  const b = `127.0.0.1:${broker.ports.kafka}`
  await broker.logs.createTopic('trio', { partitions: 6 })
  const kafka = new Kafka({ clientId: 'trio-producer', brokers: [b], logLevel: logLevel.NOTHING })
  const producer = kafka.producer({ idempotent: true })
  await producer.connect()
  t.teardown(() => producer.disconnect())
  const send = async (from: number, n: number): Promise<void> => {
    await producer.send({ topic: 'trio', acks: -1, messages: Array.from({ length: n }, (_, i) => ({ key: `k${from + i}`, value: `m${from + i}` })) })
  }
  await send(0, 300)
  const members = [0, 1, 2].map(() => startProgram(t, process.execPath, [MEMBER, b, 'trio-g', 'trio', '3000'], { timeoutMs: 120_000 }))
  await waitFor(() => members.every(m => /joined trio-g \d/.test(m.stdout())) && broker.groups.classic.get('trio-g')?.state === 'Stable', 60_000, 'three members with partitions')
  t.equal(broker.groups.memberCount('trio-g'), 3, 'three members')
  await waitFor(() => new Set(members.flatMap(records)).size === 300, 60_000, 'the first 300 records')
  members[0]!.kill('SIGKILL')
  await members[0]!.exited
  await send(300, 300)
  await waitFor(() => new Set([...records(members[1]!), ...records(members[2]!)]).size >= 450 && broker.groups.memberCount('trio-g') === 2, 60_000, 'the survivors to take over')
  await waitFor(() => new Set(members.flatMap(records)).size === 600, 60_000, 'every record')
  const seen = members.flatMap(records)
  t.equal(new Set(seen).size, 600, 'every record was read by the group (the killed member\'s partitions were taken over)')
  const lines = members[1]!.stdout() + members[2]!.stdout()
  t.match(lines, /joined trio-g (\d+,){2}\d+/, 'a survivor took more partitions after the kill')

  // The group in Spool's own tools: listed, described with lag, reset once it is stopped.
  const env = { SPOOL_BROKER: `127.0.0.1:${broker.ports.native}` }
  const spool = (args: string[]): Promise<{ code: number | string, stdout: string, stderr: string }> => runProgram(t, process.execPath, [SPOOL_BIN, ...args], { env, timeoutMs: 30_000 })
  const list = await spool(['group', 'list'])
  t.match(list.stdout, /trio-g/, 'spool group list shows the kafkajs group')
  for (const m of members.slice(1)) m.kill('SIGTERM')
  await Promise.all(members.map(m => m.exited))
  await waitFor(() => broker.groups.memberCount('trio-g') === 0, 20_000, 'the members to leave')
  await send(600, 10)
  const described = await spool(['group', 'describe', 'trio-g'])
  t.equal(described.code, 0, described.stderr)
  t.match(described.stdout, /trio/, 'spool group describe shows its partitions')
  const lag = broker.groups.describeGroups({ groupIds: ['trio-g'] }).groups[0]!
  t.equal(lag.offsets.length, 6, 'committed on every partition')
  t.equal(lag.totalLag, 10, 'with the lag of the 10 records sent after the members stopped')
  const api = await httpGet(broker, '/api/groups/trio-g')
  t.equal(api.status, 200, 'the console\'s /api/groups/:id')
  t.equal((JSON.parse(api.text) as { group?: { totalLag?: number } }).group?.totalLag, 10, 'shows it with its lag')
  const reset = await spool(['group', 'reset-offsets', 'trio-g', '--topic', 'trio', '--to-earliest'])
  t.equal(reset.code, 0, reset.stderr)
  t.equal(broker.groups.describeGroups({ groupIds: ['trio-g'] }).groups[0]!.totalLag, 610, 'reset to the earliest by spool group reset-offsets')
  const admin = kafka.admin()
  await admin.connect()
  t.teardown(() => admin.disconnect())
  const fetched = await admin.fetchOffsets({ groupId: 'trio-g', topics: ['trio'] })
  t.same(fetched[0]!.partitions.map(p => p.offset), ['0', '0', '0', '0', '0', '0'], 'kafkajs sees the reset offsets')
  const groups = await admin.listGroups()
  t.same(groups.groups.filter(g => g.groupId === 'trio-g').map(g => g.protocolType), ['consumer'], 'kafkajs lists the group')

  // seek: a kafkajs consumer moves its position and reads from there.
  const seeker = kafka.consumer({ groupId: 'seeker', maxWaitTimeInMs: 100 })
  await seeker.connect()
  t.teardown(() => seeker.disconnect())
  await seeker.subscribe({ topics: ['trio'], fromBeginning: false })
  const got: string[] = []
  await seeker.run({
    eachMessage: async ({ message }) => { got.push(message.value!.toString()) },
  })
  for (let p = 0; p < 6; p++) seeker.seek({ topic: 'trio', partition: p, offset: '0' })
  await waitFor(() => got.length >= 610, 60_000, 'the seeking consumer to read from the start')
  t.equal(new Set(got).size, 610, 'seek to 0 on every partition: every record again')

  // Transactions: refused clearly, nothing written.
  const before = broker.topics.partitionStats('trio').reduce((n, p) => n + p.logEndOffset, 0)
  const txProducer = kafka.producer({ transactionalId: 'tx-1', maxInFlightRequests: 1, idempotent: true, retry: { retries: 1, initialRetryTime: 50 } })
  await txProducer.connect()
  t.teardown(() => txProducer.disconnect())
  const error = await txProducer.transaction().then(() => null, (err: unknown) => err as Error)
  t.ok(error !== null, 'a transaction cannot start')
  t.match(error?.message, /Transactional Id authorization failed/, `kafkajs says why: ${error?.message}`)
  t.equal(broker.topics.partitionStats('trio').reduce((n, p) => n + p.logEndOffset, 0), before, 'nothing was written')
})

t.test('kcat -G: two processes share the partitions and read every record once', async t => {
  const broker = await startBroker(t, { groupInitialRebalanceDelayMs: 1000 })
  const b = `127.0.0.1:${broker.ports.kafka}`
  await broker.logs.createTopic('kg', { partitions: 4 })
  const input = Array.from({ length: 2000 }, (_, i) => `k${i}:v${i}`).join('\n') + '\n'
  const produced = await kcat(t, b, ['-P', '-t', 'kg', '-K:', '-X', 'partitioner=murmur2_random'], { input })
  t.equal(produced.code, 0, produced.stderr)
  const group = (): Program => startProgram(t, 'kcat', ['-b', b, '-G', 'kg-group', '-o', 'beginning', '-q', '-u', '-f', '%p %s\n', '-X', 'session.timeout.ms=6000', '-X', 'heartbeat.interval.ms=500', 'kg'], { timeoutMs: 120_000 })
  const one = group()
  const two = group()
  const lines = (p: Program): string[] => p.stdout().split('\n').filter(l => l !== '')
  await waitFor(() => lines(one).length + lines(two).length >= 2000, 60_000, 'both to read everything')
  const all = [...lines(one), ...lines(two)].map(l => l.split(' ')[1])
  t.equal(new Set(all).size, 2000, 'every record read')
  t.equal(all.length, 2000, 'each once')
  const partitionsOf = (p: Program): Set<string> => new Set(lines(p).map(l => l.split(' ')[0]!))
  t.ok(partitionsOf(one).size > 0 && partitionsOf(two).size > 0, 'both got partitions')
  t.same([...partitionsOf(one)].filter(p => partitionsOf(two).has(p)), [], 'no partition read by both')
  t.equal(broker.groups.classic.get('kg-group')?.protocolName, 'range', 'librdkafka\'s first assignor won the vote')
  one.kill('SIGTERM')
  two.kill('SIGTERM')
  await Promise.all([one.exited, two.exited])
})
