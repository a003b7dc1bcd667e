// The controller's pure decisions (broker/cluster/placement.ts, controller-logic.ts) and the
// cluster settings: Kafka's placement vectors, leader election on broker loss and return,
// ISR change checks, reassignment and decommission, and a randomized run of broker deaths and
// returns checked against the invariants every state must keep.
import t from 'tap'
import fc from 'fast-check'
import { placeReplicas, rackAlternatedBrokers, type PlacementBroker } from '../../broker/cluster/placement.js'
import {
  applyIsrChange, chooseLeader, electPreferredLeader, onBrokerLost, onBrokerReturned, planDecommission, planNewTopic,
  reconcilePartition, startReassignment, uncleanAllowed, type ElectionContext,
} from '../../broker/cluster/controller-logic.js'
import { NO_LEADER, parsePartitionState, type PartitionState } from '../../broker/cluster/records.js'
import { resolveClusterSettings } from '../../broker/cluster/settings.js'
import { ClusterKeys } from '../../broker/cluster/keys.js'
import { validateTopicConfig } from '../../broker/cluster/request-planner.js'
import { parseControllerRequest } from '../../broker/cluster/requests.js'
import { RecordFormatError, parseBrokerRegistration, parseTopicRecord } from '../../broker/cluster/records.js'
import {
  BrokerNotAvailableError, FencedLeaderEpochError, IneligibleReplicaError, InvalidConfigError, InvalidReplicationFactorError,
  InvalidRequestError, InvalidUpdateVersionError, NotLeaderOrFollowerError, UnknownLeaderEpochError,
} from '../../protocol/errors.js'

const noRack = (ids: number[]): PlacementBroker[] => ids.map(nodeId => ({ nodeId, rack: null }))
const racked = (m: Record<number, string>): PlacementBroker[] => Object.entries(m).map(([id, rack]) => ({ nodeId: Number(id), rack }))

function partition (over: Partial<PartitionState> = {}): PartitionState {
  return {
    topic: 't', partition: 0, topicId: 'id', replicas: [1, 2, 3], isr: [1, 2, 3], leader: 1, leaderEpoch: 5, partitionEpoch: 9,
    addingReplicas: [], removingReplicas: [], controllerEpoch: 1, ...over,
  }
}

const ctx = (live: number[], unclean = false): ElectionContext => ({ live: new Set(live), uncleanLeaderElection: unclean })

t.test('placement without racks matches Kafka\'s round robin (AdminUtilsTest vector)', async t => {
  const got = placeReplicas({ partitions: 10, replicationFactor: 3, brokers: noRack([0, 1, 2, 3, 4]), startIndex: 0, replicaShift: 0 })
  t.same(got, [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 0], [4, 0, 1], [0, 2, 3], [1, 3, 4], [2, 4, 0], [3, 0, 1], [4, 1, 2]])
})

