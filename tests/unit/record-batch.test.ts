// RecordBatch v2: the worked example from docs/formats.md §1.8 byte for byte, round
// trips (plain and gzip), and header validation that names every kind of bad batch.
import t from 'tap'
import {
  RecordBatchBuilder, decodeBatch, decodeBatchAsync, encodeBatch, encodeBatchCompressed, forEachBatch,
} from '../../protocol/record-batch/records.js'
import {
  BATCH_HEADER_SIZE, Compression, OFFSET_CRC, OFFSET_MAGIC, OFFSET_RECORDS_COUNT, OFFSET_LAST_OFFSET_DELTA,
  readBatchHeader, setBaseOffset, updateCrc, validateBatch, validateBatches, OFFSET_ATTRIBUTES, setPartitionLeaderEpoch,
} from '../../protocol/record-batch/header.js'
import { registerCompressionCodec, compressionCodec } from '../../protocol/record-batch/compression.js'
import {
  CorruptRecordError, InvalidRecordError, MessageTooLargeError, UnsupportedCompressionTypeError,
} from '../../protocol/errors.js'
import { hex, text, utf8 } from '../helpers/bytes.js'

const GOLDEN = hex('0000000000000000 00000046 ffffffff 02 15dd06f6 0000 00000000 0000018bcfe56800 0000018bcfe56800 ffffffffffffffff ffff ffffffff 00000001 28 00 00 00 06 6b6579 0a 76616c7565 02 04 686b 04 6876')

t.test('golden batch: encoder output is byte-identical to the verified example', async t => {
  const batch = encodeBatch([{ key: utf8('key'), value: utf8('value'), headers: [{ key: 'hk', value: utf8('hv') }], timestamp: 1700000000000 }])
  t.equal(batch.length, 82)
  t.same(Buffer.from(batch).toString('hex'), Buffer.from(GOLDEN).toString('hex'))
})

t.test('golden batch: decodes and validates; baseOffset rewrite keeps the CRC valid', async t => {
  const copy = GOLDEN.slice()
  const header = validateBatch(copy)
  t.equal(header.crc, 0x15dd06f6)
  t.equal(header.recordsCount, 1)
  setBaseOffset(copy, 0, 42)
  setPartitionLeaderEpoch(copy, 0, 0)
  validateBatch(copy)
  const { records } = decodeBatch(copy)
  t.equal(records.length, 1)
  t.equal(records[0]!.offset, 42)
  t.equal(records[0]!.timestamp, 1700000000000)
  t.equal(text(records[0]!.key), 'key')
  t.equal(text(records[0]!.value), 'value')
  t.same(records[0]!.headers.map(h => [h.key, text(h.value)]), [['hk', 'hv']])
})

t.test('round trip: many records, null keys and values, headers, producer fields', async t => {
  const builder = new RecordBatchBuilder(64)
  const now = 1_700_000_000_000
  for (let i = 0; i < 500; i++) {
    builder.append({
      key: i % 3 === 0 ? null : utf8(`k${i}`),
      value: i % 7 === 0 ? null : utf8('v'.repeat(i % 300)),
      headers: i % 5 === 0 ? [{ key: 'h', value: utf8(String(i)) }, { key: 'n', value: null }] : [],
      timestamp: now + (i % 11) * 1000 - 3000,
    })
  }
  const batch = builder.build({ producerId: 7, producerEpoch: 2, baseSequence: 100, baseOffset: 1000 })
  const header = validateBatch(batch)
  t.equal(header.recordsCount, 500)
  t.equal(header.lastOffsetDelta, 499)
  t.equal(header.producerId, 7)
  t.equal(header.producerEpoch, 2)
  t.equal(header.baseSequence, 100)
  t.equal(header.baseTimestamp, now - 3000)
  t.equal(header.maxTimestamp, now + 7000)
  const { records } = decodeBatch(batch)
  let bad = 0
  records.forEach((r, i) => {
    const ok = r.offset === 1000 + i &&
      (i % 3 === 0 ? r.key === null : text(r.key) === `k${i}`) &&
      (i % 7 === 0 ? r.value === null : text(r.value) === 'v'.repeat(i % 300)) &&
      r.timestamp === now + (i % 11) * 1000 - 3000 &&
      r.headers.length === (i % 5 === 0 ? 2 : 0)
    if (!ok) bad++
  })
  t.equal(bad, 0)
})

