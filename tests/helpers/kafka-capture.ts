/**
 * Captures the Kafka golden fixtures under tests/fixtures/kafka/ from real clients.
 *
 *   npx tsc -p . && node dist/tests/helpers/kafka-capture.js [outDir]
 *
 * Each client runs produce, consume, consumer-group, SASL and admin flows (as far as it has
 * them) against KafkaResponder, which advertises Spool's ApiVersions ranges, so the frames
 * are what that client will send to Spool's Kafka listener. kcat and kafkajs also run
 * through RecordingProxy against librdkafka's mock cluster, for real server responses.
 * Every child process is spawned in its own process group and killed when it overruns or
 * when this program ends. Not part of `npm test`: the fixtures it writes are committed.
 */

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { Admin, Consumer, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka'
import { apiKeyName } from '../../protocol/kafka/index.js'
import { KafkaResponder, RecordingProxy } from './kafka-capture-server.js'
import type { CapturedFrame } from './kafka-capture-server.js'

const PYTHON = '/usr/bin/python3'
const children = new Set<number>()
process.on('exit', () => { for (const pid of children) try { process.kill(-pid, 'SIGKILL') } catch {} })

interface RunResult { code: number | string, stdout: string, stderr: string }

/** Runs a program in its own process group; killed after `timeoutMs`. */
function run (cmd: string, args: string[], options: { input?: string, timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise(resolve => {
    const child = spawn(cmd, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'] })
    children.add(child.pid!)
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', d => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', d => { stderr += d })
    const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL') } catch {} }, options.timeoutMs ?? 20_000)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      children.delete(child.pid!)
      resolve({ code: code ?? signal ?? -1, stdout, stderr })
    })
    child.stdin.end(options.input ?? '')
  })
}

function check (what: string, result: RunResult): void {
  console.log(`${what}: exit ${result.code}${result.code === 0 ? '' : `\n${result.stderr.slice(-2000)}`}`)
}

async function bounded<T> (what: string, p: Promise<T>, ms = 20_000): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('timed out')), ms) })])
  } catch (err) {
    console.log(`${what}: ${(err as Error).message}`)
    return undefined
  } finally {
    clearTimeout(timer)
  }
}

const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')

/** Writes one fixture file, keeping at most 3 distinct frames per scenario, direction, api and version. */
function writeFixture (outDir: string, file: string, client: string, server: string, frames: CapturedFrame[]): void {
  const seen = new Set<string>()
  const count = new Map<string, number>()
  const kept = []
  for (const f of frames) {
    const group = `${f.scenario}/${f.direction}/${f.apiKey}/${f.apiVersion}`
    const hex = toHex(f.bytes)
    const body = f.direction === 'request' ? hex.slice(0, 8) + hex.slice(16) : hex.slice(8)
    if (seen.has(group + body) || (count.get(group) ?? 0) >= 3) continue
    seen.add(group + body)
    count.set(group, (count.get(group) ?? 0) + 1)
    kept.push({ scenario: f.scenario, direction: f.direction, api: apiKeyName(f.apiKey), apiKey: f.apiKey, apiVersion: f.apiVersion, correlationId: f.correlationId, hex })
  }
  fs.writeFileSync(path.join(outDir, file), JSON.stringify({ client, server, frames: kept }, null, 1) + '\n')
  console.log(`${file}: ${kept.length} frames`)
}

const RESPONDER = 'KafkaResponder (tests/helpers/kafka-capture-server.ts), advertising Spool\'s ApiVersions ranges'

