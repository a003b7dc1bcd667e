// The MQTT gateway's protocol behaviour over real sockets, with mqtt.js (3.1.1 and 5) and
// hand-driven raw clients, on the real storage engine in a temp data dir (the log is the
// only state shared across a restart: the logs are closed and reopened from disk, and a
// second gateway must rebuild retained messages and sessions from them).
// Proves: wildcard and $-topic routing, retained messages (also after restart), wills on an
// abrupt disconnect (with MQTT 5 delay), persistent sessions fed from the log while offline
// (also across restart), QoS 2 exactly once in both directions across a reconnect in the
// middle of the handshake, shared subscriptions, takeover, keep-alive, topic aliases and
// properties, bad and oversize packets, and bounded memory for a client that never reads.
import t from 'tap'
import { connect } from 'node:net'
import mqtt from 'mqtt'
import type mqttPacket from 'mqtt-packet'
import { encodeBatch } from '../../protocol/record-batch/records.js'
import { DiskLog } from '../helpers/disk-log.js'
import { RawClient, collect, connectClient, sleep, startGateway } from '../helpers/mqtt.js'
import { readRecords } from '../../broker/protocols/mqtt/log-access.js'

const enc = new TextEncoder()

async function logRecords (log: DiskLog, topic = 'mqtt'): Promise<Array<{ key: string, value: string, headers: Record<string, string> }>> {
  if (!log.logs.hasTopic(topic)) return []
  const end = log.logs.partition(topic, 0).logEndOffset
  if (end === 0) return []
  const { records } = await readRecords(log, topic, 0, 0, 1 << 24)
  return records.map(r => ({
    key: Buffer.from(r.key!).toString(),
    value: Buffer.from(r.value ?? []).toString(),
    headers: Object.fromEntries(r.headers.map(h => [h.key, Buffer.from(h.value ?? []).toString()])),
  }))
}

