/**
 * Opening a partition directory: from files on disk to a consistent in-memory log
 * (docs/architecture.md §2 "Recovery", docs/formats.md §2.5; Kafka's LogLoader).
 *
 * Steps, in order:
 *   1. finish or discard an interrupted compaction swap (`cleaner.swap`, compaction.ts);
 *      remove `*.tmp`, `*.deleted` and `*.cleaned` leftovers and index files without a .log;
 *   2. list segments by their 20-digit base offsets (file names are parsed only inside a
 *      partition directory, where they are ours);
 *   3. with `recover` (no clean-shutdown marker): scan, batch by batch, every segment that
 *      may hold offsets at or above the recovery point from `log-checkpoint` (all segments
 *      when it is missing): size sane, magic 2, CRC-32C, offsets increasing (batch-scan.ts).
 *      At the first bad batch the .log is truncated there, every later segment is deleted
 *      and one warn line reports the bytes dropped; the scanned segments' indexes are
 *      rebuilt and written;
 *      without `recover`: only the last segment's tail after its last index entry is walked
 *      (to find the log end offset); a torn tail found there is truncated the same way;
 *   4. the last segment becomes the active one; log end offset = next offset after its
 *      last valid batch; log start offset = max(checkpoint, first segment's base offset);
 *   5. producer state = newest valid snapshot at or below the log end offset + a replay of
 *      the batch headers after it (no record decoding);
 *   6. (partition-log.ts) the leader-epoch checkpoint is read, or rebuilt from batch headers,
 *      and cut to [log start, log end); the checkpointed high watermark is kept for a
 *      replicated partition (clamped to the log end offset).
 * Old segments' indexes are validated (and rebuilt if missing, of a bad size, not
 * increasing or pointing past the log) lazily, the first time a read or a timestamp lookup
 * needs them, so opening 10,000 partitions reads only their last segments.
 */

import fs from 'node:fs'
import path from 'node:path'
import type pino from 'pino'
import { readBatchHeader } from '../../protocol/record-batch/header.js'
import { StorageError } from '../../protocol/errors.js'
import type { LogConfig } from './config.js'
import type { FileHandleCache } from './file-handle-cache.js'
import { LOG_CHECKPOINT_FILE, readLogCheckpoint } from './checkpoint.js'
import { finishInterruptedSwap } from './compaction.js'
import { ProducerStateManager } from './producer-state.js'
import { scanBatches } from './batch-scan.js'
import {
  CLEANED_SUFFIX, DELETED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, SEGMENT_SUFFIXES, Segment, TIME_INDEX_SUFFIX,
  newIndexBuildState, parseOffsetFileName, type SegmentContext,
} from './segment.js'

export interface LoadOptions {
  dir: string
  topic: string
  partition: number
  config: LogConfig
  logger: pino.Logger
  nowMs: number
  recover: boolean
  handles: FileHandleCache
  segmentContext: SegmentContext
}

export interface LoadedLog {
  segments: Segment[]
  logEndOffset: number
  logStartOffset: number
  recoveryPoint: number
  /** The high watermark of the checkpoint (at most the log end offset), or null when it holds none. */
  checkpointedHighWatermark: number | null
  producers: ProducerStateManager
  firstDirtyOffset: number
  tombstoneHorizons: Map<number, number>
  /** Segments scanned with CRC checks, and bytes dropped by truncation. */
  recoveredSegments: number
  droppedBytes: number
}

