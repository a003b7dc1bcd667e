/**
 * File descriptors for segment `.log` files, shared by every PartitionLog of a broker.
 *
 * Each segment registers one `CachedFile`. Its descriptor is opened lazily on first use and
 * closed least-recently-used once more than `maxOpen` are open, so 10,000 partitions do not
 * hold 10,000 descriptors. Active segments are not special: their write descriptor is
 * evicted like any other when idle, and the next append reopens it (one open(2)).
 *
 * Reference counting makes descriptor reuse impossible: a descriptor is closed only when
 * no read, write or fsync holds it. A file "retired" by retention or compaction keeps its
 * descriptor (and its bytes: it is unlinked only afterwards) until the last holder releases
 * it; then `onClosed` runs (the owner deletes the file there).
 *
 * Two ways to acquire:
 * - `acquireSync` (append, sync, compaction output): opens at once even above the cap, so a
 *   synchronous append never waits. The cap is exceeded only while every open descriptor is
 *   in use.
 * - `acquire` (reads): when the cache is full of descriptors in use it waits in a FIFO
 *   queue for a release, which bounds descriptors under any number of concurrent reads.
 *   A reader holds at most one descriptor at a time, so the queue cannot deadlock.
 *
 * What `openCount` counts: segment `.log` descriptors only. Index, snapshot and checkpoint
 * files are read and written whole with transient descriptors (open, read/write, close
 * within one call) and are not cached.
 *
 * Concurrency: all methods are synchronous except `acquire`, and run on the event loop; the
 * descriptor a caller gets stays valid until its matching `release`.
 */

import fs from 'node:fs'
import { StorageError } from '../../protocol/errors.js'

export type FileMode = 'r' | 'r+'

/** Thrown by `acquire` on a file retired while the caller waited. */
export class FileRetiredError extends StorageError {}

export class CachedFile {
  #path: string
  #mode: FileMode
  fd = -1
  refs = 0
  retired = false
  /** Runs once, after a retired file's descriptor is closed (or at once if it was not open). */
  onClosed: (() => void) | null = null
  readonly #cache: FileHandleCache

  constructor (cache: FileHandleCache, path: string, mode: FileMode) {
    this.#cache = cache
    this.#path = path
    this.#mode = mode
  }

