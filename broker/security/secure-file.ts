/**
 * The files of `<dataDir>/security/`: written whole and atomically, readable only by the
 * broker's user, and re-read when another process (the CLI) replaces them.
 *
 * - Writing: a temp file in the same directory (mode 0600, created exclusively), write,
 *   fsync, rename over the target, fsync the directory. A reader sees the old file or the
 *   new one, never half of one, and a crash at any point leaves one of the two.
 * - Read-modify-write from several processes: a lock file next to the target
 *   (`users.json.lock`, created with O_EXCL, holding the owner's pid). A lock older than
 *   `staleLockMs` is taken to belong to a process that died and is removed. Inside the
 *   lock the file is re-read before the change, so two writers never lose each other's
 *   updates.
 * - Noticing changes: every write is a rename, so the file's inode changes. `refresh()`
 *   compares (inode, size, mtime in ns) with what was last loaded — one stat, a few
 *   microseconds — and reloads on a difference. Callers choose when to call it: the
 *   credential store and the token keys on each lookup (rare: once per authentication),
 *   the authorizer from a timer. A file that fails to load on refresh leaves the last good
 *   contents in force (logged, and kept in `lastError`); at open it is an error.
 */

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync, type BigIntStats } from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { SecurityFileInvalidError, StorageError } from '../../protocol/errors.js'

/** `<dataDir>/security`, the directory of every file here. */
export function securityDir (dataDir: string): string {
  return path.join(dataDir, 'security')
}

/** Creates `dir` (and parents) if missing; a created directory gets mode 0700. */
export function ensurePrivateDir (dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
}

/** Writes `data` to `file` atomically and durably, with mode 0600. */
export function writeFileAtomic (file: string, data: string | Uint8Array, mode = 0o600): void {
  const dir = path.dirname(file)
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const fd = openSync(tmp, 'wx', mode)
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
    let off = 0
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off)
    fsyncSync(fd)
  } catch (err) {
    closeSync(fd)
    try { unlinkSync(tmp) } catch { /* already gone */ }
    throw err
  }
  closeSync(fd)
  try {
    renameSync(tmp, file)
  } catch (err) {
    try { unlinkSync(tmp) } catch { /* already gone */ }
    throw err
  }
  const dfd = openSync(dir, 'r')
  try { fsyncSync(dfd) } finally { closeSync(dfd) }
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4))

/** Runs `fn` holding `<file>.lock` (see the header); waits at most `timeoutMs` for it. */
export function withFileLock<T> (file: string, fn: () => T, options: { timeoutMs?: number, staleLockMs?: number } = {}): T {
  const lock = `${file}.lock`
  const timeoutMs = options.timeoutMs ?? 5000
  const staleLockMs = options.staleLockMs ?? 10_000
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const fd = openSync(lock, 'wx', 0o600)
      try { writeSync(fd, `${process.pid}\n`) } finally { closeSync(fd) }
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      try {
        if (Date.now() - statSync(lock).mtimeMs > staleLockMs) { unlinkSync(lock); continue }
      } catch { continue } // released meanwhile
      if (Date.now() > deadline) throw new StorageError(`${lock} is held by another process (waited ${timeoutMs} ms); remove it if no spool process is running`)
      Atomics.wait(sleepCell, 0, 0, 10)
    }
  }
  try {
    return fn()
  } finally {
    try { unlinkSync(lock) } catch { /* removed as stale by someone else */ }
  }
}

/** Turns the parsed JSON of a file into its value, or throws SecurityFileInvalidError naming what is wrong. */
export type FileParser<T> = (json: unknown, file: string) => T

export interface WatchedJsonFileOptions<T> {
  readonly file: string
  readonly parse: FileParser<T>
  readonly serialize: (value: T) => unknown
  /** The value while the file does not exist. */
  readonly empty: () => T
  readonly logger?: Logger
  readonly lockTimeoutMs?: number
}

function signature (st: BigIntStats | null): string {
  return st === null ? 'missing' : `${st.ino}:${st.size}:${st.mtimeNs}`
}

