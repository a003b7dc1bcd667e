/**
 * Removing old data from one partition log, behind PartitionLog's enforceRetention,
 * deleteRecordsBefore and compact — the two cleanup policies and Kafka's DeleteRecords:
 *   - 'delete': time and size retention over whole closed segments, oldest first; this
 *     module gathers the facts (sizes, largest timestamps), retention.ts decides, and the
 *     deletion is applied synchronously, so no append or compaction interleaves between
 *     deciding and deleting
 *   - DeleteRecords: the log start offset moves up, durably (the log checkpoint, fsynced)
 *     before any segment below it is deleted
 *   - 'compact': one cleaner pass at a time (compaction.ts), through a CleanerHost; only its
 *     final swap touches the segment list, synchronously
 * Segments leave the list at once and their files are unlinked when in-flight reads release
 * them (LogState.retire). Never the active segment.
 *
 * PartitionLog owns the state (log-state.ts) and hands this class a CleanupHost once, in its
 * constructor.
 */

import { LogClosedError, OffsetOutOfRangeError, StorageError } from '../../protocol/errors.js'
import { fsyncDir } from './checkpoint.js'
import { compactLog, DEFAULT_MAX_KEYS_PER_PASS, type CleanerHost, type CompactionResult } from './compaction.js'
import type { LogConfig } from './config.js'
import type { DiskSpace } from './disk-space.js'
import type { Flusher } from './flusher.js'
import type { LogParts } from './log-state.js'
import { decideRetention, type RetentionCandidate } from './retention.js'
import { faultPoints } from './testing/fault-points.js'

/** What cleanup uses of its PartitionLog. */
export interface CleanupHost extends LogParts {
  readonly disk: DiskSpace
  readonly flusher: Flusher
  /** The log's config now (updateConfig replaces it). */
  config (): LogConfig
  now (): number
  closed (): boolean
  /** Throws LogClosedError once the log is closed. */
  checkOpen (): void
  /** PartitionLog.roll: a new active segment unless the active one is empty. */
  roll (): void
  /** Writes the log checkpoint and fsyncs it (throws when it cannot). */
  writeCheckpoint (): void
  /** Writes the log checkpoint unless the disk is full (skipped then). */
  writeCheckpointBestEffort (): void
}

export class LogCleanup {
  readonly #host: CleanupHost
  #compaction: Promise<CompactionResult | null> | null = null

  constructor (host: CleanupHost) {
    this.#host = host
  }

  /** The compaction pass running now, if any. */
  get compaction (): Promise<CompactionResult | null> | null { return this.#compaction }

  /**
   * Moves the log start offset up to `offset` (Kafka's DeleteRecords) and deletes whole
   * segments below it (never the active one). Persisted (fsynced) before it returns.
   */
  deleteRecordsBefore (offset: number): void {
    const h = this.#host
    const st = h.state
    h.checkOpen()
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > st.highWatermark) {
      throw new OffsetOutOfRangeError(`cannot delete records before ${offset}: the high watermark is ${st.highWatermark}`)
    }
    if (offset <= st.logStartOffset) return
    // The new start offset is durable before anything is deleted; if it cannot be written
    // (a full disk) the call fails with the log unchanged.
    const previous = st.logStartOffset
    st.logStartOffset = offset
    try {
      h.writeCheckpoint()
    } catch (err) {
      st.logStartOffset = previous
      h.disk.noteWriteError(err, `deleteRecords on ${h.topic}-${h.partition}`)
      throw new StorageError(`deleteRecords on ${h.topic}-${h.partition}: the log checkpoint could not be written: ${(err as Error).message}`, { cause: err })
    }
    let count = 0
    while (count < st.segments.length - 1 && st.segments[count + 1]!.baseOffset <= offset) count++
    if (count > 0) this.#deleteOldest(count, 'deleteRecords')
    st.producers.truncateHead(offset)
    fsyncDir(h.dir)
  }

