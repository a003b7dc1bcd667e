// Security on the Kafka listener with --auth, against a real broker on 127.0.0.1 with real
// Kafka clients: kcat 1.7 (librdkafka 2.0.2: SaslHandshake v1 + SaslAuthenticate v0),
// kafkajs 2.2.4 (SaslAuthenticate v1), kafka-python 2.0.2 (SaslHandshake v0 and raw SASL
// tokens) as child processes, and a raw socket client for exact versions (SaslAuthenticate
// v2, bad frames). Certificates are made by openssl for the test. Proves: SCRAM-SHA-256/512
// and PLAIN authenticate (PLAIN only on TLS unless saslPlainWithoutTls); no credentials, a
// wrong password and an unknown user are refused by every client; READ without WRITE on
// `orders` consumes but cannot produce (TOPIC_AUTHORIZATION_FAILED), metadata and group
// lists show only what the principal may describe, idempotent producers need write
// somewhere (CLUSTER_AUTHORIZATION_FAILED); a group ACL keeps a member out of another team's
// group (GROUP_AUTHORIZATION_FAILED) and commits need read on the topic; the Kafka TLS
// listener serves ssl and sasl_ssl, advertises its own port, refuses an untrusted CA, and a
// client certificate's subject is the principal; CreateAcls/DescribeAcls/DeleteAcls round
// trip from kafkajs and kafka-python, in force at once, for super users only; the
// pre-authentication stage limits apis and frame sizes and closes a connection that has not
// authenticated in 10 s; re-authentication must keep the principal; OAUTHBEARER takes a
// broker token; and no password, token or SCRAM proof is in any log line of this file.
import t from 'tap'
import { readFileSync } from 'node:fs'
import kafkajsPackage, { Kafka, logLevel, type KafkaConfig, type SASLOptions } from 'kafkajs'
import type { Broker } from '../../broker/broker.js'
import { AclStore } from '../../broker/security/acl-store.js'
import { nodeSaslCrypto } from '../../platform/sasl-crypto-node.js'
import { createSaslClient } from '../../protocol/sasl/client.js'
import { encodeBatch } from '../../protocol/record-batch/records.js'
import { fromUtf8 } from '../../protocol/sasl/encoding.js'
import { kcat, PYTHON, runProgram } from '../helpers/kafka-programs.js'
import { KafkaRawClient } from '../helpers/kafka-raw.js'
import { LogAudit, makePki, startSecureBroker, type Pki } from '../helpers/security.js'
import { waitFor } from '../helpers/wait.js'

// kafkajs is CommonJS: its enums come from the default export.
const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajsPackage
const audit = new LogAudit()
const PASSWORDS = { admin: 'admin-Secret-1', alice: 'alice-Secret-2', bob: 'bob-Secret-3', carol: 'carol-Secret-4' }
const WRONG = 'wrong-Password-9'
audit.secret(...Object.values(PASSWORDS), WRONG)
type User = keyof typeof PASSWORDS

const ALICE_DN = 'User:CN=alice,OU=eng,O=acme,C=US'
const ACLS = [
  { principal: 'User:alice', resourceType: 'topic' as const, resourceName: 'orders', operation: 'read' as const },
  { principal: 'User:alice', resourceType: 'group' as const, resourceName: 'team-a.', patternType: 'prefixed' as const, operation: 'read' as const },
  { principal: 'User:bob', resourceType: 'topic' as const, resourceName: 'logs.', patternType: 'prefixed' as const, operation: 'all' as const },
  { principal: 'User:bob', resourceType: 'group' as const, resourceName: 'team-b.', patternType: 'prefixed' as const, operation: 'read' as const },
  { principal: ALICE_DN, resourceType: 'topic' as const, resourceName: 'orders', operation: 'read' as const },
  { principal: 'User:CN=bob,O=acme', resourceType: 'topic' as const, resourceName: 'orders', operation: 'write' as const },
]

type Extra = Parameters<typeof startSecureBroker>[1]

function broker (tt: Parameters<typeof startSecureBroker>[0], extra: Extra = {}): Promise<Broker> {
  return startSecureBroker(tt, { users: PASSWORDS, acls: ACLS, superUsers: ['User:admin'], kafkaPort: 0, port: null, httpPort: null, logger: audit.logger(), ...extra })
}

const kafkaAddress = (b: Broker): string => `127.0.0.1:${b.ports.kafka}`

/** kcat's -X options for SASL as `user` (a wrong password with `password`). */
function saslArgs (user: User, mechanism: string, options: { tls?: boolean, password?: string } = {}): string[] {
  return ['-X', `security.protocol=${options.tls === true ? 'sasl_ssl' : 'sasl_plaintext'}`, '-X', `sasl.mechanisms=${mechanism}`,
    '-X', `sasl.username=${user}`, '-X', `sasl.password=${options.password ?? PASSWORDS[user]}`]
}

async function kcatProduce (tt: Parameters<typeof kcat>[0], address: string, auth: string[], topic: string, lines: string[]): Promise<{ code: number | string, stderr: string }> {
  return kcat(tt, address, [...auth, '-P', '-t', topic, '-m', '5'], { input: lines.map(l => `${l}\n`).join(''), timeoutMs: 20_000 })
}

