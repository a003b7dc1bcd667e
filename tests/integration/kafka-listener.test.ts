// The Kafka listener's core apis over real sockets, against an embedded broker:
// - every advertised version of ApiVersions, Metadata, Produce, Fetch, ListOffsets,
//   InitProducerId, FindCoordinator, DescribeCluster and OffsetForLeaderEpoch answers, read
//   back with the codec at that version (raw client: the version is pinned);
// - ApiVersions at an unknown version gets the v0-format UNSUPPORTED_VERSION answer and the
//   connection stays; any other unknown key or version closes that connection only;
// - Metadata: one broker, the node id everywhere, a cluster id kept across restarts, auto-
//   creation following the request's flag and the broker setting, created topics visible
//   with their leader at once;
// - Produce: acks 0 unanswered, acks all, idempotent duplicates answered with the original
//   offset and out-of-order sequences refused, transactions refused with a clear error;
//   batches stored byte for byte (only baseOffset changes);
// - Fetch: long poll woken by an append, max_wait_ms honoured, per-partition and per-request
//   max bytes, last stable offset = high watermark, log start offset, out of range;
// - kcat: -L, -P of 100k keyed lines with murmur2_random read back identical by -C, keys on
//   murmur2 partitions; kafkajs plain and idempotent producers.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import { Kafka, logLevel } from 'kafkajs'
import { pino } from 'pino'
import { Broker } from '../../broker/broker.js'
import { partitionForKey } from '../../protocol/bytes/murmur2.js'
import { KafkaErrorCode } from '../../protocol/kafka/index.js'
import { ATTR_TRANSACTIONAL, readBatchHeader } from '../../protocol/record-batch/header.js'
import { decodeBatch, encodeBatch, forEachBatch } from '../../protocol/record-batch/records.js'
import { BrokerMetrics } from '../../broker/observability/metrics.js'
import { ConnectionRegistry } from '../../broker/network/registry.js'
import { tcpChannel } from '../../broker/network/channel.js'
import { startTcpServer } from '../../broker/network/server.js'
import { KafkaDispatcher } from '../../broker/protocols/kafka/dispatcher.js'
import { kafkaProtocol } from '../../broker/protocols/kafka/wire.js'
import { userPrincipal } from '../../broker/security/principal.js'
import { startBroker, tempDir, type TestLike } from '../helpers/broker.js'
import { KafkaRawClient } from '../helpers/kafka-raw.js'
import { kcat } from '../helpers/kafka-programs.js'

const utf8 = new TextEncoder()
const text = new TextDecoder()

function batch (values: string[], options: Parameters<typeof encodeBatch>[1] = {}): Uint8Array {
  return encodeBatch(values.map((v, i) => ({ key: utf8.encode(`k${i}`), value: utf8.encode(v) })), options)
}

function valuesOf (records: Uint8Array | null): string[] {
  const out: string[] = []
  if (records === null) return out
  forEachBatch(records, pos => { for (const r of decodeBatch(records, pos).records) out.push(text.decode(r.value!)) })
  return out
}

async function raw (t: TestLike, broker: Broker, clientId = 'kafka-test'): Promise<KafkaRawClient> {
  const c = await KafkaRawClient.connect(broker.ports.kafka!, clientId)
  t.teardown(() => c.close())
  return c
}

t.test('ApiVersions: every version answers the served apis; an unknown version gets the v0 error and the connection stays', async t => {
  const broker = await startBroker(t)
  const c = await raw(t, broker)
  const required: Record<number, [number, number]> = {
    18: [0, 3], 3: [0, 9], 0: [3, 7], 1: [4, 12], 2: [1, 5], 10: [0, 4], 11: [0, 6], 14: [0, 4], 12: [0, 4], 13: [0, 4],
    8: [2, 8], 9: [1, 8], 16: [0, 4], 15: [0, 5], 19: [0, 7], 20: [0, 6], 22: [0, 3], 32: [0, 2], 23: [2, 2],
  }
  const stage1 = [18, 3, 0, 1, 2, 10, 22, 23, 60]
  for (let v = 0; v <= 3; v++) {
    const body = await c.call('ApiVersions', v, v >= 3 ? { clientSoftwareName: 'spool-test', clientSoftwareVersion: '1.0' } : {})
    t.equal(body.errorCode, 0, `v${v}: no error`)
    const byKey = new Map(body.apiKeys.map(a => [a.apiKey, a]))
    for (const key of stage1) {
      const range = required[key]
      if (range === undefined) continue
      t.ok(byKey.get(key)!.minVersion <= range[0] && byKey.get(key)!.maxVersion >= range[1], `v${v}: api ${key} covers ${range[0]}-${range[1]}`)
    }
    t.notOk(byKey.has(68), `v${v}: ConsumerGroupHeartbeat is not advertised`)
    t.notOk(byKey.has(24), `v${v}: no transaction apis advertised`)
  }
  // ApiVersions v9, written by hand (the codec refuses to encode it).
  const unknown = await KafkaRawClient.connect(broker.ports.kafka!)
  t.teardown(() => unknown.close())
  unknown.write(new Uint8Array([0, 0, 0, 14, 0, 18, 0, 9, 0, 0, 0, 5, 0, 2, 0x61, 0x62, 0, 0]))
  await unknown.until(() => unknown.frames.length > 0)
  const answer = unknown.frames[0]!
  const view = new DataView(answer.buffer, answer.byteOffset)
  t.equal(view.getInt32(0), 5, 'the correlation id is echoed')
  t.equal(view.getInt16(4), KafkaErrorCode.UNSUPPORTED_VERSION, 'UNSUPPORTED_VERSION in the v0 body')
  t.equal(view.getInt32(6), 1, 'one api listed')
  t.same([view.getInt16(10), view.getInt16(12), view.getInt16(14)], [18, 0, 3], 'ApiVersions 0-3')
  const again = await unknown.call('ApiVersions', 0, {})
  t.equal(again.errorCode, 0, 'the client retries on the same connection')
})

