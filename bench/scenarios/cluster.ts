/**
 * Scenario "cluster": what replication costs and how fast writes come back after a leader
 * dies. Three Spool broker processes and one etcd member (Debian's etcd) on loopback,
 * against one broker alone, measured in the same run, through the public SDK.
 *
 *   node dist/bench/scenarios/cluster.js [--quick|--tiny] [--json out.json] [--kills N]
 *
 *   acks=all throughput   8 producers, each keeping 8 send() calls of 100 messages
 *                         (100 B) in flight, one partition: a single broker vs a topic
 *                         with replication factor 3 (minInsyncReplicas 2)
 *   acks=all latency      one producer, one message at a time: send → acknowledgement
 *                         percentiles, single broker vs RF 3
 *   failover              an idempotent acks=all producer sends one message every 5 ms
 *                         (up to 16 unanswered) to an RF 3 partition; the partition's leader
 *                         is killed with SIGKILL; "writes resumed" is the time from the kill
 *                         to the first acknowledgement of a send made after it. The killed
 *                         broker is started again and the next kill waits until it is back
 *                         in the ISR. Default 20 kills (--kills), with the brokers' default
 *                         lease (3 s) and settings.
 */

import { randomUUID } from 'node:crypto'
import { Client } from '../../client/index.js'
import { startEtcd, type EtcdCluster } from '../../tests/helpers/etcd.js'
import { bySize, parseArgs } from '../lib/cli.js'
import { onCleanup, runMain, tempDir } from '../lib/cleanup.js'
import { drive, measure, throughputRows } from '../lib/measure.js'
import { Recorder, SPOOL } from '../lib/result.js'
import { makeValue, startSpool, type SpoolBroker } from '../lib/spool.js'
import { percentile } from '../lib/stats.js'

const VALUE_BYTES = 100
const SINGLE = `${SPOOL} (1 broker)`
const RF3 = `${SPOOL} (3 brokers, RF 3)`

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

interface Cluster {
  brokers: Map<number, SpoolBroker>
  start (id: number): Promise<SpoolBroker>
  addresses (): string[]
}

async function startCluster (dir: string, etcd: EtcdCluster): Promise<Cluster> {
  const prefix = `/spool/bench-${randomUUID().slice(0, 8)}`
  const brokers = new Map<number, SpoolBroker>()
  const start = async (id: number): Promise<SpoolBroker> => {
    const b = await startSpool({
      dataDir: `${dir}/broker-${id}`,
      args: ['--node-id', String(id), '--etcd-endpoints', etcd.endpoints.join(','), '--cluster-key-prefix', prefix, '--min-insync-replicas', '2'],
    })
    brokers.set(id, b)
    return b
  }
  await Promise.all([1, 2, 3].map(start))
  return { brokers, start, addresses: () => [...brokers.values()].filter(b => b.child.exitCode === null && b.child.signalCode === null).map(b => b.address) }
}

/** Polls the cluster's description (bounded) until `ok` holds for the topic's partitions. */
async function waitForPartitions (client: Client, topic: string, ok: (ps: Array<{ leader: number, isr: number[] }>) => boolean, what: string, timeoutMs = 60_000): Promise<Array<{ leader: number, isr: number[] }>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const ps = (await client.admin().describeCluster()).topics.find(t => t.topic === topic)?.partitions ?? []
      if (ps.length > 0 && ok(ps)) return ps
    } catch { /* a broker going away: ask again */ }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

async function throughput (rec: Recorder, system: string, brokerPid: number, client: Client, topic: string, seconds: number): Promise<void> {
  const value = makeValue(VALUE_BYTES)
  const messages = Array.from({ length: 100 }, () => ({ value }))
  const producers = Array.from({ length: 8 }, () => client.producer({ acks: 'all', lingerMs: 1 }))
  for (const p of producers) await p.send({ topic, messages: [{ value }] })
  const m = await measure(brokerPid, () => drive(8, 8, 100, seconds, w => producers[w]!.send({ topic, messages })))
  await Promise.all(producers.map(p => p.close()))
  for (const row of throughputRows('acks=all, 8 producers, pipelined, 1 partition', system, m.value, VALUE_BYTES, m, { mbps: false })) rec.add(row)
}

async function latency (rec: Recorder, system: string, client: Client, topic: string, count: number): Promise<void> {
  const producer = client.producer({ acks: 'all', lingerMs: 0 })
  const value = makeValue(VALUE_BYTES)
  for (let i = 0; i < 50; i++) await producer.send({ topic, messages: [{ value }] })
  const samples: number[] = []
  for (let i = 0; i < count; i++) {
    const t0 = performance.now()
    await producer.send({ topic, messages: [{ value }] })
    samples.push(performance.now() - t0)
  }
  await producer.close()
  samples.sort((a, b) => a - b)
  const name = 'acks=all latency, 1 producer, 1 message at a time'
  for (const [metric, p] of [['p50 send → ack', 0.5], ['p99 send → ack', 0.99], ['p99.9 send → ack', 0.999]] as const) {
    rec.add({ name, system, metric, value: percentile(samples, p), unit: 'ms', better: 'lower' })
  }
}

