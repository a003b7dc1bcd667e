// An idle consumer's long poll: once caught up, a consumer that did not set maxWaitMs parks
// its fetch for the idle wait (10 s) instead of 500 ms, so idle consumers cost the broker a
// twentieth of the empty answers; a record, a seek or a close still gets through at once.
// Counts come from the broker's own /metrics (spool_requests_total{api="Fetch"}).
import t from 'tap'
import { Client } from '../../client/index.js'
import { startTestBroker } from '../helpers/client-broker.js'
import { requestCount } from '../helpers/metrics.js'
import { sleep, waitFor } from '../helpers/wait.js'

const broker = await startTestBroker(t)
const admin = new Client({ brokers: [broker.address], clientId: 'idle-admin' })
t.teardown(() => admin.close())
await admin.admin().createTopics([{ topic: 'idle', partitions: 1 }, { topic: 'idle-set', partitions: 1 }])
const producer = admin.producer({ acks: 1, lingerMs: 0 })

async function fetchesDuring (ms: number): Promise<number> {
  const before = await requestCount(broker.httpPort, 'Fetch')
  await sleep(ms)
  return (await requestCount(broker.httpPort, 'Fetch')) - before
}

t.test('a caught-up consumer parks its fetch for the idle wait; records, seeks and close still go through', async t => {
  const client = new Client({ brokers: [broker.address], clientId: 'idle-consumer' })
  t.teardown(() => client.close())
  const consumer = client.consumer({ fromBeginning: true })
  await consumer.assign({ topic: 'idle' })
  const seen: string[] = []
  const running = consumer.run({ eachMessage: ({ message }) => { seen.push(Buffer.from(message.value ?? []).toString()) } })
  await producer.send({ topic: 'idle', messages: [{ value: 'a' }] })
  await waitFor(() => seen.length === 1, 10_000, 'the first record')
  // Past the first empty answer (500 ms): from here on the consumer is caught up.
  await sleep(1200)
  const idle = await fetchesDuring(3000)
  t.ok(idle <= 2, `at most 2 fetches in 3 s while idle (${idle}; at 500 ms it would be 6)`)

  await producer.send({ topic: 'idle', messages: [{ value: 'b' }] })
  await waitFor(() => seen.length === 2, 10_000, 'a record appended while the fetch is parked')
  t.same(seen, ['a', 'b'], 'the parked fetch answers with the new record')

  // A seek while parked: the next round does not wait for the parked (abandoned) fetch.
  await sleep(1200)
  consumer.seek({ topic: 'idle', partition: 0, offset: 0 })
  await waitFor(() => seen.length === 4, 10_000, 'the records again after the seek')
  t.same(seen, ['a', 'b', 'a', 'b'], 'read again from offset 0')

  await consumer.close()
  await running
  t.pass('close returns while a fetch is parked')
})

t.test('a consumer that sets maxWaitMs keeps it while idle', async t => {
  const client = new Client({ brokers: [broker.address], clientId: 'idle-set-consumer' })
  t.teardown(() => client.close())
  const consumer = client.consumer({ maxWaitMs: 300 })
  await consumer.assign({ topic: 'idle-set' })
  const running = consumer.run({ eachMessage: () => {} })
  await sleep(1000)
  const idle = await fetchesDuring(3000)
  t.ok(idle >= 5, `its fetches come back every 300 ms (${idle} in 3 s)`)
  await consumer.close()
  await running
})
