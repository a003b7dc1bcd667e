// Consumer groups and MQTT in a cluster of three embedded brokers (tests/helpers/cluster.ts,
// real etcd and sockets; mqtt.js clients):
// - a group's coordinator is the leader of its __consumer_offsets partition: every broker's
//   FindCoordinator names it, other brokers answer NOT_COORDINATOR; an SDK group consumes,
//   commits, and survives its coordinator's broker stopping (the new leader of the offsets
//   partition loads the group; committed offsets are kept, nothing is consumed twice);
// - MQTT: a publish on any broker reaches subscribers on every broker (forwarded to the log
//   partition's leader, tailed from each broker's local replica); a QoS 1 publish is
//   acknowledged once the in-sync replicas hold it; retained messages live in the replicated
//   internal topic, so a broker restarted later serves what another one stored;
// - Kafka clients: kcat's metadata lists the three brokers with each partition's leader,
//   replicas and ISR; kcat produces with acks=all through one broker's address and reads
//   everything back; a kafkajs consumer group, bootstrapped from another broker, finds its
//   coordinator (the offsets partition's leader) and consumes every record once; kafkajs's
//   DeleteRecords moves every replica's log start (a new leader serves nothing below it);
//   over the Kafka TLS listener Metadata names every broker's TLS port and kcat produces and
//   consumes over TLS; kcat with client.rack, the SDK and kafkajs with rackId are sent by the leader
//   to the follower in their rack and read everything from it (KIP-392).
import t from 'tap'
import { startCluster } from '../helpers/cluster.js'
import { collect } from '../helpers/conformance.js'
import { RawClient } from '../helpers/raw-client.js'
import { collect as collectMqtt, connectClient } from '../helpers/mqtt.js'
import { kcat } from '../helpers/kafka-programs.js'
import { makePki } from '../helpers/security.js'
import { waitFor } from '../helpers/wait.js'

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

t.test('Kafka clients against the cluster: kcat metadata, acks=all produce and consume, a kafkajs group', async t => {
  const c = await startCluster(t, { brokers: 3, config: { kafkaPort: 0, groupInitialRebalanceDelayMs: 0 } })
  const client = c.client(t)
  await client.admin().createTopics([{ topic: 'kafka-rf3', partitions: 3, replicationFactor: 3 }])
  await c.waitFor(() => [0, 1, 2].every(p => (c.partition('kafka-rf3', p)?.isr.length ?? 0) === 3), 'kafka-rf3 fully replicated')
  const address = (id: number): string => `127.0.0.1:${c.broker(id).ports.kafka!}`

  const meta = await kcat(t, address(1), ['-L', '-J', '-t', 'kafka-rf3'])
  t.equal(meta.code, 0, `kcat -L: ${meta.stderr}`)
  const parsed = JSON.parse(meta.stdout) as { brokers: Array<{ id: number, name: string }>, topics: Array<{ topic: string, partitions: Array<{ partition: number, leader: number, replicas: Array<{ id: number }>, isrs: Array<{ id: number }> }> }> }
  t.same(parsed.brokers.map(b => b.id).sort(), [1, 2, 3], 'kcat sees the three brokers')
  t.same(parsed.brokers.map(b => b.name).sort(), [1, 2, 3].map(address).sort(), 'each at its own Kafka address')
  for (const p of parsed.topics[0]!.partitions) {
    t.equal(p.leader, c.leaderOf('kafka-rf3', p.partition), `partition ${p.partition}: the cluster's leader`)
    t.same(p.replicas.map(r => r.id).sort(), [1, 2, 3], `partition ${p.partition}: three replicas`)
    t.same(p.isrs.map(r => r.id).sort(), [1, 2, 3], `partition ${p.partition}: three in sync`)
  }

  const lines = Array.from({ length: 60 }, (_, i) => `k${i}|v${i}`)
  const wrote = await kcat(t, address(2), ['-P', '-t', 'kafka-rf3', '-K', '|', '-X', 'acks=all', '-X', 'partitioner=murmur2_random'], { input: lines.join('\n') + '\n' })
  t.equal(wrote.code, 0, `kcat -P with acks=all through broker 2: ${wrote.stderr}`)
  const read = await kcat(t, address(3), ['-C', '-t', 'kafka-rf3', '-o', 'beginning', '-c', '60', '-e', '-q', '-f', '%k|%s\n'])
  t.equal(read.code, 0, `kcat -C through broker 3: ${read.stderr}`)
  t.same(read.stdout.trim().split('\n').sort(), [...lines].sort(), 'every record read back, from the partitions\' leaders')
  // Every replica holds them: acks=all answered once the in-sync replicas had the batches.
  await c.waitFor(() => [...c.brokers.values()].every(b => [0, 1, 2].reduce((n, p) => n + b.logs.partition('kafka-rf3', p).highWatermark, 0) === 60), 'the 60 records on every replica')

  const { Kafka, logLevel } = await import('kafkajs')
  const kafka = new Kafka({ clientId: 'cluster-kafkajs', brokers: [address(3)], logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId: 'kafkajs-cluster', sessionTimeout: 10_000 })
  await consumer.connect()
  t.teardown(() => consumer.disconnect())
  await consumer.subscribe({ topic: 'kafka-rf3', fromBeginning: true })
  const seen: string[] = []
  await consumer.run({ eachMessage: async ({ message }) => { seen.push(`${message.key!.toString()}|${message.value!.toString()}`) } })
  await waitFor(() => seen.length >= 60, 60_000, 'the kafkajs group to read the 60 records')
  t.same([...seen].sort(), [...lines].sort(), 'the kafkajs group read every record once')
  const coordinatorPartition = c.broker(1).groups.coordinatorPartition('kafkajs-cluster')
  const coordinator = c.leaderOf('__consumer_offsets', coordinatorPartition)
  await c.waitFor(() => (c.broker(coordinator).groups.describeGroups({ groupIds: ['kafkajs-cluster'] }).groups[0]?.members.length ?? 0) === 1, 'the group lives on its coordinator')
})

