// The network layer every protocol shares, against a real broker over real sockets:
// - the failure rule: an unexpected exception while handling one connection's input closes
//   that connection only (with its protocol's last word, one error log line and
//   spool_connection_errors_total{reason="INTERNAL_ERROR"}); other clients keep producing
//   and consuming and the broker stays up — native TCP, native over /ws, Kafka TCP, MQTT
//   TCP, MQTT over /mqtt, HTTP;
// - maxConnections counts every protocol and refuses the next connection at accept, MQTT
//   included before CONNECT, with the refusal counted;
// - frames trickled one byte per write hold one buffer of the frame's size (not one per
//   chunk) on every listener, and the broker-wide maxPendingRequestBytes budget bounds what
//   partial frames hold: a connection that needs room waits and resumes, nothing is lost.
import t from 'tap'
import { connect, type Socket } from 'node:net'
import { Writable } from 'node:stream'
import mqtt from 'mqtt'
import mqttPacket from 'mqtt-packet'
import { pino } from 'pino'
import { WebSocket } from 'ws'
import { APIS } from '../../protocol/native/api-keys.js'
import { FrameDecoder, concatParts, decodeBody, encodeClientId, encodeRequestFrame, parseResponseFrame } from '../../protocol/native/frame.js'
import { ERROR_TABLE } from '../../protocol/errors.js'
import { faultPoints } from '../../broker/storage/testing/fault-points.js'
import { startBroker, httpGet } from '../helpers/broker.js'
import { RawClient } from '../helpers/raw-client.js'
import { KafkaRawClient } from '../helpers/kafka-raw.js'
import { collect, connectClient } from '../helpers/mqtt.js'
import { waitFor } from '../helpers/processes.js'
import type { Broker } from '../../broker/broker.js'
import { metricValue, scrape } from '../helpers/metrics.js'

interface LogLine { level: number, msg: string, protocol?: string, peer?: string, clientId?: string, err?: { message?: string } }

function capture (): { logger: pino.Logger, lines: LogLine[] } {
  const lines: LogLine[] = []
  const stream = new Writable({
    write (chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as LogLine)
      done()
    },
  })
  return { logger: pino({ level: 'info' }, stream), lines }
}

async function metric (broker: Broker, name: string, labels: Record<string, string>): Promise<number> {
  return metricValue(await scrape(broker.ports.http!), name, labels)
}

/** Arms `point` to throw an unexpected (untyped) error for the client `victim` only. */
function armFor (t: { teardown (fn: () => void): void }, point: string, victim: string): void {
  faultPoints.arm(point, (_name, detail) => {
    if (detail === victim) throw new TypeError(`injected bug for ${victim}`)
  })
  t.teardown(() => faultPoints.reset(point))
}

/** A bystander that produces and consumes through the SDK-free raw client. */
async function roundTrip (broker: Broker, topic: string, value: string): Promise<void> {
  const c = await RawClient.connect(broker.ports.native!, '127.0.0.1', 'bystander')
  try {
    const created = await c.call('Metadata', { topics: [topic], allowAutoCreate: true })
    if (created.topics[0]!.errorCode !== 0) throw new Error(`metadata failed: ${created.topics[0]!.errorMessage}`)
    const { encodeBatch } = await import('../../protocol/record-batch/records.js')
    const batch = encodeBatch([{ key: null, value: new TextEncoder().encode(value) }])
    const produced = await c.call('Produce', { acks: 1, timeoutMs: 5000, topics: [{ topic, partitions: [{ partition: 0, recordsBytes: batch.length }] }] }, [batch])
    if (produced.topics[0]!.partitions[0]!.errorCode !== 0) throw new Error('produce failed')
    const fetched = await c.call('Fetch', { maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, topics: [{ topic, partitions: [{ partition: 0, fetchOffset: produced.topics[0]!.partitions[0]!.baseOffset, maxBytes: 1 << 20 }] }] })
    if (fetched.records.length === 0) throw new Error('nothing fetched')
  } finally {
    c.close()
  }
}