async function kcatConsume (tt: Parameters<typeof kcat>[0], address: string, auth: string[], topic: string): Promise<{ code: number | string, stdout: string, stderr: string }> {
  return kcat(tt, address, [...auth, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-m', '5'], { timeoutMs: 20_000 })
}

function kafkajs (address: string, sasl: SASLOptions | null, extra: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    brokers: [address], clientId: 'kafka-security', logLevel: logLevel.NOTHING,
    retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 200 }, connectionTimeout: 3000, requestTimeout: 10_000,
    ...(sasl === null ? {} : { sasl }), ...extra,
  })
}

const scram = (user: User, password = PASSWORDS[user]): SASLOptions => ({ mechanism: 'scram-sha-512', username: user, password })

/** Runs `fn` with a connected kafkajs admin, disconnected afterwards. */
async function withAdmin<T> (k: Kafka, fn: (admin: ReturnType<Kafka['admin']>) => Promise<T>): Promise<T> {
  const admin = k.admin()
  await admin.connect()
  try {
    return await fn(admin)
  } finally {
    await admin.disconnect()
  }
}

/** The values a kafkajs consumer in `groupId` reads from `topic` until it has `n` (bounded). */
async function consumeKafkajs (k: Kafka, groupId: string, topic: string, n: number): Promise<string[]> {
  const consumer = k.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 500 })
  const seen: string[] = []
  try {
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => { seen.push(String(message.value)) } })
    await waitFor(() => seen.length >= n, 20_000, `${n} records in ${groupId}`)
  } finally {
    await consumer.disconnect()
  }
  return seen
}

/** The error a kafkajs consumer in `groupId` crashes with (bounded). */
async function consumerCrash (k: Kafka, groupId: string, topic: string): Promise<{ name: string, type?: string }> {
  const consumer = k.consumer({ groupId, retry: { retries: 0 } })
  try {
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    const crashed = new Promise<{ name: string, type?: string }>(resolve => consumer.on(consumer.events.CRASH, e => resolve(e.payload.error as unknown as { name: string, type?: string })))
    await consumer.run({ eachMessage: async () => {} })
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<{ name: string }>(resolve => { timer = setTimeout(() => resolve({ name: 'no crash within 20 s' }), 20_000) })
    const r = await Promise.race([crashed, timeout])
    clearTimeout(timer)
    return r
  } finally {
    await consumer.disconnect()
  }
}

async function rejection (p: Promise<unknown>): Promise<{ name?: string, type?: string, message?: string }> {
  try {
    await p
    return { name: 'resolved' }
  } catch (err) {
    return err as { name?: string, type?: string, message?: string }
  }
}

let pki: Pki
t.before(async () => { pki = await makePki(t) })

t.test('SASL on the Kafka listener: kcat and kafkajs with SCRAM-SHA-256 and -512; no credentials, a wrong password, an unknown user and PLAIN without TLS are refused', async t => {
  const b = await broker(t)
  const addr = kafkaAddress(b)
  t.equal((await kcatProduce(t, addr, saslArgs('admin', 'SCRAM-SHA-256'), 'orders', ['k1', 'k2'])).code, 0, 'kcat produces with SCRAM-SHA-256')
  const read = await kcatConsume(t, addr, saslArgs('admin', 'SCRAM-SHA-512'), 'orders')
  t.equal(read.code, 0, read.stderr)
  t.same(read.stdout.trim().split('\n'), ['k1', 'k2'], 'kcat consumes with SCRAM-SHA-512')

  const anonymous = await kcat(t, addr, ['-L', '-m', '3'], { timeoutMs: 20_000 })
  t.not(anonymous.code, 0, 'kcat without credentials gets no metadata')
  t.match(anonymous.stderr, /Failed to acquire metadata/)
  const wrong = await kcat(t, addr, [...saslArgs('alice', 'SCRAM-SHA-256', { password: WRONG }), '-L', '-m', '3'], { timeoutMs: 20_000 })
  t.not(wrong.code, 0)
  t.match(wrong.stderr, /SASL authentication error: Authentication failed/, 'kcat with a wrong password: SASL_AUTHENTICATION_FAILED')
  const unknown = await kcat(t, addr, ['-X', 'security.protocol=sasl_plaintext', '-X', 'sasl.mechanisms=SCRAM-SHA-512', '-X', 'sasl.username=mallory', '-X', `sasl.password=${WRONG}`, '-L', '-m', '3'], { timeoutMs: 20_000 })
  t.match(unknown.stderr, /SASL authentication error: Authentication failed/, 'an unknown user fails the same way')
  const plain = await kcat(t, addr, [...saslArgs('admin', 'PLAIN'), '-L', '-m', '3'], { timeoutMs: 20_000 })
  t.not(plain.code, 0)
  t.match(plain.stderr, /Unsupported SASL mechanism/i, 'PLAIN is not offered without TLS')

  for (const mechanism of ['scram-sha-256', 'scram-sha-512'] as const) {
    const topics = await withAdmin(kafkajs(addr, { mechanism, username: 'admin', password: PASSWORDS.admin }), a => a.listTopics())
    t.ok(topics.includes('orders'), `kafkajs authenticates with ${mechanism}`)
  }
  const bad = await rejection(withAdmin(kafkajs(addr, { mechanism: 'scram-sha-256', username: 'alice', password: WRONG }), a => a.listTopics()))
  t.equal(bad.name, 'KafkaJSSASLAuthenticationError', `kafkajs with a wrong password: ${bad.message}`)
  const none = await rejection(withAdmin(kafkajs(addr, null), a => a.listTopics()))
  t.not(none.name, 'resolved', `kafkajs without credentials is refused (${none.name}: ${none.message})`)

  const failures = b.security.authenticator.stats.failures
  t.ok((failures.get('kafka\u0000SCRAM-SHA-256') ?? 0) >= 2 && (failures.get('kafka\u0000SCRAM-SHA-512') ?? 0) >= 1, 'failures are counted for the kafka protocol')
  t.ok(audit.lines.some(l => l.includes('"authentication failed"') && l.includes('"protocol":"kafka"') && l.includes('"reason":"unknown-user"')), 'the log says which failure it was')
})

