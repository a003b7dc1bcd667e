// Property tests of the record encode/decode fast paths the SDK uses: the batch builder
// (cached header-key UTF-8, building into a reused dirty buffer), the producer's string
// encoding into shared blocks (protocol/bytes/utf8.ts), the varint reader's one-byte
// fast path, and the record decoder's reuse of header-key strings. Each is checked
// against a plain reference written here from docs/formats.md §1.4 (TextEncoder per string,
// a fresh buffer, byte-by-byte varints), which is what the encoding was before: the bytes
// must be identical, and decoding must give back exactly what was sent.
import t from 'tap'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { RecordBatchBuilder, decodeBatch, walkRecords, type RecordHeader, type RecordInput } from '../../protocol/record-batch/records.js'
import { BATCH_HEADER_SIZE } from '../../protocol/record-batch/header.js'
import { VarintCursor, writeVarint, writeVarlong } from '../../protocol/bytes/varint.js'
import { encodeUtf8 } from '../../protocol/bytes/utf8.js'
import { toRecordInput, type ProducerMessage } from '../../client/producer-message.js'

const SEED = 20261202
const encoder = new TextEncoder()

/** Zigzag varint, written the slow obvious way (for 32-bit ints). */
function refVarint (value: number): number[] {
  let v = ((value << 1) ^ (value >> 31)) >>> 0
  const out: number[] = []
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80)
    v >>>= 7
  }
  out.push(v)
  return out
}

/** One record's bytes as docs/formats.md §1.4 gives them (timestampDelta and offsetDelta small). */
function refRecord (r: RecordInput, timestampDelta: number, offsetDelta: number): number[] {
  const body: number[] = [0, ...refVarint(timestampDelta), ...refVarint(offsetDelta)]
  const field = (b: Uint8Array | null | undefined): void => {
    if (b === null || b === undefined) body.push(...refVarint(-1))
    else body.push(...refVarint(b.length), ...b)
  }
  field(r.key)
  field(r.value)
  const headers = r.headers ?? []
  body.push(...refVarint(headers.length))
  for (const h of headers) {
    field(encoder.encode(h.key))
    field(h.value)
  }
  return [...refVarint(body.length), ...body]
}

const bytes = fc.uint8Array({ maxLength: 300 })
const maybeBytes = fc.option(bytes, { nil: null })
// Header keys: ASCII, full unicode (incl. astral and lone surrogates), and a few repeated names.
const headerKey = fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: 'grapheme', maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom('trace-id', 'content-type', 'é', '🚀'))
const header = fc.record({ key: headerKey, value: maybeBytes })
const recordInput = fc.record({ key: maybeBytes, value: maybeBytes, headers: fc.array(header, { maxLength: 5 }) })
const records = fc.array(recordInput, { minLength: 1, maxLength: 40 })

function decodeAll (batch: Uint8Array): Array<{ offset: number, key: Uint8Array | null, value: Uint8Array | null, headers: RecordHeader[] }> {
  return decodeBatch(batch).records.map(r => ({ offset: r.offset, key: r.key, value: r.value, headers: r.headers }))
}

const asArray = (b: Uint8Array | null | undefined): number[] | null => b === null || b === undefined ? null : [...b]

t.test('builder: records are byte-identical to the reference encoding, and decode back to the input', async t => {
  fc.assert(fc.property(records, rs => {
    const builder = new RecordBatchBuilder(1024, () => 1_700_000_000_000)
    for (const r of rs) builder.append(r)
    const batch = builder.build()
    const expected: number[] = []
    rs.forEach((r, i) => expected.push(...refRecord(r, 0, i)))
    assert.deepEqual([...batch.subarray(BATCH_HEADER_SIZE)], expected)
    const decoded = decodeAll(batch)
    assert.equal(decoded.length, rs.length)
    decoded.forEach((d, i) => {
      const r = rs[i]!
      assert.equal(d.offset, i)
      assert.deepEqual(asArray(d.key), asArray(r.key))
      assert.deepEqual(asArray(d.value), asArray(r.value))
      // A decoded key is the UTF-8 round trip of the key sent (lone surrogates become U+FFFD).
      assert.deepEqual(d.headers.map(h => [h.key, asArray(h.value)]), r.headers.map(h => [new TextDecoder().decode(encoder.encode(h.key)), asArray(h.value)]))
    })
  }), { seed: SEED, numRuns: 300 })
  t.pass('300 cases')
})

t.test('builder: building into a reused dirty buffer gives the same bytes as a fresh one', async t => {
  fc.assert(fc.property(records, fc.integer({ min: 0, max: 255 }), (rs, fill) => {
    const fresh = new RecordBatchBuilder(64, () => 5)
    const reused = new RecordBatchBuilder(64, () => 5, new Uint8Array(4096).fill(fill))
    for (const r of rs) {
      fresh.append(r)
      reused.append(r)
    }
    assert.deepEqual([...reused.build({ baseOffset: 7 })], [...fresh.build({ baseOffset: 7 })])
  }), { seed: SEED, numRuns: 200 })
  t.pass('200 cases')
})

