/**
 * The log cleaner for cleanupPolicy 'compact' (docs/architecture.md §2, docs/formats.md
 * §2.7; Kafka's LogCleaner): keeps the latest record per key, drops keyless records and,
 * after their delete horizon, tombstones. Offsets never change: kept records keep their
 * offsets, and a rewritten batch keeps its baseOffset, lastOffsetDelta and producer fields,
 * so recordsCount may be below lastOffsetDelta + 1. A batch left with no records is dropped,
 * except a producer's last batch, kept empty so idempotent-producer state survives a reload.
 *
 * One pass:
 *   1. eligibility: closed segments only (never the active one); run when dirty bytes /
 *      closed bytes >= minCleanableDirtyRatio, or when some tombstone horizon has passed;
 *   2. key map: key -> latest offset over the dirty range [firstDirtyOffset, active base)
 *      (bounded: past `maxKeys` keys the dirty range ends at that segment's end);
 *   3. clean [first segment, end of dirty range) segment group by segment group (consecutive
 *      segments merge while their input fits segmentBytes, their offsets fit int32 and their
 *      tombstones share a horizon), writing `<base>.log.cleaned`, `.index.cleaned`,
 *      `.timeindex.cleaned`, fsynced. A batch whose records all survive is copied byte for
 *      byte; others are re-encoded with RecordBatchBuilder (same compression);
 *   4. swap, synchronously (nothing else runs meanwhile): write the manifest `cleaner.swap`
 *      (the commit point), then per group rename the old segments' files to `.deleted`,
 *      rename the cleaned files into place (.log last), replace the segments in the log's
 *      list; fsync the directory; remove the manifest. Old files are unlinked once no
 *      in-flight read holds them.
 * Heavy work is asynchronous (file reads, decompression via decodeBatchAsync, writes, and a
 * setImmediate yield every few hundred KiB), so appends and reads continue throughout.
 *
 * Tombstone lifetime — an equivalent of KIP-534, documented here: instead of stamping
 * attribute bit 6 in each batch (which this codebase's decoder and Kafka's interpret
 * differently, see the report), the cleaner records per cleaned segment the delete
 * horizon of the tombstones it holds in `log-checkpoint` ("tombstoneHorizons"). Every
 * tombstone first seen by pass P (it lay in P's dirty range) gets horizon
 * P.now + deleteRetentionMs; segments are only merged when their horizons agree, so the
 * horizon is exact per tombstone. A pass at time >= horizon removes them. If the checkpoint
 * is lost, tombstones count as first seen by the next pass (kept longer, never shorter).
 *
 * `cleaner.swap` (checked file, see checkpoint.ts) body:
 *   { "groups": [ { "base": N, "replaces": [N, ...] }, ... ] }
 * Recovery (`finishInterruptedSwap`, called first when a log opens): with a manifest, every
 * group whose `<base>.log.cleaned` still exists is completed (replaced segments' files
 * removed, cleaned files renamed into place); without one, `.cleaned` files are discarded.
 * Either way a crash at any point leaves a valid log: before the manifest the old segments
 * are intact, after it the cleaned ones are complete and fsynced.
 *
 * Concurrency: at most one pass per log (the PartitionLog guards it). Retention or
 * deleteRecordsBefore may delete segments during a pass; a group whose segments are no
 * longer all live is discarded at swap time, and the cleaner position then stays where it
 * was (so its surviving segments are cleaned by the next pass; tombstones that pass sees
 * again may get a later horizon — kept longer, never shorter). `host.aborted()` (log closing) stops a pass
 * between batches and discards its files.
 */

