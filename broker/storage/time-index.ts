/**
 * The sparse time index of one segment: `<baseOffset>.timeindex` (docs/formats.md §2.3).
 *
 * File format: a plain array of 12-byte big-endian entries, no header, no checksum:
 *
 *   int64 timestamp        the segment's largest batch maxTimestamp so far (strictly increasing)
 *   int32 relativeOffset   baseOffset of the batch that first reached it, minus the segment base
 *
 * Entry (T, O) means "no record before relative offset O has a timestamp >= T", so a search
 * for the first record with timestamp >= target starts at the greatest entry with T <= target
 * (or the segment start) and scans batch headers forward. An entry is added together with
 * an offset-index entry when the max timestamp grew, and once more when the segment stops
 * being active (or closes), so the last entry holds the segment's largest timestamp —
 * retention reads only that last entry.
 *
 * Not protected: like the offset index it is a cache without checksum, rebuilt when missing,
 * of a size that is not a multiple of 12, not increasing, or after unclean recovery.
 *
 * Concurrency: single-threaded (event loop).
 */

export const TIME_INDEX_ENTRY_BYTES = 12

const TWO_32 = 0x100000000

export class TimeIndex {
  #buf: Buffer
  #count: number

  constructor (initialEntries = 64) {
    this.#buf = Buffer.alloc(Math.max(1, initialEntries) * TIME_INDEX_ENTRY_BYTES)
    this.#count = 0
  }

  /** Wraps file bytes, or returns why they cannot be trusted. */
  static fromBytes (bytes: Buffer): TimeIndex | string {
    if (bytes.length % TIME_INDEX_ENTRY_BYTES !== 0) return `size ${bytes.length} is not a multiple of ${TIME_INDEX_ENTRY_BYTES}`
    const index = new TimeIndex(0)
    index.#buf = bytes
    index.#count = bytes.length / TIME_INDEX_ENTRY_BYTES
    let prevTs = Number.NEGATIVE_INFINITY
    let prevRel = -1
    for (let i = 0; i < index.#count; i++) {
      const ts = index.timestampAt(i)
      const rel = index.relativeOffsetAt(i)
      if (!Number.isSafeInteger(ts) || ts <= prevTs || rel < prevRel || rel < 0) return `entry ${i} (${ts}, ${rel}) does not increase`
      prevTs = ts
      prevRel = rel
    }
    return index
  }

  get entryCount (): number { return this.#count }
  get memoryBytes (): number { return this.#buf.length }

  timestampAt (i: number): number {
    return this.#buf.readInt32BE(i * 12) * TWO_32 + this.#buf.readUInt32BE(i * 12 + 4)
  }

  relativeOffsetAt (i: number): number { return this.#buf.readInt32BE(i * 12 + 8) }

  /** Largest timestamp indexed, or -1. */
  get lastTimestamp (): number {
    return this.#count === 0 ? -1 : this.timestampAt(this.#count - 1)
  }

  /** Adds (timestamp, relativeOffset) when timestamp grew past the last entry. */
  maybeAppend (timestamp: number, relativeOffset: number): void {
    if (timestamp < 0 || (this.#count > 0 && timestamp <= this.lastTimestamp)) return
    const need = (this.#count + 1) * TIME_INDEX_ENTRY_BYTES
    if (need > this.#buf.length) {
      const next = Buffer.alloc(Math.max(need, this.#buf.length * 2))
      this.#buf.copy(next, 0, 0, this.#count * TIME_INDEX_ENTRY_BYTES)
      this.#buf = next
    }
    const hi = Math.floor(timestamp / TWO_32)
    const at = this.#count * 12
    this.#buf.writeInt32BE(hi, at)
    this.#buf.writeUInt32BE(timestamp - hi * TWO_32, at + 4)
    this.#buf.writeInt32BE(relativeOffset, at + 8)
    this.#count++
  }

  /** Relative offset to start scanning from for `timestamp` (0 when no entry is <= it). */
  lookup (timestamp: number): number {
    let lo = 0
    let hi = this.#count - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (this.timestampAt(mid) <= timestamp) {
        found = mid
        lo = mid + 1
      } else {
        hi = mid - 1
      }
    }
    return found < 0 ? 0 : this.relativeOffsetAt(found)
  }

  toBytes (): Buffer {
    return this.#buf.subarray(0, this.#count * TIME_INDEX_ENTRY_BYTES)
  }
}
