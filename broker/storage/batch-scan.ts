/**
 * Walking the batches of a `.log` file from disk, in large chunks, without decoding records.
 * Used by recovery (with CRC checks), by index rebuilds, by producer-state rebuilds (headers
 * only), by timestamp lookups and by the cleaner. The fetch path does not use this: it reads
 * one chunk and walks headers in place (partition-log.ts).
 *
 * A batch is accepted when (docs/formats.md §2.5, Kafka's LogSegment.recover):
 * - at least 12 bytes are left and its size (batchLength + 12) is between 61 bytes and
 *   MAX_STORED_BATCH_BYTES, and the whole batch is in the file;
 * - magic is 2;
 * - (with `verifyCrc`) the CRC-32C over attributes..end matches;
 * - its offsets make sense for the segment: baseOffset >= the previous batch's last offset
 *   + 1 (gaps are legal after compaction), baseOffset >= the segment's base offset,
 *   lastOffsetDelta >= 0 and the last offset fits a relative int32.
 * Client-origin checks (lastOffsetDelta + 1 == recordsCount and the record walk) are NOT
 * applied: batches rewritten by the cleaner legitimately hold fewer records than their span.
 */

import fs from 'node:fs'
import { crc32c } from '../../protocol/bytes/crc32c.js'
import {
  BATCH_HEADER_SIZE, LOG_OVERHEAD, MAGIC_V2, OFFSET_ATTRIBUTES, OFFSET_BATCH_LENGTH, OFFSET_CRC,
  OFFSET_LAST_OFFSET_DELTA, OFFSET_MAGIC, OFFSET_MAX_TIMESTAMP,
} from '../../protocol/record-batch/header.js'
import { MAX_BATCH_BYTES_LIMIT } from './config.js'

/** No batch on disk can be larger than the largest batch the config may ever accept. */
export const MAX_STORED_BATCH_BYTES = MAX_BATCH_BYTES_LIMIT
export const MAX_RELATIVE_OFFSET = 0x7fffffff
const TWO_32 = 0x100000000
const DEFAULT_CHUNK_BYTES = 1 << 20

/** Reads a big-endian int64 from a Buffer as a number (exact below 2^53). */
export function int64At (buf: Buffer, at: number): number {
  return buf.readInt32BE(at) * TWO_32 + buf.readUInt32BE(at + 4)
}

export function baseOffsetAt (buf: Buffer, at: number): number { return int64At(buf, at) }
export function batchSizeAt (buf: Buffer, at: number): number { return buf.readInt32BE(at + OFFSET_BATCH_LENGTH) + LOG_OVERHEAD }
export function lastOffsetDeltaAt (buf: Buffer, at: number): number { return buf.readInt32BE(at + OFFSET_LAST_OFFSET_DELTA) }
export function maxTimestampAt (buf: Buffer, at: number): number { return int64At(buf, at + OFFSET_MAX_TIMESTAMP) }

/** readFully without the thread pool: for small reads of bytes just written (page cache). */
export function readFullySync (fd: number, buf: Buffer, offset: number, length: number, position: number): number {
  let done = 0
  while (done < length) {
    const n = fs.readSync(fd, buf, offset + done, length - done, position + done)
    if (n === 0) break
    done += n
  }
  return done
}

/** Reads exactly `length` bytes at `position` unless the file ends first; returns bytes read. */
export async function readFully (fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
  let done = 0
  while (done < length) {
    const n = await new Promise<number>((resolve, reject) => {
      fs.read(fd, buf, offset + done, length - done, position + done, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead)))
    })
    if (n === 0) break
    done += n
  }
  return done
}

export interface ScanOptions {
  /** The segment's base offset (batches may not start below it). */
  segmentBaseOffset: number
  /** Check each batch's CRC (recovery). */
  verifyCrc: boolean
  /** The first batch must start at or after this offset (defaults to the segment base). */
  minNextOffset?: number
  /** Read chunk size. */
  chunkBytes?: number
}