t.test('PLAIN with saslPlainWithoutTls: kcat and kafkajs authenticate, a wrong password is refused', async t => {
  const b = await broker(t, { saslPlainWithoutTls: true })
  const addr = kafkaAddress(b)
  t.equal((await kcatProduce(t, addr, saslArgs('admin', 'PLAIN'), 'orders', ['p1'])).code, 0, 'kcat produces with PLAIN')
  const topics = await withAdmin(kafkajs(addr, { mechanism: 'plain', username: 'alice', password: PASSWORDS.alice }), a => a.listTopics())
  t.same(topics, ['orders'], 'kafkajs authenticates with PLAIN (and sees what alice may describe)')
  const wrong = await kcat(t, addr, [...saslArgs('alice', 'PLAIN', { password: WRONG }), '-L', '-m', '3'], { timeoutMs: 20_000 })
  t.match(wrong.stderr, /SASL authentication error: Authentication failed/, 'kcat PLAIN with a wrong password is refused')
  const bad = await rejection(withAdmin(kafkajs(addr, { mechanism: 'plain', username: 'alice', password: WRONG }), a => a.listTopics()))
  t.equal(bad.name, 'KafkaJSSASLAuthenticationError', 'kafkajs PLAIN with a wrong password is refused')
})

const KAFKA_PYTHON = String.raw`
import sys, json
from kafka import KafkaProducer, KafkaConsumer
from kafka.errors import NoBrokersAvailable
b, users = sys.argv[1], json.loads(sys.argv[2])
out = {}
def opts(mech, user, password):
    return dict(bootstrap_servers=b, security_protocol='SASL_PLAINTEXT', sasl_mechanism=mech, sasl_plain_username=user, sasl_plain_password=password, request_timeout_ms=10000, api_version_auto_timeout_ms=5000)
for mech in ['SCRAM-SHA-256', 'SCRAM-SHA-512', 'PLAIN']:
    p = KafkaProducer(**opts(mech, 'admin', users['admin']))
    p.send('py-orders', ('py-' + mech).encode()).get(10)
    p.close()
c = KafkaConsumer('py-orders', auto_offset_reset='earliest', consumer_timeout_ms=5000, **opts('SCRAM-SHA-256', 'admin', users['admin']))
out['read'] = [m.value.decode() for m in c]
c.close()
try:
    KafkaProducer(max_block_ms=3000, **opts('SCRAM-SHA-256', 'admin', users['wrong'])).close()
    out['wrong'] = 'connected'
except NoBrokersAvailable:
    out['wrong'] = 'NoBrokersAvailable'
print(json.dumps(out))
`

t.test('kafka-python: SaslHandshake v0 and raw SASL tokens (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN); a wrong password closes the connection', async t => {
  const b = await broker(t, { saslPlainWithoutTls: true })
  const r = await runProgram(t, PYTHON, ['-c', KAFKA_PYTHON, kafkaAddress(b), JSON.stringify({ admin: PASSWORDS.admin, wrong: WRONG })], { timeoutMs: 90_000 })
  t.equal(r.code, 0, r.stderr.slice(-2000))
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { read?: string[], wrong?: string }
  t.same(out.read, ['py-SCRAM-SHA-256', 'py-SCRAM-SHA-512', 'py-PLAIN'], 'each mechanism produced, and SCRAM consumed them back')
  t.equal(out.wrong, 'NoBrokersAvailable', 'a wrong password: the broker closes the connection (no raw answer)')
  t.ok(audit.lines.some(l => l.includes('"authentication failed"') && l.includes('"protocol":"kafka"') && l.includes('"mechanism":"SCRAM-SHA-256"')), 'the raw-token failure is logged')
})

