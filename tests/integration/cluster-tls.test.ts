// TLS everywhere in a cluster (tests/helpers/cluster.ts: a real etcd, three embedded brokers
// on loopback). Each broker has only its native TLS listener (no plain native port), client
// certificates required (mTLS), and --inter-broker-tls:
// - RF 3 acks=all replication works — the followers can only reach their leaders over TLS,
//   presenting their own certificate — and every broker holds the leader's bytes;
// - the SDK over TLS bootstraps from one broker, is told the others' TLS addresses
//   (Metadata), finds its group's coordinator (FindCoordinator names the TLS listener) and
//   reads everything back after a partition's leader stopped;
// - a broker restarted with an inter-broker CA that did not sign the others' certificates
//   cannot follow: it logs one named TLS warning per peer, stays out of the ISR, and nothing
//   crashes; restarted with the right CA it catches up into the ISR;
// - interBrokerTls without --tls-port or without etcd is INVALID_CONFIG.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { Broker } from '../../broker/broker.js'
import { Client } from '../../client/index.js'
import { startCluster, storedBatches } from '../helpers/cluster.js'
import { collect } from '../helpers/conformance.js'
import { startEtcd } from '../helpers/etcd.js'
import { capturingLogger, makePki, tempDir } from '../helpers/security.js'

