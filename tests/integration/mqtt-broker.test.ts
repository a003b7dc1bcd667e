// The MQTT gateway inside a real broker (storage engine on disk), with Mosquitto's own
// clients (mosquitto_pub/mosquitto_sub, 3.1.1 and 5, spawned with timeouts) and mqtt.js.
// Proves: cross delivery both ways (MQTT publish → record with key = MQTT topic; a record
// produced into `mqtt` with key sensors/x → mosquitto_sub -t 'sensors/#'), wildcard routing
// with Mosquitto clients, MQTT over WebSocket on the HTTP port, gateway metrics, and that
// retained messages and persistent sessions survive a kill -9 of the broker process.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import mqtt from 'mqtt'
import { encodeBatch } from '../../protocol/record-batch/records.js'
import { partitionForKey } from '../../protocol/bytes/murmur2.js'
import { replayTopic } from '../../broker/protocols/mqtt/log-access.js'
import { httpGet, startBroker, tempDir } from '../helpers/broker.js'
import { collect, connectClient, run, sleep } from '../helpers/mqtt.js'
import type { Broker } from '../../broker/broker.js'
import { INTERNAL_CALLER } from '../../broker/security/principal.js'

const enc = new TextEncoder()
const SPOOL = new URL('../../cli/spool.js', import.meta.url).pathname

async function recordsOf (broker: Broker, topic = 'mqtt'): Promise<Array<{ key: string | null, value: string, headers: Record<string, string> }>> {
  const out: Array<{ key: string | null, value: string, headers: Record<string, string> }> = []
  await replayTopic({ topics: broker.topics, partitions: broker.partitions }, topic, r => {
    out.push({
      key: r.key === null ? null : Buffer.from(r.key).toString(),
      value: Buffer.from(r.value ?? []).toString(),
      headers: Object.fromEntries(r.headers.map(h => [h.key, Buffer.from(h.value ?? []).toString()])),
    })
  })
  return out
}

for (const v of ['mqttv311', 'mqttv5'] as const) {
  t.test(`${v}: mosquitto_pub → a record with key = MQTT topic; a produced record → mosquitto_sub`, async t => {
    const broker = await startBroker(t)
    const port = String(broker.ports.mqtt)
    const pub = await run(t, 'mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-V', v, '-q', '1', '-t', 'devices/d1/temp', '-m', '21.5'], { timeoutMs: 10_000 })
    t.equal(pub.code, 0, pub.stderr)
    const records = await recordsOf(broker)
    t.same(records.map(r => [r.key, r.value, r.headers['mqtt.qos']]), [['devices/d1/temp', '21.5', '1']])

    const sub = run(t, 'mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-V', v, '-t', 'sensors/#', '-C', '1', '-v', '-W', '10'], { timeoutMs: 12_000 })
    await sleep(300) // mosquitto_sub subscribes
    const key = enc.encode('sensors/x')
    broker.partitions.append(INTERNAL_CALLER, 'mqtt', partitionForKey(key, broker.logs.topic('mqtt')!.partitions), encodeBatch([{ key, value: enc.encode('from the log') }]))
    const out = await sub
    t.equal(out.code, 0, out.stderr)
    t.equal(out.stdout.trim(), 'sensors/x from the log')
  })

  t.test(`${v}: wildcard routing between mosquitto clients`, async t => {
    const broker = await startBroker(t)
    const port = String(broker.ports.mqtt)
    const sub = run(t, 'mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-V', v, '-t', 'home/+/temp', '-t', 'alerts/#', '-C', '3', '-v', '-q', '1', '-W', '10'], { timeoutMs: 12_000 })
    await sleep(300)
    for (const [topic, msg] of [['home/kitchen/temp', '20'], ['home/kitchen/hum', '40'], ['alerts', 'a0'], ['alerts/fire/1', 'a1']]) {
      const r = await run(t, 'mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-V', v, '-q', '1', '-t', topic!, '-m', msg!], { timeoutMs: 10_000 })
      t.equal(r.code, 0, r.stderr)
    }
    const out = await sub
    t.same(out.stdout.trim().split('\n'), ['home/kitchen/temp 20', 'alerts a0', 'alerts/fire/1 a1'])
  })
}

