/**
 * All partition logs of a broker under one data directory (docs/architecture.md §2; Kafka's
 * LogManager): topic metadata, the directory lock, the clean-shutdown marker, the shared
 * file handle cache and the retention and compaction timers.
 *
 * Files in `dataDir`:
 *   .lock                   the owning process's pid. Created exclusively; refused with a
 *                           StorageError while that pid is alive (or while another LogManager
 *                           of this process holds the directory); a lock left by a dead pid is
 *                           taken over. On a full disk (no room for the pid's bytes) the lock is
 *                           a symbolic link whose target is the pid (it needs no data block).
 *                           Not protected against pid reuse or two processes taking over the
 *                           same stale lock at the same instant.
 *   .clean-shutdown, topics.json, <topic>-<partition>/, <dir>.<id>-delete/
 *                           the clean-shutdown marker, the topic list (the source of truth for
 *                           which partition directories exist), one PartitionLog each, deleted
 *                           partitions being removed: formats, names and the crash safety of
 *                           topic changes in data-dir.ts
 *
 * Concurrency: createTopic, deleteTopic and updateTopicConfig run one at a time (a queue);
 * lookups (`partition`, `topic`, `topics`) are synchronous and see a topic from the moment
 * its creation completes until its deletion starts. runRetention and runCompaction never
 * overlap themselves; close() stops the timers, aborts a running compaction pass, closes
 * every log and only then writes the marker.
 *
 * A full disk (disk-space.ts): the first write that fails for lack of space, or an open that
 * finds less than 1 MiB free, makes the whole data directory read-only: appends, topic
 * creation and compaction are refused or skipped, fetches and retention go on, and a probe
 * every second ends the mode once space is back (`readOnly`, `onReadOnlyChange`). Opening
 * never fails for lack of space alone: cache files it would rewrite are skipped.
 *
 * Shutdown on a full disk: close() tries every step of every log and writes the marker when
 * every log's data was fsynced; what failed is logged and rejected with (log-shutdown.ts).
 */

import fs from 'node:fs'
import type pino from 'pino'
import {
  InvalidPartitionsError, StorageError, TopicAlreadyExistsError, UnknownTopicOrPartitionError,
} from '../../protocol/errors.js'
import { resolveLogConfig, validateLogConfig, type LogConfig } from './config.js'
import { FileHandleCache } from './file-handle-cache.js'
import { PartitionLog } from './partition-log.js'
import { fsyncDir } from './checkpoint.js'
import {
  deletedDirSuffix, hasCleanShutdownMarker, partitionDir, readTopics, removeCleanShutdownMarker, removeLeftovers,
  removePartitionDirs, writeTopics, type TopicMeta,
} from './data-dir.js'
import { closeLogsAndMark } from './log-shutdown.js'
import { faultPoints } from './testing/fault-points.js'
import { DiskSpace, type DiskState } from './disk-space.js'
import { acquireLock, releaseLock } from './data-dir-lock.js'
import { TOPIC_NAME_PATTERN, validateTopicName } from '../../protocol/topic-name.js'

export interface TopicInfo {
  name: string
  partitions: number
  /** The effective config (defaults overlaid by the topic's overrides). */
  config: LogConfig
  internal: boolean
  createdAtMs: number
}

export interface LogManagerOptions {
  dataDir: string
  /** Broker-wide defaults for every topic (validated). */
  defaults?: Partial<LogConfig>
  logger: pino.Logger
  now?: () => number
  /** Descriptor cap of the shared FileHandleCache (default 1000). */
  maxOpenFiles?: number
  /** Retention timer period; 0 disables the timer (default 300000, Kafka's 5 minutes). */
  retentionCheckIntervalMs?: number
  /** Compaction timer period; 0 disables the timer (default 15000, Kafka's cleaner backoff). */
  compactionIntervalMs?: number
  maxPartitionsPerTopic?: number
  /** Period of the free-space probe while read-only (default 1000). */
  diskProbeIntervalMs?: number
  /** Free bytes the probe needs before writes resume, and below which open starts read-only (default 1 MiB). */
  minFreeBytes?: number
}

interface TopicState {
  meta: TopicMeta
  config: LogConfig
  logs: PartitionLog[]
}

export { TOPIC_NAME_PATTERN, validateTopicName }
const OPEN_CONCURRENCY = 8

