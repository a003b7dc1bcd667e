// MQTT with --auth against real clients (mosquitto_pub/mosquitto_sub with -u/-P and
// --cafile, mqtt.js 3.1.1 and 5) on 127.0.0.1. Proves: passwords are checked against the one
// user store (the same users as the native protocol), a wrong one is CONNACK 0x86 / 4 and
// no credentials 0x87 / 5; a principal with read but not write on the log topic `orders`
// subscribes but its publishes are refused (MQTT 5 PUBACK 0x87; 3.1.1 acknowledged and
// dropped) and nothing reaches the log; a filter that can reach a log topic the principal may
// not read gets SUBACK 0x87 / 0x80; a will on a forbidden topic refuses the CONNECT; a taken-
// over persistent session keeps only what the new principal may read; over the MQTT TLS
// listener mosquitto connects with --cafile and a client certificate is a principal; and no
// password is in any log line.
import t from 'tap'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { Broker } from '../../broker/broker.js'
import { collect, run } from '../helpers/mqtt.js'
import { LogAudit, makePki, startSecureBroker, type Pki } from '../helpers/security.js'

const audit = new LogAudit()
const PASSWORDS = { admin: 'admin-Secret-1', reader: 'reader-Secret-2', writer: 'writer-Secret-3' }
audit.secret(...Object.values(PASSWORDS), 'wrong-Password-9')

const CERT_PRINCIPAL = 'User:CN=alice,OU=eng,O=acme,C=US'
const ACLS = [
  { principal: 'User:reader', resourceType: 'topic' as const, resourceName: 'orders', operation: 'read' as const },
  { principal: 'User:writer', resourceType: 'topic' as const, resourceName: 'orders', operation: 'all' as const },
  { principal: CERT_PRINCIPAL, resourceType: 'topic' as const, resourceName: 'orders', operation: 'all' as const },
]

async function broker (t: Parameters<typeof startSecureBroker>[0], extra: Parameters<typeof startSecureBroker>[1] = {}): Promise<Broker> {
  return startSecureBroker(t, {
    users: PASSWORDS, acls: ACLS, superUsers: ['User:admin'], logger: audit.logger(),
    mqttPort: 0, mqttMap: ['orders/#=orders'], ...extra,
  })
}

/** Connects an mqtt.js client; resolves with it, or with the connect error (its code is the CONNACK's). */
function connect (t: { teardown: (fn: () => unknown) => void }, port: number, options: IClientOptions): Promise<MqttClient | Error & { code?: number }> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000, ...options })
  t.teardown(() => { client.end(true) })
  return new Promise(resolve => {
    client.once('connect', () => resolve(client))
    client.once('error', err => resolve(err))
    client.once('close', () => resolve(new Error('closed before connect')))
  })
}

async function connected (t: { teardown: (fn: () => unknown) => void }, port: number, options: IClientOptions): Promise<MqttClient> {
  const c = await connect(t, port, options)
  if (c instanceof Error) throw c
  return c
}

/** The SUBACK's codes (mqtt.js rejects a SUBACK with a failure code in it, carrying the packet). */
async function granted (subscribing: Promise<Array<{ qos: number }>>): Promise<number[]> {
  try {
    return (await subscribing).map(g => g.qos)
  } catch (err) {
    const codes = (err as { packet?: { granted?: number[] } }).packet?.granted
    if (codes === undefined) throw err
    return codes
  }
}

function logEnd (b: Broker, topic: string): number {
  return b.topics.exists(topic) ? b.partitions.offsets(topic, 0).logEndOffset : 0
}

