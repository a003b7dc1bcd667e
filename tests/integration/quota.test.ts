// Quotas, end to end, set at run time with `spool quota` (the CLI as a child process) on a
// broker with short quota windows (4 × 250 ms, so a throttle is at most 1 s):
// - a fetch quota on a consumer stuck re-reading a topic: the broker reports throttle time,
//   the SDK waits it out, its egress falls well below its unthrottled rate, another
//   consumer of the same topic is not throttled, no record is skipped, and removing the
//   quota lifts the throttle;
// - a client that ignores the throttle and asks again at once gets its next answer no
//   sooner than the throttle time it was told (the broker stops reading its connection);
// - the same for a produce quota (every acknowledged record is in the log), a request-rate
//   quota on a tight loop of empty fetches, a group quota shared by the group's members,
//   and an MQTT publisher (its socket is not read while throttled; every QoS 1 message is
//   stored); an MQTT connection muted longer than 1.5 × its keep-alive is not closed as
//   idle (the idle clock stands still while the broker holds its reading);
// - quotas survive a broker restart;
// - a kafkajs consumer through the Kafka listener: throttled the same way (the time goes out
//   in Fetch's throttle_time_ms), no offset skipped.
// Rates are compared with wide bands (well below the unthrottled rate), never with a time.
import t from 'tap'
import net from 'node:net'
import mqtt from 'mqtt'
import mqttPacket from 'mqtt-packet'
import { Client } from '../../client/index.js'
import { RawClient } from '../helpers/raw-client.js'
import { startBroker, tempDir } from '../helpers/broker.js'
import { runCli } from '../helpers/client-cli.js'
import { connectionOf, fill, measuredRate, startRereader } from '../helpers/rereader.js'
import { pollFor, sleep, waitFor } from '../helpers/wait.js'

t.setTimeout(300_000)

const WINDOWS = { quotaWindowNum: 4, quotaWindowSizeMs: 250 }
const MAX_THROTTLE_MS = 1000