t.test('failure rule: native TCP — an unexpected throw closes that connection only', async t => {
  const { logger, lines } = capture()
  const broker = await startBroker(t, { logger })
  armFor(t, 'native.request', 'victim')
  const victim = await RawClient.connect(broker.ports.native!, '127.0.0.1', 'victim')
  t.teardown(() => victim.close())
  const id = victim.send('Metadata', { topics: null, allowAutoCreate: false })
  const answer = await victim.response(id)
  t.equal(answer.body.errorCode, ERROR_TABLE.UNKNOWN_SERVER_ERROR.code, 'the failed request is answered UNKNOWN_SERVER_ERROR')
  await victim.until(() => victim.closed)
  t.ok(victim.closed, 'the connection is closed')
  await roundTrip(broker, 'after-native', 'still serving')
  const line = lines.find(l => l.msg === 'closing connection after an internal error')
  t.equal(line?.protocol, 'native', 'one error line naming the protocol')
  t.match(line?.peer, /^127\.0\.0\.1:\d+$/, '… the peer')
  t.equal(line?.clientId, 'victim', '… and the client')
  t.equal(line?.level, 50, 'at error level')
  t.equal(await metric(broker, 'spool_connection_errors_total', { protocol: 'native', reason: 'INTERNAL_ERROR' }), 1, 'counted')
})

t.test('failure rule: Kafka TCP — an unexpected throw answers UNKNOWN_SERVER_ERROR and closes that connection only', async t => {
  const { logger, lines } = capture()
  const broker = await startBroker(t, { logger })
  armFor(t, 'kafka.request', 'kafka-victim')
  const bystander = await KafkaRawClient.connect(broker.ports.kafka!, 'kafka-bystander')
  t.teardown(() => bystander.close())
  const victim = await KafkaRawClient.connect(broker.ports.kafka!, 'kafka-victim')
  t.teardown(() => victim.close())
  const answer = await victim.call('ApiVersions', 3, { clientSoftwareName: 'victim', clientSoftwareVersion: '1' })
  t.equal(answer.errorCode, ERROR_TABLE.UNKNOWN_SERVER_ERROR.code, 'the failed request is answered UNKNOWN_SERVER_ERROR')
  await victim.until(() => victim.closed)
  t.ok(victim.closed, 'the connection is closed')
  const meta = await bystander.call('Metadata', 9, { topics: [{ name: 'after-kafka' }], allowAutoTopicCreation: true })
  t.equal(meta.topics[0]!.errorCode, 0, 'another Kafka client is served')
  await roundTrip(broker, 'after-kafka-native', 'still serving')
  const line = lines.find(l => l.msg === 'closing connection after an internal error')
  t.equal(line?.protocol, 'kafka', 'one error line naming the protocol')
  t.match(line?.peer, /^127\.0\.0\.1:\d+$/, '… the peer')
  t.equal(line?.clientId, 'kafka-victim', '… and the client')
  t.equal(lines.filter(l => l.msg === 'closing connection after an internal error').length, 1, 'one line')
  t.equal(await metric(broker, 'spool_connection_errors_total', { protocol: 'kafka', reason: 'INTERNAL_ERROR' }), 1, 'counted')
})

t.test('failure rule: native over /ws', async t => {
  const broker = await startBroker(t)
  armFor(t, 'native.request', 'ws-victim')
  const ws = new WebSocket(`ws://127.0.0.1:${broker.ports.http}/ws`)
  ws.on('error', () => {})
  await new Promise(resolve => ws.once('open', resolve))
  const closed = new Promise<number>(resolve => ws.once('close', code => resolve(code)))
  const got: Array<Record<string, unknown>> = []
  const decoder = new FrameDecoder(1 << 20)
  ws.on('message', (data: Buffer) => { for (const f of decoder.push(data)) got.push(decodeBody(parseResponseFrame(f).bodyBytes) as Record<string, unknown>) })
  ws.send(concatParts(encodeRequestFrame(APIS.Metadata.key, 0, 1, encodeClientId('ws-victim'), { topics: null, allowAutoCreate: false })))
  await closed
  t.equal(got[0]?.errorCode, ERROR_TABLE.UNKNOWN_SERVER_ERROR.code, 'answered UNKNOWN_SERVER_ERROR, then closed')
  await roundTrip(broker, 'after-ws', 'still serving')
  t.equal(await metric(broker, 'spool_connection_errors_total', { protocol: 'native', reason: 'INTERNAL_ERROR' }), 1)
})

