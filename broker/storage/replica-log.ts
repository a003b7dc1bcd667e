/**
 * The follower side of a partition log (docs/cluster.md): appending the leader's batches as
 * they are, and truncation (PartitionLog.appendAsFollower, truncateTo,
 * truncateFullyAndStartAt) — a follower cutting the divergent tail it wrote under an older
 * leader, or dropping a log the leader no longer holds the start of. partition-log.ts owns
 * the state; log-replication.ts hands this module a ReplicaHost (as log-cleanup.ts hands
 * the cleaner a CleanerHost).
 *
 * appendAsFollower(payload): batches checked by validateReplicaBatches (framing, CRC,
 * offsets at or after the log end and increasing); each batch whose leader epoch is above
 * the latest known starts that epoch at its base offset (written before the data, like a
 * leader's); one write to the active segment (rolled first if due) with the leader's
 * offsets; producer state updated from each idempotent batch's header.
 *
 * truncateTail(offset), step by step, and what a crash (kill -9) after each step leaves:
 *   1. the high watermark drops to `offset`; segments starting at or after `offset` leave the
 *      segment list and are renamed `.deleted`, newest first      → a prefix of the old log
 *      (fault point `truncate.afterSegments`)
 *   2. the last remaining segment is cut before the first batch whose last offset is at or
 *      after `offset` and fsynced, its index files removed         → the cut log, with epoch
 *      entries past its end (fault point `truncate.afterCut`)
 *   3. its indexes are rebuilt from the .log; it becomes the active segment
 *   4. leader epochs past the new end are dropped, the log checkpoint (recovery point, high
 *      watermark) is written durably
 *   5. producer state is rebuilt: the newest snapshot at or below the new end (newer ones
 *      are deleted) plus a header replay
 * At every point the directory holds a prefix of the old log; the next open drops epoch
 * entries past the log end (LeaderEpochCache.open), rebuilds producer state from snapshots
 * at or below it, and removes `.deleted` leftovers, so a crash never leaves batches the
 * epoch cache does not know or producer state past the end. The new log end is
 * min(offset, base offset of the first batch cut): a batch holding `offset` goes whole.
 *
 * truncateFully(offset): every segment renamed away, a new empty segment at `offset`, the
 * epoch cache cleared, producer state and snapshots dropped, log start = log end = offset,
 * checkpoint written. A crash in between leaves an empty log (at the old or the new start),
 * whose epoch entries the next open drops.
 */

import fs from 'node:fs'
import path from 'node:path'
import type { LogParts } from './log-state.js'
import { StorageError } from '../../protocol/errors.js'
import type { BatchHeader } from '../../protocol/record-batch/header.js'
import { validateReplicaBatches } from './append-checks.js'
import type { AppendResult } from './log-types.js'
import { ProducerStateManager, SNAPSHOT_SUFFIX, listSnapshotOffsets } from './producer-state.js'
import { replayProducerState } from './recovery.js'
import { Segment, offsetFileName } from './segment.js'
import { faultPoints } from './testing/fault-points.js'

export interface ReplicaHost extends LogParts {
  now (): number
  /** Throws when nothing may be written now (a full disk, a truncation running). */
  checkWritable (what: string): void
  /** Records that `epoch` starts at `offset` (durably). */
  startEpoch (epoch: number, offset: number): void
  /** Writes validated batches ending at `lastOffset` to the active segment (rolling first if due). */
  write (payload: Uint8Array, headers: BatchHeader[], lastOffset: number, maxTimestampMs: number): void
  /** Writes the log checkpoint and fsyncs the directory. */
  persist (): void
}

export function appendAsFollower (host: ReplicaHost, payload: Uint8Array): AppendResult {
  const st = host.state
  const headers = validateReplicaBatches(payload, st.logEndOffset)
  host.checkWritable('replica append')
  const first = headers[0]!
  const last = headers[headers.length - 1]!
  const lastOffset = last.baseOffset + last.lastOffsetDelta
  let maxTimestamp = -1
  let recordCount = 0
  for (const h of headers) {
    if (h.partitionLeaderEpoch > st.epochs.latestEpoch) host.startEpoch(h.partitionLeaderEpoch, h.baseOffset)
    if (h.maxTimestamp > maxTimestamp) maxTimestamp = h.maxTimestamp
    recordCount += h.recordsCount
  }
  host.write(payload, headers, lastOffset, maxTimestamp)
  for (const h of headers) {
    if (h.producerId >= 0) st.producers.update(h.producerId, h.producerEpoch, h.baseSequence, h.lastOffsetDelta, h.baseOffset, h.maxTimestamp)
  }
  st.logEndOffset = lastOffset + 1
  st.leaderEpoch = Math.max(st.leaderEpoch, st.epochs.latestEpoch)
  return {
    baseOffset: first.baseOffset, lastOffset, logAppendTimeMs: -1, logStartOffset: st.logStartOffset,
    duplicate: false, recordCount, bytes: payload.length,
  }
}

