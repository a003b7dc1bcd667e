/**
 * The client conformance suite: one function of tests that every transport must pass
 * (one exported function of tests, run against each implementation). The integration test
 * runs it against a real broker over TCP, over WebSocket with `ws` injected, and over WebSocket
 * with the constructor the SDK picks itself (the global WebSocket on Node >= 22, `ws` on 20).
 *
 * Each test uses its own topic. Every wait is bounded. The broker restart test runs last,
 * because it closes every connection.
 */

import type { Test } from 'tap'
import { WebSocket } from 'ws'
import {
  Client, ClientClosedError, FrameTooLargeError, OffsetOutOfRangeError, TopicAlreadyExistsError, UnknownTopicOrPartitionError, text, utf8,
  type ClientOptions, type Consumer, type Message,
} from '../../client/index.js'
import { partitionForKey } from '../../protocol/bytes/murmur2.js'
import type { TestBroker } from './client-broker.js'
import { sleep } from './wait.js'

/** 'websocket': `ws` passed in; 'websocket-runtime': no constructor passed (the SDK's default). */
export type TransportName = 'tcp' | 'websocket' | 'websocket-runtime'


let topicCounter = 0
function topicName (t: Test, transport: TransportName): string {
  return `c-${transport}-${++topicCounter}-${t.name.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 60)}`
}

/** A client over `transport`, closed in the test's teardown. */
export function clientFor (t: Test, broker: TestBroker, transport: TransportName, options: Partial<ClientOptions> = {}): Client {
  const client = transport === 'tcp'
    ? new Client({ brokers: [broker.address], ...options })
    : transport === 'websocket'
      ? new Client({ url: broker.wsUrl, WebSocket, ...options })
      : new Client({ url: broker.wsUrl, ...options })
  t.teardown(() => client.close())
  return client
}

/** A next() left waiting when collect() timed out: the next collect() takes its message. */
const waitingNext = new WeakMap<Consumer, Promise<IteratorResult<Message, undefined>>>()

/** Reads up to `n` messages within `timeoutMs` (fewer on timeout; none is lost). */
export async function collect (consumer: Consumer, n: number, timeoutMs = 10_000): Promise<Message[]> {
  const out: Message[] = []
  const iterator = consumer[Symbol.asyncIterator]()
  const deadline = Date.now() + timeoutMs
  while (out.length < n) {
    const left = deadline - Date.now()
    if (left <= 0) break
    const next = waitingNext.get(consumer) ?? iterator.next()
    waitingNext.set(consumer, next)
    let timer: ReturnType<typeof setTimeout> | undefined
    const result = await Promise.race([
      next,
      new Promise<'timeout'>(resolve => { timer = setTimeout(() => resolve('timeout'), left) }),
    ])
    clearTimeout(timer)
    if (result === 'timeout') break
    waitingNext.delete(consumer)
    if (result.done === true) break
    out.push(result.value)
  }
  return out
}

/**
 * `broker` is a broker with default settings; `limited` one with maxFrameBytes 64 KiB and
 * idleTimeoutMs 400, for the notice and idle-timeout tests.
 */
