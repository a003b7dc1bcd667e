/**
 * Encoding and decoding the records inside a RecordBatch v2 (docs/formats.md §1.4).
 *
 * Each record:
 *   length varint | attributes int8 | timestampDelta varlong | offsetDelta varint |
 *   keyLength varint (-1 = null) | key | valueLength varint (-1 = null, a tombstone) | value |
 *   headersCount varint | headers: keyLength varint | key (UTF-8) | valueLength varint | value
 *
 * The broker never calls this on the produce or fetch path: it moves batches as bytes.
 * The client encodes with RecordBatchBuilder (records written straight into one growing
 * buffer behind a reserved header, so building a batch copies nothing) and decodes with
 * decodeBatch (keys and values are views into the fetched bytes, not copies).
 */

import { crc32c } from '../bytes/crc32c.js'
import { writeInt64 } from '../bytes/int64.js'
import { VarintCursor, varintSize, varlongSize, writeVarint, writeVarlong } from '../bytes/varint.js'
import { CorruptRecordError } from '../errors.js'
import { DEFAULT_MAX_DECOMPRESSED_BYTES, compressionCodec } from './compression.js'
import {
  ATTR_COMPRESSION_MASK, ATTR_CONTROL, BATCH_HEADER_SIZE, Compression, LOG_OVERHEAD, MAGIC_V2,
  OFFSET_ATTRIBUTES, OFFSET_BASE_OFFSET, OFFSET_BASE_SEQUENCE, OFFSET_BASE_TIMESTAMP, OFFSET_BATCH_LENGTH, OFFSET_CRC,
  OFFSET_LAST_OFFSET_DELTA, OFFSET_LEADER_EPOCH, OFFSET_MAGIC, OFFSET_MAX_TIMESTAMP, OFFSET_PRODUCER_EPOCH,
  OFFSET_PRODUCER_ID, OFFSET_RECORDS_COUNT, type BatchHeader, type CompressionCode, readBatchHeader,
} from './header.js'

export interface RecordHeader {
  key: string
  value: Uint8Array | null
}

/** A record as a producer hands it to the builder. */
export interface RecordInput {
  key?: Uint8Array | null
  value: Uint8Array | null
  headers?: RecordHeader[]
  /** Milliseconds since the epoch; defaults to the builder's clock. */
  timestamp?: number
}

/** A decoded record. Key, value and header values are views into the batch bytes. */
export interface DecodedRecord {
  offset: number
  timestamp: number
  key: Uint8Array | null
  value: Uint8Array | null
  headers: RecordHeader[]
}

export interface DecodedBatch {
  header: BatchHeader
  records: DecodedRecord[]
}

export interface BuildOptions {
  baseOffset?: number
  partitionLeaderEpoch?: number
  producerId?: number
  producerEpoch?: number
  baseSequence?: number
  /** Extra attribute bits (transactional etc.); compression is set by buildCompressed. */
  attributes?: number
  /**
   * The batch's lastOffsetDelta; defaults to count - 1. The log cleaner sets it to keep a
   * batch's offset span when it drops records (docs/formats.md §2.7).
   */
  lastOffsetDelta?: number
}

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder()
const NO_HEADERS: RecordHeader[] = []

/**
 * Header keys are few and repeat on every record: their UTF-8 is kept (never mutated: it is
 * only copied into batches). Bounded: past HEADER_KEY_CACHE_SIZE distinct keys the cache
 * starts over, so an application with unbounded key names costs one encode per use as before.
 */
const HEADER_KEY_CACHE_SIZE = 256
const headerKeyCache = new Map<string, Uint8Array>()

function encodeHeaderKey (key: string): Uint8Array {
  let encoded = headerKeyCache.get(key)
  if (encoded === undefined) {
    encoded = utf8Encoder.encode(key)
    if (headerKeyCache.size >= HEADER_KEY_CACHE_SIZE) headerKeyCache.clear()
    headerKeyCache.set(key, encoded)
  }
  return encoded
}

/** Bytes the headers section (count and headers) of a record takes. */
function headersBytes (headers: readonly RecordHeader[]): number {
  let size = varintSize(headers.length)
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i]!
    const k = encodeHeaderKey(h.key)
    size += varintSize(k.length) + k.length
    size += h.value === null ? 1 : varintSize(h.value.length) + h.value.length
  }
  return size
}

/** Writes the headers section at `p`; returns the position after it. */
function writeHeaders (buf: Uint8Array, p: number, headers: readonly RecordHeader[]): number {
  p = writeVarint(buf, p, headers.length)
  for (let i = 0; i < headers.length; i++) {
    const k = encodeHeaderKey(headers[i]!.key)
    const v = headers[i]!.value
    p = writeNullableBytes(buf, p, k)
    p = writeNullableBytes(buf, p, v)
  }
  return p
}

