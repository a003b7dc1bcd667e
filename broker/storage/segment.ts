/**
 * One segment of a partition log: `<20-digit baseOffset>.log` plus its `.index` and
 * `.timeindex` (docs/architecture.md §2, docs/formats.md §2.1-2.3).
 *
 * `.log` format: RecordBatch v2 batches back to back exactly as docs/formats.md §1
 * describes, no extra framing; batches are in offset order, offsets strictly increase and
 * may have gaps (compaction). Everything before `sizeBytes` is whole, valid batches:
 * appends write whole payloads with one write call and only then move `sizeBytes`, so a
 * reader that captures `sizeBytes` never sees a partial batch. Bytes after `sizeBytes`
 * (a failed write, a torn tail after a crash) are never read and are overwritten or
 * truncated by recovery.
 *
 * Not protected: `.log` bytes are protected per batch by the batch CRC (checked on append
 * and by recovery), not per file. Index files are caches (see offset-index.ts and
 * time-index.ts).
 *
 * Life cycle: created active (entries kept in memory, written on roll and close);
 * `deactivate()` on roll appends the final time-index entry and writes both index files;
 * old segments opened at startup load their indexes lazily on first lookup (and rebuild
 * them from the .log if the files are missing or inconsistent); `retire()` renames the
 * files to `.deleted` and unlinks them once no read holds the descriptor.
 *
 * Concurrency: `append` and `deactivate` are synchronous and only ever run on the active
 * segment from the log's append path. `lookup*` are synchronous on loaded indexes;
 * `loadIndexes` is async and may run while appends continue (on old segments only).
 */

import fs from 'node:fs'
import path from 'node:path'
import type { BatchHeader } from '../../protocol/record-batch/header.js'
import { StorageError } from '../../protocol/errors.js'
import type { CachedFile, FileHandleCache } from './file-handle-cache.js'
import { OffsetIndex } from './offset-index.js'
import { TimeIndex } from './time-index.js'
import { maxTimestampAt, baseOffsetAt, lastOffsetDeltaAt, scanBatches, type ScanResult } from './batch-scan.js'
import { writeFileAtomic } from './atomic-file.js'
import { faultPoints } from './testing/fault-points.js'

export const LOG_SUFFIX = '.log'
export const INDEX_SUFFIX = '.index'
export const TIME_INDEX_SUFFIX = '.timeindex'
export const DELETED_SUFFIX = '.deleted'
export const CLEANED_SUFFIX = '.cleaned'
export const SEGMENT_SUFFIXES = [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] as const

/** `00000000000000368769` — 20 digits fit any non-negative int64. */
export function offsetFileName (offset: number, suffix: string): string {
  return String(offset).padStart(20, '0') + suffix
}

/** Parses `<20 digits><suffix>`; returns -1 for other names. */
export function parseOffsetFileName (name: string, suffix: string): number {
  if (!name.endsWith(suffix) || name.length !== 20 + suffix.length) return -1
  const digits = name.slice(0, 20)
  if (!/^\d{20}$/.test(digits)) return -1
  const n = Number(digits)
  return Number.isSafeInteger(n) ? n : -1
}

export interface IndexBuildState {
  offsetIndex: OffsetIndex
  timeIndex: TimeIndex
  bytesSinceLastIndexEntry: number
  largestTimestampMs: number
  offsetOfLargestTimestamp: number
  firstBatchMaxTimestampMs: number
}

export function newIndexBuildState (): IndexBuildState {
  return {
    offsetIndex: new OffsetIndex(),
    timeIndex: new TimeIndex(),
    bytesSinceLastIndexEntry: 0,
    largestTimestampMs: -1,
    offsetOfLargestTimestamp: 0,
    firstBatchMaxTimestampMs: -1,
  }
}

/**
 * Kafka's per-append index rule (LogSegment.append) applied to one batch at `position`:
 * track the largest timestamp, add an offset-index entry (and a time-index entry) when more
 * than `indexIntervalBytes` went in since the last entry.
 */
export function indexBatch (
  state: IndexBuildState, relativeOffset: number, position: number, size: number,
  maxTimestampMs: number, indexIntervalBytes: number,
): void {
  if (state.firstBatchMaxTimestampMs < 0 && position === 0) state.firstBatchMaxTimestampMs = maxTimestampMs
  if (maxTimestampMs > state.largestTimestampMs) {
    state.largestTimestampMs = maxTimestampMs
    state.offsetOfLargestTimestamp = relativeOffset
  }
  if (state.bytesSinceLastIndexEntry > indexIntervalBytes) {
    state.offsetIndex.append(relativeOffset, position)
    state.timeIndex.maybeAppend(state.largestTimestampMs, state.offsetOfLargestTimestamp)
    state.bytesSinceLastIndexEntry = 0
  }
  state.bytesSinceLastIndexEntry += size
}

