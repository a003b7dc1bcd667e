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
 * - `acquire` (reads, fsyncs): when the cache is full of descriptors in use it waits in a
 *   queue, which bounds descriptors under any number of concurrent reads. A waiter holds no
 *   reference; it is served in order when its file gets opened by someone else (sharing the
 *   descriptor) or when a slot frees up. Every waiting caller holds no other descriptor
 *   (reads and fsyncs hold one at a time), so the queue cannot deadlock.
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

  /**
   * Opens (if needed), waiting for a free slot when the cache is full; pair with `release`.
   * A waiting reader holds no reference (so it cannot pin a descriptor it does not use);
   * it gets one when served, or FileRetiredError if the file was retired meanwhile.
   */
  acquire (): Promise<number> | number {
    if (this.retired) throw new FileRetiredError(`file ${this.#path} was retired`)
    if (this.fd >= 0 || this.#cache.hasRoom()) return this.acquireSync()
    return this.#cache.wait(this)
  }

  /** @internal Opens for a waiter being served (the cache counted its reference). */
  openAfterWait (): void {
    this.#cache.open(this, this.#path, this.#mode)
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
  #waking = false
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

  /** @internal Whether a descriptor can be opened within the cap (after evicting idle ones). */
  hasRoom (): boolean {
    return this.#open - this.#idle.size < this.maxOpen
  }

  /** @internal Opens `file`, evicting idle descriptors to stay within the cap. */
  open (file: CachedFile, path: string, mode: FileMode): void {
    this.#evictDownTo(this.maxOpen - 1)
    file.fd = fs.openSync(path, mode)
    this.#open++
    this.#opensTotal++
    // Readers queued for this very file share the descriptor now.
    if (this.#waiters.length > 0) this.#wake()
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
    if (file.fd < 0) {
      this.#wake()
      return
    }
    this.#idle.delete(file)
    this.#idle.add(file)
    if (this.#waiters.length > 0) this.#wake()
    if (this.#open > this.maxOpen) this.#evictDownTo(this.maxOpen)
  }

  /** @internal Queues a reader until a descriptor can be opened for it. */
  wait (file: CachedFile): Promise<number> {
    return new Promise((resolve, reject) => this.#waiters.push({ file, resolve, reject }))
  }

  /**
   * Serves queued readers in order: a retired file's are rejected, an open file's share its
   * descriptor, and a closed file is opened while there is room.
   */
  #wake (): void {
    if (this.#waking) return
    this.#waking = true
    try {
      for (let i = 0; i < this.#waiters.length;) {
        const w = this.#waiters[i]!
        const file = w.file
        if (file.retired) {
          this.#waiters.splice(i, 1)
          w.reject(new FileRetiredError(`file ${file.path} was retired`))
        } else if (file.fd >= 0) {
          this.#waiters.splice(i, 1)
          file.refs++
          this.#idle.delete(file)
          w.resolve(file.fd)
        } else if (this.hasRoom()) {
          this.#waiters.splice(i, 1)
          file.refs++
          try {
            file.openAfterWait()
            w.resolve(file.fd)
          } catch (err) {
            file.refs--
            w.reject(new StorageError(`cannot open ${file.path}: ${(err as Error).message}`, { cause: err }))
          }
          i = 0 // opening may have served other waiters of the same file; rescan
        } else {
          i++
        }
      }
    } finally {
      this.#waking = false
    }
  }

  #evictDownTo (limit: number): void {
    for (const file of this.#idle) {
      if (this.#open <= limit) break
      this.#idle.delete(file)
      if (file.refs === 0) this.#close(file) // a held file never closes (defensive: held files are not idle)
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
