// Security in cluster mode (tests/helpers/cluster.ts: a real etcd, three embedded brokers on
// loopback, all with --auth): brokers authenticate to each other with SCRAM as the
// inter-broker user, so acks=all replication works and a consumer reads from a new leader
// after the old one stopped; users and ACLs are etcd documents, so a user created through
// broker 1 logs in at broker 2 and an ACL created through broker 2's Kafka listener (kafkajs
// with SASL/SCRAM) is enforced at broker 3; ReplicaFetch and OffsetForLeaderEpoch are refused
// to an unauthenticated client and to a user without cluster_action, decommission to a user
// without alter on the cluster; kcat produces and reads with SASL/SCRAM against the cluster;
// a broker restarted with a wrong inter-broker password is refused by its peers with a named
// error and its partitions stay under-replicated, and nothing crashes.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import kafkajsPackage, { Kafka, logLevel } from 'kafkajs'
import pino from 'pino'
import t from 'tap'
import { Broker, type BrokerOptions } from '../../broker/broker.js'
import { userPrincipal, type Caller } from '../../broker/security/principal.js'
import { Connection } from '../../client/connection.js'
import { authenticationOf } from '../../client/auth.js'
import { nodeTcpTransport } from '../../client/transport/node-tcp.js'
import { AuthenticationRequiredError, ClusterAuthorizationFailedError, InvalidConfigError, SpoolError } from '../../protocol/errors.js'
import { startCluster, storedBatches } from '../helpers/cluster.js'
import { collect } from '../helpers/conformance.js'
import { kcat, runProgram } from '../helpers/kafka-programs.js'
import { SPOOL_BIN } from '../helpers/processes.js'
import { capturingLogger, tempDir } from '../helpers/security.js'
import type { TestLike } from '../helpers/temp.js'

const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajsPackage
const ADMIN_PASSWORD = 'admin-Secret-1'
const BROKER_PASSWORD = 'inter-Broker-Secret-2'
const ALICE_PASSWORD = 'alice-Secret-3'

const silent = pino({ level: 'silent' })

/** A native connection, authenticated as `user` (or anonymous), straight to one broker. */
async function connect (tt: TestLike, port: number, user?: { username: string, password: string }): Promise<Connection> {
  const c = await Connection.open({
    address: `127.0.0.1:${port}`, clientId: 'cluster-auth-test', transport: nodeTcpTransport,
    connectTimeoutMs: 5000, requestTimeoutMs: 10_000, maxFrameBytes: 1 << 20, logger: silent,
    authentication: user === undefined ? null : authenticationOf({ sasl: { username: user.username, password: user.password } }),
  })
  tt.teardown(() => c.close())
  return c
}

async function rejection (p: Promise<unknown>): Promise<unknown> {
  try {
    await p
    return 'resolved'
  } catch (err) {
    return err
  }
}

function caller (name: string): Caller {
  return { principal: userPrincipal(name, 'scram-sha-256'), clientId: 'test', host: '127.0.0.1', protocol: 'kafka' }
}

