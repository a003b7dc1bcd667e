/**
 * The leader-epoch cache of one partition, as Kafka's LeaderEpochFileCache keeps it: the
 * ordered list of (leader epoch, start offset) pairs, one per epoch that wrote to the log,
 * where an epoch's records run from its start offset to the next entry's start offset (the
 * last one to the log end). Followers use it to find where their log diverges from the
 * leader's (OffsetForLeaderEpoch), and truncate there instead of at the high watermark.
 *
 * Invariant: entries are strictly increasing in both epoch and start offset. `assign` keeps
 * it by dropping the entries a new one conflicts with (those with an epoch or start offset at
 * or above the new entry's), as Kafka does.
 *
 * On disk: `<partitionDir>/leader-epoch-checkpoint`, a checksummed file (checkpoint.ts format):
 *
 *   spool-leader-epoch-checkpoint 1
 *   {"entries":[[0,0],[3,1200],[4,5077]]}        [epoch, startOffset] pairs, in order
 *   <crc32c of the JSON line>
 *
 * Every change is written before the call returns: temp file, fsync, rename over the old
 * file, fsync of the directory, so a crash leaves the old or the new list, never a mix.
 *
 * A missing, damaged (bad checksum, bad JSON) or inconsistent (entries out of order) file is
 * rebuilt, not refused: the file only caches what every batch header already holds (the
 * partitionLeaderEpoch field), so a scan of the partition's `.log` files gives the same list
 * back, and refusing would take a partition offline for damage that loses nothing. The
 * rebuild logs one warning line with the reason. A read error of the directory itself
 * (EACCES, EIO) is not damage and is thrown as StorageError.
 *
 * Concurrency: every method is synchronous and runs to completion; callers need no locking
 * within one process.
 */

import fs from 'node:fs'
import path from 'node:path'
import type { Logger } from 'pino'
import { InvalidArgumentError, StorageError } from '../../protocol/errors.js'
import { OFFSET_LEADER_EPOCH } from '../../protocol/record-batch/header.js'
import { baseOffsetAt, scanBatches } from './batch-scan.js'
import { encodeCheckedFile, fsyncDir, readCheckedFile } from './checkpoint.js'
import { writeFileAtomic } from './segment.js'

export const LEADER_EPOCH_CHECKPOINT_FILE = 'leader-epoch-checkpoint'
const KIND = 'leader-epoch-checkpoint'

/** Kafka's "no epoch" answer and "no offset" answer. */
export const UNDEFINED_EPOCH = -1
export const UNDEFINED_EPOCH_OFFSET = -1

export interface EpochEntry { epoch: number, startOffset: number }

export interface EpochEndOffset {
  /** The largest known epoch <= the requested one (UNDEFINED_EPOCH when unknown). */
  epoch: number
  /** Where that epoch ends: the next epoch's start offset, or the log end offset. */
  endOffset: number
}

export interface LeaderEpochCacheOptions {
  logger?: Logger
  /** fsync file and directory on every change (default true). */
  fsync?: boolean
}

export interface OpenOptions extends LeaderEpochCacheOptions {
  /** Entries when the file is missing or damaged (default: scan the directory's .log files). */
  rebuild?: (partitionDir: string) => Promise<EpochEntry[]>
  /** The log's start and end offsets after recovery; entries outside are dropped. */
  logStartOffset?: number
  logEndOffset?: number
  /**
   * Runs the writes `open` makes (a rebuilt or cut file) so that a full disk skips them
   * instead of failing the open (the partition log passes its DiskSpace); the entries in
   * memory are right either way and the file is rewritten at the next change or open.
   */
  bestEffortWrites?: { bestEffort (what: string, write: () => void): boolean }
}

