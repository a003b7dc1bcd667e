// `spool cluster import-security` (cli/commands/cluster-import.ts), as a user moving a single
// broker into a cluster runs it: a data directory made with the CLI (a user, an ACL, a token)
// and a quota set on the single broker, a real etcd; --dry-run writes nothing; the import
// copies each kind once (a second run keeps everything); then a broker of that cluster with
// --auth lets alice in with her old password, enforces her ACL, accepts the token the single
// broker's keys signed, and applies the quota.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { Broker } from '../../broker/broker.js'
import { userPrincipal, type Caller } from '../../broker/security/principal.js'
import { Client } from '../../client/index.js'
import { startBroker } from '../helpers/broker.js'
import { startEtcd } from '../helpers/etcd.js'
import { runProgram } from '../helpers/kafka-programs.js'
import { SPOOL_BIN } from '../helpers/processes.js'
import { tempDir } from '../helpers/security.js'

const ALICE = 'alice-Secret-7'

t.test('a single broker\'s users, ACLs, quotas and token keys imported into a cluster', async t => {
  const dir = tempDir(t, 'spool-import-')
  const dataDir = path.join(dir, 'data')
  const spool = (args: string[]): ReturnType<typeof runProgram> => runProgram(t, process.execPath, [SPOOL_BIN, ...args], { timeoutMs: 30_000 })
  const pw = path.join(dir, 'alice.pw')
  writeFileSync(pw, `${ALICE}\n`, { mode: 0o600 })
  const single = await startBroker(t, { dataDir, mqttPort: null })
  const admin = new Client({ brokers: [`127.0.0.1:${single.ports.native}`] })
  await admin.admin().createTopics([{ topic: 'orders', partitions: 1 }])
  await admin.admin().alterClientQuotas([{ entity: { type: 'client-id', name: 'replayer' }, set: { fetchBytesPerSec: 1_000_000 } }])
  await admin.close()
  await single.close()
  for (const args of [
    ['--password-file', pw, 'user', 'add', 'alice', '--data-dir', dataDir],
    ['acl', 'add', '--allow-principal', 'User:alice', '--operation', 'read', '--operation', 'describe', '--topic', 'orders', '--data-dir', dataDir],
  ]) {
    const r = await spool(args)
    t.equal(r.code, 0, `spool ${args.slice(0, 2).join(' ')} (${r.stderr.trim()})`)
  }
  const token = await spool(['--user', 'alice', 'token', 'create', '--ttl', '10m', '--data-dir', dataDir])
  t.equal(token.code, 0, token.stderr)

  const etcd = await startEtcd(t)
  const prefix = '/spool/import-test'
  const where = ['--etcd-endpoints', etcd.endpoints.join(','), '--cluster-key-prefix', prefix]
  const dry = await spool(['cluster', 'import-security', '--data-dir', dataDir, '--dry-run', ...where])
  t.equal(dry.code, 0, dry.stderr)
  t.match(dry.stdout, /dry run:/)
  t.match(dry.stdout, /users\s+would import 1, 0 already/)
  const listed = await spool(['user', 'list', '--format', 'json', ...where])
  t.same(JSON.parse(listed.stdout), [], 'the dry run wrote nothing')

  const first = await spool(['cluster', 'import-security', '--data-dir', dataDir, ...where])
  t.equal(first.code, 0, first.stderr)
  for (const line of [/users\s+imported 1, 0 already/, /ACLs\s+imported 2, 0 already/, /quotas\s+imported 1, 0 already/, /token keys\s+imported 1, 0 already/]) t.match(first.stdout, line)
  const second = await spool(['cluster', 'import-security', '--data-dir', dataDir, ...where])
  for (const line of [/users\s+imported 0, 1 already/, /ACLs\s+imported 0, 2 already/, /quotas\s+imported 0, 1 already/, /token keys\s+imported 0, 1 already/]) t.match(second.stdout, line, 'a second run keeps what is there')

  const ibw = path.join(dir, 'broker.pw')
  writeFileSync(ibw, 'inter-Broker-Secret-8\n', { mode: 0o600 })
  const broker = await Broker.start({
    dataDir: tempDir(t, 'spool-import-broker-'), host: '127.0.0.1', port: 0, httpPort: null, mqttPort: null, kafkaPort: null, logLevel: 'silent',
    nodeId: 1, etcdEndpoints: etcd.endpoints, clusterKeyPrefix: prefix, defaultReplicationFactor: 1,
    auth: true, interBrokerUser: 'broker', interBrokerPasswordFile: ibw, superUsers: ['User:admin'],
  })
  t.teardown(() => broker.close())
  const address = `127.0.0.1:${broker.ports.native}`
  const asAlice = new Client({ brokers: [address], sasl: { username: 'alice', password: ALICE }, retry: { retries: 3 } })
  t.teardown(() => asAlice.close())
  const topics = await asAlice.admin().listTopics()
  t.ok(Array.isArray(topics), 'alice logs in to the cluster with her old password (SCRAM credentials copied)')
  const alice: Caller = { principal: userPrincipal('alice', 'scram-sha-256'), clientId: 'x', host: '127.0.0.1', protocol: 'native' }
  t.ok(broker.security.access.allows(alice, 'read', 'topic', 'orders'), 'her ACL is in force')
  t.notOk(broker.security.access.allows(alice, 'write', 'topic', 'orders'), 'and only it')
  const withToken = new Client({ brokers: [address], token: token.stdout.trim(), retry: { retries: 3 } })
  t.teardown(() => withToken.close())
  t.ok(Array.isArray(await withToken.admin().listTopics()), 'the token the single broker\'s key signed is accepted')
  const quotas = await spool(['quota', 'list', '--format', 'json', ...where])
  t.match(quotas.stdout, /"client-id".*"replayer".*1000000/s, `the quota is the cluster's (${quotas.stdout.trim()})`)
})
