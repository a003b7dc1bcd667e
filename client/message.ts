/**
 * Fetched records as the application sees them, and the decoding of a partition's records
 * section of a Fetch response into them.
 *
 * The records section holds whole RecordBatch v2 batches as they lie on the broker's disk
 * (protocol/native/apis/fetch.ts): the first may start before the fetch offset (records
 * below it are skipped), the last may be cut short by maxBytes (a partial tail is ignored),
 * control batches are never handed to the application. For each batch:
 *
 *   header (61 bytes: baseOffset, batchLength, ..., attributes, lastOffsetDelta,
 *   baseTimestamp, ..., recordsCount) | records, or one compressed blob of them
 *   record := length varint | attributes int8 | timestampDelta varlong | offsetDelta varint |
 *             keyLength varint | key | valueLength varint | value | headerCount varint | headers
 *
 * Uncompressed batches are decoded synchronously in one loop that allocates nothing per
 * record but the Message and its key/value views (plain Uint8Arrays over the response
 * frame: no copy). Keys and values therefore keep the response's buffer alive while the
 * application holds them; copy them (`slice()`) to keep a few values for long. Compressed
 * batches (gzip) are decompressed asynchronously with the registered codec.
 */

import { readInt64 } from '../protocol/bytes/int64.js'
import { crc32c } from '../protocol/bytes/crc32c.js'
import { CorruptRecordError } from '../protocol/errors.js'
import {
  ATTR_COMPRESSION_MASK, ATTR_CONTROL, BATCH_HEADER_SIZE, LOG_OVERHEAD, OFFSET_ATTRIBUTES,
  OFFSET_BASE_TIMESTAMP, OFFSET_BATCH_LENGTH, OFFSET_CRC, OFFSET_LAST_OFFSET_DELTA, OFFSET_RECORDS_COUNT,
} from '../protocol/record-batch/header.js'
import { decodeBatchAsync, walkRecords } from '../protocol/record-batch/records.js'

export interface MessageHeader {
  key: string
  value: Uint8Array | null
}

/** A consumed record. */
export interface Message {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  /** Milliseconds since the epoch (the producer's CreateTime, or the broker's LogAppendTime). */
  readonly timestamp: number
  readonly key: Uint8Array | null
  readonly value: Uint8Array | null
  readonly headers: readonly MessageHeader[]
}

/** One class for every message, so V8 sees a single shape on the hot path. */
class FetchedMessage implements Message {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly timestamp: number
  readonly key: Uint8Array | null
  readonly value: Uint8Array | null
  readonly headers: readonly MessageHeader[]

  constructor (
    topic: string, partition: number, offset: number, timestamp: number,
    key: Uint8Array | null, value: Uint8Array | null, headers: readonly MessageHeader[],
  ) {
    this.topic = topic
    this.partition = partition
    this.offset = offset
    this.timestamp = timestamp
    this.key = key
    this.value = value
    this.headers = headers
  }
}

const NO_HEADERS: readonly MessageHeader[] = Object.freeze([])

export interface DecodeTarget {
  topic: string
  partition: number
  /** Records below this offset are skipped. */
  fetchOffset: number
  checkCrcs: boolean
}

export interface DecodeResult {
  /** Offset after the last whole batch seen (>= fetchOffset): the next fetch offset. */
  nextOffset: number
  /** Whole batches seen (0 with a non-empty section: the first batch was cut short). */
  batches: number
  /** Position of the first compressed batch, or -1 when all was decoded. */
  compressedAt: number
}

/**
 * Decodes the uncompressed batches of `records` into `out`, stopping at the first
 * compressed batch (its position is returned for `decodeCompressedInto`).
 */
