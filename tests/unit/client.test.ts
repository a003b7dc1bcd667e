// Pure pieces of the client SDK and CLI, without a broker: the partitioner (Kafka's murmur2
// vectors from docs/formats.md §5, sticky null keys), the producer's accumulator and
// its batching limits, the idempotent producer's sequence bookkeeping, fetched-record decoding, the CLI's output formats and stdin line
// splitting, exit codes, backoff, and the browser entry's import graph (no node: or ws).
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { CLOSED_BATCH, OPENED_BATCH, RecordAccumulator, type AccumulatorOptions, type PartitionQueue } from '../../client/accumulator.js'
import { choosePartition, StickyPartitioner } from '../../client/partitioner.js'
import { SendRequest, type RecordMetadata } from '../../client/producer-batch.js'
import { Idempotence, incrementSequence } from '../../client/idempotence.js'
import { decodeRecordsSection, decodeCompressedInto, type Message } from '../../client/message.js'
import { backoffMs } from '../../client/retry.js'
import { json, text, toJson, utf8 } from '../../client/bytes.js'
import { jsonLine, jsonLines, table, textLines, utf8OrNull } from '../../cli/output.js'
import { LineSplitter, indexOfBytes, splitKey } from '../../cli/lines.js'
import { errorLine, exitCodeFor } from '../../cli/exit-codes.js'
import {
  BrokerUnreachableError, ConnectionError, CorruptRecordError, InvalidRecordError, OutOfOrderSequenceError, UnknownTopicOrPartitionError,
} from '../../protocol/errors.js'
import { Compression, readBatchHeader, setBaseOffset, validateBatch } from '../../protocol/record-batch/header.js'
import { decodeBatch, encodeBatch, encodeBatchCompressed } from '../../protocol/record-batch/records.js'

const here = dirname(fileURLToPath(import.meta.url))

t.test('partitioner: keyed messages follow Kafka murmur2 for 3 and 6 partitions', async t => {
  const vectors: Array<[string, number, number]> = [
    ['21', 0, 0], ['foobar', 0, 0], ['a-little-bit-long-string', 2, 2], ['a-little-bit-longer-string', 2, 5],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', 2, 5], ['abc', 0, 3], ['key', 1, 1], ['key1', 2, 2],
    ['user-42', 1, 4], ['', 0, 3], ['ü', 2, 2],
  ]
  const sticky = new StickyPartitioner()
  for (const [key, p3, p6] of vectors) {
    t.equal(choosePartition('t', 3, utf8(key), undefined, sticky), p3, `${JSON.stringify(key)} % 3`)
    t.equal(choosePartition('t', 6, utf8(key), undefined, sticky), p6, `${JSON.stringify(key)} % 6`)
  }
  t.equal(choosePartition('t', 6, utf8('key'), 4, sticky), 4, 'an explicit partition wins over the key')
})

t.test('partitioner: null keys stick to one partition until its batch closes, then move', async t => {
  let seed = 0.1
  const sticky = new StickyPartitioner(() => (seed = (seed * 7.3) % 1))
  const first = choosePartition('a', 6, null, undefined, sticky)
  for (let i = 0; i < 100; i++) t.equal(choosePartition('a', 6, null, undefined, sticky), first)
  sticky.batchClosed('a', (first + 1) % 6, 6)
  t.equal(sticky.partition('a', 6), first, 'another partition closing does not move it')
  const seen = new Set<number>([first])
  let previous = first
  for (let i = 0; i < 50; i++) {
    sticky.batchClosed('a', previous, 6)
    const next = sticky.partition('a', 6)
    t.not(next, previous, 'moves to a different partition')
    t.ok(next >= 0 && next < 6)
    seen.add(next)
    previous = next
  }
  t.ok(seen.size >= 4, 'spreads over partitions over time')
  const one = new StickyPartitioner()
  one.batchClosed('b', 0, 1)
  t.equal(one.partition('b', 1), 0, 'a single partition stays')
  t.equal(sticky.partition('other', 3) < 3, true, 'topics are independent')
})

interface Harness {
  acc: RecordAccumulator
  closed: Array<[string, number]>
  results: RecordMetadata[][]
  send (count: number): SendRequest
}