for (const transport of ['tcp', 'ws'] as const) {
  t.test(`failure rule: MQTT over ${transport}`, async t => {
    const broker = await startBroker(t)
    const url = transport === 'tcp' ? `mqtt://127.0.0.1:${broker.ports.mqtt}` : `ws://127.0.0.1:${broker.ports.http}/mqtt`
    const bystander = await connectClient(t, broker.ports.mqtt!, { clientId: 'bystander', protocolVersion: 5 })
    await bystander.subscribeAsync('fr/#', { qos: 1 })
    armFor(t, 'mqtt.packet', 'victim')
    const victim = mqtt.connect(url, { clientId: 'victim', protocolVersion: 5, reconnectPeriod: 0 })
    t.teardown(() => { victim.end(true) })
    await new Promise<void>((resolve, reject) => { victim.once('connect', () => resolve()); victim.once('error', reject) })
    const disconnect = new Promise<number | undefined>(resolve => victim.once('disconnect', (p: mqttPacket.IDisconnectPacket) => resolve(p.reasonCode)))
    const closed = new Promise<void>(resolve => victim.once('close', () => resolve()))
    victim.subscribe('anything', { qos: 0 })
    t.equal(await disconnect, 0x80, 'MQTT 5: DISCONNECT 0x80 (unspecified error)')
    await closed
    const got = collect(bystander, 1)
    const publisher = await connectClient(t, broker.ports.mqtt!, { clientId: 'publisher' })
    await publisher.publishAsync('fr/1', 'still here', { qos: 1 })
    t.equal((await got)[0]?.payload, 'still here', 'other clients keep publishing and receiving')
    await roundTrip(broker, `after-mqtt-${transport}`, 'still serving')
    t.equal(await metric(broker, 'spool_connection_errors_total', { protocol: 'mqtt', reason: 'INTERNAL_ERROR' }), 1)
  })
}

t.test('failure rule: HTTP — 500 with the one error shape, the connection closed, the rest served', async t => {
  const broker = await startBroker(t)
  armFor(t, 'http.request', '/api/topics')
  const res = await fetch(`http://127.0.0.1:${broker.ports.http}/api/topics`)
  t.equal(res.status, 500)
  t.equal(res.headers.get('connection'), 'close', 'the connection is closed')
  const body = await res.json() as { error: { code: string, message: string, retriable: boolean } }
  t.equal(body.error.code, 'UNKNOWN_SERVER_ERROR', '{ error: { code, message, retriable } }')
  t.equal((await httpGet(broker, '/healthz')).status, 200, 'other paths still answer')
  const missing = await httpGet(broker, '/no/such/path')
  t.equal(missing.status, 404)
  t.equal((JSON.parse(missing.text) as { error: { code: string } }).error.code, 'HTTP_NOT_FOUND', 'a 404 has the same shape')
  await roundTrip(broker, 'after-http', 'still serving')
  t.equal(await metric(broker, 'spool_connection_errors_total', { protocol: 'http', reason: 'INTERNAL_ERROR' }), 1)
})