import fs from 'node:fs'
import path from 'node:path'
import type pino from 'pino'
import { ATTR_COMPRESSION_MASK, ATTR_CONTROL, ATTR_DELETE_HORIZON, BATCH_HEADER_SIZE, OFFSET_ATTRIBUTES, OFFSET_BATCH_LENGTH, OFFSET_RECORDS_COUNT, readBatchHeader, updateCrc } from '../../protocol/record-batch/header.js'
import { RecordBatchBuilder, decodeBatchAsync, type DecodedRecord } from '../../protocol/record-batch/records.js'
import type { CompressionCode } from '../../protocol/record-batch/header.js'
import type { LogConfig } from './config.js'
import type { FileHandleCache } from './file-handle-cache.js'
import { FileRetiredError } from './file-handle-cache.js'
import { readCheckedFile, writeCheckedFile, fsyncDir } from './checkpoint.js'
import { MAX_RELATIVE_OFFSET, baseOffsetAt, lastOffsetDeltaAt, maxTimestampAt, scanBatches } from './batch-scan.js'
import { faultPoints } from './testing/fault-points.js'
import {
  CLEANED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, SEGMENT_SUFFIXES, Segment, TIME_INDEX_SUFFIX, indexBatch,
  newIndexBuildState, offsetFileName, writeFileAtomic, type IndexBuildState, type SegmentContext,
} from './segment.js'

export const SWAP_MANIFEST_FILE = 'cleaner.swap'
const SWAP_KIND = 'cleaner-swap'
/** Default bound on distinct keys held in memory by one pass. */
export const DEFAULT_MAX_KEYS_PER_PASS = 1_000_000
const YIELD_EVERY_BYTES = 256 * 1024

export interface CompactionResult {
  /** Offsets below this had been cleaned before the pass. */
  firstDirtyOffset: number
  /** The pass cleaned every closed segment below this offset; the next dirty range starts here. */
  cleanedUpToOffset: number
  segmentsBefore: number
  segmentsAfter: number
  bytesBefore: number
  bytesAfter: number
  recordsRemoved: number
  tombstonesRemoved: number
  /** Horizon given to tombstones first seen by this pass. */
  deleteHorizonMs: number
}

export interface CleanerHost {
  readonly dir: string
  readonly config: LogConfig
  readonly logger: pino.Logger
  readonly handles: FileHandleCache
  readonly segmentContext: SegmentContext
  readonly firstDirtyOffset: number
  readonly tombstoneHorizons: ReadonlyMap<number, number>
  now (): number
  /** All segments, oldest first, the active one last (a stable snapshot). */
  segments (): readonly Segment[]
  /** Last offset of the producer's last batch, or -1. */
  producerLastOffset (producerId: number): number
  aborted (): boolean
  /** Synchronously replaces `old` (consecutive, live) by `replacement` in the log's list. */
  replaceSegments (old: readonly Segment[], replacement: Segment): void
  /** The pass is over: new cleaner position and horizons (persist them). */
  cleanerDone (firstDirtyOffset: number, horizons: Map<number, number>): void
}

interface CleanedGroup {
  base: number
  replaces: Segment[]
  sizeBytes: number
  nextOffset: number
  index: IndexBuildState
  tombstonesKept: boolean
  horizonMs: number
}

interface PassState {
  map: Map<string, number>
  nowMs: number
  /** Segments of the dirty range (never cleaned before): their tombstones are first seen now. */
  dirty: Set<Segment>
  recordsRemoved: number
  tombstonesRemoved: number
  sinceYieldBytes: number
}

class CleanerAborted extends Error {}

function keyOf (key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1')
}

async function maybeYield (state: PassState, bytes: number): Promise<void> {
  state.sinceYieldBytes += bytes
  if (state.sinceYieldBytes >= YIELD_EVERY_BYTES) {
    state.sinceYieldBytes = 0
    await new Promise(resolve => setImmediate(resolve))
  }
}

