// Every Kafka compression codec (gzip, snappy raw and xerial-framed, lz4 frames, zstd) in
// every implementation Spool has: the browser set (CompressionStream gzip, pure TS
// snappy/lz4, fzstd), the pure Node set (what an install without the optional native
// packages runs) and the best Node set (native snappy, lz4-napi, zlib or zstd-napi zstd).
// Proves: round trips and cross-implementation reads; golden batches written by real
// clients (librdkafka, kafka-python) decode to the records they were given and append to a
// real partition log unchanged; every decompression is bounded by maxBytes (also against
// headers that lie) and fails only with CorruptRecordError or MessageTooLargeError on random
// and mutated input (fast-check); format details (xerial detection, LZ4 checksums and block
// linking, zstd window limit, concatenated and skippable frames).
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as zlib from 'node:zlib'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import { decompressForCheck } from '../../broker/storage/append-checks.js'
import { installBrowserCodecs } from '../../platform/browser-codecs.js'
import { bestNodeCodecs, pureNodeCodecs, type NodeCodecSet } from '../../platform/node-codecs.js'
import { CorruptRecordError, InvalidRecordError, MessageTooLargeError, UnsupportedCompressionTypeError } from '../../protocol/errors.js'
import { canCompress, compressionCodec } from '../../protocol/record-batch/compression.js'
import {
  BATCH_HEADER_SIZE, Compression, OFFSET_ATTRIBUTES, readBatchHeader, updateCrc, validateBatch, type CompressionCode,
} from '../../protocol/record-batch/header.js'
import { lz4Decode, lz4Encode } from '../../protocol/record-batch/lz4.js'
import { decodeBatchAsync, encodeBatchCompressed, type DecodedRecord } from '../../protocol/record-batch/records.js'
import { XERIAL_MAGIC, isXerialSnappy, snappyDecode, snappyDecodeRaw, snappyEncodeFramed, snappyEncodeRaw } from '../../protocol/record-batch/snappy.js'
import { xxhash32 } from '../../protocol/record-batch/xxhash32.js'
import { openLog, readAllRecords, tempDir } from '../helpers/storage.js'

installBrowserCodecs()

const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), '../../../tests/fixtures/record-batches')
const CODECS = [Compression.gzip, Compression.snappy, Compression.lz4, Compression.zstd] as const
const NAMES: Record<number, string> = { 1: 'gzip', 2: 'snappy', 3: 'lz4', 4: 'zstd' }
const MAX = 1 << 20

/** One codec implementation, seen through promises so the sync and async ones test alike. */
interface Impl {
  label: string
  code: CompressionCode
  compress: ((data: Uint8Array) => Promise<Uint8Array>) | null
  decompress: (data: Uint8Array, maxBytes: number) => Promise<Uint8Array>
}

function fromSet (setName: string, set: NodeCodecSet): Impl[] {
  const out: Impl[] = []
  for (const [code, codec] of set) {
    const compress = codec.compressSync
    out.push({
      label: `${setName} ${NAMES[code]} sync (${codec.implementation})`,
      code,
      compress: compress === null ? null : async d => compress(d),
      decompress: async (d, max) => codec.decompressSync(d, max),
    })
    out.push({
      label: `${setName} ${NAMES[code]} async (${codec.implementation})`,
      code,
      compress: compress === null ? null : d => codec.compress(d),
      decompress: (d, max) => codec.decompress(d, max),
    })
  }
  return out
}

const pureSet = pureNodeCodecs()
const bestSet = bestNodeCodecs()
const browserImpls: Impl[] = CODECS.map(code => ({
  label: `browser ${NAMES[code]}`,
  code,
  compress: canCompress(code) ? d => compressionCodec(code).compress(d) : null,
  decompress: (d, max) => compressionCodec(code).decompress(d, max),
}))
const IMPLS: Impl[] = [...browserImpls, ...fromSet('pure', pureSet), ...fromSet('best', bestSet)]
const implsFor = (code: number): Impl[] => IMPLS.filter(i => i.code === code)
/** A compressor for each code (zstd: the native one; browsers and the pure set only read it). */
const encoderFor = (code: number): ((d: Uint8Array) => Uint8Array) => bestSet.get(code as CompressionCode)!.compressSync!

