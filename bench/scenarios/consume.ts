/**
 * Scenario "consume": reading back what was written, from the start of the log, Spool vs
 * NATS JetStream vs Redis Streams.
 *
 *   node dist/bench/scenarios/consume.js [--quick|--tiny] [--no-peers] [--json out.json]
 *
 * Each system is first filled (untimed) with the same records, then one consumer reads
 * them all from the beginning:
 *   Spool          SDK consumer, consumer.run({ eachBatch }) (records decoded into
 *                  messages with key/value views; CRC checked), maxBytes 16 MiB; and,
 *                  Spool only, the same read as `for await (const message of consumer)`
 *                  (the SDK's async iterator, one message per step), 100 B on 1 partition
 *   NATS JetStream ordered pull consumer per stream, consume() with a callback,
 *                  max_messages 10,000
 *   Redis Streams  XREAD COUNT 10000 over the keys, Buffer replies (ioredis)
 * Configurations: 100 B and 1 KiB values on 1 partition, 100 B on 8 partitions. The data
 * was just written, so reads come from the page cache (or, for Redis, memory).
 */

import { bySize, parseArgs, type Mode } from '../lib/cli.js'
import { runMain, tempDir } from '../lib/cleanup.js'
import { measure, throughputRows } from '../lib/measure.js'
import { Recorder, SPOOL, forAim } from '../lib/result.js'
import { closeClients, consumeAll, consumeAllForAwait, createTopic, openProducers, produceWith, spoolClient, type SpoolBroker } from '../lib/spool.js'
import { NATS, NatsPublisher, createStreams, natsConnect, natsConsumeAll, type NatsServer } from '../peers/nats.js'
import { REDIS, redisClient, xaddPipelined, xreadAll, type RedisServer } from '../peers/redis.js'
import { startLogSystems } from '../lib/log-systems.js'

interface Config {
  valueBytes: number
  partitions: number
  aim?: string
  /** Read with `for await (const message of consumer)` instead of run({ eachBatch }): Spool only (the peers have no such reader). */
  forAwait?: boolean
}
const CONFIGS: Config[] = [
  { valueBytes: 100, partitions: 1, aim: 'sdk-consume-100b' },
  { valueBytes: 100, partitions: 1, forAwait: true, aim: 'sdk-consume-for-await-100b' },
  { valueBytes: 1024, partitions: 1 },
  { valueBytes: 100, partitions: 8 },
]

function configName (c: Config): string {
  return `consume ${c.valueBytes === 1024 ? '1 KiB' : `${c.valueBytes} B`}, ${c.partitions} partition${c.partitions > 1 ? 's' : ''}${c.forAwait === true ? ', for await' : ''}`
}

function records (mode: Mode, c: Config): number {
  const big = c.valueBytes >= 1024
  return bySize(mode, {
    full: big ? 500_000 : 2_000_000,
    quick: big ? 40_000 : 150_000,
    tiny: big ? 2_000 : 5_000,
  })
}
const MAX_SECONDS = 60

async function spool (rec: Recorder, broker: SpoolBroker, c: Config, n: number, count: number, timed: boolean): Promise<void> {
  const topic = `consume-${n}`
  await createTopic(broker, topic, c.partitions)
  const load = { topic, producers: 1, records: count, valueBytes: c.valueBytes, maxSeconds: MAX_SECONDS, producer: { acks: 1 as const, lingerMs: 5 }, perSend: 1000, outstanding: 16 }
  const producers = await openProducers(broker, load)
  const written = await produceWith(producers, load) + 1 // + the warm-up record
  await closeClients(producers)
  const client = spoolClient(broker, 'bench-consumer')
  await client.connect()
  const read = c.forAwait === true ? consumeAllForAwait : consumeAll
  const m = await measure(broker.pid, () => read(client, topic, written, MAX_SECONDS))
  await client.close()
  if (m.value < written) rec.note(`${SPOOL}: ${configName(c)}: read ${m.value} of ${written} records within ${MAX_SECONDS} s`)
  if (timed) for (const row of forAim(c.aim, throughputRows(configName(c), SPOOL, m.value, c.valueBytes, m))) rec.add(row)
  const admin = spoolClient(broker, 'bench-admin')
  await admin.admin().deleteTopics([topic])
  await admin.close()
}

async function nats (rec: Recorder, server: NatsServer, c: Config, n: number, count: number, timed: boolean): Promise<void> {
  const nc = await natsConnect(server, 'bench-consume')
  const prefix = `C${n}x`
  const subjects = await createStreams(nc, prefix, c.partitions)
  const publisher = new NatsPublisher(nc)
  const written = await publisher.pipeline(subjects, new Uint8Array(c.valueBytes).fill(97), count, MAX_SECONDS * 4, 8192)
  publisher.close()
  const streams = subjects.map((_, i) => `${prefix}${i}`)
  const m = await measure(server.pid, () => natsConsumeAll(nc, streams, written, MAX_SECONDS))
  if (m.value < written) rec.note(`${NATS}: ${configName(c)}: read ${m.value} of ${written} messages within ${MAX_SECONDS} s`)
  if (timed) for (const row of forAim(c.aim, throughputRows(configName(c), NATS, m.value, c.valueBytes, m))) rec.add(row)
  const jsm = await nc.jetstreamManager()
  for (const s of streams) await jsm.streams.delete(s)
  await nc.close()
}

async function redis (rec: Recorder, server: RedisServer, c: Config, n: number, count: number, timed: boolean): Promise<void> {
  const client = redisClient(server)
  const keys = Array.from({ length: c.partitions }, (_, i) => `consume-${n}-${i}`)
  const written = await xaddPipelined(client, keys, Buffer.alloc(c.valueBytes, 97), count, MAX_SECONDS * 4, 1000, 8)
  const m = await measure(server.pid, () => xreadAll(client, keys, written, MAX_SECONDS))
  if (m.value < written) rec.note(`${REDIS}: ${configName(c)}: read ${m.value} of ${written} entries within ${MAX_SECONDS} s`)
  if (timed) for (const row of forAim(c.aim, throughputRows(configName(c), REDIS, m.value, c.valueBytes, m))) rec.add(row)
  await client.del(...keys)
  client.disconnect()
}

await runMain(async () => {
  const args = parseArgs()
  const rec = new Recorder('consume', 'Consume read-back throughput (from the start of the log)',
    'One consumer reads everything just written from the beginning; the fill is not timed.')
  const dir = tempDir('consume', args.tmp)
  const systems = await startLogSystems<(c: Config, n: number, count: number, timed: boolean) => Promise<void>>(rec, dir, args.noPeers, {
    spool: broker => (c, n, count, t) => spool(rec, broker, c, n, count, t),
    nats: server => (c, n, count, t) => nats(rec, server, c, n, count, t),
    redis: server => (c, n, count, t) => redis(rec, server, c, n, count, t),
  })
  let n = 0
  for (const s of systems) await s.run(CONFIGS[0]!, n++, Math.ceil(records(args.mode, CONFIGS[0]!) / 10), false)
  for (const c of CONFIGS) {
    process.stderr.write(`${configName(c)}\n`)
    for (const s of systems) if (c.forAwait !== true || s.name === SPOOL) await s.run(c, n++, records(args.mode, c), true)
  }
  for (const s of systems) await s.stop()
  rec.finish(args.json)
})