  get path (): string { return this.#path }

  /** Renames the file on disk and remembers the new path (an open descriptor stays valid). */
  rename (newPath: string): void {
    fs.renameSync(this.#path, newPath)
    this.#path = newPath
  }

  /**
   * Mode for future opens ('r+' while the segment is active). Upgrading to 'r+' closes an
   * idle read-only descriptor so the next acquire reopens it writable.
   */
  setMode (mode: FileMode): void {
    if (mode === this.#mode) return
    const upgrade = mode === 'r+'
    this.#mode = mode
    if (upgrade && this.fd >= 0) {
      if (this.refs > 0) throw new StorageError(`cannot make ${this.#path} writable while it is in use`)
      this.#cache.closeFile(this)
    }
  }

  /** Opens (if needed) without waiting, even past the cap; pair with `release`. */
  acquireSync (): number {
    if (this.retired) throw new FileRetiredError(`file ${this.#path} was retired`)
    this.refs++
    if (this.fd < 0) {
      try {
        this.#cache.open(this, this.#path, this.#mode)
      } catch (err) {
        this.refs--
        throw new StorageError(`cannot open ${this.#path}: ${(err as Error).message}`, { cause: err })
      }
    } else {
      this.#cache.touch(this)
    }
    return this.fd
  }

  /** Opens (if needed), waiting for a free slot when the cache is full; pair with `release`. */
  acquire (): Promise<number> | number {
    if (this.retired) throw new FileRetiredError(`file ${this.#path} was retired`)
    if (this.fd >= 0 || this.#cache.hasRoom()) return this.acquireSync()
    this.refs++
    return this.#cache.wait(this)
  }

  /** Opens after a wait (called by the cache with a reference already counted). */
  openAfterWait (): number {
    this.#cache.open(this, this.#path, this.#mode)
    return this.fd
  }

  release (): void {
    if (this.refs <= 0) throw new StorageError(`release of ${this.#path} without acquire`)
    this.refs--
    if (this.refs === 0) this.#cache.idle(this)
  }

  /** No new holders; the descriptor closes (and onClosed runs) when the last one releases. */
  retire (onClosed: () => void): void {
    this.retired = true
    this.onClosed = onClosed
    if (this.refs === 0) this.#cache.idle(this)
  }
}

interface Waiter {
  file: CachedFile
  resolve: (fd: number) => void
  reject: (err: unknown) => void
}

export class FileHandleCache {
  readonly maxOpen: number
  /** Open descriptors with no holder, least recently used first (Set keeps insertion order). */
  readonly #idle = new Set<CachedFile>()
  readonly #waiters: Waiter[] = []
  #open = 0
  #opensTotal = 0

  constructor (maxOpen = 1000) {
    if (!Number.isSafeInteger(maxOpen) || maxOpen < 1) throw new StorageError(`maxOpen must be a positive integer, got ${maxOpen}`)
    this.maxOpen = maxOpen
  }

  /** Segment descriptors open now (in use or idle). */
  get openCount (): number { return this.#open }

  /** open(2) calls made so far (tests check that idle descriptors are reused). */
  get opensTotal (): number { return this.#opensTotal }

  /** Registers a file; nothing is opened until the first acquire. */
  file (path: string, mode: FileMode = 'r'): CachedFile {
    return new CachedFile(this, path, mode)
  }

  /** @internal */
  hasRoom (): boolean {
    return this.#open < this.maxOpen || this.#idle.size > 0
  }

  /** @internal Opens `file`, evicting idle descriptors to stay within the cap. */
  open (file: CachedFile, path: string, mode: FileMode): void {
    this.#evictDownTo(this.maxOpen - 1)
    file.fd = fs.openSync(path, mode)
    this.#open++
    this.#opensTotal++
  }

  /** @internal A held file was used again; nothing to do while it is held. */
  touch (file: CachedFile): void {
    this.#idle.delete(file)
  }

  /** @internal `file` has no holders now. */
  idle (file: CachedFile): void {
    if (file.retired) {
      this.#idle.delete(file)
      this.#close(file)
      const onClosed = file.onClosed
      file.onClosed = null
      onClosed?.()
      this.#wake()
      return
    }
    if (file.fd < 0) return
    this.#idle.delete(file)
    this.#idle.add(file)
    if (this.#waiters.length > 0) {
      this.#wake()
    } else if (this.#open > this.maxOpen) {
      this.#evictDownTo(this.maxOpen)
    }
  }

  /** @internal Queues a reader until a descriptor can be opened for it. */
  wait (file: CachedFile): Promise<number> {
    return new Promise((resolve, reject) => this.#waiters.push({ file, resolve, reject }))
  }

  #wake (): void {
    while (this.#waiters.length > 0 && this.hasRoom()) {
      const w = this.#waiters.shift()!
      try {
        w.resolve(w.file.fd >= 0 ? w.file.fd : w.file.openAfterWait())
      } catch (err) {
        w.file.refs--
        w.reject(new StorageError(`cannot open ${w.file.path}: ${(err as Error).message}`, { cause: err }))
      }
    }
  }

  #evictDownTo (limit: number): void {
    for (const file of this.#idle) {
      if (this.#open <= limit) break
      this.#idle.delete(file)
      this.#close(file)
    }
  }

  #close (file: CachedFile): void {
    if (file.fd < 0) return
    const fd = file.fd
    file.fd = -1
    this.#open--
    try {
      fs.closeSync(fd)
    } catch {
      // Closing can only fail for EBADF/EIO; the descriptor is gone either way.
    }
  }

  /** Closes an idle file's descriptor now (e.g. a log closing); a held one closes on release. */
  closeFile (file: CachedFile): void {
    if (file.refs === 0 && file.fd >= 0) {
      this.#idle.delete(file)
      this.#close(file)
      this.#wake()
    }
  }
}
