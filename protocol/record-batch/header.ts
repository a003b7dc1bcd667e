/**
 * RecordBatch v2 header: 61 bytes, big-endian (docs/formats.md §1.1).
 *
 *   offset size field
 *        0    8 baseOffset            rewritten by the broker on append
 *        8    4 batchLength           bytes after this field (total = batchLength + 12)
 *       12    4 partitionLeaderEpoch  rewritten by the broker
 *       16    1 magic                 must be 2
 *       17    4 crc                   CRC-32C of bytes 21..end
 *       21    2 attributes            bits 0-2 compression, 3 timestampType, 4 transactional,
 *                                     5 control, 6 hasDeleteHorizon
 *       23    4 lastOffsetDelta
 *       27    8 baseTimestamp
 *       35    8 maxTimestamp
 *       43    8 producerId            -1 when not idempotent
 *       51    2 producerEpoch
 *       53    4 baseSequence
 *       57    4 recordsCount
 *       61    … records (or one compressed blob holding them)
 *
 * Everything the broker needs (offset span, timestamps, producer state) is in this header,
 * so the append path validates and places a batch without decoding its records. The CRC
 * starts at byte 21, so rewriting baseOffset and partitionLeaderEpoch leaves it valid.
 */

import { crc32c } from '../bytes/crc32c.js'
import { readInt64, writeInt64 } from '../bytes/int64.js'
import { VarintCursor } from '../bytes/varint.js'
import {
  CorruptRecordError, InvalidRecordError, MessageTooLargeError, UnsupportedCompressionTypeError,
} from '../errors.js'

export const BATCH_HEADER_SIZE = 61
/** baseOffset + batchLength: the bytes before what batchLength counts. */
export const LOG_OVERHEAD = 12
export const MAGIC_V2 = 2

export const OFFSET_BASE_OFFSET = 0
export const OFFSET_BATCH_LENGTH = 8
export const OFFSET_LEADER_EPOCH = 12
export const OFFSET_MAGIC = 16
export const OFFSET_CRC = 17
export const OFFSET_ATTRIBUTES = 21
export const OFFSET_LAST_OFFSET_DELTA = 23
export const OFFSET_BASE_TIMESTAMP = 27
export const OFFSET_MAX_TIMESTAMP = 35
export const OFFSET_PRODUCER_ID = 43
export const OFFSET_PRODUCER_EPOCH = 51
export const OFFSET_BASE_SEQUENCE = 53
export const OFFSET_RECORDS_COUNT = 57

export const ATTR_COMPRESSION_MASK = 0x07
export const ATTR_TIMESTAMP_TYPE = 0x08
export const ATTR_TRANSACTIONAL = 0x10
export const ATTR_CONTROL = 0x20
export const ATTR_DELETE_HORIZON = 0x40

/** Compression codes of attribute bits 0-2. */
export const Compression = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const
export type CompressionName = keyof typeof Compression
export type CompressionCode = (typeof Compression)[CompressionName]

export interface BatchHeader {
  baseOffset: number
  batchLength: number
  partitionLeaderEpoch: number
  magic: number
  crc: number
  attributes: number
  lastOffsetDelta: number
  baseTimestamp: number
  maxTimestamp: number
  producerId: number
  producerEpoch: number
  baseSequence: number
  recordsCount: number
}