function harness (batchBytes: number, compression: 0 | 1 = 0, buildOptions: AccumulatorOptions['buildOptions'] = () => ({})): Harness {
  const closed: Array<[string, number]> = []
  const results: RecordMetadata[][] = []
  const acc = new RecordAccumulator({
    batchBytes,
    compression,
    onBatchClosed: (topic, partition) => closed.push([topic, partition]),
    buildOptions,
    onCompressed: () => {},
  })
  return {
    acc,
    closed,
    results,
    send: count => new SendRequest('t', count, r => results.push(r), () => {}),
  }
}

const value = (n: number, fill = 0x61): Uint8Array => new Uint8Array(n).fill(fill)

t.test('accumulator: a batch closes at batchBytes; the next record opens a new one', async t => {
  const h = harness(1000)
  const q = h.acc.queue('t', 0)
  const send = h.send(100)
  let bits = h.acc.append(q, { value: value(100), timestamp: 1 }, 121, send, 0)
  t.equal(bits, OPENED_BATCH)
  let closedAt = -1
  for (let i = 1; i < 100 && closedAt < 0; i++) {
    bits = h.acc.append(q, { value: value(100), timestamp: 1 }, 121, send, i)
    if ((bits & CLOSED_BATCH) !== 0) closedAt = i
  }
  t.ok(closedAt > 5 && closedAt < 10, `closed after ${closedAt} records of ~110 bytes`)
  t.equal(q.ready.length, 1)
  const batch = q.ready[0]!
  t.ok(batch.bytes !== null && batch.bytes.length <= 1000, `closed batch is ${batch.bytes!.length} bytes, within batchBytes`)
  t.same(h.closed, [['t', 0]])
  const decoded = decodeBatch(batch.bytes!)
  t.equal(decoded.records.length, batch.count, 'the closed batch decodes to its records')
})

t.test('accumulator: a record larger than batchBytes gets a batch of its own', async t => {
  const h = harness(500)
  const q = h.acc.queue('t', 0)
  const send = h.send(3)
  h.acc.append(q, { value: value(10), timestamp: 1 }, 31, send, 0)
  const bits = h.acc.append(q, { value: value(2000), timestamp: 1 }, 2021, send, 1)
  t.equal(bits & CLOSED_BATCH, CLOSED_BATCH)
  t.equal(q.ready.length, 2, 'the small batch closed first, then the big one (full at once)')
  t.equal(q.ready[0]!.count, 1)
  t.equal(q.ready[1]!.count, 1)
  t.equal(q.open, null)
})

t.test('accumulator: take() builds requests within maxRequestBytes, in order, round-robin, at least one batch', async t => {
  const h = harness(300)
  const queues: PartitionQueue[] = [h.acc.queue('t', 0), h.acc.queue('t', 1), h.acc.queue('u', 0)]
  const send = h.send(60)
  let n = 0
  for (let round = 0; round < 20; round++) {
    for (const q of queues) h.acc.append(q, { value: value(100), timestamp: 1 }, 121, send, n++)
  }
  h.acc.closeAll()
  const leader = (): number => 1
  const yes = (): boolean => true
  t.equal(h.acc.take(1000, 0, leader, () => false), null, 'nothing when the leader may not send')
  const seen = new Map<PartitionQueue, number>()
  let requests = 0
  for (let taken = h.acc.take(1000, 0, leader, yes); taken !== null; taken = h.acc.take(1000, 0, leader, yes)) {
    requests++
    t.ok(taken.bytes <= 1000 || taken.entries.length === 1, `request of ${taken.bytes} bytes`)
    for (const entry of taken.entries) {
      for (const batch of entry.batches) {
        const previous = seen.get(entry.queue) ?? -1
        const first = decodeBatch(batch.bytes!).records.length
        t.ok(first > 0)
        seen.set(entry.queue, previous + 1)
      }
    }
  }
  t.ok(requests > 3, `${requests} requests`)
  t.equal(seen.size, 3, 'every partition was served')
  const big = harness(300)
  const bq = big.acc.queue('t', 0)
  big.acc.append(bq, { value: value(5000), timestamp: 1 }, 5021, big.send(1), 0)
  const taken = big.acc.take(1000, 0, leader, yes)
  t.equal(taken?.entries[0]?.batches.length, 1, 'a batch larger than maxRequestBytes still goes, alone')
})

