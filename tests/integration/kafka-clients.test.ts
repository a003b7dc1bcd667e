// The other Kafka clients, mixed protocols, and a crash, over the Kafka listener:
// - confluent-kafka-python 1.7.0 and kafka-python 2.0.2 (child processes of /usr/bin/python3,
//   bounded): admin create/delete topics, produce, consume in a group with commits, list
//   and describe groups — each checked in the broker's own state;
// - @platformatic/kafka 1.35 (flexible versions, ApiVersions v3): idempotent producer,
//   consumer group, admin;
// - mixed: kafkajs produces, the Spool SDK consumes in a group and commits while a kafkajs
//   group reads the same records; MQTT publishes are read by kcat and kcat's records reach
//   MQTT subscribers; the same keys land on the same partitions from kafkajs, kcat (murmur2),
//   the Spool SDK and the CLI;
// - kill -9 of a `spool broker start` process under a kafkajs idempotent producer and a
//   librdkafka consumer group: both resume on the restarted broker, nothing lost or doubled.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import mqtt from 'mqtt'
import { Admin, Consumer as PlatConsumer, Producer as PlatProducer, stringDeserializers, stringSerializers } from '@platformatic/kafka'
import { Client } from '../../client/index.js'
import { partitionForKey } from '../../protocol/bytes/murmur2.js'
import { decodeBatch, forEachBatch } from '../../protocol/record-batch/records.js'
import { INTERNAL_CALLER } from '../../broker/security/principal.js'
import type { Broker } from '../../broker/broker.js'
import { startBroker } from '../helpers/broker.js'
import { PYTHON, kcat, runProgram, startProgram } from '../helpers/kafka-programs.js'
import { SPOOL_BIN, spawnSpool, waitFor } from '../helpers/processes.js'

const utf8 = new TextEncoder()
const text = new TextDecoder()

/** Every record of a topic as "partition key value", read from storage. */
async function stored (broker: Broker, topic: string): Promise<Array<{ partition: number, key: string | null, value: string }>> {
  const out: Array<{ partition: number, key: string | null, value: string }> = []
  for (let p = 0; p < broker.topics.partitionCount(topic); p++) {
    let offset = 0
    const end = broker.partitions.offsets(topic, p).highWatermark
    for (let i = 0; i < 10_000 && offset < end; i++) {
      const r = await broker.partitions.read(INTERNAL_CALLER, topic, p, offset, 1 << 20, true)
      forEachBatch(r.bytes, pos => {
        const b = decodeBatch(r.bytes, pos)
        for (const rec of b.records) out.push({ partition: p, key: rec.key === null ? null : text.decode(rec.key), value: text.decode(rec.value!) })
        offset = b.header.baseOffset + b.header.lastOffsetDelta + 1
      })
    }
  }
  return out
}

function lastJson (stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>
}

const CONFLUENT = String.raw`
import sys, json
from confluent_kafka import Producer, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
b = sys.argv[1]
a = AdminClient({'bootstrap.servers': b})
for k, f in a.create_topics([NewTopic('py-ck', num_partitions=3, replication_factor=1), NewTopic('py-ck-gone', num_partitions=1, replication_factor=1)], request_timeout=15).items(): f.result(15)
p = Producer({'bootstrap.servers': b, 'enable.idempotence': True, 'partitioner': 'murmur2_random'})
for i in range(300): p.produce('py-ck', key=('k%d' % (i % 17)).encode(), value=('v%d' % i).encode())
p.flush(15)
c = Consumer({'bootstrap.servers': b, 'group.id': 'py-ck-g', 'auto.offset.reset': 'earliest', 'enable.auto.commit': False, 'session.timeout.ms': 6000})
c.subscribe(['py-ck'])
got = set()
for _ in range(400):
    m = c.poll(0.2)
    if m is None or m.error(): continue
    got.add(m.value().decode())
    c.commit(m, asynchronous=False)
    if len(got) >= 300: break
groups = a.list_groups('py-ck-g', timeout=15)
members = [len(g.members) for g in groups]
protocol = [g.protocol for g in groups]
committed = sum(tp.offset for tp in c.committed([TopicPartition('py-ck', i) for i in range(3)], timeout=15))
c.close()
for k, f in a.delete_topics(['py-ck-gone'], request_timeout=15).items(): f.result(15)
print(json.dumps({'consumed': len(got), 'members': members, 'protocol': protocol, 'committed': committed}))
`