t.test('mosquitto -u/-P against the user store: right, wrong, none', async t => {
  const b = await broker(t)
  const port = String(b.ports.mqtt)
  const sub = run(t, 'mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-u', 'writer', '-P', PASSWORDS.writer, '-t', 'orders/#', '-C', '1', '-W', '10', '-V', 'mqttv311'], { timeoutMs: 12_000 })
  for (let i = 0; i < 100 && b.mqtt!.sessions.size === 0; i++) await new Promise(resolve => setTimeout(resolve, 50))
  const pub = await run(t, 'mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-u', 'writer', '-P', PASSWORDS.writer, '-t', 'orders/1', '-m', 'paid', '-q', '1'])
  t.equal(pub.code, 0, pub.stderr)
  const got = await sub
  t.equal(got.stdout.trim(), 'paid', 'a user of the store publishes and subscribes with mosquitto')
  t.equal(logEnd(b, 'orders'), 1, 'the message is in the log topic orders')
  const wrong = await run(t, 'mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-u', 'writer', '-P', 'wrong-Password-9', '-t', 'orders/1', '-m', 'x', '-V', 'mqttv311'])
  t.not(wrong.code, 0)
  t.match(wrong.stderr, /bad user name or password/i, 'a wrong password: CONNACK 4')
  const anon = await run(t, 'mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-t', 'orders/1', '-m', 'x', '-V', 'mqttv311'])
  t.not(anon.code, 0)
  t.match(anon.stderr, /not authori[sz]ed/i, 'no credentials: CONNACK 5')
  const wrong5 = await run(t, 'mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-u', 'nobody', '-P', 'wrong-Password-9', '-t', 'orders/1', '-m', 'x', '-V', 'mqttv5'])
  t.not(wrong5.code, 0)
  t.match(wrong5.stderr, /bad user name or password/i, 'MQTT 5, unknown user: 0x86')
  t.equal(logEnd(b, 'orders'), 1, 'nothing else was stored')
})

t.test('mqtt.js: CONNACK codes, READ without WRITE, SUBACK 0x87, wills, session takeover', async t => {
  const b = await broker(t)
  const port = b.ports.mqtt!
  const bad5 = await connect(t, port, { protocolVersion: 5, username: 'reader', password: 'wrong-Password-9' })
  t.equal((bad5 as { code?: number }).code, 0x86, 'v5 wrong password: 0x86 Bad User Name or Password')
  const anon5 = await connect(t, port, { protocolVersion: 5 })
  t.equal((anon5 as { code?: number }).code, 0x87, 'v5 no credentials: 0x87 Not Authorized')
  const bad4 = await connect(t, port, { protocolVersion: 4, username: 'reader', password: 'wrong-Password-9' })
  t.equal((bad4 as { code?: number }).code, 4, '3.1.1 wrong password: 4')

  const wsUrl = `ws://127.0.0.1:${b.ports.http}/mqtt`
  const overWs = mqtt.connect(wsUrl, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 5, username: 'reader', password: 'wrong-Password-9' })
  t.teardown(() => { overWs.end(true) })
  t.equal(await new Promise(resolve => { overWs.once('error', err => resolve((err as { code?: number }).code)); overWs.once('connect', () => resolve('connected')) }), 0x86, 'MQTT over WebSocket checks the same store: 0x86')
  const wsOk = mqtt.connect(wsUrl, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 5, username: 'reader', password: PASSWORDS.reader })
  t.teardown(() => { wsOk.end(true) })
  t.equal(await new Promise(resolve => { wsOk.once('error', err => resolve((err as { code?: number }).code)); wsOk.once('connect', () => resolve('connected')) }), 'connected')

  const reader = await connected(t, port, { protocolVersion: 5, username: 'reader', password: PASSWORDS.reader, clientId: 'reader-1' })
  const codes = await granted(reader.subscribeAsync({ 'orders/#': { qos: 1 }, 'other/#': { qos: 1 }, '#': { qos: 0 } }))
  t.same(codes, [1, 0x87, 0x87], 'orders/# granted; filters reaching the default log topic mqtt: 0x87')
  await t.rejects(reader.publishAsync('orders/2', 'forged', { qos: 1 }), { code: 0x87 }, 'v5 publish without write: PUBACK 0x87')
  const reader4 = await connected(t, port, { protocolVersion: 4, username: 'reader', password: PASSWORDS.reader, clientId: 'reader-4' })
  await reader4.publishAsync('orders/3', 'forged', { qos: 1 })
  t.pass('3.1.1 publish without write is acknowledged')
  t.same(await granted(reader4.subscribeAsync('other/#', { qos: 1 })), [0x80], '3.1.1 SUBACK 0x80 for a forbidden filter')
  t.equal(logEnd(b, 'orders'), 0, 'and neither forged publish reached the log')

  const writer = await connected(t, port, { protocolVersion: 5, username: 'writer', password: PASSWORDS.writer })
  const arriving = collect(reader, 1)
  await writer.publishAsync('orders/4', 'real', { qos: 1 })
  t.equal((await arriving)[0]!.payload, 'real', 'the reader receives what the writer publishes')
  await t.rejects(writer.publishAsync('elsewhere/1', 'x', { qos: 1 }), { code: 0x87 }, 'the writer may not write the default log topic')

  const will = await connect(t, port, { protocolVersion: 5, username: 'reader', password: PASSWORDS.reader, will: { topic: 'orders/will', payload: Buffer.from('bye'), qos: 0, retain: false } })
  t.equal((will as { code?: number }).code, 0x87, 'a will the principal may not publish refuses the CONNECT')

  const persistent = await connected(t, port, { protocolVersion: 4, username: 'admin', password: PASSWORDS.admin, clientId: 'shared-id', clean: false })
  await persistent.subscribeAsync({ 'orders/#': { qos: 1 }, 'admin/#': { qos: 1 } })
  // The reader takes the session over while the admin is still connected [MQTT-3.1.4-3].
  const takeover = await connected(t, port, { protocolVersion: 4, username: 'reader', password: PASSWORDS.reader, clientId: 'shared-id', clean: false })
  t.same([...b.mqtt!.sessions.get('shared-id')!.subscriptions.keys()], ['orders/#'], 'the reader taking over the session keeps only orders/#')
  takeover.end(true)
})

