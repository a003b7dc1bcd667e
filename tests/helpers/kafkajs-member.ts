/**
 * A kafkajs consumer-group member as its own process, for tests that kill a member:
 *
 *   node dist/tests/helpers/kafkajs-member.js <broker> <groupId> <topic> <sessionTimeoutMs>
 *
 * Prints `joined <generation> <partitions>` on every GROUP_JOIN and one line per record,
 * `rec <partition> <offset> <value>`, then commits (kafkajs autocommit, every 100 ms).
 * SIGTERM leaves the group cleanly; SIGKILL (the test's "crash") does not.
 */

import { Kafka, logLevel } from 'kafkajs'

const [broker, groupId, topic, session] = process.argv.slice(2)
if (broker === undefined || groupId === undefined || topic === undefined) {
  process.stderr.write('usage: kafkajs-member <broker> <groupId> <topic> [sessionTimeoutMs]\n')
  process.exit(1)
}
const kafka = new Kafka({ clientId: `member-${process.pid}`, brokers: [broker], logLevel: logLevel.NOTHING })
const consumer = kafka.consumer({ groupId, sessionTimeout: Number(session ?? 6000), heartbeatInterval: 500, maxWaitTimeInMs: 200, rebalanceTimeout: 10_000 })
consumer.on(consumer.events.GROUP_JOIN, e => {
  const partitions = Object.values(e.payload.memberAssignment).flat().sort((a, b) => a - b).join(',')
  process.stdout.write(`joined ${e.payload.groupId} ${partitions}\n`)
})
await consumer.connect()
await consumer.subscribe({ topics: [topic], fromBeginning: true })
await consumer.run({
  autoCommitInterval: 100,
  eachMessage: async ({ partition, message }) => {
    process.stdout.write(`rec ${partition} ${message.offset} ${message.value?.toString() ?? ''}\n`)
  },
})
process.on('SIGTERM', () => { void consumer.disconnect().then(() => process.exit(0), () => process.exit(1)) })
