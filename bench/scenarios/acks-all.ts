/**
 * Scenario "acks-all": durable produce, where the acknowledgement waits for an fsync.
 * Spool (acks=all: the partition's group commit, one fdatasync shared by every batch
 * waiting) vs Redis Streams with `appendfsync always` (fsync of the AOF before replying;
 * one fsync per event-loop turn covers every client's writes).
 *
 *   node dist/bench/scenarios/acks-all.js [--quick|--tiny] [--no-peers] [--json out.json]
 *
 * Three loads, 100-byte values, one partition / key:
 *   8 producers, pipelined   each producer keeps 8 send() calls of 100 messages in flight
 *                            (Redis: 8 pipelines of 100 XADDs)
 *   8 producers, 1 at a time each producer sends one message and waits for its ack
 *   1 producer, 1 at a time  one fsync per message: the machine's fdatasync rate caps it
 * NATS JetStream is not measured here: nats-server 2.9 acknowledges without an fsync
 * (sync_always came in 2.10), so it has no comparable mode.
 */

import type { Client, Producer } from '../../client/index.js'
import { bySize, parseArgs } from '../lib/cli.js'
import { runMain, tempDir } from '../lib/cleanup.js'
import { drive, measure, throughputRows } from '../lib/measure.js'
import { Recorder, SPOOL, forAim } from '../lib/result.js'
import { createTopic, makeValue, spoolClient, startSpool, type SpoolBroker } from '../lib/spool.js'
import { REDIS, redisClient, redisServerPath, startRedis, type RedisServer } from '../peers/redis.js'
import type { Redis } from 'ioredis'

const VALUE_BYTES = 100

interface Load { name: string, producers: number, perSend: number, outstanding: number, aim?: string }
const LOADS: Load[] = [
  { name: 'acks=all, 8 producers, pipelined (group commit)', producers: 8, perSend: 100, outstanding: 8, aim: 'acks-all-8-producers' },
  { name: 'acks=all, 8 producers, 1 message at a time', producers: 8, perSend: 1, outstanding: 1 },
  { name: 'acks=all, 1 producer, 1 message at a time (one fsync per message)', producers: 1, perSend: 1, outstanding: 1 },
]

async function spool (rec: Recorder, broker: SpoolBroker, load: Load, n: number, seconds: number): Promise<void> {
  const topic = `acks-all-${n}`
  await createTopic(broker, topic, 1)
  const value = makeValue(VALUE_BYTES)
  const messages = Array.from({ length: load.perSend }, () => ({ value }))
  const clients: Array<{ client: Client, producer: Producer }> = []
  for (let i = 0; i < load.producers; i++) {
    const client = spoolClient(broker, `bench-acks-all-${i}`)
    const producer = client.producer({ acks: 'all', lingerMs: load.perSend > 1 ? 1 : 0 })
    await producer.send({ topic, messages: [{ value }] })
    clients.push({ client, producer })
  }
  const m = await measure(broker.pid, () => drive(load.producers, load.outstanding, load.perSend, seconds, w => clients[w]!.producer.send({ topic, messages })))
  await Promise.all(clients.map(c => c.client.close()))
  for (const row of forAim(load.aim, throughputRows(load.name, SPOOL, m.value, VALUE_BYTES, m, { mbps: false }))) rec.add(row)
}

async function redis (rec: Recorder, server: RedisServer, load: Load, n: number, seconds: number): Promise<void> {
  const key = `acks-all-${n}`
  const clients: Redis[] = Array.from({ length: load.producers }, () => redisClient(server))
  await Promise.all(clients.map(c => c.ping()))
  const value = Buffer.from(makeValue(VALUE_BYTES))
  const m = await measure(server.pid, () => drive(load.producers, load.outstanding, load.perSend, seconds, w => {
    if (load.perSend === 1) return clients[w]!.xadd(key, '*', 'v', value)
    const p = clients[w]!.pipeline()
    for (let i = 0; i < load.perSend; i++) p.xadd(key, '*', 'v', value)
    return p.exec()
  }))
  await clients[0]!.del(key)
  for (const c of clients) c.disconnect()
  for (const row of forAim(load.aim, throughputRows(load.name, `${REDIS}`, m.value, VALUE_BYTES, m, { mbps: false }))) rec.add(row)
}

await runMain(async () => {
  const args = parseArgs()
  const seconds = bySize(args.mode, { full: 5, quick: 1, tiny: 0.4 })
  const rec = new Recorder('acks-all', 'Durable produce: acknowledged after fsync (acks=all vs Redis appendfsync always)',
    `100-byte values, one partition / stream key, ${seconds} s per load.`)
  rec.config({ seconds, loads: LOADS })
  rec.note(`${REDIS} runs with appendfsync always here (fsync before replying).`)
  rec.note('NATS JetStream is not measured here: nats-server 2.9 acknowledges without an fsync (sync_always arrived in 2.10).')
  const dir = tempDir('acks-all', args.tmp)
  const broker = await startSpool({ dataDir: `${dir}/spool` })
  let redisServer: RedisServer | null = null
  if (args.noPeers) rec.skip('peers (--no-peers)')
  else if (redisServerPath() === null) rec.skip(`${REDIS}: redis-server is not installed (bench/setup)`)
  else redisServer = await startRedis(tempDir('redis', dir), 'always')
  let n = 0
  for (const load of LOADS) {
    process.stderr.write(`${load.name}\n`)
    await spool(rec, broker, load, n++, seconds)
    if (redisServer !== null) await redis(rec, redisServer, load, n++, seconds)
  }
  await broker.stop()
  await redisServer?.stop()
  rec.finish(args.json)
})