async function captureKcat (outDir: string): Promise<void> {
  const r = new KafkaResponder()
  const b = `127.0.0.1:${await r.listen()}`
  const topic = 'golden-kcat'
  r.scenario = 'metadata'
  check('kcat -L', await run('kcat', ['-b', b, '-L', '-t', topic]))
  r.scenario = 'produce'
  check('kcat -P', await run('kcat', ['-b', b, '-P', '-t', topic, '-K:', '-X', 'enable.idempotence=true', '-X', 'compression.codec=none'], { input: 'k1:golden-kcat-1\nk2:golden-kcat-2\n' }))
  r.scenario = 'consume'
  check('kcat -C', await run('kcat', ['-b', b, '-C', '-t', topic, '-o', 'beginning', '-c', '2', '-e', '-f', '%k=%s\n']))
  r.scenario = 'group'
  check('kcat -G', await run('kcat', ['-b', b, '-G', 'golden-kcat-group', '-o', 'beginning', '-c', '2', '-f', '%k=%s\n', topic]))
  r.scenario = 'sasl'
  check('kcat SASL', await run('kcat', ['-b', b, '-L', '-t', topic, '-X', 'security.protocol=SASL_PLAINTEXT', '-X', 'sasl.mechanisms=PLAIN', '-X', 'sasl.username=golden-user', '-X', 'sasl.password=golden-pass']))
  await r.close()
  writeFixture(outDir, 'kcat.json', 'kcat 1.7.1 (librdkafka 2.0.2)', RESPONDER, r.frames)
}

const CONFLUENT_SCRIPT = String.raw`
import sys
from confluent_kafka import Producer, Consumer
from confluent_kafka.admin import AdminClient, NewTopic, NewPartitions, ConfigResource
b = sys.argv[1]
a = AdminClient({'bootstrap.servers': b, 'client.id': 'golden-confluent-admin'})
def wait(fs):
    for k, f in fs.items():
        try: f.result(10)
        except Exception as e: print('admin', k, e, file=sys.stderr)
wait(a.create_topics([NewTopic('golden-confluent', num_partitions=2, replication_factor=1, config={'retention.ms': '3600000'})], request_timeout=10))
wait(a.create_partitions([NewPartitions('golden-confluent', 3)], request_timeout=10))
wait(a.describe_configs([ConfigResource('topic', 'golden-confluent')], request_timeout=10))
wait(a.alter_configs([ConfigResource('topic', 'golden-confluent', set_config={'retention.ms': '7200000'})], request_timeout=10))
p = Producer({'bootstrap.servers': b, 'client.id': 'golden-confluent-producer', 'linger.ms': 0})
p.produce('golden-confluent', key=b'ck', value=b'golden-confluent-1', partition=0)
p.flush(10)
c = Consumer({'bootstrap.servers': b, 'group.id': 'golden-confluent-group', 'client.id': 'golden-confluent-consumer', 'auto.offset.reset': 'earliest'})
c.subscribe(['golden-confluent'])
got = 0
for _ in range(40):
    m = c.poll(0.5)
    if m is not None and not m.error():
        got += 1; c.commit(m, asynchronous=False); break
c.close()
try: a.list_groups(timeout=10)
except Exception as e: print('list_groups', e, file=sys.stderr)
wait(a.delete_topics(['golden-confluent'], request_timeout=10))
print('consumed', got)
`

async function captureConfluent (outDir: string): Promise<void> {
  const r = new KafkaResponder()
  const b = `127.0.0.1:${await r.listen()}`
  r.scenario = 'admin-produce-group'
  check('confluent-kafka-python', await run(PYTHON, ['-c', CONFLUENT_SCRIPT, b], { timeoutMs: 60_000 }))
  await r.close()
  writeFixture(outDir, 'confluent-kafka-python.json', 'confluent-kafka-python 1.7.0 (librdkafka 2.0.2)', RESPONDER, r.frames)
}

const KAFKA_PYTHON_SCRIPT = String.raw`
import sys
from kafka import KafkaProducer, KafkaConsumer, KafkaAdminClient
from kafka.admin import NewTopic, NewPartitions, ConfigResource, ConfigResourceType
b = sys.argv[1]
a = KafkaAdminClient(bootstrap_servers=b, client_id='golden-kp-admin')
a.create_topics([NewTopic('golden-kp', 1, 1)])
a.create_partitions({'golden-kp': NewPartitions(2)})
a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, 'golden-kp')])
p = KafkaProducer(bootstrap_servers=b, client_id='golden-kp-producer')
p.send('golden-kp', key=b'pk', value=b'golden-kp-1', partition=0).get(10)
p.close()
c = KafkaConsumer('golden-kp', bootstrap_servers=b, group_id='golden-kp-group', client_id='golden-kp-consumer', auto_offset_reset='earliest', consumer_timeout_ms=8000)
for m in c:
    c.commit(); break
c.close()
print(a.list_consumer_groups())
a.describe_consumer_groups(['golden-kp-group'])
a.list_consumer_group_offsets('golden-kp-group')
a.delete_topics(['golden-kp'])
a.close()
`