t.test('Metadata: every version, one broker, the node id, a cluster id kept across restarts, auto-creation by flag', async t => {
  const dataDir = tempDir(t)
  let broker = await Broker.start({ dataDir, host: '127.0.0.1', port: 0, httpPort: null, mqttPort: null, kafkaPort: 0, nodeId: 7, logLevel: 'silent' })
  let c = await KafkaRawClient.connect(broker.ports.kafka!)
  const clusterIds = new Set<string | null>()
  for (let v = 0; v <= 9; v++) {
    const topic = `meta-v${v}`
    const body = await c.call('Metadata', v, { topics: [{ name: topic }], allowAutoTopicCreation: true })
    t.same(body.brokers.map(b => [b.nodeId, b.host, b.port]), [[7, '127.0.0.1', broker.ports.kafka]], `v${v}: one broker, node 7, the bound address`)
    if (v >= 1) t.equal(body.controllerId, 7, `v${v}: the controller is this node`)
    if (v >= 2) clusterIds.add(body.clusterId)
    const tp = body.topics[0]!
    t.equal(tp.errorCode, 0, `v${v}: auto-created`)
    t.same(tp.partitions.map(p => [p.partitionIndex, p.leaderId, p.replicaNodes, p.isrNodes]), [[0, 7, [7], [7]]], `v${v}: its leader at once`)
  }
  t.equal(clusterIds.size, 1, 'one cluster id')
  const [clusterId] = [...clusterIds]
  t.match(clusterId, /^[A-Za-z0-9_-]{22}$/, 'generated like Kafka\'s')
  const none = await c.call('Metadata', 4, { topics: [{ name: 'meta-no-create' }], allowAutoTopicCreation: false })
  t.equal(none.topics[0]!.errorCode, KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 'allow_auto_topic_creation false: not created')
  const bad = await c.call('Metadata', 9, { topics: [{ name: 'bad name!' }], allowAutoTopicCreation: true })
  t.equal(bad.topics[0]!.errorCode, KafkaErrorCode.INVALID_TOPIC_EXCEPTION, 'an invalid name is INVALID_TOPIC_EXCEPTION')
  const all0 = await c.call('Metadata', 0, { topics: [] })
  t.same(all0.topics.map(x => x.name).sort(), Array.from({ length: 10 }, (_, v) => `meta-v${v}`).sort(), 'v0: an empty list is every topic (internal ones not listed)')
  const none1 = await c.call('Metadata', 1, { topics: [] })
  t.same(none1.topics, [], 'v1: an empty list is none')
  const all9 = await c.call('Metadata', 9, { topics: null })
  t.equal(all9.topics.length, 10, 'v9: null is every topic')
  c.close()
  await broker.close()

  broker = await Broker.start({ dataDir, host: '127.0.0.1', port: 0, httpPort: null, mqttPort: null, kafkaPort: 0, nodeId: 7, autoCreateTopics: false, logLevel: 'silent' })
  t.teardown(() => broker.close())
  c = await KafkaRawClient.connect(broker.ports.kafka!)
  t.teardown(() => c.close())
  const after = await c.call('Metadata', 9, { topics: [{ name: 'meta-off' }], allowAutoTopicCreation: true })
  t.equal(after.clusterId, clusterId, 'the same cluster id after a restart')
  t.equal(after.topics[0]!.errorCode, KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 'autoCreateTopics off: not created whatever the request says')
  const cluster = await c.call('DescribeCluster', 0, {})
  t.same([cluster.clusterId, cluster.controllerId, cluster.brokers.map(b => b.brokerId)], [clusterId, 7, [7]], 'DescribeCluster agrees')
  for (let v = 0; v <= 4; v++) {
    const fc = await c.call('FindCoordinator', v, v >= 4 ? { keyType: 0, coordinatorKeys: ['g1', 'g2'] } : { key: 'g1', keyType: 0 })
    const found = v >= 4 ? fc.coordinators : [fc]
    t.same(found.map(f => [f.errorCode, f.nodeId, f.port]), found.map(() => [0, 7, broker.ports.kafka]), `FindCoordinator v${v}: this node`)
  }
  const txn = await c.call('FindCoordinator', 3, { key: 'tx-1', keyType: 1 })
  t.same([txn.errorCode, txn.nodeId], [0, 7], 'a transactional id is sent here too (InitProducerId refuses it)')
  const pinned = await Broker.start({ dataDir: tempDir(t), host: '127.0.0.1', port: null, httpPort: null, mqttPort: null, kafkaPort: 0, clusterId: 'my-cluster', kafkaAdvertisedListener: 'kafka.internal:19092', logLevel: 'silent' })
  t.teardown(() => pinned.close())
  const pc = await KafkaRawClient.connect(pinned.ports.kafka!)
  t.teardown(() => pc.close())
  const pm = await pc.call('Metadata', 9, { topics: [] })
  t.same([pm.clusterId, pm.brokers[0]!.host, pm.brokers[0]!.port], ['my-cluster', 'kafka.internal', 19092], 'clusterId and kafkaAdvertisedListener override')
})

