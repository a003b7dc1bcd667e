/**
 * The replication side of one partition log (docs/cluster.md), behind PartitionLog's
 * becomeLeader, endOffsetForEpoch, setReplicated, setHighWatermark, appendAsFollower,
 * truncateTo and truncateFullyAndStartAt:
 *   - leader epochs: a leader stamps its epoch on every batch it appends; becomeLeader and
 *     each first batch of a newer epoch record where the epoch starts, durably, before the
 *     data (leader-epoch-cache.ts); an epoch below the latest is fenced
 *   - the high watermark: on a single node it follows the log end offset after every append;
 *     once `replicated` (cluster mode) only the replica manager moves it (setHighWatermark),
 *     and it resumes from the value the log checkpoint held at open
 *   - the follower's append and truncation, whose steps and crash safety are in
 *     replica-log.ts; appends are refused while a truncation runs
 *
 * PartitionLog owns the state (log-state.ts) and the write path, and hands this class a
 * ReplicationHost once, in its constructor.
 */

import { FencedLeaderEpochError, InvalidArgumentError, StorageError } from '../../protocol/errors.js'
import { fsyncDir } from './checkpoint.js'
import type { DiskSpace } from './disk-space.js'
import type { Flusher } from './flusher.js'
import type { EpochEndOffset } from './leader-epoch-cache.js'
import type { LogParts } from './log-state.js'
import type { AppendResult } from './log-types.js'
import { appendAsFollower, truncateFully, truncateTail, type ReplicaHost } from './replica-log.js'

/** What the replication side uses of its PartitionLog. */
export interface ReplicationHost extends LogParts {
  readonly disk: DiskSpace
  readonly flusher: Flusher
  now (): number
  /** Throws LogClosedError once the log is closed. */
  checkOpen (): void
  /** Rolls the active segment first when writing `incomingBytes` ending at `lastOffset` calls for it. */
  rollIfDue (incomingBytes: number, lastOffset: number, maxTimestampMs: number): void
  /** Writes the log checkpoint (fsynced when `fsync`). */
  writeCheckpoint (fsync: boolean): void
}

export class LogReplication {
  readonly #host: ReplicationHost
  readonly #replicaHost: ReplicaHost
  /** Cluster mode: the replica manager owns the high watermark. */
  #replicated = false
  #truncating = false

  constructor (host: ReplicationHost) {
    this.#host = host
    this.#replicaHost = this.#newReplicaHost()
  }

