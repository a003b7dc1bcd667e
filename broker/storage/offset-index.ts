/**
 * The sparse offset index of one segment: `<baseOffset>.index` (docs/formats.md §2.3).
 *
 * File format: a plain array of 8-byte big-endian entries, no header, no checksum:
 *
 *   int32 relativeOffset   batch baseOffset - segment baseOffset (strictly increasing)
 *   int32 position         byte position of that batch in the .log file (strictly increasing)
 *
 * An entry is added after an append once more than `indexIntervalBytes` went into the .log
 * since the previous entry (Kafka's rule), pointing at the *first* offset of the batch
 * starting at `position` (Kafka stores the chunk's last offset; with v2 batches either works
 * when used consistently, and the first offset makes a lookup land on the target batch
 * itself). A lookup returns the greatest entry with relativeOffset <= target, and the
 * reader scans forward from there: at most one index interval plus one batch.
 *
 * Not protected: the file has no checksum because it is a cache. It is rebuilt from the
 * .log when missing, when its size is not a multiple of 8, when entries are not strictly
 * increasing or point at or past the end of the log, and for every segment recovery scans
 * after an unclean shutdown. The active segment's entries live in memory and reach the
 * file on roll and on close (append-only is not needed: the file is rewritten whole).
 *
 * Concurrency: single-threaded (event loop); a lookup never observes a half-added entry.
 */

export const OFFSET_INDEX_ENTRY_BYTES = 8

export class OffsetIndex {
  #buf: Buffer
  #count: number

  constructor (initialEntries = 64) {
    this.#buf = Buffer.alloc(Math.max(1, initialEntries) * OFFSET_INDEX_ENTRY_BYTES)
    this.#count = 0
  }

  /**
   * Wraps file bytes. Returns null with a reason in `problem` when they cannot be trusted
   * against a .log of `logSizeBytes` bytes.
   */
  static fromBytes (bytes: Buffer, logSizeBytes: number): OffsetIndex | string {
    if (bytes.length % OFFSET_INDEX_ENTRY_BYTES !== 0) return `size ${bytes.length} is not a multiple of ${OFFSET_INDEX_ENTRY_BYTES}`
    const index = new OffsetIndex(0)
    index.#buf = bytes
    index.#count = bytes.length / OFFSET_INDEX_ENTRY_BYTES
    let prevOffset = -1
    let prevPosition = -1
    for (let i = 0; i < index.#count; i++) {
      const rel = bytes.readInt32BE(i * 8)
      const pos = bytes.readInt32BE(i * 8 + 4)
      if (rel <= prevOffset || pos <= prevPosition) return `entry ${i} (${rel}, ${pos}) does not increase`
      if (pos >= logSizeBytes) return `entry ${i} points at position ${pos}, past the log (${logSizeBytes} bytes)`
      prevOffset = rel
      prevPosition = pos
    }
    return index
  }

  get entryCount (): number { return this.#count }

  /** Bytes of memory held. */
  get memoryBytes (): number { return this.#buf.length }

  /** Relative offset of the last entry, or -1. */
  get lastRelativeOffset (): number {
    return this.#count === 0 ? -1 : this.#buf.readInt32BE((this.#count - 1) * 8)
  }

  /** Position of the last entry, or 0. */
  get lastPosition (): number {
    return this.#count === 0 ? 0 : this.#buf.readInt32BE((this.#count - 1) * 8 + 4)
  }

  relativeOffsetAt (i: number): number { return this.#buf.readInt32BE(i * 8) }
  positionAt (i: number): number { return this.#buf.readInt32BE(i * 8 + 4) }

  /** Adds an entry; callers keep offsets and positions increasing. */
  append (relativeOffset: number, position: number): void {
    if (this.#count > 0 && relativeOffset <= this.lastRelativeOffset) return
    const need = (this.#count + 1) * OFFSET_INDEX_ENTRY_BYTES
    if (need > this.#buf.length) {
      const next = Buffer.alloc(Math.max(need, this.#buf.length * 2))
      this.#buf.copy(next, 0, 0, this.#count * OFFSET_INDEX_ENTRY_BYTES)
      this.#buf = next
    }
    this.#buf.writeInt32BE(relativeOffset, this.#count * 8)
    this.#buf.writeInt32BE(position, this.#count * 8 + 4)
    this.#count++
  }

  /** Position of the greatest entry with relativeOffset <= target (0 when none). */
  lookup (relativeOffset: number): number {
    const i = this.#floor(relativeOffset)
    return i < 0 ? 0 : this.positionAt(i)
  }

  /** Index of the greatest entry with relativeOffset <= target, or -1. */
  #floor (relativeOffset: number): number {
    let lo = 0
    let hi = this.#count - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (this.relativeOffsetAt(mid) <= relativeOffset) {
        found = mid
        lo = mid + 1
      } else {
        hi = mid - 1
      }
    }
    return found
  }

  /** The entries as file bytes (a view; copy before mutating the index further). */
  toBytes (): Buffer {
    return this.#buf.subarray(0, this.#count * OFFSET_INDEX_ENTRY_BYTES)
  }
}