const eq = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

function pseudoRandom (n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed >>> 0
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    out[i] = x >>> 24
  }
  return out
}

const rows = (n: number): Uint8Array => utf8(Array.from({ length: n }, (_, i) => `row-${i}|status=${i % 5 === 0 ? 'late' : 'ok'};`).join(''))
const INPUTS: Array<[string, Uint8Array]> = [
  ['empty', new Uint8Array(0)],
  ['one byte', Uint8Array.of(7)],
  ['short text', utf8('hello hello hello hello hello')],
  ['random 70 KB (incompressible)', pseudoRandom(70_000, 1)],
  ['zeros 200 KB', new Uint8Array(200_000)],
  ['text 300 KB', rows(15_000)],
  ['exactly 32 KiB', rows(3000).subarray(0, 32 * 1024)],
  ['exactly 64 KiB + 1', rows(6000).subarray(0, 64 * 1024 + 1)],
]

/** Resolves to 'ok' (and checks the bound) or the name of the error class; anything else fails. */
async function outcome (impl: Impl, data: Uint8Array, maxBytes: number): Promise<string> {
  try {
    const out = await impl.decompress(data, maxBytes)
    if (!(out instanceof Uint8Array)) return 'not a Uint8Array'
    if (out.length > maxBytes) return `output ${out.length} exceeds ${maxBytes}`
    return 'ok'
  } catch (err) {
    if (err instanceof CorruptRecordError || err instanceof MessageTooLargeError) return err.constructor.name
    return `unnamed ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`
  }
}

t.test('implementations: native where installed, pure fallbacks, zstd from zlib when this Node has it', async t => {
  t.match(bestSet.get(Compression.snappy)!.implementation, /^snappy 7\.4\.3 \(native\)$/)
  t.match(bestSet.get(Compression.lz4)!.implementation, /^lz4-napi 2\.10\.0 \(native compress, TS decompress\)$/)
  const hasZlibZstd = typeof (zlib as unknown as { zstdCompressSync?: unknown }).zstdCompressSync === 'function'
  t.match(bestSet.get(Compression.zstd)!.implementation, hasZlibZstd ? /^node:zlib zstd/ : /^zstd-napi 0\.0\.13 \(native\)$/, `feature detection picks ${hasZlibZstd ? 'zlib' : 'zstd-napi'}`)
  t.match(pureSet.get(Compression.snappy)!.implementation, /pure TS/)
  t.match(pureSet.get(Compression.lz4)!.implementation, /pure TS/)
  t.match(pureSet.get(Compression.zstd)!.implementation, /fzstd/)
  t.equal(pureSet.get(Compression.zstd)!.compressSync, null, 'no pure zstd encoder')
  t.same(CODECS.map(c => canCompress(c)), [true, true, true, false], 'the browser set writes gzip, snappy, lz4 and reads zstd')
  t.ok(canCompress(Compression.none))
  t.notOk(canCompress(5))
  await t.rejects(compressionCodec(Compression.zstd).compress(utf8('x')), UnsupportedCompressionTypeError)
  t.throws(() => compressionCodec(6), UnsupportedCompressionTypeError)
})

t.test('xxHash32 matches the reference vectors', async t => {
  t.equal(xxhash32(new Uint8Array(0)), 0x02cc5d05)
  t.equal(xxhash32(utf8('abc')), 0x32d153ff)
  t.equal(xxhash32(utf8('Nobody inspects the spammish repetition')), 0xe2293b2f)
  t.equal(xxhash32(utf8('abc'), 0, 3, 1), xxhash32(utf8('xabc'), 1, 4, 1), 'range and seed')
})