for (const protocolVersion of [4, 5] as const) {
  t.test(`v${protocolVersion}: wildcard routing, $ topics, one record per publish with key = topic`, async t => {
    const { port, log } = await startGateway(t)
    const sub = await connectClient(t, port, { protocolVersion })
    await sub.subscribeAsync({ 'sensors/+/temp': { qos: 1 }, 'alarms/#': { qos: 0 }, '#': { qos: 0 } })
    const dollar = await connectClient(t, port, { protocolVersion })
    await dollar.subscribeAsync('$internal/#')
    const pub = await connectClient(t, port, { protocolVersion })
    const got = collect(sub, 3)
    const gotDollar = collect(dollar, 1)
    await pub.publishAsync('sensors/a/temp', '21', { qos: 1 })
    await pub.publishAsync('sensors/a/hum', '50', { qos: 1 })
    await pub.publishAsync('alarms', 'fire', { qos: 0 })
    await pub.publishAsync('$internal/x', 'hidden', { qos: 1 })
    const messages = await got
    const byTopic = messages.map(m => `${m.topic}=${m.payload}`).sort()
    // sensors/a/temp matches two filters: one delivery with the higher QoS.
    t.same(byTopic.filter(x => x.startsWith('sensors/a/temp')), ['sensors/a/temp=21'])
    t.ok(byTopic.includes('alarms=fire'), '"alarms/#" matches its parent level')
    t.notOk(byTopic.some(x => x.startsWith('$internal')), '"#" does not match a $ topic [MQTT-4.7.2-1]')
    t.equal((await gotDollar)[0]!.payload, 'hidden')
    const records = await logRecords(log)
    t.same(records.map(r => r.key), ['sensors/a/temp', 'sensors/a/hum', 'alarms', '$internal/x'])
    t.equal(records[0]!.headers['mqtt.qos'], '1')
  })

  t.test(`v${protocolVersion}: retained message to a late subscriber, removed by an empty payload, kept across restart`, async t => {
    const log = await DiskLog.open(t)
    const first = await startGateway(t, {}, log)
    const pub = await connectClient(t, first.port, { protocolVersion })
    await pub.publishAsync('home/lamp', 'on', { qos: 1, retain: true })
    await pub.publishAsync('home/door', 'open', { qos: 0, retain: true })
    await pub.publishAsync('home/door', '', { qos: 0, retain: true })
    const late = await connectClient(t, first.port, { protocolVersion })
    const got = collect(late, 1)
    await late.subscribeAsync('home/#', { qos: 1 })
    const [m] = await got
    t.equal(m!.payload, 'on')
    t.equal(m!.packet.retain, true, 'retained on subscribe carries RETAIN [MQTT-3.3.1-8]')
    await sleep(100)
    t.equal(late.listenerCount('message'), 0)
    pub.end(true)
    late.end(true)
    await first.handle.close()
    await log.restart()
    const second = await startGateway(t, {}, log)
    const after = await connectClient(t, second.port, { protocolVersion })
    const got2 = collect(after, 1)
    await after.subscribeAsync('home/+', { qos: 1 })
    t.equal((await got2)[0]!.payload, 'on', 'the retained message survives a restart')
  })

  t.test(`v${protocolVersion}: will published on an abrupt disconnect, not on DISCONNECT`, async t => {
    const { port } = await startGateway(t)
    const watcher = await connectClient(t, port, { protocolVersion })
    await watcher.subscribeAsync('wills/#', { qos: 1 })
    const polite = await connectClient(t, port, { protocolVersion, will: { topic: 'wills/polite', payload: Buffer.from('bye'), qos: 1, retain: false } })
    await polite.endAsync()
    const rude = await connectClient(t, port, { protocolVersion, will: { topic: 'wills/rude', payload: Buffer.from('gone'), qos: 1, retain: false } })
    const got = collect(watcher, 1)
    rude.stream.destroy()
    const [m] = await got
    t.equal(m!.topic, 'wills/rude')
    t.equal(m!.payload, 'gone')
  })

  t.test(`v${protocolVersion}: a persistent session gets QoS 1 messages published while offline, also after a restart`, async t => {
    const log = await DiskLog.open(t)
    const first = await startGateway(t, {}, log)
    const persistent = protocolVersion === 5 ? { clean: false, properties: { sessionExpiryInterval: 3600 } } : { clean: false }
    const clientId = `dev-${protocolVersion}`
    const sub = await connectClient(t, first.port, { protocolVersion, clientId, ...persistent })
    await sub.subscribeAsync('jobs/#', { qos: 1 })
    await sub.endAsync()
    const pub = await connectClient(t, first.port, { protocolVersion })
    for (let i = 0; i < 5; i++) await pub.publishAsync(`jobs/${i}`, `job-${i}`, { qos: 1 })
    const back = mqtt.connect(`mqtt://127.0.0.1:${first.port}`, { protocolVersion, clientId, reconnectPeriod: 0, ...persistent })
    t.teardown(() => { back.end(true) })
    const got = collect(back, 5)
    const connack = await new Promise<mqttPacket.IConnackPacket>(resolve => back.once('connect', resolve))
    t.equal(connack.sessionPresent, true)
    t.same((await got).map(m => m.payload), ['job-0', 'job-1', 'job-2', 'job-3', 'job-4'], 'in order, from the log')
    await back.endAsync()
    for (let i = 5; i < 8; i++) await pub.publishAsync(`jobs/${i}`, `job-${i}`, { qos: 1 })
    pub.end(true)
    await first.handle.close()
    await log.restart()
    const second = await startGateway(t, {}, log)
    const again = mqtt.connect(`mqtt://127.0.0.1:${second.port}`, { protocolVersion, clientId, reconnectPeriod: 0, ...persistent })
    t.teardown(() => { again.end(true) })
    const got2 = collect(again, 3)
    t.same((await got2).map(m => m.payload), ['job-5', 'job-6', 'job-7'], 'after a restart, exactly the missed ones')
  })
}

