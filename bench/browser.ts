/**
 * Browser benchmark: a headless Chromium page using the browser SDK (`/sdk/spool.js`) over
 * WebSocket against a broker child process (`spool broker start`, temp data dir), on one
 * machine.
 *
 *   node dist/bench/browser.js [--quick] [--json <file>]
 *
 * Scenarios (100-byte records):
 *   consume     N records produced beforehand by the Node SDK into 1 partition and into 4,
 *               read by the page from the beginning with run({ eachBatch }): records/s and
 *               MB/s measured in the page from assign() to the last record; once with the
 *               messages only (the SDK decodes every record into key/value/headers views),
 *               once also decoding every value to a string (TextDecoder), as a page that
 *               shows records would. A first pass over 100,000 records warms up the page.
 *   latency     records sent at a fixed rate, each carrying its send time, received by a
 *               page consumer long-polling from the end: p50/p99/max ms, from a Node SDK
 *               producer (lingerMs 0, one record per send) and from `spool produce` reading
 *               stdin lines (its default lingerMs 5). Both clocks are this machine's.
 *
 * Prints a markdown table; --json writes { scenario: "browser", title, rows: [{ name,
 * system, metric, value, unit }] } for bench/run. A benchmark, not a test: it never fails
 * on a number. Everything it starts (broker, Chromium, `spool produce`, temp dirs) is
 * stopped on exit, on error and on SIGINT/SIGTERM.
 */

import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { Client } from '../client/index.js'

type Sdk = typeof import('../client/browser.js')

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const CLI = join(REPO, 'dist', 'cli', 'spool.js')
const SDK_BUNDLE = join(REPO, 'dist', 'browser', 'spool.js')
const CHROMIUM = '/usr/bin/chromium'
const RECORD_BYTES = 100

interface Row { name: string, system: string, metric: string, value: number, unit: string, better?: 'higher' | 'lower' }

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const jsonAt = args.indexOf('--json')
const jsonPath = jsonAt >= 0 ? args[jsonAt + 1] ?? null : null
const RECORDS = quick ? 200_000 : 1_000_000
const LATENCY_SECONDS = quick ? 3 : 10
const LATENCY_RATE = 1000
const CLI_RATE = 200

const cleanups: Array<() => unknown> = []
async function cleanup (): Promise<void> {
  while (cleanups.length > 0) {
    try {
      await cleanups.pop()!()
    } catch (err) {
      process.stderr.write(`cleanup failed: ${(err as Error).message}\n`)
    }
  }
}
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.once(signal, () => { void cleanup().finally(() => process.exit(code)) })
}

function tempDir (prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** `spool broker start` on free ports; resolves with its ports once it logs 'broker started'. */
async function startBroker (): Promise<{ native: number, http: number }> {
  const child = spawn(process.execPath, [CLI, 'broker', 'start', '--data-dir', tempDir('spool-bench-browser-'), '--port', '0', '--http-port', '0', '--mqtt-port', 'off', '--kafka-port', 'off'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  cleanups.push(() => stopChild(child))
  let out = ''
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the broker did not start in 15 s')), 15_000)
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      for (const line of out.split('\n')) {
        if (!line.includes('"broker started"')) continue
        clearTimeout(timer)
        resolve((JSON.parse(line) as { ports: { native: number, http: number } }).ports)
      }
      out = out.slice(out.lastIndexOf('\n') + 1)
    })
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`the broker exited with ${code}`)) })
  })
}

function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise(resolve => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    child.once('exit', () => { clearTimeout(timer); resolve() })
    child.kill('SIGTERM')
  })
}