/** What a segment needs from its log: the current index interval and a place to report. */
export interface SegmentContext {
  readonly indexIntervalBytes: number
  onIndexRebuild (segment: Segment, reason: string): void
  /** Writes a cache file (index files) best effort: skipped on a full disk (disk-space.ts). */
  writeCache (what: string, write: () => void): void
}

export class Segment {
  readonly baseOffset: number
  readonly dir: string
  readonly file: CachedFile
  #sizeBytes: number
  /** Last offset + 1 when known (active segment, recovered or scanned), else -1. */
  #nextOffset: number
  #active: boolean
  /** In-memory index state; null for an old segment whose indexes are not loaded. */
  #index: IndexBuildState | null
  #loading: Promise<void> | null = null
  /** Largest timestamp, cached for old segments (NaN = not read yet). */
  #largestTimestampMs = Number.NaN
  readonly #createdMs: number
  #retired = false
  readonly #ctx: SegmentContext

  private constructor (ctx: SegmentContext, dir: string, baseOffset: number, file: CachedFile, sizeBytes: number, active: boolean, createdMs: number) {
    this.#ctx = ctx
    this.dir = dir
    this.baseOffset = baseOffset
    this.file = file
    this.#sizeBytes = sizeBytes
    this.#active = active
    this.#nextOffset = sizeBytes === 0 ? baseOffset : -1
    this.#index = null
    this.#createdMs = createdMs
  }

  /** Creates a new empty active segment (truncating stale files of the same name). */
  static create (ctx: SegmentContext, dir: string, baseOffset: number, handles: FileHandleCache, nowMs: number): Segment {
    const logPath = path.join(dir, offsetFileName(baseOffset, LOG_SUFFIX))
    fs.closeSync(fs.openSync(logPath, 'w'))
    for (const suffix of [INDEX_SUFFIX, TIME_INDEX_SUFFIX]) fs.rmSync(path.join(dir, offsetFileName(baseOffset, suffix)), { force: true })
    const segment = new Segment(ctx, dir, baseOffset, handles.file(logPath, 'r+'), 0, true, nowMs)
    segment.#index = newIndexBuildState()
    return segment
  }

  /** An existing segment whose .log has `sizeBytes` trusted bytes; indexes load lazily. */
  static open (ctx: SegmentContext, dir: string, baseOffset: number, handles: FileHandleCache, sizeBytes: number, createdMs: number): Segment {
    const logPath = path.join(dir, offsetFileName(baseOffset, LOG_SUFFIX))
    return new Segment(ctx, dir, baseOffset, handles.file(logPath, 'r'), sizeBytes, false, createdMs)
  }

  /** A segment whose in-memory indexes were just built (recovery, the cleaner). */
  static withIndexes (
    ctx: SegmentContext, dir: string, baseOffset: number, handles: FileHandleCache, sizeBytes: number, nextOffset: number,
    index: IndexBuildState, createdMs: number,
  ): Segment {
    const logPath = path.join(dir, offsetFileName(baseOffset, LOG_SUFFIX))
    const segment = new Segment(ctx, dir, baseOffset, handles.file(logPath, 'r'), sizeBytes, false, createdMs)
    segment.#index = index
    segment.#nextOffset = nextOffset
    segment.#largestTimestampMs = index.largestTimestampMs
    return segment
  }

  pathOf (suffix: string): string {
    return path.join(this.dir, offsetFileName(this.baseOffset, suffix))
  }