t.test('READ without WRITE on orders: consumes over Kafka but cannot produce; metadata shows what alice may describe; idempotent producers need write somewhere', async t => {
  const b = await broker(t)
  const addr = kafkaAddress(b)
  const admin = saslArgs('admin', 'SCRAM-SHA-256')
  t.equal((await kcatProduce(t, addr, admin, 'orders', ['o1', 'o2'])).code, 0)
  t.equal((await kcatProduce(t, addr, admin, 'logs.app', ['l1'])).code, 0)
  const alice = saslArgs('alice', 'SCRAM-SHA-512')
  const read = await kcatConsume(t, addr, alice, 'orders')
  t.same(read.stdout.trim().split('\n'), ['o1', 'o2'], 'alice consumes orders with kcat')
  const write = await kcatProduce(t, addr, alice, 'orders', ['nope'])
  t.not(write.code, 0)
  t.match(write.stderr, /Topic authorization failed/, 'alice cannot produce: TOPIC_AUTHORIZATION_FAILED')
  const producer = kafkajs(addr, scram('alice')).producer()
  await producer.connect()
  const denied = await rejection(producer.send({ topic: 'orders', messages: [{ value: 'nope' }] }))
  await producer.disconnect()
  t.equal(denied.type, 'TOPIC_AUTHORIZATION_FAILED', 'kafkajs: TOPIC_AUTHORIZATION_FAILED')
  t.equal(b.partitions.offsets('orders', 0).highWatermark, 2, 'nothing was appended')

  const listed = await kcat(t, addr, [...alice, '-L', '-m', '5'], { timeoutMs: 20_000 })
  t.match(listed.stdout, /topic "orders"/)
  t.notMatch(listed.stdout, /logs\.app/, 'metadata for all topics leaves out what alice may not describe')
  const named = await kcat(t, addr, [...alice, '-L', '-t', 'logs.app', '-m', '5'], { timeoutMs: 20_000 })
  t.match(named.stdout, /topic "logs\.app".*Topic authorization failed/, 'a named topic she may not describe: TOPIC_AUTHORIZATION_FAILED')
  const missing = await kcat(t, addr, [...alice, '-L', '-t', 'no-such-topic', '-m', '5'], { timeoutMs: 20_000 })
  t.match(missing.stdout, /Topic authorization failed/, 'a missing one too: existence is not revealed')
  t.notOk(b.topics.exists('no-such-topic'), 'and it was not auto-created')

  const idempotent = kafkajs(addr, scram('alice')).producer({ idempotent: true })
  const noId = await rejection(idempotent.connect().then(() => idempotent.send({ topic: 'orders', messages: [{ value: 'x' }] })))
  await idempotent.disconnect()
  t.equal(noId.type, 'CLUSTER_AUTHORIZATION_FAILED', 'an idempotent producer without write anywhere: CLUSTER_AUTHORIZATION_FAILED')
  const bobs = kafkajs(addr, scram('bob')).producer({ idempotent: true })
  await bobs.connect()
  const sent = await bobs.send({ topic: 'logs.app', messages: [{ value: 'l2' }] })
  await bobs.disconnect()
  t.equal(sent[0]?.errorCode, 0, 'bob, who may write logs.*, gets a producer id and appends')
  const configs = await rejection(withAdmin(kafkajs(addr, scram('alice')), a => a.describeConfigs({ resources: [{ type: 2, name: 'orders' }], includeSynonyms: false })))
  t.equal(configs.type, 'TOPIC_AUTHORIZATION_FAILED', 'describing configs needs describe_configs, which read does not give')
})

t.test('group ACLs: alice consumes in team-a.*, is refused team-b.* (GROUP_AUTHORIZATION_FAILED), sees and describes only her groups; commits need read on the topic', async t => {
  const b = await broker(t)
  const addr = kafkaAddress(b)
  t.equal((await kcatProduce(t, addr, saslArgs('admin', 'SCRAM-SHA-256'), 'orders', ['g1', 'g2'])).code, 0)
  t.equal((await kcatProduce(t, addr, saslArgs('admin', 'SCRAM-SHA-256'), 'logs.app', ['l1'])).code, 0)
  const alice = kafkajs(addr, scram('alice'))
  t.same((await consumeKafkajs(alice, 'team-a.orders', 'orders', 2)).sort(), ['g1', 'g2'], 'alice reads orders in team-a.orders')
  await waitFor(() => b.groups.committed('team-a.orders').size > 0, 10_000, 'a commit')
  const crash = await consumerCrash(alice, 'team-b.orders', 'orders')
  t.equal(crash.type, 'GROUP_AUTHORIZATION_FAILED', 'joining another team\'s group: GROUP_AUTHORIZATION_FAILED')
  t.equal(b.groups.memberCount('team-b.orders'), 0, 'and she is not a member')
  const bob = kafkajs(addr, scram('bob'))
  t.same(await consumeKafkajs(bob, 'team-b.logs', 'logs.app', 1), ['l1'], 'bob reads logs.app in team-b.logs')
  // His group exists from its commit on (a loaded machine may take a moment to write it).
  await waitFor(() => b.groups.committed('team-b.logs').size > 0, 10_000, 'bob\'s commit')

  await withAdmin(alice, async a => {
    t.same((await a.listGroups()).groups.map(g => g.groupId), ['team-a.orders'], 'ListGroups shows alice only the groups she may describe')
    const describe = await rejection(a.describeGroups(['team-b.logs']))
    t.match(describe.message, /Group authorization failed/, 'describing bob\'s group: GROUP_AUTHORIZATION_FAILED')
    t.equal((await a.describeGroups(['team-a.orders'])).groups[0]?.state, 'Empty', 'her own group is described')
    const fetched = await a.fetchOffsets({ groupId: 'team-a.orders', topics: ['orders'] })
    t.equal(fetched[0]?.partitions[0]?.offset, '2', 'she fetches her group\'s offsets')
    const commit = await rejection(a.setOffsets({ groupId: 'team-a.orders', topic: 'logs.app', partitions: [{ partition: 0, offset: '0' }] }))
    t.equal(commit.type, 'TOPIC_AUTHORIZATION_FAILED', 'committing an offset of a topic she may not read: TOPIC_AUTHORIZATION_FAILED')
    const deleted = await rejection(a.deleteGroups(['team-b.logs']))
    t.match(JSON.stringify(deleted), /GROUP_AUTHORIZATION_FAILED|Group authorization failed/, 'deleting bob\'s group is refused')
  })
  t.equal(b.groups.committed('team-a.orders').size, 1, 'the refused commit left her group\'s offsets alone')
  t.ok(b.groups.groupIds().includes('team-b.logs'), 'bob\'s group is still there')
  const kcatAdmin = await kcat(t, addr, [...saslArgs('admin', 'SCRAM-SHA-256'), '-L', '-m', '5'], { timeoutMs: 20_000 })
  t.match(kcatAdmin.stdout, /topic "logs\.app"/, 'a super user sees every topic')
})