t.test('QoS 2 outbound: exactly once across a reconnect in the middle of the handshake', async t => {
  const { port } = await startGateway(t)
  const sub = await RawClient.open(t, port, 4)
  t.equal((await sub.connect({ clientId: 'q2', clean: false }))?.returnCode, 0)
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q2/#', qos: 2 }] })
  await sub.next('suback')
  const pub = await connectClient(t, port)
  await pub.publishAsync('q2/a', 'A', { qos: 2 })
  await pub.publishAsync('q2/b', 'B', { qos: 2 })
  const a = await sub.next('publish') as mqttPacket.IPublishPacket
  const b = await sub.next('publish') as mqttPacket.IPublishPacket
  t.same([a.payload.toString(), b.payload.toString()], ['A', 'B'])
  // PUBREC for A only, then the connection drops: A is at the PUBREL step, B at PUBLISH.
  sub.send({ cmd: 'pubrec', messageId: a.messageId! })
  t.equal((await sub.next('pubrel'))?.messageId, a.messageId)
  sub.socket.destroy()
  await sleep(50)
  const again = await RawClient.open(t, port, 4)
  t.equal((await again.connect({ clientId: 'q2', clean: false }))?.sessionPresent, true)
  const rel = await again.next('pubrel')
  t.equal(rel?.messageId, a.messageId, 'PUBREL is sent again, not the PUBLISH [MQTT-4.4.0-1]')
  const dupB = await again.next('publish') as mqttPacket.IPublishPacket
  t.equal(dupB.payload.toString(), 'B')
  t.equal(dupB.dup, true, 'the unacknowledged PUBLISH comes again with DUP')
  t.equal(dupB.messageId, b.messageId, 'with the same packet id')
  again.send({ cmd: 'pubcomp', messageId: a.messageId! })
  again.send({ cmd: 'pubrec', messageId: b.messageId! })
  await again.next('pubrel')
  again.send({ cmd: 'pubcomp', messageId: b.messageId! })
  t.equal(await again.next('publish', 300), null, 'nothing else is delivered')
})

t.test('QoS 2 inbound: a resent PUBLISH after a reconnect is stored once', async t => {
  const { port, log } = await startGateway(t)
  const pub = await RawClient.open(t, port, 5)
  await pub.connect({ clientId: 'in2', clean: false, properties: { sessionExpiryInterval: 60 } })
  const publish = { cmd: 'publish', topic: 'once/x', payload: Buffer.from('1'), qos: 2, messageId: 77, retain: false, dup: false } as const
  pub.send(publish)
  t.equal((await pub.next('pubrec'))?.messageId, 77)
  pub.socket.destroy()
  await sleep(50)
  const again = await RawClient.open(t, port, 5)
  t.equal((await again.connect({ clientId: 'in2', clean: false, properties: { sessionExpiryInterval: 60 } }))?.sessionPresent, true)
  again.send({ ...publish, dup: true })
  t.equal((await again.next('pubrec'))?.messageId, 77)
  again.send({ cmd: 'pubrel', messageId: 77 })
  const comp = await again.next('pubcomp') as mqttPacket.IPubcompPacket
  t.equal(comp.messageId, 77)
  t.equal(comp.reasonCode ?? 0, 0)
  t.same((await logRecords(log)).map(r => r.value), ['1'], 'one record')
  again.send({ cmd: 'pubrel', messageId: 77 })
  t.equal(((await again.next('pubcomp')) as mqttPacket.IPubcompPacket).reasonCode, 0x92, 'unknown packet id afterwards')
})