export interface ScanResult {
  /** Position just after the last accepted batch. */
  validEnd: number
  /** lastOffset + 1 of the last accepted batch, or minNextOffset when none. */
  nextOffset: number
  /** Why scanning stopped before `end`, or null when every byte up to `end` was accepted. */
  problem: string | null
}

/**
 * Calls `visit(buf, at, position, size)` for each accepted batch in `[from, end)` of the
 * file; `buf[at, at + size)` holds the batch (valid only during the call unless copied).
 * `visit` may return a promise (the scan awaits it) and `false` to stop early. Stops at the
 * first batch that fails a check and reports it.
 */
export async function scanBatches (
  fd: number, from: number, end: number, options: ScanOptions,
  visit: (buf: Buffer, at: number, position: number, size: number) => void | boolean | Promise<void | boolean>,
): Promise<ScanResult> {
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES
  let buf = Buffer.allocUnsafe(Math.min(chunkBytes, Math.max(end - from, LOG_OVERHEAD)))
  let bufStart = from
  let bufLen = 0
  let position = from
  let nextOffset = options.minNextOffset ?? options.segmentBaseOffset
  const fail = (problem: string): ScanResult => ({ validEnd: position, nextOffset, problem })
  while (position < end) {
    // Make sure the 12-byte prefix is in the buffer.
    if (position + LOG_OVERHEAD > bufStart + bufLen) {
      const want = Math.min(Math.max(chunkBytes, LOG_OVERHEAD), end - position)
      if (buf.length < want) buf = Buffer.allocUnsafe(want)
      bufStart = position
      bufLen = await readFully(fd, buf, 0, want, position)
      if (bufLen < LOG_OVERHEAD) return fail(`${end - position} trailing bytes are too few for a batch`)
    }
    let at = position - bufStart
    const size = batchSizeAt(buf, at)
    if (size < BATCH_HEADER_SIZE || size > MAX_STORED_BATCH_BYTES) return fail(`batch at ${position} has impossible size ${size}`)
    if (position + size > end) return fail(`torn batch at ${position}: needs ${size} bytes, ${end - position} remain`)
    if (at + size > bufLen) {
      const want = Math.min(Math.max(chunkBytes, size), end - position)
      if (buf.length < want) buf = Buffer.allocUnsafe(want)
      bufStart = position
      bufLen = await readFully(fd, buf, 0, want, position)
      if (bufLen < size) return fail(`torn batch at ${position}: needs ${size} bytes, file ends after ${bufLen}`)
      at = 0
    }
    if (buf[at + OFFSET_MAGIC] !== MAGIC_V2) return fail(`batch at ${position} has magic ${buf[at + OFFSET_MAGIC]}`)
    if (options.verifyCrc) {
      const stored = buf.readUInt32BE(at + OFFSET_CRC)
      const computed = crc32c(buf, at + OFFSET_ATTRIBUTES, at + size)
      if (stored !== computed) return fail(`batch at ${position} fails its CRC32C check`)
    }
    let baseOffset: number
    try {
      baseOffset = baseOffsetAt(buf, at)
    } catch {
      return fail(`batch at ${position} has an impossible baseOffset`)
    }
    const lastOffsetDelta = lastOffsetDeltaAt(buf, at)
    const lastOffset = baseOffset + lastOffsetDelta
    if (baseOffset < nextOffset || lastOffsetDelta < 0 || lastOffset - options.segmentBaseOffset > MAX_RELATIVE_OFFSET) {
      return fail(`batch at ${position} has offsets ${baseOffset}..${lastOffset}, expected a start at or after ${nextOffset}`)
    }
    const more = await visit(buf, at, position, size)
    nextOffset = lastOffset + 1
    position += size
    if (more === false) return { validEnd: position, nextOffset, problem: null }
  }
  return { validEnd: position, nextOffset, problem: null }
}
