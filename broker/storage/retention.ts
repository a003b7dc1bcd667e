/**
 * Which closed segments retention deletes (docs/formats.md §2.6; Kafka's
 * UnifiedLog.deleteRetentionMsBreachedSegments / deleteRetentionSizeBreachedSegments).
 *
 * - Time: a segment is deletable when now - largestTimestamp > retentionMs (largest record
 *   timestamp, or the file's mtime when it has none); -1 = forever.
 * - Size: while the log is larger than retentionBytes, the oldest segments go as long as
 *   (excess - segmentSize) >= 0; -1 = off. Per partition.
 * - Oldest first; the scan stops at the first segment that does not qualify.
 * - Never a segment whose upper bound (the next segment's base offset) is above the high
 *   watermark, and never the active segment: when time retention would take every segment,
 *   the log first rolls an empty active segment (the log end offset survives), which the
 *   caller does before deleting — `rollFirst` says so.
 * Only for cleanupPolicy 'delete'; compacted topics keep everything (no "compact,delete").
 *
 * Pure: log-cleanup.ts gathers the facts (sizes, timestamps) and applies the decision
 * synchronously, so no append or compaction can interleave between deciding and deleting.
 */

import type { LogConfig } from './config.js'

export interface RetentionCandidate {
  baseOffset: number
  sizeBytes: number
  /** Largest record timestamp, or the mtime when the segment has none. */
  largestTimestampMs: number
}

export interface RetentionDecision {
  /** How many of the oldest segments to delete. */
  deleteCount: number
  /** Roll the active segment first (every segment, the active one too, expired by time). */
  rollFirst: boolean
  reason: 'time' | 'size' | 'none'
}

/**
 * `segments` are all segments oldest first, the active one last (its timestamp included);
 * `activeIsEmpty` tells whether rolling would be pointless.
 */
export function decideRetention (
  segments: RetentionCandidate[], config: LogConfig, nowMs: number, highWatermark: number, logEndOffset: number,
  activeIsEmpty: boolean,
): RetentionDecision {
  const none: RetentionDecision = { deleteCount: 0, rollFirst: false, reason: 'none' }
  if (config.cleanupPolicy !== 'delete' || segments.length === 0) return none
  const closedCount = segments.length - 1
  // Upper bound of segment i: the next segment's base, or the log end offset for the active one.
  const upperBound = (i: number): number => (i + 1 < segments.length ? segments[i + 1]!.baseOffset : logEndOffset)

  if (config.retentionMs >= 0) {
    let expired = 0
    while (expired < segments.length && nowMs - segments[expired]!.largestTimestampMs > config.retentionMs) expired++
    if (expired === segments.length && !activeIsEmpty && logEndOffset <= highWatermark) {
      // Everything, the active segment included, is past retention: roll, then delete all
      // the (now closed) old segments.
      return { deleteCount: segments.length, rollFirst: true, reason: 'time' }
    }
    let count = Math.min(expired, closedCount)
    while (count > 0 && upperBound(count - 1) > highWatermark) count--
    if (count > 0) return { deleteCount: count, rollFirst: false, reason: 'time' }
  }

  if (config.retentionBytes >= 0) {
    let excess = segments.reduce((sum, s) => sum + s.sizeBytes, 0) - config.retentionBytes
    let count = 0
    while (count < closedCount && excess - segments[count]!.sizeBytes >= 0 && upperBound(count) <= highWatermark) {
      excess -= segments[count]!.sizeBytes
      count++
    }
    if (count > 0) return { deleteCount: count, rollFirst: false, reason: 'size' }
  }
  return none
}