const KAFKA_PYTHON = String.raw`
import sys, json
from kafka import KafkaProducer, KafkaConsumer, KafkaAdminClient
from kafka.admin import NewTopic
b = sys.argv[1]
a = KafkaAdminClient(bootstrap_servers=b, client_id='kp-admin')
a.create_topics([NewTopic('py-kp', 2, 1), NewTopic('py-kp-gone', 1, 1)])
p = KafkaProducer(bootstrap_servers=b, client_id='kp-producer')
for i in range(200): p.send('py-kp', key=('k%d' % (i % 13)).encode(), value=('v%d' % i).encode())
p.flush(15); p.close()
c = KafkaConsumer('py-kp', bootstrap_servers=b, group_id='py-kp-g', client_id='kp-consumer', auto_offset_reset='earliest', enable_auto_commit=False, consumer_timeout_ms=15000, session_timeout_ms=6000, heartbeat_interval_ms=1000)
got = set()
for m in c:
    got.add(m.value.decode())
    if len(got) >= 200: break
c.commit()
listed = sorted(g[0] for g in a.list_consumer_groups())
described = a.describe_consumer_groups(['py-kp-g'])
members = len(described[0].members)
state = described[0].state
offsets = sum(v.offset for v in a.list_consumer_group_offsets('py-kp-g').values())
c.close()
a.delete_topics(['py-kp-gone'])
print(json.dumps({'consumed': len(got), 'listed': listed, 'members': members, 'state': state, 'offsets': offsets}))
`

t.test('confluent-kafka-python: admin, idempotent produce, a group with commits, list_groups', async t => {
  const broker = await startBroker(t, { groupInitialRebalanceDelayMs: 200 })
  const r = await runProgram(t, PYTHON, ['-c', CONFLUENT, `127.0.0.1:${broker.ports.kafka}`], { timeoutMs: 90_000 })
  t.equal(r.code, 0, r.stderr.slice(-2000))
  const out = lastJson(r.stdout)
  t.same(out, { consumed: 300, members: [1], protocol: ['range'], committed: 300 }, 'all consumed, the live group listed with its member, every offset committed')
  t.equal(broker.topics.partitionCount('py-ck'), 3, 'the topic it created')
  t.notOk(broker.topics.exists('py-ck-gone'), 'the topic it deleted')
  const records = await stored(broker, 'py-ck')
  t.equal(new Set(records.map(x => x.value)).size, 300, 'stored once each')
  t.equal(records.filter(x => partitionForKey(utf8.encode(x.key!), 3) !== x.partition).length, 0, 'murmur2_random placed keys as Java does')
  t.equal(broker.groups.describeGroups({ groupIds: ['py-ck-g'] }).groups[0]!.totalLag, 0, 'the group has no lag')
})

t.test('kafka-python (fixed old versions): admin, produce, a group with commits, list and describe groups', async t => {
  const broker = await startBroker(t, { groupInitialRebalanceDelayMs: 200 })
  const r = await runProgram(t, PYTHON, ['-c', KAFKA_PYTHON, `127.0.0.1:${broker.ports.kafka}`], { timeoutMs: 90_000 })
  t.equal(r.code, 0, r.stderr.slice(-2000))
  const out = lastJson(r.stdout)
  t.same(out, { consumed: 200, listed: ['py-kp-g'], members: 1, state: 'Stable', offsets: 200 }, 'all consumed and committed; the group listed and described')
  t.notOk(broker.topics.exists('py-kp-gone'), 'deleted')
  t.equal(new Set((await stored(broker, 'py-kp')).map(x => x.value)).size, 200, 'stored once each')
})