async function captureKafkaPython (outDir: string): Promise<void> {
  const r = new KafkaResponder()
  const b = `127.0.0.1:${await r.listen()}`
  r.scenario = 'admin-produce-group'
  check('kafka-python', await run(PYTHON, ['-c', KAFKA_PYTHON_SCRIPT, b], { timeoutMs: 60_000 }))
  await r.close()
  writeFixture(outDir, 'kafka-python.json', 'kafka-python 2.0.2', RESPONDER, r.frames)
}

async function kafkajsFlows (broker: string, topic: string, setScenario: (s: string) => void, admin: boolean): Promise<void> {
  const kafka = new Kafka({ clientId: 'golden-kafkajs', brokers: [broker], logLevel: logLevel.NOTHING, retry: { retries: 2 } })
  if (admin) {
    setScenario('admin')
    const a = kafka.admin()
    await a.connect()
    await bounded('kafkajs createTopics', a.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] }))
    await bounded('kafkajs createPartitions', a.createPartitions({ topicPartitions: [{ topic, count: 2 }] }))
    await bounded('kafkajs describeConfigs', a.describeConfigs({ resources: [{ type: 2, name: topic }], includeSynonyms: false }))
    await bounded('kafkajs alterConfigs', a.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: topic, configEntries: [{ name: 'retention.ms', value: '7200000' }] }] }))
    await bounded('kafkajs describeCluster', a.describeCluster())
    await bounded('kafkajs createAcls', a.createAcls({ acl: [{ resourceType: 2, resourceName: topic, resourcePatternType: 3, principal: 'User:golden', host: '*', operation: 3, permissionType: 3 }] }))
    await bounded('kafkajs describeAcls', a.describeAcls({ resourceType: 1, resourcePatternType: 1, operation: 1, permissionType: 1 }))
    await bounded('kafkajs deleteAcls', a.deleteAcls({ filters: [{ resourceType: 2, resourceName: topic, resourcePatternType: 3, operation: 3, permissionType: 3 }] }))
    await a.disconnect()
  }
  setScenario('produce')
  const p = kafka.producer({ idempotent: admin })
  await p.connect()
  await bounded('kafkajs send', p.send({ topic, acks: -1, messages: [{ key: 'jk', value: 'golden-kafkajs-1', partition: 0, headers: { h: 'v' } }] }))
  await p.disconnect()
  setScenario('group')
  const c = kafka.consumer({ groupId: `${topic}-group`, maxWaitTimeInMs: 200 })
  await c.connect()
  await c.subscribe({ topics: [topic], fromBeginning: true })
  let got = 0
  await c.run({ eachMessage: async () => { got++ } })
  for (let i = 0; i < 100 && got === 0; i++) await new Promise(resolve => setTimeout(resolve, 100))
  await c.disconnect()
  console.log(`kafkajs consumed ${got}`)
  if (admin) {
    setScenario('admin')
    const a = kafka.admin()
    await a.connect()
    await bounded('kafkajs listGroups', a.listGroups())
    await bounded('kafkajs describeGroups', a.describeGroups([`${topic}-group`]))
    await bounded('kafkajs fetchOffsets', a.fetchOffsets({ groupId: `${topic}-group`, topics: [topic] }))
    await bounded('kafkajs deleteTopicRecords', a.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '1' }] }))
    await bounded('kafkajs deleteGroups', a.deleteGroups([`${topic}-group`]))
    await bounded('kafkajs deleteTopics', a.deleteTopics({ topics: [topic] }))
    await a.disconnect()
  }
}

async function captureKafkajs (outDir: string): Promise<void> {
  const r = new KafkaResponder()
  const b = `127.0.0.1:${await r.listen()}`
  await bounded('kafkajs flows', kafkajsFlows(b, 'golden-kafkajs', s => { r.scenario = s }, true), 90_000)
  r.scenario = 'sasl'
  const sasl = new Kafka({ clientId: 'golden-kafkajs-sasl', brokers: [b], logLevel: logLevel.NOTHING, sasl: { mechanism: 'plain', username: 'golden-user', password: 'golden-pass' } })
  const a = sasl.admin()
  await bounded('kafkajs sasl', a.connect().then(() => a.listTopics()).then(() => a.disconnect()))
  await r.close()
  writeFixture(outDir, 'kafkajs.json', 'kafkajs 2.2.4', RESPONDER, r.frames)
}