t.test('three brokers on TLS only, mTLS between them: replication, SDK routing, failover, a wrong CA', async t => {
  const pki = await makePki(t)
  const etcd = await startEtcd(t)
  const captured = capturingLogger()
  const tls = {
    port: null, tlsPort: 0, tlsCertFile: pki.file('server.crt'), tlsKeyFile: pki.file('server.key'),
    tlsCaFile: pki.file('ca.crt'), tlsClientAuth: 'required' as const, interBrokerTls: true,
  }
  const c = await startCluster(t, { brokers: 3, etcd, config: tls, perBroker: { 3: { logger: captured.logger } } })
  const tlsAddresses = (): string[] => [...c.brokers.values()].map(b => `127.0.0.1:${b.ports.nativeTls}`)
  for (const b of c.brokers.values()) t.equal(b.ports.native, null, `broker ${b.config.nodeId} has no plain native listener`)
  const clientTls = { ca: [readFileSync(pki.file('ca.crt'))], cert: readFileSync(pki.file('alice.crt')), key: readFileSync(pki.file('alice.key')) }
  const client = (): Client => {
    // Only the first broker as bootstrap: the others come from Metadata.
    const cl = new Client({ brokers: [tlsAddresses()[0]!], tls: clientTls, retry: { retries: 20, initialRetryTimeMs: 100, maxRetryTimeMs: 1000 } })
    t.teardown(() => cl.close())
    return cl
  }
  const producerClient = client()
  await producerClient.admin().createTopics([{ topic: 'secure', partitions: 3, replicationFactor: 3 }])
  await c.waitFor(() => [0, 1, 2].every(p => (c.partition('secure', p)?.isr.length ?? 0) === 3), 'three in-sync replicas per partition (followers fetching over TLS)')

  const metadata = await producerClient.admin().describeCluster()
  t.same(metadata.brokers.map(b => `${b.host}:${b.port}`).sort(), tlsAddresses().sort(), 'Metadata names every broker\'s TLS listener to a TLS client')

  const producer = producerClient.producer({ acks: 'all', lingerMs: 2 })
  const sends = []
  for (let i = 0; i < 90; i++) sends.push(producer.send({ topic: 'secure', messages: [{ key: `k${i % 9}`, value: `v${i}` }] }))
  t.equal((await Promise.all(sends)).flat().length, 90, 'every acks=all send acknowledged, each partition through its own leader')
  for (let p = 0; p < 3; p++) {
    const leader = c.broker(c.leaderOf('secure', p))
    await c.waitFor(() => [...c.brokers.values()].every(b => b.logs.partition('secure', p).logEndOffset === leader.logs.partition('secure', p).logEndOffset), `partition ${p} replicated`)
    const reference = await storedBatches(leader, 'secure', p)
    for (const b of c.brokers.values()) t.same(await storedBatches(b, 'secure', p), reference, `partition ${p}: broker ${b.config.nodeId} holds the leader's bytes`)
  }

  const group = client().consumer({ groupId: 'secure-readers', fromBeginning: true, maxWaitMs: 100 })
  await group.subscribe({ topics: 'secure' })
  const first = await collect(group, 90)
  t.equal(new Set(first.map(m => Buffer.from(m.value!).toString())).size, 90, 'a group over TLS (its coordinator found on its TLS listener) reads all 90')
  await group.close()

  const old = c.leaderOf('secure', 0)
  await c.stop(old)
  await c.waitFor(() => ![-1, old].includes(c.leaderOf('secure', 0)), 'a new leader of partition 0')
  const reader = new Client({ brokers: tlsAddresses(), tls: clientTls, retry: { retries: 20, initialRetryTimeMs: 100, maxRetryTimeMs: 1000 } })
  t.teardown(() => reader.close())
  const consumer = reader.consumer({ fromBeginning: true, maxWaitMs: 100 })
  await consumer.assign({ topic: 'secure' })
  const again = await collect(consumer, 90)
  t.same(again.map(m => Buffer.from(m.value!).toString()).sort(), Array.from({ length: 90 }, (_, i) => `v${i}`).sort(), `all 90 read back with broker ${old} stopped`)
  await consumer.close()
  await c.start(old)
  await c.waitFor(() => [0, 1, 2].every(p => (c.partition('secure', p)?.isr.length ?? 0) === 3), 'the restarted broker back in every ISR')

  // Broker 3 again, trusting only another CA for its peers: it cannot verify its leaders.
  await c.stop(3)
  const followed = [0, 1, 2].filter(p => c.partition('secure', p)?.replicas.includes(3) === true)
  const wrong = await Broker.start({
    host: '127.0.0.1', httpPort: 0, mqttPort: null, kafkaPort: null, logLevel: 'silent', leaseTtlMs: 8000,
    ...tls, interBrokerCaFile: pki.file('otherca.crt'), logger: captured.logger,
    nodeId: 3, dataDir: tempDir(t, 'spool-cluster-tls-3-'), etcdEndpoints: etcd.endpoints, clusterKeyPrefix: c.prefix,
  })
  t.teardown(() => wrong.close())
  await c.waitFor(() => captured.lines.some(l => l.includes('TLS connection to peer broker failed')), 'broker 3 to say its TLS connections fail', 20_000)
  const warning = JSON.parse(captured.lines.find(l => l.includes('TLS connection to peer broker failed'))!) as { level: number, code: string, err: string }
  t.equal(warning.level, 40, 'a warning')
  t.match(warning.err, /TLS connection to broker 127\.0\.0\.1:\d+/, `naming the peer (${warning.code}: ${warning.err})`)
  await new Promise(resolve => setTimeout(resolve, 1500))
  const warnings = captured.lines.filter(l => l.includes('TLS connection to peer broker failed')).length
  t.ok(warnings <= 2, `once per peer, not once per retry (${warnings})`)
  t.ok(followed.every(p => !(c.partition('secure', p)?.isr ?? []).includes(3)), 'broker 3 is in no ISR')
  await wrong.close()
})

t.test('interBrokerTls needs a native TLS listener and a cluster', async t => {
  const pki = await makePki(t)
  const files = { tlsCertFile: pki.file('server.crt'), tlsKeyFile: pki.file('server.key') }
  await t.rejects(Broker.start({ dataDir: tempDir(t), port: 0, httpPort: null, mqttPort: null, kafkaPort: null, logLevel: 'silent', interBrokerTls: true, ...files, tlsPort: 0 }),
    { code: 'INVALID_CONFIG', message: /interBrokerTls is a cluster setting/ })
  await t.rejects(Broker.start({ dataDir: tempDir(t), port: 0, httpPort: null, mqttPort: null, kafkaPort: null, logLevel: 'silent', interBrokerTls: true, ...files, etcdEndpoints: ['http://127.0.0.1:1'] }),
    { code: 'INVALID_CONFIG', message: /needs --tls-port/ })
  await t.rejects(Broker.start({ dataDir: tempDir(t), port: 0, httpPort: null, mqttPort: null, kafkaPort: null, logLevel: 'silent', interBrokerCaFile: pki.file('ca.crt') }),
    { code: 'INVALID_CONFIG', message: /with --inter-broker-tls only/ })
})