t.test('TLS on the Kafka listener: ssl and sasl_ssl with kcat and kafkajs, the TLS port advertised, an untrusted CA refused, the client certificate\'s subject as principal', async t => {
  const b = await broker(t, { kafkaTlsPort: 0, tlsCertFile: pki.file('server.crt'), tlsKeyFile: pki.file('server.key'), tlsCaFile: pki.file('ca.crt'), tlsClientAuth: 'requested' })
  const tlsAddr = `127.0.0.1:${b.ports.kafkaTls}`
  t.ok(b.ports.kafka !== null && b.ports.kafkaTls !== null && b.ports.kafka !== b.ports.kafkaTls, 'plain and TLS Kafka ports side by side')
  const ca = ['-X', `ssl.ca.location=${pki.file('ca.crt')}`]
  t.equal((await kcatProduce(t, tlsAddr, [...saslArgs('admin', 'PLAIN', { tls: true }), ...ca], 'orders', ['t1'])).code, 0, 'kcat sasl_ssl with PLAIN (offered on TLS)')
  const scramRead = await kcatConsume(t, tlsAddr, [...saslArgs('alice', 'SCRAM-SHA-256', { tls: true }), ...ca], 'orders')
  t.same(scramRead.stdout.trim().split('\n'), ['t1'], 'kcat sasl_ssl with SCRAM-SHA-256')
  const meta = await kcat(t, tlsAddr, [...saslArgs('admin', 'SCRAM-SHA-512', { tls: true }), ...ca, '-L', '-m', '5'], { timeoutMs: 20_000 })
  t.match(meta.stdout, new RegExp(`broker 0 at 127\\.0\\.0\\.1:${b.ports.kafkaTls}`), 'the TLS listener advertises the TLS port')
  const plainMeta = await kcat(t, kafkaAddress(b), [...saslArgs('admin', 'SCRAM-SHA-512'), '-L', '-m', '5'], { timeoutMs: 20_000 })
  t.match(plainMeta.stdout, new RegExp(`broker 0 at 127\\.0\\.0\\.1:${b.ports.kafka}\\b`), 'and the plain one its own')

  const cert = (name: string): string[] => ['-X', 'security.protocol=ssl', ...ca, '-X', `ssl.certificate.location=${pki.file(`${name}.crt`)}`, '-X', `ssl.key.location=${pki.file(`${name}.key`)}`]
  t.equal((await kcatProduce(t, tlsAddr, cert('bob'), 'orders', ['t2'])).code, 0, 'kcat ssl with bob\'s certificate writes (User:CN=bob,O=acme may write orders)')
  const mtlsRead = await kcatConsume(t, tlsAddr, cert('alice'), 'orders')
  t.same(mtlsRead.stdout.trim().split('\n'), ['t1', 't2'], 'kcat ssl with alice\'s certificate reads')
  const mtlsWrite = await kcatProduce(t, tlsAddr, cert('alice'), 'orders', ['nope'])
  t.match(mtlsWrite.stderr, /Topic authorization failed/, `the principal is the subject ${ALICE_DN}, which may only read`)
  const noCert = await kcat(t, tlsAddr, ['-X', 'security.protocol=ssl', ...ca, '-L', '-m', '3'], { timeoutMs: 20_000 })
  t.match(noCert.stderr, /Failed to acquire metadata/, 'ssl without a certificate or SASL is not authenticated')
  const untrusted = await kcat(t, tlsAddr, [...saslArgs('admin', 'SCRAM-SHA-256', { tls: true }), '-L', '-m', '3'], { timeoutMs: 20_000 })
  t.match(untrusted.stderr, /certificate verify failed|SSL handshake failed/, 'a client that does not trust the CA is refused')
  t.ok(audit.lines.some(l => l.includes('"authorization denied"') && l.includes(`"principal":"${ALICE_DN}"`) && l.includes('"operation":"write"')), 'the denial names the certificate\'s principal')

  const k = kafkajs(tlsAddr, { mechanism: 'scram-sha-256', username: 'alice', password: PASSWORDS.alice }, { ssl: { ca: [readFileSync(pki.file('ca.crt'), 'utf8')] } })
  t.same((await consumeKafkajs(k, 'team-a.tls', 'orders', 2)).sort(), ['t1', 't2'], 'kafkajs over TLS with SCRAM consumes in a group')
})

