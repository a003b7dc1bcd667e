// Regenerates docs/console.png, the README's picture of the web console: an embedded broker
// with a few producers and consumers for two minutes (one consumer starts re-reading a big
// topic from the beginning, over and over, 40 s before the end: the egress spike the Traffic
// screen is for), then a
// screenshot of Traffic in headless Chromium. Needs a build (`npm run build`).
//
//   node scripts/console-screenshot.mjs [--seconds 120] [--out docs/console.png]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const { Broker } = await import(join(ROOT, 'dist/broker/index.js'))
const { Client } = await import(join(ROOT, 'dist/client/index.js'))
const arg = (name, fallback) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : fallback }
const seconds = Number(arg('--seconds', '120'))
const out = resolve(arg('--out', join(ROOT, 'docs/console.png')))

const dataDir = mkdtempSync(join(tmpdir(), 'spool-screenshot-'))
const profile = mkdtempSync(join(tmpdir(), 'spool-screenshot-chromium-'))
const broker = await Broker.start({ dataDir, port: 0, httpPort: 0, mqttPort: null, logLevel: 'warn' })
const native = `127.0.0.1:${broker.ports.native}`
const clients = []
const client = (clientId) => { const c = new Client({ brokers: [native], clientId }); clients.push(c); return c }
const timers = []
let context = null
try {
  await client('setup').admin().createTopics([
    { topic: 'orders', partitions: 3 }, { topic: 'payments', partitions: 1 }, { topic: 'clicks', partitions: 6 }, { topic: 'audit-log', partitions: 1, config: { cleanupPolicy: 'compact' } },
  ])
  const started = Date.now()
  const wave = (base, amp, period) => Math.max(0, Math.round(base + amp * Math.sin((Date.now() - started) / period)))
  const producers = [
    ['checkout-api', 'orders', () => wave(40, 25, 9000), 300],
    ['payments-svc', 'payments', () => wave(12, 8, 13000), 200],
    ['web-edge', 'clicks', () => wave(120, 60, 7000), 120],
    ['audit', 'audit-log', () => 4, 150],
  ]
  for (const [id, topic, perTick, bytes] of producers) {
    const p = client(id).producer({ lingerMs: 5 })
    let n = 0
    timers.push(setInterval(() => {
      const messages = Array.from({ length: perTick() }, () => ({ key: `k${n++ % 50}`, value: JSON.stringify({ n, pad: 'x'.repeat(bytes) }) }))
      if (messages.length > 0) p.send({ topic, messages }).catch(() => {})
    }, 100))
  }
  const tail = async (id, topic, fromBeginning) => {
    const consumer = client(id).consumer({ fromBeginning, maxWaitMs: 250 })
    await consumer.assign({ topic })
    consumer.run({ eachBatch: () => {} }).catch(() => {})
    return consumer
  }
  const member = async (id, groupId, topic) => {
    const consumer = client(id).consumer({ groupId, maxWaitMs: 250 })
    await consumer.subscribe({ topics: [topic] })
    consumer.run({ eachBatch: () => {} }).catch(() => {})
  }
  await member('billing-service', 'billing', 'payments')
  await member('fulfilment-1', 'fulfilment', 'orders')
  await member('fulfilment-2', 'fulfilment', 'orders')
  await member('search-indexer', 'search', 'orders')
  await member('clickstream-etl', 'etl', 'clicks')
  setTimeout(() => {
    // The spike: an export job starts re-reading every click from the beginning, over and over.
    void (async () => {
      const consumer = client('analytics-export').consumer({ fromBeginning: true, maxWaitMs: 250 })
      await consumer.assign({ topic: 'clicks' })
      consumer.run({
        eachBatch: ({ batch }) => {
          const last = batch.messages.at(-1)
          if (last !== undefined && last.offset + 1 >= batch.highWatermark) consumer.seek({ topic: 'clicks', partition: batch.partition, offset: 0 })
        },
      }).catch(() => {})
    })()
  }, Math.max(0, seconds - 40) * 1000)

  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 860 },
    deviceScaleFactor: 1,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  const page = await context.newPage()
  await page.goto(`http://127.0.0.1:${broker.ports.http}/#/traffic`)
  await new Promise(resolve => setTimeout(resolve, seconds * 1000))
  await page.selectOption('select[name=unit]', 'bytes')
  await new Promise(resolve => setTimeout(resolve, 1500))
  await page.screenshot({ path: out })
  process.stdout.write(`wrote ${out}\n`)
} finally {
  for (const t of timers) clearInterval(t)
  await context?.close()
  for (const c of clients) await c.close().catch(() => {})
  await broker.close()
  rmSync(dataDir, { recursive: true, force: true })
  rmSync(profile, { recursive: true, force: true })
}
