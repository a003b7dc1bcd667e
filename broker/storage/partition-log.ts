/**
 * One partition's log: the directory `<dataDir>/<topic>-<partition>/` of segments
 * (docs/architecture.md §2-3, docs/formats.md §1.7 and §2). The read path's per-segment
 * work is in log-reader.ts, loading in recovery.ts, the cleaner in compaction.ts, group
 * commit in flusher.ts. This class owns the directory and, besides the segment files
 * (segment.ts), these files in it:
 *   `log-checkpoint`       recovery point, log start offset, cleaner position and tombstone
 *                          horizons (format in checkpoint.ts)
 *   `<offset>.snapshot`    idempotent-producer state (format in producer-state.ts)
 *   `cleaner.swap`         present only during a compaction swap (compaction.ts)
 *
 * Offsets it exposes (docs/formats.md §2.8, kept distinct for cluster mode, docs/architecture.md §10):
 *   logStartOffset  first readable offset (retention, deleteRecordsBefore move it)
 *   logEndOffset    the next offset to assign
 *   highWatermark   what consumers may read up to; on a single node it equals the log end
 *                   offset after every append, but it is its own field
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
 */

import fs from 'node:fs'
import path from 'node:path'
import type pino from 'pino'
import { validateBatches } from '../../protocol/record-batch/header.js'
import { InvalidArgumentError, LogClosedError, OffsetOutOfRangeError, StorageError } from '../../protocol/errors.js'
import { resolveLogConfig, validateLogConfig, type LogConfig } from './config.js'
import { FileRetiredError, type FileHandleCache } from './file-handle-cache.js'
import { LOG_CHECKPOINT_FILE, fsyncDir, writeLogCheckpoint } from './checkpoint.js'
import { Flusher } from './flusher.js'
import { ProducerStateManager, type ProducerStateEntry } from './producer-state.js'
import { loadLog } from './recovery.js'
import { decideRetention, type RetentionCandidate } from './retention.js'
import { compactLog, DEFAULT_MAX_KEYS_PER_PASS, type CleanerHost, type CompactionResult } from './compaction.js'
import { MAX_RELATIVE_OFFSET } from './batch-scan.js'
import { EMPTY, findOffsetForTimestamp, floorSegment, readSegmentBatches, type SegmentRead } from './log-reader.js'
import { assignOffsets, checkCompactedPayload, decompressForCheck } from './append-checks.js'
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

/** Old segments whose indexes stay in memory per log (the active segment's always do). */
const MAX_LOADED_INDEXES = 8