export function clientConformance (t: Test, broker: TestBroker, limited: TestBroker, transport: TransportName): void {
  const client = (tt: Test, options?: Partial<ClientOptions>): Client => clientFor(tt, broker, transport, options)

  t.test('produce and fetch with acks 0, 1 and all', async t => {
    const c = client(t)
    const topic = topicName(t, transport)
    await c.admin().createTopics([{ topic, partitions: 1 }])
    const sent: Record<string, number[]> = {}
    for (const acks of [0, 1, 'all'] as const) {
      const producer = c.producer({ acks, lingerMs: 0 })
      const results = await producer.send({ topic, messages: Array.from({ length: 50 }, (_, i) => ({ value: utf8(`${acks}-${i}`) })) })
      sent[String(acks)] = results.map(r => r.offset)
      await producer.close()
    }
    t.same(sent['0'], new Array(50).fill(-1), 'acks=0 has no offsets')
    t.same(sent['1'], Array.from({ length: 50 }, (_, i) => 50 + i), 'acks=1: consecutive offsets after the acks=0 records')
    t.same(sent.all, Array.from({ length: 50 }, (_, i) => 100 + i), 'acks=all too')
    const consumer = c.consumer({ fromBeginning: true })
    await consumer.assign({ topic })
    const messages = await collect(consumer, 150)
    t.equal(messages.length, 150)
    t.same(messages.map(m => m.offset), Array.from({ length: 150 }, (_, i) => i))
    t.same(messages.slice(0, 3).map(m => text(m.value)), ['0-0', '0-1', '0-2'])
    t.equal(text(messages[149]!.value), 'all-49')
    await consumer.close()
  })

  t.test('long poll: a waiting consumer gets a record produced later, well before maxWaitMs', async t => {
    const c = client(t)
    const topic = topicName(t, transport)
    await c.admin().createTopics([{ topic, partitions: 1 }])
    const consumer = c.consumer({ maxWaitMs: 10_000 })
    await consumer.assign({ topic })
    await consumer.seekToEnd()
    const waiting = collect(consumer, 1, 8_000)
    await sleep(300)
    const producedAt = Date.now()
    await c.producer({ lingerMs: 0 }).send({ topic, messages: [{ value: utf8('wake up') }] })
    const [message] = await waiting
    const latency = Date.now() - producedAt
    t.equal(text(message?.value ?? null), 'wake up')
    t.ok(latency < 2_000, `delivered ${latency} ms after produce (maxWaitMs 10000)`)
    await consumer.close()
  })

  t.test('out of order: a produce resolves while a long-polling fetch waits on the same connection', async t => {
    const c = client(t)
    const idle = topicName(t, transport) + '-idle'
    const busy = topicName(t, transport) + '-busy'
    await c.admin().createTopics([{ topic: idle, partitions: 1 }, { topic: busy, partitions: 1 }])
    const consumer = c.consumer({ maxWaitMs: 5_000 })
    await consumer.assign({ topic: idle })
    await consumer.seekToEnd()
    let fetched = false
    const waiting = collect(consumer, 1, 8_000).then(m => { fetched = true; return m })
    await sleep(300) // the fetch is now parked in the broker's long poll
    const start = Date.now()
    const [result] = await c.producer({ lingerMs: 0 }).send({ topic: busy, messages: [{ value: utf8('x') }] })
    const elapsed = Date.now() - start
    t.equal(result?.offset, 0)
    t.ok(elapsed < 1_000, `produce answered in ${elapsed} ms`)
    t.notOk(fetched, 'while the fetch is still waiting')
    await consumer.close()
    await waiting
  })

  t.test('ListOffsets: earliest, latest and by timestamp', async t => {
    const c = client(t)
    const topic = topicName(t, transport)
    await c.admin().createTopics([{ topic, partitions: 1 }])
    const t0 = 1_700_000_000_000
    await c.producer({ lingerMs: 0 }).send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: utf8(`m${i}`), timestamp: t0 + i * 1000 })) })
    const admin = c.admin()
    const answers = await admin.listOffsets([
      { topic, partition: 0, timestamp: -2 },
      { topic, partition: 0, timestamp: -1 },
      { topic, partition: 0, timestamp: t0 + 3500 },
      { topic, partition: 0, timestamp: t0 },
      { topic, partition: 0, timestamp: t0 + 60_000 },
    ])
    t.same(answers.map(a => a.offset), [0, 10, 4, 0, -1])
    t.same(await admin.fetchTopicOffsets(topic), [{ partition: 0, low: 0, high: 10 }])
    t.same(await admin.fetchTopicOffsetsByTimestamp(topic, t0 + 9000), [{ partition: 0, offset: 9 }])
  })

  t.test('seek: to an offset, a timestamp, the beginning and the end', async t => {
    const c = client(t)
    const topic = topicName(t, transport)
    await c.admin().createTopics([{ topic, partitions: 1 }])
    const t0 = 1_700_000_000_000
    const producer = c.producer({ lingerMs: 0 })
    await producer.send({ topic, messages: Array.from({ length: 20 }, (_, i) => ({ value: utf8(`m${i}`), timestamp: t0 + i })) })
    const consumer = c.consumer()
    await consumer.assign([{ topic, partition: 0 }])
    consumer.seek({ topic, partition: 0, offset: 15 })
    t.same((await collect(consumer, 2)).map(m => m.offset), [15, 16])
    await consumer.seekToTimestamp(t0 + 7)
    t.equal(consumer.position({ topic, partition: 0 }), 7)
    t.same((await collect(consumer, 1)).map(m => m.offset), [7])
    await consumer.seekToBeginning()
    t.same((await collect(consumer, 1)).map(m => m.offset), [0])
    await consumer.seekToEnd()
    t.equal(consumer.position({ topic, partition: 0 }), 20)
    await producer.send({ topic, messages: [{ value: utf8('new') }] })
    const [next] = await collect(consumer, 1)
    t.equal(next?.offset, 20)
    t.equal(text(next?.value ?? null), 'new')
    await consumer.close()
  })

  t.test('pause and resume: a paused partition is not fetched, and resumes where it was', async t => {
    const c = client(t)
    const topic = topicName(t, transport)
    await c.admin().createTopics([{ topic, partitions: 2 }])
    const producer = c.producer({ lingerMs: 0 })
    for (const partition of [0, 1]) {
      await producer.send({ topic, messages: Array.from({ length: 5 }, (_, i) => ({ value: utf8(`p${partition}-${i}`), partition })) })
    }
    const consumer = c.consumer({ fromBeginning: true, maxWaitMs: 100 })
    await consumer.assign({ topic })
    consumer.pause([{ topic, partition: 0 }])
    t.same(consumer.paused(), [{ topic, partition: 0 }])
    const first = await collect(consumer, 10, 1_000)
    t.same(first.map(m => text(m.value)), ['p1-0', 'p1-1', 'p1-2', 'p1-3', 'p1-4'], 'only the unpaused partition')
    consumer.resume([{ topic, partition: 0 }])
    const second = await collect(consumer, 5)
    t.same(second.map(m => text(m.value)), ['p0-0', 'p0-1', 'p0-2', 'p0-3', 'p0-4'], 'the resumed partition from its position')
    await consumer.close()
  })

  t.test('run(): eachMessage and eachBatch; close() ends run', async t => {
    const c = client(t)
    const topic = topicName(t, transport)
    await c.admin().createTopics([{ topic, partitions: 1 }])
    await c.producer({ lingerMs: 0 }).send({ topic, messages: Array.from({ length: 30 }, (_, i) => ({ value: utf8(String(i)) })) })
    const seen: number[] = []
    const byMessage = c.consumer({ fromBeginning: true })
    await byMessage.assign({ topic })
    const running = byMessage.run({
      eachMessage: async ({ message }) => {
        seen.push(message.offset)
        if (seen.length === 30) await byMessage.close()
      },
    })
    await running
    t.same(seen, Array.from({ length: 30 }, (_, i) => i))
    const batches: number[][] = []
    const byBatch = c.consumer({ fromBeginning: true })
    await byBatch.assign({ topic })
    await byBatch.run({
      eachBatch: ({ batch }) => {
        batches.push(batch.messages.map(m => m.offset))
        t.equal(batch.highWatermark, 30)
        if (batches.flat().length >= 30) void byBatch.close()
      },
    })
    t.same(batches.flat(), Array.from({ length: 30 }, (_, i) => i))
    await t.rejects(byBatch.run({ eachBatch: () => {} }), ClientClosedError)
  })

  t.test('admin: create, list, describe and delete topics', async t => {
    const c = client(t)
    const admin = c.admin()
    const topic = topicName(t, transport)
    t.same(await admin.createTopics([{ topic, partitions: 3, config: { retentionMs: 3_600_000 } }]), [{ topic, partitions: 3 }])
    await t.rejects(admin.createTopics([{ topic, partitions: 3 }]), TopicAlreadyExistsError)
    t.ok((await admin.listTopics()).includes(topic))
    await c.producer({ lingerMs: 0 }).send({ topic, messages: [{ value: utf8('a'), partition: 1 }, { value: utf8('b'), partition: 1 }] })
    const [description] = await admin.describeTopics([topic])
    t.equal(description?.topic, topic)
    t.equal(description?.config.retentionMs, 3_600_000)
    t.same(description?.partitions.map(p => [p.partition, p.logStartOffset, p.logEndOffset, p.highWatermark]), [[0, 0, 0, 0], [1, 0, 2, 2], [2, 0, 0, 0]])
    t.ok(description!.partitions[1]!.sizeBytes > 0)
    await admin.deleteTopics([topic])
    t.notOk((await admin.listTopics()).includes(topic))
    await t.rejects(admin.describeTopics([topic]), UnknownTopicOrPartitionError)
    await t.rejects(admin.deleteTopics([topic]), UnknownTopicOrPartitionError)
    await t.rejects(c.consumer().assign({ topic }), { message: `topic "${topic}" does not exist` })
  })

  t.test('gzip, headers, null keys and values round trip', async t => {
    const c = client(t)
    const topic = topicName(t, transport)
    await c.admin().createTopics([{ topic, partitions: 1 }])
    const gzip = c.producer({ compression: 'gzip', lingerMs: 0 })
    const values = Array.from({ length: 1000 }, (_, i) => `compressible value number ${i} `.repeat(5))
    await gzip.send({ topic, messages: values.map(v => ({ key: 'k', value: v })) })
    const plain = c.producer({ lingerMs: 0 })
    await plain.send({
      topic,
      messages: [
        { key: null, value: null },
        { key: utf8('hk'), value: utf8('hv'), headers: [{ key: 'trace', value: utf8('abc') }, { key: 'empty', value: null }, { key: 'trace', value: 'again' }] },
        { value: utf8(''), headers: { a: '1', b: utf8('2') } },
      ],
    })
    const consumer = c.consumer({ fromBeginning: true })
    await consumer.assign({ topic })
    const messages = await collect(consumer, 1003)
    t.equal(messages.length, 1003)
    t.equal(messages.slice(0, 1000).filter((m, i) => text(m.value) === values[i] && text(m.key) === 'k').length, 1000, 'gzip batches decode')
    const [tomb, withHeaders, mapHeaders] = messages.slice(1000)
    t.equal(tomb?.key, null)
    t.equal(tomb?.value, null)
    t.same(withHeaders?.headers.map(h => [h.key, text(h.value)]), [['trace', 'abc'], ['empty', null], ['trace', 'again']])
    t.equal(mapHeaders?.value?.length, 0)
    t.same(mapHeaders?.headers.map(h => [h.key, text(h.value)]), [['a', '1'], ['b', '2']])
    await consumer.close()
  })

  t.test('10,000 keyed messages: all arrive, in order per partition, on murmur2(key) % partitions', async t => {
    const c = client(t)
    const topic = topicName(t, transport)
    await c.admin().createTopics([{ topic, partitions: 4 }])
    const producer = c.producer()
    const sends: Array<Promise<unknown>> = []
    for (let i = 0; i < 10_000; i += 500) {
      sends.push(producer.send({ topic, messages: Array.from({ length: 500 }, (_, j) => ({ key: `key-${(i + j) % 37}`, value: String(i + j) })) }))
    }
    await Promise.all(sends)
    await producer.close()
    const consumer = c.consumer({ fromBeginning: true })
    await consumer.assign({ topic })
    const messages = await collect(consumer, 10_000, 20_000)
    t.equal(messages.length, 10_000)
    const lastOffset = new Map<number, number>()
    const lastValueByKey = new Map<string, number>()
    let misplaced = 0
    let disordered = 0
    for (const m of messages) {
      const key = text(m.key)!
      if (m.partition !== partitionForKey(utf8(key), 4)) misplaced++
      if ((lastOffset.get(m.partition) ?? -1) >= m.offset) disordered++
      lastOffset.set(m.partition, m.offset)
      const v = Number(text(m.value))
      if ((lastValueByKey.get(key) ?? -1) >= v) disordered++
      lastValueByKey.set(key, v)
    }
    t.equal(misplaced, 0, 'every key on murmur2(key) % 4')
    t.equal(disordered, 0, 'offsets and per-key send order increase')
    t.equal(new Set(messages.map(m => Number(text(m.value)))).size, 10_000, 'each exactly once')
    await consumer.close()
  })

  t.test('a consumer started before the topic has data receives what is produced later', async t => {
    const c = client(t)
    const topic = topicName(t, transport)
    await c.admin().createTopics([{ topic, partitions: 2 }])
    const consumer = c.consumer({ maxWaitMs: 200 })
    await consumer.assign({ topic })
    const received: string[] = []
    const running = consumer.run({
      eachMessage: ({ message }) => {
        received.push(text(message.value)!)
        if (received.length === 6) void consumer.close()
      },
    })
    await sleep(400)
    const producer = c.producer({ lingerMs: 0 })
    await producer.send({ topic, messages: ['a', 'b', 'c', 'd', 'e', 'f'].map((value, i) => ({ value, partition: i % 2 })) })
    const timeout = setTimeout(() => { void consumer.close() }, 10_000)
    await running
    clearTimeout(timeout)
    t.same(received.sort(), ['a', 'b', 'c', 'd', 'e', 'f'])
  })

  t.test('offset out of range: reset per autoOffsetReset, or an error with none', async t => {
    const c = client(t)
    const topic = topicName(t, transport)
    await c.admin().createTopics([{ topic, partitions: 1 }])
    await c.producer({ lingerMs: 0 }).send({ topic, messages: Array.from({ length: 5 }, (_, i) => ({ value: String(i) })) })
    const resetting = c.consumer({ autoOffsetReset: 'earliest' })
    await resetting.assign({ topic })
    resetting.seek({ topic, partition: 0, offset: 1000 })
    t.same((await collect(resetting, 1)).map(m => m.offset), [0], 'reset to earliest')
    await resetting.close()
    const strict = c.consumer({ autoOffsetReset: 'none' })
    await strict.assign({ topic })
    strict.seek({ topic, partition: 0, offset: 1000 })
    await t.rejects(strict[Symbol.asyncIterator]().next(), OffsetOutOfRangeError)
    await strict.close()
  })

  t.test('a broker notice fails the request with its typed error; the client then reconnects', async t => {
    const c = clientFor(t, limited, transport)
    const topic = topicName(t, transport)
    const producer = c.producer({ lingerMs: 0 })
    await producer.send({ topic, messages: [{ value: 'small' }] })
    await t.rejects(producer.send({ topic, messages: [{ value: new Uint8Array(100_000) }] }), FrameTooLargeError,
      'a frame over the broker\'s maxFrameBytes: FRAME_TOO_LARGE, not a generic connection error')
    const [after] = await producer.send({ topic, messages: [{ value: 'small again' }] })
    t.equal(after?.offset, 1, 'the next send goes through a new connection')
  })

  t.test('an idle client survives the broker\'s idle timeout', async t => {
    const c = clientFor(t, limited, transport)
    const topic = topicName(t, transport)
    const producer = c.producer({ lingerMs: 0 })
    await producer.send({ topic, messages: [{ value: 'first' }] })
    await sleep(1_500) // idleTimeoutMs is 400: the broker has closed the connection by now
    const [second] = await producer.send({ topic, messages: [{ value: 'second' }] })
    t.equal(second?.offset, 1)
    t.ok((await c.admin().listTopics()).includes(topic))
  })

  t.test('closed client: calls fail with ClientClosedError', async t => {
    const c = client(t)
    const producer = c.producer()
    await c.close()
    await t.rejects(producer.send({ topic: 'x', messages: [{ value: 'v' }] }), ClientClosedError)
    t.throws(() => c.admin(), ClientClosedError)
    t.throws(() => c.consumer(), ClientClosedError)
  })

  t.test('consumer group: two members share the partitions, each message once; close commits; the next member continues', async t => {
    const topic = topicName(t, transport)
    const group = `group-${topic}`
    const c = client(t)
    await c.admin().createTopics([{ topic, partitions: 4 }])
    await c.producer().send({ topic, messages: Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: String(i) })) })
    const seen: string[] = []
    const revoked: number[] = []
    const member = (name: string): Consumer => client(t, { clientId: name }).consumer({
      groupId: group, fromBeginning: true, maxWaitMs: 100, onRevoked: ps => { revoked.push(...ps.map(tp => tp.partition)) },
    })
    const a = member('a')
    await a.subscribe({ topics: [topic] })
    const runA = a.run({ eachMessage: async ({ message }) => { seen.push(`${message.partition}:${message.offset}`); await sleep(5) } })
    const b = member('b')
    await b.subscribe({ topics: [topic] })
    const runB = b.run({ eachMessage: ({ message }) => { seen.push(`${message.partition}:${message.offset}`) } })
    const deadline = Date.now() + 15_000
    while ((seen.length < 200 || a.assignment().length !== 2 || b.assignment().length !== 2) && Date.now() < deadline) await sleep(20)
    t.ok(a.assignment().length === 2 && b.assignment().length === 2, 'two partitions each')
    t.ok(revoked.length >= 2, 'a gave two partitions up when b joined')
    t.equal(seen.length, 200, 'every message handled')
    t.equal(new Set(seen).size, 200, 'once: a revoked partition was committed before it moved')
    await Promise.all([a.close(), b.close()])
    await Promise.all([runA, runB])
    const [d] = await c.admin().describeGroups([group])
    t.match(d, { state: 'empty', totalLag: 0, members: [] }, 'close() committed everything and left')

    await c.producer().send({ topic, messages: Array.from({ length: 8 }, (_, i) => ({ key: `n${i}`, value: `new-${i}` })) })
    const next = member('c')
    await next.subscribe({ topics: topic })
    const fresh = await collect(next, 8)
    t.same(fresh.map(m => text(m.value)).sort(), Array.from({ length: 8 }, (_, i) => `new-${i}`), 'the next member starts at the commits')
    const last = fresh[fresh.length - 1]!
    await next.commit([{ topic, partition: last.partition, offset: last.offset + 1 }])
    await next.close()
    const [after] = await c.admin().describeGroups([group])
    t.equal(after!.totalLag, 0, 'for await: processed up to the last message asked for, the last one committed explicitly')
  })

  t.test('reconnect: producer and consumer carry on after the broker restarts on the same port', async t => {
    const c = client(t)
    const topic = topicName(t, transport)
    await c.admin().createTopics([{ topic, partitions: 1 }])
    const producer = c.producer({ lingerMs: 0 })
    await producer.send({ topic, messages: [{ value: 'before' }] })
    const consumer = c.consumer({ fromBeginning: true, maxWaitMs: 100 })
    await consumer.assign({ topic })
    t.same((await collect(consumer, 1)).map(m => text(m.value)), ['before'])
    await broker.restart()
    const [after] = await producer.send({ topic, messages: [{ value: 'after' }] })
    t.equal(after?.offset, 1, 'the send after the restart succeeds')
    t.same((await collect(consumer, 1)).map(m => text(m.value)), ['after'], 'and the consumer continues')
    await consumer.close()
  })
}