/** Runs one cleaning pass; null when there is nothing to do (or the pass was abandoned). */
export async function compactLog (host: CleanerHost, maxKeys = DEFAULT_MAX_KEYS_PER_PASS): Promise<CompactionResult | null> {
  const config = host.config
  const nowMs = host.now()
  const all = host.segments()
  const closed = all.slice(0, -1)
  if (closed.length === 0) return null
  const firstUncleanable = all.at(-1)!.baseOffset
  const firstDirty = Math.min(Math.max(host.firstDirtyOffset, closed[0]!.baseOffset), firstUncleanable)
  const upperOf = (i: number): number => all[i + 1]!.baseOffset
  const dirtyStart = closed.findIndex((_, i) => upperOf(i) > firstDirty)
  const dirty = dirtyStart < 0 ? [] : closed.slice(dirtyStart)
  const dirtyBytes = dirty.reduce((sum, s) => sum + s.sizeBytes, 0)
  const closedBytes = closed.reduce((sum, s) => sum + s.sizeBytes, 0)
  const horizons = host.tombstoneHorizons
  const expired = closed.some(s => (horizons.get(s.baseOffset) ?? Number.POSITIVE_INFINITY) <= nowMs)
  const ratio = closedBytes === 0 ? 0 : dirtyBytes / closedBytes
  if (!(dirtyBytes > 0 && ratio >= config.minCleanableDirtyRatio) && !expired) return null

  const state: PassState = { map: new Map(), nowMs, dirty: new Set(dirty), recordsRemoved: 0, tombstonesRemoved: 0, sinceYieldBytes: 0 }
  const written: CleanedGroup[] = []
  try {
    // 1. Key map over the dirty range, bounded by maxKeys (stop at a segment boundary).
    let cleanUpTo = dirty.length === 0 ? firstDirty : firstUncleanable
    for (const segment of dirty) {
      await forEachRecord(host, segment, state, record => {
        if (record.key !== null) state.map.set(keyOf(record.key), record.offset)
      })
      if (state.map.size >= maxKeys) {
        cleanUpTo = all[all.indexOf(segment) + 1]!.baseOffset
        break
      }
    }
    const toClean = closed.filter((_, i) => upperOf(i) <= cleanUpTo)
    if (toClean.length === 0) return null

    // 2. Clean group by group.
    const deleteHorizonMs = nowMs + config.deleteRetentionMs
    const classOf = (s: Segment): number => {
      const h = horizons.get(s.baseOffset)
      return !state.dirty.has(s) && h !== undefined && h > nowMs ? h : deleteHorizonMs
    }
    for (const group of groupSegments(toClean, all, config, classOf)) {
      written.push(await cleanGroup(host, group, state, classOf(group[0]!)))
      if (host.aborted()) throw new CleanerAborted()
    }

    // 3. Swap (synchronous from here on).
    if (faultPoints.active) faultPoints.hit('compaction.beforeSwap')
    // swapIn owns the cleaned files from here: it removes them if it fails before its commit
    // point, and after it they must stay for recovery to finish the swap.
    const groups = written.splice(0)
    const swapped = swapIn(host, groups)
    // A group is skipped when retention or deleteRecordsBefore removed one of its segments
    // meanwhile. Its surviving segments were not cleaned, so the cleaner position stays where
    // it was (the next pass cleans again from there) and their horizons are kept.
    const skipped = groups.filter(g => !swapped.includes(g))
    const keepBases = new Set(skipped.flatMap(g => g.replaces.map(s => s.baseOffset)))
    const newHorizons = new Map<number, number>()
    const live = new Set(host.segments().map(s => s.baseOffset))
    for (const [base, h] of horizons) if (live.has(base) && (base >= cleanUpTo || keepBases.has(base))) newHorizons.set(base, h)
    for (const g of swapped) if (g.tombstonesKept) newHorizons.set(g.base, g.horizonMs)
    host.cleanerDone(skipped.length === 0 ? cleanUpTo : firstDirty, newHorizons)
    const result: CompactionResult = {
      firstDirtyOffset: firstDirty,
      cleanedUpToOffset: cleanUpTo,
      segmentsBefore: toClean.length,
      segmentsAfter: swapped.length,
      bytesBefore: toClean.reduce((sum, s) => sum + s.sizeBytes, 0),
      bytesAfter: swapped.reduce((sum, g) => sum + g.sizeBytes, 0),
      recordsRemoved: state.recordsRemoved,
      tombstonesRemoved: state.tombstonesRemoved,
      deleteHorizonMs,
    }
    host.logger.info({ ...result }, 'log compacted')
    return result
  } catch (err) {
    for (const g of written) removeCleanedFiles(host.dir, g.base)
    if (err instanceof CleanerAborted || err instanceof FileRetiredError) return null
    throw err
  }
}

