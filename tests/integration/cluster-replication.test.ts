// Replication between brokers of one process (tests/helpers/cluster.ts: real etcd, real
// sockets, three embedded brokers): every replica of a partition holds the leader's batches
// byte for byte at the same offsets; Metadata lists every broker, leader, replicas, ISR and
// epoch from any broker; consumers read only below the high watermark; a broker that does
// not lead a partition answers NOT_LEADER_OR_FOLLOWER; acks=all waits for every in-sync
// replica and refuses below minInsyncReplicas; a broker that leaves drops out of the ISR and
// comes back into it after catching up; producer ids are unique across brokers; the single-
// broker answers are unchanged without etcd; a request that times out closes its connection
// (a broker cut off may keep it open) and reads as stale metadata to the SDK; a broker started
// while etcd is down keeps trying to join.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { encodeBatch } from '../../protocol/record-batch/records.js'
import pino from 'pino'
import { NotEnoughReplicasError, RequestTimedOutError, SpoolError } from '../../protocol/errors.js'
import { Connection } from '../../client/connection.js'
import { isStaleMetadataError } from '../../client/cluster.js'
import { nodeTcpTransport } from '../../client/transport/node-tcp.js'
import { startCluster, storedBatches } from '../helpers/cluster.js'
import { startBroker } from '../helpers/broker.js'
import { startEtcd } from '../helpers/etcd.js'
import { collect } from '../helpers/conformance.js'
import { RawClient } from '../helpers/raw-client.js'
import { utf8 } from '../helpers/bytes.js'

t.test('three brokers replicate a topic: same bytes, same offsets, one metadata view', async t => {
  const c = await startCluster(t, { brokers: 3 })
  const client = c.client(t)
  await client.admin().createTopics([{ topic: 'orders', partitions: 3, replicationFactor: 3 }])
  await c.waitFor(() => [0, 1, 2].every(p => (c.partition('orders', p)?.isr.length ?? 0) === 3), 'every partition with three in-sync replicas')
  const leaders = [0, 1, 2].map(p => c.leaderOf('orders', p))
  t.same([...new Set(leaders)].sort(), [1, 2, 3], 'leadership is spread over the three brokers')

  // Any broker describes the whole cluster.
  for (const b of c.brokers.values()) {
    const raw = await RawClient.connect(b.ports.native!)
    const meta = await raw.call('Metadata', { topics: ['orders'], allowAutoCreate: false })
    t.same(meta.brokers.map(x => x.nodeId).sort(), [1, 2, 3], `broker ${b.config.nodeId} lists every broker`)
    t.same(meta.brokers.map(x => x.port).sort(), [...c.brokers.values()].map(x => x.ports.native).sort(), 'at their native ports')
    t.ok([1, 2, 3].includes(meta.controllerId), 'and names the controller')
    t.same(meta.topics[0]!.partitions.map(p => p.leader), leaders, 'and the same leaders')
    t.ok(meta.topics[0]!.partitions.every(p => p.replicas.length === 3 && p.isr.length === 3 && p.leaderEpoch >= 0), 'replicas, ISR, epoch')
    raw.close()
  }

  const producer = client.producer({ acks: 'all', lingerMs: 2 })
  const sent = []
  for (let i = 0; i < 300; i++) sent.push(producer.send({ topic: 'orders', messages: [{ key: `k${i % 17}`, value: `v${i}` }] }))
  const acked = (await Promise.all(sent)).flat()
  t.equal(acked.length, 300, 'every acks=all send is acknowledged')
  for (let p = 0; p < 3; p++) {
    const leader = c.broker(leaders[p]!)
    await c.waitFor(() => [...c.brokers.values()].every(b => b.logs.partition('orders', p).highWatermark === leader.logs.partition('orders', p).logEndOffset), `partition ${p}: every replica at the leader's end`)
    const reference = await storedBatches(leader, 'orders', p)
    for (const b of c.brokers.values()) {
      t.same(await storedBatches(b, 'orders', p), reference, `partition ${p}: broker ${b.config.nodeId} holds the leader's batches byte for byte`)
    }
  }
  const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 100 })
  await consumer.assign({ topic: 'orders' })
  const got = await collect(consumer, 300, 15_000)
  t.equal(got.length, 300, 'a consumer reads every record from the leaders')
  const byPartition = new Map<number, number[]>()
  for (const m of got) byPartition.set(m.partition, [...(byPartition.get(m.partition) ?? []), m.offset])
  t.ok([...byPartition.values()].every(o => o.every((x, i) => i === 0 || x === o[i - 1]! + 1)), 'in offset order per partition')
  await consumer.close()
  await producer.close()
})