t.test('maxConnections counts every protocol and refuses the next connection at accept', async t => {
  const broker = await startBroker(t, { maxConnections: 3 })
  // Three of three: native, MQTT before its CONNECT, native over WebSocket.
  const native = await RawClient.connect(broker.ports.native!)
  t.teardown(() => native.close())
  const mqttRaw = connect({ host: '127.0.0.1', port: broker.ports.mqtt! })
  mqttRaw.on('error', () => {})
  t.teardown(() => { mqttRaw.destroy() })
  await new Promise(resolve => mqttRaw.once('connect', resolve))
  const ws = new WebSocket(`ws://127.0.0.1:${broker.ports.http}/ws`)
  ws.on('error', () => {})
  t.teardown(() => ws.terminate())
  await new Promise(resolve => ws.once('open', resolve))
  await waitFor(() => broker.connections.size === 3, 5000, 'three connections')
  t.equal(broker.connections.size, 3, 'MQTT counts before CONNECT')

  // The fourth, of each protocol.
  const refusedNative = await RawClient.connect(broker.ports.native!)
  await refusedNative.until(() => refusedNative.closed)
  t.equal(refusedNative.responses[0]?.body.errorCode, ERROR_TABLE.TOO_MANY_CONNECTIONS.code, 'native: TOO_MANY_CONNECTIONS notice, then closed')
  const refusedMqtt = connect({ host: '127.0.0.1', port: broker.ports.mqtt! })
  refusedMqtt.on('error', () => {})
  const mqttClosed = await new Promise<boolean>(resolve => {
    const timer = setTimeout(() => resolve(false), 5000)
    refusedMqtt.once('close', () => { clearTimeout(timer); resolve(true) })
  })
  t.ok(mqttClosed, 'MQTT: closed at accept, before CONNECT')
  const refusedWs = new WebSocket(`ws://127.0.0.1:${broker.ports.http}/ws`)
  refusedWs.on('error', () => {})
  const wsNotice = await new Promise<number | null>(resolve => {
    const timer = setTimeout(() => resolve(null), 5000)
    refusedWs.on('message', (data: Buffer) => {
      clearTimeout(timer)
      const f = new FrameDecoder(1 << 20).push(data)[0]!
      resolve((decodeBody(parseResponseFrame(f).bodyBytes) as { errorCode: number }).errorCode)
    })
  })
  t.equal(wsNotice, ERROR_TABLE.TOO_MANY_CONNECTIONS.code, 'WebSocket: the same notice')
  t.equal((await httpGet(broker, '/healthz')).status, 200, 'plain HTTP still answers while the broker is full')
  t.equal(await metric(broker, 'spool_connection_errors_total', { protocol: 'native', reason: 'TOO_MANY_CONNECTIONS' }), 2, 'native refusals counted (TCP and WebSocket)')
  t.equal(await metric(broker, 'spool_connection_errors_total', { protocol: 'mqtt', reason: 'TOO_MANY_CONNECTIONS' }), 1, 'the MQTT refusal counted')

  // One leaves: the next is accepted.
  native.close()
  await waitFor(() => broker.connections.size === 2, 5000, 'one gone')
  const again = await RawClient.connect(broker.ports.native!)
  t.teardown(() => again.close())
  const answer = await again.call('Metadata', { topics: [], allowAutoCreate: false })
  t.equal(answer.errorCode ?? 0, 0, 'a slot freed is taken again')
})

t.test('mqttMaxConnections refuses MQTT under maxConnections, before CONNECT', async t => {
  const broker = await startBroker(t, { mqttMaxConnections: 1 })
  const first = connect({ host: '127.0.0.1', port: broker.ports.mqtt! })
  first.on('error', () => {})
  t.teardown(() => { first.destroy() })
  await new Promise(resolve => first.once('connect', resolve))
  await waitFor(() => broker.connections.count('mqtt') === 1, 5000, 'one MQTT connection')
  const second = connect({ host: '127.0.0.1', port: broker.ports.mqtt! })
  second.on('error', () => {})
  const closed = await new Promise<boolean>(resolve => {
    const timer = setTimeout(() => resolve(false), 5000)
    second.once('close', () => { clearTimeout(timer); resolve(true) })
  })
  t.ok(closed, 'the second MQTT socket is closed at accept')
  const native = await RawClient.connect(broker.ports.native!)
  t.teardown(() => native.close())
  t.equal((await native.call('Metadata', { topics: [], allowAutoCreate: false })).errorCode ?? 0, 0, 'native connections are not limited by it')
})

/** Writes `bytes` one byte per write, waiting for each to be flushed. */
async function trickle (socket: Socket, bytes: Uint8Array): Promise<void> {
  for (let i = 0; i < bytes.length; i++) {
    if (!socket.write(bytes.subarray(i, i + 1))) await new Promise(resolve => socket.once('drain', resolve))
    if (i % 512 === 0) await new Promise(resolve => setImmediate(resolve))
  }
}

t.test('a frame trickled one byte per write holds one buffer of its size (native TCP)', async t => {
  const broker = await startBroker(t)
  const frame = concatParts(encodeRequestFrame(APIS.Metadata.key, 0, 7, encodeClientId('trickle'), { topics: ['t'.repeat(200)], allowAutoCreate: false, pad: 'x'.repeat(32 * 1024) }))
  const socket = connect({ host: '127.0.0.1', port: broker.ports.native!, noDelay: true })
  socket.on('error', () => {})
  t.teardown(() => { socket.destroy() })
  await new Promise(resolve => socket.once('connect', resolve))
  const decoder = new FrameDecoder(1 << 20)
  const answers: number[] = []
  socket.on('data', (d: Buffer) => { for (const f of decoder.push(d)) answers.push(parseResponseFrame(f).correlationId) })
  await trickle(socket, frame.subarray(0, frame.length - 1))
  await waitFor(() => broker.pendingRequests.used === frame.length, 5000, 'the partial frame is held')
  t.equal(broker.pendingRequests.used, frame.length, `one buffer of the frame's ${frame.length} bytes is held for ${frame.length - 1} one-byte writes`)
  await roundTrip(broker, 'during-trickle', 'the broker keeps serving')
  socket.write(frame.subarray(frame.length - 1))
  await waitFor(() => answers.includes(7), 5000, 'the trickled request is answered')
  t.same(answers, [7], 'the trickled request is answered')
  t.equal(broker.pendingRequests.used, 0, 'and its buffer given back')
})