t.test('round trips: every encoder\'s output is read by every implementation of its codec', async t => {
  for (const code of CODECS) {
    const encoders = implsFor(code).filter(i => i.compress !== null)
    t.ok(encoders.length >= 2, `${NAMES[code]}: ${encoders.length} encoders`)
    for (const [what, input] of INPUTS) {
      for (const enc of encoders) {
        const compressed = await enc.compress!(input)
        const failures: string[] = []
        for (const dec of implsFor(code)) {
          const out = await dec.decompress(compressed, MAX).catch((err: Error) => err)
          if (out instanceof Error || !eq(out, input)) failures.push(`${dec.label}: ${out instanceof Error ? out.message : 'different bytes'}`)
        }
        t.same(failures, [], `${what}, written by ${enc.label}`)
      }
    }
  }
})

t.test('encoders: snappy is written xerial-framed (as Java), lz4 as independent 64 KiB blocks without checksums', async t => {
  const input = rows(10_000)
  for (const enc of implsFor(Compression.snappy).filter(i => i.compress !== null)) {
    const out = await enc.compress!(input)
    t.ok(isXerialSnappy(out), `${enc.label}: xerial magic`)
    t.equal(new DataView(out.buffer, out.byteOffset).getInt32(8), 1, 'version 1')
  }
  const lz = lz4Encode(input)
  t.same([...lz.subarray(0, 6)], [0x04, 0x22, 0x4d, 0x18, 0x60, 0x40], 'magic, FLG 0x60, BD 0x40')
  t.ok(snappyEncodeRaw(input).length < input.length / 2, 'snappy compresses text')
  t.ok(lz.length < input.length / 2, 'lz4 compresses text')
})

interface Expected { producer: string, codec: string, records: Array<{ key: string | null, value?: string, valueLength?: number, valueSha256?: string, headers: Array<[string, string]> }> }
const expected = JSON.parse(readFileSync(resolve(FIXTURES, 'expected.json'), 'utf8')) as Record<string, Expected>
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(resolve(FIXTURES, name)))
const payloadOf = (batch: Uint8Array): Uint8Array => batch.subarray(BATCH_HEADER_SIZE)

function checkRecords (t: Test, records: DecodedRecord[], want: Expected, what: string): void {
  const text = (b: Uint8Array | null): string | null => (b === null ? null : Buffer.from(b).toString('utf8'))
  t.same(records.map(r => r.offset), want.records.map((_, i) => i), `${what}: offsets`)
  t.same(records.map(r => text(r.key)), want.records.map(r => r.key), `${what}: keys`)
  t.same(records.map(r => r.headers.map(h => [h.key, text(h.value)])), want.records.map(r => r.headers), `${what}: headers`)
  t.same(records.map(r => r.value === null ? null : (r.value.length <= 200 ? text(r.value) : `${r.value.length}:${createHash('sha256').update(r.value).digest('hex')}`)),
    want.records.map(r => r.value ?? `${r.valueLength}:${r.valueSha256}`), `${what}: values`)
}

t.test('golden batches from real clients decode to their records with every implementation', async t => {
  const names = Object.keys(expected)
  t.equal(names.length, 8, 'librdkafka and kafka-python, four codecs each')
  for (const name of names) {
    const want = expected[name]!
    const batch = fixture(name)
    const header = validateBatch(batch)
    t.equal(header.attributes & 7, Compression[want.codec as 'gzip'], `${name}: codec bits`)
    t.equal(header.recordsCount, want.records.length)
    checkRecords(t, (await decodeBatchAsync(batch, 0, MAX)).records, want, `${name} via the registry (browser set)`)
    for (const [setName, set] of [['pure', pureSet], ['best', bestSet]] as const) {
      const codec = set.get((header.attributes & 7) as CompressionCode)!
      validateBatch(batch, 0, batch.length, { decompress: (_c, bytes) => codec.decompressSync(bytes, MAX) })
      const plain = codec.decompressSync(payloadOf(batch), MAX)
      const rebuilt = new Uint8Array(BATCH_HEADER_SIZE + plain.length)
      rebuilt.set(batch.subarray(0, BATCH_HEADER_SIZE))
      rebuilt.set(plain, BATCH_HEADER_SIZE)
      rebuilt[OFFSET_ATTRIBUTES + 1] = rebuilt[OFFSET_ATTRIBUTES + 1]! & ~7
      new DataView(rebuilt.buffer).setInt32(8, rebuilt.length - 12)
      updateCrc(rebuilt, 0, rebuilt.length)
      checkRecords(t, (await decodeBatchAsync(rebuilt)).records, want, `${name} via ${setName} ${codec.implementation}`)
    }
  }
})

