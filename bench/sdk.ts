/**
 * SDK benchmark over TCP: a broker child process (`spool broker start` in a temp data dir)
 * and the client in this process, on one machine.
 *
 *   node dist/bench/sdk.js                 (SPOOL_BENCH_RECORDS=2000000 to change the count)
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof dist/bench/sdk.js   (profile the client side)
 *
 * Scenarios:
 *   produce   100 B and 1 KiB records, acks=1, lingerMs 5, batchBytes 64 KiB: records/s and MB/s
 *             (send() calls of 1,000 messages, up to 64 calls outstanding)
 *   consume   the 100 B records back from the beginning with run({ eachBatch }): records/s
 *   latency   produce -> consume at a fixed 5,000 msg/s for 5 s, one message per send(),
 *             lingerMs 0 (a 5 ms linger would add 5 ms by design), consumer on its own
 *             connection with a long poll: p50/p99/max in ms
 * Prints a markdown table. A benchmark, not a test: it never fails on a number.
 */

import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client, type RecordMetadata } from '../client/index.js'

const here = dirname(fileURLToPath(import.meta.url))
const cli = resolve(here, '../cli/spool.js')
const RECORDS_100 = Number(process.env.SPOOL_BENCH_RECORDS ?? 2_000_000)
const RECORDS_1K = Math.max(1000, Math.round(RECORDS_100 / 4))

async function freePort (): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolvePort(port))
    })
  })
}

async function startBroker (dataDir: string): Promise<{ child: ChildProcess, address: string }> {
  const port = await freePort()
  const child = spawn(process.execPath, [cli, 'broker', 'start', '--data-dir', dataDir, '--port', String(port), '--http-port', '0', '--mqtt-port', 'off'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const address = `127.0.0.1:${port}`
  const deadline = Date.now() + 15_000
  for (;;) {
    const probe = new Client({ brokers: [address], retry: { retries: 0 } })
    try {
      await probe.connect()
      return { child, address }
    } catch (err) {
      if (Date.now() > deadline || child.exitCode !== null) throw err
      await new Promise(r => setTimeout(r, 100))
    } finally {
      await probe.close()
    }
  }
}

interface Phase { seconds: number, cpuSeconds: number }

/** Wall time and this process's CPU time (user + system) of `fn`. */
async function measure<T> (fn: () => Promise<T>): Promise<Phase & { value: T }> {
  const cpu = process.cpuUsage()
  const started = performance.now()
  const value = await fn()
  const used = process.cpuUsage(cpu)
  return { seconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6, value }
}

async function produce (client: Client, topic: string, recordBytes: number, records: number): Promise<Phase> {
  const producer = client.producer({ acks: 1, lingerMs: 5 })
  const value = new Uint8Array(recordBytes)
  for (let i = 0; i < value.length; i++) value[i] = 97 + (i % 26)
  const perSend = 1000
  const messages = Array.from({ length: perSend }, () => ({ value }))
  await producer.send({ topic, messages: messages.slice(0, 1) }) // metadata and connection warm-up
  const phase = await measure(async () => {
    const outstanding = new Set<Promise<RecordMetadata[]>>()
    for (let sent = 0; sent < records; sent += perSend) {
      const send = producer.send({ topic, messages })
      outstanding.add(send)
      void send.finally(() => outstanding.delete(send))
      if (outstanding.size >= 64) await Promise.race(outstanding)
    }
    await Promise.all(outstanding)
    await producer.close()
  })
  return phase
}

async function consume (client: Client, topic: string, expected: number): Promise<Phase & { count: number }> {
  const consumer = client.consumer({ fromBeginning: true })
  await consumer.assign({ topic })
  let count = 0
  const timeout = setTimeout(() => { void consumer.close() }, 120_000)
  const phase = await measure(() => consumer.run({
    eachBatch: ({ batch }) => {
      count += batch.messages.length
      if (count >= expected) void consumer.close()
    },
  }))
  clearTimeout(timeout)
  return { ...phase, count }
}

async function latency (address: string, topic: string, ratePerSecond: number, seconds: number): Promise<{ endToEnd: number[], acks: number[] }> {
  const producerClient = new Client({ brokers: [address], clientId: 'bench-latency-producer' })
  const consumerClient = new Client({ brokers: [address], clientId: 'bench-latency-consumer' })
  const producer = producerClient.producer({ acks: 1, lingerMs: 0 })
  await producer.send({ topic, messages: [{ value: new Uint8Array(8) }] })
  const consumer = consumerClient.consumer({ maxWaitMs: 500 })
  await consumer.assign({ topic })
  await consumer.seekToEnd()
  const samples: number[] = []
  const acks: number[] = []
  const total = ratePerSecond * seconds
  const done = consumer.run({
    eachBatch: ({ batch }) => {
      const now = performance.now()
      for (const m of batch.messages) {
        const v = m.value!
        samples.push(now - new DataView(v.buffer, v.byteOffset, 8).getFloat64(0))
      }
      if (samples.length >= total) void consumer.close()
    },
  })
  await new Promise(r => setTimeout(r, 200))
  const started = performance.now()
  let sent = 0
  await new Promise<void>(resolveSent => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor((performance.now() - started) * ratePerSecond / 1000))
      for (; sent < due; sent++) {
        const value = new Uint8Array(100)
        const sentAt = performance.now()
        new DataView(value.buffer).setFloat64(0, sentAt)
        void producer.send({ topic, messages: [{ value }] }).then(() => { acks.push(performance.now() - sentAt) })
      }
      if (sent >= total) {
        clearInterval(timer)
        resolveSent()
      }
    }, 1)
  })
  const timeout = setTimeout(() => { void consumer.close() }, 10_000)
  await done
  clearTimeout(timeout)
  await producerClient.close()
  await consumerClient.close()
  return { endToEnd: samples, acks }
}