t.test('accumulator: requeue puts batches back at the front; backoff holds the queue', async t => {
  const h = harness(200)
  const q = h.acc.queue('t', 0)
  const send = h.send(6)
  for (let i = 0; i < 6; i++) h.acc.append(q, { value: value(100), timestamp: 1 }, 121, send, i)
  h.acc.closeAll()
  const yes = (): boolean => true
  const first = h.acc.take(150, 0, () => 1, yes)!
  t.equal(first.entries[0]!.batches.length, 1)
  const firstBatch = first.entries[0]!.batches[0]!
  h.acc.requeue(q, [firstBatch])
  q.retryAtMs = 1000
  t.equal(h.acc.take(10_000, 500, () => 1, yes), null, 'in backoff: nothing to take')
  t.equal(h.acc.nextRetryAtMs(500), 1000)
  const again = h.acc.take(10_000, 1000, () => 1, yes)!
  t.equal(again.entries[0]!.batches[0], firstBatch, 'the retried batch goes first')
  t.equal(again.entries[0]!.batches.length, q.ready.length + again.entries[0]!.batches.length, 'and the rest follow in order')
})

t.test('accumulator: buffered bytes are counted until release; sends resolve with offsets in message order', async t => {
  const h = harness(10_000)
  const q0 = h.acc.queue('t', 0)
  const q1 = h.acc.queue('t', 1)
  const send = h.send(5)
  h.acc.append(q0, { value: value(10), timestamp: 1 }, 31, send, 0)
  h.acc.append(q1, { value: value(10), timestamp: 1 }, 31, send, 1)
  h.acc.append(q0, { value: value(10), timestamp: 1 }, 31, send, 2)
  h.acc.append(q1, { value: value(10), timestamp: 1 }, 31, send, 3)
  h.acc.append(q0, { value: value(10), timestamp: 1 }, 31, send, 4)
  t.ok(h.acc.bufferedBytes > 50)
  h.acc.closeAll()
  const [b0] = q0.ready
  const [b1] = q1.ready
  h.acc.release(b0!)
  b0!.complete(100)
  t.same(h.results, [], 'not resolved while a batch is pending')
  h.acc.release(b1!)
  b1!.complete(7)
  t.equal(h.acc.bufferedBytes, 0)
  t.same(h.results[0]!.map(r => [r.partition, r.offset]), [[0, 100], [1, 7], [0, 101], [1, 8], [0, 102]])
  const acks0 = h.send(1)
  h.acc.append(q0, { value: value(1), timestamp: 1 }, 22, acks0, 0)
  h.acc.closeAll()
  q0.ready[q0.ready.length - 1]!.complete(-1)
  t.same(h.results[1], [{ topic: 't', partition: 0, offset: -1 }], 'acks=0: offset -1')
})

t.test('accumulator: gzip batches are ready once compressed; failUnsent fails everything waiting', async t => {
  const h = harness(10_000, Compression.gzip)
  const q = h.acc.queue('t', 0)
  for (let i = 0; i < 50; i++) h.acc.append(q, { value: utf8(`value ${i} `.repeat(10)), timestamp: 1 }, 121, h.send(1), 0)
  h.acc.closeAll()
  t.equal(h.acc.take(1e6, 0, () => 1, () => true), null, 'not ready while compressing')
  // Compression runs on the libuv pool: wait for it (bounded), not for a fixed 50 ms.
  let taken = null
  for (const deadline = Date.now() + 10_000; taken === null && Date.now() < deadline;) {
    await new Promise(resolve => setTimeout(resolve, 5))
    taken = h.acc.take(1e6, 0, () => 1, () => true)
  }
  t.ok(taken, 'ready once compressed')
  const bytes = taken!.entries[0]!.batches[0]!.bytes!
  t.equal(bytes[22]! & 7, Compression.gzip)
  const failed: Error[] = []
  const h2 = harness(10_000)
  const q2 = h2.acc.queue('t', 0)
  h2.acc.append(q2, { value: value(1), timestamp: 1 }, 22, new SendRequest('t', 1, () => {}, e => failed.push(e)), 0)
  h2.acc.failUnsent(new ConnectionError('gone'))
  t.equal(failed.length, 1)
  t.equal(h2.acc.bufferedBytes, 0)
})