/** Kills the leader `kills` times under a light idempotent acks=all load; the times until writes resumed (ms). */
async function failover (c: Cluster, client: Client, topic: string, kills: number, log: (line: string) => void): Promise<number[]> {
  const producer = client.producer({ acks: 'all', lingerMs: 0, idempotent: true, timeoutMs: 3000, retry: { retries: 100_000, initialRetryTimeMs: 50, maxRetryTimeMs: 200 } })
  const acks: Array<{ sentMs: number, atMs: number }> = []
  let running = true
  let unanswered = 0
  const loop = (async () => {
    while (running) {
      if (unanswered < 16) {
        const sentMs = Date.now()
        unanswered++
        producer.send({ topic, messages: [{ value: 'x', partition: 0 }] })
          .then(() => { acks.push({ sentMs, atMs: Date.now() }) }, () => {})
          .finally(() => { unanswered-- })
      }
      await sleep(5)
    }
  })()
  const resumed: number[] = []
  try {
    for (let k = 0; k < kills; k++) {
      const [p] = await waitForPartitions(client, topic, ps => ps[0]!.leader > 0 && ps[0]!.isr.length === 3, 'the partition with three in-sync replicas')
      await sleep(1000)
      const leader = p!.leader
      const victim = c.brokers.get(leader)!
      const killedAt = Date.now()
      victim.child.kill('SIGKILL')
      await victim.exited
      const deadline = killedAt + 60_000
      let first: number | null = null
      while (first === null && Date.now() < deadline) {
        first = acks.find(a => a.sentMs > killedAt)?.atMs ?? null
        if (first === null) await sleep(10)
      }
      if (first === null) throw new Error(`writes did not resume within 60 s of killing broker ${leader}`)
      resumed.push(first - killedAt)
      log(`kill ${k + 1}/${kills}: broker ${leader} (leader), writes resumed after ${first - killedAt} ms`)
      await c.start(leader)
    }
  } finally {
    running = false
    await loop
    await producer.close().catch(() => {})
  }
  return resumed
}

await runMain(async () => {
  const args = parseArgs()
  const seconds = bySize(args.mode, { full: 5, quick: 1.5, tiny: 0.5 })
  const count = bySize(args.mode, { full: 3000, quick: 500, tiny: 100 })
  const kills = Number(args.values.get('kills') ?? bySize(args.mode, { full: 20, quick: 3, tiny: 1 }))
  const rec = new Recorder('cluster', 'Cluster mode: RF 3 acks=all against one broker, and failover after kill -9 of the leader',
    `Three broker processes and one etcd member on loopback, sharing this machine's cores with the clients, through the SDK; 100-byte values; ${seconds} s per throughput run, ${count} sequential sends for latency, ${kills} leader kills.`)
  rec.config({ seconds, count, kills })
  const dir = tempDir('cluster', args.tmp)
  const etcdTeardowns: Array<() => unknown> = []
  onCleanup(async () => { for (const fn of etcdTeardowns.splice(0).reverse()) await fn() })
  const etcd = await startEtcd({ teardown: fn => { etcdTeardowns.push(fn) } })

  // One broker alone.
  const single = await startSpool({ dataDir: `${dir}/single` })
  const singleClient = new Client({ brokers: [single.address], clientId: 'bench-single' })
  await singleClient.admin().createTopics([{ topic: 'tp', partitions: 1 }, { topic: 'lat', partitions: 1 }])
  process.stderr.write('single broker\n')
  await throughput(rec, SINGLE, single.pid, singleClient, 'tp', seconds)
  await latency(rec, SINGLE, singleClient, 'lat', count)
  await singleClient.close()
  await single.stop()

  // Three brokers, RF 3.
  const c = await startCluster(dir, etcd)
  const client = new Client({ brokers: c.addresses(), clientId: 'bench-cluster', requestTimeoutMs: 4000, retry: { retries: 100_000, initialRetryTimeMs: 50, maxRetryTimeMs: 500 } })
  await client.admin().createTopics([{ topic: 'tp', partitions: 1, replicationFactor: 3 }, { topic: 'lat', partitions: 1, replicationFactor: 3 }, { topic: 'failover', partitions: 1, replicationFactor: 3 }])
  for (const topic of ['tp', 'lat', 'failover']) await waitForPartitions(client, topic, ps => ps[0]!.leader > 0 && ps[0]!.isr.length === 3, `${topic} fully replicated`)
  const [tp] = await waitForPartitions(client, 'tp', () => true, 'tp')
  process.stderr.write('three brokers, RF 3\n')
  await throughput(rec, RF3, c.brokers.get(tp!.leader)!.pid, client, 'tp', seconds)
  rec.note(`${RF3}: server CPU and peak RSS are the partition leader's only (the followers' are not counted).`)
  await latency(rec, RF3, client, 'lat', count)

  const resumed = (await failover(c, client, 'failover', kills, line => process.stderr.write(`${line}\n`))).sort((a, b) => a - b)
  const name = `failover: writes resumed after kill -9 of the leader (${resumed.length} kills)`
  for (const [metric, p] of [['min', 0], ['p50', 0.5], ['p90', 0.9], ['max', 1]] as const) {
    rec.add({ name, system: RF3, metric, value: (p === 0 ? resumed[0]! : percentile(resumed, p)) / 1000, unit: 's', better: 'lower', aim: 'cluster-failover' })
  }
  rec.note(`failover, every kill (ms): ${resumed.join(', ')}`)
  await client.close()
  await Promise.all([...c.brokers.values()].map(b => b.stop()))
  rec.finish(args.json)
})
