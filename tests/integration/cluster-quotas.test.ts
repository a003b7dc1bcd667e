// Quotas in cluster mode (tests/helpers/cluster.ts: a real etcd, two embedded brokers on
// loopback): quotas are etcd documents shared by every broker.
// - `spool quota set --etcd-endpoints` (the CLI as a child process, no broker involved)
//   writes one; both brokers list it and both throttle a producer over it (the throttle
//   time in the Produce responses of each broker's partition leader), another client id is
//   not throttled; a quota set through broker 1's api is listed by broker 2;
// - `spool quota remove --etcd-endpoints`: gone from both listings, and the next Produce
//   responses of both brokers carry no throttle time;
// - documents put straight into etcd that do not check (a bad limit, an entity that is not
//   the key's, a non-canonical key, a value that is not JSON — also over a valid quota) do
//   not crash either broker: each is left out (a quota overwritten with garbage stops
//   applying), named in a warning log line and counted by spool_quota_invalid_documents,
//   and `spool quota list --etcd-endpoints` names it on stderr and lists the rest;
// - the etcd TLS and authentication flags (one parser for spool quota, user and acl) against
//   an etcd that requires client certificates, then a user and password.
// Throttles are asserted on what the brokers report (throttle time in responses), never on
// elapsed time. Every wait is bounded; every process is stopped at teardown.
import pino from 'pino'
import t from 'tap'
import { closeEtcdClient, createEtcdClient } from '../../broker/cluster/etcd.js'
import { ClusterKeys } from '../../broker/cluster/keys.js'
import { Connection } from '../../client/connection.js'
import { Client } from '../../client/index.js'
import type { ThrottleEvent } from '../../client/connection.js'
import { nodeTcpTransport } from '../../client/transport/node-tcp.js'
import { startCluster } from '../helpers/cluster.js'
import { startEtcd } from '../helpers/etcd.js'
import { runProgram } from '../helpers/kafka-programs.js'
import { metricValue, scrape } from '../helpers/metrics.js'
import { SPOOL_BIN } from '../helpers/processes.js'
import { capturingLogger } from '../helpers/security.js'
import { pollFor } from '../helpers/wait.js'
import type { TestLike } from '../helpers/temp.js'

t.setTimeout(240_000)

const silent = pino({ level: 'silent' })
const WINDOWS = { quotaWindowNum: 4, quotaWindowSizeMs: 250 }
const MAX_THROTTLE_MS = WINDOWS.quotaWindowNum * WINDOWS.quotaWindowSizeMs

function spool (t: TestLike, args: string[]): ReturnType<typeof runProgram> {
  return runProgram(t, process.execPath, [SPOOL_BIN, ...args], { timeoutMs: 30_000 })
}

type QuotaRow = { entity: { type: string, name: string | null }, produceBytesPerSec: number | null, fetchBytesPerSec: number | null, requestsPerSec: number | null }

/** A native connection straight to one broker (no routing: what that broker answers). */
async function connect (t: TestLike, port: number): Promise<Connection> {
  const c = await Connection.open({
    address: `127.0.0.1:${port}`, clientId: 'cluster-quotas-test', transport: nodeTcpTransport,
    connectTimeoutMs: 5000, requestTimeoutMs: 10_000, maxFrameBytes: 1 << 20, logger: silent,
  })
  t.teardown(() => c.close())
  return c
}

async function quotasAt (c: Connection): Promise<QuotaRow[]> {
  const r = await c.request('DescribeClientQuotas', {}, { timeoutMs: 5000 })
  return r.body.quotas as QuotaRow[]
}

const limitOf = (rows: QuotaRow[], type: string, name: string | null): number | null | undefined =>
  rows.find(q => q.entity.type === type && q.entity.name === name)?.produceBytesPerSec