t.test('TLS without --auth: kcat with security.protocol=ssl and ssl.ca.location produces and consumes', async t => {
  const b = await startSecureBroker(t, { auth: false, kafkaPort: null, kafkaTlsPort: 0, port: null, httpPort: null, tlsCertFile: pki.file('server.crt'), tlsKeyFile: pki.file('server.key'), logger: audit.logger() })
  t.equal(b.ports.kafka, null, 'the plain Kafka port is off')
  const addr = `127.0.0.1:${b.ports.kafkaTls}`
  const ssl = ['-X', 'security.protocol=ssl', '-X', `ssl.ca.location=${pki.file('ca.crt')}`]
  t.equal((await kcatProduce(t, addr, ssl, 'plain-tls', ['a', 'b'])).code, 0)
  t.same((await kcatConsume(t, addr, ssl, 'plain-tls')).stdout.trim().split('\n'), ['a', 'b'], 'kcat over TLS alone')
})

t.test('ACL apis: kafkajs and kafka-python create, describe and delete ACLs as a super user, in force at once; others get CLUSTER_AUTHORIZATION_FAILED; without --auth SECURITY_DISABLED', async t => {
  const b = await broker(t)
  const addr = kafkaAddress(b)
  t.equal((await kcatProduce(t, addr, saslArgs('admin', 'SCRAM-SHA-256'), 'reports.daily', ['r1'])).code, 0)
  const carol = saslArgs('carol', 'SCRAM-SHA-256')
  t.match((await kcatConsume(t, addr, carol, 'reports.daily')).stderr, /Topic authorization failed/, 'carol may not read reports.* yet')

  const acl = {
    resourceType: AclResourceTypes.TOPIC, resourceName: 'reports.', resourcePatternType: ResourcePatternTypes.PREFIXED,
    principal: 'User:carol', host: '*', operation: AclOperationTypes.READ, permissionType: AclPermissionTypes.ALLOW,
  }
  const admin = kafkajs(addr, scram('admin'))
  await withAdmin(admin, a => a.createAcls({ acl: [acl] }))
  t.ok(AclStore.open({ dataDir: b.config.dataDir }).list({ principal: 'User:carol' }).some(e => e.resourceName === 'reports.' && e.patternType === 'prefixed' && e.operation === 'read'), 'the ACL is in acls.json')
  t.same((await kcatConsume(t, addr, carol, 'reports.daily')).stdout.trim().split('\n'), ['r1'], 'and in force at once: carol reads')
  const described = await withAdmin(admin, a => a.describeAcls({
    resourceType: AclResourceTypes.ANY, resourcePatternType: ResourcePatternTypes.ANY, principal: 'User:carol',
    operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY,
  }))
  t.same(described.resources, [{ resourceType: AclResourceTypes.TOPIC, resourceName: 'reports.', resourcePatternType: ResourcePatternTypes.PREFIXED, acls: [{ principal: 'User:carol', host: '*', operation: AclOperationTypes.READ, permissionType: AclPermissionTypes.ALLOW }] }], 'DescribeAcls returns it')
  const matching = await withAdmin(admin, a => a.describeAcls({
    resourceType: AclResourceTypes.TOPIC, resourceName: 'reports.daily', resourcePatternType: ResourcePatternTypes.MATCH,
    operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY,
  }))
  t.same(matching.resources.map(r => r.resourceName), ['reports.'], 'MATCH finds the prefix that applies to reports.daily')
  const refused = await rejection(withAdmin(kafkajs(addr, scram('alice')), a => a.createAcls({ acl: [{ ...acl, principal: 'User:alice' }] })))
  t.equal(refused.type, 'CLUSTER_AUTHORIZATION_FAILED', 'alice may not create ACLs')
  const peek = await rejection(withAdmin(kafkajs(addr, scram('alice')), a => a.describeAcls({ resourceType: AclResourceTypes.ANY, resourcePatternType: ResourcePatternTypes.ANY, operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY })))
  t.equal(peek.type, 'CLUSTER_AUTHORIZATION_FAILED', 'nor read them')
  const invalid = await rejection(withAdmin(admin, a => a.createAcls({ acl: [{ ...acl, resourceType: AclResourceTypes.GROUP, operation: AclOperationTypes.WRITE }] })))
  t.equal(invalid.type, 'INVALID_REQUEST', 'write on a group is not an ACL Kafka accepts')
  const deleted = await withAdmin(admin, a => a.deleteAcls({ filters: [{ resourceType: AclResourceTypes.TOPIC, resourceName: 'reports.', resourcePatternType: ResourcePatternTypes.PREFIXED, principal: 'User:carol', operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY }] }))
  t.equal(deleted.filterResponses[0]?.matchingAcls.length, 1, 'DeleteAcls removes it')
  t.match((await kcatConsume(t, addr, carol, 'reports.daily')).stderr, /Topic authorization failed/, 'carol is refused again')

  const script = String.raw`
import sys, json
from kafka.admin import KafkaAdminClient, ACL, ACLFilter, ResourcePattern, ResourcePatternFilter, ACLOperation, ACLPermissionType, ResourceType, ACLResourcePatternType
a = KafkaAdminClient(bootstrap_servers=sys.argv[1], security_protocol='SASL_PLAINTEXT', sasl_mechanism='SCRAM-SHA-256', sasl_plain_username='admin', sasl_plain_password=sys.argv[2], request_timeout_ms=10000)
acl = ACL(principal='User:carol', host='*', operation=ACLOperation.DESCRIBE, permission_type=ACLPermissionType.ALLOW, resource_pattern=ResourcePattern(ResourceType.GROUP, 'carol-g'))
created = a.create_acls([acl])
f = ACLFilter(principal='User:carol', host=None, operation=ACLOperation.ANY, permission_type=ACLPermissionType.ANY, resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
listed, err = a.describe_acls(f)
deleted = a.delete_acls([f])
print(json.dumps({'created': len(created['succeeded']), 'failed': len(created['failed']), 'listed': [[x.resource_pattern.resource_name, x.operation.name] for x in listed], 'deleted': len(deleted[0][1]), 'after': len(a.describe_acls(f)[0])}))
`
  const py = await runProgram(t, PYTHON, ['-c', script, addr, PASSWORDS.admin], { timeoutMs: 60_000 })
  t.equal(py.code, 0, py.stderr.slice(-2000))
  t.same(JSON.parse(py.stdout.trim().split('\n').at(-1) ?? '{}'), { created: 1, failed: 0, listed: [['carol-g', 'DESCRIBE']], deleted: 1, after: 0 }, 'kafka-python: create, describe, delete round trip')

  const open = await startSecureBroker(t, { auth: false, kafkaPort: 0, port: null, httpPort: null, logger: audit.logger() })
  const off = await rejection(withAdmin(kafkajs(kafkaAddress(open), null), a => a.describeAcls({ resourceType: AclResourceTypes.ANY, resourcePatternType: ResourcePatternTypes.ANY, operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY })))
  t.equal(off.type, 'SECURITY_DISABLED', 'a broker without --auth has no ACLs to serve: SECURITY_DISABLED')
})