  get sizeBytes (): number { return this.#sizeBytes }
  get active (): boolean { return this.#active }
  get retired (): boolean { return this.#retired }
  get nextOffset (): number { return this.#nextOffset }
  get createdMs (): number { return this.#createdMs }
  get indexesLoaded (): boolean { return this.#index !== null }

  /** Max timestamp of the first batch (Kafka's roll-by-age base), -1 when none. */
  get firstBatchMaxTimestampMs (): number { return this.#index?.firstBatchMaxTimestampMs ?? -1 }

  /** Bytes of index memory held (for the log's small cache of loaded indexes). */
  get indexMemoryBytes (): number {
    return this.#index === null ? 0 : this.#index.offsetIndex.memoryBytes + this.#index.timeIndex.memoryBytes
  }

  /**
   * Writes `payload` (whole batches, offsets already assigned) at the end of the .log with
   * one write call, then updates the in-memory indexes. Throws StorageError after undoing
   * a partial write. Synchronous: when it returns the bytes are in the page cache.
   */
  append (payload: Uint8Array, headers: BatchHeader[], baseOffset: number, offsetsAsStored = false): void {
    const indexIntervalBytes = this.#ctx.indexIntervalBytes
    const position = this.#sizeBytes
    const fd = this.file.acquireSync()
    try {
      let written = 0
      if (faultPoints.active && payload.length > 1) {
        // Half the payload first, so a point armed here sees (or leaves, crashing) a torn batch.
        written = fs.writeSync(fd, payload, 0, payload.length >> 1, position)
        faultPoints.hit('segment.midWrite')
      }
      while (written < payload.length) {
        written += fs.writeSync(fd, payload, written, payload.length - written, position + written)
      }
    } catch (err) {
      try { fs.ftruncateSync(fd, position) } catch { /* recovery truncates a torn tail anyway */ }
      throw new StorageError(`write to ${this.file.path} failed: ${(err as Error).message}`, { cause: err })
    } finally {
      this.file.release()
    }
    const index = this.#index!
    let pos = position
    let offset = baseOffset
    for (let i = 0; i < headers.length; i++) {
      const h = headers[i]!
      const size = h.batchLength + 12
      // A follower's batches keep the leader's offsets, gaps (compaction) included.
      if (offsetsAsStored) offset = h.baseOffset
      indexBatch(index, offset - this.baseOffset, pos, size, h.maxTimestamp, indexIntervalBytes)
      offset += h.lastOffsetDelta + 1
      pos += size
    }
    this.#sizeBytes = pos
    this.#nextOffset = offset
    this.#largestTimestampMs = index.largestTimestampMs
  }

  /**
   * Stops being the active segment: final time-index entry, index files written. The files
   * are written first: if that throws (a full disk) the segment stays active and usable.
   */
  deactivate (): void {
    if (!this.#active) return
    this.sealTimeIndex()
    this.writeIndexFiles()
    this.#active = false
    this.file.setMode('r')
  }

  /** Writes both index files whole from memory (tmp + rename, so a reader never sees half). */
  writeIndexFiles (fsync = false): void {
    const index = this.#index
    if (index === null) return
    writeFileAtomic(this.pathOf(INDEX_SUFFIX), index.offsetIndex.toBytes(), fsync)
    writeFileAtomic(this.pathOf(TIME_INDEX_SUFFIX), index.timeIndex.toBytes(), fsync)
  }

  /** The time index's final entry for a closing active segment (close() keeps it active). */
  sealTimeIndex (): void {
    const index = this.#index
    if (index !== null) index.timeIndex.maybeAppend(index.largestTimestampMs, index.offsetOfLargestTimestamp)
  }

  /** Replaces the in-memory index state (after a rebuild). */
  setIndexState (index: IndexBuildState, nextOffset: number): void {
    this.#index = index
    this.#nextOffset = nextOffset
    this.#largestTimestampMs = index.largestTimestampMs
  }

  /** The next offset after a truncation that kept no batch at or past it (gaps: compaction). */
  setNextOffset (offset: number): void {
    this.#nextOffset = offset
  }

  /** Drops loaded indexes of an old segment (they reload on demand). */
  unloadIndexes (): void {
    if (!this.#active && this.#loading === null) this.#index = null
  }

  /** Cuts the .log to `sizeBytes` (recovery). */
  truncate (sizeBytes: number): void {
    fs.truncateSync(this.file.path, sizeBytes)
    this.#sizeBytes = sizeBytes
  }

  /**
   * Where the first batch whose last offset is >= `target` starts (truncation of a divergent
   * tail), with that batch's base offset; null when every batch ends before `target`.
   * Indexes must be loaded.
   */
  async findBatchEndingAtOrAfter (target: number): Promise<{ position: number, baseOffset: number } | null> {
    let found: { position: number, baseOffset: number } | null = null
    const fd = await this.file.acquire()
    try {
      await scanBatches(fd, this.lookupPosition(target), this.#sizeBytes, { segmentBaseOffset: this.baseOffset, verifyCrc: false }, (buf, at, position) => {
        const base = baseOffsetAt(buf, at)
        if (base + lastOffsetDeltaAt(buf, at) < target) return true
        found = { position, baseOffset: base }
        return false
      })
    } finally {
      this.file.release()
    }
    return found
  }

  /**
   * Cuts the .log at `position` (a batch boundary) and fsyncs it, so a crash cannot bring the
   * cut batches back; the index files go (caches) and the in-memory indexes must be rebuilt
   * (rebuildIndexes) before the segment is used again.
   */
  cutAt (position: number): void {
    const fd = fs.openSync(this.file.path, 'r+')
    try {
      fs.ftruncateSync(fd, position)
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    for (const suffix of [INDEX_SUFFIX, TIME_INDEX_SUFFIX]) fs.rmSync(this.pathOf(suffix), { force: true })
    this.#sizeBytes = position
    this.#largestTimestampMs = Number.NaN
  }

  /** Makes this segment the active one again (recovery of the last segment). */
  activate (): void {
    this.#active = true
    this.file.setMode('r+')
  }

  /** Position of the greatest index entry at or before `offset` (indexes must be loaded). */
  lookupPosition (offset: number): number {
    const rel = offset - this.baseOffset
    return rel <= 0 ? 0 : this.#index!.offsetIndex.lookup(rel)
  }

  /** Position to start a timestamp scan from (indexes must be loaded). */
  lookupTimestampPosition (timestampMs: number): number {
    const rel = this.#index!.timeIndex.lookup(timestampMs)
    return this.#index!.offsetIndex.lookup(rel)
  }

  /** Loads the index files of an old segment, rebuilding them from the .log if untrustworthy. */
  loadIndexes (): Promise<void> {
    if (this.#index !== null) return Promise.resolve()
    this.#loading ??= this.#load().finally(() => { this.#loading = null })
    return this.#loading
  }

  async #load (): Promise<void> {
    const [offsetBytes, timeBytes] = await Promise.all([readFileAsyncOrNull(this.pathOf(INDEX_SUFFIX)), readFileAsyncOrNull(this.pathOf(TIME_INDEX_SUFFIX))])
    const offsetIndex = offsetBytes === null ? 'file is missing' : OffsetIndex.fromBytes(offsetBytes, this.#sizeBytes)
    const timeIndex = timeBytes === null ? 'file is missing' : TimeIndex.fromBytes(timeBytes)
    if (typeof offsetIndex !== 'string' && typeof timeIndex !== 'string') {
      const state = newIndexBuildState()
      state.offsetIndex = offsetIndex
      state.timeIndex = timeIndex
      state.largestTimestampMs = timeIndex.lastTimestamp
      if (timeIndex.entryCount > 0) state.offsetOfLargestTimestamp = timeIndex.relativeOffsetAt(timeIndex.entryCount - 1)
      this.#index = state
      this.#largestTimestampMs = state.largestTimestampMs
      return
    }
    this.#ctx.onIndexRebuild(this, typeof offsetIndex === 'string' ? `offset index: ${offsetIndex}` : `time index: ${String(timeIndex)}`)
    await this.rebuildIndexes()
    this.#ctx.writeCache('rebuilt index files', () => this.writeIndexFiles())
  }

  /**
   * Rebuilds the in-memory indexes by scanning the .log (optionally checking CRCs). Scans
   * `[0, sizeBytes)`; returns the scan result so recovery can truncate at a bad batch.
   */
  async rebuildIndexes (verifyCrc = false, minNextOffset = this.baseOffset): Promise<ScanResult> {
    const indexIntervalBytes = this.#ctx.indexIntervalBytes
    const state = newIndexBuildState()
    const fd = await this.file.acquire()
    let result: ScanResult
    try {
      result = await scanBatches(fd, 0, this.#sizeBytes, { segmentBaseOffset: this.baseOffset, verifyCrc, minNextOffset }, (buf, at, position, size) => {
        indexBatch(state, baseOffsetAt(buf, at) - this.baseOffset, position, size, maxTimestampAt(buf, at), indexIntervalBytes)
      })
    } finally {
      this.file.release()
    }
    state.timeIndex.maybeAppend(state.largestTimestampMs, state.offsetOfLargestTimestamp)
    this.setIndexState(state, result.validEnd === 0 ? this.baseOffset : result.nextOffset)
    return result
  }

  /**
   * Largest record timestamp (retention): the time index's last entry, or the file's mtime
   * when the segment has no timestamps (Kafka's rule).
   */
  async largestTimestampMs (): Promise<number> {
    const largest = await this.maxRecordTimestampMs()
    if (largest >= 0) return largest
    try {
      return fs.statSync(this.file.path).mtimeMs
    } catch {
      return this.#createdMs
    }
  }

  /** Largest batch maxTimestamp in the segment, -1 when none (reads only the time index tail). */
  async maxRecordTimestampMs (): Promise<number> {
    if (Number.isNaN(this.#largestTimestampMs)) {
      const timeBytes = readTailOrNull(this.pathOf(TIME_INDEX_SUFFIX), 12)
      if (timeBytes !== null && timeBytes.length === 12) {
        this.#largestTimestampMs = timeBytes.readInt32BE(0) * 0x100000000 + timeBytes.readUInt32BE(4)
      } else if (timeBytes !== null && timeBytes.length === 0 && this.#sizeBytes === 0) {
        this.#largestTimestampMs = -1
      } else {
        await this.loadIndexes()
        this.#largestTimestampMs = this.#index?.largestTimestampMs ?? -1
      }
    }
    return this.#largestTimestampMs
  }

  /** Largest timestamp known in memory (active segment); -1 when none. */
  get knownLargestTimestampMs (): number {
    return Number.isNaN(this.#largestTimestampMs) ? -1 : this.#largestTimestampMs
  }

  /**
   * Prepares the last segment of a cleanly closed log for appends: loads its index files
   * and walks the batches after the last index entry (at most one index interval plus a
   * batch) with Kafka's index rule, which yields the next offset, the bytes since the last
   * entry and any index entries a stale file lacked. Returns the scan so the caller can
   * truncate a torn tail. Leaves the segment inactive; the caller activates it.
   */
  async loadTail (): Promise<ScanResult> {
    await this.loadIndexes()
    const index = this.#index!
    index.bytesSinceLastIndexEntry = 0
    const from = index.offsetIndex.lastPosition
    const minNextOffset = this.baseOffset + Math.max(0, index.offsetIndex.lastRelativeOffset)
    const fd = await this.file.acquire()
    let result: ScanResult
    try {
      result = await scanBatches(fd, from, this.#sizeBytes, { segmentBaseOffset: this.baseOffset, verifyCrc: false, minNextOffset }, (buf, at, position, size) => {
        indexBatch(index, baseOffsetAt(buf, at) - this.baseOffset, position, size, maxTimestampAt(buf, at), this.#ctx.indexIntervalBytes)
      })
    } finally {
      this.file.release()
    }
    this.#nextOffset = result.validEnd === 0 ? this.baseOffset : result.nextOffset
    this.#largestTimestampMs = index.largestTimestampMs
    return result
  }

  /** Reads the first batch's max timestamp (roll-by-age base) if not known. */
  async loadFirstBatchTimestamp (): Promise<void> {
    const index = this.#index
    if (index === null || index.firstBatchMaxTimestampMs >= 0 || this.#sizeBytes < 61) return
    const fd = await this.file.acquire()
    try {
      const buf = Buffer.alloc(61)
      const n = await new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, 61, 0, (err, bytes) => (err ? reject(err) : resolve(bytes))))
      if (n === 61) index.firstBatchMaxTimestampMs = maxTimestampAt(buf, 0)
    } finally {
      this.file.release()
    }
  }

  /**
   * Removes the segment: renames its files to `<name>.deleted` now (so a restart never
   * sees them as live) and unlinks them once no holder of the .log descriptor remains.
   * Returns a promise that settles when the files are gone.
   */
  retire (): Promise<void> {
    if (this.#retired) return Promise.resolve()
    this.#retired = true
    const renamed: string[] = []
    for (const suffix of SEGMENT_SUFFIXES) {
      const from = this.pathOf(suffix)
      const to = from + DELETED_SUFFIX
      try {
        if (suffix === LOG_SUFFIX) this.file.rename(to)
        else fs.renameSync(from, to)
        renamed.push(to)
        if (suffix === LOG_SUFFIX && faultPoints.active) faultPoints.hit('segment.midRetire')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
    }
    return new Promise(resolve => {
      this.file.retire(() => {
        for (const p of renamed) fs.rmSync(p, { force: true })
        resolve()
      })
    })
  }

  /** Log close: the descriptor closes once idle and is never reopened; files stay. */
  detach (): void {
    this.file.retire(() => {})
  }
}

export { writeFileAtomic }

async function readFileAsyncOrNull (filePath: string): Promise<Buffer | null> {
  try {
    return await fs.promises.readFile(filePath)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}

/** The last `n` bytes of a file (fewer if it is shorter), or null when it is missing. */
function readTailOrNull (filePath: string, n: number): Buffer | null {
  let fd: number
  try {
    fd = fs.openSync(filePath, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  try {
    const size = fs.fstatSync(fd).size
    if (size % 12 !== 0) return null
    const want = Math.min(n, size)
    const buf = Buffer.alloc(want)
    fs.readSync(fd, buf, 0, want, size - want)
    return buf
  } finally {
    fs.closeSync(fd)
  }
}
