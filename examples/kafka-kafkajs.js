// examples/kafka-kafkajs.js: an ordinary kafkajs program against Spool's Kafka listener. It
// creates a topic, produces with an idempotent producer, reads this run's records back as a
// member of consumer group "kafkajs-demo" (which commits, so `spool group describe
// kafkajs-demo` shows it), and ends. Run it with `node examples/kafka-kafkajs.js
// localhost:9092` (`npm install kafkajs` in your own project).
import { Kafka, logLevel } from 'kafkajs'

const broker = process.argv[2] ?? 'localhost:9092'
const kafka = new Kafka({ clientId: 'kafkajs-demo', brokers: [broker], logLevel: logLevel.ERROR })

const admin = kafka.admin()
await admin.connect()
if (!(await admin.listTopics()).includes('kafkajs-demo')) {           // a second run reuses it
  await admin.createTopics({ topics: [{ topic: 'kafkajs-demo', numPartitions: 3 }] })
}
await admin.disconnect()

const run = Date.now().toString(36)
const producer = kafka.producer({ idempotent: true })                // a retry never writes twice
await producer.connect()
const sent = await producer.send({
  topic: 'kafkajs-demo',
  messages: ['alpha', 'beta', 'gamma'].map(word => ({ key: word, value: `${word} ${run}` })),   // keys: murmur2, as Java
})                                                                    // one answer per partition written
await producer.disconnect()
console.log('produced', sent.map(r => `${r.partition}/${r.baseOffset}`).join(' '))

const consumer = kafka.consumer({ groupId: 'kafkajs-demo' })
await consumer.connect()
await consumer.subscribe({ topics: ['kafkajs-demo'], fromBeginning: true })
const seen = new Set()
await new Promise((resolve, reject) => {
  consumer.run({
    eachMessage: async ({ partition, message }) => {
      const value = message.value.toString()
      if (!value.endsWith(run)) return                                // an earlier run's record
      console.log(`read ${partition}/${message.offset} ${message.key} = ${value}`)
      seen.add(value)
      if (seen.size === 3) resolve()
    },
  }).catch(reject)
})
await consumer.disconnect()                                           // commits what was read, leaves the group