function fetched (batches: Uint8Array[]): Uint8Array {
  const total = batches.reduce((n, b) => n + b.length, 0)
  const out = Buffer.alloc(total) // a Buffer, as a socket delivers it
  let pos = 0
  for (const b of batches) {
    out.set(b, pos)
    pos += b.length
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}

t.test('fetch decoding: skips records below the fetch offset, control batches and a partial tail', async t => {
  const a = encodeBatch([0, 1, 2, 3].map(i => ({ key: i % 2 === 0 ? null : utf8(`k${i}`), value: utf8(`v${i}`), timestamp: 1000 + i })))
  setBaseOffset(a, 0, 10)
  const control = encodeBatch([{ key: new Uint8Array(4), value: new Uint8Array(6), timestamp: 5 }], { attributes: 0x30 })
  setBaseOffset(control, 0, 14)
  const b = encodeBatch([{ value: null, headers: [{ key: 'h', value: utf8('x') }, { key: 'n', value: null }], timestamp: 2000 }])
  setBaseOffset(b, 0, 15)
  const tail = encodeBatch([{ value: utf8('cut'), timestamp: 3 }])
  setBaseOffset(tail, 0, 16)
  const records = fetched([a, control, b, tail.subarray(0, tail.length - 3)])
  const out: Message[] = []
  const result = decodeRecordsSection(records, { topic: 't', partition: 2, fetchOffset: 12, checkCrcs: true }, out)
  t.equal(result.nextOffset, 16)
  t.equal(result.batches, 3)
  t.equal(result.compressedAt, -1)
  t.same(out.map(m => [m.offset, text(m.key), text(m.value), m.timestamp]), [[12, null, 'v2', 1002], [13, 'k3', 'v3', 1003], [15, null, null, 2000]])
  t.same(out[2]!.headers.map(h => [h.key, text(h.value)]), [['h', 'x'], ['n', null]])
  t.equal(out[0]!.topic, 't')
  t.equal(out[0]!.partition, 2)
  t.equal(Object.getPrototypeOf(out[1]!.value), Uint8Array.prototype, 'values are plain Uint8Array views, not Buffers')
  t.equal(out[1]!.value!.buffer, records.buffer, 'and they are views, not copies')
  const partial: Message[] = []
  t.equal(decodeRecordsSection(records.subarray(0, 30), { topic: 't', partition: 0, fetchOffset: 0, checkCrcs: true }, partial).batches, 0, 'a lone partial batch yields nothing')
})

t.test('fetch decoding: a corrupt batch is a CorruptRecordError; compressed batches decode on the async path', async t => {
  const a = encodeBatch([{ value: utf8('hello'), timestamp: 1 }])
  a[a.length - 1] ^= 0xff
  t.throws(() => decodeRecordsSection(fetched([a]), { topic: 't', partition: 0, fetchOffset: 0, checkCrcs: true }, []), CorruptRecordError)
  const plain = encodeBatch([{ value: utf8('p0'), timestamp: 1 }])
  const zipped = await encodeBatchCompressed([0, 1, 2].map(i => ({ value: utf8(`z${i}`), timestamp: 1 })), Compression.gzip)
  setBaseOffset(zipped, 0, 1)
  const records = fetched([plain, zipped])
  const out: Message[] = []
  const sync = decodeRecordsSection(records, { topic: 't', partition: 0, fetchOffset: 2, checkCrcs: true }, out)
  t.equal(sync.compressedAt, plain.length)
  const rest = await decodeCompressedInto(records, sync.compressedAt, { topic: 't', partition: 0, fetchOffset: 2, checkCrcs: true }, out, 1 << 20)
  t.equal(rest.nextOffset, 4)
  t.same(out.map(m => [m.offset, text(m.value)]), [[2, 'z1'], [3, 'z2']])
})

t.test('cli output: JSON lines carry UTF-8 as strings and other bytes as base64, saying so', async t => {
  const message = (key: Uint8Array | null, v: Uint8Array | null, headers: Message['headers'] = []): Message =>
    ({ topic: 't', partition: 1, offset: 7, timestamp: 1700000000000, key, value: v, headers })
  t.same(JSON.parse(jsonLine(message(utf8('k'), utf8('héllo ✓')))), {
    topic: 't', partition: 1, offset: 7, timestamp: 1700000000000, key: 'k', value: 'héllo ✓', headers: [],
  })
  t.same(JSON.parse(jsonLine(message(null, null))), { topic: 't', partition: 1, offset: 7, timestamp: 1700000000000, key: null, value: null, headers: [] })
  const binary = new Uint8Array([0xff, 0x00, 0xc3])
  const line = JSON.parse(jsonLine(message(binary, utf8(''), [{ key: 'h', value: binary }, { key: 'u', value: utf8('x') }, { key: 'n', value: null }])))
  t.equal(line.key, '/wDD')
  t.equal(line.keyEncoding, 'base64')
  t.equal(line.value, '')
  t.notOk('valueEncoding' in line)
  t.same(line.headers, [{ key: 'h', value: '/wDD', valueEncoding: 'base64' }, { key: 'u', value: 'x' }, { key: 'n', value: null }])
  t.equal(utf8OrNull(new Uint8Array([0xed, 0xa0, 0x80])), null, 'a lone surrogate is not valid UTF-8')
  t.equal(utf8OrNull(utf8('x'.repeat(10_000))), 'x'.repeat(10_000))
  t.equal(jsonLines([message(null, utf8('a')), message(null, utf8('b'))]).split('\n').length, 3)
  t.equal(Buffer.from(textLines([message(utf8('k'), utf8('v')), message(null, null)], true)).toString(), 'k\tv\n\t\n')
  t.equal(Buffer.from(textLines([message(null, binary)], false)).toString('hex'), 'ff00c30a', 'text output passes bytes through')
  t.equal(table(['NAME', 'N'], [['a', 1], ['bbb', 22]]), 'NAME   N\na      1\nbbb   22\n')
})

t.test('cli produce: stdin chunks split into lines and keys', async t => {
  const s = new LineSplitter()
  const lines: string[] = []
  const push = (x: string): void => { for (const l of s.push(utf8(x))) lines.push(text(l)) }
  push('a\nb')
  push('c\n\nd')
  push('e')
  push('\nf')
  const last = s.end()
  t.same(lines, ['a', 'bc', '', 'de'])
  t.equal(text(last), 'f')
  t.equal(s.end(), null)
  const s2 = new LineSplitter()
  t.same(s2.push(utf8('x\n')).map(l => text(l)), ['x'])
  t.equal(s2.end(), null, 'no empty message after a final newline')
  t.equal(indexOfBytes(utf8('a::b::c'), utf8('::')), 1)
  t.equal(indexOfBytes(utf8('a:b'), utf8('::')), -1)
  const kv = splitKey(utf8('user-1::hello::world'), utf8('::'))
  t.equal(text(kv.key), 'user-1')
  t.equal(text(kv.value), 'hello::world')
  t.same(splitKey(utf8('no key'), utf8('\t')).key, null)
})

t.test('cli exit codes and error lines', async t => {
  const unreachable = new BrokerUnreachableError('cannot reach broker at 127.0.0.1:7420 (ECONNREFUSED)')
  t.equal(exitCodeFor(unreachable), 2)
  t.equal(errorLine(unreachable, '127.0.0.1:7420'), 'error: cannot reach broker at 127.0.0.1:7420 (ECONNREFUSED)')
  const unknown = new UnknownTopicOrPartitionError('topic "x" does not exist')
  t.equal(exitCodeFor(unknown), 1)
  t.equal(errorLine(unknown, 'b'), 'error: topic "x" does not exist')
  t.equal(exitCodeFor(new ConnectionError('closed')), 2)
  t.equal(exitCodeFor(new Error('bug')), 1)
})

t.test('helpers and backoff', async t => {
  t.same(json(toJson({ a: [1, 'x'] })), { a: [1, 'x'] })
  t.equal(json(null), null)
  t.equal(text(utf8('ü')), 'ü')
  const options = { retries: 5, initialRetryTimeMs: 100, maxRetryTimeMs: 1000 }
  t.equal(backoffMs(0, options, () => 0.5), 100)
  t.equal(backoffMs(3, options, () => 0.5), 800)
  t.equal(backoffMs(10, options, () => 0.5), 1000, 'capped')
  t.ok(backoffMs(0, options, () => 0) >= 80 && backoffMs(0, options, () => 0.999) <= 120, 'jitter within ±20%')
})

t.test('browser entry: no node: module and no ws anywhere in its import graph', async t => {
  const entry = resolve(here, '../../client/browser.js')
  const seen = new Set<string>()
  const bare = new Set<string>()
  const queue = [entry]
  while (queue.length > 0 && seen.size < 500) {
    const file = queue.pop()!
    if (seen.has(file)) continue
    seen.add(file)
    const source = readFileSync(file, 'utf8')
    const specifiers = [...source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)]
      .map(m => m[1] ?? m[2] ?? m[3]!)
    for (const specifier of specifiers) {
      if (specifier.startsWith('.')) queue.push(resolve(dirname(file), specifier))
      else bare.add(specifier)
    }
  }
  t.ok(seen.size > 10, `walked ${seen.size} modules`)
  const forbidden = [...bare].filter(s => s.startsWith('node:') || s === 'ws' || /^(fs|net|zlib|util|module|path|crypto|buffer|os|stream)$/.test(s))
  t.same(forbidden, [], 'no Node-only imports')
  t.same([...bare].sort(), ['fzstd', 'msgpackr'], 'only msgpackr and the zstd decoder from npm')
  t.notOk([...seen].some(f => f.includes('/broker/') || f.includes('node-tcp') || f.includes('node-codecs')), 'no Node-only client modules, nothing from broker/')
})