t.test('shared subscription splits messages across the group', async t => {
  const { port } = await startGateway(t)
  const a = await connectClient(t, port, { protocolVersion: 5 })
  const b = await connectClient(t, port, { protocolVersion: 5 })
  const solo = await connectClient(t, port, { protocolVersion: 5 })
  await a.subscribeAsync('$share/workers/tasks/#', { qos: 1 })
  await b.subscribeAsync('$share/workers/tasks/#', { qos: 1 })
  await solo.subscribeAsync('tasks/#', { qos: 1 })
  const gotA: string[] = []
  const gotB: string[] = []
  a.on('message', (_t, p) => gotA.push(p.toString()))
  b.on('message', (_t, p) => gotB.push(p.toString()))
  const all = collect(solo, 20)
  const pub = await connectClient(t, port)
  for (let i = 0; i < 20; i++) await pub.publishAsync(`tasks/${i}`, String(i), { qos: 1 })
  await all
  for (let i = 0; i < 50 && gotA.length + gotB.length < 20; i++) await sleep(20)
  t.equal(gotA.length + gotB.length, 20, 'each message to exactly one member')
  t.same([...gotA, ...gotB].map(Number).sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i))
  t.ok(gotA.length >= 5 && gotB.length >= 5, `balanced (${gotA.length}/${gotB.length})`)
})

t.test('session takeover closes the older connection (v5 reason 0x8E)', async t => {
  const { port } = await startGateway(t)
  const old = await RawClient.open(t, port, 5)
  await old.connect({ clientId: 'same' })
  const fresh = await RawClient.open(t, port, 5)
  t.equal(((await fresh.connect({ clientId: 'same' })) as mqttPacket.IConnackPacket).reasonCode, 0)
  t.equal(((await old.next('disconnect')) as mqttPacket.IDisconnectPacket).reasonCode, 0x8e)
  t.ok(await old.waitClosed())
})

t.test('client id rules and assigned identifiers', async t => {
  const { port } = await startGateway(t)
  const v4 = await RawClient.open(t, port, 4)
  // CONNECT 3.1.1, clean session 0, keep alive 60, empty client id (mqtt-packet refuses to build it).
  v4.socket.write(Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x00, 0, 60, 0, 0]))
  t.equal(((await v4.next('connack')) as mqttPacket.IConnackPacket | null)?.returnCode, 2, 'empty id without clean session: identifier rejected [MQTT-3.1.3-8]')
  t.ok(await v4.waitClosed())
  const v4ok = await RawClient.open(t, port, 4)
  t.equal((await v4ok.connect({ clientId: '', clean: true }))?.returnCode, 0)
  const v5 = await RawClient.open(t, port, 5)
  const ack = await v5.connect({ clientId: '' }) as mqttPacket.IConnackPacket
  t.match(ack.properties?.assignedClientIdentifier, /^spool-/)
  t.equal(ack.properties?.receiveMaximum, 1000)
})

t.test('keep-alive: silent clients are closed after 1.5 × keep alive, and their will goes out', async t => {
  const { port } = await startGateway(t)
  const watcher = await connectClient(t, port)
  await watcher.subscribeAsync('ka/#')
  const silent = await RawClient.open(t, port, 5)
  await silent.connect({ clientId: 'silent', keepalive: 1, will: { topic: 'ka/will', payload: Buffer.from('timeout'), qos: 0, retain: false } })
  const started = Date.now()
  const got = collect(watcher, 1, 4000)
  const disconnect = await silent.next('disconnect', 4000) as mqttPacket.IDisconnectPacket
  t.equal(disconnect.reasonCode, 0x8d)
  t.ok(Date.now() - started >= 1400, 'not before 1.5 s')
  t.equal((await got)[0]!.payload, 'timeout')
})

