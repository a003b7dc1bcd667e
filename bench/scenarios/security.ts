/**
 * Scenario "security": what TLS and authentication cost, Spool against itself in the same
 * run: produce and consume over plain TCP, over TLS, as a SCRAM-authenticated user whose
 * every append and fetch passes the ACLs, and both together.
 *
 *   node dist/bench/scenarios/security.js [--quick] [--json out.json]
 *
 * Two brokers (separate processes, temp data dirs, certificates made by openssl): one
 * without --auth (plain port and TLS port), one with --auth, a user `bench` that is not a
 * super user, and ACLs granting it write and read on a prefix of topics (plain port and TLS
 * port). The SCRAM exchange happens when the connections open, before timing, so the
 * SCRAM rows measure the authorization checks on the hot path (the authorizer caches its
 * decisions per connection). Same load as the produce and consume scenarios: 100 B and
 * 1 KiB values, 1 partition, 1 producer, acks=1, lingerMs 5, 1,000-message sends with 16
 * in flight; one consumer with run({ eachBatch }). The systems run in turn, each
 * configuration in one round, so drift of the machine hits all of them alike.
 * The same four configurations on the Kafka listener, with kcat (librdkafka 2.0.2) as its
 * own process: `-P` of 100 B values from a file (acks=1, linger.ms 5, batch.size 1 MiB),
 * then `-C -o beginning -e` of that topic; plain TCP, `ssl`, `sasl_plaintext` SCRAM-SHA-256
 * and `sasl_ssl` SCRAM-SHA-256, the SASL rows as the same non-super user. Each kcat run
 * includes its connection setup (TLS handshake, SCRAM exchange: milliseconds against
 * seconds of load); kcat's CPU is its own process and not in the rows.
 * Aims (RESULTS.md): TLS costs at most 30% of plaintext throughput for 100 B records; the
 * authorization checks at most 3%.
 */

import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { AclAccessPolicy } from '../../broker/security/access-policy.js'
import { AclStore } from '../../broker/security/acl-store.js'
import { AclAuthorizer } from '../../broker/security/authorizer.js'
import { userPrincipal } from '../../broker/security/principal.js'
import { CredentialStore } from '../../broker/security/credentials.js'
import type { ClientOptions } from '../../client/index.js'
import { bySize, parseArgs, type Mode } from '../lib/cli.js'
import { runMain, tempDir } from '../lib/cleanup.js'
import { runKcat, writeKcatInput } from '../lib/kcat.js'
import { findExecutable } from '../lib/procs.js'
import { measure, throughputRows } from '../lib/measure.js'
import { Recorder, SPOOL } from '../lib/result.js'
import { closeClients, consumeAll, createTopic, openProducers, produceWith, spoolClient, startSpool, type SpoolBroker } from '../lib/spool.js'

const PASSWORD = 'bench-Secret-0123'
const ADMIN_PASSWORD = 'bench-Admin-0123'

interface System {
  name: string
  broker: SpoolBroker
  address: string
  options: ClientOptions
  /** Who creates the topics (the secured broker's super user). */
  admin: ClientOptions
}

interface Config { valueBytes: number }
const CONFIGS: Config[] = [{ valueBytes: 100 }, { valueBytes: 1024 }]
const size = (c: Config): string => c.valueBytes === 1024 ? '1 KiB' : `${c.valueBytes} B`

function records (mode: Mode, c: Config): { produce: number, consume: number, maxSeconds: number } {
  const big = c.valueBytes >= 1024
  return bySize(mode, {
    full: { produce: big ? 600_000 : 3_000_000, consume: big ? 500_000 : 2_000_000, maxSeconds: 6 },
    quick: { produce: big ? 50_000 : 250_000, consume: big ? 40_000 : 150_000, maxSeconds: 0.8 },
    tiny: { produce: big ? 2_000 : 5_000, consume: big ? 2_000 : 5_000, maxSeconds: 1 },
  })
}