t.test('rack-aware placement matches Kafka\'s vector and spreads racks, leaders and replicas', async t => {
  const rackMap = { 0: 'rack1', 1: 'rack3', 2: 'rack3', 3: 'rack2', 4: 'rack2', 5: 'rack1' }
  t.same(rackAlternatedBrokers(racked(rackMap)).map(b => b.nodeId), [0, 3, 1, 5, 4, 2])
  const { 5: _, ...without5 } = rackMap
  t.same(rackAlternatedBrokers(racked(without5)).map(b => b.nodeId), [0, 3, 1, 4, 2])
  t.same(placeReplicas({ partitions: 7, replicationFactor: 3, brokers: racked(rackMap), startIndex: 0, replicaShift: 0 }),
    [[0, 3, 1], [3, 1, 5], [1, 5, 4], [5, 4, 2], [4, 2, 0], [2, 0, 3], [0, 4, 2]])

  const brokers = racked({ 0: 'rack1', 1: 'rack2', 2: 'rack2', 3: 'rack3', 4: 'rack3', 5: 'rack1' })
  const rackOf = new Map(brokers.map(b => [b.nodeId, b.rack]))
  for (let seed = 0; seed < 20; seed++) {
    let x = seed + 1
    const random = (): number => { x = (x * 48271) % 2147483647; return x / 2147483647 }
    const got = placeReplicas({ partitions: 6, replicationFactor: 3, brokers }, random)
    const leaders = new Map<number, number>()
    const replicas = new Map<number, number>()
    for (const list of got) {
      t.equal(new Set(list.map(r => rackOf.get(r))).size, 3, 'three racks per partition')
      leaders.set(list[0]!, (leaders.get(list[0]!) ?? 0) + 1)
      for (const r of list) replicas.set(r, (replicas.get(r) ?? 0) + 1)
    }
    t.same([...leaders.values()], [1, 1, 1, 1, 1, 1], 'one leader per broker')
    t.same([...replicas.values()], [3, 3, 3, 3, 3, 3], 'three replicas per broker')
  }
  const more = placeReplicas({ partitions: 6, replicationFactor: 5, brokers: racked({ 0: 'r1', 1: 'r2', 2: 'r2', 3: 'r3', 4: 'r3', 5: 'r2' }) })
  for (const list of more) t.equal(new Set(list).size, 5, 'more replicas than racks: still distinct brokers')
})

t.test('placement refuses a replication factor above the live brokers, with a named error', async t => {
  t.throws(() => placeReplicas({ partitions: 1, replicationFactor: 4, brokers: noRack([1, 2, 3]) }), InvalidReplicationFactorError)
  t.throws(() => placeReplicas({ partitions: 1, replicationFactor: 0, brokers: noRack([1]) }), InvalidReplicationFactorError)
  t.throws(() => planNewTopic({ name: 'x', topicId: 'i', partitions: 2, replicationFactor: 2, config: {}, createdAtMs: 0 }, noRack([1]), 1),
    { name: 'InvalidReplicationFactorError', code: 'INVALID_REPLICATION_FACTOR', errorCode: 38 })
})

t.test('a new topic: ISR = replicas, leader = first replica, epochs 0, explicit assignments checked', async t => {
  const { topic, partitions } = planNewTopic({ name: 'orders', topicId: 'tid', partitions: 3, replicationFactor: 2, config: { retentionMs: 5 }, createdAtMs: 7 },
    noRack([1, 2, 3]), 4, () => 0)
  t.same(topic, { name: 'orders', topicId: 'tid', partitionCount: 3, replicationFactor: 2, config: { retentionMs: 5 }, createdAtMs: 7, controllerEpoch: 4 })
  for (const p of partitions) {
    t.same(p.isr, p.replicas)
    t.equal(p.leader, p.replicas[0])
    t.equal(p.leaderEpoch, 0)
    t.equal(p.controllerEpoch, 4)
    t.same(parsePartitionState(JSON.parse(JSON.stringify(p))), p, 'round-trips through the record check')
  }
  const manual = planNewTopic({ name: 'm', topicId: 'i', partitions: 1, replicationFactor: 2, config: {}, createdAtMs: 0, assignment: [[3, 1]] }, noRack([1, 2, 3]), 1)
  t.same(manual.partitions[0]!.replicas, [3, 1])
  t.throws(() => planNewTopic({ name: 'm', topicId: 'i', partitions: 1, replicationFactor: 2, config: {}, createdAtMs: 0, assignment: [[3, 9]] }, noRack([1, 2, 3]), 1), BrokerNotAvailableError)
})