export class PartitionLog {
  readonly topic: string
  readonly partition: number
  readonly dir: string
  #config: LogConfig
  readonly #logger: pino.Logger
  readonly #now: () => number
  readonly #handles: FileHandleCache
  /** Oldest first, the active segment last; replaced (never mutated) so readers can hold a snapshot. */
  #segments: Segment[] = []
  #active!: Segment
  #logStartOffset = 0
  #logEndOffset = 0
  #highWatermark = 0
  #recoveryPoint = 0
  #producers = new ProducerStateManager()
  readonly #flusher: Flusher
  #closed = false
  #closing: Promise<void> | null = null
  #compaction: Promise<CompactionResult | null> | null = null
  #firstDirtyOffset = 0
  #tombstoneHorizons = new Map<number, number>()
  readonly #pendingDeletes = new Set<Promise<void>>()
  #loadedIndexes: Segment[] = []
  readonly #segmentContext: SegmentContext
  readonly #disk: DiskSpace
  readonly #ownsDisk: boolean
  #closeOutcome: CloseOutcome | null = null

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
      get logEndOffset () { return self.#logEndOffset },
      onDurable: (offset, rolled) => this.#onDurable(offset, rolled),
    })
  }

  /** Opens (creating if needed) the partition directory; see recovery.ts for the steps. */
  static async open (o: PartitionLogOptions): Promise<PartitionLog> {
    const log = new PartitionLog(o)
    const loaded = await loadLog({
      dir: o.dir, topic: o.topic, partition: o.partition, config: log.#config, logger: o.logger,
      nowMs: log.#now(), recover: o.recover, handles: o.handles, segmentContext: log.#segmentContext,
    })
    log.#segments = loaded.segments
    log.#active = loaded.segments.at(-1)!
    log.#logEndOffset = loaded.logEndOffset
    log.#highWatermark = loaded.logEndOffset
    log.#logStartOffset = loaded.logStartOffset
    log.#recoveryPoint = loaded.recoveryPoint
    log.#producers = loaded.producers
    log.#firstDirtyOffset = loaded.firstDirtyOffset
    log.#tombstoneHorizons = loaded.tombstoneHorizons
    if (loaded.recoveredSegments > 0) log.#writeCheckpointBestEffort()
    return log
  }

  get logStartOffset (): number { return this.#logStartOffset }
  get logEndOffset (): number { return this.#logEndOffset }
  get highWatermark (): number { return this.#highWatermark }
  /** Offsets below this are known to be fsynced. */
  get recoveryPoint (): number { return this.#recoveryPoint }
  get sizeBytes (): number { return this.#segments.reduce((sum, s) => sum + s.sizeBytes, 0) }
  get segmentCount (): number { return this.#segments.length }
  get config (): LogConfig { return this.#config }
  get closed (): boolean { return this.#closed }
  /** Set once close() finished (also when it failed): what reached the disk. */
  get closeOutcome (): CloseOutcome | null { return this.#closeOutcome }
  /** Base offsets of all segments, oldest first (the last one is active). */
  segmentBaseOffsets (): number[] { return this.#segments.map(s => s.baseOffset) }

  /** Applies validated overrides (InvalidConfigError otherwise); takes effect on the next call. */
  updateConfig (partial: Partial<LogConfig>): void {
    this.#config = { ...this.#config, ...validateLogConfig(partial) }
  }

  /** Idempotent-producer state of `producerId` (a copy), for tests and diagnostics. */
  producerState (producerId: number): ProducerStateEntry | undefined {
    const e = this.#producers.get(producerId)
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
    const duplicate = this.#producers.check(headers)
    if (duplicate !== null) {
      return {
        baseOffset: duplicate.baseOffset, lastOffset: duplicate.lastOffset, logAppendTimeMs: -1, logStartOffset: this.#logStartOffset,
        duplicate: true, recordCount: duplicate.lastOffset - duplicate.baseOffset + 1, bytes: 0,
      }
    }
    // Validation is over. On a full disk nothing is written, whoever asks (disk-space.ts).
    this.#disk.checkWritable(`append to ${this.topic}-${this.partition}`)
    const baseOffset = this.#logEndOffset
    const { nextOffset: offset, recordCount, maxTimestamp } = assignOffsets(payload, headers, baseOffset, options.leaderEpoch ?? 0)
    // A roll or write that fails leaves the log, its producer state and offsets as they were.
    let active: Segment
    try {
      if (this.#shouldRoll(payload.length, offset - 1, maxTimestamp)) this.#roll()
      if (faultPoints.active) faultPoints.hit('append.beforeWrite')
      active = this.#active
      active.append(payload, headers, baseOffset)
    } catch (err) {
      this.#disk.noteWriteError(err, `append to ${this.topic}-${this.partition}`)
      throw err instanceof StorageError ? err : new StorageError(`append to ${this.topic}-${this.partition} failed: ${(err as Error).message}`, { cause: err })
    }
    if (faultPoints.active) faultPoints.hit('append.afterWrite')
    this.#flusher.markDirty(active)
    this.#producers.recordAppend(headers, baseOffset)
    this.#logEndOffset = offset
    this.#highWatermark = offset
    return {
      baseOffset, lastOffset: offset - 1, logAppendTimeMs: -1, logStartOffset: this.#logStartOffset,
      duplicate: false, recordCount, bytes: payload.length,
    }
  }

  /** Kafka's LogSegment.shouldRoll (docs/formats.md §2.4); never rolls an empty segment. */
  #shouldRoll (incomingBytes: number, lastOffset: number, maxTimestampMs: number): boolean {
    const active = this.#active
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
    if (this.#active.sizeBytes > 0) this.#roll()
  }

  /**
   * What can fail comes first, with the log unchanged: the old segment's index files
   * (deactivate writes them before it lets go), then the new .log. The producer snapshot
   * after it is a cache (skipped on a full disk).
   */
  #roll (): void {
    const old = this.#active
    old.deactivate()
    let next: Segment
    try {
      if (faultPoints.active) faultPoints.hit('roll.beforeCreate')
      next = Segment.create(this.#segmentContext, this.dir, this.#logEndOffset, this.#handles, this.#now())
    } catch (err) {
      old.activate()
      throw err
    }
    this.#segments = [...this.#segments, next]
    this.#active = next
    if (faultPoints.active) faultPoints.hit('roll.beforeSnapshot')
    this.#disk.bestEffort(`producer snapshot of ${this.topic}-${this.partition}`, () => this.#producers.writeSnapshot(this.dir, this.#logEndOffset))
    this.#trackLoadedIndexes(old)
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
    if (offset <= this.#recoveryPoint) return
    this.#recoveryPoint = offset
    if (rolledSegmentsFlushed && !this.#closed) this.#writeCheckpointBestEffort()
  }

  #writeCheckpointBestEffort (): void {
    this.#disk.bestEffort(`log checkpoint of ${this.topic}-${this.partition}`, () => this.#writeCheckpoint(false))
  }

  #writeCheckpoint (fsync: boolean): void {
    writeLogCheckpoint(path.join(this.dir, LOG_CHECKPOINT_FILE), {
      recoveryPoint: this.#recoveryPoint,
      logStartOffset: this.#logStartOffset,
      firstDirtyOffset: this.#firstDirtyOffset,
      tombstoneHorizons: [...this.#tombstoneHorizons],
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
    const hw = this.#highWatermark
    const leo = this.#logEndOffset
    const maxOffset = Math.min(options.maxOffset ?? hw, leo)
    const minOneBatch = options.minOneBatch ?? true
    const result = (bytes: Buffer, firstOffset: number, nextOffset: number): ReadResult => ({
      bytes, firstOffset, nextOffset, highWatermark: hw, logStartOffset: this.#logStartOffset, logEndOffset: leo,
    })
    for (let attempt = 0; ; attempt++) {
      if (!Number.isSafeInteger(offset) || offset < this.#logStartOffset || offset > leo) {
        throw new OffsetOutOfRangeError(`offset ${offset} is outside [${this.#logStartOffset}, ${leo}] in ${this.topic}-${this.partition}`)
      }
      if (offset >= maxOffset) return result(EMPTY, offset, offset)
      try {
        const found = await this.#readFrom(this.#segments, offset, maxBytes, maxOffset, minOneBatch)
        return found === null ? result(EMPTY, maxOffset, maxOffset) : result(found.bytes, found.firstOffset, found.nextOffset)
      } catch (err) {
        // The segment was deleted (retention, compaction swap) between lookup and open: look again.
        if (!(err instanceof FileRetiredError) || attempt >= 3) throw err
      }
    }
  }

  async #readFrom (
    segments: Segment[], offset: number, maxBytes: number, maxOffset: number, minOneBatch: boolean,
  ): Promise<SegmentRead | null> {
    let i = floorSegment(segments, offset)
    for (; i < segments.length; i++) {
      const segment = segments[i]!
      if (segment.baseOffset >= maxOffset) break
      if (segment.sizeBytes === 0) continue
      await this.#ensureIndexes(segment)
      const startPosition = segment.lookupPosition(offset)
      const found = await readSegmentBatches(segment, startPosition, offset, maxBytes, maxOffset, minOneBatch,
        this.#config.indexIntervalBytes, (position, what) => this.#corrupt(segment, position, what))
      if (found !== null) return found
      // No batch at or after `offset` in this segment (compacted away): try the next one.
    }
    return null
  }

  #corrupt (segment: Segment, position: number, what: string): StorageError {
    this.#logger.error({ topic: this.topic, partition: this.partition, segment: segment.baseOffset, position, what }, 'read found no batch where the index pointed')
    // Indexes are caches: drop them so the next lookup rebuilds from the .log.
    segment.unloadIndexes()
    for (const suffix of ['.index', '.timeindex']) fs.rmSync(segment.pathOf(suffix), { force: true })
    return new StorageError(`segment ${segment.baseOffset} of ${this.topic}-${this.partition}: ${what} at position ${position}`)
  }

  /** Loads an old segment's indexes, keeping at most MAX_LOADED_INDEXES in memory. */
  async #ensureIndexes (segment: Segment): Promise<void> {
    while (!segment.indexesLoaded) await segment.loadIndexes()
    this.#trackLoadedIndexes(segment)
  }

  #trackLoadedIndexes (segment: Segment): void {
    if (segment.active) return
    const list = this.#loadedIndexes
    const at = list.indexOf(segment)
    if (at >= 0) list.splice(at, 1)
    list.push(segment)
    while (list.length > MAX_LOADED_INDEXES) list.shift()!.unloadIndexes()
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
        return await findOffsetForTimestamp(this.#segments, timestampMs, this.#logStartOffset, this.#highWatermark, s => this.#ensureIndexes(s))
      } catch (err) {
        if (!(err instanceof FileRetiredError) || attempt >= 3) throw err
      }
    }
  }

  /**
   * Moves the log start offset up to `offset` (Kafka's DeleteRecords) and deletes whole
   * segments below it (never the active one). Persisted (fsynced) before it returns.
   */
  deleteRecordsBefore (offset: number): void {
    this.#checkOpen()
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.#highWatermark) {
      throw new OffsetOutOfRangeError(`cannot delete records before ${offset}: the high watermark is ${this.#highWatermark}`)
    }
    if (offset <= this.#logStartOffset) return
    // The new start offset is durable before anything is deleted; if it cannot be written
    // (a full disk) the call fails with the log unchanged.
    const previous = this.#logStartOffset
    this.#logStartOffset = offset
    try {
      this.#writeCheckpoint(true)
    } catch (err) {
      this.#logStartOffset = previous
      this.#disk.noteWriteError(err, `deleteRecords on ${this.topic}-${this.partition}`)
      throw new StorageError(`deleteRecords on ${this.topic}-${this.partition}: the log checkpoint could not be written: ${(err as Error).message}`, { cause: err })
    }
    let count = 0
    while (count < this.#segments.length - 1 && this.#segments[count + 1]!.baseOffset <= offset) count++
    if (count > 0) this.#deleteOldest(count, 'deleteRecords')
    this.#producers.truncateHead(offset)
    fsyncDir(this.dir)
  }

  /** Removes the `count` oldest segments (synchronously from the list; files when unused). */
  #deleteOldest (count: number, reason: string): { deletedSegments: number, deletedBytes: number } {
    const victims = this.#segments.slice(0, count)
    this.#segments = this.#segments.slice(count)
    let deletedBytes = 0
    for (const v of victims) {
      deletedBytes += v.sizeBytes
      this.#tombstoneHorizons.delete(v.baseOffset)
      const at = this.#loadedIndexes.indexOf(v)
      if (at >= 0) this.#loadedIndexes.splice(at, 1)
      const done = v.retire().finally(() => this.#pendingDeletes.delete(done))
      this.#pendingDeletes.add(done)
    }
    this.#logStartOffset = Math.max(this.#logStartOffset, this.#segments[0]!.baseOffset)
    this.#producers.truncateHead(this.#logStartOffset)
    this.#flusher.markDirDirty()
    this.#logger.info({
      topic: this.topic, partition: this.partition, reason, deletedSegments: count, deletedBytes, logStartOffset: this.#logStartOffset,
    }, 'deleted old segments')
    return { deletedSegments: count, deletedBytes }
  }

  /**
   * Retention by time and bytes over whole closed segments, oldest first (retention.ts).
   * If time retention takes every segment, an empty active segment is rolled first so the
   * log end offset survives.
   */
  async enforceRetention (): Promise<{ deletedSegments: number, deletedBytes: number }> {
    this.#checkOpen()
    const none = { deletedSegments: 0, deletedBytes: 0 }
    const config = this.#config
    if (config.cleanupPolicy !== 'delete' || (config.retentionMs < 0 && config.retentionBytes < 0)) return none
    const segments = this.#segments
    const nowMs = this.#now()
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
    if (this.#closed || this.#segments[0] !== segments[0]) return none // changed meanwhile: next run
    const decision = decideRetention(candidates, config, nowMs, this.#highWatermark, this.#logEndOffset, this.#active.sizeBytes === 0)
    if (decision.deleteCount === 0) return none
    if (decision.rollFirst && this.#active === segments.at(-1) && !this.#disk.readOnly) this.roll()
    const count = Math.min(decision.deleteCount, this.#segments.length - 1)
    if (count <= 0) return none
    if (faultPoints.active) faultPoints.hit('retention.beforeDelete')
    return this.#deleteOldest(count, `retention.${decision.reason}`)
  }

  /**
   * One compaction pass (compaction.ts) when cleanupPolicy is 'compact'; null when there
   * is nothing to do. A call while a pass runs returns that pass's promise.
   */
  compact (options: { maxKeys?: number } = {}): Promise<CompactionResult | null> {
    if (this.#closed) return Promise.reject(new LogClosedError(`log ${this.topic}-${this.partition} is closed`))
    if (this.#config.cleanupPolicy !== 'compact' || this.#disk.readOnly) return Promise.resolve(null)
    this.#compaction ??= compactLog(this.#cleanerHost(), options.maxKeys ?? DEFAULT_MAX_KEYS_PER_PASS)
      .finally(() => { this.#compaction = null })
    return this.#compaction
  }

  #cleanerHost (): CleanerHost {
    const self = this
    return {
      dir: this.dir,
      config: this.#config,
      logger: this.#logger.child({ topic: this.topic, partition: this.partition }),
      handles: this.#handles,
      segmentContext: this.#segmentContext,
      firstDirtyOffset: this.#firstDirtyOffset,
      tombstoneHorizons: new Map(this.#tombstoneHorizons),
      now: this.#now,
      segments: () => self.#segments,
      producerLastOffset: id => self.#producers.lastOffsetOf(id),
      aborted: () => self.#closed,
      replaceSegments (old, replacement) {
        const at = self.#segments.indexOf(old[0]!)
        const next = self.#segments.slice()
        next.splice(at, old.length, replacement)
        self.#segments = next
        for (const s of old) {
          const i = self.#loadedIndexes.indexOf(s)
          if (i >= 0) self.#loadedIndexes.splice(i, 1)
        }
        self.#trackLoadedIndexes(replacement)
      },
      cleanerDone (firstDirtyOffset, horizons) {
        self.#firstDirtyOffset = firstDirtyOffset
        self.#tombstoneHorizons = horizons
        self.#writeCheckpointBestEffort()
      },
    }
  }

  /**
   * Stops appends and reads (LogClosedError), stops a running compaction pass, fsyncs the
   * data, writes the active segment's indexes, a producer snapshot and the checkpoint, and
   * releases descriptors (each as soon as in-flight reads release it).
   */
  close (): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  /**
   * Every step is tried even when an earlier one failed (on a full disk only the data fsync
   * matters: the index files, the snapshot and the checkpoint are caches rebuilt at the next
   * open); a failure makes close() reject, naming the steps, and shows in `closeOutcome`.
   */
  async #close (): Promise<void> {
    this.#closed = true
    await this.#compaction?.catch(() => null)
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
      await this.#flusher.sync()
    } catch (err) {
      dataDurable = false
      problems.push(`fsync: ${(err as Error).message}`)
    }
    const active = this.#active
    active.sealTimeIndex()
    step('index files', () => active.writeIndexFiles(true))
    step('producer snapshot', () => {
      if (faultPoints.active) faultPoints.hit('close.beforeSnapshot')
      this.#producers.writeSnapshot(this.dir, this.#logEndOffset, true)
    })
    if (dataDurable) this.#recoveryPoint = this.#logEndOffset
    step('log checkpoint', () => this.#writeCheckpoint(true))
    step('directory fsync', () => fsyncDir(this.dir))
    await Promise.allSettled([...this.#pendingDeletes])
    for (const s of this.#segments) s.detach()
    if (this.#ownsDisk) this.#disk.stop()
    this.#closeOutcome = { dataDurable, problems }
    if (problems.length > 0) {
      throw new StorageError(`closing ${this.topic}-${this.partition}: ${problems.join('; ')}`)
    }
  }
}