t.test('what the real clients wrote: raw vs framed snappy, lz4 and zstd frame flags', async t => {
  const p = (name: string): Uint8Array => payloadOf(fixture(name))
  t.notOk(isXerialSnappy(p('librdkafka-snappy.bin')), 'librdkafka writes raw snappy')
  t.ok(isXerialSnappy(p('kafka-python-snappy.bin')), 'kafka-python writes xerial-framed snappy')
  t.same([...p('librdkafka-lz4.bin').subarray(4, 6)], [0x60, 0x40], 'librdkafka lz4: independent blocks, 64 KiB, no content size')
  t.same([...p('kafka-python-lz4.bin').subarray(4, 6)], [0x68, 0x40], 'kafka-python lz4: independent blocks, content size')
  t.same([...p('librdkafka-zstd.bin').subarray(4, 6)], [0x00, 0x58], 'librdkafka zstd: no content size, 2 MiB window')
  t.equal(p('kafka-python-zstd.bin')[4], 0xa0, 'kafka-python zstd: single segment with content size')
})

t.test('broker append: real clients\' batches are validated record by record and stored unchanged', async t => {
  const log = await openLog({ dir: tempDir(t) })
  t.teardown(() => log.close())
  const names = Object.keys(expected)
  for (const name of names) {
    const batch = fixture(name)
    const before = batch.slice()
    const result = log.append(batch)
    t.equal(result.recordCount, 7, `${name} appended`)
    const stored = (await log.read(result.baseOffset, 1 << 20)).bytes
    const size = readBatchHeader(stored).batchLength + 12
    t.ok(eq(stored.subarray(8, size), before.subarray(8)), `${name}: stored as produced (only baseOffset rewritten)`)
  }
  const all = await readAllRecords(log)
  t.equal(all.length, 7 * names.length, 'every record reads back')

  // Compressed bytes that do not decode, codec bits with no codec, and a bomb.
  const shell = fixture('librdkafka-gzip.bin')
  const withPayload = (code: number, payload: Uint8Array): Uint8Array => {
    const b = new Uint8Array(BATCH_HEADER_SIZE + payload.length)
    b.set(shell.subarray(0, BATCH_HEADER_SIZE))
    b.set(payload, BATCH_HEADER_SIZE)
    b[OFFSET_ATTRIBUTES + 1] = (b[OFFSET_ATTRIBUTES + 1]! & ~7) | code
    new DataView(b.buffer).setInt32(8, b.length - 12)
    updateCrc(b, 0, b.length)
    return b
  }
  const leo = log.logEndOffset
  for (const code of CODECS) {
    t.throws(() => log.append(withPayload(code, pseudoRandom(300, code))), InvalidRecordError, `${NAMES[code]}: garbage payload refused`)
    t.throws(() => decompressForCheck(code, encoderFor(code)(new Uint8Array(80 << 20))), MessageTooLargeError, `${NAMES[code]}: 80 MiB of zeros is past the 64 MiB bound`)
  }
  for (const bits of [5, 6, 7]) {
    t.throws(() => log.append(withPayload(bits, payloadOf(shell))), UnsupportedCompressionTypeError, `codec bits ${bits} refused`)
  }
  const fewer = withPayload(Compression.zstd, encoderFor(Compression.zstd)(new Uint8Array(0)))
  t.throws(() => log.append(fewer), InvalidRecordError, 'a zstd batch holding fewer records than its count')
  t.equal(log.logEndOffset, leo, 'nothing refused was written')
})

t.test('decompression is bounded by maxBytes, exactly', async t => {
  const input = new Uint8Array(300_000).fill(1)
  for (const code of CODECS) {
    const compressed = encoderFor(code)(input)
    for (const impl of implsFor(code)) {
      t.equal(await outcome(impl, compressed, input.length), 'ok', `${impl.label}: at the bound`)
      t.equal(await outcome(impl, compressed, input.length - 1), 'MessageTooLargeError', `${impl.label}: one byte under`)
      t.equal(await outcome(impl, compressed, 1000), 'MessageTooLargeError', `${impl.label}: far under`)
    }
  }
})

