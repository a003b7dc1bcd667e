// The idempotent producer against a real broker over real sockets (docs/architecture.md §3,
// docs/formats.md §4.5). A TCP proxy loses the answer to a Produce request after the
// broker wrote the batch (tests/helpers/cutting-proxy.ts): the producer's retry must be
// answered with the original offsets and write nothing twice, with one batch or several in
// flight, and a non-idempotent producer in the same spot does duplicate (the test has teeth).
// Raw frames show the broker refusing a sequence gap; a batch refused for good leaves the
// partition usable (its later batches continue under a fresh producer id).
import t from 'tap'
import { Client, InvalidRecordError, text, type Message } from '../../client/index.js'
import { ERROR_TABLE } from '../../protocol/errors.js'
import { readBatchHeader } from '../../protocol/record-batch/header.js'
import { encodeBatch, forEachBatch } from '../../protocol/record-batch/records.js'
import { startBroker } from '../helpers/broker.js'
import { collect } from '../helpers/conformance.js'
import { CuttingProxy } from '../helpers/cutting-proxy.js'
import { RawClient } from '../helpers/raw-client.js'
import { utf8 } from '../helpers/bytes.js'

const broker = await startBroker(t, { mqttPort: null })
const brokerAddress = `127.0.0.1:${broker.ports.native}`
const fastRetry = { retries: 5, initialRetryTimeMs: 20, maxRetryTimeMs: 200 }

async function readAll (topic: string): Promise<Message[]> {
  const client = new Client({ brokers: [brokerAddress] })
  try {
    const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 50 })
    await consumer.assign({ topic })
    const ends = await consumer.endOffsets()
    const total = ends.reduce((n, e) => n + e.offset, 0)
    const messages = await collect(consumer, total, 10_000)
    await consumer.close()
    return messages
  } finally {
    await client.close()
  }
}

t.test('a lost answer: the retry gets the original offsets and nothing is written twice', async t => {
  await broker.logs.createTopic('idem-one', { partitions: 1 })
  await broker.logs.createTopic('plain-one', { partitions: 1 })
  const proxy = await CuttingProxy.start(t, broker.ports.native!)
  const client = new Client({ brokers: [proxy.address], retry: fastRetry })
  t.teardown(() => client.close())

  const producer = client.producer({ lingerMs: 0 })
  const first = await producer.send({ topic: 'idem-one', messages: [{ value: 'a' }, { value: 'b' }] })
  proxy.armCutAfterProduce()
  const second = await producer.send({ topic: 'idem-one', messages: [{ value: 'c' }, { value: 'd' }] })
  t.equal(proxy.cuts, 1, 'the answer to the second send was lost once')
  const third = await producer.send({ topic: 'idem-one', messages: [{ value: 'e' }] })
  t.same([...first, ...second, ...third].map(r => r.offset), [0, 1, 2, 3, 4], 'offsets as the broker first assigned them')
  const log = await readAll('idem-one')
  t.same(log.map(m => text(m.value)), ['a', 'b', 'c', 'd', 'e'], 'each message exactly once, in order')

  // The same loss without idempotence writes the batch twice: what the test above rules out.
  const plain = client.producer({ lingerMs: 0, idempotent: false })
  await plain.send({ topic: 'plain-one', messages: [{ value: 'x' }] })
  proxy.armCutAfterProduce()
  await plain.send({ topic: 'plain-one', messages: [{ value: 'y' }] })
  t.equal(proxy.cuts, 2)
  t.same((await readAll('plain-one')).map(m => text(m.value)), ['x', 'y', 'y'], 'a non-idempotent retry duplicates')
})

t.test('several batches in flight when the connection is cut: every message once, in send order', async t => {
  await broker.logs.createTopic('idem-many', { partitions: 2 })
  const proxy = await CuttingProxy.start(t, broker.ports.native!)
  const client = new Client({ brokers: [proxy.address], retry: fastRetry })
  t.teardown(() => client.close())
  const producer = client.producer({ lingerMs: 0 })
  await producer.send({ topic: 'idem-many', messages: [{ value: 'warm-up', partition: 0 }] })
  const sends: Array<Promise<unknown>> = []
  let n = 0
  for (let round = 0; round < 40; round++) {
    if (round === 10 || round === 25) proxy.armCutAfterProduce()
    // One batch per round and partition: each round's messages close their own batches.
    for (let i = 0; i < 10; i++, n++) sends.push(producer.send({ topic: 'idem-many', messages: [{ value: String(n), partition: n % 2 }] }))
    await new Promise(resolve => setImmediate(resolve))
  }
  await Promise.all(sends)
  await producer.close()
  t.equal(proxy.cuts, 2, 'two connections were cut with requests in flight')
  const log = await readAll('idem-many')
  const values = log.filter(m => text(m.value) !== 'warm-up').map(m => Number(text(m.value)))
  t.equal(values.length, 400, 'no message lost or duplicated')
  t.equal(new Set(values).size, 400)
  for (const partition of [0, 1]) {
    const mine = log.filter(m => m.partition === partition && text(m.value) !== 'warm-up').map(m => Number(text(m.value)))
    t.same(mine, [...mine].sort((a, b) => a - b), `partition ${partition} holds its messages in send order`)
  }
})