async function capturePlatformatic (outDir: string): Promise<void> {
  const r = new KafkaResponder()
  const b = `127.0.0.1:${await r.listen()}`
  const topic = 'golden-platformatic'
  const base = { bootstrapBrokers: [b], retries: 1 }
  r.scenario = 'admin'
  const admin = new Admin({ ...base, clientId: 'golden-platformatic-admin' })
  await bounded('plat createTopics', admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 }))
  await bounded('plat createPartitions', admin.createPartitions({ topics: [{ name: topic, count: 2 }] }))
  await bounded('plat describeConfigs', admin.describeConfigs({ resources: [{ resourceType: 2, resourceName: topic }] }))
  await bounded('plat alterConfigs', admin.alterConfigs({ resources: [{ resourceType: 2, resourceName: topic, configs: [{ name: 'retention.ms', value: '7200000' }] }] }))
  await bounded('plat incrementalAlterConfigs', admin.incrementalAlterConfigs({ resources: [{ resourceType: 2, resourceName: topic, configs: [{ name: 'retention.ms', configOperation: 0, value: '3600000' }] }] }))
  await bounded('plat createAcls', admin.createAcls({ creations: [{ resourceType: 2, resourceName: topic, resourcePatternType: 3, principal: 'User:golden', host: '*', operation: 3, permissionType: 3 }] }))
  await bounded('plat describeAcls', admin.describeAcls({ filter: { resourceType: 1, resourceName: null, resourcePatternType: 1, principal: null, host: null, operation: 1, permissionType: 1 } }))
  await bounded('plat deleteAcls', admin.deleteAcls({ filters: [{ resourceType: 2, resourceName: topic, resourcePatternType: 3, principal: null, host: null, operation: 1, permissionType: 1 }] }))
  await bounded('plat describeClientQuotas', admin.describeClientQuotas({ components: [{ entityType: 'client-id', matchType: 2 }] }))
  await bounded('plat alterClientQuotas', admin.alterClientQuotas({ entries: [{ entities: [{ entityType: 'client-id', entityName: 'golden' }], ops: [{ key: 'producer_byte_rate', value: 1024, remove: false }] }] }))
  r.scenario = 'produce'
  const producer = new Producer({ ...base, clientId: 'golden-platformatic-producer', serializers: stringSerializers, idempotent: true })
  await bounded('plat send', producer.send({ messages: [{ topic, key: 'pk', value: 'golden-platformatic-1', partition: 0 }] }))
  await bounded('plat producer close', producer.close())
  r.scenario = 'group'
  const consumer = new Consumer({ ...base, clientId: 'golden-platformatic-consumer', groupId: `${topic}-group`, deserializers: stringDeserializers, maxWaitTime: 200 })
  const stream = await bounded('plat consume', consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false }))
  if (stream !== undefined) {
    await bounded('plat first message', new Promise<void>(resolve => stream.once('data', (m: { commit: () => unknown }) => { void Promise.resolve(m.commit()).then(() => resolve()) })), 15_000)
    await bounded('plat stream close', new Promise<void>(resolve => { stream.close(() => resolve()) }))
  }
  await bounded('plat consumer close', new Promise<void>(resolve => { consumer.close(true, () => resolve()) }))
  r.scenario = 'admin'
  await bounded('plat listGroups', admin.listGroups())
  await bounded('plat describeGroups', admin.describeGroups({ groups: [`${topic}-group`] }))
  await bounded('plat listConsumerGroupOffsets', admin.listConsumerGroupOffsets({ groups: [`${topic}-group`] }))
  await bounded('plat alterConsumerGroupOffsets', admin.alterConsumerGroupOffsets({ groupId: `${topic}-group`, topics: [{ name: topic, partitionOffsets: [{ partition: 0, offset: 1n }] }] }))
  await bounded('plat deleteConsumerGroupOffsets', admin.deleteConsumerGroupOffsets({ groupId: `${topic}-group`, topics: [{ name: topic, partitionIndexes: [0] }] }))
  await bounded('plat deleteGroups', admin.deleteGroups({ groups: [`${topic}-group`] }))
  await bounded('plat deleteTopics', admin.deleteTopics({ topics: [topic] }))
  await bounded('plat admin close', admin.close())
  r.scenario = 'sasl'
  const sasl = new Admin({ ...base, clientId: 'golden-platformatic-sasl', sasl: { mechanism: 'PLAIN', username: 'golden-user', password: 'golden-pass' } })
  await bounded('plat sasl', sasl.listTopics())
  await bounded('plat sasl close', sasl.close())
  await r.close()
  writeFixture(outDir, 'platformatic-kafka.json', '@platformatic/kafka 1.35.0', RESPONDER, r.frames)
}