/** An LZ4 frame of `blocks` independent blocks that each decode 267 bytes to 64 KiB. */
function lz4Bomb (blocks: number, contentSize?: number): Uint8Array {
  const block = [0x1f, 0x41, 0x01, 0x00, ...new Array<number>(256).fill(255), 231, 0x50, ...utf8('abcde')]
  const head = [0x04, 0x22, 0x4d, 0x18, contentSize === undefined ? 0x60 : 0x68, 0x40]
  if (contentSize !== undefined) for (let i = 0; i < 8; i++) head.push(Math.floor(contentSize / 2 ** (8 * i)) & 0xff)
  head.push((xxhash32(Uint8Array.from(head.slice(4))) >>> 8) & 0xff)
  const out = [...head]
  for (let i = 0; i < blocks; i++) out.push(block.length, 1, 0, 0, ...block)
  out.push(0, 0, 0, 0)
  return Uint8Array.from(out)
}

/** A zstd frame (2 MiB window) of `blocks` RLE blocks of 128 KiB each: 4 bytes per block. */
function zstdRleBomb (blocks: number, declare: boolean): Uint8Array {
  const out = [0x28, 0xb5, 0x2f, 0xfd, declare ? 0xc0 : 0x00, 0x58]
  if (declare) for (let i = 0; i < 8; i++) out.push(Math.floor(blocks * 131072 / 2 ** (8 * i)) & 0xff)
  for (let i = 0; i < blocks; i++) {
    const header = (131072 << 3) | (1 << 1) | (i === blocks - 1 ? 1 : 0)
    out.push(header & 0xff, (header >>> 8) & 0xff, header >>> 16, 0x41)
  }
  return Uint8Array.from(out)
}

t.test('bombs and headers that lie are refused without allocating past the bound', async t => {
  // snappy raw: varint length 0xffffffff, one literal.
  const snappyLie = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x41)
  // xerial: a block claiming 0xffffffff.
  const xerialLie = new Uint8Array([...XERIAL_MAGIC, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, ...snappyLie])
  // zstd: single-segment frame declaring 2^40 bytes (so a 2^40 window); a frame asking for a 2^28 window.
  const zstdLie = Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0, 0, 1, 0, 0, 0x01, 0, 0)
  const zstdWindow = Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x00, (28 - 10) << 3, 0x01, 0, 0)
  const max = 64 << 20
  const cases: Array<[number, string, Uint8Array, string]> = [
    [Compression.snappy, 'snappy raw length 2^32-1', snappyLie, 'MessageTooLargeError'],
    [Compression.snappy, 'xerial block length 2^32-1', xerialLie, 'MessageTooLargeError'],
    [Compression.lz4, 'lz4 content size 2^40 over no blocks', lz4Bomb(0, 2 ** 40), 'CorruptRecordError'],
    [Compression.lz4, 'lz4 bomb declaring 68 MiB', lz4Bomb(1090, 1090 * 65536), 'MessageTooLargeError'],
    [Compression.lz4, 'lz4 bomb, 290 KB to 68 MiB, no content size', lz4Bomb(1090), 'MessageTooLargeError'],
    [Compression.zstd, 'zstd content size 2^40', zstdLie, 'MessageTooLargeError'],
    [Compression.zstd, 'zstd window 2^28', zstdWindow, 'MessageTooLargeError'],
    [Compression.zstd, 'zstd RLE bomb declaring 68 MiB', zstdRleBomb(545, true), 'MessageTooLargeError'],
    [Compression.zstd, 'zstd RLE bomb, 2 KB to 68 MiB, no content size', zstdRleBomb(545, false), 'MessageTooLargeError'],
  ]
  for (const [code, what, data, want] of cases) {
    for (const impl of implsFor(code)) t.equal(await outcome(impl, data, max), want, `${what}: ${impl.label}`)
  }
  for (const impl of [...implsFor(Compression.lz4), ...implsFor(Compression.zstd)]) {
    const data = impl.code === Compression.lz4 ? lz4Bomb(20) : zstdRleBomb(10, false)
    const out = await impl.decompress(data, max)
    t.equal(out.length, impl.code === Compression.lz4 ? 20 * 65536 : 10 * 131072, `${impl.label}: a small bomb under the bound decodes`)
  }
  // A gzip bomb: 200 MiB of zeros in ~200 KB.
  const bomb = zlib.gzipSync(Buffer.alloc(200 << 20), { level: 9 })
  t.ok(bomb.length < 300_000)
  for (const impl of implsFor(Compression.gzip)) t.equal(await outcome(impl, bomb, 64 << 20), 'MessageTooLargeError', `gzip bomb: ${impl.label}`)
})