t.test('two brokers, one etcd: quotas set and removed with spool quota --etcd-endpoints apply on both', async t => {
  const captured = capturingLogger()
  const c = await startCluster(t, { brokers: 2, config: { ...WINDOWS }, perBroker: { 2: { logger: captured.logger } } })
  const where = ['--etcd-endpoints', c.etcd.endpoints.join(','), '--cluster-key-prefix', c.prefix]
  const admin = c.client(t)
  await admin.admin().createTopics([{ topic: 'ingest', partitions: 4, replicationFactor: 1 }])
  await c.waitFor(() => [0, 1, 2, 3].every(p => c.leaderOf('ingest', p) > 0), 'every partition of ingest with a leader')
  const ledBy = (id: number): number => [0, 1, 2, 3].find(p => c.leaderOf('ingest', p) === id) ?? -1
  const partitionOf = { 1: ledBy(1), 2: ledBy(2) }
  t.ok(partitionOf[1] >= 0 && partitionOf[2] >= 0, `each broker leads a partition (${JSON.stringify(partitionOf)})`)
  const address = (id: 1 | 2): string => `127.0.0.1:${c.broker(id).ports.native}`
  const conn = { 1: await connect(t, c.broker(1).ports.native!), 2: await connect(t, c.broker(2).ports.native!) }

  const throttles: ThrottleEvent[] = []
  const loader = new Client({ brokers: c.addresses(), clientId: 'bulk-loader', onThrottle: e => throttles.push(e) })
  t.teardown(() => loader.close())
  const producer = loader.producer({ acks: 1, lingerMs: 0 })
  const otherThrottles: ThrottleEvent[] = []
  const other = new Client({ brokers: c.addresses(), clientId: 'checkout', onThrottle: e => otherThrottles.push(e) })
  t.teardown(() => other.close())
  const value = Buffer.alloc(20_000, 7)
  /** Produces 20 kB to the partition `broker` leads; the throttle times that broker answered with. */
  const produceTo = async (p: typeof producer, broker: 1 | 2): Promise<ThrottleEvent[]> => {
    const before = throttles.length
    await p.send({ topic: 'ingest', messages: [{ value, partition: partitionOf[broker] }] })
    return throttles.slice(before).filter(e => e.broker === address(broker) && e.api === 'Produce')
  }
  t.same(await produceTo(producer, 2), [], 'no quota yet: not throttled')

  t.test('spool quota set --etcd-endpoints: listed by both brokers, enforced by both', async t => {
    const set = await spool(t, ['quota', 'set', '--client-id', 'bulk-loader', '--produce-bytes-per-sec', '1000', ...where])
    t.equal(set.code, 0, `spool quota set (${set.stderr.trim()})`)
    t.match(set.stdout, /quota for client-id "bulk-loader": produce 1000 B\/s|quota for client-id "bulk-loader": produce 1 KB\/s/)
    for (const id of [1, 2] as const) {
      await pollFor(`broker ${id} listing the quota`, () => quotasAt(conn[id]), rows => limitOf(rows, 'client-id', 'bulk-loader') === 1000)
    }
    t.pass('both brokers list client-id bulk-loader at 1000 B/s')
    for (const id of [1, 2] as const) {
      const told = await produceTo(producer, id)
      t.ok(told.length > 0 && told.every(e => e.throttleTimeMs > 0 && e.throttleTimeMs <= MAX_THROTTLE_MS),
        `broker ${id} throttles 20 kB against 1000 B/s: ${JSON.stringify(told.map(e => e.throttleTimeMs))} ms (cap ${MAX_THROTTLE_MS})`)
    }
    const checkout = other.producer({ acks: 1, lingerMs: 0 })
    await checkout.send({ topic: 'ingest', messages: [{ value, partition: partitionOf[2] }] })
    t.same(otherThrottles, [], 'another client id is not throttled on broker 2')
    const listed = await spool(t, ['quota', 'list', '--format', 'json', ...where])
    t.same(JSON.parse(listed.stdout), [{ entity: { type: 'client-id', name: 'bulk-loader' }, limits: { produceBytesPerSec: 1000 } }], 'spool quota list --etcd-endpoints')
  })

  t.test('a quota set through one broker\'s api is listed by the other', async t => {
    const r = await conn[1].request('AlterClientQuotas', { entries: [{ entity: { type: 'group', name: 'replay' }, ops: [{ key: 'fetchBytesPerSec', value: 5000 }] }], validateOnly: false }, { timeoutMs: 10_000 })
    t.same(r.body.entries.map(e => e.errorCode), [0], 'broker 1 wrote it')
    const rows = await pollFor('broker 2 listing the group quota', () => quotasAt(conn[2]), rows => rows.some(q => q.entity.type === 'group' && q.entity.name === 'replay'))
    t.equal(rows.find(q => q.entity.type === 'group')?.fetchBytesPerSec, 5000)
  })

  t.test('spool quota remove --etcd-endpoints: gone on both brokers', async t => {
    for (const args of [['--client-id', 'bulk-loader'], ['--group', 'replay']]) {
      const removed = await spool(t, ['quota', 'remove', ...args, ...where])
      t.equal(removed.code, 0, `spool quota remove ${args.join(' ')} (${removed.stderr.trim()})`)
      t.match(removed.stdout, /^removed the quota of /)
    }
    for (const id of [1, 2] as const) {
      await pollFor(`broker ${id} listing no quota`, () => quotasAt(conn[id]), rows => rows.length === 0)
    }
    t.pass('both brokers list no quota')
    for (const id of [1, 2] as const) t.same(await produceTo(producer, id), [], `broker ${id} no longer throttles bulk-loader`)
    const again = await spool(t, ['quota', 'remove', '--client-id', 'bulk-loader', ...where])
    t.match(again.stdout, /had no quota/, 'removing it again says so')
  })

  t.test('documents that do not check are left out and reported; nothing crashes', async t => {
    const etcd = createEtcdClient({ etcdEndpoints: c.etcd.endpoints, etcdTls: null, etcdUsername: null, etcdPassword: null, etcdOperationTimeoutMs: 5000 })
    t.teardown(() => closeEtcdClient(etcd))
    const keys = new ClusterKeys(c.prefix)
    const put = (key: string, value: string): Promise<unknown> => etcd.put(keys.document('quotas', key)).value(value).exec()
    // A valid quota first, through the CLI, then garbage over it.
    const set = await spool(t, ['quota', 'set', '--client-id', 'flaky', '--produce-bytes-per-sec', '1000', ...where])
    t.equal(set.code, 0)
    await pollFor('broker 2 listing flaky', () => quotasAt(conn[2]), rows => limitOf(rows, 'client-id', 'flaky') === 1000)
    await put('client-id:bad-limit', JSON.stringify({ entity: { type: 'client-id', name: 'bad-limit' }, produceBytesPerSec: 'fast' }))
    await put('client-id:wrong-entity', JSON.stringify({ entity: { type: 'client-id', name: 'someone-else' }, produceBytesPerSec: 1 }))
    await put('principal:alice', JSON.stringify({ entity: { type: 'principal', name: 'User:alice' }, produceBytesPerSec: 1 }))
    await put('client-id:flaky', '{not json')
    const ok = await spool(t, ['quota', 'set', '--client-id', 'good', '--produce-bytes-per-sec', '2000', ...where])
    t.equal(ok.code, 0, 'a valid quota is still written beside them')
    for (const id of [1, 2] as const) {
      const rows = await pollFor(`broker ${id} listing only the valid quota`, () => quotasAt(conn[id]), rows => rows.length === 1 && limitOf(rows, 'client-id', 'good') === 2000)
      t.same(rows.map(q => q.entity.name), ['good'], `broker ${id} lists the valid quota only (flaky, overwritten with garbage, no longer applies)`)
    }
    await c.waitFor(() => ['client-id:bad-limit', 'client-id:wrong-entity', 'principal:alice'].every(k => captured.lines.some(l => l.includes('cluster quota document is not valid') && l.includes(k))), 'broker 2 naming each invalid document', 10_000)
    t.ok(captured.lines.some(l => l.includes('not JSON') && l.includes('flaky')), 'the value that is not JSON is named too')
    const warned = captured.lines.filter(l => l.includes('cluster quota document is not valid'))
    t.ok(warned.every(l => l.includes('CLUSTER_DOCUMENT_INVALID')), 'with the error code')
    t.equal(warned.filter(l => l.includes('client-id:bad-limit')).length, 1, 'once per document revision')
    for (const id of [1, 2] as const) {
      t.equal(metricValue(await scrape(c.broker(id).ports.http!), 'spool_quota_invalid_documents'), 3, `broker ${id}: spool_quota_invalid_documents 3`)
    }
    const listed = await spool(t, ['quota', 'list', ...where])
    t.equal(listed.code, 0, 'spool quota list still works')
    t.match(listed.stdout, /client-id\s+good/)
    for (const k of ['client-id:bad-limit', 'client-id:wrong-entity', 'principal:alice']) t.match(listed.stderr, new RegExp(`warning: quota document "${k}"`), `and names ${k} on stderr`)
    t.same(await produceTo(producer, 2), [], 'brokers keep serving: bulk-loader produces, unthrottled')
    t.equal(c.brokers.size, 2, 'both brokers running')
    const overwrite = await spool(t, ['quota', 'set', '--client-id', 'bad-limit', '--produce-bytes-per-sec', '3000', ...where])
    t.equal(overwrite.code, 0, `an invalid document is overwritten by a valid one (${overwrite.stderr.trim().split('\n').at(-1) ?? ''})`)
    await pollFor('broker 1 listing the repaired quota', () => quotasAt(conn[1]), rows => limitOf(rows, 'client-id', 'bad-limit') === 3000)
  })
})