/** Starts librdkafka's mock cluster (kept up by a kcat consumer) and returns its address. */
async function startMock (): Promise<{ host: string, port: number, stop: () => void }> {
  const child = spawn('kcat', ['-b', '127.0.0.1:1', '-X', 'test.mock.num.brokers=1', '-d', 'mock', '-C', '-t', 'golden-mock-keepalive'], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] })
  children.add(child.pid!)
  const stop = (): void => { try { process.kill(-child.pid!, 'SIGKILL') } catch {} }
  let log = ''
  const address = await bounded('mock cluster', new Promise<string>((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', d => {
      log += d
      const m = /bootstrap\.servers=(127\.0\.0\.1:\d+)/.exec(log)
      if (m) resolve(m[1]!)
    })
    child.on('exit', () => reject(new Error('mock kcat exited')))
  }), 10_000)
  if (address === undefined) {
    stop()
    throw new Error('mock cluster did not start')
  }
  const [host, port] = address.split(':')
  return { host: host!, port: Number(port), stop }
}

async function captureMock (outDir: string): Promise<void> {
  const mock = await startMock()
  try {
    const kcatProxy = new RecordingProxy(mock.host, mock.port)
    const b = `127.0.0.1:${await kcatProxy.listen()}`
    const topic = 'golden-mock-kcat'
    kcatProxy.scenario = 'produce'
    check('kcat -P (mock)', await run('kcat', ['-b', b, '-P', '-t', topic, '-p', '0', '-K:'], { input: 'm1:golden-mock-1\nm2:golden-mock-2\n' }))
    kcatProxy.scenario = 'consume'
    check('kcat -C (mock)', await run('kcat', ['-b', b, '-C', '-t', topic, '-p', '0', '-o', 'beginning', '-c', '2', '-e']))
    kcatProxy.scenario = 'group'
    check('kcat -G (mock)', await run('kcat', ['-b', b, '-G', 'golden-mock-group', '-o', 'beginning', '-c', '2', topic], { timeoutMs: 30_000 }))
    await kcatProxy.close()
    writeFixture(outDir, 'kcat-mock.json', 'kcat 1.7.1 (librdkafka 2.0.2)', 'librdkafka 2.0.2 mock cluster, through RecordingProxy', kcatProxy.frames)

    const jsProxy = new RecordingProxy(mock.host, mock.port)
    const jb = `127.0.0.1:${await jsProxy.listen()}`
    await bounded('kafkajs flows (mock)', kafkajsFlows(jb, 'golden-mock-kafkajs', s => { jsProxy.scenario = s }, false), 60_000)
    await jsProxy.close()
    writeFixture(outDir, 'kafkajs-mock.json', 'kafkajs 2.2.4', 'librdkafka 2.0.2 mock cluster, through RecordingProxy', jsProxy.frames)
  } finally {
    mock.stop()
  }
}

async function main (): Promise<void> {
  const outDir = path.resolve(process.argv[2] ?? 'tests/fixtures/kafka')
  fs.mkdirSync(outDir, { recursive: true })
  const only = process.env.CAPTURE_ONLY?.split(',')
  const steps: Array<[string, (dir: string) => Promise<void>]> = [
    ['kcat', captureKcat], ['confluent', captureConfluent], ['kafka-python', captureKafkaPython],
    ['kafkajs', captureKafkajs], ['platformatic', capturePlatformatic], ['mock', captureMock],
  ]
  for (const [name, step] of steps) {
    if (only !== undefined && !only.includes(name)) continue
    console.log(`--- ${name}`)
    await step(outDir)
  }
}

main().then(() => process.exit(0), err => {
  console.error(err)
  process.exit(1)
})