export async function loadLog (o: LoadOptions): Promise<LoadedLog> {
  const log = { topic: o.topic, partition: o.partition }
  fs.mkdirSync(o.dir, { recursive: true })
  finishInterruptedSwap(o.dir, o.logger.child(log))
  const bases = cleanDirectory(o.dir)
  const checkpoint = readLogCheckpoint(path.join(o.dir, LOG_CHECKPOINT_FILE), reason => {
    o.logger.warn({ ...log, reason }, 'log checkpoint unusable; recovering every segment')
  })

  let segments: Segment[] = bases.map(base => {
    const stat = fs.statSync(path.join(o.dir, String(base).padStart(20, '0') + LOG_SUFFIX))
    return Segment.open(o.segmentContext, o.dir, base, o.handles, stat.size, stat.mtimeMs)
  })
  if (segments.length === 0) {
    segments = [Segment.create(o.segmentContext, o.dir, checkpoint?.logStartOffset ?? 0, o.handles, o.nowMs)]
  }

  let recoveredSegments = 0
  let droppedBytes = 0
  let lastRecovered = false
  if (o.recover) {
    const recoveryPoint = checkpoint?.recoveryPoint ?? 0
    let first = 0
    while (first < segments.length - 1 && segments[first + 1]!.baseOffset <= recoveryPoint) first++
    let minNextOffset = segments[first]!.baseOffset
    for (let i = first; i < segments.length; i++) {
      const segment = segments[i]!
      recoveredSegments++
      const sizeBefore = segment.sizeBytes
      let problem: string | null
      let validEnd: number
      if (segment.baseOffset < minNextOffset) {
        problem = `segment base offset ${segment.baseOffset} overlaps the previous segment (next offset ${minNextOffset})`
        validEnd = 0
      } else {
        const result = await segment.rebuildIndexes(true, minNextOffset)
        problem = result.problem
        validEnd = result.validEnd
      }
      if (problem !== null) {
        const later = segments.slice(i + 1)
        const laterBytes = later.reduce((sum, s) => sum + s.sizeBytes, 0)
        segment.truncate(validEnd)
        if (!segment.indexesLoaded) segment.setIndexState(newIndexBuildState(), segment.baseOffset)
        for (const s of later) removeSegmentFiles(s)
        segments = segments.slice(0, i + 1)
        droppedBytes += sizeBefore - validEnd + laterBytes
        o.logger.warn({
          ...log, segment: segment.baseOffset, position: validEnd, droppedBytes: sizeBefore - validEnd + laterBytes,
          deletedSegments: later.length, reason: problem,
        }, 'recovery truncated a torn or corrupt log tail')
      }
      o.segmentContext.writeCache('recovered index files', () => segment.writeIndexFiles())
      minNextOffset = segment.nextOffset
      if (i === segments.length - 1) lastRecovered = true
      if (problem !== null) break
    }
  }

  const active = segments.at(-1)!
  if (!lastRecovered && !active.indexesLoaded) {
    const result = await active.loadTail()
    if (result.problem !== null) {
      const dropped = active.sizeBytes - result.validEnd
      active.truncate(result.validEnd)
      droppedBytes += dropped
      o.logger.warn({ ...log, segment: active.baseOffset, position: result.validEnd, droppedBytes: dropped, reason: result.problem },
        'log tail after a clean shutdown was torn; truncated')
    }
  }
  active.activate()
  await active.loadFirstBatchTimestamp()

  const logEndOffset = active.nextOffset
  if (logEndOffset < 0) throw new StorageError(`could not determine the log end offset of ${o.dir}`)
  const logStartOffset = Math.min(Math.max(checkpoint?.logStartOffset ?? 0, segments[0]!.baseOffset), logEndOffset)

  const producers = new ProducerStateManager()
  const snapshotOffset = producers.loadNewestSnapshot(o.dir, logEndOffset, (file, reason) => {
    o.logger.warn({ ...log, file: path.basename(file), reason }, 'producer snapshot unusable; deleted')
  })
  await replayProducerState(segments, Math.max(snapshotOffset, segments[0]!.baseOffset), logEndOffset, producers)
  producers.truncateHead(logStartOffset)

  const bases2 = new Set(segments.map(s => s.baseOffset))
  const horizons = new Map<number, number>((checkpoint?.tombstoneHorizons ?? []).filter(([base]) => bases2.has(base)))
  const firstDirtyOffset = Math.min(Math.max(checkpoint?.firstDirtyOffset ?? 0, segments[0]!.baseOffset), active.baseOffset)
  const recoveryPoint = o.recover ? Math.min(checkpoint?.recoveryPoint ?? 0, logEndOffset) : logEndOffset

  if (recoveredSegments > 0 || droppedBytes > 0) {
    o.logger.info({ ...log, recoveredSegments, droppedBytes, logEndOffset }, 'log recovered')
  }
  return {
    segments, logEndOffset, logStartOffset, recoveryPoint, producers, firstDirtyOffset,
    checkpointedHighWatermark: checkpoint?.highWatermark === undefined ? null : Math.max(logStartOffset, Math.min(checkpoint.highWatermark, logEndOffset)),
    tombstoneHorizons: horizons, recoveredSegments, droppedBytes,
  }
}

/**
 * Removes leftovers (`*.tmp`, `*.deleted`, `*.cleaned`, index files without a .log) and
 * returns the segment base offsets, ascending.
 */
function cleanDirectory (dir: string): number[] {
  const names = fs.readdirSync(dir)
  const bases = new Set<number>()
  for (const name of names) {
    const base = parseOffsetFileName(name, LOG_SUFFIX)
    if (base >= 0) bases.add(base)
  }
  for (const name of names) {
    const leftover = name.endsWith('.tmp') || name.endsWith(DELETED_SUFFIX) || name.endsWith(CLEANED_SUFFIX)
    const index = Math.max(parseOffsetFileName(name, INDEX_SUFFIX), parseOffsetFileName(name, TIME_INDEX_SUFFIX))
    if (leftover || (index >= 0 && !bases.has(index))) fs.rmSync(path.join(dir, name), { force: true, recursive: true })
  }
  return [...bases].sort((a, b) => a - b)
}

function removeSegmentFiles (segment: Segment): void {
  for (const suffix of SEGMENT_SUFFIXES) fs.rmSync(segment.pathOf(suffix), { force: true })
}

/**
 * Replays batch headers with offsets in [fromOffset, toOffset) into `producers`. Reads each
 * segment from the index position of `fromOffset` (snapshots sit on batch boundaries).
 */
export async function replayProducerState (
  segments: Segment[], fromOffset: number, toOffset: number, producers: ProducerStateManager,
): Promise<void> {
  if (fromOffset >= toOffset) return
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!
    const upper = i + 1 < segments.length ? segments[i + 1]!.baseOffset : toOffset
    if (upper <= fromOffset || segment.sizeBytes === 0) continue
    await segment.loadIndexes()
    const from = segment.lookupPosition(fromOffset)
    const fd = await segment.file.acquire()
    try {
      await scanBatches(fd, from, segment.sizeBytes, { segmentBaseOffset: segment.baseOffset, verifyCrc: false }, (buf, at) => {
        const h = readBatchHeader(buf, at)
        if (h.baseOffset >= fromOffset && h.producerId >= 0) {
          producers.update(h.producerId, h.producerEpoch, h.baseSequence, h.lastOffsetDelta, h.baseOffset, h.maxTimestamp)
        }
      })
    } finally {
      segment.file.release()
    }
  }
}
