/**
 * Idempotent-producer state of one partition (docs/formats.md §4.5; Kafka's
 * ProducerStateManager / ProducerAppendInfo): per producerId the epoch and the metadata
 * of its last 5 batches, so a retried batch is answered with its original offsets instead
 * of being written twice.
 *
 * Rules for each batch with producerId >= 0, checked in this order:
 *   1. same epoch and exactly the same (firstSeq, lastSeq) as a cached batch → DUPLICATE;
 *   2. epoch below the stored one → InvalidProducerEpochError;
 *   3. epoch above the stored one → baseSequence must be 0, else OutOfOrderSequenceError;
 *   4. same epoch → baseSequence must be lastSeq + 1 (INT32_MAX wraps to 0), else
 *      OutOfOrderSequenceError;
 *   no state for the producer (new, expired or removed with old segments) → any sequence.
 * lastSeq of a batch = baseSequence + lastOffsetDelta with the same wrap.
 *
 * Snapshot file `<20-digit offset>.snapshot` (state after every batch below `offset`),
 * big-endian:
 *
 *    0  4  magic "SPPS"
 *    4  2  version = 1
 *    6  4  crc32c of bytes 10..end
 *   10  8  offset
 *   18  4  producer count
 *   then per producer:
 *       8  producerId
 *       2  producerEpoch
 *       1  batch count n (0..5), oldest first
 *       n × { 4 firstSeq, 4 lastSeq, 8 baseOffset, 8 lastOffset, 8 maxTimestamp }
 *
 * Written on segment roll and on clean close (tmp + rename); on open the newest snapshot
 * whose CRC verifies and whose offset is <= the log end offset is loaded and the batch
 * HEADERS after it are replayed (no record decoding). Snapshots above the log end offset
 * (left by a truncated tail) are deleted; the newest three are kept. Not protected: a
 * snapshot lost or torn only costs a longer header replay.
 *
 * Not done: producer-id expiry by time (Kafka's producer.id.expiration.ms). Producers are
 * dropped only when all their batches fall below the log start offset.
 *
 * Concurrency: synchronous; `check` never mutates, so a failed validation leaves no trace.
 */

import fs from 'node:fs'
import path from 'node:path'
import { crc32c } from '../../protocol/bytes/crc32c.js'
import { InvalidProducerEpochError, InvalidRecordError, OutOfOrderSequenceError } from '../../protocol/errors.js'
import type { BatchHeader } from '../../protocol/record-batch/header.js'
import { offsetFileName, parseOffsetFileName, writeFileAtomic } from './segment.js'

export const SNAPSHOT_SUFFIX = '.snapshot'
/** ProducerStateEntry.NUM_BATCHES_TO_RETAIN in Kafka. */
export const BATCHES_TO_RETAIN = 5
const INT32_MAX = 0x7fffffff
const MAGIC = 0x53505053 // "SPPS"
const VERSION = 1
const SNAPSHOTS_TO_KEEP = 3

export interface ProducerBatchMeta {
  firstSeq: number
  lastSeq: number
  baseOffset: number
  lastOffset: number
  maxTimestampMs: number
}

export interface ProducerStateEntry {
  producerId: number
  epoch: number
  /** Oldest first, at most BATCHES_TO_RETAIN. */
  batches: ProducerBatchMeta[]
}

/** baseSequence + delta with Kafka's INT32_MAX → 0 wrap. */
export function incrementSequence (sequence: number, delta: number): number {
  return sequence > INT32_MAX - delta ? delta - (INT32_MAX - sequence) - 1 : sequence + delta
}

function inSequence (lastSeq: number, nextSeq: number): boolean {
  return nextSeq === lastSeq + 1 || (nextSeq === 0 && lastSeq === INT32_MAX)
}

export class ProducerStateManager {
  readonly #producers = new Map<number, ProducerStateEntry>()