/** Consecutive segments merged while input fits segmentBytes, offsets fit int32, horizons agree. */
function groupSegments (
  toClean: Segment[], all: readonly Segment[], config: LogConfig, classOf: (s: Segment) => number,
): Segment[][] {
  const groups: Segment[][] = []
  let current: Segment[] = []
  let bytes = 0
  for (const segment of toClean) {
    const upper = all[all.indexOf(segment) + 1]!.baseOffset
    const head = current[0]
    const fits = head !== undefined && bytes + segment.sizeBytes <= config.segmentBytes &&
      upper - 1 - head.baseOffset <= MAX_RELATIVE_OFFSET && classOf(head) === classOf(segment)
    if (!fits && current.length > 0) {
      groups.push(current)
      current = []
      bytes = 0
    }
    current.push(segment)
    bytes += segment.sizeBytes
  }
  if (current.length > 0) groups.push(current)
  return groups
}

/** Decodes every record of a segment (decompressing as needed), awaiting between batches. */
async function forEachRecord (host: CleanerHost, segment: Segment, state: PassState, fn: (r: DecodedRecord) => void): Promise<void> {
  const fd = await segment.file.acquire()
  try {
    await scanBatches(fd, 0, segment.sizeBytes, { segmentBaseOffset: segment.baseOffset, verifyCrc: false }, async (buf, at, _position, size) => {
      if ((buf.readInt16BE(at + OFFSET_ATTRIBUTES) & ATTR_CONTROL) === 0) {
        const { records } = await decodeBatchAsync(buf, at)
        for (const r of records) fn(r)
      }
      if (host.aborted()) throw new CleanerAborted()
      await maybeYield(state, size)
    })
  } finally {
    segment.file.release()
  }
}

async function cleanGroup (host: CleanerHost, group: Segment[], state: PassState, horizonMs: number): Promise<CleanedGroup> {
  const base = group[0]!.baseOffset
  const logPath = path.join(host.dir, offsetFileName(base, LOG_SUFFIX + CLEANED_SUFFIX))
  const out = fs.openSync(logPath, 'w')
  const index = newIndexBuildState()
  const interval = host.config.indexIntervalBytes
  let outPos = 0
  let nextOffset = base
  let tombstonesKept = false
  try {
    for (const segment of group) {
      const horizon = host.tombstoneHorizons.get(segment.baseOffset)
      const tombstonesExpire = !state.dirty.has(segment) && horizon !== undefined && horizon <= state.nowMs
      const fd = await segment.file.acquire()
      try {
        await scanBatches(fd, 0, segment.sizeBytes, { segmentBaseOffset: segment.baseOffset, verifyCrc: false }, async (buf, at, _position, size) => {
          const cleaned = await cleanBatch(host, buf, at, size, state, tombstonesExpire)
          if (cleaned !== null) {
            if (cleaned.tombstones) tombstonesKept = true
            const bytes = cleaned.bytes
            const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
            await writeAll(out, b, outPos)
            indexBatch(index, baseOffsetAt(b, 0) - base, outPos, b.length, maxTimestampAt(b, 0), interval)
            nextOffset = baseOffsetAt(b, 0) + lastOffsetDeltaAt(b, 0) + 1
            outPos += b.length
          }
          if (host.aborted()) throw new CleanerAborted()
          await maybeYield(state, size)
        })
      } finally {
        segment.file.release()
      }
    }
    index.timeIndex.maybeAppend(index.largestTimestampMs, index.offsetOfLargestTimestamp)
    fs.fsyncSync(out)
  } finally {
    fs.closeSync(out)
  }
  writeFileAtomic(path.join(host.dir, offsetFileName(base, INDEX_SUFFIX + CLEANED_SUFFIX)), index.offsetIndex.toBytes(), true)
  writeFileAtomic(path.join(host.dir, offsetFileName(base, TIME_INDEX_SUFFIX + CLEANED_SUFFIX)), index.timeIndex.toBytes(), true)
  return { base, replaces: group, sizeBytes: outPos, nextOffset, index, tombstonesKept, horizonMs }
}