t.test('3.1.1 keep alive: above the maximum is refused at CONNACK (there is no way to tell the client); 0 has no timeout', async t => {
  const { port } = await startGateway(t, { mqttKeepAliveMax: 3 })
  const tooLong = await RawClient.open(t, port, 4)
  const refused = await tooLong.connect({ clientId: 'long', keepalive: 10 })
  t.equal(refused?.returnCode, 2, 'identifier rejected, as Mosquitto answers')
  const none = await RawClient.open(t, port, 4)
  const ok = await none.connect({ clientId: 'zero', keepalive: 0 })
  t.equal(ok?.returnCode, 0)
  const within = await RawClient.open(t, port, 4)
  t.equal((await within.connect({ clientId: 'within', keepalive: 1 }))?.returnCode, 0)
  await sleep(5000)
  const ping = none.next('pingresp', 2000)
  none.send({ cmd: 'pingreq' })
  t.ok(await ping, 'a keep alive of 0 is still connected after longer than 1.5 × the maximum')
})

t.test('v5: will delay, topic aliases, user properties as headers, message expiry, subscription ids', async t => {
  const { port, log } = await startGateway(t)
  const sub = await connectClient(t, port, { protocolVersion: 5 })
  await sub.subscribeAsync('props/#', { qos: 1, properties: { subscriptionIdentifier: 42 } })
  const raw = await RawClient.open(t, port, 5)
  await raw.connect({ clientId: 'aliaser' })
  const got = collect(sub, 2)
  raw.send({ cmd: 'publish', topic: 'props/a', payload: Buffer.from('first'), qos: 1, messageId: 1, retain: false, dup: false, properties: { topicAlias: 3, userProperties: { origin: 'raw', 'mqtt.qos': 'spoof' }, contentType: 'text/plain', messageExpiryInterval: 60 } })
  raw.send({ cmd: 'publish', topic: '', payload: Buffer.from('second'), qos: 1, messageId: 2, retain: false, dup: false, properties: { topicAlias: 3 } })
  await raw.next('puback')
  await raw.next('puback')
  const [m1, m2] = await got
  t.equal(m2!.topic, 'props/a', 'the alias resolves to the topic')
  t.same(m1!.packet.properties?.userProperties, { origin: 'raw' }, 'a reserved mqtt.* user property reaches nobody, live or from the log')
  t.equal(m1!.packet.properties?.contentType, 'text/plain')
  t.ok((m1!.packet.properties?.messageExpiryInterval ?? 0) <= 60)
  t.same(m1!.packet.properties?.subscriptionIdentifier, 42)
  const records = await logRecords(log)
  t.same(records.map(r => r.key), ['props/a', 'props/a'])
  t.equal(records[0]!.headers.origin, 'raw')
  t.equal(records[0]!.headers['mqtt.content-type'], 'text/plain')
  t.equal(records[0]!.headers['mqtt.message-expiry'], '60')
  raw.send({ cmd: 'publish', topic: '', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 9 } })
  t.equal(((await raw.next('disconnect')) as mqttPacket.IDisconnectPacket).reasonCode, 0x82, 'unknown alias is a protocol error')

  const watcher = await connectClient(t, port, { protocolVersion: 5 })
  await watcher.subscribeAsync('delayed/#')
  const delayed = await connectClient(t, port, { protocolVersion: 5, clientId: 'delayer', properties: { sessionExpiryInterval: 10 }, will: { topic: 'delayed/w', payload: Buffer.from('late'), qos: 0, retain: false, properties: { willDelayInterval: 1 } } })
  const gotWill = collect(watcher, 1, 4000)
  const dropped = Date.now()
  delayed.stream.destroy()
  await gotWill
  t.ok(Date.now() - dropped >= 900, 'the will waits for its delay')
})

t.test('records written by other producers reach subscribers; null keys do not', async t => {
  const { port, log } = await startGateway(t)
  const sub = await connectClient(t, port)
  await sub.subscribeAsync('sensors/#', { qos: 1 })
  const got = collect(sub, 2)
  // Another client creates the log topic (as the SDK's auto-create would): tailed from its start.
  await log.logs.createTopic('mqtt', { partitions: 1 })
  log.append('mqtt', 0, encodeBatch([
    { key: enc.encode('sensors/x'), value: enc.encode('from-sdk') },
    { key: null, value: enc.encode('no key') },
    { key: enc.encode('sensors/y'), value: enc.encode('qos0'), headers: [{ key: 'mqtt.qos', value: enc.encode('0') }] },
  ]))
  const messages = await got
  t.same(messages.map(m => [m.topic, m.payload, m.packet.qos]), [['sensors/x', 'from-sdk', 1], ['sensors/y', 'qos0', 0]])
})