function isOffset (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/** The entries of a decoded body, or a reason they are unusable. */
function entriesOf (body: unknown): EpochEntry[] | string {
  const raw = (body as { entries?: unknown } | null)?.entries
  if (!Array.isArray(raw)) return 'no entries list'
  const out: EpochEntry[] = []
  for (const e of raw) {
    if (!Array.isArray(e) || e.length !== 2 || !isOffset(e[0]) || !isOffset(e[1]) || e[0] > 0x7fffffff) return 'an entry is not [epoch, offset]'
    const prev = out[out.length - 1]
    if (prev !== undefined && (e[0] <= prev.epoch || e[1] <= prev.startOffset)) return 'entries are not increasing'
    out.push({ epoch: e[0], startOffset: e[1] })
  }
  return out
}

/** Applies Kafka's assign rule to a list in place; true when the list changed. */
function assignTo (entries: EpochEntry[], epoch: number, startOffset: number): { changed: boolean, dropped: EpochEntry[] } {
  const last = entries[entries.length - 1]
  if (last !== undefined && last.epoch === epoch && startOffset >= last.startOffset) return { changed: false, dropped: [] }
  const dropped: EpochEntry[] = []
  while (entries.length > 0) {
    const tail = entries[entries.length - 1]!
    if (tail.epoch < epoch && tail.startOffset < startOffset) break
    dropped.unshift(entries.pop()!)
  }
  entries.push({ epoch, startOffset })
  return { changed: true, dropped }
}

/** Rebuilds the list from the batch headers of the partition's .log files, oldest first. */
export async function scanLeaderEpochs (partitionDir: string): Promise<EpochEntry[]> {
  const logs = fs.readdirSync(partitionDir).filter(f => /^\d{20}\.log$/.test(f)).sort()
  const entries: EpochEntry[] = []
  for (const file of logs) {
    const fd = fs.openSync(path.join(partitionDir, file), 'r')
    try {
      const size = fs.fstatSync(fd).size
      const base = Number(file.slice(0, 20))
      await scanBatches(fd, 0, size, { segmentBaseOffset: base, verifyCrc: false }, (buf, at) => {
        const epoch = buf.readInt32BE(at + OFFSET_LEADER_EPOCH)
        if (epoch >= 0) assignTo(entries, epoch, baseOffsetAt(buf, at))
      })
    } finally {
      fs.closeSync(fd)
    }
  }
  return entries
}

export class LeaderEpochCache {
  readonly partitionDir: string
  readonly #file: string
  readonly #fsync: boolean
  readonly #logger: Logger | undefined
  #entries: EpochEntry[]

  /** A cache over `entries` (already valid); use `open` to read the checkpoint. */
  constructor (partitionDir: string, entries: EpochEntry[], options: LeaderEpochCacheOptions = {}) {
    this.partitionDir = partitionDir
    this.#file = path.join(partitionDir, LEADER_EPOCH_CHECKPOINT_FILE)
    this.#fsync = options.fsync ?? true
    this.#logger = options.logger
    this.#entries = entries.map(e => ({ ...e }))
  }

  /**
   * Reads the checkpoint of `partitionDir`, rebuilding it (and writing it back) when missing
   * or damaged, then drops entries outside [logStartOffset, logEndOffset) when given (an
   * empty log keeps none).
   */
  static async open (partitionDir: string, options: OpenOptions = {}): Promise<LeaderEpochCache> {
    const file = path.join(partitionDir, LEADER_EPOCH_CHECKPOINT_FILE)
    let read: ReturnType<typeof readCheckedFile>
    try {
      read = readCheckedFile(KIND, file)
    } catch (err) {
      throw new StorageError(`cannot read ${file}: ${(err as Error).message}`, { cause: err })
    }
    let entries: EpochEntry[] | string = read === null ? 'missing' : 'problem' in read ? read.problem : entriesOf(read.body)
    let rebuilt = false
    if (typeof entries === 'string') {
      const reason = entries
      entries = await (options.rebuild ?? scanLeaderEpochs)(partitionDir)
      rebuilt = true
      if (reason !== 'missing') {
        options.logger?.warn({ file, reason, entries: entries.length }, 'leader-epoch checkpoint damaged; rebuilt from the log')
      }
    }
    const cache = new LeaderEpochCache(partitionDir, entries, options)
    const write = (what: string, fn: () => void): void => {
      if (options.bestEffortWrites === undefined) fn()
      else options.bestEffortWrites.bestEffort(`${what} of ${partitionDir}`, fn)
    }
    if (rebuilt && (entries.length > 0 || read !== null)) write('rebuilt leader-epoch checkpoint', () => cache.#write())
    // Start first: an entry collapsed onto the start of an empty log is then dropped too.
    if (options.logStartOffset !== undefined) write('leader-epoch checkpoint', () => cache.truncateFromStart(options.logStartOffset!))
    if (options.logEndOffset !== undefined) write('leader-epoch checkpoint', () => cache.truncateFromEnd(options.logEndOffset!))
    return cache
  }

  /** A copy of the entries, oldest first. */
  get entries (): EpochEntry[] { return this.#entries.map(e => ({ ...e })) }

  get latestEntry (): EpochEntry | null { return this.#entries[this.#entries.length - 1] ?? null }
  get earliestEntry (): EpochEntry | null { return this.#entries[0] ?? null }
  /** The latest epoch, or UNDEFINED_EPOCH when the cache is empty. */
  get latestEpoch (): number { return this.latestEntry?.epoch ?? UNDEFINED_EPOCH }

  /**
   * Records that `epoch` starts writing at `startOffset` (the leader calls it when it becomes
   * leader and appends its first batch; a follower for each epoch change it fetches). Entries
   * that conflict (epoch or start offset at or above the new one) are dropped. Negative epochs
   * (batches written before epochs existed) are ignored. Returns whether the list changed.
   */
  assign (epoch: number, startOffset: number): boolean {
    if (!Number.isSafeInteger(epoch) || epoch > 0x7fffffff) throw new InvalidArgumentError(`leader epoch must be an int32, got ${epoch}`)
    if (!isOffset(startOffset)) throw new InvalidArgumentError(`start offset must be a non-negative integer, got ${startOffset}`)
    if (epoch < 0) return false
    const { changed, dropped } = assignTo(this.#entries, epoch, startOffset)
    if (!changed) return false
    if (dropped.length > 1 || (dropped.length === 1 && dropped[0]!.startOffset !== startOffset)) {
      this.#logger?.warn({ dir: this.partitionDir, epoch, startOffset, dropped }, 'new leader epoch entry dropped conflicting entries')
    }
    this.#write()
    return true
  }

  /**
   * Kafka's OffsetForLeaderEpoch answer for `requestedEpoch`:
   * - UNDEFINED_EPOCH asked, or an epoch above every known one: (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
   * - the latest epoch: (it, logEndOffset);
   * - an epoch below every known one: (requestedEpoch, start offset of the first entry);
   * - otherwise: (largest known epoch <= requested, start offset of the next entry).
   */
  endOffsetFor (requestedEpoch: number, logEndOffset: number): EpochEndOffset {
    const entries = this.#entries
    if (requestedEpoch === UNDEFINED_EPOCH) return { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET }
    if (entries.length > 0 && this.latestEpoch === requestedEpoch) return { epoch: requestedEpoch, endOffset: logEndOffset }
    const higher = entries.findIndex(e => e.epoch > requestedEpoch)
    if (higher < 0) return { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET }
    if (higher === 0) return { epoch: requestedEpoch, endOffset: entries[0]!.startOffset }
    return { epoch: entries[higher - 1]!.epoch, endOffset: entries[higher]!.startOffset }
  }

  /** The epoch that wrote `offset` (the last entry starting at or before it), or UNDEFINED_EPOCH. */
  epochForOffset (offset: number): number {
    let epoch = UNDEFINED_EPOCH
    for (const e of this.#entries) {
      if (e.startOffset > offset) break
      epoch = e.epoch
    }
    return epoch
  }

  /** Drops entries starting at or after `endOffset` (the log was truncated to end there). */
  truncateFromEnd (endOffset: number): void {
    if (!isOffset(endOffset)) throw new InvalidArgumentError(`end offset must be a non-negative integer, got ${endOffset}`)
    const before = this.#entries.length
    while (this.#entries.length > 0 && this.#entries[this.#entries.length - 1]!.startOffset >= endOffset) this.#entries.pop()
    if (this.#entries.length !== before) this.#write()
  }

  /**
   * The log now starts at `startOffset` (retention, deleteRecords): entries at or before it
   * collapse into one, the epoch of the last of them, starting at `startOffset`.
   */
  truncateFromStart (startOffset: number): void {
    if (!isOffset(startOffset)) throw new InvalidArgumentError(`start offset must be a non-negative integer, got ${startOffset}`)
    let n = 0
    while (n < this.#entries.length && this.#entries[n]!.startOffset <= startOffset) n++
    if (n === 0) return
    const kept = this.#entries[n - 1]!
    if (n === 1 && kept.startOffset === startOffset) return
    this.#entries.splice(0, n, { epoch: kept.epoch, startOffset })
    this.#write()
  }

  /** Drops every entry (the log was emptied and starts over at an offset the leader chose). */
  clear (): void {
    if (this.#entries.length === 0) return
    this.#entries = []
    this.#write()
  }

  #write (): void {
    const body = { entries: this.#entries.map(e => [e.epoch, e.startOffset]) }
    try {
      writeFileAtomic(this.#file, encodeCheckedFile(KIND, body), this.#fsync)
      if (this.#fsync) fsyncDir(this.partitionDir)
    } catch (err) {
      throw new StorageError(`cannot write ${this.#file}: ${(err as Error).message}`, { cause: err })
    }
  }
}
