/**
 * Append-time checks that need Node or the topic's config, on top of the pure header and
 * record checks in protocol/record-batch/header.ts.
 *
 * Compressed batches are decompressed (synchronously: append is synchronous, the acks=1
 * contract) so that their records are checked like uncompressed ones; only gzip can be
 * read, so other codecs are refused with UNSUPPORTED_COMPRESSION_TYPE rather than stored
 * where no consumer of this broker could read them. The decompressed size is bounded.
 *
 * Compacted topics (kafka-compat-notes.md §1.7 step 3, §2.7): every record needs a key, or
 * the cleaner could never supersede it (checked by the record walk, `requireKeys`), and
 * batches must be uncompressed because the cleaner rewrites records in place.
 */

import { gunzipSync } from 'node:zlib'
import { InvalidRecordError, MessageTooLargeError, UnsupportedCompressionTypeError } from '../../protocol/errors.js'
import { DEFAULT_MAX_DECOMPRESSED_BYTES } from '../../protocol/record-batch/compression.js'
import {
  ATTR_COMPRESSION_MASK, Compression, setBaseOffset, setPartitionLeaderEpoch, type BatchHeader, type CompressionCode,
} from '../../protocol/record-batch/header.js'

/** Decompresses a batch's records for validation (gzip only). */
export function decompressForCheck (compression: CompressionCode, bytes: Uint8Array): Uint8Array {
  if (compression !== Compression.gzip) {
    const name = Object.keys(Compression).find(k => Compression[k as keyof typeof Compression] === compression) ?? String(compression)
    throw new UnsupportedCompressionTypeError(`compression ${name} is not supported by this broker (none or gzip)`)
  }
  try {
    const out = gunzipSync(bytes, { maxOutputLength: DEFAULT_MAX_DECOMPRESSED_BYTES })
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new MessageTooLargeError(`decompressed batch exceeds ${DEFAULT_MAX_DECOMPRESSED_BYTES} bytes`, { cause: err })
    }
    throw new InvalidRecordError(`gzip records do not decompress: ${(err as Error).message}`, { cause: err })
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
