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
 *   .clean-shutdown         empty; written and fsynced by close() once every log's data is
 *                           fsynced (even if some cache file could not be written: see close),
 *                           removed (and the removal fsynced) by open() before any log is
 *                           opened, so a crash at any later point means "recover".
 *   .space-probe.tmp        only while the disk-space probe runs (disk-space.ts)
 *   topics.json             checked file (checkpoint.ts), kind "topics", body:
 *                             { "topics": [ { "name": "orders", "partitions": 3,
 *                               "config": { ...overrides only... }, "internal": false,
 *                               "createdAtMs": 1700000000000 } ] }
 *                           written tmp + fsync + rename + fsync(dir). It is the source of
 *                           truth: partition directories are found from it, never by parsing
 *                           directory names (topic names may contain '-'). It is created at the
 *                           first open; if it is missing in a non-empty data dir, or damaged, open
 *                           refuses with a StorageError instead of guessing.
 *   <topic>-<partition>/    one PartitionLog each (partition-log.ts)
 *   <dir>.<id>-delete/      a deleted partition being removed (finished at the next open)
 *
 * Crash safety of topic changes: createTopic creates the partition directories, then writes
 * topics.json; deleteTopic writes topics.json, then renames the directories to `-delete` and
 * removes them. A crash in between leaves directories topics.json does not name; open()
 * removes those (with a warn line) and starts normally.
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
 * Shutdown on a full disk: close() tries every step of every log (fsync, index files,
 * producer snapshot, checkpoint) and writes the clean-shutdown marker when every log's data
 * was fsynced — the files that could not be written are caches the next open rebuilds.
 * Then, if anything failed, it logs one line ('shutdown incomplete': which logs, which steps,
 * whether the marker was written) and rejects with a StorageError saying the same.
 */

import fs from 'node:fs'
import path from 'node:path'
import type pino from 'pino'
import {
  InvalidPartitionsError, StorageError, TopicAlreadyExistsError, UnknownTopicOrPartitionError,
} from '../../protocol/errors.js'
import { resolveLogConfig, validateLogConfig, type LogConfig } from './config.js'
import { FileHandleCache } from './file-handle-cache.js'
import { PartitionLog } from './partition-log.js'
import { fsyncDir, readCheckedFile, writeCheckedFile } from './checkpoint.js'
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

interface TopicMeta {
  name: string
  partitions: number
  config: Partial<LogConfig>
  internal: boolean
  createdAtMs: number
}

interface TopicState {
  meta: TopicMeta
  config: LogConfig
  logs: PartitionLog[]
}

export { TOPIC_NAME_PATTERN, validateTopicName }
const CLEAN_SHUTDOWN_FILE = '.clean-shutdown'
const TOPICS_FILE = 'topics.json'
const TOPICS_KIND = 'topics'
const DELETE_SUFFIX = '-delete'
/** `<topic>-<partition>`: the only directories besides DELETE_SUFFIX ones that the log manager owns. */
const PARTITION_DIR = /-\d+$/
const OPEN_CONCURRENCY = 8