t.test('snappy: the xerial magic is never a valid raw stream; framed streams may be concatenated', async t => {
  const magicFirst = new Uint8Array([...XERIAL_MAGIC, 0, 0, 0, 1, 0, 0, 0, 1])
  t.throws(() => snappyDecodeRaw(magicFirst, MAX), CorruptRecordError, 'raw decoding of the magic fails')
  const a = utf8('first part, first part, first part')
  const b = rows(5000)
  const twice = new Uint8Array([...snappyEncodeFramed(a), ...snappyEncodeFramed(b)])
  for (const impl of implsFor(Compression.snappy)) {
    t.ok(eq(await impl.decompress(twice, MAX), new Uint8Array([...a, ...b])), `${impl.label}: concatenated framed streams`)
    t.ok(eq(await impl.decompress(snappyEncodeFramed(new Uint8Array(0)), MAX), new Uint8Array(0)), `${impl.label}: header only is empty`)
    t.equal(await outcome(impl, new Uint8Array([...XERIAL_MAGIC, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]), MAX), 'CorruptRecordError', `${impl.label}: a zero-length block`)
    t.equal(await outcome(impl, snappyEncodeRaw(a).subarray(0, 10), MAX), 'CorruptRecordError', `${impl.label}: truncated raw`)
  }
  const short = snappyEncodeRaw(a)
  short[0] = a.length + 3
  t.throws(() => snappyDecode(short, MAX), CorruptRecordError, 'a raw stream shorter than its header says')
})

/** Builds an LZ4 frame from block specs (raw bytes given as already-encoded block data). */
function lz4Frame (flg: number, blocks: Array<{ data: Uint8Array, compressed: boolean }>, contentChecksum?: number, brokenHeaderChecksum = false): Uint8Array {
  const out: number[] = [0x04, 0x22, 0x4d, 0x18, flg, 0x40]
  const hc = (xxhash32(Uint8Array.from(brokenHeaderChecksum ? out : out.slice(4))) >>> 8) & 0xff
  out.push(hc)
  for (const b of blocks) {
    const word = (b.compressed ? 0 : 0x80000000) | b.data.length
    out.push(word & 0xff, (word >>> 8) & 0xff, (word >>> 16) & 0xff, word >>> 24, ...b.data)
    if ((flg & 0x10) !== 0) {
      const c = xxhash32(b.data)
      out.push(c & 0xff, (c >>> 8) & 0xff, (c >>> 16) & 0xff, c >>> 24)
    }
  }
  out.push(0, 0, 0, 0)
  if (contentChecksum !== undefined) out.push(contentChecksum & 0xff, (contentChecksum >>> 8) & 0xff, (contentChecksum >>> 16) & 0xff, contentChecksum >>> 24)
  return Uint8Array.from(out)
}