t.test('Produce v3-7 and Fetch v4-12: batches stored as sent, read back whole; acks 0 unanswered; acks all', async t => {
  const broker = await startBroker(t)
  await broker.logs.createTopic('pf', { partitions: 2 })
  const c = await raw(t, broker)
  let expected = 0
  for (let v = 3; v <= 7; v++) {
    const sent = batch([`p${v}-a`, `p${v}-b`])
    const copy = sent.slice()
    const r = await c.call('Produce', v, { acks: v === 7 ? -1 : 1, timeoutMs: 5000, topicData: [{ name: 'pf', partitionData: [{ index: 1, records: sent }] }] })
    const pr = r.responses[0]!.partitionResponses[0]!
    t.same([pr.errorCode, pr.baseOffset], [0, expected], `Produce v${v}: appended at ${expected}`)
    if (v >= 5) t.equal(pr.logStartOffset, 0, `Produce v${v}: log start offset`)
    const f = await c.call('Fetch', 4, { maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 0, topics: [{ topic: 'pf', partitions: [{ partition: 1, fetchOffset: expected, partitionMaxBytes: 1 << 20 }] }] })
    const stored = f.responses[0]!.partitions[0]!.records!
    t.equal(new DataView(stored.buffer, stored.byteOffset).getBigInt64(0), BigInt(expected), `Produce v${v}: baseOffset assigned`)
    t.equal(new DataView(stored.buffer, stored.byteOffset).getInt32(12), 0, `Produce v${v}: leader epoch 0 written`)
    t.same(Buffer.from(stored.subarray(16)), Buffer.from(copy.subarray(16)), `Produce v${v}: the rest of the batch is stored byte for byte`)
    expected += 2
  }
  for (let v = 0; v <= 2; v++) {
    const old = await c.call('Produce', v, { acks: 1, timeoutMs: 5000, topicData: [{ name: 'pf', partitionData: [{ index: 0, records: batch(['old format']) }] }] })
    t.equal(old.responses[0]!.partitionResponses[0]!.errorCode, KafkaErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, `Produce v${v} (message format v0/v1, advertised for librdkafka's compression gate): UNSUPPORTED_FOR_MESSAGE_FORMAT`)
  }
  t.equal(broker.logs.partition('pf', 0).logEndOffset, 0, 'nothing appended by them')
  // acks 0: no answer; the next request's answer is the next frame.
  const before = c.frames.length
  c.send('Produce', 7, { acks: 0, timeoutMs: 5000, topicData: [{ name: 'pf', partitionData: [{ index: 0, records: batch(['fire-and-forget']) }] }] })
  const after = await c.call('ListOffsets', 1, { replicaId: -1, topics: [{ name: 'pf', partitions: [{ partitionIndex: 0, timestamp: -1 }] }] })
  t.equal(c.frames.length, before + 1, 'acks=0 got no answer')
  t.equal(after.topics[0]!.partitions[0]!.offset, 1, 'but was appended')
  for (let v = 4; v <= 12; v++) {
    for (const isolationLevel of [0, 1]) {
      const f = await c.call('Fetch', v, { maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel, sessionId: 0, sessionEpoch: -1, topics: [{ topic: 'pf', partitions: [{ partition: 1, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }] })
      const p = f.responses[0]!.partitions[0]!
      t.same(valuesOf(p.records), ['p3-a', 'p3-b', 'p4-a', 'p4-b', 'p5-a', 'p5-b', 'p6-a', 'p6-b', 'p7-a', 'p7-b'], `Fetch v${v} isolation ${isolationLevel}: every record`)
      t.same([p.errorCode, p.highWatermark, p.lastStableOffset], [0, 10, 10], `Fetch v${v}: last stable offset = high watermark`)
      if (v >= 5) t.equal(p.logStartOffset, 0, `Fetch v${v}: log start offset`)
      if (v >= 7) t.same([f.errorCode, f.sessionId], [0, 0], `Fetch v${v}: no fetch session`)
      if (isolationLevel === 1) t.same(p.abortedTransactions, [], `Fetch v${v}: no aborted transactions`)
    }
  }
  const far = await c.call('Fetch', 11, { maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 0, topics: [{ topic: 'pf', partitions: [{ partition: 1, fetchOffset: 99, partitionMaxBytes: 1 << 20 }] }] })
  t.equal(far.responses[0]!.partitions[0]!.errorCode, KafkaErrorCode.OFFSET_OUT_OF_RANGE, 'beyond the end: OFFSET_OUT_OF_RANGE')
  const missing = await c.call('Fetch', 11, { maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 0, topics: [{ topic: 'nope', partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }] })
  t.equal(missing.responses[0]!.partitions[0]!.errorCode, KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 'an unknown topic')
  const noTopic = await c.call('Produce', 7, { acks: 1, timeoutMs: 5000, topicData: [{ name: 'nope', partitionData: [{ index: 0, records: batch(['x']) }] }] })
  t.equal(noTopic.responses[0]!.partitionResponses[0]!.errorCode, KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 'produce does not create topics')
  const badAcks = await c.call('Produce', 7, { acks: 2, timeoutMs: 5000, topicData: [{ name: 'pf', partitionData: [{ index: 0, records: batch(['x']) }] }] })
  t.equal(badAcks.responses[0]!.partitionResponses[0]!.errorCode, KafkaErrorCode.INVALID_REQUIRED_ACKS, 'acks 2: INVALID_REQUIRED_ACKS')
  const corrupt = batch(['will be corrupted'])
  corrupt[corrupt.length - 1]! ^= 0xff
  const bad = await c.call('Produce', 7, { acks: 1, timeoutMs: 5000, topicData: [{ name: 'pf', partitionData: [{ index: 0, records: corrupt }] }] })
  t.equal(bad.responses[0]!.partitionResponses[0]!.errorCode, KafkaErrorCode.CORRUPT_MESSAGE, 'a bad CRC: CORRUPT_MESSAGE, nothing written')
})

t.test('Fetch long poll: woken by an append, max_wait_ms honoured, max bytes per partition and per request', async t => {
  const broker = await startBroker(t)
  const c = await raw(t, broker)
  await c.call('Metadata', 9, { topics: [{ name: 'poll' }], allowAutoTopicCreation: true })
  // Waits with min_bytes 1 and a long max_wait; an append by another connection wakes it.
  const before = c.frames.length
  c.send('Fetch', 12, { maxWaitMs: 30_000, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 1, topics: [{ topic: 'poll', partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }] })
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(c.frames.length, before, 'the fetch waits for data')
  const producer = await raw(t, broker, 'producer')
  await producer.call('Produce', 7, { acks: 1, timeoutMs: 5000, topicData: [{ name: 'poll', partitionData: [{ index: 0, records: batch(['wake']) }] }] })
  await c.until(() => c.frames.length > before, 10_000)
  t.equal(c.frames.length, before + 1, 'the append woke the waiting fetch (long before its 30 s)')
  // max_wait_ms: nothing arrives, the fetch is answered empty at its deadline.
  const empty = await c.call('Fetch', 11, { maxWaitMs: 100, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, topics: [{ topic: 'poll', partitions: [{ partition: 0, fetchOffset: 1, partitionMaxBytes: 1 << 20 }] }] })
  t.same(empty.responses[0]!.partitions[0]!.records?.length ?? 0, 0, 'max_wait_ms passed: answered with no records')
  for (const v of ['a', 'b', 'c']) {
    await producer.call('Produce', 7, { acks: 1, timeoutMs: 5000, topicData: [{ name: 'poll', partitionData: [{ index: 0, records: batch([v.repeat(100)]) }] }] })
  }
  const one = batch(['x'.repeat(100)]).length
  const perPartition = await c.call('Fetch', 11, { maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 0, topics: [{ topic: 'poll', partitions: [{ partition: 0, fetchOffset: 1, partitionMaxBytes: one + 10 }] }] })
  t.same(valuesOf(perPartition.responses[0]!.partitions[0]!.records), ['a'.repeat(100)], 'partition_max_bytes: one batch')
  const perRequest = await c.call('Fetch', 11, { maxWaitMs: 0, minBytes: 0, maxBytes: 1, isolationLevel: 0, topics: [{ topic: 'poll', partitions: [{ partition: 0, fetchOffset: 2, partitionMaxBytes: 1 << 20 }] }] })
  t.same(valuesOf(perRequest.responses[0]!.partitions[0]!.records), ['b'.repeat(100)], 'max_bytes 1: still the first batch (KIP-74), no more')
})

t.test('ListOffsets v1-5, OffsetForLeaderEpoch v2-4', async t => {
  const broker = await startBroker(t)
  const c = await raw(t, broker)
  await c.call('Metadata', 9, { topics: [{ name: 'lo' }], allowAutoTopicCreation: true })
  const t0 = Date.now() - 60_000
  await c.call('Produce', 7, { acks: 1, timeoutMs: 5000, topicData: [{ name: 'lo', partitionData: [{ index: 0, records: encodeBatch([{ value: utf8.encode('old'), timestamp: t0 }]) }] }] })
  await c.call('Produce', 7, { acks: 1, timeoutMs: 5000, topicData: [{ name: 'lo', partitionData: [{ index: 0, records: encodeBatch([{ value: utf8.encode('new'), timestamp: t0 + 30_000 }]) }] }] })
  broker.logs.partition('lo', 0).deleteRecordsBefore(0)
  for (let v = 1; v <= 5; v++) {
    const r = await c.call('ListOffsets', v, { replicaId: -1, isolationLevel: 1, topics: [{ name: 'lo', partitions: [{ partitionIndex: 0, timestamp: -1 }, { partitionIndex: 0, timestamp: -2 }, { partitionIndex: 0, timestamp: t0 + 1 }, { partitionIndex: 0, timestamp: Date.now() + 60_000 }, { partitionIndex: 3, timestamp: -1 }] }] })
    const ps = r.topics[0]!.partitions
    t.same(ps.map(p => [p.errorCode, p.offset]), [[0, 2], [0, 0], [0, 1], [0, -1], [KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1]], `ListOffsets v${v}: latest, earliest, by time, none, unknown`)
    t.equal(ps[2]!.timestamp, t0 + 30_000, `ListOffsets v${v}: the found record's timestamp`)
  }
  for (let v = 2; v <= 4; v++) {
    const r = await c.call('OffsetForLeaderEpoch', v, { replicaId: -1, topics: [{ topic: 'lo', partitions: [{ partition: 0, currentLeaderEpoch: 0, leaderEpoch: 0 }, { partition: 9, currentLeaderEpoch: 0, leaderEpoch: 0 }] }] })
    t.same(r.topics[0]!.partitions.map(p => [p.errorCode, p.leaderEpoch, p.endOffset]), [[0, 0, 2], [KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1, -1]], `OffsetForLeaderEpoch v${v}`)
  }
})

t.test('InitProducerId v0-3 and idempotent batches share the native producer state; transactions are refused', async t => {
  const broker = await startBroker(t)
  const c = await raw(t, broker)
  await c.call('Metadata', 9, { topics: [{ name: 'idem' }], allowAutoTopicCreation: true })
  const ids = new Set<number>()
  for (let v = 0; v <= 3; v++) {
    const r = await c.call('InitProducerId', v, { transactionalId: null, transactionTimeoutMs: 60_000, producerId: v === 3 ? 0 : -1, producerEpoch: v === 3 ? 0 : -1 })
    t.same([r.errorCode, r.producerEpoch], [0, 0], `v${v}: a producer id, epoch 0`)
    ids.add(r.producerId)
  }
  const again = await c.call('InitProducerId', 3, { transactionalId: null, transactionTimeoutMs: 60_000, producerId: 0, producerEpoch: 0 })
  ids.add(again.producerId)
  t.equal(ids.size, 5, 'v3 with producer id 0 / epoch 0 (@platformatic/kafka) still gets a fresh id each time')
  const producerId = again.producerId
  const produce = (values: string[], baseSequence: number): Promise<{ errorCode: number, baseOffset: number }> =>
    c.call('Produce', 7, { acks: -1, timeoutMs: 5000, topicData: [{ name: 'idem', partitionData: [{ index: 0, records: batch(values, { producerId, producerEpoch: 0, baseSequence }) }] }] })
      .then(r => r.responses[0]!.partitionResponses[0]!)
  t.same(await produce(['a', 'b'], 0), { index: 0, errorCode: 0, baseOffset: 0, logAppendTimeMs: -1, logStartOffset: 0 }, 'first batch')
  t.same(await produce(['c'], 2), { index: 0, errorCode: 0, baseOffset: 2, logAppendTimeMs: -1, logStartOffset: 0 }, 'second batch')
  t.same((await produce(['a', 'b'], 0)).baseOffset, 0, 'a retried duplicate: success with its original offset')
  t.equal((await produce(['e'], 7)).errorCode, KafkaErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, 'a gap: OUT_OF_ORDER_SEQUENCE_NUMBER')
  t.equal(broker.logs.partition('idem', 0).logEndOffset, 3, 'nothing was written twice')
  t.same(broker.logs.partition('idem', 0).producerState(producerId)?.batches.at(-1)?.lastSeq, 2, 'the state is the one storage keeps for every protocol')

  const txnInit = await c.call('InitProducerId', 1, { transactionalId: 'tx-1', transactionTimeoutMs: 60_000 })
  t.equal(txnInit.errorCode, KafkaErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 'a transactional InitProducerId is refused')
  const txnProduce = await c.call('Produce', 7, { transactionalId: 'tx-1', acks: -1, timeoutMs: 5000, topicData: [{ name: 'idem', partitionData: [{ index: 0, records: batch(['t']) }] }] })
  t.equal(txnProduce.responses[0]!.partitionResponses[0]!.errorCode, KafkaErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 'a produce with a transactional id is refused')
  const txnBatch = batch(['t'], { producerId, producerEpoch: 0, baseSequence: 3, attributes: ATTR_TRANSACTIONAL })
  t.ok((readBatchHeader(txnBatch).attributes & ATTR_TRANSACTIONAL) !== 0)
  const r = await c.call('Produce', 7, { acks: -1, timeoutMs: 5000, topicData: [{ name: 'idem', partitionData: [{ index: 0, records: txnBatch }] }] })
  t.equal(r.responses[0]!.partitionResponses[0]!.errorCode, KafkaErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 'a transactional batch is refused')
  t.equal(broker.logs.partition('idem', 0).logEndOffset, 3, 'and not stored')
})

t.test('kcat: -L, then 100k keyed lines with murmur2_random read back identical, keys on murmur2 partitions', async t => {
  const broker = await startBroker(t)
  const b = `127.0.0.1:${broker.ports.kafka}`
  await broker.logs.createTopic('kcat-lines', { partitions: 3 })
  const listed = await kcat(t, b, ['-L', '-t', 'kcat-lines'])
  t.equal(listed.code, 0, listed.stderr)
  t.match(listed.stdout, /1 brokers:\n\s+broker 0 at 127\.0\.0\.1:\d+ \(controller\)/, '-L: one broker, the controller')
  t.match(listed.stdout, /topic "kcat-lines" with 3 partitions:/, '-L: the topic and its partitions')
  t.match(listed.stdout, /partition 2, leader 0, replicas: 0, isrs: 0/)

  const lines: string[] = []
  for (let i = 0; i < 100_000; i++) lines.push(`key-${i % 997}:value-${i}-${'x'.repeat(i % 50)}`)
  const produced = await kcat(t, b, ['-P', '-t', 'kcat-lines', '-K:', '-X', 'partitioner=murmur2_random', '-X', 'linger.ms=5'], { input: lines.join('\n') + '\n', timeoutMs: 120_000 })
  t.equal(produced.code, 0, produced.stderr)
  const consumed = await kcat(t, b, ['-C', '-t', 'kcat-lines', '-o', 'beginning', '-e', '-q', '-f', '%p %k:%s\n'], { timeoutMs: 120_000 })
  t.equal(consumed.code, 0, consumed.stderr)
  const got = consumed.stdout.split('\n').filter(l => l !== '')
  t.equal(got.length, 100_000, 'every line came back')
  let misplaced = 0
  const byPartition = new Map<number, string[]>()
  for (const line of got) {
    const space = line.indexOf(' ')
    const partition = Number(line.slice(0, space))
    const record = line.slice(space + 1)
    const key = record.slice(0, record.indexOf(':'))
    if (partitionForKey(utf8.encode(key), 3) !== partition) misplaced++
    let list = byPartition.get(partition)
    if (list === undefined) byPartition.set(partition, (list = []))
    list.push(record)
  }
  t.equal(misplaced, 0, 'every key on murmur2(key) % 3, as Java clients and the Spool SDK put it')
  t.same(got.map(l => l.slice(l.indexOf(' ') + 1)).sort(), [...lines].sort(), 'identical lines')
  for (const [partition, records] of byPartition) {
    t.same(records, lines.filter(l => partitionForKey(utf8.encode(l.slice(0, l.indexOf(':'))), 3) === partition), `partition ${partition} in produce order`)
  }
})

t.test('kafkajs: plain and idempotent producers, acks 1 and all', async t => {
  const broker = await startBroker(t)
  const kafka = new Kafka({ clientId: 'kafkajs-test', brokers: [`127.0.0.1:${broker.ports.kafka}`], logLevel: logLevel.NOTHING, retry: { retries: 3 } })
  const admin = kafka.admin()
  await admin.connect()
  t.teardown(() => admin.disconnect())
  for (const idempotent of [false, true]) {
    const producer = kafka.producer({ idempotent, allowAutoTopicCreation: true })
    await producer.connect()
    t.teardown(() => producer.disconnect())
    const result = await producer.send({ topic: 'kjs-auto', acks: -1, messages: Array.from({ length: 50 }, (_, i) => ({ key: `key-${i}`, value: `v${i}` })) })
    t.equal(result.reduce((n, r) => n + (r.errorCode === 0 ? 1 : 0), 0), result.length, `idempotent ${idempotent}: every partition answered without error`)
    await producer.send({ topic: 'kjs-auto', acks: idempotent ? -1 : 1, messages: [{ value: 'one more' }] })
  }
  const offsets = await admin.fetchTopicOffsets('kjs-auto')
  t.equal(offsets.reduce((n, o) => n + Number(o.high), 0), 102, 'every message stored once')
})

/** A small seeded generator, so a failure can be replayed. */
function prng (seed: number): () => number {
  let x = seed >>> 0
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return x / 0x100000000
  }
}

function sized (frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(frame.length + 4)
  new DataView(out.buffer).setInt32(0, frame.length)
  out.set(frame, 4)
  return out
}

interface LogLine { level: number, msg: string, protocol?: string }

t.test('bad input: random, mutated, oversized and unknown frames close only their connection, with one line each', async t => {
  const lines: LogLine[] = []
  const stream = new Writable({
    write (chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as LogLine)
      done()
    },
  })
  const broker = await startBroker(t, { logger: pino({ level: 'info' }, stream), maxFrameBytes: 1024 * 1024, maxBatchBytes: 512 * 1024 })
  const bystander = await raw(t, broker, 'bystander')
  await bystander.call('Metadata', 9, { topics: [{ name: 'steady' }], allowAutoTopicCreation: true })

  const dir = new URL('../../../tests/fixtures/kafka/', import.meta.url)
  const requests: Uint8Array[] = []
  for (const file of readdirSync(dir).filter(f => f.endsWith('.json'))) {
    const fixture = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as { frames: Array<{ direction: string, hex: string }> }
    for (const f of fixture.frames) if (f.direction === 'request') requests.push(Buffer.from(f.hex, 'hex'))
  }
  t.ok(requests.length > 100, `${requests.length} captured request frames to mutate`)
  const random = prng(0x5eed)
  const inputs: Uint8Array[] = []
  for (let i = 0; i < 240; i++) {
    const base = requests[Math.floor(random() * requests.length)]!
    const frame = base.slice()
    const kind = i % 4
    if (kind === 0) for (let k = 0; k < 1 + Math.floor(random() * 4); k++) frame[Math.floor(random() * frame.length)] = Math.floor(random() * 256)
    if (kind === 1) inputs.push(sized(frame.subarray(0, Math.floor(random() * frame.length))))
    else if (kind === 2) inputs.push(sized(new Uint8Array([...frame, ...Array.from({ length: 1 + Math.floor(random() * 8) }, () => Math.floor(random() * 256))])))
    else if (kind === 3) inputs.push(sized(Uint8Array.from({ length: 8 + Math.floor(random() * 200) }, () => Math.floor(random() * 256))))
    else inputs.push(sized(frame))
  }
  const crafted: Array<[string, Uint8Array]> = [
    ['a length past maxFrameBytes', new Uint8Array([0x7f, 0xff, 0xff, 0xff, 0, 3])],
    ['a negative length', new Uint8Array([0xff, 0xff, 0xff, 0xfe, 0, 3])],
    ['a frame shorter than a header', new Uint8Array([0, 0, 0, 3, 0, 3, 0])],
    ['an unknown api key', sized(new Uint8Array([0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0, 0]))],
    ['Produce v2 (below the advertised range)', sized(new Uint8Array([0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0]))],
    ['Fetch v13 (above it)', sized(new Uint8Array([0, 1, 0, 13, 0, 0, 0, 1, 0, 0, 0]))],
    ['EndTxn (transactions are not served)', sized(new Uint8Array([0, 26, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]))],
  ]
  const outcome = { answered: 0, closed: 0, waiting: 0 }
  const tryOne = async (bytes: Uint8Array): Promise<'answered' | 'closed' | 'waiting'> => {
    const c = await KafkaRawClient.connect(broker.ports.kafka!, null)
    try {
      c.write(bytes)
      await c.until(() => c.frames.length > 0, 1500).catch(() => {})
      return c.closed ? 'closed' : c.frames.length > 0 ? 'answered' : 'waiting'
    } finally {
      c.close()
    }
  }
  for (const [what, bytes] of crafted) {
    const before = lines.filter(l => l.msg === 'closing connection after bad input').length
    t.equal(await tryOne(bytes), 'closed', `${what}: the connection is closed`)
    await new Promise(resolve => setTimeout(resolve, 20))
    t.equal(lines.filter(l => l.msg === 'closing connection after bad input').length, before + 1, `${what}: one warning line`)
  }
  for (let i = 0; i < inputs.length; i += 12) {
    for (const r of await Promise.all(inputs.slice(i, i + 12).map(tryOne))) outcome[r]++
  }
  t.comment(`mutated frames: ${JSON.stringify(outcome)}`)
  t.ok(outcome.closed > 50, 'many were refused by closing their connection')
  t.ok(outcome.answered > 10, 'some still decoded and were answered')
  t.same(lines.filter(l => l.level >= 50).map(l => l.msg), [], 'no internal error: every refusal was a named error')
  const warnings = lines.filter(l => l.msg === 'closing connection after bad input')
  t.ok(warnings.every(l => l.protocol === 'kafka'), 'each warning names the protocol')
  t.ok(warnings.length <= crafted.length + outcome.closed, 'at most one line per closed connection')
  const still = await bystander.call('Produce', 7, { acks: 1, timeoutMs: 5000, topicData: [{ name: 'steady', partitionData: [{ index: 0, records: batch(['still']) }] }] })
  t.equal(still.responses[0]!.partitionResponses[0]!.errorCode, 0, 'the bystander on its own connection is still served')
  t.equal(broker.logs.partition('steady', 0).logEndOffset, 1)
})