async function mapLimit<T> (items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!)
  })
  await Promise.all(workers)
}

export interface PartitionStats {
  partition: number
  logStartOffset: number
  logEndOffset: number
  highWatermark: number
  sizeBytes: number
  segments: number
}

/** Partitions created, closed or renamed between two turns of the event loop. */
const YIELD_EVERY = 16

function yieldToEventLoop (): Promise<void> {
  return new Promise(resolve => setImmediate(resolve))
}

export class LogManager {
  readonly dataDir: string
  readonly recoveredUncleanly: boolean
  readonly #deletedListeners: Array<(topic: string) => void> = []
  readonly #defaults: Partial<LogConfig>
  readonly #logger: pino.Logger
  readonly #now: () => number
  readonly #handles: FileHandleCache
  readonly #maxPartitionsPerTopic: number
  readonly #topics = new Map<string, TopicState>()
  /** Names being created or deleted (so concurrent calls see them). */
  readonly #busyNames = new Set<string>()
  #queue: Promise<unknown> = Promise.resolve()
  #retentionTimer: NodeJS.Timeout | null = null
  #compactionTimer: NodeJS.Timeout | null = null
  #retentionRun: Promise<void> | null = null
  #compactionRun: Promise<void> | null = null
  #closed = false
  #closing: Promise<void> | null = null
  readonly #lockKey: string
  readonly #disk: DiskSpace

  private constructor (o: LogManagerOptions, lockKey: string, recoveredUncleanly: boolean, disk: DiskSpace) {
    this.dataDir = o.dataDir
    this.#defaults = validateLogConfig(o.defaults ?? {})
    this.#logger = o.logger
    this.#now = o.now ?? Date.now
    this.#handles = new FileHandleCache(o.maxOpenFiles ?? 1000)
    this.#maxPartitionsPerTopic = o.maxPartitionsPerTopic ?? 10000
    this.#lockKey = lockKey
    this.recoveredUncleanly = recoveredUncleanly
    this.#disk = disk
  }

  /** Locks the data dir, reads topics.json, removes leftovers and opens every partition. */
  static async open (o: LogManagerOptions): Promise<LogManager> {
    validateLogConfig(o.defaults ?? {})
    fs.mkdirSync(o.dataDir, { recursive: true })
    const lockKey = fs.realpathSync(o.dataDir)
    acquireLock(lockKey, o.logger)
    const disk = new DiskSpace({ dir: o.dataDir, logger: o.logger, probeIntervalMs: o.diskProbeIntervalMs, minFreeBytes: o.minFreeBytes, now: o.now })
    try {
      if (!disk.probe()) disk.enterReadOnly(`less than ${o.minFreeBytes ?? 1024 * 1024} bytes free at start`)
      const clean = hasCleanShutdownMarker(o.dataDir)
      const metas = readTopics(o.dataDir)
      if (clean) removeCleanShutdownMarker(o.dataDir)
      const manager = new LogManager(o, lockKey, !clean && metas.existed, disk)
      if (!metas.existed) writeTopics(o.dataDir, [])
      removeLeftovers(o.dataDir, metas.topics, o.logger)
      const jobs: Array<{ state: TopicState, partition: number }> = []
      for (const meta of metas.topics) {
        const state: TopicState = { meta, config: resolveLogConfig(manager.#defaults, meta.config), logs: [] }
        manager.#topics.set(meta.name, state)
        for (let p = 0; p < meta.partitions; p++) jobs.push({ state, partition: p })
      }
      await mapLimit(jobs, OPEN_CONCURRENCY, async ({ state, partition }) => {
        state.logs[partition] = await manager.#openLog(state, partition, !clean)
      })
      if (manager.recoveredUncleanly) o.logger.warn({ dataDir: o.dataDir, partitions: jobs.length }, 'no clean-shutdown marker: logs were recovered')
      manager.#startTimers(o)
      return manager
    } catch (err) {
      disk.stop()
      releaseLock(lockKey)
      throw err
    }
  }

  #openLog (state: TopicState, partition: number, recover: boolean): Promise<PartitionLog> {
    return PartitionLog.open({
      dir: partitionDir(this.dataDir, state.meta.name, partition),
      topic: state.meta.name,
      partition,
      config: state.config,
      logger: this.#logger,
      now: this.#now,
      recover,
      handles: this.#handles,
      disk: this.#disk,
    })
  }

  #startTimers (o: LogManagerOptions): void {
    const retentionMs = o.retentionCheckIntervalMs ?? 300_000
    const compactionMs = o.compactionIntervalMs ?? 15_000
    if (retentionMs > 0) {
      this.#retentionTimer = setInterval(() => { void this.runRetention() }, retentionMs)
      this.#retentionTimer.unref()
    }
    if (compactionMs > 0) {
      this.#compactionTimer = setInterval(() => { void this.runCompaction() }, compactionMs)
      this.#compactionTimer.unref()
    }
  }