/** A CA and a server certificate for 127.0.0.1 in `dir`. */
function certificates (dir: string): { ca: string, cert: string, key: string } {
  const run = (...args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 })
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr?.toString() ?? r.error?.message}`)
  }
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n')
  run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=bench-ca', '-days', '2')
  run('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=bench')
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.ext')
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') }
}

async function produce (rec: Recorder, s: System, c: Config, n: number, count: number, maxSeconds: number, timed: boolean): Promise<void> {
  const topic = `bench.produce-${n}`
  await createTopic(s.broker, topic, 1, {}, s.admin)
  const load = { topic, producers: 1, records: count, valueBytes: c.valueBytes, maxSeconds, producer: { acks: 1 as const, lingerMs: 5, batchBytes: 64 * 1024 }, perSend: 1000, outstanding: 16 }
  const producers = await openProducers(s.broker, load, { brokers: [s.address], ...s.options })
  const m = await measure(s.broker.pid, () => produceWith(producers, load))
  await closeClients(producers)
  if (timed) for (const row of throughputRows(`produce ${size(c)}, 1 partition, 1 producer`, s.name, m.value, c.valueBytes, m)) rec.add(row)
}

async function consume (rec: Recorder, s: System, c: Config, n: number, count: number, timed: boolean): Promise<void> {
  const topic = `bench.consume-${n}`
  await createTopic(s.broker, topic, 1, {}, s.admin)
  const load = { topic, producers: 1, records: count, valueBytes: c.valueBytes, maxSeconds: 60, producer: { acks: 1 as const, lingerMs: 5 }, perSend: 1000, outstanding: 16 }
  const producers = await openProducers(s.broker, load, { brokers: [s.address], ...s.options })
  const written = await produceWith(producers, load) + 1
  await closeClients(producers)
  const client = spoolClient(s.broker, 'bench-consumer', { brokers: [s.address], ...s.options })
  await client.connect()
  const m = await measure(s.broker.pid, () => consumeAll(client, topic, written, 60))
  await client.close()
  if (timed) for (const row of throughputRows(`consume ${size(c)}, 1 partition`, s.name, m.value, c.valueBytes, m)) rec.add(row)
}

interface KcatSystem {
  name: string
  broker: SpoolBroker
  address: string
  /** kcat's -X options for this configuration. */
  options: string[]
  admin: ClientOptions
}

/** kcat produces `count` 100 B values from `input` to a fresh topic, then consumes them; two timed phases. */
async function kcatPhases (rec: Recorder, s: KcatSystem, n: number, input: string, count: number): Promise<void> {
  const topic = `bench.kcat-${n}`
  await createTopic(s.broker, topic, 1, {}, s.admin)
  const base = ['-b', s.address, ...s.options]
  const produced = await measure(s.broker.pid, () => runKcat([...base, '-P', '-t', topic, '-p', '0', '-X', 'acks=1', '-X', 'linger.ms=5', '-X', 'batch.size=1048576', '-X', 'compression.codec=none'], input, 300_000))
  const consumed = await measure(s.broker.pid, () => runKcat([...base, '-C', '-t', topic, '-p', '0', '-o', 'beginning', '-e', '-q'], null, 300_000))
  const own = (rows: ReturnType<typeof throughputRows>): ReturnType<typeof throughputRows> => rows.filter(r => r.metric !== 'client CPU s per 1M records')
  for (const row of own(throughputRows('kcat produce 100 B, 1 partition (Kafka listener)', s.name, count, 100, produced))) rec.add(row)
  for (const row of own(throughputRows('kcat consume 100 B, 1 partition (Kafka listener)', s.name, count, 100, consumed))) rec.add(row)
}

/**
 * The cost of one cached authorization decision (what every append and fetch pays), in
 * this process: the ACL policy against a set of ACLs like the brokers', many times over.
 */
function checkCostNs (dataDir: string, checks: number): number {
  const authorizer = AclAuthorizer.open({ dataDir, reloadIntervalMs: 0 })
  const policy = new AclAccessPolicy(authorizer)
  const caller = { principal: userPrincipal('bench', 'scram-sha-256'), clientId: 'bench', host: '127.0.0.1', protocol: 'native' as const }
  for (let i = 0; i < 10_000; i++) policy.check(caller, 'write', 'topic', 'bench.orders')
  const started = process.hrtime.bigint()
  for (let i = 0; i < checks; i++) policy.check(caller, i % 2 === 0 ? 'write' : 'read', 'topic', 'bench.orders')
  const ns = Number(process.hrtime.bigint() - started) / checks
  authorizer.close()
  return ns
}

await runMain(async () => {
  const args = parseArgs()
  const rec = new Recorder('security', 'TLS and authentication: throughput against plain TCP',
    'Records/s of produce (acks=1) and consume over plain TCP, TLS, SCRAM-SHA-256 with ACL checks on every append and fetch, and TLS with SCRAM; 100 B and 1 KiB values, 1 partition, one connection; two brokers (one with --auth), same run.')
  const dir = tempDir('security', args.tmp)
  const pki = certificates(dir)
  const tlsFlags = ['--tls-port', '0', '--tls-cert-file', pki.cert, '--tls-key-file', pki.key]
  const kcat = findExecutable('kcat') !== null
  const kafkaFlags = kcat ? ['--kafka-tls-port', '0'] : []
  const open = await startSpool({ dataDir: join(dir, 'open'), kafka: kcat, args: [...tlsFlags, ...kafkaFlags] })
  const securedDir = join(dir, 'secured')
  const users = CredentialStore.open({ dataDir: securedDir })
  await users.addUser('bench', PASSWORD)
  await users.addUser('admin', ADMIN_PASSWORD)
  AclStore.open({ dataDir: securedDir }).add([
    { principal: 'User:bench', resourceType: 'topic', patternType: 'prefixed', resourceName: 'bench.', operation: 'write' },
    { principal: 'User:bench', resourceType: 'topic', patternType: 'prefixed', resourceName: 'bench.', operation: 'read' },
  ])
  const secured = await startSpool({ dataDir: securedDir, kafka: kcat, args: [...tlsFlags, ...kafkaFlags, '--auth', '--super-users', 'User:admin'] })
  const ca = readFileSync(pki.ca, 'utf8')
  const user = { sasl: { username: 'bench', password: PASSWORD } }
  const admin = { sasl: { username: 'admin', password: ADMIN_PASSWORD } }
  const systems: System[] = [
    { name: SPOOL, broker: open, address: open.address, options: {}, admin: {} },
    { name: `${SPOOL} TLS`, broker: open, address: `127.0.0.1:${open.ports.nativeTls}`, options: { tls: { ca } }, admin: {} },
    { name: `${SPOOL} SCRAM+ACL`, broker: secured, address: secured.address, options: user, admin },
    { name: `${SPOOL} TLS+SCRAM+ACL`, broker: secured, address: `127.0.0.1:${secured.ports.nativeTls}`, options: { ...user, tls: { ca } }, admin },
  ]
  rec.config({ producer: { acks: 1, lingerMs: 5, batchBytes: 65536, perSend: 1000, outstandingSends: 16 }, tls: 'TLS 1.3, ECDSA P-256', sasl: 'SCRAM-SHA-256', acls: 'allow write and read on prefix bench.' })
  rec.note('Each SCRAM row\'s connections authenticate before timing; the difference to plain TCP is the per-request authorization (cached per connection).')
  const ns = checkCostNs(securedDir, bySize(args.mode, { full: 5_000_000, quick: 1_000_000, tiny: 100_000 }))
  rec.add({ name: 'authorization check (cached decision)', system: `${SPOOL} SCRAM+ACL`, metric: 'ns per check', value: ns, unit: 'ns', better: 'lower' })
  rec.note(`One cached authorization decision costs ${ns.toFixed(0)} ns; a produce request pays one per partition batch (about 600 records of 100 B at batchBytes 64 KiB), a fetch one per partition.`)
  let n = 0
  for (const s of systems) await produce(rec, s, CONFIGS[0]!, n++, Math.ceil(records(args.mode, CONFIGS[0]!).produce / 10), 1, false)
  for (const c of CONFIGS) {
    const r = records(args.mode, c)
    process.stderr.write(`security: ${size(c)}\n`)
    for (const s of systems) await produce(rec, s, c, n++, r.produce, r.maxSeconds, true)
    for (const s of systems) await consume(rec, s, c, n++, r.consume, true)
  }
  if (kcat) {
    const input = join(dir, 'kcat-values.txt')
    const count = records(args.mode, CONFIGS[0]!).produce
    await writeKcatInput(input, count, 100)
    const ssl = ['-X', `ssl.ca.location=${pki.ca}`]
    const scram = ['-X', 'sasl.mechanisms=SCRAM-SHA-256', '-X', 'sasl.username=bench', '-X', `sasl.password=${PASSWORD}`]
    const kcats: KcatSystem[] = [
      { name: 'kcat', broker: open, address: `127.0.0.1:${open.ports.kafka}`, options: [], admin: {} },
      { name: 'kcat TLS', broker: open, address: `127.0.0.1:${open.ports.kafkaTls}`, options: ['-X', 'security.protocol=ssl', ...ssl], admin: {} },
      { name: 'kcat SCRAM+ACL', broker: secured, address: `127.0.0.1:${secured.ports.kafka}`, options: ['-X', 'security.protocol=sasl_plaintext', ...scram], admin },
      { name: 'kcat TLS+SCRAM+ACL', broker: secured, address: `127.0.0.1:${secured.ports.kafkaTls}`, options: ['-X', 'security.protocol=sasl_ssl', ...ssl, ...scram], admin },
    ]
    process.stderr.write('security: kcat over the Kafka listener\n')
    for (const s of kcats) await kcatPhases(rec, s, n++, input, count)
    rec.note('The kcat rows run through the Kafka listener: plain, ssl, sasl_plaintext and sasl_ssl with SCRAM-SHA-256; kcat\'s own CPU is not counted.')
  } else {
    rec.skip('kcat is not installed (apt-get install kcat): no Kafka listener rows')
  }
  await open.stop()
  await secured.stop()
  rec.finish(args.json)
})