t.test('MQTT over TLS: mosquitto --cafile, and a client certificate as the principal', async t => {
  const pki: Pki = await makePki(t)
  const b = await broker(t, { mqttPort: null, mqttTlsPort: 0, tlsCertFile: pki.file('server.crt'), tlsKeyFile: pki.file('server.key'), tlsCaFile: pki.file('ca.crt'), tlsClientAuth: 'requested' })
  const port = String(b.ports.mqttTls)
  t.equal(b.ports.mqtt, null, 'TLS instead of plain')
  const pub = await run(t, 'mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '--cafile', pki.file('ca.crt'), '-u', 'writer', '-P', PASSWORDS.writer, '-t', 'orders/tls', '-m', 'over tls', '-q', '1'])
  t.equal(pub.code, 0, pub.stderr)
  t.equal(logEnd(b, 'orders'), 1, 'mosquitto with --cafile and -u/-P publishes over TLS')
  const byCert = await run(t, 'mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '--cafile', pki.file('ca.crt'), '--cert', pki.file('alice.crt'), '--key', pki.file('alice.key'), '-t', 'orders/cert', '-m', 'by cert', '-q', '1'])
  t.equal(byCert.code, 0, byCert.stderr)
  t.equal(logEnd(b, 'orders'), 2, `the certificate subject ${CERT_PRINCIPAL} is authorized by its ACL`)
  const bobCert = await run(t, 'mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '--cafile', pki.file('ca.crt'), '--cert', pki.file('bob.crt'), '--key', pki.file('bob.key'), '-t', 'orders/cert', '-m', 'x', '-q', '1', '-V', 'mqttv5'])
  t.equal(logEnd(b, 'orders'), 2, `bob's certificate has no ACL: nothing stored (exit ${String(bobCert.code)})`)
  const noCa = await run(t, 'mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '--capath', '/nonexistent', '-u', 'writer', '-P', PASSWORDS.writer, '-t', 'orders/x', '-m', 'x'])
  t.not(noCa.code, 0, 'without the CA mosquitto refuses the broker\'s certificate')
})

t.test('no password in any log line of this file', async t => {
  t.ok(audit.lines.some(l => l.includes('"authentication failed"') && l.includes('"protocol":"mqtt"')), 'MQTT failures were logged')
  t.same(audit.leaks(), [])
})
