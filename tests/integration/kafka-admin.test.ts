// Topic administration over the Kafka listener: every advertised version of CreateTopics,
// DeleteTopics, CreatePartitions, DeleteRecords, DescribeConfigs, AlterConfigs and
// IncrementalAlterConfigs (raw client, version pinned), then the same operations through the
// admin APIs of kafkajs and confluent-kafka-python — each change checked in the broker's own
// state (topics, partition logs, configs), not only in the client's answer.
import t from 'tap'
import { Kafka, logLevel } from 'kafkajs'
import { KafkaErrorCode } from '../../protocol/kafka/index.js'
import { encodeBatch } from '../../protocol/record-batch/records.js'
import { startBroker, type TestLike } from '../helpers/broker.js'
import type { Broker } from '../../broker/broker.js'
import { KafkaRawClient } from '../helpers/kafka-raw.js'
import { PYTHON, runProgram } from '../helpers/kafka-programs.js'

async function raw (t: TestLike, broker: Broker): Promise<KafkaRawClient> {
  const c = await KafkaRawClient.connect(broker.ports.kafka!, 'admin-test')
  t.teardown(() => c.close())
  return c
}

t.test('CreateTopics v0-7 and DeleteTopics v0-6: partitions, configs, validate_only, errors per topic', async t => {
  const broker = await startBroker(t, { defaultPartitions: 2 })
  const c = await raw(t, broker)
  for (let v = 0; v <= 7; v++) {
    const r = await c.call('CreateTopics', v, {
      topics: [
        { name: `ct-${v}`, numPartitions: 3, replicationFactor: 1, assignments: [], configs: [{ name: 'retention.ms', value: '3600000' }, { name: 'cleanup.policy', value: 'compact' }] },
        { name: `ct-${v}`, numPartitions: 3, replicationFactor: 1, assignments: [], configs: [] },
        { name: `ct-bad-${v}`, numPartitions: 1, replicationFactor: 3, assignments: [], configs: [] },
        { name: `ct-cfg-${v}`, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [{ name: 'min.insync.replicas', value: '2' }] },
        ...(v >= 4 ? [{ name: `ct-default-${v}`, numPartitions: -1, replicationFactor: -1, assignments: [], configs: [] }] : []),
      ],
      timeoutMs: 5000,
      validateOnly: false,
    })
    const codes = r.topics.map(x => x.errorCode)
    t.same(codes.slice(0, 4), [0, KafkaErrorCode.TOPIC_ALREADY_EXISTS, KafkaErrorCode.INVALID_REPLICATION_FACTOR, KafkaErrorCode.INVALID_CONFIG], `v${v}: created, exists, replication factor, unknown config`)
    const info = broker.topics.info(`ct-${v}`)!
    t.same([info.partitions, info.config.retentionMs, info.config.cleanupPolicy], [3, 3600000, 'compact'], `v${v}: as asked`)
    t.notOk(broker.topics.exists(`ct-cfg-${v}`), `v${v}: a topic with an unsupported config is not created`)
    if (v >= 1) t.match(r.topics[3]!.errorMessage, /min\.insync\.replicas.*not supported/, `v${v}: the message names it`)
    if (v >= 4) t.equal(broker.topics.partitionCount(`ct-default-${v}`), 2, `v${v}: -1 partitions is the broker default`)
    if (v >= 5) {
      t.same([r.topics[0]!.numPartitions, r.topics[0]!.replicationFactor], [3, 1], `v${v}: answered with the topic`)
      t.same(r.topics[0]!.configs?.find(x => x.name === 'retention.ms'), { name: 'retention.ms', value: '3600000', readOnly: false, configSource: 1, isSensitive: false }, `v${v}: and its configs`)
    }
    if (v >= 1) {
      const dry = await c.call('CreateTopics', v, { topics: [{ name: `ct-dry-${v}`, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: true })
      t.equal(dry.topics[0]!.errorCode, 0, `v${v}: validate_only passes`)
      t.notOk(broker.topics.exists(`ct-dry-${v}`), `v${v}: and creates nothing`)
    }
  }
  for (let v = 0; v <= 6; v++) {
    const body = v >= 6
      ? { topics: [{ name: `ct-${v}` }, { name: 'ct-none' }, { name: null, topicId: '0123456789abcdef0123456789abcdef' }], timeoutMs: 5000 }
      : { topicNames: [`ct-${v}`, 'ct-none'], timeoutMs: 5000 }
    const r = await c.call('DeleteTopics', v, body)
    t.same(r.responses.map(x => x.errorCode), [0, KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ...(v >= 6 ? [KafkaErrorCode.UNKNOWN_TOPIC_ID] : [])], `DeleteTopics v${v}`)
    t.notOk(broker.topics.exists(`ct-${v}`), `DeleteTopics v${v}: gone`)
  }
  const internal = await c.call('DeleteTopics', 4, { topicNames: ['__consumer_offsets'], timeoutMs: 5000 })
  t.equal(internal.responses[0]!.errorCode, KafkaErrorCode.INVALID_TOPIC_EXCEPTION, 'internal topics cannot be deleted')
})

t.test('CreatePartitions v0-3, DeleteRecords v0-2', async t => {
  const broker = await startBroker(t)
  const c = await raw(t, broker)
  await c.call('CreateTopics', 4, { topics: [{ name: 'grow', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 })
  for (let v = 0; v <= 3; v++) {
    const r = await c.call('CreatePartitions', v, { topics: [{ name: 'grow', count: v + 2, assignments: null }, { name: 'grow-none', count: 2, assignments: null }], timeoutMs: 5000, validateOnly: false })
    t.same(r.results.map(x => x.errorCode), [0, KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION], `CreatePartitions v${v}`)
    t.equal(broker.topics.partitionCount('grow'), v + 2, `v${v}: ${v + 2} partitions`)
  }
  const meta = await c.call('Metadata', 9, { topics: [{ name: 'grow' }] })
  t.equal(meta.topics[0]!.partitions.length, 5, 'Metadata shows them')
  const produce = await c.call('Produce', 7, { acks: 1, timeoutMs: 5000, topicData: [{ name: 'grow', partitionData: [{ index: 4, records: encodeBatch([{ value: new Uint8Array([1]) }]) }] }] })
  t.equal(produce.responses[0]!.partitionResponses[0]!.errorCode, 0, 'a new partition takes records')
  const shrink = await c.call('CreatePartitions', 3, { topics: [{ name: 'grow', count: 3, assignments: null }], timeoutMs: 5000, validateOnly: false })
  t.equal(shrink.results[0]!.errorCode, KafkaErrorCode.INVALID_PARTITIONS, 'partitions are never removed')
  const dry = await c.call('CreatePartitions', 3, { topics: [{ name: 'grow', count: 9, assignments: null }], timeoutMs: 5000, validateOnly: true })
  t.same([dry.results[0]!.errorCode, broker.topics.partitionCount('grow')], [0, 5], 'validate_only changes nothing')

  for (let i = 0; i < 10; i++) {
    await c.call('Produce', 7, { acks: 1, timeoutMs: 5000, topicData: [{ name: 'grow', partitionData: [{ index: 0, records: encodeBatch([{ value: new Uint8Array([i]) }]) }] }] })
  }
  for (let v = 0; v <= 2; v++) {
    const r = await c.call('DeleteRecords', v, { topics: [{ name: 'grow', partitions: [{ partitionIndex: 0, offset: 3 * (v + 1) }, { partitionIndex: 9, offset: 1 }] }], timeoutMs: 5000 })
    t.same(r.topics[0]!.partitions.map(p => [p.errorCode, p.lowWatermark]), [[0, 3 * (v + 1)], [KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1]], `DeleteRecords v${v}`)
    t.equal(broker.logs.partition('grow', 0).logStartOffset, 3 * (v + 1), `v${v}: the log start offset moved`)
  }
  const all = await c.call('DeleteRecords', 2, { topics: [{ name: 'grow', partitions: [{ partitionIndex: 0, offset: -1 }] }], timeoutMs: 5000 })
  t.equal(all.topics[0]!.partitions[0]!.lowWatermark, 10, 'offset -1: up to the high watermark')
  const beyond = await c.call('DeleteRecords', 2, { topics: [{ name: 'grow', partitions: [{ partitionIndex: 0, offset: 99 }] }], timeoutMs: 5000 })
  t.equal(beyond.topics[0]!.partitions[0]!.errorCode, KafkaErrorCode.OFFSET_OUT_OF_RANGE, 'past the high watermark: OFFSET_OUT_OF_RANGE')
  const f = await c.call('Fetch', 11, { maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 0, topics: [{ topic: 'grow', partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }] })
  t.equal(f.responses[0]!.partitions[0]!.errorCode, KafkaErrorCode.OFFSET_OUT_OF_RANGE, 'a fetch below the new start is out of range')
})

t.test('DescribeConfigs v0-2, AlterConfigs v0-2, IncrementalAlterConfigs v0-1', async t => {
  const broker = await startBroker(t, { retentionMs: 86_400_000 })
  const c = await raw(t, broker)
  await c.call('CreateTopics', 4, { topics: [{ name: 'cfg', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [{ name: 'segment.bytes', value: '1048576' }] }], timeoutMs: 5000 })
  for (let v = 0; v <= 2; v++) {
    const r = await c.call('DescribeConfigs', v, { resources: [{ resourceType: 2, resourceName: 'cfg', configurationKeys: null }, { resourceType: 4, resourceName: String(broker.config.nodeId), configurationKeys: ['num.partitions'] }, { resourceType: 2, resourceName: 'nope', configurationKeys: null }], includeSynonyms: true })
    const [topic, node, missing] = r.results
    const byName = new Map(topic!.configs.map(x => [x.name, x]))
    t.equal(byName.get('segment.bytes')?.value, '1048576', `v${v}: the topic's override`)
    t.equal(byName.get('retention.ms')?.value, '86400000', `v${v}: the broker's default`)
    if (v === 0) t.same([byName.get('segment.bytes')?.isDefault, byName.get('retention.ms')?.isDefault], [false, true], 'v0: is_default')
    else t.same([byName.get('segment.bytes')?.configSource, byName.get('retention.ms')?.configSource], [1, 5], `v${v}: config sources`)
    if (v >= 1) t.equal(byName.get('segment.bytes')?.synonyms.length, 1, `v${v}: synonyms when asked`)
    t.same(node!.configs.map(x => [x.name, x.value, x.readOnly]), [['num.partitions', '1', true]], `v${v}: broker configs, read-only`)
    t.equal(missing!.errorCode, KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `v${v}: a missing topic`)
  }
  for (let v = 0; v <= 2; v++) {
    const r = await c.call('AlterConfigs', v, { resources: [{ resourceType: 2, resourceName: 'cfg', configs: [{ name: 'retention.ms', value: String(1000 + v) }] }, { resourceType: 4, resourceName: '0', configs: [{ name: 'num.partitions', value: '3' }] }], validateOnly: false })
    t.same(r.responses.map(x => x.errorCode), [0, KafkaErrorCode.INVALID_REQUEST], `AlterConfigs v${v}: topic altered, broker refused`)
    const config = broker.topics.info('cfg')!.config
    t.same([config.retentionMs, config.segmentBytes], [1000 + v, broker.config.segmentBytes], `AlterConfigs v${v}: replaces the whole config (segment.bytes back to its default)`)
  }
  const invalid = await c.call('AlterConfigs', 1, { resources: [{ resourceType: 2, resourceName: 'cfg', configs: [{ name: 'retention.ms', value: 'soon' }] }], validateOnly: false })
  t.equal(invalid.responses[0]!.errorCode, KafkaErrorCode.INVALID_CONFIG, 'a value that is not a number')
  for (let v = 0; v <= 1; v++) {
    const set = await c.call('IncrementalAlterConfigs', v, { resources: [{ resourceType: 2, resourceName: 'cfg', configs: [{ name: 'segment.bytes', configOperation: 0, value: '2097152' }] }], validateOnly: false })
    t.equal(set.responses[0]!.errorCode, 0, `IncrementalAlterConfigs v${v}: SET`)
    t.same([broker.topics.info('cfg')!.config.segmentBytes, broker.topics.info('cfg')!.config.retentionMs], [2097152, v === 0 ? 1002 : 86_400_000], `v${v}: only segment.bytes changed`)
    const del = await c.call('IncrementalAlterConfigs', v, { resources: [{ resourceType: 2, resourceName: 'cfg', configs: [{ name: 'retention.ms', configOperation: 1, value: null }] }], validateOnly: false })
    t.equal(del.responses[0]!.errorCode, 0, `v${v}: DELETE`)
    t.equal(broker.topics.info('cfg')!.config.retentionMs, 86_400_000, `v${v}: back to the broker's default`)
    const append = await c.call('IncrementalAlterConfigs', v, { resources: [{ resourceType: 2, resourceName: 'cfg', configs: [{ name: 'cleanup.policy', configOperation: 2, value: 'compact' }] }], validateOnly: false })
    t.equal(append.responses[0]!.errorCode, KafkaErrorCode.INVALID_CONFIG, `v${v}: APPEND has no list to append to`)
  }
  const dry = await c.call('IncrementalAlterConfigs', 1, { resources: [{ resourceType: 2, resourceName: 'cfg', configs: [{ name: 'retention.ms', configOperation: 0, value: '5' }] }], validateOnly: true })
  t.same([dry.responses[0]!.errorCode, broker.topics.info('cfg')!.config.retentionMs], [0, 86_400_000], 'validate_only changes nothing')
})

t.test('kafkajs admin: create, partitions, configs, records, cluster, offsets, delete', async t => {
  const broker = await startBroker(t)
  const kafka = new Kafka({ clientId: 'kafkajs-admin', brokers: [`127.0.0.1:${broker.ports.kafka}`], logLevel: logLevel.NOTHING, retry: { retries: 2 } })
  const admin = kafka.admin()
  await admin.connect()
  t.teardown(() => admin.disconnect())
  t.equal(await admin.createTopics({ topics: [{ topic: 'kja', numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] }), true, 'createTopics')
  t.same([broker.topics.partitionCount('kja'), broker.topics.info('kja')!.config.retentionMs], [2, 3600000])
  await admin.createPartitions({ topicPartitions: [{ topic: 'kja', count: 4 }] })
  t.equal(broker.topics.partitionCount('kja'), 4, 'createPartitions')
  const described = await admin.describeConfigs({ resources: [{ type: 2, name: 'kja' }], includeSynonyms: false })
  t.equal(described.resources[0]!.configEntries.find(e => e.configName === 'retention.ms')?.configValue, '3600000', 'describeConfigs')
  await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: 'kja', configEntries: [{ name: 'retention.ms', value: '7200000' }] }] })
  t.equal(broker.topics.info('kja')!.config.retentionMs, 7200000, 'alterConfigs')
  const cluster = await admin.describeCluster()
  t.same([cluster.clusterId, cluster.controller, cluster.brokers.map(b => b.nodeId)], [broker.config.clusterId, 0, [0]], 'describeCluster')
  t.same(await admin.listTopics(), ['kja'], 'listTopics leaves internal topics out')
  const producer = kafka.producer()
  await producer.connect()
  t.teardown(() => producer.disconnect())
  await producer.send({ topic: 'kja', messages: Array.from({ length: 10 }, (_, i) => ({ value: `m${i}`, partition: 1 })) })
  const offsets = await admin.fetchTopicOffsets('kja')
  t.same(offsets.map(o => [o.partition, o.low, o.high]).sort(), [[0, '0', '0'], [1, '0', '10'], [2, '0', '0'], [3, '0', '0']], 'fetchTopicOffsets')
  await admin.deleteTopicRecords({ topic: 'kja', partitions: [{ partition: 1, offset: '4' }] })
  t.equal(broker.logs.partition('kja', 1).logStartOffset, 4, 'deleteTopicRecords')
  const byTime = await admin.fetchTopicOffsetsByTimestamp('kja', Date.now() + 60_000)
  t.same(byTime.find(o => o.partition === 1)?.offset, '10', 'fetchTopicOffsetsByTimestamp: after the last record, the end')
  await admin.deleteTopics({ topics: ['kja'] })
  t.notOk(broker.topics.exists('kja'), 'deleteTopics')
})

const CONFLUENT_ADMIN = String.raw`
import sys, json
from confluent_kafka.admin import AdminClient, NewTopic, NewPartitions, ConfigResource
a = AdminClient({'bootstrap.servers': sys.argv[1], 'client.id': 'confluent-admin'})
out = {}
def wait(fs):
    r = {}
    for k, f in fs.items():
        try:
            f.result(15); r[str(k)] = 'ok'
        except Exception as e:
            r[str(k)] = str(e)
    return r
out['create'] = wait(a.create_topics([NewTopic('cka', num_partitions=2, replication_factor=1, config={'retention.ms': '3600000'}), NewTopic('cka-bad', num_partitions=1, replication_factor=1, config={'compression.type': 'zstd'})], request_timeout=15))
out['partitions'] = wait(a.create_partitions([NewPartitions('cka', 3)], request_timeout=15))
res = a.describe_configs([ConfigResource('topic', 'cka')], request_timeout=15)
for k, f in res.items():
    out['retention'] = f.result(15)['retention.ms'].value
out['alter'] = wait(a.alter_configs([ConfigResource('topic', 'cka', set_config={'retention.ms': '7200000'})], request_timeout=15))
md = a.list_topics(timeout=15)
out['topics'] = sorted(md.topics.keys())
out['brokers'] = [b.id for b in md.brokers.values()]
out['delete'] = wait(a.delete_topics(['cka'], request_timeout=15))
print(json.dumps(out))
`

t.test('confluent-kafka-python admin: create and delete topics, partitions, configs', async t => {
  const broker = await startBroker(t)
  const r = await runProgram(t, PYTHON, ['-c', CONFLUENT_ADMIN, `127.0.0.1:${broker.ports.kafka}`], { timeoutMs: 90_000 })
  t.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>
  t.same(out.create, { cka: 'ok', 'cka-bad': out.create && (out.create as Record<string, string>)['cka-bad'] }, 'cka created')
  t.match((out.create as Record<string, string>)['cka-bad'], /compression\.type.*not supported/, 'an unsupported config is refused, named')
  t.same(out.partitions, { cka: 'ok' })
  t.equal(out.retention, '3600000', 'describe_configs')
  t.same(out.alter, { "ConfigResource(Type.TOPIC,cka)": 'ok' }, 'alter_configs')
  t.same(out.topics, ['cka'], 'list_topics')
  t.same(out.brokers, [0])
  t.same(out.delete, { cka: 'ok' })
  t.notOk(broker.topics.exists('cka'), 'deleted in the broker')
})