t.test('lz4: header checksum (old Kafka\'s broken one refused), linked blocks, checksums, several frames', async t => {
  const first = utf8('abcdefghijklmnop')
  // Second block: a match of 8 bytes reaching 16 back (into the first block), then 5 literals.
  const second = Uint8Array.of(0x04, 16, 0, 0x50, ...utf8('qrstu'))
  const whole = new Uint8Array([...first, ...utf8('abcdefgh'), ...utf8('qrstu')])
  const linked = lz4Frame(0x40, [{ data: first, compressed: false }, { data: second, compressed: true }])
  const independent = lz4Frame(0x60, [{ data: first, compressed: false }, { data: second, compressed: true }])
  t.ok(eq(lz4Decode(linked, MAX), whole), 'linked blocks may refer to the previous block')
  t.throws(() => lz4Decode(independent, MAX), CorruptRecordError, 'independent blocks may not')
  t.throws(() => lz4Decode(lz4Frame(0x60, [{ data: first, compressed: false }], undefined, true), MAX), CorruptRecordError, 'the pre-0.10 Kafka header checksum (over the magic too) is refused for magic 2')
  const withSum = lz4Frame(0x64, [{ data: first, compressed: false }], xxhash32(first))
  const badSum = lz4Frame(0x64, [{ data: first, compressed: false }], xxhash32(first) ^ 1)
  const blockSum = lz4Frame(0x70, [{ data: first, compressed: false }])
  const blockSumBad = blockSum.slice()
  blockSumBad[blockSumBad.length - 5] ^= 0xff
  const skippable = Uint8Array.of(0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3)
  const two = new Uint8Array([...lz4Encode(first), ...skippable, ...lz4Encode(whole)])
  for (const impl of implsFor(Compression.lz4)) {
    t.ok(eq(await impl.decompress(linked, MAX), whole), `${impl.label}: linked`)
    t.ok(eq(await impl.decompress(withSum, MAX), first), `${impl.label}: content checksum`)
    t.ok(eq(await impl.decompress(blockSum, MAX), first), `${impl.label}: block checksum`)
    t.equal(await outcome(impl, blockSumBad, MAX), 'CorruptRecordError', `${impl.label}: bad block checksum`)
    t.ok(eq(await impl.decompress(two, MAX), new Uint8Array([...first, ...whole])), `${impl.label}: two frames and a skippable one`)
    t.equal(await outcome(impl, lz4Encode(first).subarray(0, 9), MAX), 'CorruptRecordError', `${impl.label}: truncated`)
  }
  t.throws(() => lz4Decode(badSum, MAX), CorruptRecordError, 'a wrong content checksum')
})

t.test('zstd: window limit, dictionaries refused, several frames, a large declared window still decodes', async t => {
  const rdk = payloadOf(fixture('librdkafka-zstd.bin'))
  const plain = bestSet.get(Compression.zstd)!.decompressSync(rdk, MAX)
  const bigWindow = rdk.slice()
  bigWindow[5] = (27 - 10) << 3
  const tooBig = rdk.slice()
  tooBig[5] = (28 - 10) << 3
  const encode = encoderFor(Compression.zstd)
  const skippable = Uint8Array.of(0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 9, 9)
  const frames = new Uint8Array([...encode(utf8('one ')), ...skippable, ...encode(utf8('two'))])
  // A frame naming dictionary 7 (descriptor: 1-byte dictionary id).
  const dict = Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x01, 0x58, 7, 0x01, 0, 0)
  for (const impl of implsFor(Compression.zstd)) {
    t.ok(eq(await impl.decompress(bigWindow, MAX), plain), `${impl.label}: a 128 MiB declared window`)
    t.equal(await outcome(impl, tooBig, MAX), 'MessageTooLargeError', `${impl.label}: a 256 MiB window`)
    t.ok(eq(await impl.decompress(frames, MAX), utf8('one two')), `${impl.label}: frames and a skippable frame`)
    t.equal(await outcome(impl, dict, MAX), 'CorruptRecordError', `${impl.label}: a dictionary`)
    t.equal(await outcome(impl, new Uint8Array(0), MAX), 'CorruptRecordError', `${impl.label}: empty input`)
  }
})

/** Valid streams of each codec (from several encoders) for mutation. */
async function seeds (code: number): Promise<Uint8Array[]> {
  const inputs = [utf8('short'), rows(400), rows(9000), pseudoRandom(3000, 9)]
  const out: Uint8Array[] = []
  for (const input of inputs) {
    for (const impl of implsFor(code)) if (impl.compress !== null && impl.label.includes('sync')) out.push(await impl.compress(input))
    if (code === Compression.zstd) out.push(encoderFor(code)(input))
    if (code === Compression.snappy) out.push(snappyEncodeRaw(input))
  }
  out.push(...Object.keys(expected).filter(n => expected[n]!.codec === NAMES[code]).map(n => payloadOf(fixture(n))))
  return out
}