async function launch (): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install -y chromium)`)
  const context = await chromium.launchPersistentContext(tempDir('spool-bench-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  cleanups.push(() => context.close())
  return context
}

async function produce (client: Client, topic: string, partitions: number, records: number): Promise<void> {
  await client.admin().createTopics([{ topic, partitions }])
  const producer = client.producer({ acks: 1, lingerMs: 5 })
  const value = new Uint8Array(RECORD_BYTES).fill(97)
  const perSend = 1000
  const messages = Array.from({ length: perSend }, (_, i) => ({ value, partition: i % partitions }))
  const pending: Array<Promise<unknown>> = []
  for (let sent = 0; sent < records; sent += perSend) {
    pending.push(producer.send({ topic, messages: messages.slice(0, Math.min(perSend, records - sent)) }))
    if (pending.length >= 32) await pending.shift()
  }
  await Promise.all(pending)
  await producer.close()
}

/** The page reads `records` from the beginning; returns the seconds it took, in the page. */
function consumeInPage (page: Page, wsUrl: string, topic: string, records: number, decode: boolean): Promise<number> {
  return page.evaluate(async ({ wsUrl, topic, records, decode }) => {
    const sdk = await import('/sdk/spool.js' as string) as Sdk
    const client = new sdk.Client({ url: wsUrl, clientId: 'bench-browser' })
    const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 100 })
    const decoder = new TextDecoder()
    const started = performance.now()
    await consumer.assign({ topic })
    let seen = 0
    let chars = 0
    await new Promise<void>((resolve, reject) => {
      consumer.run({
        eachBatch: ({ batch }) => {
          if (decode) for (const m of batch.messages) chars += decoder.decode(m.value ?? undefined).length
          seen += batch.messages.length
          if (seen >= records) resolve()
        },
      }).catch(reject)
    })
    const seconds = (performance.now() - started) / 1000
    await client.close()
    if (decode && chars < records) throw new Error('values were not decoded')
    return seconds
  }, { wsUrl, topic, records, decode })
}

/** Starts a page consumer from the end that records (receive time - send time) per record. */
async function startLatencyConsumer (page: Page, wsUrl: string, topic: string): Promise<void> {
  await page.evaluate(async ({ wsUrl, topic }) => {
    const sdk = await import('/sdk/spool.js' as string) as Sdk
    const client = new sdk.Client({ url: wsUrl, clientId: 'bench-browser-latency' })
    const consumer = client.consumer({ maxWaitMs: 500 })
    await consumer.assign({ topic })
    await consumer.seekToEnd()
    const state = globalThis as unknown as { latencies: number[], stop: () => Promise<void> }
    state.latencies = []
    state.stop = () => client.close()
    const decoder = new TextDecoder()
    void consumer.run({
      eachMessage: ({ message }) => {
        const now = performance.timeOrigin + performance.now()
        const sentAt = Number(decoder.decode(message.value ?? undefined).split(' ')[0])
        if (Number.isFinite(sentAt)) state.latencies.push(now - sentAt)
      },
    })
  }, { wsUrl, topic })
}

async function collectLatencies (page: Page, expected: number): Promise<number[]> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const got = await page.evaluate(() => (globalThis as unknown as { latencies: number[] }).latencies.length)
    if (got >= expected || Date.now() > deadline) break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return page.evaluate(async () => {
    const state = globalThis as unknown as { latencies: number[], stop: () => Promise<void> }
    await state.stop()
    return state.latencies
  })
}

const wallNow = (): number => performance.timeOrigin + performance.now()
const pad = (sentAt: number): string => `${sentAt.toFixed(3)} `.padEnd(RECORD_BYTES, 'x')

function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

function latencyRows (rows: Row[], name: string, latencies: number[]): void {
  const sorted = [...latencies].sort((a, b) => a - b)
  for (const [metric, value] of [['p50', percentile(sorted, 50)], ['p99', percentile(sorted, 99)], ['max', sorted.at(-1) ?? NaN]] as const) {
    rows.push({ name, system: 'Spool', metric: `latency ${metric}`, value, unit: 'ms', better: 'lower' })
  }
  rows.push({ name, system: 'Spool', metric: 'records received', value: latencies.length, unit: 'records' })
}

async function main (): Promise<void> {
  if (!existsSync(SDK_BUNDLE)) throw new Error(`${SDK_BUNDLE} is missing: run npm run build`)
  const loadBefore = loadavg()
  const startedAt = new Date().toISOString()
  const ports = await startBroker()
  const wsUrl = `ws://127.0.0.1:${ports.http}/ws`
  const node = new Client({ brokers: [`127.0.0.1:${ports.native}`], clientId: 'bench-node' })
  cleanups.push(() => node.close())
  const context = await launch()
  const page = await context.newPage()
  await page.goto(`http://127.0.0.1:${ports.http}/healthz`)
  const rows: Row[] = []

  for (const partitions of [1, 4]) {
    const topic = `bench-browser-${partitions}p`
    process.stderr.write(`producing ${RECORDS} records of ${RECORD_BYTES} B into ${topic}\n`)
    await produce(node, topic, partitions, RECORDS)
    // Warm-up (not reported): the page's JIT and the broker's page cache.
    if (partitions === 1) await consumeInPage(page, wsUrl, topic, Math.min(RECORDS, 100_000), true)
    for (const decode of [false, true]) {
      const seconds = await consumeInPage(page, wsUrl, topic, RECORDS, decode)
      const name = `page consumes ${RECORD_BYTES} B records, ${partitions} partition${partitions > 1 ? 's' : ''}${decode ? ', values decoded to strings' : ''}`
      rows.push({ name, system: 'Spool', metric: 'records/s', value: RECORDS / seconds, unit: 'records/s' })
      rows.push({ name, system: 'Spool', metric: 'MB/s (values)', value: (RECORDS * RECORD_BYTES) / seconds / 1e6, unit: 'MB/s' })
      process.stderr.write(`  ${name}: ${Math.round(RECORDS / seconds).toLocaleString('en-US')} records/s\n`)
    }
  }

  const sdkTopic = 'bench-browser-latency-sdk'
  await node.admin().createTopics([{ topic: sdkTopic, partitions: 1 }])
  await startLatencyConsumer(page, wsUrl, sdkTopic)
  const producer = node.producer({ acks: 1, lingerMs: 0 })
  await producer.send({ topic: sdkTopic, messages: [{ value: 'warm-up' }] })
  const total = LATENCY_RATE * LATENCY_SECONDS
  await paced(LATENCY_RATE, total, () => { void producer.send({ topic: sdkTopic, messages: [{ value: pad(wallNow()) }] }) })
  await producer.close()
  latencyRows(rows, `Node SDK producer → page, ${LATENCY_RATE} records/s`, await collectLatencies(page, total))

  const cliTopic = 'bench-browser-latency-cli'
  await node.admin().createTopics([{ topic: cliTopic, partitions: 1 }])
  await startLatencyConsumer(page, wsUrl, cliTopic)
  const cli = spawn(process.execPath, [CLI, 'produce', cliTopic, '--broker', `127.0.0.1:${ports.native}`], { stdio: ['pipe', 'ignore', 'inherit'] })
  cleanups.push(() => stopChild(cli))
  cli.stdin!.write('warm-up\n')
  await new Promise(resolve => setTimeout(resolve, 1000))
  const cliTotal = CLI_RATE * LATENCY_SECONDS
  await paced(CLI_RATE, cliTotal, () => { cli.stdin!.write(`${pad(wallNow())}\n`) })
  cli.stdin!.end()
  await new Promise<void>(resolve => { if (cli.exitCode !== null) resolve(); else cli.once('exit', () => resolve()) })
  latencyRows(rows, `spool produce (stdin lines) → page, ${CLI_RATE} lines/s`, await collectLatencies(page, cliTotal))

  const output = {
    scenario: 'browser',
    title: 'Browser consumer over WebSocket (headless Chromium, /sdk/spool.js)',
    description: `A Chromium page (playwright-core, ${CHROMIUM}) imports the browser SDK from the broker and reads over ws://127.0.0.1/ws from a broker child process on the same machine. Throughput: ${RECORDS.toLocaleString('en-US')} records of ${RECORD_BYTES} B produced beforehand, read from the beginning with run({ eachBatch }), timed in the page. Latency: send time carried in each record, compared with the page's clock on receipt.`,
    rows,
    notes: [`${quick ? 'quick run' : 'full run'}; ${cpus().length} CPUs; Chromium, the broker and the producer share the machine`],
    config: { records: RECORDS, recordBytes: RECORD_BYTES, latencySeconds: LATENCY_SECONDS, sdkRate: LATENCY_RATE, cliRate: CLI_RATE },
    loadBefore,
    loadAfter: loadavg(),
    startedAt,
  }
  if (jsonPath !== null) writeFileSync(jsonPath, JSON.stringify(output, null, 2) + '\n')
  const fmt = (r: Row): string => `${r.value.toLocaleString('en-US', { maximumFractionDigits: r.value >= 100 ? 0 : 2 })} ${r.unit}`
  process.stdout.write(`\n${output.title} (${cpus().length} CPUs, load ${loadBefore.map(l => l.toFixed(2)).join(' ')})\n\n`)
  process.stdout.write(['| configuration | system | metric | value |', '| --- | --- | --- | ---: |', ...rows.map(r => `| ${r.name} | ${r.system} | ${r.metric} | ${fmt(r)} |`)].join('\n') + '\n')
}

main().then(cleanup, async (err: unknown) => {
  process.stderr.write(`bench/browser failed: ${(err as Error).stack ?? String(err)}\n`)
  await cleanup()
  process.exitCode = 1
})

/** Calls `send` `total` times at `rate` per second, on a schedule (late calls are not made up by bursts beyond the schedule). */
async function paced (rate: number, total: number, send: () => void): Promise<void> {
  const begin = performance.now()
  for (let i = 0; i < total; i++) {
    const wait = begin + (i * 1000) / rate - performance.now()
    if (wait > 1) await new Promise(resolve => setTimeout(resolve, wait))
    send()
  }
}