/** A varint length (-1 for null) and the bytes at `p`; returns the position after them. */
function writeNullableBytes (buf: Uint8Array, p: number, bytes: Uint8Array | null): number {
  if (bytes === null) return writeVarint(buf, p, -1)
  p = writeVarint(buf, p, bytes.length)
  buf.set(bytes, p)
  return p + bytes.length
}

/**
 * Accumulates records into one buffer that already reserves the 61-byte header, so
 * `build()` fills in the header and returns a view: no per-record objects and no copy.
 * Not reusable after build.
 */
export class RecordBatchBuilder {
  #buf: Uint8Array
  #pos = BATCH_HEADER_SIZE
  #count = 0
  #baseTimestamp = 0
  #maxTimestamp = -1
  readonly #now: () => number

  /**
   * `buffer`: a buffer to build into instead of a fresh one (the producer's pool of
   * acknowledged batches' buffers); its old contents are overwritten before they are read.
   */
  constructor (initialCapacity = 16384, now: () => number = Date.now, buffer?: Uint8Array) {
    this.#buf = buffer !== undefined && buffer.length >= BATCH_HEADER_SIZE + 64
      ? buffer
      : new Uint8Array(Math.max(initialCapacity, BATCH_HEADER_SIZE + 64))
    this.#now = now
  }

