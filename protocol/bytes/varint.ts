/**
 * Zigzag varints as Kafka's RecordBatch v2 uses them (protobuf sint32/sint64): zigzag maps
 * n to (n << 1) ^ (n >> 31), then base-128 groups, least significant first, 0x80 as the
 * continuation bit. At most 5 bytes for a varint and 10 for a varlong
 * (docs/formats.md §1.4). Varlongs here are JS numbers, exact for |n| <= 2^52 (the
 * zigzag doubles the magnitude; timestamp deltas are far inside that).
 */

import { CorruptRecordError } from '../errors.js'

/** Bytes the zigzag varint of a 32-bit signed `value` takes. */
export function varintSize (value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0
  let size = 1
  while (v >= 0x80) {
    v >>>= 7
    size++
  }
  return size
}

/** Bytes the zigzag varlong of a safe-integer `value` takes. */
export function varlongSize (value: number): number {
  if (value >= -0x40000000 && value < 0x40000000) return varintSize(value)
  let v = value >= 0 ? value * 2 : -value * 2 - 1
  let size = 1
  while (v >= 0x80) {
    v = Math.floor(v / 128)
    size++
  }
  return size
}

/** Writes the zigzag varint of `value` at `pos`; returns the position after it. */
export function writeVarint (buf: Uint8Array, pos: number, value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80
    v >>>= 7
  }
  buf[pos++] = v
  return pos
}

/** Writes the zigzag varlong of a safe-integer `value` at `pos`; returns the next position. */
export function writeVarlong (buf: Uint8Array, pos: number, value: number): number {
  if (value >= -0x40000000 && value < 0x40000000) return writeVarint(buf, pos, value)
  let v = value >= 0 ? value * 2 : -value * 2 - 1
  while (v >= 0x80) {
    buf[pos++] = (v % 128) | 0x80
    v = Math.floor(v / 128)
  }
  buf[pos++] = v
  return pos
}

/**
 * A cursor for reading varints without allocating: `read*` return the value and leave
 * the position after it in `pos`.
 */
export class VarintCursor {
  pos: number
  readonly buf: Uint8Array
  readonly end: number

  constructor (buf: Uint8Array, pos = 0, end = buf.length) {
    this.buf = buf
    this.pos = pos
    this.end = end
  }

  /**
   * Reads a zigzag varint (at most 5 bytes). The one-byte case (small lengths, deltas and
   * counts) is kept in this small body so V8 inlines it into the record decoder's loop;
   * everything else takes #varintSlow.
   */
  varint (): number {
    const pos = this.pos
    const b = this.buf[pos]! // undefined past the buffer: not < 0x80, so the slow path throws
    if (b < 0x80 && pos < this.end) {
      this.pos = pos + 1
      return (b >>> 1) ^ -(b & 1)
    }
    return this.#varintSlow()
  }

  #varintSlow (): number {
    const buf = this.buf
    let pos = this.pos
    let result = 0
    let shift = 0
    for (;;) {
      if (pos >= this.end) throw new CorruptRecordError('varint runs past the end of its input')
      const b = buf[pos++]!
      result |= (b & 0x7f) << shift
      if (b < 0x80) break
      shift += 7
      if (shift > 28) throw new CorruptRecordError('varint longer than 5 bytes')
    }
    this.pos = pos
    return (result >>> 1) ^ -(result & 1)
  }

  /** Reads a zigzag varlong (at most 10 bytes) as a number (exact up to 2^53); one byte inline as in varint(). */
  varlong (): number {
    const pos = this.pos
    const b = this.buf[pos]!
    if (b < 0x80 && pos < this.end) {
      this.pos = pos + 1
      return (b >>> 1) ^ -(b & 1)
    }
    return this.#varlongSlow()
  }

  #varlongSlow (): number {
    const buf = this.buf
    let pos = this.pos
    let result = 0
    let multiplier = 1
    for (let i = 0; ; i++) {
      if (pos >= this.end) throw new CorruptRecordError('varlong runs past the end of its input')
      if (i >= 10) throw new CorruptRecordError('varlong longer than 10 bytes')
      const b = buf[pos++]!
      result += (b & 0x7f) * multiplier
      if (b < 0x80) break
      multiplier *= 128
    }
    this.pos = pos
    // zigzag decode without 32-bit operators: odd values are negative.
    return result % 2 === 0 ? result / 2 : -(result + 1) / 2
  }

  /** Skips `n` bytes, checking they exist. */
  skip (n: number): void {
    if (n < 0 || this.pos + n > this.end) throw new CorruptRecordError('field runs past the end of its input')
    this.pos += n
  }

  /** A view (no copy) of the next `n` bytes. */
  bytes (n: number): Uint8Array {
    const start = this.pos
    this.skip(n)
    return this.buf.subarray(start, start + n)
  }
}