async function quota (t: Parameters<typeof runCli>[0], port: number, ...args: string[]): Promise<string> {
  const r = await runCli(t, ['--broker', `127.0.0.1:${port}`, 'quota', ...args])
  t.equal(r.code, 0, `spool quota ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

t.test('a fetch quota throttles the re-reader, not the other consumer; nothing is lost; removing it lifts the throttle', async t => {
  const broker = await startBroker(t, { mqttPort: null, ...WINDOWS })
  const port = broker.ports.native!
  await fill(port, 'orders', 1, 3000, 1000)
  // A live consumer at the end of the same topic, and a producer adding a record now and then.
  const live = new Client({ brokers: [`127.0.0.1:${port}`], clientId: 'billing' })
  t.teardown(() => live.close())
  const tail = live.consumer({ groupId: 'billing' })
  await tail.subscribe({ topics: ['orders'] })
  const received: number[] = []
  void tail.run({ eachMessage: async ({ message }) => { received.push(message.offset) } }).catch(() => {})
  const rereader = await startRereader(t, port, 'orders', 3000, 'replayer', 'replay')
  const conn = await connectionOf(broker, 'replayer')
  await waitFor(() => rereader.passes() >= 2, 20_000, 'the re-reader to read the topic twice')
  const unthrottled = await measuredRate(conn, 'out', 1500)
  t.ok(unthrottled > 2e6, `unthrottled, it pulls ${(unthrottled / 1e6).toFixed(1)} MB/s`)
  const limit = Math.max(64 * 1024, Math.floor(unthrottled / 20))
  t.match(await quota(t, port, 'set', '--client-id', 'replayer', '--fetch-bytes-per-sec', String(limit)), /quota for client-id "replayer": fetch/)

  await waitFor(() => rereader.throttles.length > 0, 10_000, 'a throttle time in a fetch response')
  t.equal(rereader.throttles[0]!.api, 'Fetch', 'the broker reported it in the Fetch response')
  t.ok(rereader.throttles.every(e => e.throttleTimeMs > 0 && e.throttleTimeMs <= MAX_THROTTLE_MS), 'each throttle is within the cap (quotaWindowNum × quotaWindowSizeMs)')
  await sleep(MAX_THROTTLE_MS)
  const throttled = await measuredRate(conn, 'out', 3000)
  t.ok(throttled < unthrottled / 4, `throttled to ${(throttled / 1e6).toFixed(2)} MB/s (limit ${(limit / 1e6).toFixed(2)}, unthrottled ${(unthrottled / 1e6).toFixed(1)})`)
  t.ok(conn.activity.throttles > 0 && conn.activity.throttledMs > 0, 'the broker counts its throttled time')
  t.ok(conn.activity.fetches > 0 && !conn.closed, 'throttled, not disconnected')

  // The other consumer of the topic gets every new record, unthrottled.
  const producer = live.producer({ acks: 1 })
  for (let i = 0; i < 20; i++) await producer.send({ topic: 'orders', messages: [{ value: `new-${i}` }] })
  await waitFor(() => received.length >= 20, 10_000, 'the live consumer to receive the new records')
  t.same(received, Array.from({ length: 20 }, (_, i) => 3000 + i), 'every new record, in order')
  const billing = await connectionOf(broker, 'billing')
  t.equal(billing.activity.throttles, 0, 'the live consumer was never throttled')

  t.match(await quota(t, port, 'remove', '--client-id', 'replayer'), /removed the quota of client-id "replayer"/)
  await sleep(MAX_THROTTLE_MS + 200)
  const before = rereader.throttles.length
  const lifted = await measuredRate(conn, 'out', 1500)
  t.equal(rereader.throttles.length, before, 'no more throttle times once the quota is gone')
  t.ok(lifted > throttled * 2, `back to ${(lifted / 1e6).toFixed(1)} MB/s`)
  t.same(rereader.gaps, [], 'every pass of the re-reader saw every offset in order')
  t.equal(await pollFor('the re-reader to finish another pass', () => rereader.passes(), n => n >= 3, 20_000) >= 3, true)
})

t.test('an MQTT connection muted by its quota for longer than 1.5 × keep-alive is not closed as idle', async t => {
  // Campaign finding (the MQTT reconnect-storm benchmark): connections waiting in the
  // broker's own admission queue were closed as idle ("closing idle connection") although
  // their CONNECT was sent; the same rule closed a connection muted by a throttle. While the
  // broker holds a connection's reading, its idle clock stands still.
  const broker = await startBroker(t, { httpPort: null, quotaWindowNum: 4, quotaWindowSizeMs: 1000 })
  await quota(t, broker.ports.native!, 'set', '--client-id', 'slow-link', '--produce-bytes-per-sec', '10KB')
  const socket = net.connect(broker.ports.mqtt!, '127.0.0.1')
  t.teardown(() => { socket.destroy() })
  const types: number[] = []
  let closed = false
  socket.on('data', chunk => { types.push(chunk[0]! >> 4) })
  socket.on('close', () => { closed = true })
  socket.on('error', () => {})
  await new Promise<void>(resolve => socket.once('connect', () => resolve()))
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'slow-link', clean: true, keepalive: 1 }))
  await waitFor(() => types.includes(2), 5000, 'CONNACK')
  // 60 KB against 10 KB/s: muted for the longest throttle, 4 s (> 1.5 s of keep-alive).
  socket.write(mqttPacket.generate({ cmd: 'publish', topic: 'plant/slow', payload: Buffer.alloc(60_000, 1), qos: 0, retain: false, dup: false }))
  const started = Date.now()
  for (let i = 0; i < 20 && !closed; i++) {
    socket.write(mqttPacket.generate({ cmd: 'pingreq' }))
    await sleep(300)
  }
  t.notOk(closed, `still connected ${Date.now() - started} ms after the mute began`)
  await waitFor(() => types.includes(13) || closed, 10_000, 'a PINGRESP once the throttle ended')
  t.ok(types.includes(13) && !closed, 'the PINGREQs sent while muted were read and answered')
})

t.test('a client that ignores the throttle gets its next answer no sooner than the throttle time', async t => {
  const broker = await startBroker(t, { mqttPort: null, ...WINDOWS })
  const port = broker.ports.native!
  await fill(port, 'replay', 1, 1000, 1000)
  await quota(t, port, 'set', '--client-id', 'impatient', '--fetch-bytes-per-sec', '200KB')
  const raw = await RawClient.connect(port, '127.0.0.1', 'impatient')
  t.teardown(() => raw.close())
  const fetch = { maxWaitMs: 0, minBytes: 0, maxBytes: 256 * 1024, topics: [{ topic: 'replay', partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 256 * 1024 }] }] }
  const seen: Array<{ throttleTimeMs: number, atMs: number, bytes: number }> = []
  for (let i = 0; i < 12; i++) {
    const r = await raw.call('Fetch', fetch)
    seen.push({ throttleTimeMs: r.throttleTimeMs, atMs: Date.now(), bytes: r.records.length })
  }
  const told = seen.filter(s => s.throttleTimeMs > 0)
  t.ok(told.length >= 4, `${told.length} of 12 answers carried a throttle time`)
  t.ok(seen.every(s => s.bytes > 0), 'every answer still carries its records')
  for (let i = 0; i + 1 < seen.length; i++) {
    const { throttleTimeMs, atMs } = seen[i]!
    if (throttleTimeMs === 0) continue
    // The broker mutes the connection for the whole throttle time after it wrote the answer;
    // seen from here, the two answers' delivery delays may differ by some tens of ms on a
    // loaded machine, so 50 ms of slack (against throttles of 260-1000 ms).
    t.ok(seen[i + 1]!.atMs - atMs >= throttleTimeMs - 50, `answer ${i + 2} came ${seen[i + 1]!.atMs - atMs} ms after an answer saying ${throttleTimeMs} ms`)
  }
  // Requests pipelined while throttled wait and are all answered (the native protocol may
  // answer them in any order; each carries its correlation id).
  const ids = Array.from({ length: 5 }, () => raw.send('Fetch', fetch))
  for (const id of ids) await raw.response(id, 10_000)
  t.same(raw.responses.slice(-5).map(r => r.correlationId).sort((a, b) => a - b), ids, 'every held request is answered')
  t.notOk(raw.closed, 'never closed for it')
})

t.test('a produce quota throttles the bulk loader, not another producer; every acknowledged record is in the log', async t => {
  const broker = await startBroker(t, { mqttPort: null, ...WINDOWS })
  const port = broker.ports.native!
  const throttles: number[] = []
  const loader = new Client({ brokers: [`127.0.0.1:${port}`], clientId: 'bulk-loader', onThrottle: e => throttles.push(e.throttleTimeMs) })
  const other = new Client({ brokers: [`127.0.0.1:${port}`], clientId: 'checkout' })
  t.teardown(() => Promise.all([loader.close(), other.close()]))
  await loader.admin().createTopics([{ topic: 'ingest', partitions: 2 }])
  const producer = loader.producer({ acks: 1, lingerMs: 0 })
  let acked = 0
  let stop = false
  const value = 'y'.repeat(1000)
  const loop = (async () => {
    while (!stop) {
      await producer.send({ topic: 'ingest', messages: Array.from({ length: 100 }, () => ({ value })) })
      acked += 100
    }
  })()
  const conn = await connectionOf(broker, 'bulk-loader')
  await waitFor(() => acked >= 2000, 20_000, 'the loader to get going')
  const unthrottled = await measuredRate(conn, 'in', 1500)
  const limit = Math.max(64 * 1024, Math.floor(unthrottled / 20))
  await quota(t, port, 'set', '--client-id', 'bulk-loader', '--produce-bytes-per-sec', String(limit))
  await waitFor(() => throttles.length > 0, 10_000, 'a throttle time in a produce response')
  await sleep(MAX_THROTTLE_MS)
  const throttled = await measuredRate(conn, 'in', 3000)
  t.ok(throttled < unthrottled / 4, `throttled to ${(throttled / 1e6).toFixed(2)} MB/s (unthrottled ${(unthrottled / 1e6).toFixed(1)})`)
  const checkout = other.producer({ acks: 1 })
  for (let i = 0; i < 10; i++) await checkout.send({ topic: 'ingest', messages: [{ value: 'order' }] })
  t.equal((await connectionOf(broker, 'checkout')).activity.throttles, 0, 'another producer is not throttled')
  await quota(t, port, 'remove', '--client-id', 'bulk-loader')
  await sleep(MAX_THROTTLE_MS + 200)
  const lifted = await measuredRate(conn, 'in', 1500)
  t.ok(lifted > throttled * 2, `lifted: ${(lifted / 1e6).toFixed(1)} MB/s`)
  stop = true
  await loop
  await producer.close()
  await checkout.close()
  const end = broker.logs.partition('ingest', 0).logEndOffset + broker.logs.partition('ingest', 1).logEndOffset
  t.equal(end, acked + 10, `all ${acked} acknowledged records of the loader (and the 10 others) are in the log`)
})

t.test('a request-rate quota slows a tight loop of empty fetches', async t => {
  const broker = await startBroker(t, { mqttPort: null, ...WINDOWS })
  const port = broker.ports.native!
  await fill(port, 'quiet', 1, 1, 10)
  const raw = await RawClient.connect(port, '127.0.0.1', 'spinner')
  t.teardown(() => raw.close())
  const empty = { maxWaitMs: 0, minBytes: 0, topics: [{ topic: 'quiet', partitions: [{ partition: 0, fetchOffset: 1, maxBytes: 1024 }] }] }
  const spin = async (ms: number): Promise<{ perSec: number, throttled: number }> => {
    const until = Date.now() + ms
    let n = 0
    let throttled = 0
    while (Date.now() < until) {
      if ((await raw.call('Fetch', empty)).throttleTimeMs > 0) throttled++
      n++
    }
    return { perSec: n / (ms / 1000), throttled }
  }
  const free = await spin(1000)
  t.ok(free.perSec > 200, `unthrottled: ${free.perSec.toFixed(0)} requests/s`)
  await quota(t, port, 'set', '--client-id', 'spinner', '--requests-per-sec', '20')
  await spin(MAX_THROTTLE_MS)
  const slowed = await spin(2000)
  t.ok(slowed.perSec < free.perSec / 4, `throttled to ${slowed.perSec.toFixed(0)} requests/s`)
  t.ok(slowed.throttled > 0, 'the answers say so')
})

t.test('a group quota is shared by the group\'s members; a consumer outside the group is not throttled', async t => {
  const broker = await startBroker(t, { mqttPort: null, ...WINDOWS })
  const port = broker.ports.native!
  await fill(port, 'fanout', 2, 1000, 1000)
  await quota(t, port, 'set', '--group', 'too-many', '--fetch-bytes-per-sec', '500KB')
  const a = await startRereader(t, port, 'fanout', 1000, 'member-a', 'too-many')
  const b = await startRereader(t, port, 'fanout', 1000, 'member-b', 'too-many')
  const outsider = await startRereader(t, port, 'fanout', 1000, 'outsider', 'audit')
  await waitFor(() => a.throttles.length > 0 && b.throttles.length > 0, 20_000, 'both members to be throttled')
  await waitFor(() => outsider.passes() >= 3, 20_000, 'the outsider to read the topic 3 times')
  t.equal(outsider.throttles.length, 0, 'the outsider is not throttled')
  t.same([...a.gaps, ...b.gaps, ...outsider.gaps], [], 'no offsets skipped')
})

t.test('an MQTT publisher over its produce quota is not read for the throttle time; every QoS 1 message is stored', async t => {
  const broker = await startBroker(t, { httpPort: null, ...WINDOWS })
  const port = broker.ports.native!
  const client = mqtt.connect(`mqtt://127.0.0.1:${broker.ports.mqtt}`, { clientId: 'chatty-sensor', reconnectPeriod: 0, protocolVersion: 5 })
  t.teardown(() => { client.end(true) })
  await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject) })
  const payload = Buffer.alloc(1000, 7)
  let acked = 0
  let stop = false
  const loop = (async () => {
    while (!stop) {
      await client.publishAsync('plant/line-1/temp', payload, { qos: 1 })
      acked++
    }
  })()
  const conn = await connectionOf(broker, 'chatty-sensor')
  await waitFor(() => acked >= 300, 20_000, 'the sensor to publish')
  const unthrottled = await measuredRate(conn, 'in', 1500)
  const limit = Math.max(16 * 1024, Math.floor(unthrottled / 20))
  await quota(t, port, 'set', '--client-id', 'chatty-sensor', '--produce-bytes-per-sec', String(limit))
  await waitFor(() => conn.activity.throttles > 0, 10_000, 'the MQTT connection to be throttled')
  await sleep(MAX_THROTTLE_MS)
  const throttled = await measuredRate(conn, 'in', 3000)
  t.ok(throttled < unthrottled / 4, `throttled to ${(throttled / 1e3).toFixed(0)} kB/s (unthrottled ${(unthrottled / 1e3).toFixed(0)} kB/s)`)
  t.ok(conn.activity.throttledMs > 0 && !conn.closed, 'throttled, still connected')
  stop = true
  await loop
  await quota(t, port, 'remove', '--client-id', 'chatty-sensor')
  t.equal(conn.activity.messagesIn, acked, 'the connection counted every PUBLISH')
  t.equal(broker.logs.partition('mqtt', 0).logEndOffset, acked, `all ${acked} acknowledged messages are in the log`)
})

