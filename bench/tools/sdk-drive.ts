/**
 * The SDK workload of issue 17, through the public SDK only, against a broker child process
 * (`spool broker start` on 127.0.0.1 port 0, temp data dir):
 *
 *   node dist/bench/tools/sdk-drive.js [--records 1000000] [--only for-await|each-batch] [--pause-ms 0]
 *
 *   produce     one producer, acks 1, lingerMs 5, send() of 1,000 × 100-byte values with 8
 *               sends in flight, every record to the end (timed until the last ack)
 *   for await   a group consumer (its own groupId, autoOffsetReset earliest) reading them all
 *               with `for await`, timed from subscribe() resolving to the last record
 *   each-batch  the same with run({ eachBatch })
 *
 * `--pause-ms`: idle time after producing, so the broker has settled (page cache writes,
 * index flushes) before a consumer is timed. Prints one line per phase: records/s, this
 * process's CPU seconds per million records, and the 1-minute load average before it (the
 * machine may be shared). Profile the client side with `node --cpu-prof --cpu-prof-dir=DIR` and
 * bench/tools/cpuprofile.ts; the broker with SPOOL_BENCH_BROKER_NODE_ARGS.
 */

import { loadavg } from 'node:os'
import { Client, type RecordMetadata } from '../../client/index.js'
import { onCleanup, runMain, tempDir } from '../lib/cleanup.js'
import { createTopic, makeValue, startSpool, type SpoolBroker } from '../lib/spool.js'

const PER_SEND = 1000
const IN_FLIGHT = 8
const VALUE_BYTES = 100

function arg (name: string, fallback: string): string {
  const at = process.argv.indexOf(name)
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1]! : fallback
}

function report (phase: string, records: number, ms: number, load: number, cpu: NodeJS.CpuUsage): void {
  const cpuSeconds = (cpu.user + cpu.system) / 1e6
  process.stdout.write(`${phase.padEnd(10)} ${records} records in ${(ms / 1000).toFixed(3)} s = ${Math.round(records / ms * 1000).toLocaleString('en-US')} records/s, client CPU ${(cpuSeconds / records * 1e6).toFixed(3)} s per million (load ${load.toFixed(2)})\n`)
}

async function produce (broker: SpoolBroker, topic: string, records: number): Promise<void> {
  const client = new Client({ brokers: [broker.address], clientId: 'sdk-drive-producer' })
  const producer = client.producer({ acks: 1, lingerMs: 5 })
  await producer.send({ topic, messages: [{ value: new Uint8Array(8) }] }) // metadata, connection
  const value = makeValue(VALUE_BYTES)
  const messages = Array.from({ length: PER_SEND }, () => ({ value }))
  const load = loadavg()[0]!
  const cpu = process.cpuUsage()
  const started = performance.now()
  const outstanding = new Set<Promise<RecordMetadata[]>>()
  for (let sent = 0; sent < records; sent += PER_SEND) {
    const send = producer.send({ topic, messages })
    outstanding.add(send)
    void send.finally(() => outstanding.delete(send)).catch(() => {})
    if (outstanding.size >= IN_FLIGHT) await Promise.race(outstanding)
  }
  await Promise.all(outstanding)
  report('produce', records, performance.now() - started, load, process.cpuUsage(cpu))
  await producer.close()
  await client.close()
}

async function consume (broker: SpoolBroker, topic: string, expected: number, mode: 'for-await' | 'each-batch'): Promise<void> {
  const client = new Client({ brokers: [broker.address], clientId: `sdk-drive-${mode}` })
  const consumer = client.consumer({ groupId: `sdk-drive-${mode}`, autoOffsetReset: 'earliest' })
  await consumer.subscribe({ topics: topic })
  const load = loadavg()[0]!
  const cpu = process.cpuUsage()
  const started = performance.now()
  let count = 0
  const guard = setTimeout(() => { void consumer.close() }, 120_000)
  if (mode === 'for-await') {
    for await (const message of consumer) {
      if (message.value !== null) count++
      if (count >= expected) break
    }
  } else {
    await consumer.run({
      eachBatch: ({ batch }) => {
        count += batch.messages.length
        if (count >= expected) void consumer.close()
      },
    })
  }
  const ms = performance.now() - started
  const used = process.cpuUsage(cpu)
  clearTimeout(guard)
  if (count < expected) throw new Error(`${mode}: read ${count} of ${expected} records`)
  report(mode, count, ms, load, used)
  await consumer.close()
  await client.close()
}

await runMain(async () => {
  const records = Number(arg('--records', '1000000'))
  const only = arg('--only', 'all')
  const dataDir = tempDir('sdk-drive')
  const broker = await startSpool({ dataDir })
  onCleanup(() => broker.stop())
  const topic = 'sdk-drive'
  await createTopic(broker, topic, 1)
  await produce(broker, topic, records)
  const expected = records + 1 // + the warm-up record
  const pauseMs = Number(arg('--pause-ms', '0'))
  if (pauseMs > 0) await new Promise(resolve => setTimeout(resolve, pauseMs))
  if (only === 'all' || only === 'for-await') await consume(broker, topic, expected, 'for-await')
  if (only === 'all' || only === 'each-batch') await consume(broker, topic, expected, 'each-batch')
})