t.test('idempotence: sequences wrap at INT32_MAX; batches are stamped at build, in order', async t => {
  t.equal(incrementSequence(0, 5), 5)
  t.equal(incrementSequence(0x7fffffff, 1), 0)
  t.equal(incrementSequence(0x7ffffffe, 3), 1)
  const idem = new Idempotence({ init: async () => ({ producerId: 7, producerEpoch: 0 }), onRenewed: () => {}, maxInFlightPerPartition: 9 })
  await idem.ensure()
  const h = harness(200, 0, (queue, batch) => idem.stamp(queue, batch))
  const q = h.acc.queue('t', 0)
  q.nextSequence = 0x7ffffffe
  const send = h.send(4)
  for (let i = 0; i < 4; i++) h.acc.append(q, { value: value(100), timestamp: 1 }, 121, send, i)
  h.acc.closeAll()
  const headers = q.ready.map(b => readBatchHeader(b.bytes!))
  t.same(headers.map(x => [x.producerId, x.producerEpoch, x.baseSequence, x.recordsCount]), [[7, 0, 0x7ffffffe, 1], [7, 0, 0x7fffffff, 1], [7, 0, 0, 1], [7, 0, 1, 1]])
  t.equal(q.nextSequence, 2)
})

/** An idempotent producer's partition holding `batches` closed batches of one record each (producer id 1). */
async function idempotentQueue (batches: number, maxInFlightPerPartition: number): Promise<{ idem: Idempotence, h: ReturnType<typeof harness>, q: PartitionQueue, gate: (queue: PartitionQueue) => boolean }> {
  const idem = new Idempotence({ init: async () => ({ producerId: 1, producerEpoch: 0 }), onRenewed: () => {}, maxInFlightPerPartition })
  await idem.ensure()
  const h = harness(200, 0, (queue, batch) => idem.stamp(queue, batch))
  const q = h.acc.queue('t', 0)
  const send = h.send(batches)
  for (let i = 0; i < batches; i++) h.acc.append(q, { value: value(100), timestamp: 1 }, 121, send, i)
  h.acc.closeAll()
  return { idem, h, q, gate: queue => idem.gate(queue) }
}