t.test('rack-aware follower fetching (KIP-392): kcat with client.rack, the SDK and kafkajs with rackId read from the replica in their rack', async t => {
  const c = await startCluster(t, { brokers: 3, config: { kafkaPort: 0 }, perBroker: { 1: { rack: 'r1' }, 2: { rack: 'r2' }, 3: { rack: 'r3' } } })
  const client = c.client(t)
  await client.admin().createTopics([{ topic: 'near', partitions: 1, replicationFactor: 3 }])
  await c.waitFor(() => (c.partition('near', 0)?.isr.length ?? 0) === 3, 'near fully replicated')
  await client.producer({ acks: 'all' }).send({ topic: 'near', messages: Array.from({ length: 20 }, (_, i) => ({ value: `n${i}` })) })
  const leader = c.leaderOf('near', 0)
  const [near, other] = [1, 2, 3].filter(id => id !== leader) as [number, number]
  await c.waitFor(() => c.broker(near).logs.partition('near', 0).highWatermark === 20, `broker ${near} to have all 20 below its high watermark`)
  const servedBy = (id: number): number => c.broker(id).metrics.topic('near').recordsOut
  const before = [servedBy(near), servedBy(other)]
  const read = await kcat(t, `127.0.0.1:${c.broker(leader).ports.kafka!}`, ['-C', '-t', 'near', '-o', 'beginning', '-c', '20', '-e', '-q', '-X', `client.rack=r${near}`])
  t.equal(read.code, 0, `kcat -C with client.rack=r${near}: ${read.stderr}`)
  t.same(read.stdout.trim().split('\n'), Array.from({ length: 20 }, (_, i) => `n${i}`), 'kcat read all 20 in order')
  t.ok(servedBy(near) - before[0]! >= 20, `the follower in its rack (broker ${near}) served them (${servedBy(near) - before[0]!} records)`)
  t.equal(servedBy(other) - before[1]!, 0, `the other follower (broker ${other}) served none`)

  const sdkBefore = servedBy(near)
  const reader = c.client(t)
  const consumer = reader.consumer({ fromBeginning: true, rackId: `r${near}`, maxWaitMs: 100 })
  await consumer.assign({ topic: 'near' })
  const got = await collect(consumer, 20)
  await consumer.close()
  t.same(got.map(m => Buffer.from(m.value!).toString()), Array.from({ length: 20 }, (_, i) => `n${i}`), 'the SDK with rackId read all 20')
  t.ok(servedBy(near) - sdkBefore >= 20, `also from broker ${near}`)

  const jsBefore = servedBy(near)
  const { Kafka, logLevel } = await import('kafkajs')
  const kafka = new Kafka({ clientId: 'near-kafkajs', brokers: [`127.0.0.1:${c.broker(leader).ports.kafka!}`], logLevel: logLevel.NOTHING })
  const group = kafka.consumer({ groupId: 'near-readers', rackId: `r${near}`, sessionTimeout: 10_000, maxWaitTimeInMs: 100 })
  await group.connect()
  t.teardown(() => group.disconnect())
  await group.subscribe({ topic: 'near', fromBeginning: true })
  const seen: string[] = []
  await group.run({ eachMessage: async ({ message }) => { seen.push(message.value!.toString()) } })
  await waitFor(() => seen.length >= 20, 30_000, 'the kafkajs group with a rackId to read the 20 records')
  t.same(seen, Array.from({ length: 20 }, (_, i) => `n${i}`), 'kafkajs with rackId read all 20 in order')
  t.ok(servedBy(near) - jsBefore >= 20, `from broker ${near} too`)
})