t.test('broker loss: the first live ISR member in replica order leads, epoch bumped, dead replica leaves the ISR', async t => {
  const p = partition({ replicas: [1, 2, 3], isr: [3, 1, 2], leader: 1 })
  const [change] = onBrokerLost([p], 1, ctx([2, 3]), 2)
  t.ok(change)
  t.equal(change!.after.leader, 2, 'replica order, not ISR order')
  t.same(change!.after.isr, [3, 2])
  t.equal(change!.after.leaderEpoch, 6)
  t.equal(change!.after.partitionEpoch, 10)
  t.equal(change!.after.controllerEpoch, 2)
  t.equal(change!.unclean, false)

  const follower = onBrokerLost([partition()], 3, ctx([1, 2]), 2)[0]!
  t.equal(follower.after.leader, 1, 'a follower\'s death leaves the leader')
  t.same(follower.after.isr, [1, 2])
  t.equal(follower.after.leaderEpoch, 5, 'no leader change, no leader epoch bump')
  t.same(onBrokerLost([partition({ isr: [1, 2] })], 3, ctx([1, 2]), 2), [], 'not in the ISR and not leader: untouched')
})

t.test('no live ISR member: offline (leader -1, ISR kept) unless unclean election is on', async t => {
  const p = partition({ replicas: [1, 2, 3], isr: [1], leader: 1 })
  const off = reconcilePartition(p, ctx([2, 3]), 2)!
  t.equal(off.after.leader, NO_LEADER)
  t.same(off.after.isr, [1], 'the last in-sync replica stays in the ISR')
  t.equal(off.after.leaderEpoch, 6)
  t.equal(reconcilePartition(off.after, ctx([2, 3]), 2), null, 'stays offline, no further change')

  const unclean = reconcilePartition(p, ctx([3, 2], true), 2)!
  t.equal(unclean.after.leader, 2, 'first live replica in replica order')
  t.same(unclean.after.isr, [2])
  t.equal(unclean.unclean, true)

  t.equal(uncleanAllowed({ name: 't', topicId: 'i', partitionCount: 1, replicationFactor: 1, config: { uncleanLeaderElection: true }, createdAtMs: 0, controllerEpoch: 0 }, false), true, 'topic config overrides')
  t.equal(uncleanAllowed(undefined, false), false)
  t.same(chooseLeader([1, 2], [1], ctx([2])), null)
})

t.test('a broker coming back: offline partitions it is in-sync for elect it; nothing else moves', async t => {
  const offline = partition({ replicas: [1, 2], isr: [1], leader: NO_LEADER, leaderEpoch: 6 })
  const led = partition({ partition: 1, replicas: [1, 2], isr: [2], leader: 2 })
  const notInIsr = partition({ partition: 2, replicas: [3, 2], isr: [3], leader: NO_LEADER })
  const changes = onBrokerReturned([offline, led, notInIsr], 1, ctx([1, 2]), 3)
  t.equal(changes.length, 1)
  t.equal(changes[0]!.after.partition, 0)
  t.equal(changes[0]!.after.leader, 1)
  t.equal(changes[0]!.after.leaderEpoch, 7)
  t.same(onBrokerReturned([notInIsr], 2, ctx([2]), 3), [], 'a returning out-of-sync replica is not elected')
  t.equal(onBrokerReturned([notInIsr], 2, ctx([2], true), 3)[0]!.after.leader, 2, '... unless unclean election is on')
})