t.test('@platformatic/kafka: idempotent producer, consumer group, admin', async t => {
  const broker = await startBroker(t, { groupInitialRebalanceDelayMs: 200 })
  const base = { bootstrapBrokers: [`127.0.0.1:${broker.ports.kafka}`], retries: 2 }
  const admin = new Admin({ ...base, clientId: 'plat-admin' })
  t.teardown(() => admin.close())
  await admin.createTopics({ topics: ['plat'], partitions: 2, replicas: 1 })
  t.equal(broker.topics.partitionCount('plat'), 2, 'createTopics')
  const producer = new PlatProducer({ ...base, clientId: 'plat-producer', serializers: stringSerializers, idempotent: true })
  t.teardown(() => producer.close())
  await producer.send({ messages: Array.from({ length: 100 }, (_, i) => ({ topic: 'plat', key: `k${i % 7}`, value: `v${i}` })) })
  const records = await stored(broker, 'plat')
  t.equal(new Set(records.map(x => x.value)).size, 100, 'produced once each')
  t.equal(records.filter(x => partitionForKey(utf8.encode(x.key!), 2) !== x.partition).length, 0, 'murmur2 placement')
  const consumer = new PlatConsumer({ ...base, clientId: 'plat-consumer', groupId: 'plat-g', deserializers: stringDeserializers, maxWaitTime: 200 })
  t.teardown(() => new Promise<void>(resolve => { consumer.close(true, () => resolve()) }))
  const stream = await consumer.consume({ topics: ['plat'], mode: 'earliest', autocommit: false })
  const got = new Set<string>()
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('platformatic did not read 100 records')), 30_000)
    stream.on('data', (m: { value: string, commit: () => unknown }) => {
      got.add(m.value)
      void Promise.resolve(m.commit()).then(() => {
        if (got.size >= 100) { clearTimeout(timer); resolve() }
      })
    })
  })
  t.equal(got.size, 100, 'the group read everything')
  await waitFor(() => broker.groups.describeGroups({ groupIds: ['plat-g'] }).groups[0]!.totalLag === 0, 10_000, 'its commits')
  const groups = await admin.listGroups()
  t.ok([...groups.values()].some(g => g.id === 'plat-g'), 'listGroups')
  const described = await admin.describeGroups({ groups: ['plat-g'] })
  t.equal([...described.values()][0]?.members.size, 1, 'describeGroups: one member')
  await new Promise<void>(resolve => { stream.close(() => resolve()) })
  await admin.deleteTopics({ topics: ['plat'] })
  t.notOk(broker.topics.exists('plat'), 'deleteTopics')
})

t.test('mixed: kafkajs produces, the Spool SDK consumes in a group and commits, a kafkajs group reads the same', async t => {
  const broker = await startBroker(t, { groupInitialRebalanceDelayMs: 0 })
  await broker.logs.createTopic('mix', { partitions: 3 })
  const kafka = new Kafka({ clientId: 'mix', brokers: [`127.0.0.1:${broker.ports.kafka}`], logLevel: logLevel.NOTHING })
  const producer = kafka.producer()
  await producer.connect()
  t.teardown(() => producer.disconnect())
  const values = Array.from({ length: 150 }, (_, i) => `mixed-${i}`)
  await producer.send({ topic: 'mix', messages: values.map((value, i) => ({ key: `k${i % 11}`, value, headers: { origin: 'kafkajs' } })) })
  const client = new Client({ brokers: [`127.0.0.1:${broker.ports.native}`] })
  t.teardown(() => client.close())
  const sdk = client.consumer({ groupId: 'mix-sdk', fromBeginning: true })
  await sdk.subscribe({ topics: ['mix'] })
  const viaSdk: string[] = []
  const headers = new Set<string>()
  void sdk.run({
    eachMessage: async ({ message: m }) => {
      viaSdk.push(text.decode(m.value!))
      for (const h of m.headers) headers.add(`${h.key}=${h.value === null ? '' : text.decode(h.value)}`)
    },
  })
  await waitFor(() => viaSdk.length >= values.length, 30_000, 'the SDK group')
  await sdk.close()
  t.same(viaSdk.sort(), [...values].sort(), 'the SDK group read every kafkajs record')
  t.same([...headers], ['origin=kafkajs'], 'with its headers')
  t.equal(broker.groups.describeGroups({ groupIds: ['mix-sdk'] }).groups[0]!.totalLag, 0, 'and committed')
  const consumer = kafka.consumer({ groupId: 'mix-kjs', maxWaitTimeInMs: 100 })
  await consumer.connect()
  t.teardown(() => consumer.disconnect())
  await consumer.subscribe({ topics: ['mix'], fromBeginning: true })
  const viaKafkajs: string[] = []
  await consumer.run({ eachMessage: async ({ message }) => { viaKafkajs.push(message.value!.toString()) } })
  await waitFor(() => viaKafkajs.length >= values.length, 30_000, 'the kafkajs group')
  t.same(viaKafkajs.sort(), [...values].sort(), 'a kafkajs group of another id read the same records')
  t.same(broker.groups.listGroups().groups.map(g => g.groupId), ['mix-kjs', 'mix-sdk'], 'both groups side by side')
})