t.test('quotas survive a broker restart', async t => {
  const dataDir = tempDir(t)
  const first = await startBroker(t, { mqttPort: null, dataDir })
  await quota(t, first.ports.native!, 'set', '--client-id', 'replayer', '--fetch-bytes-per-sec', '1MB')
  await quota(t, first.ports.native!, 'set', '--principal', 'alice', '--produce-bytes-per-sec', '512KiB', '--requests-per-sec', '100')
  await quota(t, first.ports.native!, 'set', '--default', '--fetch-bytes-per-sec', '10MB')
  await first.close()
  const second = await startBroker(t, { mqttPort: null, dataDir })
  const listed = JSON.parse(await quota(t, second.ports.native!, 'list', '--format', 'json')) as unknown
  t.same(listed, [
    { entity: { type: 'client-id', name: 'replayer' }, limits: { fetchBytesPerSec: 1_000_000 } },
    { entity: { type: 'principal', name: 'User:alice' }, limits: { produceBytesPerSec: 524_288, requestsPerSec: 100 } },
    { entity: { type: 'default', name: null }, limits: { fetchBytesPerSec: 10_000_000 } },
  ], 'the quotas are back after the restart')
  const text = await quota(t, second.ports.native!, 'list')
  t.match(text, /client-id\s+replayer\s+-\s+1 MB\/s/, 'spool quota list prints them as set')
  const bad = await runCli(t, ['--broker', `127.0.0.1:${second.ports.native}`, 'quota', 'set', '--client-id', 'x', '--group', 'y', '--fetch-bytes-per-sec', '1MB'])
  t.equal(bad.code, 1, 'two entities at once is a usage error')
  t.match(bad.stderr, /exactly one of --client-id/)
  const units = await runCli(t, ['--broker', `127.0.0.1:${second.ports.native}`, 'quota', 'set', '--client-id', 'x', '--fetch-bytes-per-sec', 'fast'])
  t.not(units.code, 0, 'a rate that is not bytes is refused')
})