export async function truncateTail (host: ReplicaHost, offset: number): Promise<number> {
  const st = host.state
  const before = st.logEndOffset
  const segments = st.segments
  let keep = segments.length
  while (keep > 1 && segments[keep - 1]!.baseOffset >= offset) keep--
  const victims = segments.slice(keep).reverse()
  const cut = segments[keep - 1]!
  st.highWatermark = Math.min(st.highWatermark, offset)
  st.segments = segments.slice(0, keep)
  st.active = cut
  st.forgetLoaded(cut)
  for (const v of victims) st.retire(v)
  if (faultPoints.active) faultPoints.hit('truncate.afterSegments')
  while (!cut.indexesLoaded) await cut.loadIndexes()
  const found = await cut.findBatchEndingAtOrAfter(offset)
  const end = Math.min(offset, found?.baseOffset ?? victims.at(-1)?.baseOffset ?? before)
  if (found !== null) cut.cutAt(found.position)
  if (faultPoints.active) faultPoints.hit('truncate.afterCut')
  await cut.rebuildIndexes()
  cut.setNextOffset(end)
  // A read-only descriptor held by a read or a background fsync cannot be made writable:
  // wait for them (each takes milliseconds), then switch with no await in between.
  for (let waited = 0; cut.file.refs > 0; waited += 5) {
    if (waited > 30_000) throw new StorageError(`${host.topic}-${host.partition}: segment ${cut.baseOffset} stayed in use for 30 s during a truncation`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  cut.activate()
  await cut.loadFirstBatchTimestamp()
  finish(host, end)
  st.producers = await rebuiltProducerState(host)
  host.logger.info({ topic: host.topic, partition: host.partition, from: before, to: end, deletedSegments: victims.length }, 'log truncated')
  return end
}

export function truncateFully (host: ReplicaHost, offset: number): void {
  const st = host.state
  const before = st.logEndOffset
  const victims = st.segments.slice().reverse()
  for (const v of victims) st.retire(v)
  if (faultPoints.active) faultPoints.hit('truncate.afterSegments')
  const next = Segment.create(host.segmentContext, host.dir, offset, host.handles, host.now())
  st.segments = [next]
  st.active = next
  // An empty log knows no epochs (after a crash before this line the next open drops them all).
  st.epochs.clear()
  for (const snapshot of listSnapshotOffsets(host.dir)) fs.rmSync(path.join(host.dir, offsetFileName(snapshot, SNAPSHOT_SUFFIX)), { force: true })
  st.producers = new ProducerStateManager()
  st.logStartOffset = offset
  finish(host, offset)
  host.logger.info({ topic: host.topic, partition: host.partition, from: before, startOffset: offset, deletedSegments: victims.length }, 'log truncated fully')
}

/** The log ends at `end`: offsets, epochs follow; the checkpoint is written durably. */
function finish (host: ReplicaHost, end: number): void {
  const st = host.state
  st.logEndOffset = end
  st.highWatermark = Math.max(st.logStartOffset, Math.min(st.highWatermark, end))
  st.recoveryPoint = Math.max(st.logStartOffset, Math.min(st.recoveryPoint, end))
  st.firstDirtyOffset = Math.max(st.segments[0]!.baseOffset, Math.min(st.firstDirtyOffset, st.active.baseOffset))
  if (st.checkpointedHighWatermark !== null) st.checkpointedHighWatermark = Math.min(st.checkpointedHighWatermark, end)
  st.epochs.truncateFromEnd(end)
  st.leaderEpoch = Math.max(0, st.epochs.latestEpoch)
  host.persist()
}

/** Producer state up to the (new) log end: the newest snapshot at or below it and a header replay. */
async function rebuiltProducerState (host: ReplicaHost): Promise<ProducerStateManager> {
  const st = host.state
  const producers = new ProducerStateManager()
  const snapshotOffset = producers.loadNewestSnapshot(host.dir, st.logEndOffset, (file, reason) => {
    host.logger.warn({ topic: host.topic, partition: host.partition, file: path.basename(file), reason }, 'producer snapshot unusable; deleted')
  })
  await replayProducerState(st.segments, Math.max(snapshotOffset, st.segments[0]!.baseOffset), st.logEndOffset, producers)
  producers.truncateHead(st.logStartOffset)
  return producers
}
