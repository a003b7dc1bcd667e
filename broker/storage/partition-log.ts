/**
 * One partition's log: the directory `<dataDir>/<topic>-<partition>/` of segments
 * (docs/architecture.md §2-3, docs/formats.md §1.7 and §2). The read path's per-segment
 * work is in log-reader.ts, loading in recovery.ts, group commit in flusher.ts, retention,
 * DeleteRecords and compaction passes in log-cleanup.ts (the cleaner itself in
 * compaction.ts), leader epochs, the replicated high watermark and truncation in
 * log-replication.ts. This class owns the directory and, besides the segment files
 * (segment.ts), these files in it:
 *   `log-checkpoint`       recovery point, log start offset, cleaner position and tombstone
 *                          horizons (format in checkpoint.ts)
 *   `<offset>.snapshot`    idempotent-producer state (format in producer-state.ts)
 *   `cleaner.swap`         present only during a compaction swap (compaction.ts)
 *   `leader-epoch-checkpoint`  (epoch, start offset) of every leader epoch that wrote to
 *                          the log (leader-epoch-cache.ts)
 *
 * Offsets it exposes (docs/formats.md §2.8, kept distinct for cluster mode, docs/architecture.md §10):
 *   logStartOffset  first readable offset (retention, deleteRecordsBefore move it)
 *   logEndOffset    the next offset to assign
 *   highWatermark   what consumers may read up to; on a single node it equals the log end
 *                   offset after every append. Once `setReplicated(true)` (cluster mode) only
 *                   the replica manager moves it (setHighWatermark), apart from appends, and
 *                   a restart resumes from the value in the log checkpoint
 *
 * Replication (docs/cluster.md, log-replication.ts): a leader stamps its leader epoch on
 * every batch it appends (becomeLeader records where the epoch starts); a follower appends
 * the leader's batches as they are (appendAsFollower: same bytes, same offsets) and cuts a
 * divergent tail with truncateTo, or everything with truncateFullyAndStartAt;
 * endOffsetForEpoch answers OffsetForLeaderEpoch.
 *
 * Concurrency (one event loop; "safe" means correct when interleaved at any await):
 *   append                synchronous, so it never interleaves with itself; safe during
 *                         reads, sync, retention and compaction
 *   read, offsetForTimestamp
 *                         async; capture the segment list and each segment's size before
 *                         reading, hold the .log descriptor while reading, so they never see
 *                         a partial batch or a closed/reused descriptor; safe during
 *                         everything, and they complete even if their segment is deleted
 *                         meanwhile (the file is unlinked after they release it)
 *   sync                  group commit (flusher.ts); safe with concurrent appends
 *   enforceRetention, deleteRecordsBefore
 *                         decide, then delete synchronously; safe with reads and compaction
 *   compact               one pass at a time (concurrent calls share it); heavy work async;
 *                         only the final swap touches the segment list, synchronously
 *   close                 stops appends and reads at once, waits for compaction (aborted)
 *                         and flushes, then releases descriptors as in-flight reads finish
 *   truncateTo, truncateFullyAndStartAt
 *                         async; appends are refused while they run (the follower's fetcher
 *                         is the only appender and awaits them); reads below the cut are
 *                         unaffected (a follower never truncates below its high watermark
 *                         after a clean election, and reads stop there)
 */

import path from 'node:path'
import type pino from 'pino'
import { validateBatches } from '../../protocol/record-batch/header.js'
import { InvalidArgumentError, LogClosedError, OffsetOutOfRangeError, StorageError } from '../../protocol/errors.js'
import { resolveLogConfig, validateLogConfig, type LogConfig } from './config.js'
import { FileRetiredError, type FileHandleCache } from './file-handle-cache.js'
import { LOG_CHECKPOINT_FILE, writeLogCheckpoint } from './checkpoint.js'
import { Flusher } from './flusher.js'
import type { ProducerStateEntry } from './producer-state.js'
import { loadLog } from './recovery.js'
import { LogReplication } from './log-replication.js'
import { LogCleanup } from './log-cleanup.js'
import type { CompactionResult } from './compaction.js'
import { MAX_RELATIVE_OFFSET } from './batch-scan.js'
import { EMPTY, findOffsetForTimestamp, readFromSegments, type SegmentRead } from './log-reader.js'
import { assignOffsets, checkCompactedPayload, decompressForCheck } from './append-checks.js'
import { LeaderEpochCache, type EpochEndOffset, type EpochEntry } from './leader-epoch-cache.js'
import { LogState, closeLogFiles } from './log-state.js'
import { faultPoints } from './testing/fault-points.js'
import { Segment, type SegmentContext } from './segment.js'
import { DiskSpace } from './disk-space.js'
import type { AppendOptions, AppendResult, CloseOutcome, ReadOptions, ReadResult } from './log-types.js'