t.test('idempotence: one batch per partition and request, at most 5 in flight, a retry never overtaken', async t => {
  const { idem, h, q, gate } = await idempotentQueue(8, 99)
  const yes = (): boolean => true
  // First contact: the broker may not know this producer on the partition yet, so its first
  // batch goes alone until it is acknowledged.
  const contact = h.acc.take(1_000_000, 0, () => 1, yes, gate)!
  idem.sent(q, contact.entries[0]!.batches[0]!)
  t.equal(h.acc.take(1_000_000, 0, () => 1, yes, gate), null, 'nothing pipelined behind the first batch under an identity')
  idem.answered(q, contact.entries[0]!.batches[0]!)
  idem.acknowledged(q, contact.entries[0]!.batches[0]!)
  const sent = []
  for (;;) {
    const taken = h.acc.take(1_000_000, 0, () => 1, yes, gate)
    if (taken === null) break
    t.equal(taken.entries[0]!.batches.length, 1, 'one batch of the partition per request')
    idem.sent(q, taken.entries[0]!.batches[0]!)
    sent.push(taken.entries[0]!.batches[0]!)
  }
  t.equal(sent.length, 5, 'capped at 5 in flight per partition')
  // The first two fail: the first with a connection error, the second because it lacks the first.
  idem.answered(q, sent[0]!)
  t.equal(idem.classify(q, sent[0]!, new ConnectionError('cut'), 5), 'retry')
  h.acc.requeue(q, [sent[0]!])
  t.equal(h.acc.take(1_000_000, 0, () => 1, yes, gate), null, 'the retried batch waits: later batches are in flight')
  idem.answered(q, sent[1]!)
  t.equal(idem.classify(q, sent[1]!, new OutOfOrderSequenceError('gap'), 5), 'requeue', 'a sequence error behind a pending batch is retried')
  h.acc.requeue(q, [sent[1]!])
  t.same(q.ready.map(b => b.order), [1, 2, 6, 7], 'requeued in creation order')
  for (const b of sent.slice(2)) idem.answered(q, b)
  const again = h.acc.take(1_000_000, 0, () => 1, yes, gate)!
  t.equal(again.entries[0]!.batches[0], sent[0], 'once nothing later is in flight, the first goes again')
  t.equal(readBatchHeader(sent[0]!.bytes!).baseSequence, 1, 'with its original sequence')
  idem.sent(q, sent[0]!)
  idem.answered(q, sent[0]!)
  t.equal(idem.classify(q, sent[0]!, new InvalidRecordError('bad'), 5), 'fail', 'a non-retriable error fails the batch')
})