export function decodeRecordsSection (records: Uint8Array, target: DecodeTarget, out: Message[]): DecodeResult {
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength)
  const length = records.length
  let nextOffset = target.fetchOffset
  let batches = 0
  let pos = 0
  while (length - pos >= BATCH_HEADER_SIZE) {
    const size = view.getInt32(pos + OFFSET_BATCH_LENGTH) + LOG_OVERHEAD
    if (size < BATCH_HEADER_SIZE || pos + size > length) break // a partial batch at the end
    const attributes = view.getInt16(pos + OFFSET_ATTRIBUTES)
    if ((attributes & ATTR_COMPRESSION_MASK) !== 0) return { nextOffset, batches, compressedAt: pos }
    const baseOffset = readInt64(view, pos)
    const lastOffset = baseOffset + view.getInt32(pos + OFFSET_LAST_OFFSET_DELTA)
    batches++
    if (lastOffset >= target.fetchOffset && (attributes & ATTR_CONTROL) === 0) {
      if (target.checkCrcs) checkCrc(records, view, pos, size)
      const baseTimestamp = readInt64(view, pos + OFFSET_BASE_TIMESTAMP)
      decodeRecords(records, pos + BATCH_HEADER_SIZE, pos + size, view.getInt32(pos + OFFSET_RECORDS_COUNT),
        baseOffset, baseTimestamp, target, out)
    }
    if (lastOffset + 1 > nextOffset) nextOffset = lastOffset + 1
    pos += size
  }
  return { nextOffset, batches, compressedAt: -1 }
}

/**
 * Decodes the batches of `records` from `pos` on, compressed or not (the slow path: it
 * allocates the decompressed records and one object per record on the way).
 */
export async function decodeCompressedInto (
  records: Uint8Array, pos: number, target: DecodeTarget, out: Message[], maxBytes: number,
): Promise<DecodeResult> {
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength)
  let nextOffset = target.fetchOffset
  let batches = 0
  while (records.length - pos >= BATCH_HEADER_SIZE) {
    const size = view.getInt32(pos + OFFSET_BATCH_LENGTH) + LOG_OVERHEAD
    if (size < BATCH_HEADER_SIZE || pos + size > records.length) break
    const attributes = view.getInt16(pos + OFFSET_ATTRIBUTES)
    const lastOffset = readInt64(view, pos) + view.getInt32(pos + OFFSET_LAST_OFFSET_DELTA)
    batches++
    if (lastOffset >= target.fetchOffset && (attributes & ATTR_CONTROL) === 0) {
      if (target.checkCrcs) checkCrc(records, view, pos, size)
      const batch = await decodeBatchAsync(records.subarray(pos, pos + size), 0, maxBytes)
      for (const r of batch.records) {
        if (r.offset < target.fetchOffset) continue
        out.push(new FetchedMessage(target.topic, target.partition, r.offset, r.timestamp, r.key, r.value,
          r.headers.length === 0 ? NO_HEADERS : r.headers))
      }
    }
    if (lastOffset + 1 > nextOffset) nextOffset = lastOffset + 1
    pos += size
  }
  return { nextOffset, batches, compressedAt: -1 }
}

function checkCrc (records: Uint8Array, view: DataView, pos: number, size: number): void {
  const stored = view.getUint32(pos + OFFSET_CRC)
  const computed = crc32c(records, pos + OFFSET_ATTRIBUTES, pos + size)
  if (stored !== computed) {
    throw new CorruptRecordError(`fetched batch at offset ${readInt64(view, pos)} fails its CRC32C (stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)})`)
  }
}

/** The records of one uncompressed batch, `records[start, end)`, through the one record decoder. */
function decodeRecords (
  records: Uint8Array, start: number, end: number, count: number,
  baseOffset: number, baseTimestamp: number, target: DecodeTarget, out: Message[],
): void {
  const { topic, partition } = target
  walkRecords(records, start, end, count, baseOffset, baseTimestamp, target.fetchOffset, (offset, timestamp, key, value, headers) => {
    out.push(new FetchedMessage(topic, partition, offset, timestamp, key, value, headers.length === 0 ? NO_HEADERS : headers))
  })
}