t.test('requests for a partition this broker does not lead: NOT_LEADER_OR_FOLLOWER', async t => {
  const c = await startCluster(t, { brokers: 3 })
  const client = c.client(t)
  await client.admin().createTopics([{ topic: 'lead', partitions: 1, replicationFactor: 3 }])
  await c.waitFor(() => (c.partition('lead', 0)?.isr.length ?? 0) === 3, 'three in-sync replicas')
  const leader = c.leaderOf('lead', 0)
  const follower = [...c.brokers.keys()].find(id => id !== leader)!
  const raw = await RawClient.connect(c.broker(follower).ports.native!)
  const batch = encodeBatch([{ value: utf8('x') }])
  const produce = await raw.call('Produce', { acks: 1, timeoutMs: 1000, topics: [{ topic: 'lead', partitions: [{ partition: 0, recordsBytes: batch.length }] }] }, [batch])
  const produced = produce.topics[0]!.partitions[0]!
  t.equal(produced.errorCode, 6, 'produce to a follower: NOT_LEADER_OR_FOLLOWER')
  const fetch = await raw.call('Fetch', { maxWaitMs: 0, minBytes: 0, topics: [{ topic: 'lead', partitions: [{ partition: 0, fetchOffset: 0 }] }] })
  t.equal(fetch.topics[0]!.partitions[0]!.errorCode, 6, 'fetch from a follower: NOT_LEADER_OR_FOLLOWER')
  const offsets = await raw.call('ListOffsets', { topics: [{ topic: 'lead', partitions: [{ partition: 0, timestamp: -1 }] }] })
  t.equal(offsets.topics[0]!.partitions[0]!.errorCode, 6, 'list offsets at a follower: NOT_LEADER_OR_FOLLOWER')
  raw.close()
  // The SDK routes to the leader, whichever broker it bootstrapped from.
  const viaFollower = c.client(t, { brokers: [`127.0.0.1:${c.broker(follower).ports.native}`] })
  const [meta] = await viaFollower.producer({ acks: 'all' }).send({ topic: 'lead', messages: [{ value: 'routed' }] })
  t.equal(meta!.offset, 0, 'the SDK sends to the leader')
})