t.test('DeleteRecords through a Kafka client: every replica\'s log start follows the leader, and a new leader serves from there', async t => {
  const c = await startCluster(t, { brokers: 3, config: { kafkaPort: 0 } })
  const client = c.client(t)
  await client.admin().createTopics([{ topic: 'trim', partitions: 1, replicationFactor: 3 }])
  await c.waitFor(() => (c.partition('trim', 0)?.isr.length ?? 0) === 3, 'trim fully replicated')
  const producer = client.producer({ acks: 'all', lingerMs: 0 })
  for (let i = 0; i < 10; i++) await producer.send({ topic: 'trim', messages: Array.from({ length: 10 }, (_, j) => ({ value: `v${i * 10 + j}` })) })
  await producer.close()
  const leader = c.leaderOf('trim', 0)
  const follower = [1, 2, 3].find(id => id !== leader)!
  const { Kafka, logLevel } = await import('kafkajs')
  // Bootstrapped from a follower: the admin finds the partition's leader from the cluster's Metadata.
  const kafka = new Kafka({ clientId: 'cluster-trim', brokers: [`127.0.0.1:${c.broker(follower).ports.kafka!}`], logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  t.teardown(() => admin.disconnect())
  await admin.fetchTopicMetadata({ topics: ['trim'] })
  await admin.deleteTopicRecords({ topic: 'trim', partitions: [{ partition: 0, offset: '40' }] })
  t.equal(c.broker(leader).logs.partition('trim', 0).logStartOffset, 40, 'the leader\'s log starts at 40')
  await c.waitFor(() => [...c.brokers.values()].every(b => b.logs.partition('trim', 0).logStartOffset === 40), 'every replica\'s log start at 40')
  const offsets = await admin.fetchTopicOffsets('trim')
  t.equal(offsets[0]!.low, '40', 'ListOffsets earliest: 40')

  // The leader goes; its successor must not serve what was deleted.
  await c.stop(leader)
  await c.waitFor(() => { const l = c.leaderOf('trim', 0); return l > 0 && l !== leader }, 'a new leader')
  const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 100 })
  await consumer.assign({ topic: 'trim' })
  const got = await collect(consumer, 60, 15_000)
  await consumer.close()
  t.same(got.map(m => m.offset), Array.from({ length: 60 }, (_, i) => 40 + i), 'the new leader serves offsets 40-99, nothing below')
})

t.test('the Kafka TLS listener in a cluster: Metadata over TLS names every broker\'s TLS listener, kcat produces and consumes over TLS', async t => {
  const pki = await makePki(t)
  const tls = { kafkaPort: 0, kafkaTlsPort: 0, tlsCertFile: pki.file('server.crt'), tlsKeyFile: pki.file('server.key') }
  const c = await startCluster(t, { brokers: 3, config: tls })
  const client = c.client(t)
  await client.admin().createTopics([{ topic: 'secure', partitions: 3, replicationFactor: 3 }])
  await c.waitFor(() => [0, 1, 2].every(p => (c.partition('secure', p)?.isr.length ?? 0) === 3), 'secure fully replicated')
  const tlsAddress = (id: number): string => `127.0.0.1:${c.broker(id).ports.kafkaTls!}`
  const plainAddress = (id: number): string => `127.0.0.1:${c.broker(id).ports.kafka!}`
  const ssl = ['-X', 'security.protocol=ssl', '-X', `ssl.ca.location=${pki.file('ca.crt')}`]
  const names = async (args: string[]): Promise<string[]> => {
    const meta = await kcat(t, args[0]!, [...args.slice(1), '-L', '-J', '-t', 'secure'])
    t.equal(meta.code, 0, `kcat -L: ${meta.stderr}`)
    return (JSON.parse(meta.stdout) as { brokers: Array<{ name: string }> }).brokers.map(b => b.name).sort()
  }
  t.same(await names([tlsAddress(1), ...ssl]), [1, 2, 3].map(tlsAddress).sort(), 'over TLS: every broker at its TLS port')
  t.same(await names([plainAddress(2)]), [1, 2, 3].map(plainAddress).sort(), 'over plain TCP: every broker at its plain port')
  const lines = Array.from({ length: 30 }, (_, i) => `k${i}|v${i}`)
  const wrote = await kcat(t, tlsAddress(2), ['-P', '-t', 'secure', '-K', '|', ...ssl, '-X', 'acks=all', '-X', 'partitioner=murmur2_random'], { input: lines.join('\n') + '\n' })
  t.equal(wrote.code, 0, `kcat -P over TLS to each partition's leader: ${wrote.stderr}`)
  const read = await kcat(t, tlsAddress(3), ['-C', '-t', 'secure', ...ssl, '-o', 'beginning', '-c', '30', '-e', '-q', '-f', '%k|%s\n'])
  t.equal(read.code, 0, `kcat -C over TLS: ${read.stderr}`)
  t.same(read.stdout.trim().split('\n').sort(), [...lines].sort(), 'every record read back over TLS')
})