/**
 * The batch at `buf[at, at + size)` after cleaning: the same bytes when every record stays,
 * an empty batch for a producer's last batch, null when it goes, else a re-encoded batch.
 */
async function cleanBatch (
  host: CleanerHost, buf: Buffer, at: number, size: number, state: PassState, tombstonesExpire: boolean,
): Promise<{ bytes: Uint8Array, tombstones: boolean } | null> {
  const header = readBatchHeader(buf, at)
  if ((header.attributes & ATTR_CONTROL) !== 0) return { bytes: buf.subarray(at, at + size), tombstones: false }
  const { records } = await decodeBatchAsync(buf, at)
  const kept: DecodedRecord[] = []
  let tombstones = false
  for (const r of records) {
    if (r.key === null) {
      state.recordsRemoved++
      continue
    }
    const latest = state.map.get(keyOf(r.key))
    if (latest !== undefined && latest > r.offset) {
      state.recordsRemoved++
      continue
    }
    if (r.value === null) {
      if (tombstonesExpire) {
        state.recordsRemoved++
        state.tombstonesRemoved++
        continue
      }
      tombstones = true
    }
    kept.push(r)
  }
  const lastOffset = header.baseOffset + header.lastOffsetDelta
  if (kept.length === records.length && records.length > 0) return { bytes: buf.subarray(at, at + size), tombstones }
  if (kept.length === 0) {
    if (header.producerId < 0 || host.producerLastOffset(header.producerId) !== lastOffset) return null
    return { bytes: emptyBatch(buf, at), tombstones: false }
  }
  const builder = new RecordBatchBuilder(size + 64)
  for (const r of kept) {
    builder.append({ key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp }, r.offset - header.baseOffset)
  }
  const options = {
    baseOffset: header.baseOffset,
    partitionLeaderEpoch: header.partitionLeaderEpoch,
    producerId: header.producerId,
    producerEpoch: header.producerEpoch,
    baseSequence: header.baseSequence,
    attributes: header.attributes & ~(ATTR_COMPRESSION_MASK | ATTR_DELETE_HORIZON),
    lastOffsetDelta: header.lastOffsetDelta,
  }
  const compression = (header.attributes & ATTR_COMPRESSION_MASK) as CompressionCode
  const bytes = compression === 0 ? builder.build(options) : await builder.buildCompressed(compression, options)
  return { bytes, tombstones }
}

/** The batch's header alone, with no records (offset span and producer fields preserved). */
function emptyBatch (buf: Buffer, at: number): Buffer {
  const b = Buffer.from(buf.subarray(at, at + BATCH_HEADER_SIZE))
  b.writeInt32BE(BATCH_HEADER_SIZE - 12, OFFSET_BATCH_LENGTH)
  b.writeInt32BE(0, OFFSET_RECORDS_COUNT)
  b.writeInt16BE(b.readInt16BE(OFFSET_ATTRIBUTES) & ~(ATTR_COMPRESSION_MASK | ATTR_DELETE_HORIZON), OFFSET_ATTRIBUTES)
  updateCrc(b, 0, BATCH_HEADER_SIZE)
  return b
}

async function writeAll (fd: number, bytes: Buffer, position: number): Promise<void> {
  let done = 0
  while (done < bytes.length) {
    done += await new Promise<number>((resolve, reject) => {
      fs.write(fd, bytes, done, bytes.length - done, position + done, (err, n) => (err ? reject(err) : resolve(n)))
    })
  }
}