t.test('acks=all: waits for the ISR, refuses below minInsyncReplicas; the ISR shrinks and grows back', async t => {
  const c = await startCluster(t, { brokers: 3, config: { minInsyncReplicas: 2 } })
  const client = c.client(t)
  await client.admin().createTopics([{ topic: 'isr', partitions: 1, replicationFactor: 3 }])
  await c.waitFor(() => (c.partition('isr', 0)?.isr.length ?? 0) === 3, 'three in-sync replicas')
  const leader = c.leaderOf('isr', 0)
  const [f1, f2] = [...c.brokers.keys()].filter(id => id !== leader)
  const producer = client.producer({ acks: 'all', lingerMs: 0, retry: { retries: 0 } })
  await producer.send({ topic: 'isr', messages: [{ value: 'all three' }] })
  const leaderLog = c.broker(leader).logs.partition('isr', 0)
  t.equal(leaderLog.highWatermark, leaderLog.logEndOffset, 'acknowledged: the high watermark covers it')

  await c.stop(f1!)
  await c.waitFor(() => c.partition('isr', 0)?.isr.length === 2, 'the stopped broker leaves the ISR')
  await producer.send({ topic: 'isr', messages: [{ value: 'two of three' }] })
  t.pass('acks=all goes on with two in-sync replicas (minInsyncReplicas 2)')
  await c.stop(f2!)
  await c.waitFor(() => c.partition('isr', 0)?.isr.length === 1, 'the second one leaves too')
  await t.rejects(producer.send({ topic: 'isr', messages: [{ value: 'alone' }] }), NotEnoughReplicasError, 'one in-sync replica: NOT_ENOUGH_REPLICAS')
  const acks1 = client.producer({ acks: 1, lingerMs: 0 })
  const [alone] = await acks1.send({ topic: 'isr', messages: [{ value: 'acks=1 alone' }] })
  t.ok(alone!.offset >= 2, 'acks=1 is still taken by the leader')

  await c.start(f1!)
  await c.start(f2!)
  await c.waitFor(() => c.partition('isr', 0)?.isr.length === 3, 'both come back into the ISR after catching up')
  const end = c.broker(leader).logs.partition('isr', 0).logEndOffset
  for (const id of [f1!, f2!]) t.equal(c.broker(id).logs.partition('isr', 0).logEndOffset, end, `broker ${id} caught up to the leader's end`)
  await producer.send({ topic: 'isr', messages: [{ value: 'all three again' }] })
  const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 50 })
  await consumer.assign({ topic: 'isr' })
  const values = (await collect(consumer, 5, 10_000)).map(m => Buffer.from(m.value!).toString())
  t.same(values, ['all three', 'two of three', 'acks=1 alone', 'all three again'], 'the log holds what was acknowledged, in order (the refused write is not there)')
  await consumer.close()
})

t.test('consumers read below the high watermark only; producer ids are unique cluster-wide', async t => {
  const c = await startCluster(t, { brokers: 3 })
  const client = c.client(t)
  await client.admin().createTopics([{ topic: 'hw', partitions: 1, replicationFactor: 3 }])
  await c.waitFor(() => (c.partition('hw', 0)?.isr.length ?? 0) === 3, 'three in-sync replicas')
  const leader = c.broker(c.leaderOf('hw', 0))
  for (const b of c.brokers.values()) t.equal(b.logs.partition('hw', 0).replicated, true, 'the replica manager owns the high watermark')
  const producer = client.producer({ acks: 1, lingerMs: 0 })
  await producer.send({ topic: 'hw', messages: [{ value: 'one' }] })
  const log = leader.logs.partition('hw', 0)
  await c.waitFor(() => log.highWatermark === log.logEndOffset, 'the followers catch up')
  t.equal(log.highWatermark, 1)
  // Freeze one follower's fetching: the leader's log end moves on, its high watermark does not.
  const follower = [...c.brokers.values()].find(b => b !== leader)!
  follower.cluster!.replicas.fetchers.close()
  await producer.send({ topic: 'hw', messages: [{ value: 'two' }, { value: 'three' }] })
  t.equal(log.logEndOffset, 3, 'acks=1: the leader wrote both')
  t.equal(log.highWatermark, 1, 'but one in-sync follower lacks them: the high watermark stays')
  const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 50 })
  await consumer.assign({ topic: 'hw' })
  t.same((await collect(consumer, 3, 1500)).map(m => Buffer.from(m.value!).toString()), ['one'], 'a consumer sees only what is below the high watermark')
  const [listed] = await client.admin().listOffsets([{ topic: 'hw', partition: 0, timestamp: -1 }])
  t.equal(listed!.offset, 1, 'and ListOffsets latest is the high watermark')
  for (const role of follower.cluster!.agent!.localPartitions()) follower.cluster!.replicas.apply(role)
  await c.waitFor(() => log.highWatermark === 3, 'the follower fetches again and the high watermark moves')
  t.same((await collect(consumer, 2, 5000)).map(m => Buffer.from(m.value!).toString()), ['two', 'three'], 'then the consumer gets the rest')
  await consumer.close()
  const ids = new Set<number>()
  for (const b of c.brokers.values()) {
    for (let i = 0; i < 3; i++) ids.add(await b.services.producerIds.allocate({ principal: { type: 'User', name: 't', method: 'test' }, clientId: 't', host: '', protocol: 'test' } as never))
  }
  t.equal(ids.size, 9, 'nine producer ids from three brokers, all different')
})