t.test('ISR change requests: stale and foreign requests are rejected with typed errors', async t => {
  const p = partition({ isr: [1, 2], leader: 1 })
  const req = { topic: 't', partition: 0, leader: 1, leaderEpoch: 5, partitionEpoch: 9 }
  const live = ctx([1, 2, 3])
  t.throws(() => applyIsrChange(p, { ...req, leaderEpoch: 4, isr: [1] }, live, 1), FencedLeaderEpochError)
  t.throws(() => applyIsrChange(p, { ...req, leaderEpoch: 6, isr: [1] }, live, 1), UnknownLeaderEpochError)
  t.throws(() => applyIsrChange(p, { ...req, leader: 2, isr: [2] }, live, 1), NotLeaderOrFollowerError)
  t.throws(() => applyIsrChange(p, { ...req, partitionEpoch: 8, isr: [1] }, live, 1), InvalidUpdateVersionError)
  t.throws(() => applyIsrChange(p, { ...req, isr: [2] }, live, 1), InvalidRequestError, 'must keep the leader')
  t.throws(() => applyIsrChange(p, { ...req, isr: [1, 9] }, live, 1), IneligibleReplicaError, 'not a replica')
  t.throws(() => applyIsrChange(p, { ...req, isr: [1, 2, 3] }, ctx([1, 2]), 1), IneligibleReplicaError, 'dead newcomer')
  const shrink = applyIsrChange(p, { ...req, isr: [1] }, live, 1)!
  t.same(shrink.after.isr, [1])
  t.equal(shrink.after.partitionEpoch, 10)
  t.equal(shrink.after.leaderEpoch, 5, 'ISR changes keep the leader epoch')
  const expand = applyIsrChange(p, { ...req, isr: [3, 1, 2] }, live, 1)!
  t.same(expand.after.isr, [1, 2, 3], 'kept in replica order')
  t.equal(applyIsrChange(p, { ...req, isr: [2, 1] }, live, 1), null, 'same ISR: no change')
})

t.test('reassignment: add, wait for the ISR, switch, remove; leader moves if removed', async t => {
  const p = partition({ replicas: [1, 2, 3], isr: [1, 2, 3], leader: 1 })
  const started = startReassignment(p, [4, 2, 3], ctx([1, 2, 3, 4]), 1)!
  t.same(started.after.replicas, [4, 2, 3, 1])
  t.same(started.after.addingReplicas, [4])
  t.same(started.after.removingReplicas, [1])
  t.equal(started.after.leader, 1, 'leader unchanged while the new replica catches up')
  t.throws(() => startReassignment(p, [9, 2, 3], ctx([1, 2, 3]), 1), BrokerNotAvailableError)

  const s = started.after
  const joined = applyIsrChange(s, { topic: 't', partition: 0, leader: 1, leaderEpoch: s.leaderEpoch, partitionEpoch: s.partitionEpoch, isr: [1, 2, 3, 4] }, ctx([1, 2, 3, 4]), 1)!
  t.same(joined.after.replicas, [4, 2, 3], 'switched to the target')
  t.same(joined.after.isr, [4, 2, 3], 'removed replica left the ISR (kept in replica order)')
  t.same(joined.after.addingReplicas, [])
  t.same(joined.after.removingReplicas, [])
  t.equal(joined.after.leader, 4, 'leader was removed: first target replica in the ISR leads')
  t.equal(joined.after.leaderEpoch, s.leaderEpoch + 1)

  const shrinkOnly = startReassignment(partition(), [1, 2], ctx([1, 2, 3]), 1)!
  t.same(shrinkOnly.after.replicas, [1, 2], 'only removing: completes at once')
  t.equal(shrinkOnly.after.leaderEpoch, 6, 'a removed replica bumps the leader epoch (fences it)')
  t.equal(startReassignment(partition(), [1, 2, 3], ctx([1, 2, 3]), 1), null, 'same replicas: nothing to do')
})

t.test('decommission plans a replacement per partition, same rack first, then least loaded', async t => {
  const parts = [
    partition({ partition: 0, replicas: [1, 2], isr: [1, 2] }),
    partition({ partition: 1, replicas: [2, 3], isr: [2, 3], leader: 2 }),
    partition({ partition: 2, replicas: [3, 1], isr: [3, 1], leader: 3 }),
  ]
  const brokers = racked({ 1: 'a', 2: 'b', 3: 'b', 4: 'a', 5: 'c' })
  const plan = planDecommission(parts, 1, 'a', brokers)
  t.same(plan, [{ topic: 't', partition: 0, target: [4, 2] }, { topic: 't', partition: 2, target: [3, 4] }])
  t.throws(() => planDecommission(parts, 1, null, noRack([1, 2, 3]).slice(0, 2)), InvalidReplicationFactorError)
})