t.test('fuzz: random and mutated input yields output within the bound or a named error, never anything else', async t => {
  for (const code of CODECS) {
    const valid = await seeds(code)
    const impls = implsFor(code)
    const mutated = fc.tuple(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 6 }))
      .map(([base, edits]) => {
        let b = base.slice()
        for (const [at, value, kind] of edits) {
          const i = b.length === 0 ? 0 : at % b.length
          if (kind === 0 || kind === 1) b[i] = value
          else if (kind === 2) b = b.subarray(0, i)
          else b = new Uint8Array([...b.subarray(0, i), value, ...b.subarray(i)])
        }
        return b
      })
    const prefix = valid[0]!.subarray(0, Math.min(16, valid[0]!.length))
    const headerThenNoise = fc.uint8Array({ maxLength: 400 }).map(noise => new Uint8Array([...prefix, ...noise]))
    const input = fc.oneof(fc.uint8Array({ maxLength: 600 }), mutated, headerThenNoise)
    const maxBytes = fc.constantFrom(0, 100, 5000, MAX)
    const failures: string[] = []
    await fc.assert(fc.asyncProperty(input, maxBytes, async (data, max) => {
      for (const impl of impls) {
        const result = await outcome(impl, data, max)
        if (result !== 'ok' && result !== 'CorruptRecordError' && result !== 'MessageTooLargeError') {
          failures.push(`${impl.label}: ${result} on ${Buffer.from(data).toString('hex').slice(0, 120)}`)
          return false
        }
      }
      return true
    }), { numRuns: 400, seed: 20260601 + code })
    t.same(failures, [], `${NAMES[code]}: ${impls.length} implementations, 400 inputs`)
  }
})

t.test('fuzz: pure encoders round-trip arbitrary data through every decoder', async t => {
  const data = fc.oneof(
    fc.uint8Array({ maxLength: 3000 }),
    fc.array(fc.constantFrom(...['ab', 'abc', 'zzzz', 'row-', '0123456789', '\n']), { maxLength: 3000 }).map(parts => utf8(parts.join(''))),
    fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 50 }), fc.integer({ min: 1, max: 3000 })).map(([unit, n]) => {
      const out = new Uint8Array(unit.length * n)
      for (let i = 0; i < n; i++) out.set(unit, i * unit.length)
      return out
    }),
  )
  for (const [name, encode, code] of [['snappy framed', (d: Uint8Array) => snappyEncodeFramed(d), Compression.snappy], ['snappy raw', snappyEncodeRaw, Compression.snappy], ['lz4', lz4Encode, Compression.lz4]] as const) {
    const failures: string[] = []
    await fc.assert(fc.asyncProperty(data, async input => {
      const compressed = encode(input)
      for (const impl of implsFor(code)) {
        const out = await impl.decompress(compressed, input.length).catch((err: Error) => err)
        if (out instanceof Error || !eq(out, input)) {
          failures.push(`${impl.label}: ${out instanceof Error ? out.message : 'different bytes'} (${input.length} bytes)`)
          return false
        }
      }
      return true
    }), { numRuns: 300, seed: 424242 })
    t.same(failures, [], `${name}: 300 inputs`)
  }
})

t.test('records: a batch built with each codec decodes; a truncated payload is a CorruptRecordError', async t => {
  for (const code of CODECS) {
    if (!canCompress(code)) continue
    const batch = await encodeBatchCompressed([{ key: utf8('k'), value: rows(2000) }, { value: utf8('v') }], code)
    const { records } = await decodeBatchAsync(batch, 0, MAX)
    t.equal(records.length, 2, `${NAMES[code]}`)
    const cut = batch.slice(0, batch.length - 3)
    new DataView(cut.buffer).setInt32(8, cut.length - 12)
    await t.rejects(decodeBatchAsync(cut, 0, MAX), CorruptRecordError, `${NAMES[code]}: truncated payload`)
  }
})