t.test('control characters never reach a mosquitto subscriber: refused on the way in, skipped or dropped on the way out', async t => {
  const broker = await startBroker(t)
  const port = String(broker.ports.mqtt)
  const sub = run(t, 'mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-V', 'mqttv5', '-t', 'ctl/#', '-C', '2', '-v', '-q', '1', '-F', '%t %p %P', '-W', '10'], { timeoutMs: 12_000 })
  await sleep(300)
  // In: an MQTT client publishing to a topic with U+0001 is disconnected; nothing is stored.
  const bad = await connectClient(t, broker.ports.mqtt!, { protocolVersion: 4, reconnectPeriod: 0 })
  await bad.publishAsync('warm/up', 'creates the log topic', { qos: 1 })
  const closed = new Promise<void>(resolve => bad.once('close', () => resolve()))
  bad.publish('ctl/a\u0001b', 'poison', { qos: 1 })
  await closed
  t.notOk((await recordsOf(broker)).some(r => r.key?.includes('\u0001')), 'the publish was refused, not stored')
  // Out: a record keyed with a control character is not delivered; a header with one is dropped.
  const append = (key: string, value: string, headers: Array<{ key: string, value: Uint8Array }> = []): void => {
    const k = enc.encode(key)
    broker.partitions.append(INTERNAL_CALLER, 'mqtt', partitionForKey(k, broker.logs.topic('mqtt')!.partitions), encodeBatch([{ key: k, value: enc.encode(value), headers }]))
  }
  append('ctl/x\u0002y', 'never')
  append('ctl/h', 'first', [{ key: 'na\u0001me', value: enc.encode('v') }, { key: 'ok', value: enc.encode('fine') }])
  append('ctl/ok', 'second')
  const out = await sub
  t.equal(out.code, 0, out.stderr)
  t.same(out.stdout.trim().split('\n'), ['ctl/h first ok:fine', 'ctl/ok second'], 'the subscriber stayed connected and got the rest')
})

t.test('MQTT over WebSocket at /mqtt on the HTTP port, and gateway metrics', async t => {
  const broker = await startBroker(t)
  const ws = mqtt.connect(`ws://127.0.0.1:${broker.ports.http}/mqtt`, { protocolVersion: 5, reconnectPeriod: 0 })
  t.teardown(() => { ws.end(true) })
  await new Promise<void>((resolve, reject) => { ws.once('connect', () => resolve()); ws.once('error', reject) })
  await ws.subscribeAsync('web/#', { qos: 1 })
  const got = collect(ws, 1)
  const tcp = await connectClient(t, broker.ports.mqtt!)
  await tcp.publishAsync('web/1', 'hello', { qos: 1 })
  t.equal((await got)[0]!.payload, 'hello')
  const metrics = await httpGet(broker, '/metrics')
  t.match(metrics.text, /spool_mqtt_clients 2/)
  t.match(metrics.text, /spool_connections\{protocol="mqtt",transport="ws"\} 1/)
  t.match(metrics.text, /spool_connections\{protocol="mqtt",transport="tcp"\} 1/)
  t.match(metrics.text, /spool_mqtt_messages_in_total 1/)
  t.match(metrics.text, /spool_mqtt_messages_out_total 1/)
  t.match(metrics.text, /spool_topic_records_in_total\{topic="mqtt"\} 1/)
})