t.test('mapping rules send topics to other log topics (first match wins)', async t => {
  const { port, log } = await startGateway(t, { mqttMap: ['sensors/#=sensors', 'sensors/special/#=special'], mqttPartitions: 3 })
  t.notOk(log.logs.hasTopic('sensors'), 'log topics are created on their first publish')
  const sub = await connectClient(t, port)
  await sub.subscribeAsync('#', { qos: 1 })
  const pub = await connectClient(t, port)
  const got = collect(sub, 3)
  await pub.publishAsync('sensors/special/1', 'a', { qos: 1 })
  await pub.publishAsync('other', 'b', { qos: 1 })
  await pub.publishAsync('sensors/2', 'c', { qos: 1 })
  t.equal((await got).length, 3)
  t.equal(log.logs.topic('sensors')?.partitions, 3)
  let inSensors = 0
  for (let p = 0; p < 3; p++) inSensors += log.logs.partition('sensors', p).logEndOffset
  t.equal(inSensors, 2)
  t.notOk(log.logs.hasTopic('special'), 'no publish matched the second rule first')
  let inMqtt = 0
  for (let p = 0; p < 3; p++) inMqtt += log.logs.partition('mqtt', p).logEndOffset
  t.equal(inMqtt, 1)
})

t.test('bad input: malformed, oversize and out-of-order packets close only that connection', async t => {
  const { port, log } = await startGateway(t, { mqttMaxPacketBytes: 2048 })
  const bystander = await connectClient(t, port, { protocolVersion: 5 })
  await bystander.subscribeAsync('ok/#', { qos: 1 })

  const big5 = await RawClient.open(t, port, 5)
  await big5.connect({ clientId: 'big5' })
  big5.send({ cmd: 'publish', topic: 'ok/big', payload: Buffer.alloc(4096), qos: 1, messageId: 1, retain: false, dup: false })
  t.equal(((await big5.next('disconnect')) as mqttPacket.IDisconnectPacket).reasonCode, 0x95, 'v5: packet too large')
  t.ok(await big5.waitClosed())

  const big4 = await RawClient.open(t, port, 4)
  await big4.connect({ clientId: 'big4' })
  big4.socket.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f])) // claims 256 MB
  t.ok(await big4.waitClosed(), 'v4: closed socket')

  const garbage = await RawClient.open(t, port, 4)
  garbage.socket.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'))
  t.ok(await garbage.waitClosed(), 'not MQTT: closed')

  const early = await RawClient.open(t, port, 4)
  early.send({ cmd: 'publish', topic: 'ok/x', payload: Buffer.from('x'), qos: 0, retain: false, dup: false })
  t.ok(await early.waitClosed(), 'PUBLISH before CONNECT [MQTT-3.1.0-1]')

  const badTopic = await RawClient.open(t, port, 4)
  await badTopic.connect({ clientId: 'bt' })
  badTopic.socket.write(Buffer.from([0x30, 0x05, 0x00, 0x03, 0x61, 0x2f, 0x23])) // topic "a/#"
  t.ok(await badTopic.waitClosed(), 'wildcard in a topic name')

  const badFlags = await RawClient.open(t, port, 5)
  await badFlags.connect({ clientId: 'bf' })
  badFlags.socket.write(Buffer.from([0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00])) // SUBSCRIBE, no filters
  t.equal(((await badFlags.next('disconnect')) as mqttPacket.IDisconnectPacket | null)?.reasonCode !== 0, true)
  t.ok(await badFlags.waitClosed())

  // [MQTT-3.10.3-2]: the 5-byte UNSUBSCRIBE with no filter used to end the broker process
  // (v5) or get an UNSUBACK (3.1.1); both versions are now closed, v5 with DISCONNECT 0x82.
  const noFilter5 = await RawClient.open(t, port, 5)
  await noFilter5.connect({ clientId: 'uf5' })
  noFilter5.socket.write(Buffer.from([0xa2, 0x03, 0x00, 0x01, 0x00])) // UNSUBSCRIBE, id 1, no properties, no filter
  t.equal(((await noFilter5.next('disconnect')) as mqttPacket.IDisconnectPacket | null)?.reasonCode, 0x82, 'v5 UNSUBSCRIBE without filters: protocol error')
  t.ok(await noFilter5.waitClosed())
  const noFilter4 = await RawClient.open(t, port, 4)
  await noFilter4.connect({ clientId: 'uf4' })
  noFilter4.socket.write(Buffer.from([0xa2, 0x02, 0x00, 0x01])) // UNSUBSCRIBE, id 1, no filter
  t.equal(await noFilter4.next('unsuback', 500), null, '3.1.1 UNSUBSCRIBE without filters: no UNSUBACK')
  t.ok(await noFilter4.waitClosed(), '3.1.1: closed')

  const got = collect(bystander, 1)
  const pub = await connectClient(t, port)
  await pub.publishAsync('ok/fine', 'still here', { qos: 1 })
  t.equal((await got)[0]!.payload, 'still here', 'other clients are unaffected')
  t.same((await logRecords(log)).map(r => r.key), ['ok/fine'], 'nothing from the bad packets reached the log')
})