t.test('gzip round trip (web CompressionStream codec)', async t => {
  const records = Array.from({ length: 100 }, (_, i) => ({ key: utf8(`k${i}`), value: utf8(`value-${i}-`.repeat(10)), timestamp: 1 + i }))
  const batch = await encodeBatchCompressed(records, Compression.gzip)
  const header = validateBatch(batch)
  t.equal(header.attributes & 7, Compression.gzip)
  t.ok(batch.length < encodeBatch(records).length / 2, 'compressed is smaller')
  t.throws(() => decodeBatch(batch), CorruptRecordError, 'sync decode refuses compressed')
  const decoded = await decodeBatchAsync(batch)
  t.same(decoded.records.map(r => text(r.value)), records.map(r => text(r.value)))
  await t.rejects(decodeBatchAsync(batch, 0, 100), MessageTooLargeError, 'decompression is bounded')
})

t.test('unknown codecs are named errors', async t => {
  t.throws(() => compressionCodec(Compression.zstd), UnsupportedCompressionTypeError)
  const batch = encodeBatch([{ value: utf8('x') }])
  batch[OFFSET_ATTRIBUTES + 1] = 7
  updateCrc(batch, 0, batch.length)
  t.throws(() => validateBatch(batch), UnsupportedCompressionTypeError)
  // A registered codec is used.
  registerCompressionCodec(Compression.snappy, { compress: async d => d.slice().reverse(), decompress: async d => d.slice().reverse() })
  const s = await encodeBatchCompressed([{ value: utf8('abc') }], Compression.snappy)
  t.equal(text((await decodeBatchAsync(s)).records[0]!.value), 'abc')
  // Records flagged gzip that are not gzip: a named error, not the stream's own.
  const fake = encodeBatch([{ value: utf8('x') }])
  fake[OFFSET_ATTRIBUTES + 1] = Compression.gzip
  updateCrc(fake, 0, fake.length)
  await t.rejects(decodeBatchAsync(fake), CorruptRecordError, 'not gzip inside')
})

t.test('validation names every bad batch', async t => {
  const good = encodeBatch([{ value: utf8('a') }, { value: utf8('bb') }, { value: utf8('ccc') }])
  validateBatch(good)

  const badCrc = good.slice()
  badCrc[good.length - 1] ^= 0xff
  t.throws(() => validateBatch(badCrc), CorruptRecordError, 'wrong CRC')

  const badMagic = good.slice()
  badMagic[OFFSET_MAGIC] = 1
  t.throws(() => validateBatch(badMagic), CorruptRecordError, 'wrong magic')

  t.throws(() => validateBatch(good.subarray(0, good.length - 1)), CorruptRecordError, 'length disagrees (short)')
  const long = new Uint8Array(good.length + 3)
  long.set(good)
  t.throws(() => validateBatch(long), CorruptRecordError, 'length disagrees (long)')
  t.throws(() => validateBatch(good.subarray(0, 30)), CorruptRecordError, 'shorter than a header')

  const badCount = good.slice()
  new DataView(badCount.buffer).setInt32(OFFSET_RECORDS_COUNT, 4)
  new DataView(badCount.buffer).setInt32(OFFSET_LAST_OFFSET_DELTA, 3)
  updateCrc(badCount, 0, badCount.length)
  t.throws(() => validateBatch(badCount), InvalidRecordError, 'record count disagrees with the records')

  const badDelta = good.slice()
  new DataView(badDelta.buffer).setInt32(OFFSET_LAST_OFFSET_DELTA, 5)
  updateCrc(badDelta, 0, badDelta.length)
  t.throws(() => validateBatch(badDelta), InvalidRecordError, 'lastOffsetDelta disagrees with count')

  t.throws(() => validateBatch(good, 0, good.length, { maxBatchBytes: 50 }), MessageTooLargeError, 'over the size limit')

  const control = good.slice()
  control[OFFSET_ATTRIBUTES + 1] = 0x20
  updateCrc(control, 0, control.length)
  t.throws(() => validateBatch(control), InvalidRecordError, 'control batch from a client')

  const noSeq = encodeBatch([{ value: utf8('a') }], { producerId: 5, producerEpoch: 0, baseSequence: -1 })
  t.throws(() => validateBatch(noSeq), InvalidRecordError, 'idempotent batch without a sequence')
  t.equal(badCrc[OFFSET_CRC], good[OFFSET_CRC], 'validation never changes the bytes')
})

/** A batch whose records section is `records` as given (header fields and CRC made to fit). */
function batchWithRecords (records: Uint8Array, count: number): Uint8Array {
  const shell = encodeBatch([{ value: utf8('x') }])
  const out = new Uint8Array(BATCH_HEADER_SIZE + records.length)
  out.set(shell.subarray(0, BATCH_HEADER_SIZE))
  out.set(records, BATCH_HEADER_SIZE)
  const v = new DataView(out.buffer)
  v.setInt32(8, out.length - 12)
  v.setInt32(OFFSET_RECORDS_COUNT, count)
  v.setInt32(OFFSET_LAST_OFFSET_DELTA, count - 1)
  updateCrc(out, 0, out.length)
  return out
}

