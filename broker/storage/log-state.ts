/**
 * The mutable state of one PartitionLog — its segments, offsets, producer state and leader
 * epochs — in one object, so that the modules doing part of the log's work (log-replication.ts,
 * replica-log.ts, log-cleanup.ts, closeLogFiles below) read and change the same fields the log does. Only PartitionLog and the functions it
 * calls with it change them, synchronously (see partition-log.ts for concurrency).
 */

import type pino from 'pino'
import { fsyncDir } from './atomic-file.js'
import type { FileHandleCache } from './file-handle-cache.js'
import type { LeaderEpochCache } from './leader-epoch-cache.js'
import type { CloseOutcome } from './log-types.js'
import { ProducerStateManager } from './producer-state.js'
import type { Segment, SegmentContext } from './segment.js'
import { faultPoints } from './testing/fault-points.js'

/** Old segments whose indexes stay in memory per log (the active segment's always do). */
const MAX_LOADED_INDEXES = 8

export class LogState {
  /** Oldest first, the active segment last; replaced (never mutated) so readers can hold a snapshot. */
  segments: Segment[] = []
  active!: Segment
  logStartOffset = 0
  logEndOffset = 0
  highWatermark = 0
  /** Offsets below this are known to be fsynced. */
  recoveryPoint = 0
  producers = new ProducerStateManager()
  /** The cleaner's position (compaction.ts). */
  firstDirtyOffset = 0
  tombstoneHorizons = new Map<number, number>()
  /** Retired segments whose files are not unlinked yet. */
  readonly pendingDeletes = new Set<Promise<void>>()
  /** Old segments whose indexes are in memory, least recently used first. */
  loadedIndexes: Segment[] = []
  epochs!: LeaderEpochCache
  /** Stamped on appended batches: the current leader epoch (0 on a single node). */
  leaderEpoch = 0
  /** The high watermark the log checkpoint held at open (cluster mode resumes from it). */
  checkpointedHighWatermark: number | null = null

  /** Removes a segment from the loaded-index list and the tombstone horizons and retires its files. */
  retire (segment: Segment): void {
    this.tombstoneHorizons.delete(segment.baseOffset)
    this.forgetLoaded(segment)
    const done = segment.retire().finally(() => this.pendingDeletes.delete(done))
    this.pendingDeletes.add(done)
  }

  /** Loads an old segment's indexes, keeping at most MAX_LOADED_INDEXES in memory. */
  async ensureIndexes (segment: Segment): Promise<void> {
    while (!segment.indexesLoaded) await segment.loadIndexes()
    this.trackLoaded(segment)
  }

  /** `segment`'s indexes were used: most recently used now; the least recent beyond the cap unload. */
  trackLoaded (segment: Segment): void {
    if (segment.active) return
    const list = this.loadedIndexes
    const at = list.indexOf(segment)
    if (at >= 0) list.splice(at, 1)
    list.push(segment)
    while (list.length > MAX_LOADED_INDEXES) list.shift()!.unloadIndexes()
  }

  forgetLoaded (segment: Segment): void {
    const at = this.loadedIndexes.indexOf(segment)
    if (at >= 0) this.loadedIndexes.splice(at, 1)
  }
}

/** What a PartitionLog's helpers (replication, cleanup, follower writes) share of it. */
export interface LogParts {
  readonly state: LogState
  readonly dir: string
  readonly topic: string
  readonly partition: number
  readonly logger: pino.Logger
  readonly handles: FileHandleCache
  readonly segmentContext: SegmentContext
}

export interface CloseFiles {
  readonly state: LogState
  readonly dir: string
  /** fsyncs every appended batch (the flusher). */
  flush (): Promise<void>
  writeCheckpoint (): void
}

/**
 * The file work of PartitionLog.close: fsync the data, write the active segment's indexes,
 * a producer snapshot and the checkpoint, fsync the directory, wait for pending deletions
 * and release descriptors (each as soon as in-flight reads release it). Every step is tried
 * even when an earlier one failed (on a full disk only the data fsync matters: the index
 * files, the snapshot and the checkpoint are caches rebuilt at the next open); the outcome
 * names the steps that failed.
 */
export async function closeLogFiles (c: CloseFiles): Promise<CloseOutcome> {
  const st = c.state
  const problems: string[] = []
  const step = (what: string, fn: () => void): void => {
    try {
      fn()
    } catch (err) {
      problems.push(`${what}: ${(err as Error).message}`)
    }
  }
  let dataDurable = true
  try {
    await c.flush()
  } catch (err) {
    dataDurable = false
    problems.push(`fsync: ${(err as Error).message}`)
  }
  const active = st.active
  active.sealTimeIndex()
  step('index files', () => active.writeIndexFiles(true))
  step('producer snapshot', () => {
    if (faultPoints.active) faultPoints.hit('close.beforeSnapshot')
    st.producers.writeSnapshot(c.dir, st.logEndOffset, true)
  })
  if (dataDurable) st.recoveryPoint = st.logEndOffset
  step('log checkpoint', () => c.writeCheckpoint())
  step('directory fsync', () => fsyncDir(c.dir))
  await Promise.allSettled([...st.pendingDeletes])
  for (const s of st.segments) s.detach()
  return { dataDurable, problems }
}