  /** True once the replica manager owns the high watermark. */
  get replicated (): boolean { return this.#replicated }

  /** Throws while a truncation runs (appends are refused meanwhile). */
  checkNotTruncating (): void {
    if (this.#truncating) throw new StorageError(`${this.#host.topic}-${this.#host.partition} is being truncated; retry`)
  }

  /** Records that `epoch` starts at `offset`; an epoch below the latest is fenced. */
  startEpoch (epoch: number, offset: number): void {
    const { state: st, topic, partition } = this.#host
    if (epoch < st.epochs.latestEpoch) {
      throw new FencedLeaderEpochError(`leader epoch ${epoch} of ${topic}-${partition} is older than ${st.epochs.latestEpoch}, already in the log`)
    }
    try {
      st.epochs.assign(epoch, offset)
    } catch (err) {
      this.#host.disk.noteWriteError(err, `leader-epoch checkpoint of ${topic}-${partition}`)
      throw err
    }
  }

  /**
   * This broker leads the partition in `epoch` from now on: later appends carry it, and it
   * starts at the log end offset (so OffsetForLeaderEpoch of the previous epoch ends here
   * even before the first batch of the new one). FencedLeaderEpochError below the latest.
   */
  becomeLeader (epoch: number): void {
    this.#host.checkOpen()
    const st = this.#host.state
    if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch > 0x7fffffff) throw new InvalidArgumentError(`leader epoch must be an int32 >= 0, got ${epoch}`)
    if (epoch !== st.epochs.latestEpoch) this.startEpoch(epoch, st.logEndOffset)
    st.leaderEpoch = epoch
  }

  /**
   * Kafka's OffsetForLeaderEpoch answer from this log: the largest epoch <= `epoch` it knows
   * and where that epoch ends (leader-epoch-cache.ts endOffsetFor).
   */
  endOffsetForEpoch (epoch: number): EpochEndOffset {
    this.#host.checkOpen()
    const st = this.#host.state
    return st.epochs.endOffsetFor(epoch, st.logEndOffset)
  }

  /**
   * Cluster mode on (the replica manager owns the high watermark: appends stop moving it;
   * it starts at the checkpointed value, at most the log end offset) or off (single node:
   * it follows the log end offset again).
   */
  setReplicated (replicated: boolean): void {
    if (replicated === this.#replicated) return
    const st = this.#host.state
    this.#replicated = replicated
    if (replicated) st.highWatermark = Math.min(st.checkpointedHighWatermark ?? st.highWatermark, st.logEndOffset)
    else st.highWatermark = st.logEndOffset
  }

  /**
   * Sets the high watermark (the replica manager: the leader's lowest ISR log end offset, a
   * follower's min(leader's, own log end)), clamped to [logStartOffset, logEndOffset].
   * Returns whether it changed.
   */
  setHighWatermark (offset: number): boolean {
    const st = this.#host.state
    const hw = Math.max(st.logStartOffset, Math.min(offset, st.logEndOffset))
    if (hw === st.highWatermark) return false
    st.highWatermark = hw
    return true
  }

  /**
   * A follower's append: the leader's batches exactly as it stored them (offsets, leader
   * epochs and producer fields untouched), at or after the log end offset (replica-log.ts).
   * The high watermark is the replica manager's to move. Synchronous, like append.
   */
  appendAsFollower (payload: Uint8Array): AppendResult {
    this.#host.checkOpen()
    return appendAsFollower(this.#replicaHost, payload)
  }

  /**
   * Cuts the log back so it ends at or before `offset` (a follower's divergent tail, Kafka's
   * truncateTo; replica-log.ts has the steps and their crash safety). No-op at or past the
   * log end. Returns the new log end offset.
   */
  async truncateTo (offset: number): Promise<number> {
    this.#host.checkOpen()
    const st = this.#host.state
    if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidArgumentError(`truncation offset must be a non-negative integer, got ${offset}`)
    if (offset >= st.logEndOffset) return st.logEndOffset
    if (offset <= st.logStartOffset || offset <= st.segments[0]!.baseOffset) {
      await this.truncateFullyAndStartAt(offset)
      return offset
    }
    return this.#whileTruncating(() => truncateTail(this.#replicaHost, offset))
  }

  /**
   * Deletes every segment and starts an empty log at `offset` (a follower whose position the
   * leader no longer holds): log start = log end = high watermark = offset; producer state
   * and leader epochs cleared.
   */
  async truncateFullyAndStartAt (offset: number): Promise<void> {
    this.#host.checkOpen()
    if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidArgumentError(`start offset must be a non-negative integer, got ${offset}`)
    await this.#whileTruncating(async () => { truncateFully(this.#replicaHost, offset) })
  }

  async #whileTruncating<T> (fn: () => Promise<T>): Promise<T> {
    this.checkNotTruncating()
    this.#truncating = true
    try {
      return await fn()
    } finally {
      this.#truncating = false
    }
  }

  /** What replica-log.ts may use besides the state (built once, in the constructor). */
  #newReplicaHost (): ReplicaHost {
    const self = this
    const h = this.#host
    return {
      state: h.state,
      dir: h.dir,
      topic: h.topic,
      partition: h.partition,
      logger: h.logger,
      handles: h.handles,
      segmentContext: h.segmentContext,
      now: () => h.now(),
      checkWritable (what) {
        h.disk.checkWritable(`${what} of ${h.topic}-${h.partition}`)
        self.checkNotTruncating()
      },
      startEpoch: (epoch, offset) => self.startEpoch(epoch, offset),
      write (payload, headers, lastOffset, maxTimestampMs) {
        try {
          h.rollIfDue(payload.length, lastOffset, maxTimestampMs)
          h.state.active.append(payload, headers, headers[0]!.baseOffset, true)
        } catch (err) {
          h.disk.noteWriteError(err, `replica append to ${h.topic}-${h.partition}`)
          throw err instanceof StorageError ? err : new StorageError(`replica append to ${h.topic}-${h.partition} failed: ${(err as Error).message}`, { cause: err })
        }
        h.flusher.markDirty(h.state.active)
      },
      persist () {
        h.flusher.markDirDirty()
        h.writeCheckpoint(true)
        fsyncDir(h.dir)
      },
    }
  }
}