function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
}

const dataDir = mkdtempSync(join(tmpdir(), 'spool-bench-sdk-'))
const { child, address } = await startBroker(dataDir)
try {
  const client = new Client({ brokers: [address], clientId: 'bench-sdk' })
  const admin = client.admin()
  await admin.createTopics([{ topic: 'bench-100', partitions: 1 }, { topic: 'bench-1k', partitions: 1 }, { topic: 'bench-latency', partitions: 1 }])
  const rows: string[] = []
  const row = (name: string, records: number, bytes: number, phase: Phase): void => {
    rows.push(`| ${name} | ${records.toLocaleString('en')} | ${fmt(records / phase.seconds)} | ${(records * bytes / phase.seconds / 1e6).toFixed(1)} | ` +
      `${(phase.cpuSeconds / phase.seconds * 100).toFixed(0)}% | ${(phase.cpuSeconds / records * 1e9).toFixed(0)} |`)
  }
  row('produce 100 B, acks=1', RECORDS_100, 100, await produce(client, 'bench-100', 100, RECORDS_100))
  row('produce 1 KiB, acks=1', RECORDS_1K, 1024, await produce(client, 'bench-1k', 1024, RECORDS_1K))
  const c100 = await consume(client, 'bench-100', RECORDS_100 + 1)
  row('consume 100 B', c100.count, 100, c100)
  const c1k = await consume(client, 'bench-1k', RECORDS_1K + 1)
  row('consume 1 KiB', c1k.count, 1024, c1k)
  await client.close()
  const measured = await latency(address, 'bench-latency', 5000, 5)
  const samples = measured.endToEnd.sort((a, b) => a - b)
  const acks = measured.acks.sort((a, b) => a - b)

  console.log(`\nSDK over TCP, broker in a child process (${new Date().toISOString()}, Node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'})\n`)
  console.log('| scenario | records | records/s | MB/s | client CPU | client CPU ns/record |')
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
  for (const row of rows) console.log(row)
  console.log(`\nLoad average while measuring: ${loadavg().map(l => l.toFixed(2)).join(' ')} (other processes on these ${cpus().length} cores add to the tail)`)
  console.log('\n| latency at 5,000 msg/s for 5 s (lingerMs 0) | samples | p50 ms | p99 ms | max ms |')
  console.log('| --- | ---: | ---: | ---: | ---: |')
  console.log(`| send -> consumer receives (100 B) | ${samples.length} | ${percentile(samples, 0.5).toFixed(2)} | ${percentile(samples, 0.99).toFixed(2)} | ${(samples.at(-1) ?? NaN).toFixed(2)} |`)
  console.log(`| send -> acknowledged (acks=1) | ${acks.length} | ${percentile(acks, 0.5).toFixed(2)} | ${percentile(acks, 0.99).toFixed(2)} | ${(acks.at(-1) ?? NaN).toFixed(2)} |`)
} finally {
  child.kill('SIGTERM')
  await new Promise(r => child.once('exit', r))
  rmSync(dataDir, { recursive: true, force: true })
}

function fmt (n: number): string {
  return Math.round(n).toLocaleString('en')
}
