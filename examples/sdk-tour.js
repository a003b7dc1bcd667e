// examples/sdk-tour.js: the SDK in one program that ends by itself. It creates a topic,
// produces JSON, reads it as a member of a consumer group, reads it again without a group,
// and describes the topic. Run it with `node examples/sdk-tour.js` (broker: $SPOOL_BROKER
// or 127.0.0.1:7420); run it again and the group reads only what the new run produced.
import { Client, TopicAlreadyExistsError, json, text, toJson, utf8 } from 'spool/client'

const client = new Client({ brokers: [process.env.SPOOL_BROKER ?? '127.0.0.1:7420'] })
// or over WebSocket: new Client({ url: 'ws://127.0.0.1:7421/ws' })  (the global WebSocket; `ws` on Node 20)

const admin = client.admin()
try {
  await admin.createTopics([{ topic: 'payments', partitions: 3, config: { retentionMs: 86_400_000 } }])
} catch (err) {
  if (!(err instanceof TopicAlreadyExistsError)) throw err            // a second run reuses it
}

const producer = client.producer({ acks: 1, lingerMs: 5 })          // acks 0 | 1 | 'all'
const sent = await producer.send({
  topic: 'payments',
  messages: [
    { key: 'user-42', value: toJson({ total: 12.5 }), headers: [{ key: 'source', value: utf8('web') }] },
    { key: 'user-7', value: toJson({ total: 30 }) },
  ],
})                                                                    // [{ topic, partition, offset }], one per message
await producer.close()                                                // flushes first
console.log('produced', sent.map(r => `${r.partition}/${r.offset}`).join(' '))

// A member of group "sdk-tour": the group shares the topic's partitions between its members
// and commits what each processed, so a restarted member continues where the group was.
const waiting = new Set(sent.map(r => `${r.partition}/${r.offset}`))
let billed = 0
const member = client.consumer({ groupId: 'sdk-tour', fromBeginning: true })
await member.subscribe({ topics: ['payments'] })                      // resolves once the group answered the join
await member.run({                                                    // resolves when the consumer is closed
  eachMessage: async ({ partition, message }) => {
    billed += json(message.value).total
    waiting.delete(`${partition}/${message.offset}`)
    if (waiting.size === 0) await member.close()                      // commits what was processed, leaves the group
  },
})
console.log('the group processed this run\'s payments: total', billed)

// Without a group: you pick the partitions and the positions, nothing is committed.
const reader = client.consumer({ fromBeginning: true })
await reader.assign({ topic: 'payments' })                            // every partition (or [{ topic, partition }])
await reader.seekToBeginning()                                        // or seek({ topic, partition, offset }), seekToEnd(), seekToTimestamp(ms)
let left = (await reader.endOffsets()).reduce((n, end) => n + end.offset - reader.position(end), 0)
if (left > 0) {
  for await (const m of reader) {                                     // or reader.run({ eachMessage | eachBatch })
    console.log(m.partition, m.offset, text(m.key), json(m.value))
    if (--left === 0) break                                           // leaving the loop closes the consumer
  }
}

const [topic] = await admin.describeTopics(['payments'])              // config, offsets and bytes per partition
console.log(topic.topic, topic.partitions.map(p => `${p.partition}: ${p.logStartOffset}-${p.logEndOffset}`).join(', '))
await client.close()
