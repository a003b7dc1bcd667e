/**
 * Whether the data directory can take writes: read-only while the disk is full.
 *
 * A write that fails because the file system is out of space (ENOSPC, or EDQUOT for a
 * quota) puts the whole data directory into read-only mode: every later append is refused
 * with a StorageError (KAFKA_STORAGE_ERROR, retriable) before it writes a byte, while
 * fetches, offset lookups, retention (which frees space) and duplicate answers for
 * idempotent retries go on. Refusing every write at once, rather than letting a smaller
 * batch squeeze into the space a larger one could not get, keeps each partition's batches in
 * the order their producers sent them. Opening on a full disk starts in this mode.
 *
 * While read-only, a probe runs every `probeIntervalMs`: it asks the file system for the
 * free space (statfs) and, when at least `minFreeBytes` are free, writes, fsyncs and removes
 * a small probe file (`.space-probe.tmp`; a leftover is removed as any `*.tmp` at the next
 * open). When both succeed the directory is writable again. Entering and leaving are one
 * log line each and an event (`onChange`); the broker shows the state on /healthz.
 *
 * Files that are caches (index files, producer snapshots, the log checkpoint after a
 * recovery) are written best effort through `bestEffort`: on a full disk they are skipped
 * (and rebuilt or replaced later), never a reason to fail an open or a close.
 *
 * Concurrency: synchronous, on the event loop; the probe timer is unref'd.
 */

import fs from 'node:fs'
import path from 'node:path'
import type pino from 'pino'
import { StorageError } from '../../protocol/errors.js'

export const PROBE_FILE = '.space-probe.tmp'
const PROBE_BYTES = 64 * 1024

export interface DiskSpaceOptions {
  dir: string
  logger: pino.Logger
  /** Probe period while read-only (default 1000 ms). */
  probeIntervalMs?: number
  /** Free bytes a probe needs to see before writes resume (default 1 MiB). */
  minFreeBytes?: number
  now?: () => number
}

export interface DiskState {
  readOnly: boolean
  /** Why the directory is read-only (null when writable). */
  reason: string | null
  /** When it became read-only (ms), -1 when writable. */
  sinceMs: number
}

const NO_SPACE_CODES = new Set(['ENOSPC', 'EDQUOT'])

/** Whether `err` (or an error in its cause chain) says the file system is out of space. */
export function isNoSpaceError (err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code
    if (typeof code === 'string' && NO_SPACE_CODES.has(code)) return true
  }
  return false
}

export class DiskSpace {
  readonly dir: string
  readonly #logger: pino.Logger
  readonly #probeIntervalMs: number
  readonly #minFreeBytes: number
  readonly #now: () => number
  #state: DiskState = { readOnly: false, reason: null, sinceMs: -1 }
  #timer: NodeJS.Timeout | null = null
  #stopped = false
  readonly #listeners: Array<(state: DiskState) => void> = []

  constructor (o: DiskSpaceOptions) {
    this.dir = o.dir
    this.#logger = o.logger
    this.#probeIntervalMs = o.probeIntervalMs ?? 1000
    this.#minFreeBytes = o.minFreeBytes ?? 1024 * 1024
    this.#now = o.now ?? Date.now
  }

  get readOnly (): boolean { return this.#state.readOnly }
  get state (): DiskState { return { ...this.#state } }

  /** Calls `fn` after every change between writable and read-only. */
  onChange (fn: (state: DiskState) => void): void {
    this.#listeners.push(fn)
  }

  /** Throws the StorageError every write gets while read-only. */
  checkWritable (what: string): void {
    if (!this.#state.readOnly) return
    throw new StorageError(`${what} refused: the data directory ${this.dir} is read-only (${this.#state.reason}); writes resume once space is freed`)
  }

  /**
   * Looks at an error a write raised: when it says the disk is full, the directory becomes
   * read-only. Returns whether it did say so.
   */
  noteWriteError (err: unknown, what: string): boolean {
    if (!isNoSpaceError(err)) return false
    this.enterReadOnly(`no space left on device (${what})`)
    return true
  }

  enterReadOnly (reason: string): void {
    if (this.#stopped || this.#state.readOnly) return
    this.#state = { readOnly: true, reason, sinceMs: this.#now() }
    this.#logger.warn({ dataDir: this.dir, reason, probeIntervalMs: this.#probeIntervalMs, minFreeBytes: this.#minFreeBytes },
      'storage is read-only: writes are refused until space is freed')
    this.#schedule()
    this.#emit()
  }

  /**
   * Checks for space now: writable when statfs shows `minFreeBytes` free and a probe file can
   * be written and fsynced. Leaves read-only mode on success; returns the result.
   */
  probe (): boolean {
    const free = freeBytes(this.dir)
    let ok = free >= this.#minFreeBytes
    if (ok) ok = writeProbe(path.join(this.dir, PROBE_FILE))
    if (ok && this.#state.readOnly) {
      const readOnlyMs = this.#now() - this.#state.sinceMs
      this.#state = { readOnly: false, reason: null, sinceMs: -1 }
      this.#clearTimer()
      this.#logger.info({ dataDir: this.dir, freeBytes: free, readOnlyMs }, 'storage is writable again')
      this.#emit()
    }
    return ok
  }

  /**
   * Runs a write of a cache file (indexes, snapshots, checkpoints): on a full disk the write
   * is skipped (logged at debug, and the directory becomes read-only); other errors throw.
   * Returns whether the write happened.
   */
  bestEffort (what: string, write: () => void): boolean {
    try {
      write()
      return true
    } catch (err) {
      if (!this.noteWriteError(err, what)) throw err
      this.#logger.debug({ dataDir: this.dir, what, err }, 'cache file not written: no space left on device')
      return false
    }
  }

  /** Stops the probe timer for good (the log manager is closing). */
  stop (): void {
    this.#stopped = true
    this.#clearTimer()
  }

  #schedule (): void {
    if (this.#timer !== null || this.#stopped) return
    this.#timer = setInterval(() => {
      try {
        this.probe()
      } catch (err) {
        this.#logger.error({ dataDir: this.dir, err }, 'disk space probe failed')
      }
    }, this.#probeIntervalMs)
    this.#timer.unref()
  }

  #clearTimer (): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  #emit (): void {
    const state = this.state
    for (const fn of this.#listeners) {
      try {
        fn(state)
      } catch (err) {
        this.#logger.error({ err }, 'read-only listener failed')
      }
    }
  }
}

/** Bytes an unprivileged writer may still use in `dir`'s file system (Infinity when unknown). */
export function freeBytes (dir: string): number {
  try {
    const s = fs.statfsSync(dir)
    return s.bavail * s.bsize
  } catch {
    return Number.POSITIVE_INFINITY
  }
}

function writeProbe (file: string): boolean {
  let fd = -1
  try {
    fd = fs.openSync(file, 'w')
    fs.writeSync(fd, Buffer.alloc(PROBE_BYTES))
    fs.fsyncSync(fd)
    return true
  } catch {
    return false
  } finally {
    if (fd >= 0) fs.closeSync(fd)
    fs.rmSync(file, { force: true })
  }
}