function partitionDirName (topic: string, partition: number): string {
  return `${topic}-${partition}`
}

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
      const markerPath = path.join(o.dataDir, CLEAN_SHUTDOWN_FILE)
      const clean = fs.existsSync(markerPath)
      const metas = readTopics(o.dataDir)
      if (clean) {
        fs.rmSync(markerPath)
        fsyncDir(o.dataDir)
      }
      const manager = new LogManager(o, lockKey, !clean && metas.existed, disk)
      if (!metas.existed) manager.#writeTopics([])
      manager.#removeLeftovers(metas.topics)
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
      dir: path.join(this.dataDir, partitionDirName(state.meta.name, partition)),
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

  /** Removes `-delete` directories and partition directories topics.json does not name. */
  #removeLeftovers (metas: TopicMeta[]): void {
    const expected = new Set<string>()
    for (const m of metas) for (let p = 0; p < m.partitions; p++) expected.add(partitionDirName(m.name, p))
    for (const entry of fs.readdirSync(this.dataDir, { withFileTypes: true })) {
      const full = path.join(this.dataDir, entry.name)
      if (!entry.isDirectory()) {
        if (entry.name.endsWith('.tmp')) fs.rmSync(full, { force: true })
        continue
      }
      if (expected.has(entry.name)) continue
      // Only what a partition directory can be named: `security/` (users, ACLs, token keys) and the like stay.
      if (!PARTITION_DIR.test(entry.name) && !entry.name.endsWith(DELETE_SUFFIX)) continue
      if (!entry.name.endsWith(DELETE_SUFFIX)) {
        this.#logger.warn({ dir: entry.name }, 'removing a partition directory that topics.json does not name (left by an interrupted create or delete)')
      }
      fs.rmSync(full, { recursive: true, force: true })
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

  #writeTopics (metas: TopicMeta[]): void {
    writeCheckedFile(TOPICS_KIND, path.join(this.dataDir, TOPICS_FILE), { topics: metas }, true)
    fsyncDir(this.dataDir)
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
            const dir = path.join(this.dataDir, partitionDirName(name, p))
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
          this.#writeTopics([...this.#metas(), meta])
        } catch (err) {
          await Promise.allSettled(state.logs.map(l => l.close()))
          for (let p = 0; p < partitions; p++) fs.rmSync(path.join(this.dataDir, partitionDirName(name, p)), { recursive: true, force: true })
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
          const dir = path.join(this.dataDir, partitionDirName(name, p))
          if (fs.existsSync(dir)) fs.rmSync(dir, { recursive: true, force: true })
          added.push(await this.#openLog(state, p, false))
          if (p % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop()
        }
        const meta: TopicMeta = { ...state.meta, partitions: count }
        this.#writeTopics(this.#metas().map(m => (m.name === name ? meta : m)))
        state.meta = meta
      } catch (err) {
        await Promise.allSettled(added.map(l => l.close()))
        for (let p = current; p < count; p++) fs.rmSync(path.join(this.dataDir, partitionDirName(name, p)), { recursive: true, force: true })
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
        this.#writeTopics(this.#metas())
        if (faultPoints.active) faultPoints.hit('topics.afterDeleteMetadata')
        const suffix = `.${this.#now().toString(36)}${Math.random().toString(36).slice(2, 8)}${DELETE_SUFFIX}`
        const renamed: string[] = []
        for (let p = 0; p < state.meta.partitions; p++) {
          const dir = path.join(this.dataDir, partitionDirName(name, p))
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
      this.#writeTopics(this.#metas().map(m => (m.name === name ? meta : m)))
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
      const logs = this.#allLogs()
      const results = await Promise.allSettled(logs.map(l => l.close()))
      await Promise.allSettled([this.#retentionRun, this.#compactionRun])
      const failures: Array<{ log: string, problems: string[] }> = []
      let dataDurable = true
      results.forEach((r, i) => {
        if (r.status === 'fulfilled') return
        const log = logs[i]!
        const outcome = log.closeOutcome
        if (outcome === null || !outcome.dataDurable) dataDurable = false
        failures.push({ log: `${log.topic}-${log.partition}`, problems: outcome?.problems ?? [String((r.reason as Error).message)] })
      })
      let markerWritten = false
      let markerProblem: string | null = null
      if (dataDurable) {
        try {
          const fd = fs.openSync(path.join(this.dataDir, CLEAN_SHUTDOWN_FILE), 'w')
          try { fs.fsyncSync(fd) } finally { fs.closeSync(fd) }
          fsyncDir(this.dataDir)
          markerWritten = true
        } catch (err) {
          markerProblem = (err as Error).message
        }
      }
      if (failures.length > 0 || markerProblem !== null) {
        const steps = [...new Set(failures.flatMap(f => f.problems.map(p => p.slice(0, p.indexOf(':')))))]
        this.#logger.error({
          failedLogs: failures.length, closedLogs: logs.length - failures.length, steps, markerWritten, markerProblem,
          dataDurable, failures: failures.slice(0, 20),
        }, 'shutdown incomplete')
        const what = failures.length > 0 ? `${failures.length} of ${logs.length} logs could not write ${steps.join(', ')}` : 'every log closed'
        throw new StorageError(`shutdown incomplete: ${what}; ${markerWritten
          ? 'all data is fsynced and the clean-shutdown marker was written (the next start rebuilds the rest)'
          : `no clean-shutdown marker (${markerProblem ?? 'some data could not be fsynced'}): the next start recovers the logs`}`,
        { cause: results.find(r => r.status === 'rejected')?.reason })
      }
    } finally {
      releaseLock(this.#lockKey)
    }
  }
}

/** topics.json: its topics, or `existed: false` for a new data dir; StorageError when unusable. */
function readTopics (dataDir: string): { existed: boolean, topics: TopicMeta[] } {
  const file = path.join(dataDir, TOPICS_FILE)
  const read = readCheckedFile(TOPICS_KIND, file)
  if (read === null) {
    // Partition directories (`<topic>-<n>`) without topics.json are a lost topic list; other
    // directories (`security/`, written by `spool user add` before the first start) are not.
    const others = fs.readdirSync(dataDir, { withFileTypes: true }).filter(e => e.isDirectory() && PARTITION_DIR.test(e.name) && !e.name.endsWith(DELETE_SUFFIX))
    if (others.length > 0) {
      throw new StorageError(`${file} is missing but ${dataDir} holds ${others.length} directories (e.g. ${others[0]!.name}); refusing to guess the topics`)
    }
    return { existed: false, topics: [] }
  }
  if ('problem' in read) throw new StorageError(`${file} is damaged (${read.problem}); refusing to start`)
  const topics = (read.body as { topics?: unknown }).topics
  if (!Array.isArray(topics)) throw new StorageError(`${file} has no topics list`)
  for (const t of topics as TopicMeta[]) {
    validateTopicName(t.name, true)
    if (!Number.isSafeInteger(t.partitions) || t.partitions < 1) throw new StorageError(`${file}: topic ${t.name} has ${String(t.partitions)} partitions`)
    validateLogConfig(t.config)
  }
  return { existed: true, topics: topics as TopicMeta[] }
}