t.test('encodeUtf8: the same bytes as TextEncoder, for short and large strings, and earlier views stay intact', async t => {
  const strings = fc.array(fc.oneof(fc.string({ maxLength: 50 }), fc.string({ unit: 'grapheme', maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ minLength: 5000, maxLength: 30000 })), { maxLength: 60 })
  fc.assert(fc.property(strings, ss => {
    const views = ss.map(s => encodeUtf8(s))
    ss.forEach((s, i) => assert.deepEqual([...views[i]!], [...encoder.encode(s)]))
  }), { seed: SEED, numRuns: 200 })
  t.pass('200 cases')
  // Fill many blocks: every view still holds its own string's bytes afterwards.
  const many = Array.from({ length: 5000 }, (_, i) => `value ${i} ${'ü'.repeat(i % 90)}`)
  const views = many.map(s => encodeUtf8(s))
  t.ok(many.every((s, i) => Buffer.from(views[i]!).toString('utf8') === s), '5,000 strings across several blocks')
})

t.test('toRecordInput: string keys, values and header values encode as before (TextEncoder)', async t => {
  const value = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 100 }), bytes, fc.constant(null))
  const message = fc.record({
    key: fc.option(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), bytes), { nil: null }),
    value,
    headers: fc.dictionary(fc.string({ maxLength: 10 }), value, { maxKeys: 4 }),
  })
  const ref = (v: string | Uint8Array | null): number[] | null => v === null ? null : typeof v === 'string' ? [...encoder.encode(v)] : [...v]
  fc.assert(fc.property(message, m => {
    const input = toRecordInput(m as ProducerMessage)
    assert.deepEqual(asArray(input.key), ref(m.key))
    assert.deepEqual(asArray(input.value), ref(m.value))
    assert.deepEqual(input.headers!.map(h => [h.key, asArray(h.value)]), Object.entries(m.headers).map(([k, v]) => [k, ref(v)]))
  }), { seed: SEED, numRuns: 300 })
  t.pass('300 cases')
})

t.test('VarintCursor: fast paths read what writeVarint/writeVarlong wrote, at any position up to the end', async t => {
  fc.assert(fc.property(fc.array(fc.oneof(fc.integer({ min: -200, max: 200 }), fc.integer({ min: -10000, max: 10000 }), fc.integer()), { minLength: 1, maxLength: 30 }), values => {
    const buf = new Uint8Array(values.length * 10)
    let end = 0
    for (const v of values) end = writeVarint(buf, end, v)
    const cursor = new VarintCursor(buf, 0, end)
    assert.deepEqual(values.map(() => cursor.varint()), values)
    assert.equal(cursor.pos, end)
    assert.throws(() => cursor.varint(), { name: 'CorruptRecordError' })
    let lend = 0
    for (const v of values) lend = writeVarlong(buf, lend, v * 1000)
    const longs = new VarintCursor(buf, 0, lend)
    assert.deepEqual(values.map(() => longs.varlong()), values.map(v => v * 1000 + 0)) // + 0: -0 reads as 0
  }), { seed: SEED, numRuns: 300 })
  t.pass('300 cases')
  // A varint cut by the end of the input is refused, not read past it.
  const cut = new Uint8Array([0x80, 0x80, 0x01])
  t.throws(() => new VarintCursor(cut, 0, 1).varint(), { name: 'CorruptRecordError' })
  t.throws(() => new VarintCursor(cut, 0, 2).varint(), { name: 'CorruptRecordError' })
  t.equal(new VarintCursor(cut, 0, 3).varint(), 8192)
})

t.test('walkRecords: header keys reused across records are the same strings, and a changed key is not', async t => {
  const builder = new RecordBatchBuilder()
  const v = new Uint8Array([1])
  builder.append({ value: v, headers: [{ key: 'a', value: v }, { key: 'bb', value: null }] })
  builder.append({ value: v, headers: [{ key: 'a', value: v }, { key: 'bc', value: v }, { key: 'ü', value: v }] })
  builder.append({ value: v, headers: [{ key: 'b', value: v }] })
  builder.append({ value: v, headers: [{ key: 'a', value: v }, { key: 'bc', value: v }, { key: 'ü', value: v }] })
  const batch = builder.build()
  const keys: string[][] = []
  walkRecords(batch, BATCH_HEADER_SIZE, batch.length, 4, 0, 0, 0, (_o, _ts, _k, _v, headers) => { keys.push(headers.map(h => h.key)) })
  t.same(keys, [['a', 'bb'], ['a', 'bc', 'ü'], ['b'], ['a', 'bc', 'ü']])
})