/** A broker in its own process; resolves with its ports from the 'broker started' line. */
async function spawnBroker (t: { teardown (fn: () => unknown): void }, dataDir: string): Promise<{ child: ChildProcess, mqttPort: number }> {
  const child = spawn(process.execPath, [SPOOL, 'broker', 'start', '--data-dir', dataDir, '--port', '0', '--http-port', '0', '--mqtt-port', '0', '--kafka-port', 'off'], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let buffered = ''
  const ports = await new Promise<{ mqtt: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`broker did not start: ${buffered}`)), 15_000)
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString()
      for (const line of buffered.split('\n')) {
        if (!line.includes('"broker started"')) continue
        clearTimeout(timer)
        resolve(JSON.parse(line).ports)
      }
    })
    child.once('exit', code => reject(new Error(`broker exited ${code}: ${buffered}`)))
  })
  return { child, mqttPort: ports.mqtt }
}

t.test('kill -9: retained messages and persistent sessions survive an unclean restart', async t => {
  const dataDir = tempDir(t)
  const first = await spawnBroker(t, dataDir)
  const session = { clientId: 'survivor', clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0 }
  const sub = await connectClient(t, first.mqttPort, session)
  await sub.subscribeAsync('fleet/#', { qos: 1 })
  await sub.endAsync()
  const pub = await connectClient(t, first.mqttPort, { protocolVersion: 4 })
  await pub.publishAsync('fleet/status', 'retained-1', { qos: 1, retain: true })
  for (let i = 0; i < 3; i++) await pub.publishAsync(`fleet/job/${i}`, `offline-${i}`, { qos: 1 })
  pub.end(true)
  first.child.kill('SIGKILL')
  await once(first.child, 'exit')

  const second = await spawnBroker(t, dataDir)
  const back = mqtt.connect(`mqtt://127.0.0.1:${second.mqttPort}`, session)
  t.teardown(() => { back.end(true) })
  const got = collect(back, 4, 8000)
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => { back.once('connect', resolve); back.once('error', reject) })
  t.equal(connack.sessionPresent, true, 'the session is still there')
  t.same((await got).map(m => m.payload), ['retained-1', 'offline-0', 'offline-1', 'offline-2'], 'messages published while offline, from the log')
  const late = await connectClient(t, second.mqttPort, { protocolVersion: 4 })
  const gotRetained = collect(late, 1)
  await late.subscribeAsync('fleet/status', { qos: 1 })
  t.equal((await gotRetained)[0]!.payload, 'retained-1', 'the retained message survived')
  late.end(true)
  back.end(true)
  second.child.kill('SIGTERM')
  const [code] = await once(second.child, 'exit')
  t.equal(code, 0, 'clean stop')
})

t.test('records keep coming after the log rolls (many publishes, QoS 0 and 1)', async t => {
  const broker = await startBroker(t, { segmentBytes: 64 * 1024 })
  const sub = await connectClient(t, broker.ports.mqtt!, { protocolVersion: 5 })
  await sub.subscribeAsync('bulk/#', { qos: 1 })
  const got = collect(sub, 2000, 15_000)
  const pub = await connectClient(t, broker.ports.mqtt!, { protocolVersion: 5 })
  for (let i = 0; i < 2000; i++) pub.publish(`bulk/${i % 10}`, Buffer.alloc(100, i % 256), { qos: (i % 2) as 0 | 1 })
  t.equal((await got).length, 2000)
  t.equal((await recordsOf(broker)).length, 2000)
})

t.test('mqttFsyncAcks: QoS 1 and 2 publishes are acknowledged after fsync, in order', async t => {
  const broker = await startBroker(t, { mqttFsyncAcks: true })
  const sub = await connectClient(t, broker.ports.mqtt!, { protocolVersion: 5 })
  await sub.subscribeAsync('durable/#', { qos: 2 })
  const got = collect(sub, 20)
  const pub = await connectClient(t, broker.ports.mqtt!, { protocolVersion: 5 })
  await Promise.all(Array.from({ length: 20 }, (_, i) => pub.publishAsync(`durable/${i % 3}`, String(i), { qos: (1 + (i % 2)) as 1 | 2 })))
  t.same((await got).map(m => Number(m.payload)).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i))
  t.equal((await recordsOf(broker)).length, 20)
})