t.test('idempotence: a batch refused for its sequence waits for the earlier batch in flight instead of burning its retries', async t => {
  // Campaign finding (the chaos test): after a leader change the earlier batch was still on
  // its way to the old leader; the later ones, refused by the new leader, were sent again at
  // once, ran out of sequence retries within milliseconds and failed for good.
  const { idem, h, q, gate } = await idempotentQueue(4, 5)
  const take = (): ReturnType<typeof h.acc.take> => h.acc.take(1_000_000, 0, () => 1, () => true, gate)
  const first = take()!.entries[0]!.batches[0]!
  idem.sent(q, first)
  idem.answered(q, first)
  idem.acknowledged(q, first)
  const earlier = take()!.entries[0]!.batches[0]!
  idem.sent(q, earlier)
  const later = take()!.entries[0]!.batches[0]!
  idem.sent(q, later)
  idem.answered(q, later)
  t.equal(idem.classify(q, later, new OutOfOrderSequenceError('gap'), 5), 'requeue')
  h.acc.requeue(q, [later])
  t.equal(take(), null, 'held while the earlier batch is unanswered')
  t.equal(later.sequenceRetries, 1, 'one sequence retry used, not ten')
  idem.answered(q, earlier)
  idem.acknowledged(q, earlier)
  t.equal(take()!.entries[0]!.batches[0], later, 'sent again once the earlier one is answered')
})

t.test('idempotence: a restart re-stamps the queued batches under a fresh id from sequence 0', async t => {
  let next = 1
  const renewed: number[] = []
  const idem = new Idempotence({ init: async () => ({ producerId: next++, producerEpoch: 0 }), onRenewed: (_err, qs) => renewed.push(qs.length), maxInFlightPerPartition: 5 })
  await idem.ensure()
  const h = harness(200, 0, (queue, batch) => idem.stamp(queue, batch))
  const q = h.acc.queue('t', 0)
  const send = h.send(3)
  for (let i = 0; i < 3; i++) h.acc.append(q, { value: value(100), timestamp: 1 }, 121, send, i)
  h.acc.closeAll()
  const failed = h.acc.take(1_000_000, 0, () => 1, () => true, queue => idem.gate(queue))!.entries[0]!.batches[0]!
  idem.sent(q, failed)
  idem.answered(q, failed)
  idem.restart(q)
  t.equal(idem.gate(q), false, 'held until a fresh id arrives')
  await new Promise(resolve => setImmediate(resolve))
  t.same(renewed, [1])
  t.equal(idem.gate(q), true)
  t.same(q.ready.map(b => readBatchHeader(b.bytes!)).map(x => [x.producerId, x.baseSequence]), [[2, 0], [2, 1]])
  for (const b of q.ready) t.doesNotThrow(() => validateBatch(b.bytes!), 'the CRC was recomputed')
  t.equal(q.nextSequence, 2)
  const take = (): ReturnType<typeof h.acc.take> => h.acc.take(1_000_000, 0, () => 1, () => true, queue => idem.gate(queue))
  const first = take()!.entries[0]!.batches[0]!
  idem.sent(q, first)
  t.equal(take(), null, 'under the fresh id the first batch goes alone')
  idem.answered(q, first)
  idem.acknowledged(q, first)
  idem.sent(q, take()!.entries[0]!.batches[0]!)
  t.equal(q.inFlight.length, 1, 'then the next one goes')
})