export type { CompactionResult } from './compaction.js'
export type { AppendOptions, AppendResult, CloseOutcome, ReadOptions, ReadResult } from './log-types.js'

export interface PartitionLogOptions {
  dir: string
  topic: string
  partition: number
  config: LogConfig
  logger: pino.Logger
  now?: () => number
  /** false after a clean shutdown; true makes recovery scan the possibly unflushed tail. */
  recover: boolean
  handles: FileHandleCache
  /**
   * The data directory's writability, shared by the logs of a LogManager (disk-space.ts).
   * Default: one of the log's own for its directory.
   */
  disk?: DiskSpace
}


export class PartitionLog {
  readonly topic: string
  readonly partition: number
  readonly dir: string
  #config: LogConfig
  readonly #logger: pino.Logger
  readonly #now: () => number
  readonly #handles: FileHandleCache
  /** Segments, offsets, producer state, epochs (log-state.ts). */
  readonly #s = new LogState()
  readonly #flusher: Flusher
  #closed = false
  #closing: Promise<void> | null = null
  readonly #segmentContext: SegmentContext
  readonly #disk: DiskSpace
  readonly #ownsDisk: boolean
  #closeOutcome: CloseOutcome | null = null
  /** Leader epochs, the high watermark in cluster mode, follower appends, truncation. */
  readonly #replication: LogReplication
  /** Retention, DeleteRecords, compaction passes. */
  readonly #cleanup: LogCleanup

