/**
 * Scenario "partitions-1000" (scale; opt-in with --scale): 1,000 partitions across 10
 * topics on one broker. Broker RSS and open descriptors after creating them and while
 * producing to all of them, and the produce rate, next to one topic with one partition in
 * the same run.
 *
 *   node dist/bench/scenarios/partitions-1000.js [--quick|--tiny] [--json out.json]
 *
 * Load: 4 SDK producers (acks=1, lingerMs 5, batchBytes 16 KiB so batches close on every
 * partition), send() calls of 1,000 100-byte messages with null keys, rotating over the
 * 10 topics; the sticky partitioner spreads each topic's records over its 100 partitions.
 */

import type { Client, Producer, RecordMetadata } from '../../client/index.js'
import { bySize, parseArgs } from '../lib/cli.js'
import { runMain, tempDir } from '../lib/cleanup.js'
import { measure, throughputRows } from '../lib/measure.js'
import { openFds, openFilesUnder, rssBytes, sleep } from '../lib/procs.js'
import { Recorder, SPOOL } from '../lib/result.js'
import { createTopic, makeValue, spoolClient, startSpool } from '../lib/spool.js'

const TOPICS = 10
const PARTITIONS = 100
const PRODUCERS = 4
const PER_SEND = 1000
const OUTSTANDING = 8

async function produceRotating (producers: Array<{ producer: Producer }>, topics: string[], records: number): Promise<number> {
  const value = makeValue(100)
  const messages = Array.from({ length: PER_SEND }, () => ({ value }))
  let acknowledged = 0
  const share = Math.ceil(records / producers.length / PER_SEND)
  await Promise.all(producers.map(async ({ producer }, p) => {
    const outstanding = new Set<Promise<RecordMetadata[]>>()
    for (let i = 0; i < share; i++) {
      const send = producer.send({ topic: topics[(i + p) % topics.length]!, messages })
      outstanding.add(send)
      void send.then(() => { acknowledged += PER_SEND }, () => {}).finally(() => outstanding.delete(send))
      if (outstanding.size >= OUTSTANDING) await Promise.race(outstanding)
    }
    await Promise.all(outstanding)
    await producer.close()
  }))
  return acknowledged
}

await runMain(async () => {
  const args = parseArgs()
  const records = bySize(args.mode, { full: 4_000_000, quick: 1_000_000, tiny: 20_000 })
  const rec = new Recorder('partitions-1000', 'Scale: 1,000 partitions across 10 topics',
    `${records.toLocaleString('en-US')} records of 100 B from ${PRODUCERS} producers over all partitions, vs the same into 1 topic × 1 partition.`)
  rec.config({ topics: TOPICS, partitionsPerTopic: PARTITIONS, producers: PRODUCERS, records })
  const dir = tempDir('partitions', args.tmp)
  const broker = await startSpool({ dataDir: `${dir}/spool` })
  const dataDir = broker.dataDir
  const add = (name: string, metric: string, value: number, unit: string, better: 'higher' | 'lower' = 'lower'): void => rec.add({ name, system: SPOOL, metric, value, unit, better })
  const idleRss = rssBytes(broker.pid)
  const idleFds = openFds(broker.pid)

  const created = performance.now()
  const topics = Array.from({ length: TOPICS }, (_, i) => `scale-${i}`)
  for (const t of topics) await createTopic(broker, t, PARTITIONS)
  const createSeconds = (performance.now() - created) / 1000
  await sleep(500)
  add('broker at rest, no topics', 'RSS', idleRss / 1e6, 'MB')
  add('broker at rest, no topics', 'open descriptors', idleFds, 'fds')
  add('broker at rest, 10 topics × 100 partitions created', 'RSS', rssBytes(broker.pid) / 1e6, 'MB')
  add('broker at rest, 10 topics × 100 partitions created', 'open descriptors', openFds(broker.pid), 'fds')
  add('broker at rest, 10 topics × 100 partitions created', 'seconds to create them', createSeconds, 's')

  await createTopic(broker, 'single', 1)
  await createTopic(broker, 'warm-up', 1)
  const loads = [['warm-up', ['warm-up']], ['produce 100 B, 1 topic × 1 partition', ['single']], ['produce 100 B, 10 topics × 100 partitions', topics]] as const
  for (const [name, targets] of loads) {
    const clients: Array<{ client: Client, producer: Producer }> = []
    for (let i = 0; i < PRODUCERS; i++) {
      const client = spoolClient(broker, `bench-scale-${i}`)
      const producer = client.producer({ acks: 1, lingerMs: 5, batchBytes: 16 * 1024 })
      for (const t of targets) await producer.send({ topic: t, messages: [{ value: new Uint8Array(8) }] })
      clients.push({ client, producer })
    }
    const m = await measure(broker.pid, () => produceRotating(clients, [...targets], name === 'warm-up' ? records / 10 : records))
    await Promise.all(clients.map(c => c.client.close()))
    if (name === 'warm-up') continue
    for (const row of throughputRows(name, SPOOL, m.value, 100, m)) rec.add(row)
    add(name, 'open descriptors after', openFds(broker.pid), 'fds')
    add(name, 'open files in the data dir after', openFilesUnder(broker.pid, dataDir), 'files')
  }
  rec.note('Open descriptors include sockets, pipes and Node\'s own; "files in the data dir" counts segment and other files the broker holds open.')
  await broker.stop()
  rec.finish(args.json)
})