t.test('the pre-authentication stage: only the allowed apis, small frames, until a handler completes authentication', async t => {
  const logger = pino({ level: 'silent' })
  const dispatcher = new KafkaDispatcher(new BrokerMetrics({ defaultMetrics: false }))
  const seen: string[] = []
  dispatcher.register('ApiVersions', () => ({ errorCode: 0, apiKeys: dispatcher.advertised() }))
  // A stand-in SASL step: the security work registers the real one the same way.
  dispatcher.register('SaslHandshake', (req, rc) => {
    if (req.mechanism === 'TEST') rc.session.completeAuthentication(userPrincipal('alice', 'plain'))
    return { errorCode: 0, mechanisms: ['TEST'] }
  })
  dispatcher.register('Metadata', (_req, rc) => {
    seen.push(rc.connection.principal.name)
    return { brokers: [], clusterId: 'x', controllerId: 0, topics: [] }
  })
  const wire = kafkaProtocol({ maxFrameBytes: 1 << 20, maxInFlightRequests: 10, maxQueuedBytes: 1 << 20, idleTimeoutMs: 60_000 }, dispatcher, { preAuthApis: new Set([18, 17]), maxPreAuthFrameBytes: 1024 })
  const registry = new ConnectionRegistry({ maxConnections: 10, perProtocol: {}, budget: null, logger, now: Date.now })
  t.teardown(() => registry.closeAll())
  const listener = await startTcpServer({ name: 'kafka', host: '127.0.0.1', port: 0, flag: '--kafka-port' }, socket => { registry.accept(tcpChannel(socket), wire) }, logger)
  t.teardown(() => listener.close())

  const early = await KafkaRawClient.connect(listener.port)
  t.teardown(() => early.close())
  t.equal((await early.call('ApiVersions', 3, { clientSoftwareName: 'x', clientSoftwareVersion: '1' })).errorCode, 0, 'ApiVersions is allowed before authentication')
  early.send('Metadata', 9, { topics: null })
  await early.until(() => early.closed)
  t.ok(early.closed, 'any other api before authentication closes the connection')
  t.same(seen, [], 'and is not handled')

  const big = await KafkaRawClient.connect(listener.port)
  t.teardown(() => big.close())
  big.send('SaslHandshake', 1, { mechanism: 'x'.repeat(4000) })
  await big.until(() => big.closed)
  t.ok(big.closed, 'a frame over the pre-authentication limit closes the connection')

  const ok = await KafkaRawClient.connect(listener.port)
  t.teardown(() => ok.close())
  t.same((await ok.call('SaslHandshake', 1, { mechanism: 'TEST' })).mechanisms, ['TEST'])
  await ok.call('Metadata', 9, { topics: [{ name: 'y'.repeat(2000) }] })
  t.same(seen, ['alice'], 'after authentication: every api, larger frames, the connection\'s principal set')
})