t.test('a WebSocket frame trickled one byte per write is gathered into one buffer (/ws and /mqtt)', async t => {
  const broker = await startBroker(t)
  const ws = new WebSocket(`ws://127.0.0.1:${broker.ports.http}/ws`)
  ws.on('error', () => {})
  t.teardown(() => ws.terminate())
  await new Promise(resolve => ws.once('open', resolve))
  const raw = (ws as unknown as { _socket: Socket })._socket
  const payload = concatParts(encodeRequestFrame(APIS.Metadata.key, 0, 9, encodeClientId('ws-trickle'), { topics: [], allowAutoCreate: false, pad: 'y'.repeat(16 * 1024) }))
  // A masked binary WebSocket frame, written by hand so it can be trickled.
  const mask = Buffer.from([1, 2, 3, 4])
  const header = Buffer.from([0x82, 0x80 | 126, payload.length >> 8, payload.length & 0xff])
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))
  const wsFrame = Buffer.concat([header, mask, masked])
  const answered = new Promise<boolean>(resolve => {
    const timer = setTimeout(() => resolve(false), 20_000)
    ws.once('message', () => { clearTimeout(timer); resolve(true) })
  })
  await trickle(raw, wsFrame.subarray(0, wsFrame.length - 1))
  await waitFor(() => broker.pendingRequests.used === wsFrame.length, 5000, 'the partial WebSocket frame is held')
  t.equal(broker.pendingRequests.used, wsFrame.length, `one buffer of the WebSocket frame's ${wsFrame.length} bytes`)
  raw.write(wsFrame.subarray(wsFrame.length - 1))
  t.ok(await answered, 'the request inside is answered')
  await waitFor(() => broker.pendingRequests.used === 0, 5000, 'given back')
  t.equal(broker.pendingRequests.used, 0)
})

t.test('an MQTT packet trickled one byte per write holds one buffer of its size', async t => {
  const broker = await startBroker(t)
  const socket = connect({ host: '127.0.0.1', port: broker.ports.mqtt!, noDelay: true })
  socket.on('error', () => {})
  t.teardown(() => { socket.destroy() })
  await new Promise(resolve => socket.once('connect', resolve))
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  const got: string[] = []
  parser.on('packet', (p: mqttPacket.Packet) => got.push(p.cmd))
  socket.on('data', (d: Buffer) => parser.parse(d))
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: 'trickler' }))
  await waitFor(() => got.includes('connack'), 5000, 'connack')
  const publish = mqttPacket.generate({ cmd: 'publish', topic: 'trickle/1', payload: Buffer.alloc(20 * 1024, 7), qos: 1, messageId: 1, retain: false, dup: false })
  await trickle(socket, publish.subarray(0, publish.length - 1))
  await waitFor(() => broker.pendingRequests.used === publish.length, 5000, 'the partial packet is held')
  t.equal(broker.pendingRequests.used, publish.length, `one buffer of the packet's ${publish.length} bytes`)
  socket.write(publish.subarray(publish.length - 1))
  await waitFor(() => got.includes('puback'), 5000, 'puback')
  t.ok(got.includes('puback'), 'the trickled publish is stored and acknowledged')
})

