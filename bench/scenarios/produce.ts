/**
 * Scenario "produce": records/s and MB/s into a durable log, Spool vs NATS JetStream vs
 * Redis Streams, same machine, same run, clients in this process.
 *
 *   node dist/bench/scenarios/produce.js [--quick|--tiny] [--no-peers] [--json out.json]
 *        [--filter '1 KiB, 1 partition']   (only configurations whose name contains it)
 *
 * Matrix: 100 B and 1 KiB values × 1 and 8 partitions × 1 and 4 producers. Each producer
 * is its own connection.
 *   Spool          SDK producers, acks=1 (in the log file, page cache), lingerMs 5,
 *                  batchBytes 64 KiB, send() calls of 1,000 messages with up to 8 in flight
 *                  per producer; a topic with 1 or 8 partitions (null keys: sticky partitioner).
 *                  Every record is sent, to the end (no time cap), as a user measuring the
 *                  SDK would: a fixed count, timed until the last acknowledgement.
 *   NATS JetStream one file-storage stream per partition; pipelined async publishes with
 *                  acks (peers/nats.ts), up to 8,192 unacknowledged per connection,
 *                  round robin over the streams
 *   Redis Streams  one stream key per partition; XADD pipelined in batches of 1,000, up to
 *                  8 batches in flight per connection (AOF on, appendfsync everysec)
 * Each row also gives the server's and the client's CPU seconds per million records and
 * the server's peak RSS. A peer's run stops starting new sends after a time cap, so slower
 * systems are measured on fewer records. Topics/streams/keys are deleted between configurations.
 */

import { bySize, parseArgs, type Mode } from '../lib/cli.js'
import { runMain, tempDir } from '../lib/cleanup.js'
import { measure, throughputRows } from '../lib/measure.js'
import { Recorder, SPOOL, forAim } from '../lib/result.js'
import { closeClients, createTopic, openProducers, produceWith, spoolClient, type SpoolBroker } from '../lib/spool.js'
import { NATS, NatsPublisher, createStreams, natsConnect, type NatsServer } from '../peers/nats.js'
import { REDIS, redisClient, xaddPipelined, type RedisServer } from '../peers/redis.js'
import { startLogSystems } from '../lib/log-systems.js'

interface Config { valueBytes: number, partitions: number, producers: number, aim?: string }

export const CONFIGS: Config[] = []
for (const valueBytes of [100, 1024]) {
  for (const partitions of [1, 8]) {
    for (const producers of [1, 4]) {
      const aim = partitions === 1 && producers === 1 ? (valueBytes === 100 ? 'sdk-produce-100b' : 'sdk-produce-1kib') : undefined
      CONFIGS.push({ valueBytes, partitions, producers, ...(aim !== undefined ? { aim } : {}) })
    }
  }
}

export function configName (c: Config): string {
  return `produce ${c.valueBytes === 1024 ? '1 KiB' : `${c.valueBytes} B`}, ${c.partitions} partition${c.partitions > 1 ? 's' : ''}, ${c.producers} producer${c.producers > 1 ? 's' : ''}`
}

function sizes (mode: Mode, valueBytes: number): { records: number, maxSeconds: number } {
  const big = valueBytes >= 1024
  return bySize(mode, {
    full: { records: big ? 600_000 : 3_000_000, maxSeconds: 6 },
    quick: { records: big ? 50_000 : 250_000, maxSeconds: 0.8 },
    tiny: { records: big ? 2_000 : 5_000, maxSeconds: 1 },
  })
}

const SPOOL_PRODUCER = { acks: 1 as const, lingerMs: 5, batchBytes: 64 * 1024 }
const SPOOL_PER_SEND = 1000
const SPOOL_OUTSTANDING = 8
/** Spool sends all its records: the cap only bounds a run that hangs. */
const SPOOL_MAX_SECONDS = 300
const NATS_WINDOW = 8192
const REDIS_BATCH = 1000
const REDIS_WINDOW = 8

async function runSpool (rec: Recorder, broker: SpoolBroker, c: Config, n: number, records: number, timed: boolean): Promise<void> {
  const topic = `produce-${n}`
  await createTopic(broker, topic, c.partitions)
  const load = { topic, producers: c.producers, records, valueBytes: c.valueBytes, maxSeconds: SPOOL_MAX_SECONDS, producer: SPOOL_PRODUCER, perSend: SPOOL_PER_SEND, outstanding: SPOOL_OUTSTANDING }
  const producers = await openProducers(broker, load)
  const m = await measure(broker.pid, () => produceWith(producers, load))
  await closeClients(producers)
  if (timed) for (const row of forAim(c.aim, throughputRows(configName(c), SPOOL, m.value, c.valueBytes, m))) rec.add(row)
  const admin = spoolClient(broker, 'bench-admin')
  await admin.admin().deleteTopics([topic])
  await admin.close()
}