t.test('the etcd TLS and authentication flags, one parser for spool quota, user and acl', async t => {
  const etcd = await startEtcd(t, { tls: true })
  const tls = etcd.tls!
  const prefix = '/spool/tls-test'
  const where = ['--etcd-endpoints', etcd.endpoints.join(','), '--cluster-key-prefix', prefix, '--etcd-ca-file', tls.caFile, '--etcd-cert-file', tls.certFile, '--etcd-key-file', tls.keyFile]
  const set = await spool(t, ['quota', 'set', '--default', '--requests-per-sec', '50', ...where])
  t.equal(set.code, 0, `spool quota set over TLS (${set.stderr.trim()})`)
  const listed = await spool(t, ['quota', 'list', '--format', 'json', ...where])
  t.same(JSON.parse(listed.stdout), [{ entity: { type: 'default', name: null }, limits: { requestsPerSec: 50 } }])
  const users = await spool(t, ['user', 'list', '--format', 'json', ...where])
  t.equal(users.code, 0, `spool user list takes the same flags (${users.stderr.trim()})`)
  t.same(JSON.parse(users.stdout), [])
  const acls = await spool(t, ['acl', 'list', '--format', 'json', ...where])
  t.equal(acls.code, 0, `spool acl list too (${acls.stderr.trim()})`)
  const half = await spool(t, ['quota', 'list', ...where.slice(0, -2)])
  t.not(half.code, 0, 'a certificate without its key is refused')
  t.match(half.stderr, /--etcd-cert-file and --etcd-key-file go together/)
  const noCa = await spool(t, ['quota', 'list', ...where.slice(0, 4)])
  t.not(noCa.code, 0, 'without the CA the TLS etcd is not reached')

  // etcd authentication on: the user and password flags, and SPOOL_ETCD_PASSWORD.
  etcd.enableAuth('s3cret')
  const authed = await spool(t, ['quota', 'set', '--client-id', 'etl', '--fetch-bytes-per-sec', '2MB', ...where, '--etcd-username', 'root', '--etcd-password', 's3cret'])
  t.equal(authed.code, 0, `spool quota set with --etcd-username/--etcd-password (${authed.stderr.trim()})`)
  const fromEnv = await runProgram(t, process.execPath, [SPOOL_BIN, 'quota', 'list', '--format', 'json', ...where, '--etcd-username', 'root'], { timeoutMs: 30_000, env: { SPOOL_ETCD_PASSWORD: 's3cret' } })
  t.equal(fromEnv.code, 0, `the password from SPOOL_ETCD_PASSWORD (${fromEnv.stderr.trim()})`)
  t.same((JSON.parse(fromEnv.stdout) as Array<{ entity: { name: string | null } }>).map(q => q.entity.name), ['etl', null], 'client ids first, then the default')
  const userList = await spool(t, ['user', 'list', ...where, '--etcd-username', 'root', '--etcd-password', 's3cret'])
  t.equal(userList.code, 0, `spool user list takes them too (${userList.stderr.trim()})`)
  const wrong = await spool(t, ['quota', 'list', ...where, '--etcd-username', 'root', '--etcd-password', 'wrong'])
  t.not(wrong.code, 0, 'a wrong etcd password is refused')
  const alone = await spool(t, ['quota', 'list', ...where, '--etcd-username', 'root'])
  t.match(alone.stderr, /--etcd-username and --etcd-password go together/, 'a user without a password is a usage error')
})
