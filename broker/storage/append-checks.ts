/**
 * Append-time checks that need Node or the topic's config, on top of the pure header and
 * record checks in protocol/record-batch/header.ts.
 *
 * Compressed batches — gzip, snappy (raw or xerial-framed), lz4 (frames) and zstd, every
 * codec Kafka producers write — are decompressed (synchronously: append is synchronous, the
 * acks=1 contract) with the fastest implementation this process has (platform/node-codecs.ts)
 * so that their records are walked like uncompressed ones; compressed bytes that do not
 * decode are refused with INVALID_RECORD, a decompressed size past the bound with
 * MESSAGE_TOO_LARGE, codec bits 5-7 with UNSUPPORTED_COMPRESSION_TYPE (validateBatch, before
 * this runs). The batch is then stored as the producer compressed it.
 *
 * Compacted topics (docs/formats.md §1.7 step 4, §2.7): every record needs a key, or
 * the cleaner could never supersede it (checked by the record walk, `requireKeys`), and
 * batches must be uncompressed because the cleaner rewrites records in place.
 */

import { CorruptRecordError, InvalidRecordError } from '../../protocol/errors.js'
import { DEFAULT_MAX_DECOMPRESSED_BYTES, compressionName } from '../../protocol/record-batch/compression.js'
import {
  ATTR_COMPRESSION_MASK, BATCH_HEADER_SIZE, LOG_OVERHEAD, MAGIC_V2, OFFSET_ATTRIBUTES, readBatchHeader, setBaseOffset,
  setPartitionLeaderEpoch, type BatchHeader, type CompressionCode,
} from '../../protocol/record-batch/header.js'
import { crc32c } from '../../protocol/bytes/crc32c.js'
import { decompressSync } from '../../platform/node-codecs.js'

/** Decompresses a batch's records for validation (every codec; bounded). */
export function decompressForCheck (compression: CompressionCode, bytes: Uint8Array): Uint8Array {
  try {
    return decompressSync(compression, bytes, DEFAULT_MAX_DECOMPRESSED_BYTES)
  } catch (err) {
    if (err instanceof CorruptRecordError) {
      throw new InvalidRecordError(`${compressionName(compression)} records do not decompress: ${err.message}`, { cause: err })
    }
    throw err
  }
}

/** Throws InvalidRecordError for a compressed batch on a compacted topic. */
export function checkCompactedPayload (headers: BatchHeader[]): void {
  for (const h of headers) {
    if ((h.attributes & ATTR_COMPRESSION_MASK) !== 0) {
      throw new InvalidRecordError(
        'compressed batches are not accepted on compacted topics: the cleaner rewrites records in place; send them uncompressed')
    }
  }
}

/**
 * Rewrites each validated batch's baseOffset (from `baseOffset` on, back to back) and
 * partitionLeaderEpoch in place; both lie outside the CRC, so nothing is re-encoded.
 */
export function assignOffsets (
  payload: Uint8Array, headers: BatchHeader[], baseOffset: number, leaderEpoch: number,
): { nextOffset: number, recordCount: number, maxTimestamp: number } {
  let offset = baseOffset
  let position = 0
  let recordCount = 0
  let maxTimestamp = -1
  for (const h of headers) {
    setBaseOffset(payload, position, offset)
    setPartitionLeaderEpoch(payload, position, leaderEpoch)
    offset += h.lastOffsetDelta + 1
    position += h.batchLength + 12
    recordCount += h.recordsCount
    if (h.maxTimestamp > maxTimestamp) maxTimestamp = h.maxTimestamp
  }
  return { nextOffset: offset, recordCount, maxTimestamp }
}

/**
 * Checks a follower's payload: whole batches as the leader stored them (offsets and leader
 * epochs already assigned, possibly compacted, so recordsCount may be below
 * lastOffsetDelta + 1). Checked: framing, size, magic, CRC-32C, and offsets that start at or
 * after `minBaseOffset` and increase from batch to batch. Records are not walked: the leader
 * validated them on its append and the CRC proves they arrived as it holds them.
 */
export function validateReplicaBatches (payload: Uint8Array, minBaseOffset: number): BatchHeader[] {
  const headers: BatchHeader[] = []
  let pos = 0
  let next = minBaseOffset
  while (pos < payload.length) {
    if (payload.length - pos < BATCH_HEADER_SIZE) throw new CorruptRecordError(`${payload.length - pos} trailing bytes are not a record batch`)
    const h = readBatchHeader(payload, pos)
    const size = h.batchLength + LOG_OVERHEAD
    if (h.batchLength < BATCH_HEADER_SIZE - LOG_OVERHEAD || pos + size > payload.length) {
      throw new CorruptRecordError(`replicated batch at ${pos} says ${size} bytes, ${payload.length - pos} given`)
    }
    if (h.magic !== MAGIC_V2) throw new CorruptRecordError(`replicated batch at ${pos} has magic ${h.magic}`)
    if (crc32c(payload, pos + OFFSET_ATTRIBUTES, pos + size) !== h.crc) throw new CorruptRecordError(`replicated batch at offset ${h.baseOffset} fails its CRC32C check`)
    if (h.lastOffsetDelta < 0 || h.baseOffset < next) {
      throw new InvalidRecordError(`replicated batch has offsets ${h.baseOffset}..${h.baseOffset + h.lastOffsetDelta}, expected a start at or after ${next}`)
    }
    next = h.baseOffset + h.lastOffsetDelta + 1
    headers.push(h)
    pos += size
  }
  if (headers.length === 0) throw new InvalidRecordError('no record batch given')
  return headers
}
