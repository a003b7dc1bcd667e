// Prints a topic's messages as they arrive; Ctrl-C stops it cleanly.
//
//   node examples/node-consumer.js orders                   (new messages only)
//   node examples/node-consumer.js orders --from-beginning  (everything, then new ones)
//
// Broker: $SPOOL_BROKER or 127.0.0.1:7420. Reads every partition of the topic (consumer
// groups, which share partitions between several instances, come later).
import { Client, text } from 'spool/client'

const topic = process.argv[2] ?? 'orders'
const fromBeginning = process.argv.includes('--from-beginning')
const client = new Client({ brokers: [process.env.SPOOL_BROKER ?? '127.0.0.1:7420'], clientId: 'example-consumer' })
const consumer = client.consumer({ fromBeginning })
await consumer.assign({ topic })
process.once('SIGINT', () => consumer.close())
process.once('SIGTERM', () => consumer.close())

console.error(`reading ${topic} (${fromBeginning ? 'from the beginning' : 'new messages'}); Ctrl-C to stop`)
let count = 0
for await (const m of consumer) {
  count++
  console.log(`${m.partition}/${m.offset} ${new Date(m.timestamp).toISOString()} ${text(m.key) ?? '-'} ${text(m.value)}`)
}
await client.close()
console.error(`read ${count} messages`)