function statOrNull (file: string): BigIntStats | null {
  try {
    return statSync(file, { bigint: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}

/** Reads and validates one security file; any problem is a SecurityFileInvalidError that names the file. */
export function readJsonFile<T> (file: string, parse: FileParser<T>): T {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new SecurityFileInvalidError(`${file}: cannot be read: ${(err as Error).message}`, { cause: err })
  }
  if (text.trim().length === 0) throw new SecurityFileInvalidError(`${file}: the file is empty (truncated?)`)
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    // V8 quotes a piece of the input in some messages; these files hold keys, so drop it.
    const reason = (err as Error).message.replace(/, ".*" is not valid JSON$/s, '')
    throw new SecurityFileInvalidError(`${file}: not valid JSON: ${reason}`)
  }
  return parse(json, file)
}

/** One JSON file in memory, kept in step with the disk (see the header). */
export class WatchedJsonFile<T> {
  readonly file: string
  #value: T
  #signature: string
  #lastError: SecurityFileInvalidError | null = null
  readonly #options: WatchedJsonFileOptions<T>

  constructor (options: WatchedJsonFileOptions<T>) {
    this.#options = options
    this.file = options.file
    ensurePrivateDir(path.dirname(options.file))
    const st = statOrNull(options.file)
    this.#signature = signature(st)
    this.#value = st === null ? options.empty() : this.#load(st)
  }

  get value (): T { return this.#value }

  /** The error of the last failed reload (the previous contents stay in force), or null. */
  get lastError (): SecurityFileInvalidError | null { return this.#lastError }

  /** Re-reads the file if it changed on disk; true when the value changed. */
  refresh (): boolean {
    const st = statOrNull(this.file)
    const sig = signature(st)
    if (sig === this.#signature) return false
    this.#signature = sig
    try {
      this.#value = st === null ? this.#options.empty() : this.#load(st)
      this.#lastError = null
      this.#options.logger?.info({ file: this.file }, 'security file reloaded')
      return true
    } catch (err) {
      if (!(err instanceof SecurityFileInvalidError)) throw err
      this.#lastError = err
      this.#options.logger?.error({ file: this.file, err: err.message }, 'security file is invalid; keeping the previous contents')
      return false
    }
  }

  /** Applies `change` to the current file contents under the lock and writes the result. */
  update<R> (change: (current: T) => { value: T, result: R }): R {
    return withFileLock(this.file, () => {
      const st = statOrNull(this.file)
      const current = st === null ? this.#options.empty() : this.#load(st)
      const { value, result } = change(current)
      writeFileAtomic(this.file, JSON.stringify(this.#options.serialize(value), null, 2) + '\n')
      this.#value = value
      this.#signature = signature(statOrNull(this.file))
      this.#lastError = null
      return result
    }, this.#options.lockTimeoutMs === undefined ? {} : { timeoutMs: this.#options.lockTimeoutMs })
  }

  #load (st: BigIntStats): T {
    if ((Number(st.mode) & 0o077) !== 0) {
      this.#options.logger?.warn({ file: this.file, mode: (Number(st.mode) & 0o777).toString(8) }, 'security file is readable by other users; chmod 600 it')
    }
    return readJsonFile(this.file, this.#options.parse)
  }
}

// ---- validation helpers: each names the file and the JSON path of what is wrong ----------

export function invalid (file: string, where: string, what: string): SecurityFileInvalidError {
  return new SecurityFileInvalidError(`${file}: ${where}: ${what}`)
}

export function asObject (v: unknown, file: string, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(file, where, 'expected an object')
  return v as Record<string, unknown>
}

export function asArray (v: unknown, file: string, where: string): unknown[] {
  if (!Array.isArray(v)) throw invalid(file, where, 'expected an array')
  return v
}

export function asString (v: unknown, file: string, where: string): string {
  if (typeof v !== 'string') throw invalid(file, where, 'expected a string')
  return v
}

export function asInt (v: unknown, file: string, where: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(file, where, `expected an integer from ${min} to ${max}`)
  return v
}

export function asVersion (json: Record<string, unknown>, file: string): void {
  if (json.version !== 1) throw invalid(file, 'version', `expected 1, got ${JSON.stringify(json.version)}`)
}