t.test('a subscriber that never reads does not grow broker memory without bound', async t => {
  const maxQueued = 64 * 1024
  const { port, handle } = await startGateway(t, { mqttMaxQueuedBytes: maxQueued, mqttMaxInflight: 10 })
  const frozen0 = await RawClient.open(t, port, 4)
  await frozen0.connect({ clientId: 'frozen0' })
  frozen0.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood0/#', qos: 0 }] })
  await frozen0.next('suback')
  const frozen1 = await RawClient.open(t, port, 4)
  await frozen1.connect({ clientId: 'frozen1' })
  frozen1.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood1/#', qos: 1 }] })
  await frozen1.next('suback')
  // Both stop reading: the kernel buffers fill, then the broker's queue.
  frozen0.socket.pause()
  frozen1.socket.pause()
  const pub = await connectClient(t, port)
  const payload = Buffer.alloc(1000, 0x61)
  for (let round = 0; round < 60; round++) {
    for (let i = 0; i < 200; i++) pub.publish(`flood0/${i % 4}`, payload, { qos: 0 })
    for (let i = 0; i < 20; i++) pub.publish(`flood1/${i % 4}`, payload, { qos: 1 })
    await sleep(5)
  }
  await pub.publishAsync('flood1/end', 'end', { qos: 1 })
  const conn0 = [...handle.gateway.connections].find(c => c.clientId === 'frozen0')!
  const session1 = handle.gateway.sessions.get('frozen1')!
  t.ok(conn0.queuedBytes <= maxQueued + 2 * 1100, `queued ${conn0.queuedBytes} bytes stays near mqttMaxQueuedBytes`)
  t.ok(handle.gateway.counters.droppedQos0 > 0, `QoS 0 past the limit is dropped (${handle.gateway.counters.droppedQos0})`)
  t.ok(session1.inflight.size <= 10, `in flight ${session1.inflight.size} stays within the window`)
  // It reads again: QoS 1 messages resume from the log, none lost.
  frozen1.socket.resume()
  let qos1 = 0
  const deadline = Date.now() + 10_000
  for (;;) {
    const p = await frozen1.next('publish', Math.max(1, deadline - Date.now())) as mqttPacket.IPublishPacket | null
    if (p === null) break
    qos1++
    frozen1.send({ cmd: 'puback', messageId: p.messageId! })
    if (p.topic === 'flood1/end') break
  }
  t.equal(qos1, 60 * 20 + 1, 'every QoS 1 message arrives once the client reads')
})

