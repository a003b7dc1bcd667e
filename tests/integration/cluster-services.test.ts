// Consumer groups and MQTT in a cluster of three embedded brokers (tests/helpers/cluster.ts,
// real etcd and sockets; mqtt.js clients):
// - a group's coordinator is the leader of its __consumer_offsets partition: every broker's
//   FindCoordinator names it, other brokers answer NOT_COORDINATOR; an SDK group consumes,
//   commits, and survives its coordinator's broker stopping (the new leader of the offsets
//   partition loads the group; committed offsets are kept, nothing is consumed twice);
// - MQTT: a publish on any broker reaches subscribers on every broker (forwarded to the log
//   partition's leader, tailed from each broker's local replica); a QoS 1 publish is
//   acknowledged once the in-sync replicas hold it; retained messages live in the replicated
//   internal topic, so a broker restarted later serves what another one stored.
import t from 'tap'
import { startCluster } from '../helpers/cluster.js'
import { collect } from '../helpers/conformance.js'
import { RawClient } from '../helpers/raw-client.js'
import { collect as collectMqtt, connectClient } from '../helpers/mqtt.js'

t.test('groups: coordinated by the leader of their offsets partition, and they move with it', async t => {
  const c = await startCluster(t, { brokers: 3 })
  const client = c.client(t)
  await client.admin().createTopics([{ topic: 'work', partitions: 4, replicationFactor: 3 }])
  await c.waitFor(() => [0, 1, 2, 3].every(p => (c.partition('work', p)?.isr.length ?? 0) === 3), 'work fully replicated')
  const group = 'workers'
  const coordinator = c.broker(1).groups.coordinatorPartition(group)
  await c.waitFor(() => (c.partition('__consumer_offsets', coordinator)?.isr.length ?? 0) === 3, 'the offsets partition replicated')
  const leader = c.leaderOf('__consumer_offsets', coordinator)
  for (const b of c.brokers.values()) {
    const raw = await RawClient.connect(b.ports.native!)
    const found = await raw.call('FindCoordinator', { key: group })
    t.same([found.errorCode, found.nodeId, found.port], [0, leader, c.broker(leader).ports.native], `broker ${b.config.nodeId} names the leader of offsets partition ${coordinator}`)
    if (b.config.nodeId !== leader) {
      const hb = await raw.call('GroupHeartbeat', { groupId: group, memberId: 'm', memberEpoch: 0, rebalanceTimeoutMs: 1000, sessionTimeoutMs: 5000, subscribedTopics: ['work'], ownedPartitions: [] })
      t.equal(hb.errorCode, 16, 'another broker: NOT_COORDINATOR')
    }
    raw.close()
  }

  const producer = client.producer({ acks: 'all', lingerMs: 1 })
  const send = async (from: number, n: number): Promise<void> => {
    await Promise.all(Array.from({ length: n }, (_, i) => producer.send({ topic: 'work', messages: [{ key: `k${from + i}`, value: `v${from + i}` }] })))
  }
  await send(0, 200)
  const seen = new Map<string, number>()
  const consumers = [0, 1].map(() => client.consumer({ groupId: group, fromBeginning: true, autoCommitIntervalMs: 200, sessionTimeoutMs: 10_000, maxWaitMs: 100 }))
  await Promise.all(consumers.map(consumer => consumer.subscribe({ topics: ['work'] })))
  const consume = async (n: number): Promise<void> => {
    const deadline = Date.now() + 30_000
    while ([...seen.values()].reduce((a, b) => a + b, 0) < n && Date.now() < deadline) {
      const batches = await Promise.all(consumers.map(cons => collect(cons, 1000, 300)))
      for (const m of batches.flat()) {
        const value = Buffer.from(m.value!).toString()
        seen.set(value, (seen.get(value) ?? 0) + 1)
      }
    }
  }
  await consume(200)
  t.equal(seen.size, 200, 'the group consumed every record')
  await c.waitFor(() => {
    const g = c.broker(leader).groups.describeGroups({ groupIds: [group] }).groups[0]!
    return g.errorCode === 0 && g.offsets.length === 4 && g.offsets.every(o => o.committedOffset === o.logEndOffset)
  }, 'the coordinator holds the committed offsets of every partition')

  await c.stop(leader)
  const newLeader = await (async () => {
    await c.waitFor(() => c.leaderOf('__consumer_offsets', coordinator) > 0 && c.leaderOf('__consumer_offsets', coordinator) !== leader, 'a new leader of the offsets partition')
    return c.leaderOf('__consumer_offsets', coordinator)
  })()
  await send(200, 100)
  await consume(300)
  t.equal(seen.size, 300, 'the group goes on after its coordinator\'s broker stopped')
  t.same([...seen.values()].filter(n => n > 1), [], 'no record was consumed twice: the committed offsets moved with the group')
  const g = c.broker(newLeader).groups.describeGroups({ groupIds: [group] }).groups[0]!
  t.equal(g.errorCode, 0, `broker ${newLeader} coordinates the group now`)
  t.equal(g.members.length, 2, 'with both members')
  for (const consumer of consumers) await consumer.close()
  await producer.close()
})

t.test('MQTT: publishes on any broker reach subscribers on every broker; retained messages are replicated', async t => {
  const c = await startCluster(t, { brokers: 3, config: { mqttPort: 0 } })
  const port = (id: number): number => c.broker(id).ports.mqtt!
  const subs = await Promise.all([1, 2, 3].map(id => connectClient(t, port(id), { protocolVersion: 5, clientId: `sub-${id}` })))
  for (const s of subs) await s.subscribeAsync('plant/#', { qos: 1 })
  const got = subs.map(s => collectMqtt(s, 3, 20_000))
  for (const id of [1, 2, 3]) {
    const pub = await connectClient(t, port(id), { protocolVersion: 5, clientId: `pub-${id}` })
    await pub.publishAsync(`plant/line${id}`, `from broker ${id}`, { qos: 1 })
    await pub.endAsync()
  }
  const received = await Promise.all(got)
  for (let i = 0; i < 3; i++) {
    t.same(received[i]!.map(m => m.payload).sort(), ['from broker 1', 'from broker 2', 'from broker 3'], `a subscriber on broker ${i + 1} got the publishes made on every broker`)
  }
  for (const s of subs) await s.endAsync()

  // Retained: stored through broker 2 in the replicated retained topic.
  const pub = await connectClient(t, port(2), { protocolVersion: 4, clientId: 'retainer' })
  await pub.publishAsync('plant/status', 'running', { qos: 1, retain: true })
  await pub.endAsync()
  await c.waitFor(() => [...c.brokers.values()].every(b => b.logs.partition('__mqtt_retained', 0).highWatermark >= 1), 'the retained record on every replica')
  for (const id of [1, 3]) {
    await c.stop(id)
    await c.start(id)
    const late = await connectClient(t, port(id), { protocolVersion: 4, clientId: `late-${id}` })
    const retained = collectMqtt(late, 1, 10_000)
    await late.subscribeAsync('plant/status', { qos: 1 })
    t.same((await retained).map(m => m.payload), ['running'], `broker ${id}, restarted, serves the retained message stored through broker 2`)
    await late.endAsync()
  }
})