  private constructor (o: PartitionLogOptions) {
    this.topic = o.topic
    this.partition = o.partition
    this.dir = o.dir
    this.#config = resolveLogConfig(o.config)
    this.#logger = o.logger
    this.#now = o.now ?? Date.now
    this.#handles = o.handles
    this.#ownsDisk = o.disk === undefined
    this.#disk = o.disk ?? new DiskSpace({ dir: o.dir, logger: o.logger, now: this.#now })
    const self = this
    this.#segmentContext = {
      get indexIntervalBytes () { return self.#config.indexIntervalBytes },
      onIndexRebuild (segment, reason) {
        self.#logger.warn({ topic: self.topic, partition: self.partition, segment: segment.baseOffset, reason }, 'rebuilding segment indexes')
      },
      writeCache (what, write) {
        self.#disk.bestEffort(`${what} of ${self.topic}-${self.partition}`, write)
      },
    }
    this.#flusher = new Flusher({
      dir: this.dir,
      get logEndOffset () { return self.#s.logEndOffset },
      onDurable: (offset, rolled) => this.#onDurable(offset, rolled),
    })
    const parts = {
      state: this.#s, dir: this.dir, topic: this.topic, partition: this.partition, logger: this.#logger, handles: this.#handles,
      segmentContext: this.#segmentContext, disk: this.#disk, flusher: this.#flusher, now: () => self.#now(), checkOpen: () => self.#checkOpen(),
    }
    this.#replication = new LogReplication({
      ...parts,
      rollIfDue (incomingBytes, lastOffset, maxTimestampMs) {
        if (self.#shouldRoll(incomingBytes, lastOffset, maxTimestampMs)) self.#roll()
      },
      writeCheckpoint: fsync => self.#writeCheckpoint(fsync),
    })
    this.#cleanup = new LogCleanup({
      ...parts,
      config: () => self.#config,
      closed: () => self.#closed,
      roll: () => self.roll(),
      writeCheckpoint: () => self.#writeCheckpoint(true),
      writeCheckpointBestEffort: () => self.#writeCheckpointBestEffort(),
    })
  }

  /** Opens (creating if needed) the partition directory; see recovery.ts for the steps. */
  static async open (o: PartitionLogOptions): Promise<PartitionLog> {
    const log = new PartitionLog(o)
    const loaded = await loadLog({
      dir: o.dir, topic: o.topic, partition: o.partition, config: log.#config, logger: o.logger,
      nowMs: log.#now(), recover: o.recover, handles: o.handles, segmentContext: log.#segmentContext,
    })
    log.#s.segments = loaded.segments
    log.#s.active = loaded.segments.at(-1)!
    log.#s.logEndOffset = loaded.logEndOffset
    log.#s.highWatermark = loaded.logEndOffset
    log.#s.logStartOffset = loaded.logStartOffset
    log.#s.recoveryPoint = loaded.recoveryPoint
    log.#s.producers = loaded.producers
    log.#s.firstDirtyOffset = loaded.firstDirtyOffset
    log.#s.tombstoneHorizons = loaded.tombstoneHorizons
    log.#s.checkpointedHighWatermark = loaded.checkpointedHighWatermark
    log.#s.epochs = await LeaderEpochCache.open(o.dir, {
      logger: o.logger, logStartOffset: loaded.logStartOffset, logEndOffset: loaded.logEndOffset, bestEffortWrites: log.#disk,
    })
    log.#s.leaderEpoch = Math.max(0, log.#s.epochs.latestEpoch)
    if (loaded.recoveredSegments > 0) log.#writeCheckpointBestEffort()
    return log
  }

  get logStartOffset (): number { return this.#s.logStartOffset }
  get logEndOffset (): number { return this.#s.logEndOffset }
  get highWatermark (): number { return this.#s.highWatermark }
  /** Offsets below this are known to be fsynced. */
  get recoveryPoint (): number { return this.#s.recoveryPoint }
  get sizeBytes (): number { return this.#s.segments.reduce((sum, s) => sum + s.sizeBytes, 0) }
  get segmentCount (): number { return this.#s.segments.length }
  get config (): LogConfig { return this.#config }
  get closed (): boolean { return this.#closed }
  /** Set once close() finished (also when it failed): what reached the disk. */
  get closeOutcome (): CloseOutcome | null { return this.#closeOutcome }
  /** The latest leader epoch that wrote to the log (UNDEFINED_EPOCH = -1 when none). */
  get latestEpoch (): number { return this.#s.epochs.latestEpoch }
  /** The epoch stamped on appends (the current leader epoch). */
  get leaderEpoch (): number { return this.#s.leaderEpoch }
  /** The leader-epoch entries, oldest first (a copy). */
  epochEntries (): EpochEntry[] { return this.#s.epochs.entries }
  /** True once the replica manager owns the high watermark. */
  get replicated (): boolean { return this.#replication.replicated }
  /** Base offsets of all segments, oldest first (the last one is active). */
  segmentBaseOffsets (): number[] { return this.#s.segments.map(s => s.baseOffset) }

  /** Applies validated overrides (InvalidConfigError otherwise); takes effect on the next call. */
  updateConfig (partial: Partial<LogConfig>): void {
    this.#config = { ...this.#config, ...validateLogConfig(partial) }
  }

  /** Idempotent-producer state of `producerId` (a copy), for tests and diagnostics. */
  producerState (producerId: number): ProducerStateEntry | undefined {
    const e = this.#s.producers.get(producerId)
    return e === undefined ? undefined : { producerId: e.producerId, epoch: e.epoch, batches: e.batches.map(b => ({ ...b })) }
  }

  #checkOpen (): void {
    if (this.#closed) throw new LogClosedError(`log ${this.topic}-${this.partition} is closed`)
  }

  /**
   * Appends a producer's payload (one or more RecordBatch v2, client-origin). Validates the
   * whole payload first — framing, size, magic, CRC, each record's framing, gzip records
   * decompressed and checked, other codecs refused; on a compacted topic every record needs
   * a key (validateBatches, append-checks.ts); producer sequence rules —
   * and only then rewrites baseOffset and partitionLeaderEpoch in place (outside the CRC
   * range) and writes with one write call. On any validation error the log is unchanged.
   * Synchronous: when it returns the bytes are in the page cache (acks=1).
   */
  append (payload: Uint8Array, options: AppendOptions = {}): AppendResult {
    this.#checkOpen()
    const config = this.#config
    const compact = config.cleanupPolicy === 'compact'
    const headers = validateBatches(payload, { maxBatchBytes: config.maxBatchBytes, decompress: decompressForCheck, requireKeys: compact })
    if (compact) checkCompactedPayload(headers)
    const duplicate = this.#s.producers.check(headers)
    if (duplicate !== null) {
      return {
        baseOffset: duplicate.baseOffset, lastOffset: duplicate.lastOffset, logAppendTimeMs: -1, logStartOffset: this.#s.logStartOffset,
        duplicate: true, recordCount: duplicate.lastOffset - duplicate.baseOffset + 1, bytes: 0,
      }
    }
    // Validation is over. On a full disk nothing is written, whoever asks (disk-space.ts).
    this.#disk.checkWritable(`append to ${this.topic}-${this.partition}`)
    this.#replication.checkNotTruncating()
    const baseOffset = this.#s.logEndOffset
    const epoch = options.leaderEpoch ?? this.#s.leaderEpoch
    // The epoch's start is durable before its first batch is written (leader-epoch-cache.ts).
    if (epoch !== this.#s.epochs.latestEpoch) this.#replication.startEpoch(epoch, baseOffset)
    const { nextOffset: offset, recordCount, maxTimestamp } = assignOffsets(payload, headers, baseOffset, epoch)
    // A roll or write that fails leaves the log, its producer state and offsets as they were.
    let active: Segment
    try {
      if (this.#shouldRoll(payload.length, offset - 1, maxTimestamp)) this.#roll()
      if (faultPoints.active) faultPoints.hit('append.beforeWrite')
      active = this.#s.active
      active.append(payload, headers, baseOffset)
    } catch (err) {
      this.#disk.noteWriteError(err, `append to ${this.topic}-${this.partition}`)
      throw err instanceof StorageError ? err : new StorageError(`append to ${this.topic}-${this.partition} failed: ${(err as Error).message}`, { cause: err })
    }
    if (faultPoints.active) faultPoints.hit('append.afterWrite')
    this.#flusher.markDirty(active)
    this.#s.producers.recordAppend(headers, baseOffset)
    this.#s.logEndOffset = offset
    if (!this.#replication.replicated) this.#s.highWatermark = offset
    return {
      baseOffset, lastOffset: offset - 1, logAppendTimeMs: -1, logStartOffset: this.#s.logStartOffset,
      duplicate: false, recordCount, bytes: payload.length,
    }
  }

  /** This broker leads in `epoch` from now on (log-replication.ts; FencedLeaderEpochError below the latest). */
  becomeLeader (epoch: number): void { this.#replication.becomeLeader(epoch) }

  /** Kafka's OffsetForLeaderEpoch answer from this log (log-replication.ts). */
  endOffsetForEpoch (epoch: number): EpochEndOffset { return this.#replication.endOffsetForEpoch(epoch) }

  /** Cluster mode on (the replica manager owns the high watermark) or off (log-replication.ts). */
  setReplicated (replicated: boolean): void { this.#replication.setReplicated(replicated) }

  /** Sets the high watermark, clamped to [logStartOffset, logEndOffset]; whether it changed (log-replication.ts). */
  setHighWatermark (offset: number): boolean { return this.#replication.setHighWatermark(offset) }

  /** Persists the high watermark (and the rest of the checkpoint) best effort (the replica manager's timer). */
  checkpointHighWatermark (): void {
    if (this.#closed) return
    this.#writeCheckpointBestEffort()
  }

  /** A follower's append: the leader's batches as they are; synchronous, like append (log-replication.ts). */
  appendAsFollower (payload: Uint8Array): AppendResult { return this.#replication.appendAsFollower(payload) }

  /** Cuts the log back so it ends at or before `offset`; the new log end offset (log-replication.ts). */
  truncateTo (offset: number): Promise<number> { return this.#replication.truncateTo(offset) }

  /** Deletes every segment and starts an empty log at `offset` (log-replication.ts). */
  truncateFullyAndStartAt (offset: number): Promise<void> { return this.#replication.truncateFullyAndStartAt(offset) }

  /** Kafka's LogSegment.shouldRoll (docs/formats.md §2.4); never rolls an empty segment. */
  #shouldRoll (incomingBytes: number, lastOffset: number, maxTimestampMs: number): boolean {
    const active = this.#s.active
    if (active.sizeBytes === 0) return false
    const config = this.#config
    if (active.sizeBytes > config.segmentBytes - incomingBytes) return true
    if (lastOffset - active.baseOffset > MAX_RELATIVE_OFFSET) return true
    const first = active.firstBatchMaxTimestampMs
    const age = first >= 0 ? maxTimestampMs - first : this.#now() - active.createdMs
    return age > config.segmentMs
  }

  /** Starts a new active segment at the log end offset (no-op when the active one is empty). */
  roll (): void {
    this.#checkOpen()
    this.#disk.checkWritable(`roll of ${this.topic}-${this.partition}`)
    if (this.#s.active.sizeBytes > 0) this.#roll()
  }

  /**
   * What can fail comes first, with the log unchanged: the old segment's index files
   * (deactivate writes them before it lets go), then the new .log. The producer snapshot
   * after it is a cache (skipped on a full disk).
   */
  #roll (): void {
    const old = this.#s.active
    old.deactivate()
    let next: Segment
    try {
      if (faultPoints.active) faultPoints.hit('roll.beforeCreate')
      next = Segment.create(this.#segmentContext, this.dir, this.#s.logEndOffset, this.#handles, this.#now())
    } catch (err) {
      old.activate()
      throw err
    }
    this.#s.segments = [...this.#s.segments, next]
    this.#s.active = next
    if (faultPoints.active) faultPoints.hit('roll.beforeSnapshot')
    this.#disk.bestEffort(`producer snapshot of ${this.topic}-${this.partition}`, () => this.#s.producers.writeSnapshot(this.dir, this.#s.logEndOffset))
    this.#s.trackLoaded(old)
    this.#flusher.markDirDirty()
    // Kafka flushes a rolled segment in the background; the recovery point follows.
    this.#flusher.sync().catch(err => {
      this.#logger.error({ topic: this.topic, partition: this.partition, err }, 'background flush after roll failed')
    })
    this.#logger.debug({ topic: this.topic, partition: this.partition, baseOffset: next.baseOffset, previousSizeBytes: old.sizeBytes }, 'segment rolled')
    if (faultPoints.active) faultPoints.hit('segment.afterRoll')
  }

  /**
   * acks=all: resolves after an fdatasync covering every batch appended before the call;
   * concurrent callers share rounds (flusher.ts).
   */
  sync (): Promise<void> {
    return this.#flusher.sync().catch((err: unknown) => {
      this.#disk.noteWriteError(err, `fsync of ${this.topic}-${this.partition}`)
      throw err
    })
  }

  /** fdatasync rounds so far (group commit is visible here and at `sync.beforeFdatasync`). */
  get syncRounds (): number { return this.#flusher.rounds }

  #onDurable (offset: number, rolledSegmentsFlushed: boolean): void {
    if (offset <= this.#s.recoveryPoint) return
    this.#s.recoveryPoint = offset
    if (rolledSegmentsFlushed && !this.#closed) this.#writeCheckpointBestEffort()
  }

  #writeCheckpointBestEffort (): void {
    this.#disk.bestEffort(`log checkpoint of ${this.topic}-${this.partition}`, () => this.#writeCheckpoint(false))
  }

  #writeCheckpoint (fsync: boolean): void {
    writeLogCheckpoint(path.join(this.dir, LOG_CHECKPOINT_FILE), {
      recoveryPoint: this.#s.recoveryPoint,
      logStartOffset: this.#s.logStartOffset,
      firstDirtyOffset: this.#s.firstDirtyOffset,
      tombstoneHorizons: [...this.#s.tombstoneHorizons],
      highWatermark: this.#s.highWatermark,
    }, fsync)
  }

  /**
   * Whole batches as they lie on disk, starting with the batch that contains `offset`
   * (docs/formats.md §1.7 "Fetch side"). offset < logStartOffset or > logEndOffset →
   * OffsetOutOfRangeError; offset at the high watermark (or maxOffset) → empty.
   */
  async read (offset: number, maxBytes: number, options: ReadOptions = {}): Promise<ReadResult> {
    this.#checkOpen()
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new InvalidArgumentError(`maxBytes must be a non-negative integer, got ${maxBytes}`)
    const hw = this.#s.highWatermark
    const leo = this.#s.logEndOffset
    const maxOffset = Math.min(options.maxOffset ?? hw, leo)
    const minOneBatch = options.minOneBatch ?? true
    const result = (bytes: Buffer, firstOffset: number, nextOffset: number): ReadResult => ({
      bytes, firstOffset, nextOffset, highWatermark: hw, logStartOffset: this.#s.logStartOffset, logEndOffset: leo,
    })
    for (let attempt = 0; ; attempt++) {
      if (!Number.isSafeInteger(offset) || offset < this.#s.logStartOffset || offset > leo) {
        throw new OffsetOutOfRangeError(`offset ${offset} is outside [${this.#s.logStartOffset}, ${leo}] in ${this.topic}-${this.partition}`)
      }
      if (offset >= maxOffset) return result(EMPTY, offset, offset)
      try {
        const found = await this.#readFrom(this.#s.segments, offset, maxBytes, maxOffset, minOneBatch)
        return found === null ? result(EMPTY, maxOffset, maxOffset) : result(found.bytes, found.firstOffset, found.nextOffset)
      } catch (err) {
        // The segment was deleted (retention, compaction swap) between lookup and open: look again.
        if (!(err instanceof FileRetiredError) || attempt >= 3) throw err
      }
    }
  }

  #readFrom (segments: Segment[], offset: number, maxBytes: number, maxOffset: number, minOneBatch: boolean): Promise<SegmentRead | null> {
    return readFromSegments(segments, offset, maxBytes, maxOffset, minOneBatch, {
      indexIntervalBytes: this.#config.indexIntervalBytes,
      ensureIndexes: segment => this.#s.ensureIndexes(segment),
      corrupt: (segment, position, what) => {
        this.#logger.error({ topic: this.topic, partition: this.partition, segment: segment.baseOffset, position, what }, 'read found no batch where the index pointed')
        return new StorageError(`segment ${segment.baseOffset} of ${this.topic}-${this.partition}: ${what} at position ${position}`)
      },
    })
  }

  /**
   * The first offset whose record timestamp is >= timestampMs, or null (ListOffsets by
   * time). Uses the time index, then batch headers' maxTimestamp, then decodes (and if
   * needed decompresses) only the one batch that holds the answer.
   */
  async offsetForTimestamp (timestampMs: number): Promise<{ offset: number, timestamp: number } | null> {
    this.#checkOpen()
    for (let attempt = 0; ; attempt++) {
      try {
        return await findOffsetForTimestamp(this.#s.segments, timestampMs, this.#s.logStartOffset, this.#s.highWatermark, s => this.#s.ensureIndexes(s))
      } catch (err) {
        if (!(err instanceof FileRetiredError) || attempt >= 3) throw err
      }
    }
  }

  /** Kafka's DeleteRecords: the log start offset moves up to `offset`, durably, then whole segments below it go (log-cleanup.ts). */
  deleteRecordsBefore (offset: number): void { this.#cleanup.deleteRecordsBefore(offset) }

  /** Time and size retention over whole closed segments, oldest first (log-cleanup.ts, retention.ts). */
  enforceRetention (): Promise<{ deletedSegments: number, deletedBytes: number }> { return this.#cleanup.enforceRetention() }

  /** One compaction pass when cleanupPolicy is 'compact' (null: nothing to do); concurrent calls share it (log-cleanup.ts). */
  compact (options: { maxKeys?: number } = {}): Promise<CompactionResult | null> { return this.#cleanup.compact(options) }

  /**
   * Stops appends and reads (LogClosedError), stops a running compaction pass, fsyncs the
   * data, writes the active segment's indexes, a producer snapshot and the checkpoint, and
   * releases descriptors (each as soon as in-flight reads release it).
   */
  close (): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close (): Promise<void> {
    this.#closed = true
    await this.#cleanup.compaction?.catch(() => null)
    const outcome = await closeLogFiles({ state: this.#s, dir: this.dir, flush: () => this.#flusher.sync(), writeCheckpoint: () => this.#writeCheckpoint(true) })
    if (this.#ownsDisk) this.#disk.stop()
    this.#closeOutcome = outcome
    if (outcome.problems.length > 0) {
      throw new StorageError(`closing ${this.topic}-${this.partition}: ${outcome.problems.join('; ')}`)
    }
  }
}