function viewOf (bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * Total size (batchLength + 12) of the batch starting at `pos`, or -1 when fewer than 12
 * bytes are available to tell. Does not check the value is sane.
 */
export function batchSizeAt (bytes: Uint8Array, pos = 0): number {
  if (bytes.length - pos < LOG_OVERHEAD) return -1
  return viewOf(bytes).getInt32(pos + OFFSET_BATCH_LENGTH) + LOG_OVERHEAD
}

/** Reads the 61-byte header at `pos` (no validation beyond its presence). */
export function readBatchHeader (bytes: Uint8Array, pos = 0): BatchHeader {
  if (bytes.length - pos < BATCH_HEADER_SIZE) {
    throw new CorruptRecordError(`record batch header needs ${BATCH_HEADER_SIZE} bytes, ${bytes.length - pos} available`)
  }
  const v = viewOf(bytes)
  return {
    baseOffset: readInt64(v, pos + OFFSET_BASE_OFFSET),
    batchLength: v.getInt32(pos + OFFSET_BATCH_LENGTH),
    partitionLeaderEpoch: v.getInt32(pos + OFFSET_LEADER_EPOCH),
    magic: v.getInt8(pos + OFFSET_MAGIC),
    crc: v.getUint32(pos + OFFSET_CRC),
    attributes: v.getInt16(pos + OFFSET_ATTRIBUTES),
    lastOffsetDelta: v.getInt32(pos + OFFSET_LAST_OFFSET_DELTA),
    baseTimestamp: readInt64(v, pos + OFFSET_BASE_TIMESTAMP),
    maxTimestamp: readInt64(v, pos + OFFSET_MAX_TIMESTAMP),
    producerId: readInt64(v, pos + OFFSET_PRODUCER_ID),
    producerEpoch: v.getInt16(pos + OFFSET_PRODUCER_EPOCH),
    baseSequence: v.getInt32(pos + OFFSET_BASE_SEQUENCE),
    recordsCount: v.getInt32(pos + OFFSET_RECORDS_COUNT),
  }
}

/** Overwrites baseOffset in place (outside the CRC range). */
export function setBaseOffset (bytes: Uint8Array, pos: number, baseOffset: number): void {
  writeInt64(viewOf(bytes), pos + OFFSET_BASE_OFFSET, baseOffset)
}

/** Overwrites partitionLeaderEpoch in place (outside the CRC range). */
export function setPartitionLeaderEpoch (bytes: Uint8Array, pos: number, epoch: number): void {
  viewOf(bytes).setInt32(pos + OFFSET_LEADER_EPOCH, epoch)
}

/** Recomputes and stores the CRC of the batch at `pos` (after a change at byte 21 or later). */
export function updateCrc (bytes: Uint8Array, pos: number, size: number): void {
  viewOf(bytes).setUint32(pos + OFFSET_CRC, crc32c(bytes, pos + OFFSET_ATTRIBUTES, pos + size))
}

export interface ValidateOptions {
  /** Largest accepted batch, in bytes (batchLength + 12). */
  maxBatchBytes?: number
  /** Reject batches that set the control bit (true for client produce). Default true. */
  rejectControl?: boolean
  /**
   * Decompresses a compressed batch's records so they can be checked as well (the broker
   * passes its synchronous codecs; it throws UnsupportedCompressionTypeError for a codec it
   * cannot read). Without it compressed records are not looked at.
   */
  decompress?: (compression: CompressionCode, bytes: Uint8Array) => Uint8Array
  /** Every record must have a key (compacted topics). */
  requireKeys?: boolean
}

/**
 * Validates the batch that occupies exactly `bytes[pos, end)` without decoding records:
 * framing, size limit, magic, CRC-32C, counts, producer fields, and the records' own framing
 * (checkRecords; compressed records only when `options.decompress` is given). Throws a
 * named error; returns the header.
 */
export function validateBatch (bytes: Uint8Array, pos = 0, end = bytes.length, options: ValidateOptions = {}): BatchHeader {
  const available = end - pos
  if (available < BATCH_HEADER_SIZE) {
    throw new CorruptRecordError(`record batch is ${available} bytes, shorter than its ${BATCH_HEADER_SIZE}-byte header`)
  }
  const header = readBatchHeader(bytes, pos)
  const size = header.batchLength + LOG_OVERHEAD
  if (options.maxBatchBytes !== undefined && size > options.maxBatchBytes) {
    throw new MessageTooLargeError(`record batch of ${size} bytes exceeds maxBatchBytes ${options.maxBatchBytes}`)
  }
  if (size !== available) {
    throw new CorruptRecordError(`record batch length field says ${size} bytes, ${available} bytes given`)
  }
  if (header.magic !== MAGIC_V2) throw new CorruptRecordError(`record batch magic is ${header.magic}, expected 2`)
  const crc = crc32c(bytes, pos + OFFSET_ATTRIBUTES, end)
  if (crc !== header.crc) {
    throw new CorruptRecordError(`record batch CRC32C mismatch: stored 0x${header.crc.toString(16)}, computed 0x${crc.toString(16)}`)
  }
  if (header.recordsCount <= 0) throw new InvalidRecordError(`record batch has recordsCount ${header.recordsCount}`)
  if (header.lastOffsetDelta + 1 !== header.recordsCount) {
    throw new InvalidRecordError(`record batch lastOffsetDelta ${header.lastOffsetDelta} disagrees with recordsCount ${header.recordsCount}`)
  }
  const compression = header.attributes & ATTR_COMPRESSION_MASK
  if (compression > Compression.zstd) throw new UnsupportedCompressionTypeError(`unknown compression code ${compression}`)
  if ((options.rejectControl ?? true) && (header.attributes & ATTR_CONTROL) !== 0) {
    throw new InvalidRecordError('clients may not produce control batches')
  }
  if (header.producerId >= 0 && header.baseSequence < 0) {
    throw new InvalidRecordError(`idempotent batch (producerId ${header.producerId}) has baseSequence ${header.baseSequence}`)
  }
  if (compression === Compression.none) {
    checkRecords(bytes, pos + BATCH_HEADER_SIZE, end, header.recordsCount, options.requireKeys)
  } else if (options.decompress !== undefined) {
    const records = options.decompress(compression as CompressionCode, bytes.subarray(pos + BATCH_HEADER_SIZE, end))
    checkRecords(records, 0, records.length, header.recordsCount, options.requireKeys)
  }
  return header
}

/**
 * Walks the records in `bytes[pos, end)` field by field without copying them (Kafka's
 * broker does the same on append): each record's length prefix, attributes, timestamp
 * delta, an offset delta equal to its index, key and value lengths (-1 for null), headers
 * (key length >= 0, value length >= -1); every record must end exactly where its length
 * says and the records exactly at `end`, `expected` of them. A batch that passes can be
 * decoded by any reader, so one bad producer cannot make a partition unreadable.
 */
export function checkRecords (bytes: Uint8Array, pos: number, end: number, expected: number, requireKeys = false): void {
  const c = new VarintCursor(bytes, pos, end)
  let index = 0
  while (c.pos < end) {
    const length = c.varint()
    if (length <= 0) throw new CorruptRecordError(`record ${index} has length ${length}`)
    const recordEnd = c.pos + length
    if (recordEnd > end) throw new CorruptRecordError(`record ${index} runs past the end of its batch`)
    c.skip(1) // attributes
    c.varlong() // timestampDelta
    const offsetDelta = c.varint()
    if (offsetDelta !== index) throw new InvalidRecordError(`record ${index} has offsetDelta ${offsetDelta}`)
    const keyLength = skipBytesField(c, -1, index, 'key')
    if (requireKeys && keyLength < 0) {
      throw new InvalidRecordError(`record ${index} has a null key; every record on a compacted topic needs a key`)
    }
    skipBytesField(c, -1, index, 'value')
    const headers = c.varint()
    if (headers < 0) throw new CorruptRecordError(`record ${index} has ${headers} headers`)
    for (let h = 0; h < headers; h++) {
      skipBytesField(c, 0, index, 'header key')
      skipBytesField(c, -1, index, 'header value')
    }
    if (c.pos !== recordEnd) {
      throw new CorruptRecordError(`record ${index} fields take ${c.pos - recordEnd + length} bytes, its length says ${length}`)
    }
    index++
    if (index > expected) break
  }
  if (index !== expected) throw new InvalidRecordError(`record batch says ${expected} records, holds ${index}${index > expected ? ' or more' : ''}`)
}

/** Skips a varint-length-prefixed field and returns its length; `min` is -1 where null is allowed, else 0. */
function skipBytesField (c: VarintCursor, min: number, index: number, what: string): number {
  const n = c.varint()
  if (n < min) throw new CorruptRecordError(`record ${index} has ${what} length ${n}`)
  if (n > 0) c.skip(n)
  return n
}

/**
 * Validates a produce payload holding one or more batches back to back and returns their
 * headers. The whole payload is checked before anything is written.
 */
export function validateBatches (bytes: Uint8Array, options: ValidateOptions = {}): BatchHeader[] {
  const headers: BatchHeader[] = []
  let pos = 0
  while (pos < bytes.length) {
    const size = batchSizeAt(bytes, pos)
    if (size < 0) throw new CorruptRecordError(`${bytes.length - pos} trailing bytes are not a record batch`)
    if (size < BATCH_HEADER_SIZE) throw new CorruptRecordError(`record batch length field says ${size} bytes`)
    if (options.maxBatchBytes !== undefined && size > options.maxBatchBytes) {
      throw new MessageTooLargeError(`record batch of ${size} bytes exceeds maxBatchBytes ${options.maxBatchBytes}`)
    }
    if (pos + size > bytes.length) {
      throw new CorruptRecordError(`record batch length field says ${size} bytes, ${bytes.length - pos} bytes given`)
    }
    headers.push(validateBatch(bytes, pos, pos + size, options))
    pos += size
  }
  if (headers.length === 0) throw new InvalidRecordError('no record batch given')
  return headers
}
