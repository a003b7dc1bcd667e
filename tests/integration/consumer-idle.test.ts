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

t.test('many caught-up consumers on one connection all get records appended at once', async t => {
  // 24 consumers share one Client (one connection). Their parked fetches are woken by one
  // Produce that appends to all 24 topics; only a few of them find room to read at once
  // (each may read maxBytes, 16 MiB, of the connection's 64 MiB), and the others must read
  // when that room is released — not sleep through the record until their 10 s idle poll ends.
  const n = 24
  const topics = Array.from({ length: n }, (_, i) => `idle-many-${i}`)
  await admin.admin().createTopics(topics.map(topic => ({ topic, partitions: 1 })))
  const client = new Client({ brokers: [broker.address], clientId: 'idle-many' })
  t.teardown(() => client.close())
  const seen = new Array<number>(n).fill(0)
  const runs: Array<Promise<void>> = []
  const consumers = []
  for (let i = 0; i < n; i++) {
    const consumer = client.consumer()
    await consumer.assign({ topic: topics[i]! })
    consumers.push(consumer)
    runs.push(consumer.run({ eachMessage: () => { seen[i]!++ } }))
  }
  // Past every consumer's first empty answer: all are parked in their idle poll.
  await sleep(1500)
  const linger = client.producer({ acks: 1, lingerMs: 50 })
  await Promise.all(topics.map(topic => linger.send({ topic, messages: [{ value: 'x' }] })))
  const started = Date.now()
  // Bounded well below the 10 s idle poll a starved fetch used to sleep through.
  await waitFor(() => seen.every(s => s === 1), 5000, `a record seen by all ${n} consumers`)
  t.pass(`all ${n} consumers saw their record ${Date.now() - started} ms after it was acknowledged`)
  await Promise.all(consumers.map(c => c.close()))
  await Promise.all(runs)
})