t.test('kafkajs: a fetch quota throttles a re-reading kafkajs consumer through the Kafka listener', async t => {
  const broker = await startBroker(t, { mqttPort: null, ...WINDOWS })
  const kafkaPort = broker.ports.kafka!
  const native = broker.ports.native!
  await fill(native, 'kafka-replay', 1, 2000, 1000)
  const { Kafka, logLevel } = await import('kafkajs')
  const kafka = new Kafka({ clientId: 'kafkajs-replayer', brokers: [`127.0.0.1:${kafkaPort}`], logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId: 'kafkajs-replay' })
  await consumer.connect()
  t.teardown(() => consumer.disconnect())
  await consumer.subscribe({ topic: 'kafka-replay', fromBeginning: true })
  let passes = 0
  let expected = 0
  const gaps: number[] = []
  await consumer.run({
    eachMessage: async ({ message }) => {
      const offset = Number(message.offset)
      if (offset !== expected) gaps.push(offset)
      expected = offset + 1
      if (offset === 1999) {
        passes++
        expected = 0
        consumer.seek({ topic: 'kafka-replay', partition: 0, offset: '0' })
      }
    },
  })
  await waitFor(() => passes >= 2, 30_000, 'kafkajs to read the topic twice')
  const heaviest = (): NonNullable<ReturnType<typeof broker.connections.get>> =>
    broker.connections.list().filter(c => c.clientId === 'kafkajs-replayer').sort((a, b) => b.bytesOut - a.bytesOut)[0]!
  const unthrottled = await measuredRate(heaviest(), 'out', 1500)
  const limit = Math.max(64 * 1024, Math.floor(unthrottled / 20))
  await quota(t, native, 'set', '--client-id', 'kafkajs-replayer', '--fetch-bytes-per-sec', String(limit))
  await waitFor(() => heaviest().activity.throttles > 0, 10_000, 'the kafkajs connection to be throttled')
  await sleep(MAX_THROTTLE_MS)
  const throttled = await measuredRate(heaviest(), 'out', 3000)
  t.ok(throttled < unthrottled / 4, `kafkajs throttled to ${(throttled / 1e6).toFixed(2)} MB/s (unthrottled ${(unthrottled / 1e6).toFixed(1)})`)
  t.same(gaps, [], 'kafkajs skipped no offset')
})