t.test('MQTT over WebSocket at /mqtt', async t => {
  const { handle } = await startGateway(t, { httpPort: 0 })
  const ws = mqtt.connect(`ws://127.0.0.1:${handle.httpPort!}/mqtt`, { protocolVersion: 5, reconnectPeriod: 0 })
  t.teardown(() => { ws.end(true) })
  await new Promise<void>((resolve, reject) => { ws.once('connect', () => resolve()); ws.once('error', reject) })
  await ws.subscribeAsync('web/#', { qos: 1 })
  const got = collect(ws, 1)
  const tcp = await connectClient(t, handle.port)
  await tcp.publishAsync('web/1', 'over ws', { qos: 1 })
  t.equal((await got)[0]!.payload, 'over ws')
})

/** Writes raw bytes on a fresh socket and returns everything the gateway sends until it closes. */
async function untilClosed (t: Parameters<typeof startGateway>[0], port: number, bytes: Buffer): Promise<Buffer> {
  const socket = connect({ port, host: '127.0.0.1' })
  t.teardown(() => socket.destroy())
  await new Promise(resolve => socket.once('connect', resolve))
  let got = Buffer.alloc(0)
  socket.on('data', (d: Buffer) => { got = Buffer.concat([got, d]) })
  const closed = new Promise(resolve => socket.once('close', resolve))
  socket.write(bytes)
  await closed
  return got
}

t.test('a CONNECT with a protocol level the gateway does not speak gets CONNACK 0x01, then the socket closes', async t => {
  const { port } = await startGateway(t)
  const got = await untilClosed(t, port, Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 6, 2, 0, 60, 0, 0])) // "MQTT", level 6
  t.equal(got.toString('hex'), '20020001', 'CONNACK, return code 1: unacceptable protocol version')
})

t.test('protocol checks: subscription identifier 0, 3.1.1 password without user name, UNSUBSCRIBE of an invalid filter', async t => {
  const { port } = await startGateway(t)
  const v5 = await RawClient.open(t, port, 5)
  await v5.connect({ clientId: 'subid0' })
  v5.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/b', qos: 0 }], properties: { subscriptionIdentifier: 0 } } as mqttPacket.ISubscribePacket)
  const disconnect = await v5.next('disconnect') as mqttPacket.IDisconnectPacket | null
  t.equal(disconnect?.reasonCode, 0x82, 'subscription identifier 0 is a protocol error')

  // 3.1.1 CONNECT, flags: password + clean session, no user name (mqtt.js will not build it)
  const got = await untilClosed(t, port, Buffer.concat([Buffer.from([0x10, 22, 0, 4]), Buffer.from('MQTT'), Buffer.from([4, 0x42, 0, 60, 0, 2]), Buffer.from('pw'), Buffer.from([0, 6]), Buffer.from('secret')]))
  t.equal(got.length, 0, '3.1.1: a password without a user name closes without a CONNACK')
  const ctl = await RawClient.open(t, port, 4)
  t.equal((await ctl.connect({ clientId: 'dev\u0001ice' }))?.returnCode, 2, 'a client id with a control character: identifier rejected')

  const un = await RawClient.open(t, port, 5)
  await un.connect({ clientId: 'unsub' })
  un.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['a/#/b', 'never/subscribed'] } as mqttPacket.IUnsubscribePacket)
  const unsuback = await un.next('unsuback') as mqttPacket.IUnsubackPacket | null
  t.same(unsuback?.granted, [0x8f, 0x11], 'invalid filter 0x8F; valid but not subscribed 0x11')
})