/** A raw SCRAM exchange over SaslHandshake v1 + SaslAuthenticate at `version`; each client message is tracked as a secret. */
async function rawScram (c: KafkaRawClient, user: User, version: number): Promise<{ errorCode: number, sessionLifetimeMs: number }> {
  const hs = await c.call('SaslHandshake', 1, { mechanism: 'SCRAM-SHA-256' })
  if (hs.errorCode !== 0) return { errorCode: hs.errorCode, sessionLifetimeMs: 0 }
  const client = createSaslClient('SCRAM-SHA-256', { username: user, password: PASSWORDS[user], crypto: nodeSaslCrypto })
  let message: Uint8Array | null = await client.start()
  for (let i = 0; i < 4 && message !== null; i++) {
    const text = fromUtf8(message) ?? ''
    for (const part of text.split(',')) if (/^[rp]=/.test(part)) audit.secret(part.slice(2))
    const r = await c.call('SaslAuthenticate', version, { authBytes: message })
    if (r.errorCode !== 0) return { errorCode: r.errorCode, sessionLifetimeMs: 0 }
    message = await client.step(r.authBytes)
    if (client.done) return { errorCode: 0, sessionLifetimeMs: Number(r.sessionLifetimeMs ?? 0) }
  }
  return { errorCode: -1, sessionLifetimeMs: 0 }
}