t.test('preferred leader election moves leadership back only to a live in-sync first replica', async t => {
  const p = partition({ leader: 2 })
  const r = electPreferredLeader(p, ctx([1, 2, 3]), 1)
  t.equal(r.outcome, 'elected')
  t.equal(r.change!.after.leader, 1)
  t.equal(r.change!.after.leaderEpoch, 6)
  t.equal(electPreferredLeader(partition(), ctx([1, 2, 3]), 1).outcome, 'alreadyPreferred')
  t.equal(electPreferredLeader(partition({ leader: 2, isr: [2, 3] }), ctx([1, 2, 3]), 1).outcome, 'preferredNotAvailable')
  t.equal(electPreferredLeader(p, ctx([2, 3]), 1).outcome, 'preferredNotAvailable')
})

t.test('randomized deaths and returns keep every invariant', async t => {
  const op = fc.record({ node: fc.integer({ min: 1, max: 4 }), alive: fc.boolean() })
  fc.assert(fc.property(fc.array(op, { maxLength: 40 }), fc.boolean(), (ops, unclean) => {
    const live = new Set([1, 2, 3, 4])
    let parts = placeReplicas({ partitions: 6, replicationFactor: 3, brokers: noRack([1, 2, 3, 4]), startIndex: 0, replicaShift: 1 })
      .map((replicas, i) => partition({ partition: i, replicas, isr: [...replicas], leader: replicas[0]!, leaderEpoch: 0, partitionEpoch: 0 }))
    for (const { node, alive } of ops) {
      if (alive) live.add(node); else live.delete(node)
      const context = { live, uncleanLeaderElection: unclean }
      const changes = alive ? onBrokerReturned(parts, node, context, 1) : onBrokerLost(parts, node, context, 1)
      const byId = new Map(changes.map(c => [c.after.partition, c]))
      parts = parts.map(p => {
        const c = byId.get(p.partition)
        if (c === undefined) return p
        if (c.after.leaderEpoch < p.leaderEpoch || c.after.partitionEpoch !== p.partitionEpoch + 1) throw new Error('epochs must grow')
        if (c.after.leader !== p.leader && c.after.leaderEpoch === p.leaderEpoch) throw new Error('leader change without epoch bump')
        if (!unclean && c.after.leader !== NO_LEADER && !p.isr.includes(c.after.leader)) throw new Error('clean election left the ISR')
        return c.after
      })
      for (const p of parts) {
        parsePartitionState(p)
        if (p.leader !== NO_LEADER && !live.has(p.leader)) throw new Error(`dead leader ${p.leader} after ${alive ? 'return' : 'loss'} of ${node}`)
        if (!alive && p.isr.includes(node) && p.isr.some(r => live.has(r))) throw new Error('dead broker kept in a live ISR')
        if (p.leader === NO_LEADER && p.isr.some(r => live.has(r))) throw new Error('offline although an ISR member lives')
      }
    }
  }), { numRuns: 300 })
  t.pass('300 random runs')
})

t.test('cluster settings: defaults, prefix and validation', async t => {
  const s = resolveClusterSettings({ nodeId: 3, clusterId: 'prod', advertisedListeners: { native: { host: 'b3', port: 7420 } } })
  t.equal(s.keyPrefix, '/spool/prod')
  t.equal(s.leaseTtlMs, 3000)
  t.equal(s.uncleanLeaderElection, false)
  t.same(s.advertisedListeners, { native: { host: 'b3', port: 7420 } })
  t.same(resolveClusterSettings({ nodeId: 1, advertisedListeners: { kafka: 'h:9092' } as never }).advertisedListeners, { kafka: { host: 'h', port: 9092 } })
  t.throws(() => resolveClusterSettings({ nodeId: 1, leaseTtlMs: 2500 }), InvalidConfigError)
  t.throws(() => resolveClusterSettings({ nodeId: 1, leaseTtlMs: 1000 }), InvalidConfigError)
  t.throws(() => resolveClusterSettings({ nodeId: -1 }), InvalidConfigError)
  t.throws(() => resolveClusterSettings({ nodeId: 1, etcdEndpoints: [] }), InvalidConfigError)
  t.throws(() => resolveClusterSettings({ nodeId: 1, keyPrefix: 'nope' }), InvalidConfigError)
  t.throws(() => resolveClusterSettings({ nodeId: 1, advertisedListeners: { gopher: 'h:1' } as never }), InvalidConfigError)
  t.throws(() => resolveClusterSettings({ nodeId: 1, etcdUsername: 'u' }), InvalidConfigError)
})