  get producerCount (): number { return this.#producers.size }

  get (producerId: number): ProducerStateEntry | undefined {
    return this.#producers.get(producerId)
  }

  /**
   * Validates the batches of one append without changing state. Returns the cached
   * metadata when the append is a duplicate of one of the producer's last 5 batches (it is
   * then answered with the original offsets and not written, as Kafka's
   * analyzeAndValidateProducerState does), or null. Throws the typed error of a batch that
   * breaks a rule.
   *
   * An idempotent batch must be the only batch of its partition's payload (Kafka requires
   * exactly one batch per partition from Produce v3 on): otherwise a duplicate first batch
   * could hide new batches behind it, or a new first batch could hide a duplicate.
   */
  check (headers: BatchHeader[]): ProducerBatchMeta | null {
    if (headers.length > 1) {
      for (const h of headers) {
        if (h.producerId >= 0) {
          throw new InvalidRecordError(`producer ${h.producerId}: an idempotent batch must be the only batch in its partition's payload (${headers.length} given)`)
        }
      }
      return null
    }
    const h = headers[0]
    if (h === undefined || h.producerId < 0) return null
    const lastSeq = incrementSequence(h.baseSequence, h.lastOffsetDelta)
    const entry = this.#producers.get(h.producerId)
    if (entry === undefined) return null // unknown producer (new, or expired): any sequence (KIP-360)
    if (entry.epoch === h.producerEpoch) {
      for (const b of entry.batches) {
        if (b.firstSeq === h.baseSequence && b.lastSeq === lastSeq) return b
      }
    }
    if (h.producerEpoch < entry.epoch) {
      throw new InvalidProducerEpochError(`producer ${h.producerId} epoch ${h.producerEpoch} is older than the current epoch ${entry.epoch}`)
    }
    if (h.producerEpoch > entry.epoch) {
      if (h.baseSequence !== 0) {
        throw new OutOfOrderSequenceError(`producer ${h.producerId} started epoch ${h.producerEpoch} at sequence ${h.baseSequence}, expected 0`)
      }
      return null
    }
    const currentLastSeq = entry.batches.at(-1)?.lastSeq
    if (currentLastSeq !== undefined && !inSequence(currentLastSeq, h.baseSequence)) {
      throw new OutOfOrderSequenceError(
        `producer ${h.producerId} epoch ${h.producerEpoch} sent sequence ${h.baseSequence}, expected ${incrementSequence(currentLastSeq, 1)}`)
    }
    return null
  }

  /** Records a written batch (after `check`, or while replaying headers from disk). */
  update (producerId: number, epoch: number, baseSequence: number, lastOffsetDelta: number, baseOffset: number, maxTimestampMs: number): void {
    if (producerId < 0) return
    let entry = this.#producers.get(producerId)
    if (entry === undefined) {
      entry = { producerId, epoch, batches: [] }
      this.#producers.set(producerId, entry)
    } else if (entry.epoch !== epoch) {
      entry.epoch = epoch
      entry.batches = []
    }
    if (entry.batches.length >= BATCHES_TO_RETAIN) entry.batches.shift()
    entry.batches.push({
      firstSeq: baseSequence,
      lastSeq: incrementSequence(baseSequence, lastOffsetDelta),
      baseOffset,
      lastOffset: baseOffset + lastOffsetDelta,
      maxTimestampMs,
    })
  }

  /** Records the batches of an append written from `baseOffset` on (back to back). */
  recordAppend (headers: BatchHeader[], baseOffset: number): void {
    let batchBase = baseOffset
    for (const h of headers) {
      if (h.producerId >= 0) this.update(h.producerId, h.producerEpoch, h.baseSequence, h.lastOffsetDelta, batchBase, h.maxTimestamp)
      batchBase += h.lastOffsetDelta + 1
    }
  }

  /** The last offset of a producer's last batch, or -1 (the cleaner keeps that batch). */
  lastOffsetOf (producerId: number): number {
    return this.#producers.get(producerId)?.batches.at(-1)?.lastOffset ?? -1
  }

  /** Forgets producers whose every batch is below the log start offset (Kafka's truncateHead). */
  truncateHead (logStartOffset: number): void {
    for (const [id, entry] of this.#producers) {
      const last = entry.batches.at(-1)
      if (last === undefined || last.lastOffset < logStartOffset) this.#producers.delete(id)
    }
  }

  clear (): void {
    this.#producers.clear()
  }

  /** The snapshot file bytes for the current state as of `offset`. */
  toSnapshot (offset: number): Buffer {
    let size = 22
    for (const e of this.#producers.values()) size += 11 + e.batches.length * 32
    const buf = Buffer.alloc(size)
    buf.writeUInt32BE(MAGIC, 0)
    buf.writeUInt16BE(VERSION, 4)
    writeInt64(buf, 10, offset)
    buf.writeInt32BE(this.#producers.size, 18)
    let p = 22
    for (const e of this.#producers.values()) {
      writeInt64(buf, p, e.producerId)
      buf.writeInt16BE(e.epoch, p + 8)
      buf.writeUInt8(e.batches.length, p + 10)
      p += 11
      for (const b of e.batches) {
        buf.writeInt32BE(b.firstSeq, p)
        buf.writeInt32BE(b.lastSeq, p + 4)
        writeInt64(buf, p + 8, b.baseOffset)
        writeInt64(buf, p + 16, b.lastOffset)
        writeInt64(buf, p + 24, b.maxTimestampMs)
        p += 32
      }
    }
    buf.writeUInt32BE(crc32c(buf, 10, size), 6)
    return buf
  }

  /** Replaces the state with a snapshot's; returns its offset, or why it is unusable. */
  loadSnapshot (bytes: Buffer): number | string {
    if (bytes.length < 22) return `snapshot is ${bytes.length} bytes`
    if (bytes.readUInt32BE(0) !== MAGIC) return 'bad magic'
    if (bytes.readUInt16BE(4) !== VERSION) return `unknown version ${bytes.readUInt16BE(4)}`
    if (bytes.readUInt32BE(6) !== crc32c(bytes, 10, bytes.length)) return 'checksum mismatch'
    const entries: ProducerStateEntry[] = []
    try {
      const offset = readInt64(bytes, 10)
      const count = bytes.readInt32BE(18)
      let p = 22
      for (let i = 0; i < count; i++) {
        const producerId = readInt64(bytes, p)
        const epoch = bytes.readInt16BE(p + 8)
        const n = bytes.readUInt8(p + 10)
        p += 11
        const batches: ProducerBatchMeta[] = []
        for (let j = 0; j < n; j++) {
          batches.push({
            firstSeq: bytes.readInt32BE(p),
            lastSeq: bytes.readInt32BE(p + 4),
            baseOffset: readInt64(bytes, p + 8),
            lastOffset: readInt64(bytes, p + 16),
            maxTimestampMs: readInt64(bytes, p + 24),
          })
          p += 32
        }
        entries.push({ producerId, epoch, batches })
      }
      if (p !== bytes.length) return 'trailing bytes'
      this.#producers.clear()
      for (const e of entries) this.#producers.set(e.producerId, e)
      return offset
    } catch (err) {
      return `unreadable: ${(err as Error).message}`
    }
  }

  /** Writes `<offset>.snapshot` into `dir` and prunes old ones. */
  writeSnapshot (dir: string, offset: number, fsync = false): void {
    writeFileAtomic(path.join(dir, offsetFileName(offset, SNAPSHOT_SUFFIX)), this.toSnapshot(offset), fsync, 'snapshot')
    const offsets = listSnapshotOffsets(dir)
    for (const old of offsets.slice(0, Math.max(0, offsets.length - SNAPSHOTS_TO_KEEP))) {
      fs.rmSync(path.join(dir, offsetFileName(old, SNAPSHOT_SUFFIX)), { force: true })
    }
  }

  /**
   * Loads the newest valid snapshot at or below `maxOffset`, deleting newer ones (they
   * describe a truncated tail) and unreadable ones. Returns its offset, or -1 (state empty).
   */
  loadNewestSnapshot (dir: string, maxOffset: number, onProblem: (file: string, reason: string) => void): number {
    const offsets = listSnapshotOffsets(dir)
    for (let i = offsets.length - 1; i >= 0; i--) {
      const offset = offsets[i]!
      const file = path.join(dir, offsetFileName(offset, SNAPSHOT_SUFFIX))
      if (offset > maxOffset) {
        fs.rmSync(file, { force: true })
        continue
      }
      const result = this.loadSnapshot(fs.readFileSync(file))
      if (typeof result === 'number' && result === offset) return offset
      onProblem(file, typeof result === 'string' ? result : `names offset ${offset} but holds ${result}`)
      fs.rmSync(file, { force: true })
    }
    this.#producers.clear()
    return -1
  }
}

/** Snapshot offsets present in `dir`, ascending. */
export function listSnapshotOffsets (dir: string): number[] {
  const out: number[] = []
  for (const name of fs.readdirSync(dir)) {
    const offset = parseOffsetFileName(name, SNAPSHOT_SUFFIX)
    if (offset >= 0) out.push(offset)
  }
  return out.sort((a, b) => a - b)
}

const TWO_32 = 0x100000000

function writeInt64 (buf: Buffer, at: number, value: number): void {
  const hi = Math.floor(value / TWO_32)
  buf.writeInt32BE(hi, at)
  buf.writeUInt32BE(value - hi * TWO_32, at + 4)
}

function readInt64 (buf: Buffer, at: number): number {
  const v = buf.readInt32BE(at) * TWO_32 + buf.readUInt32BE(at + 4)
  if (!Number.isSafeInteger(v)) throw new RangeError(`int64 at ${at} is out of range`)
  return v
}