t.test('mixed: MQTT publishes are read by kcat; kcat\'s records reach MQTT subscribers', async t => {
  const broker = await startBroker(t)
  const b = `127.0.0.1:${broker.ports.kafka}`
  const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.ports.mqtt}`, { clientId: 'mqtt-pub', reconnectPeriod: 0 })
  t.teardown(() => publisher.endAsync(true))
  for (let i = 0; i < 5; i++) await publisher.publishAsync(`sensors/room-${i}`, `reading ${i}`, { qos: 1 })
  const read = await kcat(t, b, ['-C', '-t', 'mqtt', '-o', 'beginning', '-c', '5', '-e', '-q', '-f', '%k=%s\n'])
  t.equal(read.code, 0, read.stderr)
  t.same(read.stdout.trim().split('\n').sort(), Array.from({ length: 5 }, (_, i) => `sensors/room-${i}=reading ${i}`), 'kcat reads the MQTT topic as the key, the payload as the value')
  const subscriber = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.ports.mqtt}`, { clientId: 'mqtt-sub', reconnectPeriod: 0 })
  t.teardown(() => subscriber.endAsync(true))
  await subscriber.subscribeAsync('alerts/#', { qos: 1 })
  const got: string[] = []
  subscriber.on('message', (topic, payload) => got.push(`${topic}=${payload.toString()}`))
  const wrote = await kcat(t, b, ['-P', '-t', 'mqtt', '-K', '|'], { input: 'alerts/door|open\nalerts/window|closed\n' })
  t.equal(wrote.code, 0, wrote.stderr)
  await waitFor(() => got.length >= 2, 15_000, 'the MQTT subscriber')
  t.same(got.sort(), ['alerts/door=open', 'alerts/window=closed'], 'kcat records keyed by an MQTT topic reach its subscribers')
})

t.test('keys land on the same partitions from kafkajs, kcat (murmur2), the Spool SDK and the CLI', async t => {
  const broker = await startBroker(t)
  await broker.logs.createTopic('keys', { partitions: 7 })
  const keys = ['21', 'foobar', 'abc', 'key', 'user-42', 'order-9', 'ü']
  const kafka = new Kafka({ clientId: 'keys', brokers: [`127.0.0.1:${broker.ports.kafka}`], logLevel: logLevel.NOTHING })
  const producer = kafka.producer()
  await producer.connect()
  t.teardown(() => producer.disconnect())
  await producer.send({ topic: 'keys', messages: keys.map(key => ({ key, value: 'kafkajs' })) })
  const viaKcat = await kcat(t, `127.0.0.1:${broker.ports.kafka}`, ['-P', '-t', 'keys', '-K', '|', '-X', 'partitioner=murmur2_random'], { input: keys.map(k => `${k}|kcat`).join('\n') + '\n' })
  t.equal(viaKcat.code, 0, viaKcat.stderr)
  const client = new Client({ brokers: [`127.0.0.1:${broker.ports.native}`] })
  t.teardown(() => client.close())
  const sdk = client.producer()
  for (const key of keys) await sdk.send({ topic: 'keys', messages: [{ key, value: 'sdk' }] })
  for (const key of keys) {
    const cli = await runProgram(t, process.execPath, [SPOOL_BIN, 'produce', 'keys', '--key', key], { input: 'cli\n', env: { SPOOL_BROKER: `127.0.0.1:${broker.ports.native}` }, timeoutMs: 30_000 })
    t.equal(cli.code, 0, cli.stderr)
  }
  const records = await stored(broker, 'keys')
  t.equal(records.length, keys.length * 4)
  for (const key of keys) {
    const partitions = new Set(records.filter(r => r.key === key).map(r => r.partition))
    t.same([...partitions], [partitionForKey(utf8.encode(key), 7)], `"${key}": one partition for all four producers, murmur2(key) % 7`)
    t.same(records.filter(r => r.key === key).map(r => r.value).sort(), ['cli', 'kafkajs', 'kcat', 'sdk'])
  }
})

