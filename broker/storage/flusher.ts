/**
 * Group commit for acks=all (docs/architecture.md §3): `sync()` resolves after an fdatasync
 * that covers every batch appended before the call, and callers never each pay for one.
 *
 * Rounds: a round starts on the next turn of the event loop (so every caller of the same
 * tick shares it, and a synchronous burst of appends and rolls never holds descriptors),
 * captures the segments written since the last round (the active one, and any rolled
 * since), fdatasyncs each (plus, for rolled segments, their index files, and the
 * directory when segments were created), then reports the log end offset it captured as
 * durable. While a round runs, every caller that arrives joins ONE next round, started when
 * the current one ends; a caller whose batches the running round already covers (nothing
 * was appended since it started) simply joins the running round. So N concurrent callers
 * cause at most two fdatasync rounds, whatever N is.
 *
 * A failed fdatasync rejects that round's callers with StorageError and puts the segments
 * back as dirty (the next round retries them). Linux may drop dirty pages after such an
 * error, so a later success does not prove earlier data survived: the broker should treat
 * a StorageError from sync as fatal for the partition (not done here).
 *
 * Concurrency: `markDirty` is synchronous and called from append; rounds run on the thread
 * pool; each fdatasync holds a reference on its descriptor, acquired like a read (waiting
 * for a slot when the FileHandleCache is full).
 */

import fs from 'node:fs'
import { StorageError } from '../../protocol/errors.js'
import { FileRetiredError } from './file-handle-cache.js'
import { faultPoints } from './testing/fault-points.js'
import { INDEX_SUFFIX, TIME_INDEX_SUFFIX, type Segment } from './segment.js'

export interface FlusherHost {
  readonly dir: string
  /** Log end offset now (captured at the start of a round). */
  readonly logEndOffset: number
  /** Called after a successful round: everything below `offset` is durable. */
  onDurable (offset: number, rolledSegmentsFlushed: boolean): void
}

function fdatasync (fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, err => (err ? reject(err) : resolve())))
}

async function fsyncPath (filePath: string): Promise<void> {
  let fd: number
  try {
    fd = fs.openSync(filePath, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  try {
    await new Promise<void>((resolve, reject) => fs.fsync(fd, err => (err ? reject(err) : resolve())))
  } finally {
    fs.closeSync(fd)
  }
}

export class Flusher {
  readonly #host: FlusherHost
  readonly #dirty = new Set<Segment>()
  #dirDirty = false
  /** Bumped on every markDirty; a round remembers the value it started with. */
  #appendSeq = 0
  #current: Promise<void> | null = null
  /** The append sequence the running round captured; -1 while it has not captured yet. */
  #currentSeq = -1
  #next: Promise<void> | null = null
  #rounds = 0

  constructor (host: FlusherHost) {
    this.#host = host
  }

  /** fdatasync rounds run so far. */
  get rounds (): number { return this.#rounds }

  /** Whether anything is waiting to be fsynced. */
  get hasDirty (): boolean { return this.#dirty.size > 0 || this.#dirDirty }

  markDirty (segment: Segment): void {
    this.#appendSeq++
    this.#dirty.add(segment)
  }

  /** A file was created or renamed in the directory. */
  markDirDirty (): void {
    this.#appendSeq++
    this.#dirDirty = true
  }

  sync (): Promise<void> {
    if (this.#current === null) return this.#start()
    if (this.#currentSeq === -1 || this.#currentSeq === this.#appendSeq) return this.#current
    this.#next ??= this.#current.then(noop, noop).then(() => {
      this.#next = null
      return this.#current ?? this.#start()
    })
    return this.#next
  }

  #start (): Promise<void> {
    if (!this.hasDirty) return Promise.resolve()
    const round = this.#round().finally(() => {
      if (this.#current === round) this.#current = null
    })
    this.#current = round
    return round
  }

  async #round (): Promise<void> {
    this.#currentSeq = -1
    await new Promise(resolve => setImmediate(resolve))
    this.#rounds++
    this.#currentSeq = this.#appendSeq
    const target = this.#host.logEndOffset
    const segments = [...this.#dirty].filter(s => !s.retired)
    this.#dirty.clear()
    const dirDirty = this.#dirDirty
    this.#dirDirty = false
    let rolled = false
    try {
      await Promise.all(segments.map(async segment => {
        let fd: number
        try {
          // Waits for a descriptor slot like a read does, so a burst of rolls across many
          // partitions cannot push the cache past maxOpen.
          fd = await segment.file.acquire()
        } catch (err) {
          if (err instanceof FileRetiredError) return // deleted meanwhile: nothing to make durable
          throw err
        }
        try {
          if (faultPoints.active) faultPoints.hit('sync.beforeFdatasync')
          await fdatasync(fd)
        } finally {
          segment.file.release()
        }
        if (!segment.active && !segment.retired) {
          rolled = true
          await Promise.all([fsyncPath(segment.pathOf(INDEX_SUFFIX)), fsyncPath(segment.pathOf(TIME_INDEX_SUFFIX))])
        }
      }))
      if (dirDirty) await fsyncPath(this.#host.dir)
    } catch (err) {
      for (const s of segments) if (!s.retired) this.#dirty.add(s)
      if (dirDirty) this.#dirDirty = true
      throw new StorageError(`fdatasync in ${this.#host.dir} failed: ${(err as Error).message}`, { cause: err })
    }
    this.#host.onDurable(target, rolled)
  }
}

function noop (): void {}