  /** Removes the `count` oldest segments (synchronously from the list; files when unused). */
  #deleteOldest (count: number, reason: string): { deletedSegments: number, deletedBytes: number } {
    const h = this.#host
    const st = h.state
    const victims = st.segments.slice(0, count)
    st.segments = st.segments.slice(count)
    let deletedBytes = 0
    for (const v of victims) {
      deletedBytes += v.sizeBytes
      st.retire(v)
    }
    st.logStartOffset = Math.max(st.logStartOffset, st.segments[0]!.baseOffset)
    st.producers.truncateHead(st.logStartOffset)
    h.flusher.markDirDirty()
    h.logger.info({
      topic: h.topic, partition: h.partition, reason, deletedSegments: count, deletedBytes, logStartOffset: st.logStartOffset,
    }, 'deleted old segments')
    return { deletedSegments: count, deletedBytes }
  }

  /**
   * Retention by time and bytes over whole closed segments, oldest first (retention.ts).
   * If time retention takes every segment, an empty active segment is rolled first so the
   * log end offset survives.
   */
  async enforceRetention (): Promise<{ deletedSegments: number, deletedBytes: number }> {
    const h = this.#host
    const st = h.state
    h.checkOpen()
    const none = { deletedSegments: 0, deletedBytes: 0 }
    const config = h.config()
    if (config.cleanupPolicy !== 'delete' || (config.retentionMs < 0 && config.retentionBytes < 0)) return none
    const segments = st.segments
    const nowMs = h.now()
    const candidates: RetentionCandidate[] = []
    let stillExpiring = config.retentionMs >= 0
    for (const s of segments) {
      let largest = Number.POSITIVE_INFINITY
      if (stillExpiring) {
        largest = await s.largestTimestampMs()
        stillExpiring = nowMs - largest > config.retentionMs
      }
      candidates.push({ baseOffset: s.baseOffset, sizeBytes: s.sizeBytes, largestTimestampMs: largest })
    }
    if (h.closed() || st.segments[0] !== segments[0]) return none // changed meanwhile: next run
    const decision = decideRetention(candidates, config, nowMs, st.highWatermark, st.logEndOffset, st.active.sizeBytes === 0)
    if (decision.deleteCount === 0) return none
    if (decision.rollFirst && st.active === segments.at(-1) && !h.disk.readOnly) h.roll()
    const count = Math.min(decision.deleteCount, st.segments.length - 1)
    if (count <= 0) return none
    if (faultPoints.active) faultPoints.hit('retention.beforeDelete')
    return this.#deleteOldest(count, `retention.${decision.reason}`)
  }

  /**
   * One compaction pass (compaction.ts) when cleanupPolicy is 'compact'; null when there
   * is nothing to do. A call while a pass runs returns that pass's promise.
   */
  compact (options: { maxKeys?: number } = {}): Promise<CompactionResult | null> {
    const h = this.#host
    if (h.closed()) return Promise.reject(new LogClosedError(`log ${h.topic}-${h.partition} is closed`))
    if (h.config().cleanupPolicy !== 'compact' || h.disk.readOnly) return Promise.resolve(null)
    this.#compaction ??= compactLog(this.#cleanerHost(), options.maxKeys ?? DEFAULT_MAX_KEYS_PER_PASS)
      .finally(() => { this.#compaction = null })
    return this.#compaction
  }

  #cleanerHost (): CleanerHost {
    const h = this.#host
    const st = h.state
    return {
      dir: h.dir,
      config: h.config(),
      logger: h.logger.child({ topic: h.topic, partition: h.partition }),
      handles: h.handles,
      segmentContext: h.segmentContext,
      firstDirtyOffset: st.firstDirtyOffset,
      tombstoneHorizons: new Map(st.tombstoneHorizons),
      now: h.now,
      segments: () => st.segments,
      producerLastOffset: id => st.producers.lastOffsetOf(id),
      aborted: () => h.closed(),
      replaceSegments (old, replacement) {
        const at = st.segments.indexOf(old[0]!)
        const next = st.segments.slice()
        next.splice(at, old.length, replacement)
        st.segments = next
        for (const s of old) st.forgetLoaded(s)
        st.trackLoaded(replacement)
      },
      cleanerDone (firstDirtyOffset, horizons) {
        st.firstDirtyOffset = firstDirtyOffset
        st.tombstoneHorizons = horizons
        h.writeCheckpointBestEffort()
      },
    }
  }
}