t.test('key layout parses back', async t => {
  const k = new ClusterKeys('/spool/c')
  t.same(k.parse(k.broker(7)), { kind: 'broker', nodeId: 7 })
  t.same(k.parse(k.partition('a.b-c', 12)), { kind: 'partition', topic: 'a.b-c', partition: 12 })
  t.same(k.parse(k.topic('x')), { kind: 'topic', topic: 'x' })
  t.same(k.parse(k.document('users', 'ali/ce')), { kind: 'document', documentKind: 'users', key: 'ali/ce' })
  t.same(k.parse(`${k.candidates}694d7`), { kind: 'candidate', leaseId: '694d7' })
  t.same(k.parse(k.producerIds), { kind: 'producerIds' })
  t.equal(k.parse('/spool/other/brokers/1'), null)
  t.equal(k.parse('/spool/c/brokers/01'), null)
  t.equal(k.parse('/spool/c/unknown/x'), null)
})

t.test('records and topic configs are checked before anyone acts on them', async t => {
  const p = partition()
  t.throws(() => parsePartitionState({ ...p, leader: 4 }), RecordFormatError, 'leader outside the ISR')
  t.throws(() => parsePartitionState({ ...p, isr: [1, 9] }), RecordFormatError, 'ISR member that is not a replica')
  t.throws(() => parsePartitionState({ ...p, replicas: [1, 1] }), RecordFormatError, 'duplicate replica')
  t.throws(() => parsePartitionState({ ...p, leaderEpoch: -1 }), RecordFormatError)
  t.equal(parsePartitionState({ ...p, leader: NO_LEADER }).leader, NO_LEADER, 'offline is a valid state')
  t.throws(() => parseTopicRecord({ name: 't', topicId: 'i', partitionCount: 1, replicationFactor: 1, config: { a: [1] }, createdAtMs: 0, controllerEpoch: 0 }), RecordFormatError)
  t.same(parseBrokerRegistration({ nodeId: 1, incarnationId: 'x', rack: null, listeners: { native: { host: 'h', port: 1 }, gopher: { host: 'h', port: 2 } }, registeredAtMs: 0, leaseId: '7' }).listeners,
    { native: { host: 'h', port: 1 } }, 'unknown listener protocols are dropped')
  t.throws(() => parseControllerRequest({ id: 'a', kind: 'formatDisk', from: 1, createdAtMs: 0, body: {} }), RecordFormatError)
  t.throws(() => parseControllerRequest({ id: 'a', kind: 'deleteTopic', from: 1, createdAtMs: 0, body: {}, result: { ok: false } }), RecordFormatError)

  t.same(validateTopicConfig({ retentionMs: 1000, cleanupPolicy: 'compact', uncleanLeaderElection: true, minInsyncReplicas: 2, segmentBytes: null }),
    { retentionMs: 1000, cleanupPolicy: 'compact', uncleanLeaderElection: true, minInsyncReplicas: 2, segmentBytes: null })
  t.throws(() => validateTopicConfig({ retentionMs: 'soon' }), InvalidConfigError)
  t.throws(() => validateTopicConfig({ bogus: 1 }), InvalidConfigError)
  t.throws(() => validateTopicConfig({ uncleanLeaderElection: 'yes' }), InvalidConfigError)
  t.throws(() => validateTopicConfig({ minInsyncReplicas: 0 }), InvalidConfigError)
  t.throws(() => validateTopicConfig([]), InvalidConfigError)
})