async function runNats (rec: Recorder, server: NatsServer, c: Config, n: number, records: number, maxSeconds: number, timed: boolean): Promise<void> {
  const admin = await natsConnect(server, 'bench-admin')
  const prefix = `P${n}x`
  const subjects = await createStreams(admin, prefix, c.partitions)
  const connections = await Promise.all(Array.from({ length: c.producers }, (_, i) => natsConnect(server, `bench-producer-${i}`)))
  const publishers = connections.map(nc => new NatsPublisher(nc))
  await Promise.all(connections.map(nc => nc.flush()))
  const payload = new Uint8Array(c.valueBytes).fill(97)
  const share = Math.ceil(records / c.producers)
  const m = await measure(server.pid, async () => {
    const sent = await Promise.all(publishers.map(p => p.pipeline(subjects, payload, share, maxSeconds, NATS_WINDOW)))
    return sent.reduce((a, b) => a + b, 0) - publishers.reduce((a, p) => a + p.errors, 0)
  })
  for (const p of publishers) p.close()
  await Promise.all(connections.map(nc => nc.close()))
  if (timed) for (const row of forAim(c.aim, throughputRows(configName(c), NATS, m.value, c.valueBytes, m))) rec.add(row)
  const jsm = await admin.jetstreamManager()
  for (let i = 0; i < c.partitions; i++) await jsm.streams.delete(`${prefix}${i}`)
  await admin.close()
}

async function runRedis (rec: Recorder, server: RedisServer, c: Config, n: number, records: number, maxSeconds: number, timed: boolean): Promise<void> {
  const keys = Array.from({ length: c.partitions }, (_, i) => `produce-${n}-${i}`)
  const clients = Array.from({ length: c.producers }, () => redisClient(server))
  await Promise.all(clients.map(r => r.ping()))
  const payload = Buffer.alloc(c.valueBytes, 97)
  const share = Math.ceil(records / c.producers)
  const m = await measure(server.pid, async () => {
    const acked = await Promise.all(clients.map(r => xaddPipelined(r, keys, payload, share, maxSeconds, REDIS_BATCH, REDIS_WINDOW)))
    return acked.reduce((a, b) => a + b, 0)
  })
  if (timed) for (const row of forAim(c.aim, throughputRows(configName(c), REDIS, m.value, c.valueBytes, m))) rec.add(row)
  await clients[0]!.del(...keys)
  for (const r of clients) r.disconnect()
}

await runMain(async () => {
  const args = parseArgs()
  const rec = new Recorder('produce', 'Produce throughput (acks=1 / PubAck / XADD reply)',
    'Records/s and MB/s of values into each system\'s durable log; 100 B and 1 KiB values, 1 and 8 partitions (streams, keys), 1 and 4 producer connections; clients in one Node process, servers in their own.')
  rec.config({ spool: { ...SPOOL_PRODUCER, perSend: SPOOL_PER_SEND, outstandingSends: SPOOL_OUTSTANDING }, nats: { window: NATS_WINDOW }, redis: { batch: REDIS_BATCH, window: REDIS_WINDOW } })
  const dir = tempDir('produce', args.tmp)
  const systems = await startLogSystems<(c: Config, n: number, records: number, maxSeconds: number, timed: boolean) => Promise<void>>(rec, dir, args.noPeers, {
    spool: broker => (c, n, r, _s, t) => runSpool(rec, broker, c, n, r, t),
    nats: server => (c, n, r, s, t) => runNats(rec, server, c, n, r, s, t),
    redis: server => (c, n, r, s, t) => runRedis(rec, server, c, n, r, s, t),
  })
  rec.note('NATS JetStream 2.9 and Redis (appendfsync everysec) acknowledge before an fsync, like Spool with acks=1.')

  let n = 0
  // Warm-up (untimed): JIT and connection set-up of every system on a small run.
  for (const s of systems) await s.run(CONFIGS[0]!, n++, Math.ceil(sizes(args.mode, 100).records / 10), 1, false)
  const filter = args.values.get('filter')
  for (const c of CONFIGS) {
    if (filter !== undefined && !configName(c).includes(filter)) continue
    const { records, maxSeconds } = sizes(args.mode, c.valueBytes)
    process.stderr.write(`${configName(c)}\n`)
    for (const s of systems) await s.run(c, n++, records, maxSeconds, true)
  }
  for (const s of systems) await s.stop()
  rec.finish(args.json)
})