  #checkOpen (): void {
    if (this.#closed) throw new StorageError(`log manager for ${this.dataDir} is closed`)
  }

  /** True while the disk is full: appends and topic creation are refused (see the header). */
  get readOnly (): boolean { return this.#disk.readOnly }

  /** Read-only or not, why, and since when. */
  get diskState (): DiskState { return this.#disk.state }

  /** Calls `fn` whenever the data directory becomes read-only or writable again. */
  onReadOnlyChange (fn: (state: DiskState) => void): void {
    this.#disk.onChange(fn)
  }

  /** Looks for free space now (a timer does it every second while read-only); returns whether writes may go on. */
  probeDiskSpace (): boolean {
    return this.#disk.probe()
  }

  /** Runs metadata changes one at a time. */
  #serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn)
    this.#queue = run.catch(() => {})
    return run
  }

  #metas (): TopicMeta[] {
    return [...this.#topics.values()].map(s => s.meta)
  }

  #info (state: TopicState): TopicInfo {
    return { name: state.meta.name, partitions: state.meta.partitions, config: { ...state.config }, internal: state.meta.internal, createdAtMs: state.meta.createdAtMs }
  }

  /**
   * Checks what createTopic would check (name, partitions, config, not existing) without
   * creating anything; the topic it would create.
   */
  validateNewTopic (name: string, opts: { partitions?: number, config?: Partial<LogConfig>, internal?: boolean } = {}): TopicInfo {
    this.#checkOpen()
    const internal = opts.internal ?? false
    validateTopicName(name, internal)
    const partitions = opts.partitions ?? 1
    if (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > this.#maxPartitionsPerTopic) {
      throw new InvalidPartitionsError(`partitions must be an integer in 1..${this.#maxPartitionsPerTopic}, got ${String(partitions)}`)
    }
    const overrides = validateLogConfig(opts.config ?? {})
    if (this.#topics.has(name) || this.#busyNames.has(name)) throw new TopicAlreadyExistsError(`topic ${JSON.stringify(name)} already exists`)
    return { name, partitions, config: resolveLogConfig(this.#defaults, overrides), internal, createdAtMs: this.#now() }
  }

  async createTopic (name: string, opts: { partitions?: number, config?: Partial<LogConfig>, internal?: boolean } = {}): Promise<TopicInfo> {
    const { partitions, internal } = this.validateNewTopic(name, opts)
    const overrides = validateLogConfig(opts.config ?? {})
    this.#busyNames.add(name)
    try {
      return await this.#serial(async () => {
        this.#checkOpen()
        this.#disk.checkWritable(`creating topic ${name}`)
        const meta: TopicMeta = { name, partitions, config: overrides, internal, createdAtMs: this.#now() }
        const state: TopicState = { meta, config: resolveLogConfig(this.#defaults, overrides), logs: [] }
        try {
          for (let p = 0; p < partitions; p++) {
            const dir = partitionDir(this.dataDir, name, p)
            if (fs.existsSync(dir)) {
              this.#logger.warn({ topic: name, dir }, 'removing a leftover partition directory before creating the topic')
              fs.rmSync(dir, { recursive: true, force: true })
            }
            state.logs.push(await this.#openLog(state, p, false))
            // Thousands of partitions are thousands of synchronous file operations: let the
            // other clients in between, so one CreateTopics does not stall the broker.
            if (p % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop()
          }
          if (faultPoints.active) faultPoints.hit('topics.beforeCreateMetadata')
          writeTopics(this.dataDir, [...this.#metas(), meta])
        } catch (err) {
          await Promise.allSettled(state.logs.map(l => l.close()))
          removePartitionDirs(this.dataDir, name, 0, partitions)
          this.#disk.noteWriteError(err, `creating topic ${name}`)
          throw err instanceof StorageError ? err : new StorageError(`creating topic ${name} failed: ${(err as Error).message}`, { cause: err })
        }
        this.#topics.set(name, state)
        // The topic service logs the one info line (who created it); this one is for storage debugging.
        this.#logger.debug({ topic: name, partitions, internal }, 'topic log created')
        return this.#info(state)
      })
    } finally {
      this.#busyNames.delete(name)
    }
  }

  /**
   * Raises a topic's partition count to `count` (Kafka's CreatePartitions; partitions are
   * never removed): the new partition logs are created, then topics.json names them. A
   * crash between the two leaves directories that the next start removes as leftovers.
   */
  async addPartitions (name: string, count: number): Promise<TopicInfo> {
    this.#checkOpen()
    if (!this.#topics.has(name) || this.#busyNames.has(name)) throw new UnknownTopicOrPartitionError(`topic ${JSON.stringify(name)} does not exist`)
    return this.#serial(async () => {
      const state = this.#topics.get(name)
      if (state === undefined) throw new UnknownTopicOrPartitionError(`topic ${JSON.stringify(name)} does not exist`)
      const current = state.meta.partitions
      if (!Number.isSafeInteger(count) || count <= current || count > this.#maxPartitionsPerTopic) {
        throw new InvalidPartitionsError(`topic ${name} has ${current} partitions; the new count must be ${current + 1}..${this.#maxPartitionsPerTopic} (got ${String(count)})`)
      }
      const added: PartitionLog[] = []
      try {
        for (let p = current; p < count; p++) {
          const dir = partitionDir(this.dataDir, name, p)
          if (fs.existsSync(dir)) fs.rmSync(dir, { recursive: true, force: true })
          added.push(await this.#openLog(state, p, false))
          if (p % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop()
        }
        const meta: TopicMeta = { ...state.meta, partitions: count }
        writeTopics(this.dataDir, this.#metas().map(m => (m.name === name ? meta : m)))
        state.meta = meta
      } catch (err) {
        await Promise.allSettled(added.map(l => l.close()))
        removePartitionDirs(this.dataDir, name, current, count)
        throw err instanceof StorageError ? err : new StorageError(`adding partitions to ${name} failed: ${(err as Error).message}`, { cause: err })
      }
      state.logs.push(...added)
      this.#logger.debug({ topic: name, from: current, to: count }, 'partitions added')
      return this.#info(state)
    })
  }

  async deleteTopic (name: string): Promise<void> {
    this.#checkOpen()
    const state = this.#topics.get(name)
    if (state === undefined || this.#busyNames.has(name)) throw new UnknownTopicOrPartitionError(`topic ${JSON.stringify(name)} does not exist`)
    this.#topics.delete(name)
    this.#busyNames.add(name)
    try {
      await this.#serial(async () => {
        // One partition after another, yielding now and then (see createTopic).
        for (let p = 0; p < state.logs.length; p++) {
          await state.logs[p]!.close().catch(() => { /* a log that fails to close is deleted all the same */ })
          if (p % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop()
        }
        writeTopics(this.dataDir, this.#metas())
        if (faultPoints.active) faultPoints.hit('topics.afterDeleteMetadata')
        const suffix = deletedDirSuffix(this.#now())
        const renamed: string[] = []
        for (let p = 0; p < state.meta.partitions; p++) {
          const dir = partitionDir(this.dataDir, name, p)
          try {
            fs.renameSync(dir, dir + suffix)
            renamed.push(dir + suffix)
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
          }
          if (p % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop()
        }
        fsyncDir(this.dataDir)
        await Promise.all(renamed.map(d => fs.promises.rm(d, { recursive: true, force: true })))
        this.#logger.debug({ topic: name, partitions: state.meta.partitions }, 'topic log deleted')
      })
    } finally {
      this.#busyNames.delete(name)
    }
    for (const listener of this.#deletedListeners) {
      try {
        listener(name)
      } catch (err) {
        this.#logger.error({ err, topic: name }, 'topic-deleted listener failed')
      }
    }
  }

  /** Calls `fn` after each topic deletion (the group coordinator drops the topic's offsets). */
  onTopicDeleted (fn: (topic: string) => void): void {
    this.#deletedListeners.push(fn)
  }

  /** The descriptor cache shared by every log (its `openCount` is bounded by maxOpenFiles). */
  get fileHandles (): FileHandleCache { return this.#handles }

  hasTopic (name: string): boolean {
    return this.#topics.has(name)
  }

  topic (name: string): TopicInfo | undefined {
    const state = this.#topics.get(name)
    return state === undefined ? undefined : this.#info(state)
  }

  topics (): TopicInfo[] {
    return [...this.#topics.values()].map(s => this.#info(s)).sort((a, b) => (a.name < b.name ? -1 : 1))
  }

  /** The log of one partition; UnknownTopicOrPartitionError when there is none. */
  partition (topic: string, partition: number): PartitionLog {
    const log = this.#topics.get(topic)?.logs[partition]
    if (log === undefined) throw new UnknownTopicOrPartitionError(`${topic}-${partition} does not exist`)
    return log
  }

  /** Offsets, size and segment count of each partition of a topic (UnknownTopicOrPartitionError if none). */
  partitionStats (topic: string): PartitionStats[] {
    const logs = this.#topics.get(topic)?.logs
    if (logs === undefined) throw new UnknownTopicOrPartitionError(`topic "${topic}" does not exist`)
    return logs.map((log, partition) => ({
      partition,
      logStartOffset: log.logStartOffset,
      logEndOffset: log.logEndOffset,
      highWatermark: log.highWatermark,
      sizeBytes: log.sizeBytes,
      segments: log.segmentCount,
    }))
  }

  /** Merges validated overrides into the topic's config, persists it and applies it to every partition. */
  async updateTopicConfig (name: string, partial: Partial<LogConfig>): Promise<TopicInfo> {
    this.#checkOpen()
    const overrides = validateLogConfig(partial)
    if (!this.#topics.has(name)) throw new UnknownTopicOrPartitionError(`topic ${JSON.stringify(name)} does not exist`)
    return this.#serial(async () => {
      const state = this.#topics.get(name)
      if (state === undefined) throw new UnknownTopicOrPartitionError(`topic ${JSON.stringify(name)} does not exist`)
      const meta: TopicMeta = { ...state.meta, config: { ...state.meta.config, ...overrides } }
      writeTopics(this.dataDir, this.#metas().map(m => (m.name === name ? meta : m)))
      state.meta = meta
      state.config = resolveLogConfig(this.#defaults, meta.config)
      for (const log of state.logs) log.updateConfig(state.config)
      this.#logger.debug({ topic: name, overrides }, 'topic log config updated')
      return this.#info(state)
    })
  }

  #allLogs (): PartitionLog[] {
    return [...this.#topics.values()].flatMap(s => s.logs)
  }

  /** Retention on every partition of 'delete' topics (the timer's job; tests call it). */
  runRetention (): Promise<void> {
    this.#retentionRun ??= (async () => {
      for (const log of this.#allLogs()) {
        if (this.#closed) break
        if (log.closed || log.config.cleanupPolicy !== 'delete') continue
        try {
          await log.enforceRetention()
        } catch (err) {
          if (!log.closed) this.#logger.error({ topic: log.topic, partition: log.partition, err }, 'retention failed')
        }
      }
    })().finally(() => { this.#retentionRun = null })
    return this.#retentionRun
  }

  /** One compaction pass over every partition of 'compact' topics, one partition at a time. */
  runCompaction (): Promise<void> {
    this.#compactionRun ??= (async () => {
      for (const log of this.#allLogs()) {
        if (this.#closed) break
        if (log.closed || log.config.cleanupPolicy !== 'compact') continue
        try {
          await log.compact()
        } catch (err) {
          if (!log.closed) this.#logger.error({ topic: log.topic, partition: log.partition, err }, 'compaction failed')
        }
      }
    })().finally(() => { this.#compactionRun = null })
    return this.#compactionRun
  }

  /** Stops timers and background work, closes every log (fsync), writes the clean-shutdown marker. */
  close (): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close (): Promise<void> {
    this.#closed = true
    if (this.#retentionTimer !== null) clearInterval(this.#retentionTimer)
    if (this.#compactionTimer !== null) clearInterval(this.#compactionTimer)
    this.#disk.stop()
    await this.#queue
    try {
      await closeLogsAndMark(this.dataDir, this.#allLogs(), () => [this.#retentionRun, this.#compactionRun], this.#logger)
    } finally {
      releaseLock(this.#lockKey)
    }
  }
}