t.test('three brokers with --auth: authenticated replication, users and ACLs shared through etcd', async t => {
  const dir = tempDir(t, 'spool-cluster-auth-')
  const passwordFile = path.join(dir, 'inter-broker.pw')
  writeFileSync(passwordFile, `${BROKER_PASSWORD}\n`, { mode: 0o600 })
  const wrongFile = path.join(dir, 'wrong.pw')
  writeFileSync(wrongFile, 'not-the-Password-4\n', { mode: 0o600 })
  const captured = capturingLogger()
  const perBroker: Record<number, BrokerOptions> = { 1: { kafkaPort: 0 }, 2: { kafkaPort: 0 }, 3: { kafkaPort: 0, logger: captured.logger } }
  const c = await startCluster(t, {
    brokers: 3,
    perBroker,
    config: {
      auth: true, interBrokerUser: 'broker', interBrokerPasswordFile: passwordFile, bootstrapAdmin: 'admin', bootstrapPassword: ADMIN_PASSWORD,
      authThrottle: { baseDelayMs: 1, maxDelayMs: 5 },
    },
  })
  const admin = { username: 'admin', password: ADMIN_PASSWORD }
  const client = c.client(t, { sasl: admin })

  t.test('the bootstrap admin and the inter-broker user exist once, cluster-wide', async t => {
    for (const b of c.brokers.values()) {
      t.same(b.security.credentials.listUsers().map(u => u.name), ['admin', 'broker'], `broker ${b.config.nodeId} sees both users`)
    }
  })

  await client.admin().createTopics([{ topic: 'orders', partitions: 3, replicationFactor: 3 }])
  await c.waitFor(() => [0, 1, 2].every(p => (c.partition('orders', p)?.isr.length ?? 0) === 3), 'every partition with three in-sync replicas (authenticated followers)')

  t.test('acks=all replication between authenticated brokers; a new leader serves after a stop', async t => {
    const producer = client.producer({ acks: 'all', lingerMs: 2 })
    const sent = []
    for (let i = 0; i < 120; i++) sent.push(producer.send({ topic: 'orders', messages: [{ key: `k${i % 11}`, value: `v${i}` }] }))
    t.equal((await Promise.all(sent)).flat().length, 120, 'every acks=all send is acknowledged')
    for (let p = 0; p < 3; p++) {
      const leader = c.broker(c.leaderOf('orders', p))
      await c.waitFor(() => [...c.brokers.values()].every(b => b.logs.partition('orders', p).highWatermark === leader.logs.partition('orders', p).logEndOffset), `partition ${p} replicated`)
      const reference = await storedBatches(leader, 'orders', p)
      for (const b of c.brokers.values()) t.same(await storedBatches(b, 'orders', p), reference, `partition ${p}: broker ${b.config.nodeId} holds the leader's bytes`)
    }
    const old = c.leaderOf('orders', 0)
    await c.stop(old)
    await c.waitFor(() => ![-1, old].includes(c.leaderOf('orders', 0)), 'a new leader of partition 0')
    const reader = c.client(t, { sasl: admin })
    const consumer = reader.consumer({ fromBeginning: true, maxWaitMs: 100 })
    await consumer.assign({ topic: 'orders' })
    const got = await collect(consumer, 120)
    t.same(got.map(m => Buffer.from(m.value ?? new Uint8Array()).toString()).sort(), Array.from({ length: 120 }, (_, i) => `v${i}`).sort(), 'all 120 read back with a leader gone')
    await consumer.close()
    await c.start(old)
    await c.waitFor(() => [0, 1, 2].every(p => (c.partition('orders', p)?.isr.length ?? 0) === 3), 'the restarted broker back in every ISR')
  })

  t.test('a user created through broker 1 logs in at broker 2', async t => {
    const b2 = c.broker(2)
    const began = performance.now()
    await c.broker(1).security.credentials.addUser('alice', ALICE_PASSWORD)
    const written = performance.now()
    await c.waitFor(() => b2.security.credentials.hasUser('alice'), 'broker 2 seeing alice', 10_000)
    t.comment(`alice written through broker 1 in ${(written - began).toFixed(1)} ms (PBKDF2 and the etcd transaction), at broker 2 ${(performance.now() - written).toFixed(1)} ms later`)
    const port = b2.ports.native!
    let connection: Connection | null = null
    for (let i = 0; i < 100 && connection === null; i++) {
      connection = await connect(t, port, { username: 'alice', password: ALICE_PASSWORD }).catch(() => null)
      if (connection === null) await new Promise(resolve => setTimeout(resolve, 50))
    }
    t.ok(connection !== null, 'alice authenticated at broker 2 (SCRAM-SHA-256)')
    const wrong = await rejection(connect(t, port, { username: 'alice', password: 'nope-Nope-5' }))
    t.equal((wrong as SpoolError).code, 'SASL_AUTHENTICATION_FAILED', 'a wrong password is refused there')
  })

  t.test('an ACL created through broker 2 (kafkajs, SASL/SCRAM) is enforced at broker 3', async t => {
    const b3 = c.broker(3)
    t.notOk(b3.security.access.allows(caller('alice'), 'write', 'topic', 'orders'), 'alice may not write orders yet')
    const refused = await rejection(c.client(t, { sasl: { username: 'alice', password: ALICE_PASSWORD }, retry: { retries: 0 } }).producer({ acks: 'all' }).send({ topic: 'orders', messages: [{ value: 'early' }] }))
    // An idempotent producer asks InitProducerId first: idempotent_write on the cluster, implied by write on a topic.
    t.match((refused as SpoolError).code, /^(TOPIC|CLUSTER)_AUTHORIZATION_FAILED$/, `and her produce is refused (${String(refused)})`)
    const kafka = new Kafka({
      brokers: [`127.0.0.1:${c.broker(2).ports.kafka!}`], clientId: 'cluster-auth', logLevel: logLevel.NOTHING,
      sasl: { mechanism: 'scram-sha-512', username: 'admin', password: ADMIN_PASSWORD },
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 500 }, connectionTimeout: 3000, requestTimeout: 10_000,
    })
    const ka = kafka.admin()
    await ka.connect()
    try {
      await ka.createAcls({ acl: [{ resourceType: AclResourceTypes.TOPIC, resourceName: 'orders', resourcePatternType: ResourcePatternTypes.LITERAL, principal: 'User:alice', host: '*', operation: AclOperationTypes.WRITE, permissionType: AclPermissionTypes.ALLOW }] })
      const described = await ka.describeAcls({ resourceType: AclResourceTypes.ANY, resourcePatternType: ResourcePatternTypes.ANY, principal: 'User:alice', operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY })
      t.same(described.resources.map(r => r.resourceName), ['orders'], 'DescribeAcls at broker 2 returns it')
    } finally {
      await ka.disconnect()
    }
    const created = performance.now()
    await c.waitFor(() => b3.security.access.allows(caller('alice'), 'write', 'topic', 'orders'), 'broker 3 enforcing the new ACL', 10_000)
    t.comment(`the ACL was enforced at broker 3 ${(performance.now() - created).toFixed(1)} ms after CreateAcls at broker 2 answered`)
    t.pass('broker 3 allows alice to write orders')
    const alice = c.client(t, { sasl: { username: 'alice', password: ALICE_PASSWORD } })
    const acked = await alice.producer({ acks: 'all' }).send({ topic: 'orders', messages: [{ value: 'from-alice' }] })
    t.equal(acked.length, 1, 'alice writes to orders (whichever broker leads)')
    t.ok(c.broker(1).security.access.allows(caller('alice'), 'write', 'topic', 'orders'), 'broker 1 has it too')
    t.notOk(b3.security.access.allows(caller('alice'), 'read', 'topic', 'orders'), 'and nothing more than what the ACL says')
  })

  t.test('replica fetch needs cluster_action; decommission needs alter on the cluster', async t => {
    const leader = c.broker(c.leaderOf('orders', 0))
    const port = leader.ports.native!
    const fetchBody = { replicaId: 99, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, partitions: [{ topic: 'orders', partition: 0, leaderEpoch: 0, fetchOffset: 0, highWatermark: 0, maxBytes: 1 << 20 }] }
    const anon = await connect(t, port)
    const anonymous = await rejection(anon.request('ReplicaFetch', fetchBody, { timeoutMs: 5000 }))
    t.ok(anonymous instanceof AuthenticationRequiredError, `an unauthenticated client cannot replica-fetch (${String(anonymous)})`)
    const alice = await connect(t, port, { username: 'alice', password: ALICE_PASSWORD })
    const fetch = await rejection(alice.request('ReplicaFetch', fetchBody, { timeoutMs: 5000 }))
    t.ok(fetch instanceof ClusterAuthorizationFailedError, `alice (no cluster_action) cannot replica-fetch (${String(fetch)})`)
    const epoch = await rejection(alice.request('OffsetForLeaderEpoch', { replicaId: 99, partitions: [{ topic: 'orders', partition: 0, currentLeaderEpoch: 0, leaderEpoch: 0 }] }, { timeoutMs: 5000 }))
    t.ok(epoch instanceof ClusterAuthorizationFailedError, `nor ask OffsetForLeaderEpoch (${String(epoch)})`)
    const decommission = await rejection(alice.request('DecommissionBroker', { nodeId: 3, recommission: true }, { timeoutMs: 5000 }))
    t.ok(decommission instanceof ClusterAuthorizationFailedError, `nor decommission a broker (${String(decommission)})`)
    const reassign = await rejection(alice.request('AlterPartitionReassignments', { moves: [{ topic: 'orders', partition: 0, replicas: [1, 2, 3] }] }, { timeoutMs: 5000 }))
    t.ok(reassign instanceof ClusterAuthorizationFailedError, `nor reassign a partition (${String(reassign)})`)
    const ib = await connect(t, port, { username: 'broker', password: BROKER_PASSWORD })
    const served = await ib.request('ReplicaFetch', fetchBody, { timeoutMs: 5000 })
    t.equal(served.body.errorCode, 0, 'the inter-broker user may')
  })

  t.test('kcat with SASL/SCRAM against the cluster', async t => {
    const auth = ['-X', 'security.protocol=sasl_plaintext', '-X', 'sasl.mechanisms=SCRAM-SHA-512', '-X', 'sasl.username=admin', '-X', `sasl.password=${ADMIN_PASSWORD}`]
    const bootstrap = `127.0.0.1:${c.broker(1).ports.kafka!}`
    const produced = await kcat(t, bootstrap, [...auth, '-P', '-t', 'orders', '-p', '1', '-X', 'acks=all'], { input: 'kcat-1\nkcat-2\n', timeoutMs: 20_000 })
    t.equal(produced.code, 0, `kcat produced (${produced.stderr.trim()})`)
    const consumed = await kcat(t, bootstrap, [...auth, '-C', '-t', 'orders', '-p', '1', '-o', 'beginning', '-e', '-q'], { timeoutMs: 20_000 })
    t.match(consumed.stdout, /kcat-1\nkcat-2/, 'and reads it back through the cluster')
  })

  t.test('spool user and spool acl with --etcd-endpoints change the cluster\'s users and ACLs', async t => {
    const pw = path.join(dir, 'carol.pw')
    writeFileSync(pw, 'carol-Secret-6\n', { mode: 0o600 })
    const where = ['--etcd-endpoints', c.etcd.endpoints.join(','), '--cluster-key-prefix', c.prefix]
    const spool = (args: string[]): ReturnType<typeof runProgram> => runProgram(t, process.execPath, [SPOOL_BIN, ...args], { timeoutMs: 30_000 })
    const added = await spool(['--password-file', pw, 'user', 'add', 'carol', ...where])
    t.equal(added.code, 0, `spool user add (${added.stdout.trim()} ${added.stderr.trim()})`)
    const again = await spool(['--password-file', pw, 'user', 'add', 'carol', ...where])
    t.match(again.stderr, /USER_ALREADY_EXISTS|already exists/, 'a second add is refused: the create is conditioned on the key being absent')
    const listed = await spool(['user', 'list', '--format', 'json', ...where])
    t.same((JSON.parse(listed.stdout) as Array<{ user: string }>).map(u => u.user), ['admin', 'alice', 'broker', 'carol'], 'spool user list shows the cluster\'s users')
    const acl = await spool(['acl', 'add', '--allow-principal', 'User:carol', '--operation', 'describe', '--topic', 'orders', ...where])
    t.equal(acl.code, 0, `spool acl add (${acl.stdout.trim()} ${acl.stderr.trim()})`)
    const b1 = c.broker(1)
    await c.waitFor(() => b1.security.credentials.hasUser('carol') && b1.security.access.allows(caller('carol'), 'describe', 'topic', 'orders'), 'broker 1 seeing carol and her ACL', 10_000)
    const carol = await connect(t, c.broker(3).ports.native!, { username: 'carol', password: 'carol-Secret-6' })
    const meta = await carol.request('Metadata', { topics: ['orders'], allowAutoCreate: false }, { timeoutMs: 5000 })
    t.equal(meta.body.topics[0]?.errorCode, 0, 'carol logs in at broker 3 and may describe orders')
    const removed = await spool(['acl', 'remove', '--allow-principal', 'User:carol', '--topic', 'orders', ...where])
    t.match(removed.stdout, /removed 1 ACL entry/, 'spool acl remove')
    await c.waitFor(() => !b1.security.access.allows(caller('carol'), 'describe', 'topic', 'orders'), 'the ACL gone at broker 1', 10_000)
    const deleted = await spool(['user', 'delete', 'carol', ...where])
    t.equal(deleted.code, 0, 'spool user delete')
    await c.waitFor(() => !b1.security.credentials.hasUser('carol'), 'carol gone at broker 1', 10_000)
  })

  t.test('tokens: signed with the cluster\'s keys in etcd, so one issued at any broker (or by spool token --etcd-endpoints) works at every broker; --revoke-all ends them everywhere', async t => {
    const withToken = async (port: number, token: string): Promise<Connection> => {
      const conn = await Connection.open({
        address: `127.0.0.1:${port}`, clientId: 'cluster-token-test', transport: nodeTcpTransport,
        connectTimeoutMs: 5000, requestTimeoutMs: 10_000, maxFrameBytes: 1 << 20, logger: silent,
        authentication: authenticationOf({ token }),
      })
      t.teardown(() => conn.close())
      return conn
    }
    const res = await fetch(`http://127.0.0.1:${c.broker(1).ports.http!}/api/tokens`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}` }, body: '{"ttl":"5m"}',
    })
    t.equal(res.status, 201, 'broker 1 issues a token on /api/tokens')
    const fromHttp = ((await res.json()) as { token: string }).token
    for (const id of [2, 3]) {
      const conn = await withToken(c.broker(id).ports.native!, fromHttp)
      t.ok((await conn.request('Metadata', { topics: [], allowAutoCreate: false })).body.brokers.length > 0, `broker ${id} accepts broker 1's token`)
    }
    const where = ['--etcd-endpoints', c.etcd.endpoints.join(','), '--cluster-key-prefix', c.prefix]
    const spool = (args: string[]): ReturnType<typeof runProgram> => runProgram(t, process.execPath, [SPOOL_BIN, ...args], { timeoutMs: 30_000 })
    const created = await spool(['--user', 'admin', 'token', 'create', '--ttl', '5m', ...where])
    t.equal(created.code, 0, `spool token create --etcd-endpoints (${created.stderr.trim()})`)
    const fromCli = created.stdout.trim()
    const atThree = await withToken(c.broker(3).ports.native!, fromCli)
    t.ok((await atThree.request('Metadata', { topics: [], allowAutoCreate: false })).body.brokers.length > 0, 'broker 3 accepts the CLI\'s token')
    const unknown = await spool(['--user', 'nobody', 'token', 'create', ...where])
    t.match(unknown.stderr, /nobody does not exist/, 'the user must exist in the cluster')
    const rotated = await spool(['token', 'rotate', '--revoke-all', ...where])
    t.equal(rotated.code, 0, `spool token rotate --revoke-all --etcd-endpoints (${rotated.stderr.trim()})`)
    // Each broker learns of the rotation through its watch: bounded poll.
    for (const id of [1, 2]) {
      let refused: unknown = null
      for (let i = 0; i < 100 && refused === null; i++) {
        refused = await withToken(c.broker(id).ports.native!, fromHttp).then(conn => { conn.close(); return null }, err => err)
        if (refused === null) await new Promise(resolve => setTimeout(resolve, 50))
      }
      t.equal((refused as SpoolError | null)?.code, 'TOKEN_KEY_UNKNOWN', `broker ${id} refuses the revoked token`)
    }
    const fresh = await c.broker(2).security.tokens.issue('admin', { ttlMs: 60_000 })
    t.ok(await withToken(c.broker(1).ports.native!, fresh.token), 'a token of the new key works elsewhere')
  })

  t.test('a broker with a wrong inter-broker password is refused by its peers, its partitions under-replicated', async t => {
    await c.stop(3)
    await c.waitFor(() => [0, 1, 2].every(p => !(c.partition('orders', p)?.isr.includes(3) ?? true)), 'broker 3 out of every ISR')
    perBroker[3] = { ...perBroker[3], interBrokerPasswordFile: wrongFile }
    captured.lines.length = 0
    await c.start(3)
    await c.waitFor(() => captured.lines.some(l => l.includes('authentication to peer broker failed') && l.includes('SASL_AUTHENTICATION_FAILED')), 'broker 3 logging the refusal by a peer', 20_000)
    t.ok(captured.lines.some(l => l.includes('inter-broker password does not match')), 'broker 3 says its password does not match the cluster\'s user')
    for (let p = 0; p < 3; p++) {
      const state = c.partition('orders', p)!
      t.ok(state.replicas.includes(3) && !state.isr.includes(3), `partition ${p} is under-replicated (replicas ${state.replicas}, ISR ${state.isr})`)
    }
    t.equal(c.broker(3).cluster?.agent?.metadata.brokers.has(3), true, 'broker 3 is running and registered (no crash)')
    const acked = await client.producer({ acks: 'all' }).send({ topic: 'orders', messages: [{ value: 'still-fine' }] })
    t.equal(acked.length, 1, 'the other brokers keep serving acks=all')
    perBroker[3] = { kafkaPort: 0, logger: captured.logger }
    await c.stop(3)
  })
})

t.test('--auth in cluster mode without inter-broker credentials does not start', async t => {
  const dataDir = tempDir(t, 'spool-cluster-auth-cfg-')
  const start = (extra: BrokerOptions): Promise<unknown> => rejection(Broker.start({ dataDir, port: 0, httpPort: null, mqttPort: null, kafkaPort: null, logLevel: 'silent', auth: true, etcdEndpoints: ['http://127.0.0.1:9'], ...extra }))
  const noUser = await start({})
  t.ok(noUser instanceof InvalidConfigError && /--inter-broker-user/.test(noUser.message), `names --inter-broker-user (${String(noUser)})`)
  const noFile = await start({ interBrokerUser: 'broker', interBrokerPasswordFile: path.join(dataDir, 'absent.pw') })
  t.ok(noFile instanceof InvalidConfigError && /--inter-broker-password-file/.test(noFile.message), `names --inter-broker-password-file (${String(noFile)})`)
})
