// Produces N JSON orders to a topic and prints where they landed.
//
//   node examples/node-producer.js orders 1000        (broker: $SPOOL_BROKER or 127.0.0.1:7420)
//
// With --auth: SPOOL_USER=alice SPOOL_PASSWORD=... ; with TLS: SPOOL_CA=ca.crt (and the TLS port).
//
// Keys are customer ids, so one customer's orders stay in order on one partition
// (murmur2(key) % partitions, as Kafka does). The topic is created on first use when the
// broker's autoCreateTopics is on (the default); create it with more partitions first with
// `spool topic create orders --partitions 3`.
import { readFileSync } from 'node:fs'
import { Client, toJson } from 'spool/client'

const usage = 'usage: node examples/node-producer.js [topic] [count]   (default: orders 1000)'
const args = process.argv.slice(2)
if (args.includes('--help') || args.includes('-h')) {
  console.log(usage)
  process.exit(0)
}
const [topic = 'orders', countArg = '1000'] = args
const count = Number(countArg)
if (args.length > 2 || topic.startsWith('-') || !Number.isSafeInteger(count) || count < 0) {
  console.error(usage)
  process.exit(1)
}
// A broker with --auth and TLS: SPOOL_USER + SPOOL_PASSWORD (SCRAM-SHA-256), SPOOL_CA (its CA file).
const security = {
  ...(process.env.SPOOL_USER ? { sasl: { username: process.env.SPOOL_USER, password: process.env.SPOOL_PASSWORD ?? '' } } : {}),
  ...(process.env.SPOOL_CA ? { tls: { ca: readFileSync(process.env.SPOOL_CA, 'utf8') } } : {}),
}
const client = new Client({ brokers: [process.env.SPOOL_BROKER ?? '127.0.0.1:7420'], clientId: 'example-producer', ...security })
const producer = client.producer({ acks: 1, lingerMs: 5 })

const started = performance.now()
const messages = []
for (let i = 0; i < count; i++) {
  const customer = `customer-${i % 10}`
  messages.push({ key: customer, value: toJson({ order: i, customer, total: Math.round(Math.random() * 10_000) / 100 }) })
}
const results = await producer.send({ topic, messages })
await producer.close()
await client.close()

const byPartition = new Map()
for (const r of results) byPartition.set(r.partition, (byPartition.get(r.partition) ?? 0) + 1)
const ms = performance.now() - started
console.log(`produced ${results.length} messages to ${topic} in ${ms.toFixed(0)} ms`)
for (const [partition, n] of [...byPartition].sort((a, b) => a[0] - b[0])) console.log(`  partition ${partition}: ${n} messages`)
console.log(`last: partition ${results.at(-1)?.partition} offset ${results.at(-1)?.offset}`)