function removeCleanedFiles (dir: string, base: number): void {
  for (const suffix of SEGMENT_SUFFIXES) fs.rmSync(path.join(dir, offsetFileName(base, suffix + CLEANED_SUFFIX)), { force: true })
}

/** The synchronous swap; returns the groups actually swapped in. */
function swapIn (host: CleanerHost, groups: CleanedGroup[]): CleanedGroup[] {
  const live = new Set(host.segments())
  const valid: CleanedGroup[] = []
  for (const g of groups) {
    if (g.replaces.every(s => live.has(s) && !s.retired)) valid.push(g)
    else removeCleanedFiles(host.dir, g.base)
  }
  if (valid.length === 0) return valid
  const manifestPath = path.join(host.dir, SWAP_MANIFEST_FILE)
  try {
    writeCheckedFile(SWAP_KIND, manifestPath, { groups: valid.map(g => ({ base: g.base, replaces: g.replaces.map(s => s.baseOffset) })) }, true)
    fsyncDir(host.dir)
  } catch (err) {
    fs.rmSync(manifestPath, { force: true })
    for (const g of valid) removeCleanedFiles(host.dir, g.base)
    throw err
  }
  // Committed: from here a failure (or a crash) is finished by finishInterruptedSwap on the
  // next open; the in-memory list may then lag the directory until the log is reopened.
  if (faultPoints.active) faultPoints.hit('compaction.afterManifest')
  valid.forEach((g, i) => {
    if (i === 1 && faultPoints.active) faultPoints.hit('compaction.midSwap')
    for (const s of g.replaces) void s.retire()
    for (const suffix of [INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX]) {
      const target = path.join(host.dir, offsetFileName(g.base, suffix))
      fs.renameSync(target + CLEANED_SUFFIX, target)
    }
    const replacement = Segment.withIndexes(host.segmentContext, host.dir, g.base, host.handles, g.sizeBytes, g.nextOffset, g.index, host.now())
    host.replaceSegments(g.replaces, replacement)
  })
  fsyncDir(host.dir)
  fs.rmSync(manifestPath, { force: true })
  return valid
}

/**
 * Completes (manifest present) or discards (no manifest) a swap interrupted by a crash;
 * see the header. Runs before the directory is listed.
 */
export function finishInterruptedSwap (dir: string, logger: pino.Logger): void {
  const manifestPath = path.join(dir, SWAP_MANIFEST_FILE)
  const read = readCheckedFile(SWAP_KIND, manifestPath)
  if (read === null) return
  if ('problem' in read) {
    logger.error({ reason: read.problem }, 'compaction swap manifest unreadable; discarding cleaned files')
    fs.rmSync(manifestPath, { force: true })
    return
  }
  const groups = (read.body as { groups?: Array<{ base: number, replaces: number[] }> }).groups ?? []
  let completed = 0
  for (const g of groups) {
    const cleanedLog = path.join(dir, offsetFileName(g.base, LOG_SUFFIX + CLEANED_SUFFIX))
    const incomplete = fs.existsSync(cleanedLog)
    for (const r of g.replaces) {
      if (r === g.base) continue
      for (const suffix of SEGMENT_SUFFIXES) fs.rmSync(path.join(dir, offsetFileName(r, suffix)), { force: true })
    }
    if (!incomplete) continue
    completed++
    for (const suffix of [INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX]) {
      const target = path.join(dir, offsetFileName(g.base, suffix))
      if (fs.existsSync(target + CLEANED_SUFFIX)) fs.renameSync(target + CLEANED_SUFFIX, target)
    }
  }
  fsyncDir(dir)
  fs.rmSync(manifestPath, { force: true })
  fsyncDir(dir)
  logger.warn({ groups: groups.length, completed }, 'finished a compaction swap interrupted by a crash')
}