t.test('kill -9 of the broker under a kafkajs idempotent producer and a librdkafka group: both resume, nothing lost or doubled', async t => {
  const dataDir = mkdtempSync(join(tmpdir(), 'spool-kafka-crash-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const start = async (ports: string[]): Promise<{ child: ReturnType<typeof spawnSpool>, ports: Record<string, number> }> => {
    const child = spawnSpool(t, ['broker', 'start', '--data-dir', dataDir, '--mqtt-port', 'off', '--log-level', 'info', '--group-initial-rebalance-delay-ms', '200', ...ports])
    let found: Record<string, number> | null = null
    await waitFor(() => {
      for (const line of child.stdout().split('\n')) if (line.includes('"broker started"')) found = (JSON.parse(line) as { ports: Record<string, number> }).ports
      if (child.child.exitCode !== null) throw new Error(`broker exited: ${child.stderr()}`)
      return found !== null
    }, 20_000, 'the broker to start')
    return { child, ports: found! }
  }
  const first = await start(['--port', '0', '--http-port', '0', '--kafka-port', '0'])
  const { native, http, kafka: kafkaPort } = first.ports as { native: number, http: number, kafka: number }
  const b = `127.0.0.1:${kafkaPort}`
  const kafka = new Kafka({ clientId: 'crash-producer', brokers: [b], logLevel: logLevel.NOTHING, retry: { retries: 60, initialRetryTime: 100, maxRetryTime: 1000 } })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'crash', numPartitions: 1 }] })
  await admin.disconnect()
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  t.teardown(() => producer.disconnect())
  const consumer = startProgram(t, 'kcat', ['-E', '-b', b, '-G', 'crash-g', '-o', 'beginning', '-q', '-u', '-f', '%s\n', '-X', 'session.timeout.ms=30000', '-X', 'heartbeat.interval.ms=500', '-X', 'auto.commit.interval.ms=200', '-X', 'reconnect.backoff.max.ms=500', 'crash'], { timeoutMs: 180_000 })
  const acked: string[] = []
  let stop = false
  const sending = (async () => {
    for (let i = 0; i < 100_000 && !stop; i++) {
      await producer.send({ topic: 'crash', acks: -1, messages: [{ value: `c${i}` }, { value: `c${i}b` }] })
      acked.push(`c${i}`, `c${i}b`)
    }
  })()
  const consumed = (): string[] => consumer.stdout().split('\n').filter(l => l !== '')
  await waitFor(() => acked.length >= 400 && consumed().length >= 200, 60_000, 'traffic before the crash')
  first.child.child.kill('SIGKILL')
  await first.child.exited
  const ackedAtCrash = acked.length
  await new Promise(resolve => setTimeout(resolve, 300))
  const second = await start(['--port', String(native), '--http-port', String(http), '--kafka-port', String(kafkaPort)])
  t.match(second.child.stdout(), /"recoveredUncleanly":true/, 'the restart recovered from the kill')
  await waitFor(() => acked.length >= ackedAtCrash + 400, 60_000, 'the producer to resume')
  stop = true
  await sending
  await waitFor(() => new Set(consumed()).size >= acked.length, 60_000, 'the group to read everything')
  const values = (await (async () => {
    const client = new Client({ brokers: [`127.0.0.1:${native}`] })
    try {
      const c = client.consumer({ fromBeginning: true })
      await c.assign([{ topic: 'crash', partition: 0 }])
      const out: string[] = []
      const end = (await client.admin().describeTopics(['crash']))[0]!.partitions[0]!.highWatermark
      for await (const m of c) {
        out.push(text.decode(m.value!))
        if (m.offset + 1 >= end) break
      }
      await c.close()
      return out
    } finally {
      await client.close()
    }
  })())
  t.equal(values.length, new Set(values).size, `no record stored twice (${values.length} stored)`)
  t.same(acked.filter(v => !values.includes(v)), [], `every acknowledged record is stored (${acked.length} acknowledged)`)
  const seen = consumed()
  t.same(acked.filter(v => !seen.includes(v)), [], 'the librdkafka group read every one, across the crash')
  t.equal(seen.length, new Set(seen).size, 'and none twice: it kept its membership and position through the restart')
  consumer.kill('SIGTERM')
  await consumer.exited
  second.child.child.kill('SIGTERM')
  t.equal(await second.child.exited, 0, 'the restarted broker stops cleanly')
})