t.test('maxPendingRequestBytes: a connection that needs room waits for it, then completes', async t => {
  const broker = await startBroker(t, { maxFrameBytes: 256 * 1024, maxBatchBytes: 64 * 1024, maxPendingRequestBytes: 256 * 1024 })
  // A takes the whole budget with a frame it has only begun to send.
  const a = connect({ host: '127.0.0.1', port: broker.ports.native!, noDelay: true })
  a.on('error', () => {})
  t.teardown(() => { a.destroy() })
  await new Promise(resolve => a.once('connect', resolve))
  const big = concatParts(encodeRequestFrame(APIS.Metadata.key, 0, 1, encodeClientId('hog'), { topics: [], allowAutoCreate: false, pad: 'z'.repeat(256 * 1024 - 200) }))
  a.write(big.subarray(0, 1000))
  await waitFor(() => broker.pendingRequests.used === big.length, 5000, 'A holds its buffer')
  t.equal(broker.pendingRequests.used, big.length, 'A holds the whole budget')
  // B's frame arrives in two writes: it needs a buffer and must wait.
  const b = await RawClient.connect(broker.ports.native!, '127.0.0.1', 'patient')
  t.teardown(() => b.close())
  const frame = concatParts(encodeRequestFrame(APIS.Metadata.key, 0, 5, encodeClientId('patient'), { topics: [], allowAutoCreate: false, pad: 'p'.repeat(4096) }))
  b.write(frame.subarray(0, 100))
  await new Promise(resolve => setTimeout(resolve, 50))
  b.write(frame.subarray(100))
  await waitFor(() => broker.pendingRequests.waiting === 1, 5000, 'B waits')
  t.equal(broker.pendingRequests.waiting, 1, 'B waits for room (it is not refused)')
  t.equal(b.responses.length, 0, 'and is not answered yet')
  t.ok(broker.pendingRequests.used <= broker.pendingRequests.limit, 'the budget is never exceeded')
  a.destroy()
  await b.until(() => b.responses.length > 0, 5000)
  t.equal(b.responses[0]?.correlationId, 5, 'B completes once A is gone')
  t.equal(broker.pendingRequests.peak <= broker.pendingRequests.limit, true, `peak ${broker.pendingRequests.peak} within the limit`)
})

t.test('a slow reader is closed once: one warning line, one count, no listener leak, however many fetches were waiting', async t => {
  // Campaign finding: one connection closed for SLOW_READER wrote 82 warning lines, counted 82,
  // and Node warned of 11 abort listeners on one AbortSignal.
  const warnings: string[] = []
  const onWarning = (w: Error): void => { warnings.push(w.name) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  const { logger, lines } = capture()
  const broker = await startBroker(t, { logger, maxQueuedBytes: 1024 * 1024 })
  const writer = await RawClient.connect(broker.ports.native!, '127.0.0.1', 'writer')
  t.teardown(() => writer.close())
  await writer.call('CreateTopics', { topics: [{ topic: 'slow', partitions: 1 }] })
  const { encodeBatch } = await import('../../protocol/record-batch/records.js')
  const chunk = encodeBatch([{ key: null, value: new Uint8Array(900 * 1024).fill(1) }])
  const produce = async (): Promise<void> => { await writer.call('Produce', { acks: 1, timeoutMs: 5000, topics: [{ topic: 'slow', partitions: [{ partition: 0, recordsBytes: chunk.length }] }] }, [chunk]) }
  for (let i = 0; i < 4; i++) await produce()
  const slow = await RawClient.connect(broker.ports.native!, '127.0.0.1', 'slow')
  t.teardown(() => slow.close())
  slow.socket.pause()
  // 40 fetches at the end of the log: they park, waiting for records. Every batch is 900 KB,
  // so however the appends below and the fetches' wake-ups interleave, each answer holds at
  // least one: 36 MB or more, past the kernel's loopback buffers (up to ~10 MB) and the 1 MiB
  // limit. (With 200 KB batches, 40 answers of one batch each could all fit in those buffers
  // on a loaded machine, and nothing passed the limit.)
  const greedy = { maxWaitMs: 10_000, minBytes: 1, maxBytes: 4 * 1024 * 1024, topics: [{ topic: 'slow', partitions: [{ partition: 0, fetchOffset: 4, maxBytes: 4 * 1024 * 1024 }] }] }
  for (let i = 0; i < 40; i++) slow.send('Fetch', greedy)
  await new Promise(resolve => setTimeout(resolve, 300))
  // Appends wake them all at once; their answers would pile up unread: SLOW_READER.
  for (let i = 0; i < 6; i++) await produce()
  await waitFor(() => lines.some(l => l.msg === 'closing a connection that does not read'), 15_000, 'the slow reader to be closed')
  await new Promise(resolve => setTimeout(resolve, 300))
  t.equal(lines.filter(l => l.msg === 'closing a connection that does not read').length, 1, 'one warning line')
  t.equal(await metric(broker, 'spool_connection_errors_total', { protocol: 'native', reason: 'SLOW_READER' }), 1, 'counted once')
  t.notOk(warnings.includes('MaxListenersExceededWarning'), 'no MaxListenersExceededWarning')
  await roundTrip(broker, 'after-slow', 'still serving')
})
