/**
 * A consumer-group member as its own process, for tests where a crash matters
 * (tests/integration/groups-client.test.ts). Configured by the JSON in SPOOL_TEST_MEMBER:
 *
 *   { broker, group, topic, name, sessionTimeoutMs, processMs?, stallMs? }
 *
 * It joins `group`, reads `topic` with run({ eachMessage }) and prints one JSON line per
 * event on stdout, each with `t` (Date.now(), comparable across processes on one machine):
 *   {"ev":"joined","memberId":...}
 *   {"ev":"assign","p":[0,3]}                 onAssigned
 *   {"ev":"revoke","p":[3],"lost":false}      onRevoked: printed BEFORE the partitions are
 *                                             released to the coordinator
 *   {"ev":"processed","p":0,"o":17}           after the message's handling (processMs of work)
 *   {"ev":"commit","ok":false,"code":...}     stallMs > 0: the first message blocks the event
 *                                             loop that long (the member misses its session),
 *                                             then commit() is called and its outcome printed
 *   {"ev":"closed"}                           after SIGTERM: close() committed and left
 */

import { Client, type SpoolError } from '../../client/index.js'

interface Config {
  broker: string
  group: string
  topic: string
  name: string
  sessionTimeoutMs: number
  processMs?: number
  stallMs?: number
}

const config = JSON.parse(process.env.SPOOL_TEST_MEMBER ?? '{}') as Config
const print = (event: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify({ ...event, name: config.name, t: Date.now() }) + '\n')
}

const client = new Client({ brokers: [config.broker], clientId: `member-${config.name}`, retry: { retries: 5, initialRetryTimeMs: 50, maxRetryTimeMs: 500 } })
const consumer = client.consumer({
  groupId: config.group,
  fromBeginning: true,
  sessionTimeoutMs: config.sessionTimeoutMs,
  rebalanceTimeoutMs: 10_000,
  autoCommitIntervalMs: 200,
  maxWaitMs: 100,
  onAssigned: partitions => print({ ev: 'assign', p: partitions.map(tp => tp.partition) }),
  onRevoked: (partitions, { lost }) => print({ ev: 'revoke', p: partitions.map(tp => tp.partition), lost }),
})

let stalled = false
process.once('SIGTERM', () => {
  void consumer.close().then(() => print({ ev: 'closed' }))
})

await consumer.subscribe({ topics: [config.topic] })
print({ ev: 'joined', memberId: consumer.member?.memberId })
await consumer.run({
  eachMessage: async ({ message }) => {
    if ((config.stallMs ?? 0) > 0 && !stalled) {
      stalled = true
      const until = Date.now() + config.stallMs!
      while (Date.now() < until) { /* the event loop is blocked: no heartbeat goes out */ }
      try {
        await consumer.commit([{ topic: message.topic, partition: message.partition, offset: message.offset + 1 }])
        print({ ev: 'commit', ok: true })
      } catch (err) {
        print({ ev: 'commit', ok: false, code: (err as SpoolError).code })
      }
      return
    }
    if ((config.processMs ?? 0) > 0) await new Promise(resolve => setTimeout(resolve, config.processMs))
    print({ ev: 'processed', p: message.partition, o: message.offset })
  },
})
await client.close()