t.test('the broker refuses a sequence gap with OUT_OF_ORDER_SEQUENCE_NUMBER (raw frames)', async t => {
  await broker.logs.createTopic('idem-gap', { partitions: 1 })
  const c = await RawClient.connect(broker.ports.native!)
  t.teardown(() => c.close())
  const { producerId, producerEpoch } = await c.call('InitProducerId', {})
  t.ok(producerId >= 0)
  const produce = async (baseSequence: number, value: string): Promise<{ errorCode: number, baseOffset: number }> => {
    const batch = encodeBatch([{ value: utf8(value) }], { producerId, producerEpoch, baseSequence })
    const r = await c.call('Produce', { acks: 1, timeoutMs: 5000, topics: [{ topic: 'idem-gap', partitions: [{ partition: 0, recordsBytes: batch.length }] }] }, [batch])
    return r.topics[0]!.partitions[0]!
  }
  t.match(await produce(0, 's0'), { errorCode: 0, baseOffset: 0 })
  t.match(await produce(1, 's1'), { errorCode: 0, baseOffset: 1 })
  t.match(await produce(3, 's3'), { errorCode: ERROR_TABLE.OUT_OF_ORDER_SEQUENCE_NUMBER.code }, 'sequence 2 skipped: refused')
  t.match(await produce(1, 's1'), { errorCode: 0, baseOffset: 1 }, 'a duplicate gets its original offset')
  t.match(await produce(2, 's2'), { errorCode: 0, baseOffset: 2 }, 'the next sequence is accepted')
  t.same((await readAll('idem-gap')).map(m => text(m.value)), ['s0', 's1', 's2'])
})

t.test('a batch refused for good fails alone; the partition goes on under a fresh producer id', async t => {
  await broker.logs.createTopic('idem-refused', { partitions: 1, config: { cleanupPolicy: 'compact' } })
  const client = new Client({ brokers: [brokerAddress], retry: fastRetry })
  t.teardown(() => client.close())
  const producer = client.producer({ lingerMs: 0 })
  await producer.send({ topic: 'idem-refused', messages: [{ key: 'k', value: 'before' }] })
  // Three batches in flight at once: the middle one has a record without a key, which a
  // compacted topic refuses (INVALID_RECORD); the third then lacks its predecessor.
  const a = producer.send({ topic: 'idem-refused', messages: [{ key: 'k', value: 'a' }] })
  await new Promise(resolve => setImmediate(resolve))
  const bad = producer.send({ topic: 'idem-refused', messages: [{ key: null, value: 'no key' }] })
  await new Promise(resolve => setImmediate(resolve))
  const c = producer.send({ topic: 'idem-refused', messages: [{ key: 'k', value: 'c' }] })
  await t.rejects(bad, InvalidRecordError, 'the bad batch fails')
  const [ra, rc] = await Promise.all([a, c])
  t.same([ra![0]!.offset, rc![0]!.offset], [1, 2], 'the batches around it are written')
  const [after] = await producer.send({ topic: 'idem-refused', messages: [{ key: 'k', value: 'after' }] })
  t.equal(after!.offset, 3)
  t.same((await readAll('idem-refused')).map(m => text(m.value)), ['before', 'a', 'c', 'after'])
  const raw = await RawClient.connect(broker.ports.native!)
  t.teardown(() => raw.close())
  const fetched = await raw.call('Fetch', { maxWaitMs: 0, topics: [{ topic: 'idem-refused', partitions: [{ partition: 0, fetchOffset: 0 }] }] })
  const stamps: Array<[number, number]> = []
  forEachBatch(fetched.records, pos => {
    const h = readBatchHeader(fetched.records, pos)
    stamps.push([h.producerId, h.baseSequence])
  })
  const [pid] = stamps[0]!
  t.same(stamps.map(([id, seq]) => [id === pid, seq]), [[true, 0], [true, 1], [false, 0], [false, 1]],
    'before the hole: the first id, sequences 0 and 1; after it: a fresh id from sequence 0')
})

t.test('send order holds when a send waits for buffer room and a later one finds room at once', async t => {
  // Campaign finding (the chaos test): a send on the slow path (no buffer room, or the
  // topic's metadata being refreshed) was overtaken by a send made just as room came back,
  // and the two records were written out of send order. Here the buffer holds one message:
  // send 2 waits for room; send 3 is made in send 1's acknowledgement, when the room is back
  // but send 2 has not appended yet.
  for (const idempotent of [true, false]) {
    const topic = `order-${idempotent ? 'idem' : 'plain'}`
    await broker.logs.createTopic(topic, { partitions: 1 })
    const client = new Client({ brokers: [brokerAddress], retry: fastRetry })
    t.teardown(() => client.close())
    const producer = client.producer({ idempotent, lingerMs: 0, maxBufferedBytes: 1024 })
    await producer.send({ topic, messages: [{ value: 'warm-up', partition: 0 }] })
    const big = (label: string): string => label + '.'.repeat(1500)
    let third: Promise<unknown> | null = null
    const first = producer.send({ topic, messages: [{ value: big('1'), partition: 0 }] }).then(r => {
      third = producer.send({ topic, messages: [{ value: big('3'), partition: 0 }] })
      return r
    })
    const second = producer.send({ topic, messages: [{ value: big('2'), partition: 0 }] })
    await Promise.all([first, second])
    await third
    await producer.close()
    const values = (await readAll(topic)).map(m => (text(m.value) ?? '').slice(0, 1))
    t.same(values, ['w', '1', '2', '3'], `${idempotent ? 'idempotent' : 'plain'} producer: written in send order`)
  }
})