t.test('the record walk refuses records no reader could decode (CRC and counts right)', async t => {
  // One record: length 6, attributes 0, timestampDelta 0, offsetDelta 0, key null (-1 → 0x01), value len 0, 0 headers
  const ok = hex('0c 00 00 00 01 00 00')
  validateBatch(batchWithRecords(ok, 1))
  const cases: Array<[string, Uint8Array, number, new (...a: never[]) => Error]> = [
    ['garbage record fields', hex('0c ff ff ff ff ff ff'), 1, CorruptRecordError],
    ['offsetDelta not its index', hex('0c 00 00 7e 01 00 00'), 1, InvalidRecordError],
    ['key length below -1', hex('0c 00 00 00 03 00 00'), 1, CorruptRecordError],
    ['fields shorter than the record length', hex('0e 00 00 00 01 00 00 00'), 1, CorruptRecordError],
    ['fields longer than the record length', hex('0a 00 00 00 01 00 00'), 1, CorruptRecordError],
    ['a header with a null key', hex('10 00 00 00 01 00 02 01 00'), 1, CorruptRecordError],
    ['second record with offsetDelta 0', hex('0c 00 00 00 01 00 00 0c 00 00 00 01 00 00'), 2, InvalidRecordError],
  ]
  for (const [name, records, count, errorClass] of cases) {
    t.throws(() => validateBatch(batchWithRecords(records, count)), errorClass, name)
  }
  const keyed = encodeBatch([{ key: utf8('k'), value: utf8('v') }, { key: null, value: utf8('v') }])
  validateBatch(keyed)
  t.throws(() => validateBatch(keyed, 0, keyed.length, { requireKeys: true }), InvalidRecordError, 'requireKeys: a null key')
})

t.test('with a decompressor, compressed records are walked too', async t => {
  const gz = await encodeBatchCompressed([{ value: utf8('a') }, { value: utf8('b') }], Compression.gzip)
  const plainInside = (): Uint8Array => hex('0c 00 00 00 01 00 00 0c 00 00 02 01 00 00')
  let seen = 0
  validateBatch(gz, 0, gz.length, { decompress: () => { seen++; return plainInside() } })
  t.equal(seen, 1, 'the decompressor was asked')
  t.throws(() => validateBatch(gz, 0, gz.length, { decompress: () => hex('0c ff ff ff ff ff ff') }), CorruptRecordError, 'bad records inside')
  t.throws(() => validateBatch(gz, 0, gz.length, { decompress: () => plainInside().subarray(0, 7) }), InvalidRecordError, 'fewer records inside than the count')
})

t.test('validateBatches walks a payload of several batches and rejects trailing junk', async t => {
  const a = encodeBatch([{ value: utf8('a') }])
  const b = encodeBatch([{ value: utf8('b') }, { value: utf8('c') }])
  const both = new Uint8Array(a.length + b.length)
  both.set(a)
  both.set(b, a.length)
  t.same(validateBatches(both).map(h => h.recordsCount), [1, 2])
  const junk = new Uint8Array(both.length + 5)
  junk.set(both)
  t.throws(() => validateBatches(junk), CorruptRecordError)
  t.throws(() => validateBatches(new Uint8Array(0)), InvalidRecordError)
  const sizes: number[] = []
  t.equal(forEachBatch(junk, (_pos, size) => sizes.push(size)), both.length)
  t.same(sizes, [a.length, b.length])
})

t.test('random mutations never crash the validator or decoder: named errors only', async t => {
  const base = encodeBatch(Array.from({ length: 20 }, (_, i) => ({ key: utf8(`k${i}`), value: utf8(`v${i}`), headers: [{ key: 'x', value: utf8('y') }] })))
  let seed = 12345
  const next = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff)
  let unnamed = 0
  for (let i = 0; i < 2000; i++) {
    const m = base.slice()
    const flips = 1 + (next() % 4)
    for (let f = 0; f < flips; f++) m[next() % m.length] = next() & 0xff
    // Skip CRC to exercise the record walker too on half of the cases.
    if (i % 2 === 0 && m.length >= BATCH_HEADER_SIZE) updateCrc(m, 0, m.length)
    for (const fn of [() => validateBatch(m), () => decodeBatch(m)]) {
      try { fn() } catch (err) {
        if (!(err instanceof CorruptRecordError || err instanceof InvalidRecordError || err instanceof UnsupportedCompressionTypeError || err instanceof MessageTooLargeError)) unnamed++
      }
    }
  }
  t.equal(unnamed, 0)
  t.equal(readBatchHeader(base).recordsCount, 20)
})
