/**
 * The read side of a segment, used by PartitionLog (split out to keep that file small):
 * fetch reads (one chunk, headers walked in place, whole batches returned as a view of the
 * one buffer read) and the scan behind offsetForTimestamp.
 *
 * Concurrency: each function holds the segment's .log descriptor (a FileHandleCache
 * reference) for its whole duration and reads only below the segment size it captured
 * after acquiring it, so it never sees a partial batch or a reused descriptor.
 */

import { BATCH_HEADER_SIZE, MAGIC_V2, OFFSET_MAGIC } from '../../protocol/record-batch/header.js'
import { decodeBatchAsync } from '../../protocol/record-batch/records.js'
import { baseOffsetAt, batchSizeAt, lastOffsetDeltaAt, maxTimestampAt, readFully, readFullySync, scanBatches } from './batch-scan.js'
import fs from 'node:fs'
import type { Segment } from './segment.js'

export const EMPTY = Buffer.alloc(0)

/**
 * Reads of at most this many bytes within this distance of the end of the active segment
 * are done synchronously: they are a tailing consumer's reads of batches appended moments
 * ago, so the bytes are in the page cache and the copy takes 1-3 µs, while a thread-pool
 * read costs two thread hand-offs on the produce → consume path (~60 µs of wall time per
 * 1-8 KiB read on the project's 2-core VM, more when the cores are busy). Measured with
 * bench/scenarios/latency.ts-style load at 5,000 msg/s: broker CPU per message 54-60 →
 * 42-47 µs, p50 produce→consume 0.41-0.63 → 0.33-0.39 ms (bench/RESULTS.md). Larger reads
 * (a consumer catching up) stay on the thread pool, so they never block the event loop
 * for long.
 */
export const SYNC_TAIL_READ_BYTES = 64 * 1024

/** Reads `want` bytes at `position` of `segment` into a new buffer (see SYNC_TAIL_READ_BYTES). */
async function readChunk (segment: Segment, fd: number, position: number, want: number): Promise<{ buf: typeof EMPTY, n: number }> {
  const buf = Buffer.allocUnsafe(want)
  const tail = segment.active && want <= SYNC_TAIL_READ_BYTES && segment.sizeBytes - position <= SYNC_TAIL_READ_BYTES
  const n = tail ? readFullySync(fd, buf, 0, want, position) : await readFully(fd, buf, 0, want, position)
  return { buf, n }
}

export interface SegmentRead {
  bytes: Buffer
  firstOffset: number
  nextOffset: number
}

/**
 * One segment: read a chunk from the index position, skip batches before `target`, then
 * take whole batches up to maxBytes (the first one even if larger, unless !minOneBatch) and
 * below maxOffset. Returns null when the segment holds no batch whose last offset is >=
 * target. `corrupt` builds the error for bytes that are not a batch where one must start.
 */
export async function readSegmentBatches (
segment: Segment, startPosition: number, target: number, maxBytes: number, maxOffset: number, minOneBatch: boolean,
indexIntervalBytes: number, corrupt: (position: number, what: string) => Error,
): Promise<SegmentRead | null> {
  const fd = await segment.file.acquire()
  try {
    // Captured after acquiring: everything before it is whole batches (append is synchronous).
    const endPosition = segment.sizeBytes
    const chunkBytes = indexIntervalBytes + maxBytes + BATCH_HEADER_SIZE
    let chunkStart = startPosition
    let buf = EMPTY
    let n = 0
    let p = 0
    // Skip batches that end before the target.
    for (;;) {
      if (p + BATCH_HEADER_SIZE > n) {
        chunkStart += p
        if (chunkStart >= endPosition) return null
        const want = Math.min(endPosition - chunkStart, chunkBytes);
        ({ buf, n } = await readChunk(segment, fd, chunkStart, want))
        p = 0
        if (n < BATCH_HEADER_SIZE) throw corrupt(chunkStart, `only ${n} bytes readable`)
      }
      const size = batchSizeAt(buf, p)
      if (size < BATCH_HEADER_SIZE || buf[p + OFFSET_MAGIC] !== MAGIC_V2) throw corrupt(chunkStart + p, `no batch header (size ${size})`)
      const last = baseOffsetAt(buf, p) + lastOffsetDeltaAt(buf, p)
      if (last >= target) break
      p += size
    }
    const firstOffset = baseOffsetAt(buf, p)
    const firstSize = batchSizeAt(buf, p)
    const firstLast = firstOffset + lastOffsetDeltaAt(buf, p)
    if (firstLast >= maxOffset || (firstSize > maxBytes && !minOneBatch)) return { bytes: EMPTY, firstOffset: target, nextOffset: target }
    if (p + firstSize > n) {
      // The first batch is larger than what is buffered (KIP-74, or it straddles the chunk).
      chunkStart += p
      const want = Math.min(endPosition - chunkStart, Math.max(firstSize, maxBytes));
      ({ buf, n } = await readChunk(segment, fd, chunkStart, want))
      p = 0
      if (n < firstSize) throw corrupt(chunkStart, `batch of ${firstSize} bytes, ${n} readable`)
    }
    const first = p
    let end = p + firstSize
    let nextOffset = firstLast + 1
    p = end
    while (p + BATCH_HEADER_SIZE <= n) {
      const size = batchSizeAt(buf, p)
      if (size < BATCH_HEADER_SIZE || end - first + size > maxBytes || p + size > n) break
      const last = baseOffsetAt(buf, p) + lastOffsetDeltaAt(buf, p)
      if (last >= maxOffset) break
      end = p + size
      nextOffset = last + 1
      p = end
    }
    return { bytes: buf.subarray(first, end), firstOffset, nextOffset }
  } finally {
    segment.file.release()
  }
}