t.test('without etcd nothing changes: one broker, itself everywhere, epoch 0', async t => {
  const broker = await startBroker(t, { mqttPort: null })
  t.equal(broker.cluster, null)
  const raw = await RawClient.connect(broker.ports.native!)
  await raw.call('CreateTopics', { topics: [{ topic: 'solo', partitions: 2 }] })
  const { records: _records, ...body } = await raw.call('Metadata', { topics: ['solo'] })
  t.same(body, {
    errorCode: 0, errorMessage: null, clusterId: broker.config.clusterId, controllerId: 0,
    brokers: [{ nodeId: 0, host: '127.0.0.1', port: broker.ports.native, rack: null, decommissioned: false }],
    topics: [{ topic: 'solo', errorCode: 0, errorMessage: null, internal: false, partitions: [0, 1].map(p => ({ partition: p, errorCode: 0, leader: 0, leaderEpoch: 0, replicas: [0], isr: [0], offlineReplicas: [], addingReplicas: [], removingReplicas: [] })) }],
  }, 'the single-broker Metadata answer')
  const rf = await raw.call('CreateTopics', { topics: [{ topic: 'rf3', partitions: 1, replicationFactor: 3 }] })
  t.equal(rf.topics[0]!.errorCode, 38, 'a replication factor above 1 needs a cluster: INVALID_REPLICATION_FACTOR')
  raw.close()
})

t.test('a request that times out closes its connection: the SDK reconnects and refreshes metadata', async t => {
  // A broker cut off behind a connection that looks open answers nothing; the client must not
  // wait on that connection for minutes (as Kafka clients, a timeout closes it).
  const broker = await startBroker(t, { mqttPort: null })
  const raw = await RawClient.connect(broker.ports.native!)
  await raw.call('CreateTopics', { topics: [{ topic: 'quiet', partitions: 1 }] })
  raw.close()
  const connection = await Connection.open({
    address: `127.0.0.1:${broker.ports.native!}`, clientId: 'timeout-test', transport: nodeTcpTransport,
    connectTimeoutMs: 5000, requestTimeoutMs: 30_000, maxFrameBytes: 1 << 20, logger: pino({ level: 'silent' }),
  })
  // Fetches the broker holds for maxWaitMs on an empty partition: the first times out first.
  const fetch = (timeoutMs: number): Promise<unknown> => connection.request('Fetch', {
    maxWaitMs: 20_000, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, rackId: '',
    topics: [{ topic: 'quiet', partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 1 << 20 }] }],
  }, { timeoutMs }).then(() => null, (err: unknown) => err)
  const [short, long] = await Promise.all([fetch(300), fetch(25_000)])
  t.ok(short instanceof RequestTimedOutError, `the short request timed out (${String(short)})`)
  t.ok(connection.closed, 'and its connection is closed')
  t.ok(long instanceof SpoolError && long.retriable, `the other request in flight failed at once, retriable (${String(long)})`)
  t.ok(isStaleMetadataError(short), 'a timeout reads as stale metadata: the SDK refreshes and reconnects')
})

t.test('a broker started while etcd does not answer joins once etcd is back', async t => {
  const etcd = await startEtcd(t)
  const member = etcd.members[0]!
  await member.kill()
  const starting = startBroker(t, { mqttPort: null, leaseTtlMs: 8000, nodeId: 1, etcdEndpoints: etcd.endpoints, clusterKeyPrefix: `/spool/t-${randomUUID().slice(0, 8)}` })
  let settled = false
  void starting.then(() => { settled = true }, () => { settled = true })
  await new Promise(resolve => setTimeout(resolve, 2500))
  t.notOk(settled, 'the broker is still trying to join while etcd is down')
  member.start()
  await etcd.waitHealthy()
  const broker = await starting
  t.equal(broker.cluster?.agent?.registration?.nodeId, 1, 'it joined once etcd answered')
})