t.test('examples/kafka-kafkajs.js and examples/kafka-confluent.py run to their end, twice', async t => {
  const broker = await startBroker(t, { groupInitialRebalanceDelayMs: 200 })
  const address = `127.0.0.1:${broker.ports.kafka}`
  const root = new URL('../../../', import.meta.url)
  for (const round of [1, 2]) {
    const js = await runProgram(t, process.execPath, ['examples/kafka-kafkajs.js', address], { cwd: root.pathname, timeoutMs: 60_000 })
    t.equal(js.code, 0, `kafkajs run ${round}: ${js.stderr}`)
    t.match(js.stdout, /^produced( \d\/\d+)+\n/, `kafkajs run ${round}: produced`)
    // Node >= 24 warns when a timer is given a negative delay, and kafkajs 2.2.4 gives one
    // (its request queue computes "throttled until -1" minus now): that one warning, from
    // kafkajs, is all stderr may hold. The README's Node section says so.
    t.equal(withoutKafkajsTimerWarning(js.stderr), '', `kafkajs run ${round}: nothing else on stderr`)
    t.equal(js.stdout.split('\n').filter(l => l.startsWith('read ')).length, 3, `kafkajs run ${round}: read this run's three`)
    const py = await runProgram(t, join(root.pathname, 'examples/kafka-confluent.py'), [address], { cwd: root.pathname, timeoutMs: 60_000 })
    t.equal(py.code, 0, `confluent run ${round}: ${py.stderr}`)
    t.equal(py.stdout.split('\n').filter(l => l.startsWith('read ')).length, 3, `confluent run ${round}: read this run's three`)
  }
  t.equal(broker.partitions.offsets('kafkajs-demo', 0).highWatermark + broker.partitions.offsets('kafkajs-demo', 1).highWatermark + broker.partitions.offsets('kafkajs-demo', 2).highWatermark, 6, 'six records from two runs')
  const described = broker.groups.describeGroups({ groupIds: ['kafkajs-demo', 'python-demo'] }).groups
  t.same(described.map(g => [g.groupId, g.totalLag]), [['kafkajs-demo', 0], ['python-demo', 0]], 'both groups committed everything they read')
})

/** stderr without Node's TimeoutNegativeWarning (three lines), which kafkajs triggers on Node >= 24. */
function withoutKafkajsTimerWarning (stderr: string): string {
  return stderr
    .replace(/\(node:\d+\) TimeoutNegativeWarning: -?\d+ is a negative number\.\nTimeout duration was set to 1\.\n(\(Use `node --trace-warnings \.\.\.` to show where the warning was created\)\n)?/g, '')
}