/**
 * The first record with timestamp >= timestampMs in `segment` at an offset in
 * [logStartOffset, maxOffset), or null. Starts at the time index's position (indexes must be
 * loaded), skips batches by their header's maxTimestamp, decodes only the batch that holds
 * the answer (decompressing if needed).
 */
export async function findTimestampInSegment (
  segment: Segment, timestampMs: number, logStartOffset: number, maxOffset: number,
): Promise<{ offset: number, timestamp: number } | null> {
  const from = segment.lookupTimestampPosition(timestampMs)
  let found: { offset: number, timestamp: number } | null = null
  const fd = await segment.file.acquire()
  try {
    const end = segment.sizeBytes
    await scanBatches(fd, from, end, { segmentBaseOffset: segment.baseOffset, verifyCrc: false }, async (buf, at) => {
      const base = baseOffsetAt(buf, at)
      if (base >= maxOffset) return false
      const last = base + lastOffsetDeltaAt(buf, at)
      if (last < logStartOffset || maxTimestampAt(buf, at) < timestampMs) return true
      const { records } = await decodeBatchAsync(buf, at)
      for (const r of records) {
        if (r.timestamp >= timestampMs && r.offset >= logStartOffset && r.offset < maxOffset) {
          found = { offset: r.offset, timestamp: r.timestamp }
          return false
        }
      }
      return true
    })
  } finally {
    segment.file.release()
  }
  return found
}

/** Index of the last segment whose base offset is <= offset (0 when none). */
export function floorSegment (segments: Segment[], offset: number): number {
  let lo = 0
  let hi = segments.length - 1
  let found = 0
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    if (segments[mid]!.baseOffset <= offset) {
      found = mid
      lo = mid + 1
    } else {
      hi = mid - 1
    }
  }
  return found
}

/**
 * The first offset whose record timestamp is >= timestampMs over `segments`, or null;
 * segments whose largest timestamp is smaller are skipped without loading their indexes.
 */
export async function findOffsetForTimestamp (
  segments: Segment[], timestampMs: number, logStartOffset: number, maxOffset: number, ensureIndexes: (segment: Segment) => Promise<void>,
): Promise<{ offset: number, timestamp: number } | null> {
  for (const segment of segments) {
    if (segment.sizeBytes === 0 || segment.baseOffset >= maxOffset) continue
    if (await segment.maxRecordTimestampMs() < timestampMs) continue
    await ensureIndexes(segment)
    const found = await findTimestampInSegment(segment, timestampMs, logStartOffset, maxOffset)
    if (found !== null) return found
  }
  return null
}

export interface SegmentsReadContext {
  readonly indexIntervalBytes: number
  /** Loads an old segment's indexes (LogState.ensureIndexes). */
  ensureIndexes (segment: Segment): Promise<void>
  /** Logs and builds the error for bytes that are not a batch where the index pointed. */
  corrupt (segment: Segment, position: number, what: string): Error
}

/**
 * A fetch read over a snapshot of the segment list: from the segment holding `offset` on,
 * the first segment with a batch at or after `offset` (below maxOffset) answers. A segment
 * whose index pointed at no batch loses its index files (caches, rebuilt at the next
 * lookup) and the read fails with the context's error.
 */
export async function readFromSegments (
  segments: Segment[], offset: number, maxBytes: number, maxOffset: number, minOneBatch: boolean, ctx: SegmentsReadContext,
): Promise<SegmentRead | null> {
  for (let i = floorSegment(segments, offset); i < segments.length; i++) {
    const segment = segments[i]!
    if (segment.baseOffset >= maxOffset) break
    if (segment.sizeBytes === 0) continue
    await ctx.ensureIndexes(segment)
    const startPosition = segment.lookupPosition(offset)
    const found = await readSegmentBatches(segment, startPosition, offset, maxBytes, maxOffset, minOneBatch, ctx.indexIntervalBytes, (position, what) => {
      const err = ctx.corrupt(segment, position, what)
      segment.unloadIndexes()
      for (const suffix of ['.index', '.timeindex']) fs.rmSync(segment.pathOf(suffix), { force: true })
      return err
    })
    if (found !== null) return found
    // No batch at or after `offset` in this segment (compacted away): try the next one.
  }
  return null
}