  /** Records appended so far. */
  get count (): number { return this.#count }

  /** Bytes the uncompressed batch would take now. */
  get sizeBytes (): number { return this.#pos }

  /**
   * Appends one record. Its offsetDelta is its position in the batch unless given: the log
   * cleaner passes the record's original delta so offsets survive compaction (deltas must
   * then increase, and `build` needs `lastOffsetDelta`).
   */
  append (record: RecordInput, offsetDelta: number = this.#count): void {
    const timestamp = record.timestamp ?? this.#now()
    if (this.#count === 0) this.#baseTimestamp = timestamp
    if (timestamp > this.#maxTimestamp) this.#maxTimestamp = timestamp
    const timestampDelta = timestamp - this.#baseTimestamp
    const key = record.key ?? null
    const value = record.value
    const headers = record.headers ?? NO_HEADERS
    const headersSize = headers.length === 0 ? 1 : headersBytes(headers)
    const bodySize = 1 + varlongSize(timestampDelta) + varintSize(offsetDelta) +
      (key === null ? 1 : varintSize(key.length) + key.length) +
      (value === null ? 1 : varintSize(value.length) + value.length) +
      headersSize
    this.#ensure(varintSize(bodySize) + bodySize)
    const buf = this.#buf
    let p = writeVarint(buf, this.#pos, bodySize)
    buf[p++] = 0
    p = writeVarlong(buf, p, timestampDelta)
    p = writeVarint(buf, p, offsetDelta)
    p = writeNullableBytes(buf, p, key)
    p = writeNullableBytes(buf, p, value)
    if (headers.length === 0) buf[p++] = 0 // varint 0: no headers
    else p = writeHeaders(buf, p, headers)
    this.#pos = p
    this.#count++
  }

  #ensure (extra: number): void {
    const need = this.#pos + extra
    if (need <= this.#buf.length) return
    let size = this.#buf.length * 2
    while (size < need) size *= 2
    const next = new Uint8Array(size)
    next.set(this.#buf.subarray(0, this.#pos))
    this.#buf = next
  }

  /** The uncompressed batch (a view of the builder's buffer). */
  build (options: BuildOptions = {}): Uint8Array {
    const batch = this.#buf.subarray(0, this.#pos)
    writeHeader(batch, this.#headerFields(options, options.attributes ?? 0))
    return batch
  }

  /** The batch with its records compressed as one blob. */
  async buildCompressed (compression: CompressionCode, options: BuildOptions = {}): Promise<Uint8Array> {
    if (compression === Compression.none) return this.build(options)
    const compressed = await compressionCodec(compression).compress(this.#buf.subarray(BATCH_HEADER_SIZE, this.#pos))
    const batch = new Uint8Array(BATCH_HEADER_SIZE + compressed.length)
    batch.set(compressed, BATCH_HEADER_SIZE)
    writeHeader(batch, this.#headerFields(options, ((options.attributes ?? 0) & ~ATTR_COMPRESSION_MASK) | compression))
    return batch
  }

  #headerFields (options: BuildOptions, attributes: number): HeaderFields {
    return {
      baseOffset: options.baseOffset ?? 0,
      partitionLeaderEpoch: options.partitionLeaderEpoch ?? -1,
      attributes,
      lastOffsetDelta: options.lastOffsetDelta ?? this.#count - 1,
      baseTimestamp: this.#baseTimestamp,
      maxTimestamp: this.#maxTimestamp,
      producerId: options.producerId ?? -1,
      producerEpoch: options.producerEpoch ?? -1,
      baseSequence: options.baseSequence ?? -1,
      recordsCount: this.#count,
    }
  }
}

/** The header fields a builder chooses (the rest follow from the bytes). */
type HeaderFields = Omit<BatchHeader, 'batchLength' | 'magic' | 'crc'>

/** Writes the 61-byte header into `batch` (whose length is the batch size) and its CRC. */
function writeHeader (batch: Uint8Array, f: HeaderFields): void {
  const v = new DataView(batch.buffer, batch.byteOffset, batch.byteLength)
  writeInt64(v, OFFSET_BASE_OFFSET, f.baseOffset)
  v.setInt32(OFFSET_BATCH_LENGTH, batch.length - LOG_OVERHEAD)
  v.setInt32(OFFSET_LEADER_EPOCH, f.partitionLeaderEpoch)
  v.setInt8(OFFSET_MAGIC, MAGIC_V2)
  v.setInt16(OFFSET_ATTRIBUTES, f.attributes)
  v.setInt32(OFFSET_LAST_OFFSET_DELTA, f.lastOffsetDelta)
  writeInt64(v, OFFSET_BASE_TIMESTAMP, f.baseTimestamp)
  writeInt64(v, OFFSET_MAX_TIMESTAMP, f.maxTimestamp)
  writeInt64(v, OFFSET_PRODUCER_ID, f.producerId)
  v.setInt16(OFFSET_PRODUCER_EPOCH, f.producerEpoch)
  v.setInt32(OFFSET_BASE_SEQUENCE, f.baseSequence)
  v.setInt32(OFFSET_RECORDS_COUNT, f.recordsCount)
  v.setUint32(OFFSET_CRC, crc32c(batch, OFFSET_ATTRIBUTES, batch.length))
}

/** Convenience: one batch from a list of records. */
export function encodeBatch (records: RecordInput[], options: BuildOptions = {}): Uint8Array {
  const builder = new RecordBatchBuilder()
  for (const r of records) builder.append(r)
  return builder.build(options)
}

/** Convenience: one compressed batch from a list of records. */
export async function encodeBatchCompressed (
  records: RecordInput[], compression: CompressionCode, options: BuildOptions = {},
): Promise<Uint8Array> {
  const builder = new RecordBatchBuilder()
  for (const r of records) builder.append(r)
  return builder.buildCompressed(compression, options)
}

/** Receives one decoded record; key, value and header values are views of the input. */
export type RecordSink = (offset: number, timestamp: number, key: Uint8Array | null, value: Uint8Array | null, headers: readonly RecordHeader[]) => void

/**
 * The one record decoder, used by the broker (MQTT, groups, the console) and by the SDK:
 * walks `count` records of `bytes[start, end)` (a batch's plain records region) and hands
 * each to `sink` with absolute offset (baseOffset + offsetDelta) and timestamp
 * (baseTimestamp + timestampDelta — also when the cleaner set the delete-horizon bit: the
 * deltas are then relative to the horizon stamped in baseTimestamp, docs/formats.md §1.3).
 * Records below `fromOffset` are skipped without decoding their key, value or headers.
 * Allocates nothing per record but the sink's own objects and the header list. Throws
 * CorruptRecordError when the framing does not add up.
 */
export function walkRecords (
  bytes: Uint8Array, start: number, end: number, count: number,
  baseOffset: number, baseTimestamp: number, fromOffset: number, sink: RecordSink,
): void {
  const cursor = new VarintCursor(bytes, start, end)
  for (let i = 0; i < count; i++) {
    const length = cursor.varint()
    const recordEnd = cursor.pos + length
    if (length <= 0 || recordEnd > end) throw new CorruptRecordError(`record ${i} of the batch at ${baseOffset} has an impossible length ${length}`)
    cursor.pos++ // attributes: unused in v2
    const timestampDelta = cursor.varlong()
    const offset = baseOffset + cursor.varint()
    if (offset < fromOffset) {
      cursor.pos = recordEnd
      continue
    }
    const keyLength = cursor.varint()
    const key = keyLength < 0 ? null : cursor.bytes(keyLength)
    const valueLength = cursor.varint()
    const value = valueLength < 0 ? null : cursor.bytes(valueLength)
    const headerCount = cursor.varint()
    if (headerCount < 0 || headerCount > length) throw new CorruptRecordError(`record at offset ${offset} has ${headerCount} headers`)
    let headers: readonly RecordHeader[] = NO_HEADERS
    if (headerCount > 0) {
      const list: RecordHeader[] = []
      for (let h = 0; h < headerCount; h++) {
        const hkLength = cursor.varint()
        if (hkLength < 0) throw new CorruptRecordError(`record at offset ${offset} has a header with a null key`)
        const hk = headerKeyString(cursor.bytes(hkLength), h)
        const hvLength = cursor.varint()
        list.push({ key: hk, value: hvLength < 0 ? null : cursor.bytes(hvLength) })
      }
      headers = list
    }
    if (cursor.pos !== recordEnd) throw new CorruptRecordError(`record at offset ${offset}: fields do not add up to its length`)
    sink(offset, baseTimestamp + timestampDelta, key, value, headers)
  }
  if (cursor.pos !== end) throw new CorruptRecordError(`bytes left over after the last record of the batch at ${baseOffset}`)
}

/**
 * Header keys repeat record after record: the last key decoded at each of the first
 * REUSED_HEADER_KEYS header positions is kept (a copy of its bytes, so no fetched buffer is
 * held) and its string is handed out again when the next key there has the same bytes. Keys
 * longer than REUSED_HEADER_KEY_BYTES are decoded each time. Kept out of walkRecords so
 * its loop stays small.
 */
const REUSED_HEADER_KEYS = 16
const REUSED_HEADER_KEY_BYTES = 64
const lastKeyBytes: Uint8Array[] = []
const lastKeyStrings: string[] = []

function headerKeyString (bytes: Uint8Array, index: number): string {
  if (index >= REUSED_HEADER_KEYS || bytes.length > REUSED_HEADER_KEY_BYTES) return utf8Decoder.decode(bytes)
  const last = lastKeyBytes[index]
  if (last !== undefined && sameBytes(last, bytes)) return lastKeyStrings[index]!
  const key = utf8Decoder.decode(bytes)
  lastKeyBytes[index] = bytes.slice()
  lastKeyStrings[index] = key
  return key
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * Decodes the records of `recordsBytes` (the plain records region of a batch) into `out`
 * (walkRecords, every record).
 */
export function decodeRecordsInto (header: BatchHeader, recordsBytes: Uint8Array, out: DecodedRecord[]): void {
  walkRecords(recordsBytes, 0, recordsBytes.length, header.recordsCount, header.baseOffset, header.baseTimestamp, -Infinity,
    (offset, timestamp, key, value, headers) => { out.push({ offset, timestamp, key, value, headers: headers as RecordHeader[] }) })
}

/** True when the batch's records must be decompressed before decoding. */
export function isCompressed (header: BatchHeader): boolean {
  return (header.attributes & ATTR_COMPRESSION_MASK) !== 0
}

/** True for transaction marker batches, which applications never see. */
export function isControlBatch (header: BatchHeader): boolean {
  return (header.attributes & ATTR_CONTROL) !== 0
}

/**
 * Decodes an uncompressed batch at `bytes[pos, pos + size)`. Throws CorruptRecordError on
 * a compressed batch: use decodeBatchAsync for those.
 */
export function decodeBatch (bytes: Uint8Array, pos = 0): DecodedBatch {
  const header = readBatchHeader(bytes, pos)
  const end = pos + header.batchLength + LOG_OVERHEAD
  if (end > bytes.length || header.batchLength + LOG_OVERHEAD < BATCH_HEADER_SIZE) {
    throw new CorruptRecordError('record batch is truncated')
  }
  if (isCompressed(header)) throw new CorruptRecordError('compressed batch: use decodeBatchAsync')
  const records: DecodedRecord[] = []
  decodeRecordsInto(header, bytes.subarray(pos + BATCH_HEADER_SIZE, end), records)
  return { header, records }
}

/** Decodes a batch at `pos`, decompressing if needed (bounded by `maxBytes`). */
export async function decodeBatchAsync (
  bytes: Uint8Array, pos = 0, maxBytes = DEFAULT_MAX_DECOMPRESSED_BYTES,
): Promise<DecodedBatch> {
  const header = readBatchHeader(bytes, pos)
  if (!isCompressed(header)) return decodeBatch(bytes, pos)
  const end = pos + header.batchLength + LOG_OVERHEAD
  if (end > bytes.length) throw new CorruptRecordError('record batch is truncated')
  const codec = compressionCodec(header.attributes & ATTR_COMPRESSION_MASK)
  const plain = await codec.decompress(bytes.subarray(pos + BATCH_HEADER_SIZE, end), maxBytes)
  const records: DecodedRecord[] = []
  decodeRecordsInto(header, plain, records)
  return { header, records }
}

/** Calls `fn` with (position, size) of each whole batch in `bytes`; stops at a partial tail. */
export function forEachBatch (bytes: Uint8Array, fn: (pos: number, size: number) => void): number {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let pos = 0
  while (bytes.length - pos >= LOG_OVERHEAD) {
    const size = v.getInt32(pos + OFFSET_BATCH_LENGTH) + LOG_OVERHEAD
    if (size < BATCH_HEADER_SIZE || pos + size > bytes.length) break
    fn(pos, size)
    pos += size
  }
  return pos
}