t.test('the pre-authentication stage: ApiVersions and SASL only, frames of at most 512 KiB, SaslAuthenticate v0-2, re-authentication keeps the principal, 10 s to authenticate', async t => {
  const b = await broker(t)
  const port = b.ports.kafka!
  const early = await KafkaRawClient.connect(port)
  t.teardown(() => early.close())
  const versions = await early.call('ApiVersions', 3, { clientSoftwareName: 'raw', clientSoftwareVersion: '1' })
  const range = (key: number): string => { const a = versions.apiKeys.find(k => k.apiKey === key); return a === undefined ? 'none' : `${a.minVersion}-${a.maxVersion}` }
  t.same([range(17), range(36), range(30), range(29), range(31)], ['0-1', '0-2', '0-3', '0-3', '0-3'], 'ApiVersions advertises SaslHandshake, SaslAuthenticate and the ACL apis')
  early.send('Metadata', 4, { topics: null, allowAutoTopicCreation: false })
  await early.until(() => early.closed)
  t.ok(early.closed, 'any other api before authentication closes the connection')

  const big = await KafkaRawClient.connect(port)
  t.teardown(() => big.close())
  const header = new Uint8Array(64)
  new DataView(header.buffer).setInt32(0, 600 * 1024)
  big.write(header)
  await big.until(() => big.closed)
  t.ok(big.closed, 'a frame announced over 512 KiB before authentication closes the connection before it is read')
  t.ok(audit.lines.some(l => l.includes('FRAME_TOO_LARGE') && l.includes('pre-authentication')), 'and is logged as such')

  const early2 = await KafkaRawClient.connect(port)
  t.teardown(() => early2.close())
  const out = await early2.call('SaslAuthenticate', 1, { authBytes: new Uint8Array([1, 2, 3]) })
  t.equal(out.errorCode, 34, 'SaslAuthenticate before SaslHandshake: ILLEGAL_SASL_STATE')
  await early2.until(() => early2.closed)
  t.ok(early2.closed, 'and the connection closes')

  for (const version of [0, 1, 2]) {
    const c = await KafkaRawClient.connect(port)
    t.teardown(() => c.close())
    t.equal((await rawScram(c, 'admin', version)).errorCode, 0, `SCRAM over SaslAuthenticate v${version}`)
  }
  const c = await KafkaRawClient.connect(port)
  t.teardown(() => c.close())
  t.same(await rawScram(c, 'admin', 2), { errorCode: 0, sessionLifetimeMs: 0 }, 'a password session has no lifetime (0)')
  const value = new Uint8Array(600 * 1024).fill(7)
  t.equal((await c.call('CreateTopics', 3, { topics: [{ name: 'big', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false })).topics[0]?.errorCode, 0)
  const produced = await c.call('Produce', 7, { acks: 1, timeoutMs: 5000, topicData: [{ name: 'big', partitionData: [{ index: 0, records: encodeBatch([{ value }]) }] }] })
  t.equal(produced.responses[0]?.partitionResponses[0]?.errorCode, 0, 'after authentication a 600 KiB frame is served')
  t.equal((await rawScram(c, 'admin', 2)).errorCode, 0, 're-authentication as the same principal succeeds on the same connection')
  t.equal((await rawScram(c, 'bob', 2)).errorCode, 58, 're-authentication as another principal: SASL_AUTHENTICATION_FAILED')
  await c.until(() => c.closed)
  t.ok(c.closed, 'and the connection closes')

  const slow = await KafkaRawClient.connect(port)
  t.teardown(() => slow.close())
  for (let i = 0; i < 30 && !slow.closed; i++) {
    slow.send('ApiVersions', 2, {})
    await slow.until(() => slow.closed, 1000).catch(() => {})
  }
  t.ok(slow.closed, 'a connection that keeps sending ApiVersions but never authenticates is closed')
  t.ok(audit.lines.some(l => l.includes('IDLE_TIMEOUT') && l.includes('not authenticated within 10000 ms')), 'after the 10 s the native protocol allows too')
})

t.test('OAUTHBEARER with a broker token: kafkajs authenticates, SaslAuthenticate v1 carries the token\'s lifetime, a forged token is refused', async t => {
  const b = await broker(t)
  const addr = kafkaAddress(b)
  t.equal((await kcatProduce(t, addr, saslArgs('admin', 'SCRAM-SHA-256'), 'orders', ['tok1'])).code, 0)
  const token = (await b.security.tokens.issue('alice', { ttlMs: 60_000 })).token
  audit.secret(token)
  const k = kafkajs(addr, { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: token }) })
  t.same(await consumeKafkajs(k, 'team-a.token', 'orders', 1), ['tok1'], 'kafkajs with a token consumes as alice')
  const c = await KafkaRawClient.connect(b.ports.kafka!)
  t.teardown(() => c.close())
  t.equal((await c.call('SaslHandshake', 1, { mechanism: 'OAUTHBEARER' })).errorCode, 0)
  const r = await c.call('SaslAuthenticate', 1, { authBytes: new TextEncoder().encode(`n,,\u0001auth=Bearer ${token}\u0001\u0001`) })
  t.equal(r.errorCode, 0)
  t.ok(Number(r.sessionLifetimeMs) > 0 && Number(r.sessionLifetimeMs) <= 60_000, `the session lives as long as the token (${r.sessionLifetimeMs} ms)`)
  const forged = `${token.slice(0, -4)}AAAA`
  audit.secret(forged)
  const bad = await rejection(withAdmin(kafkajs(addr, { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: forged }) }), a => a.listTopics()))
  t.equal(bad.name, 'KafkaJSSASLAuthenticationError', 'a forged token is refused')
})

t.test('no password, token or SCRAM nonce or proof in any log line of this file', async t => {
  t.ok(audit.lines.length > 50, `${audit.lines.length} lines`)
  t.ok(audit.secrets.size >= 10, `${audit.secrets.size} secrets tracked`)
  t.same(audit.leaks(), [])
})
