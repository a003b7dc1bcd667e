/**
 * Append-time checks beyond header validation that depend on the topic's config.
 *
 * Compacted topics (kafka-compat-notes.md §1.7 step 3, §2.7): every record needs a key, or
 * the cleaner could never supersede it. For an uncompressed batch the check walks each
 * record's first fields (length, attributes, timestampDelta, offsetDelta, keyLength) in
 * place — no decoding of keys or values. A compressed batch would have to be decompressed,
 * which is asynchronous while append is synchronous (acks=1 contract), so compressed
 * batches are rejected on compacted topics with an InvalidRecordError saying so.
 */

import { VarintCursor } from '../../protocol/bytes/varint.js'
import { CorruptRecordError, InvalidRecordError } from '../../protocol/errors.js'
import { ATTR_COMPRESSION_MASK, BATCH_HEADER_SIZE, LOG_OVERHEAD, type BatchHeader } from '../../protocol/record-batch/header.js'

/** Throws InvalidRecordError when a batch of an already validated payload breaks compaction rules. */
export function checkCompactedPayload (payload: Uint8Array, headers: BatchHeader[]): void {
  let pos = 0
  for (let b = 0; b < headers.length; b++) {
    const h = headers[b]!
    const size = h.batchLength + LOG_OVERHEAD
    if ((h.attributes & ATTR_COMPRESSION_MASK) !== 0) {
      throw new InvalidRecordError(
        'compressed batches are not accepted on compacted topics: the broker would have to decompress them to check that every record has a key; send them uncompressed')
    }
    const cursor = new VarintCursor(payload, pos + BATCH_HEADER_SIZE, pos + size)
    for (let i = 0; i < h.recordsCount; i++) {
      const length = cursor.varint()
      const recordEnd = cursor.pos + length
      cursor.skip(1)
      cursor.varlong()
      cursor.varint()
      const keyLength = cursor.varint()
      if (cursor.pos > recordEnd) throw new CorruptRecordError(`record ${i} of batch ${b} is shorter than its fields`)
      if (keyLength < 0) {
        throw new InvalidRecordError(`record ${i} of batch ${b} has a null key; every record on a compacted topic needs a key`)
      }
      cursor.pos = recordEnd
    }
    pos += size
  }
}
