/**
 * A bounds-checked cursor over untrusted bytes: the one reader every wire codec uses.
 *
 * Everything is big-endian except the varints. Every read checks that its bytes exist before
 * the end of the reader's window, every length is checked against the bytes that remain
 * (so a forged length can never cause a large allocation or a read past the frame), and
 * every failure is a MalformedFrameError naming what was being read and where. Nothing here
 * throws any other kind of error.
 *
 * Byte and records fields come back as views (`subarray`) into the input, never copies:
 * the caller must not reuse the input buffer while it still holds decoded values.
 *
 * Kafka's forms (KIP-482 for the compact ones):
 *   string          int16 length, then UTF-8; -1 = null (nullable strings only)
 *   bytes           int32 length; -1 = null
 *   array           int32 count; -1 = null
 *   compact string / bytes / array: unsigned varint of (length + 1); 0 = null
 *   uvarint         base-128, least significant group first, at most 5 bytes (32 bits)
 *   varint/varlong  zigzag-encoded signed, at most 5 / 10 bytes
 *   uuid            16 raw bytes, returned as 32 lowercase hex digits
 */

import { MalformedFrameError } from '../errors.js'

const TWO_32 = 0x100000000
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
const utf8 = new TextDecoder('utf-8')

export class Reader {
  readonly buf: Uint8Array
  readonly view: DataView
  /** Position of the next byte to read (absolute index into `buf`). */
  pos: number
  /** End of this reader's window (exclusive). */
  end: number

  constructor (buf: Uint8Array, start = 0, end = buf.length) {
    if (start < 0 || end > buf.length || start > end) throw new MalformedFrameError(`reader window [${start}, ${end}) is outside the input of ${buf.length} bytes`)
    this.buf = buf
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    this.pos = start
    this.end = end
  }

  /** Bytes left before the end of the window. */
  get remaining (): number { return this.end - this.pos }

  /** Throws MalformedFrameError unless `n` more bytes exist. */
  need (n: number, what: string): void {
    if (n > this.end - this.pos) throw new MalformedFrameError(`${what} at byte ${this.pos}: needs ${n} bytes, ${this.end - this.pos} left`)
  }

  /** Fails unless every byte of the window was consumed (trailing garbage is an error). */
  expectEnd (what: string): void {
    if (this.pos !== this.end) throw new MalformedFrameError(`${what}: ${this.end - this.pos} unexpected trailing bytes at byte ${this.pos}`)
  }

  int8 (): number {
    this.need(1, 'int8')
    return this.view.getInt8(this.pos++)
  }

  uint8 (): number {
    this.need(1, 'uint8')
    return this.buf[this.pos++]!
  }

  bool (): boolean {
    this.need(1, 'boolean')
    return this.buf[this.pos++] !== 0
  }

  int16 (): number {
    this.need(2, 'int16')
    const v = this.view.getInt16(this.pos)
    this.pos += 2
    return v
  }

  uint16 (): number {
    this.need(2, 'uint16')
    const v = this.view.getUint16(this.pos)
    this.pos += 2
    return v
  }

  int32 (): number {
    this.need(4, 'int32')
    const v = this.view.getInt32(this.pos)
    this.pos += 4
    return v
  }

  uint32 (): number {
    this.need(4, 'uint32')
    const v = this.view.getUint32(this.pos)
    this.pos += 4
    return v
  }

  /**
   * An int64 as a JS number. Offsets, timestamps and ids are kept as numbers across Spool
   * (exact up to 2^53); a value outside the safe range is rejected rather than rounded.
   */
  int64 (): number {
    this.need(8, 'int64')
    const hi = this.view.getInt32(this.pos)
    const lo = this.view.getUint32(this.pos + 4)
    const v = hi * TWO_32 + lo
    if (!Number.isSafeInteger(v)) throw new MalformedFrameError(`int64 at byte ${this.pos} is outside the safe integer range`)
    this.pos += 8
    return v
  }

  float64 (): number {
    this.need(8, 'float64')
    const v = this.view.getFloat64(this.pos)
    this.pos += 8
    return v
  }

  /** Unsigned base-128 varint of at most 32 bits (5 bytes), as Kafka's compact lengths and tags use. */
  uvarint (): number {
    const buf = this.buf
    let pos = this.pos
    let result = 0
    for (let shift = 0; ; shift += 7) {
      if (pos >= this.end) throw new MalformedFrameError(`unsigned varint at byte ${this.pos} runs past the end`)
      const b = buf[pos++]!
      if (shift === 28 && b > 0x0f) throw new MalformedFrameError(`unsigned varint at byte ${this.pos} is longer than 32 bits`)
      result += (b & 0x7f) * 2 ** shift
      if (b < 0x80) break
    }
    this.pos = pos
    return result
  }

  /** Zigzag signed varint (at most 5 bytes). */
  varint (): number {
    const u = this.uvarint()
    return (u >>> 1) ^ -(u & 1)
  }

  /** Zigzag signed varlong (at most 10 bytes) as a number; rejects values past 2^53. */
  varlong (): number {
    const buf = this.buf
    const start = this.pos
    let pos = start
    let result = 0
    let multiplier = 1
    for (let i = 0; ; i++) {
      if (pos >= this.end) throw new MalformedFrameError(`varlong at byte ${start} runs past the end`)
      if (i >= 10) throw new MalformedFrameError(`varlong at byte ${start} is longer than 10 bytes`)
      const b = buf[pos++]!
      result += (b & 0x7f) * multiplier
      if (b < 0x80) break
      multiplier *= 128
    }
    if (!Number.isSafeInteger(result)) throw new MalformedFrameError(`varlong at byte ${start} is outside the safe integer range`)
    this.pos = pos
    return result % 2 === 0 ? result / 2 : -(result + 1) / 2
  }

  /** 16 raw bytes as 32 lowercase hex digits. */
  uuid (): string {
    this.need(16, 'uuid')
    const buf = this.buf
    let s = ''
    for (let i = this.pos, end = this.pos + 16; i < end; i++) s += HEX[buf[i]!]!
    this.pos += 16
    return s
  }

  /** A view of the next `n` bytes (no copy). */
  raw (n: number, what = 'bytes'): Uint8Array {
    if (n < 0) throw new MalformedFrameError(`${what} at byte ${this.pos}: negative length ${n}`)
    this.need(n, what)
    const start = this.pos
    this.pos += n
    return this.buf.subarray(start, start + n)
  }

  skip (n: number, what = 'field'): void {
    if (n < 0) throw new MalformedFrameError(`${what} at byte ${this.pos}: negative length ${n}`)
    this.need(n, what)
    this.pos += n
  }

  /** UTF-8 text of the next `n` bytes; invalid sequences become U+FFFD, as Kafka's Java decoder does. */
  text (n: number): string {
    this.need(n, 'string')
    const buf = this.buf
    const start = this.pos
    this.pos += n
    // Short ASCII strings (topic names, client ids) are the common case: skip TextDecoder.
    if (n <= 64) {
      let s = ''
      for (let i = start; i < start + n; i++) {
        const c = buf[i]!
        if (c >= 0x80) return utf8.decode(buf.subarray(start, start + n))
        s += String.fromCharCode(c)
      }
      return s
    }
    return utf8.decode(buf.subarray(start, start + n))
  }

  /** int16-length string; null only when `nullable`. */
  string (): string {
    const at = this.pos
    const n = this.int16()
    if (n < 0) throw new MalformedFrameError(`string at byte ${at}: length ${n} where a non-null string is required`)
    return this.text(n)
  }

  nullableString (): string | null {
    const at = this.pos
    const n = this.int16()
    if (n === -1) return null
    if (n < 0) throw new MalformedFrameError(`string at byte ${at}: negative length ${n}`)
    return this.text(n)
  }

  compactString (): string {
    const at = this.pos
    const n = this.uvarint()
    if (n === 0) throw new MalformedFrameError(`compact string at byte ${at} is null where a non-null string is required`)
    if (n - 1 > 0x7fff) throw new MalformedFrameError(`compact string at byte ${at} is longer than 32767 bytes`)
    return this.text(n - 1)
  }

  compactNullableString (): string | null {
    const at = this.pos
    const n = this.uvarint()
    if (n === 0) return null
    if (n - 1 > 0x7fff) throw new MalformedFrameError(`compact string at byte ${at} is longer than 32767 bytes`)
    return this.text(n - 1)
  }

  /** int32-length bytes, as a view. */
  bytes (): Uint8Array {
    const at = this.pos
    const n = this.int32()
    if (n < 0) throw new MalformedFrameError(`bytes at byte ${at}: length ${n} where non-null bytes are required`)
    return this.raw(n)
  }

  nullableBytes (): Uint8Array | null {
    const at = this.pos
    const n = this.int32()
    if (n === -1) return null
    if (n < 0) throw new MalformedFrameError(`bytes at byte ${at}: negative length ${n}`)
    return this.raw(n)
  }

  compactBytes (): Uint8Array {
    const at = this.pos
    const n = this.uvarint()
    if (n === 0) throw new MalformedFrameError(`compact bytes at byte ${at} are null where non-null bytes are required`)
    return this.raw(n - 1)
  }

  compactNullableBytes (): Uint8Array | null {
    const n = this.uvarint()
    if (n === 0) return null
    return this.raw(n - 1)
  }

  /**
   * An int32 array count; -1 (null) is returned as -1. The count is bounded by the bytes
   * left: each element takes at least `minElementBytes` (at least 1), so a forged count can
   * never allocate more than the frame could hold.
   */
  arrayLength (minElementBytes: number): number {
    const at = this.pos
    const n = this.int32()
    if (n === -1) return -1
    if (n < 0) throw new MalformedFrameError(`array at byte ${at}: negative count ${n}`)
    this.checkCount(n, minElementBytes, at)
    return n
  }

  /** A compact array count (uvarint of count + 1; 0 = null, returned as -1), bounded like `arrayLength`. */
  compactArrayLength (minElementBytes: number): number {
    const at = this.pos
    const n = this.uvarint()
    if (n === 0) return -1
    this.checkCount(n - 1, minElementBytes, at)
    return n - 1
  }

  private checkCount (n: number, minElementBytes: number, at: number): void {
    const min = minElementBytes < 1 ? 1 : minElementBytes
    if (n * min > this.end - this.pos) throw new MalformedFrameError(`array at byte ${at}: ${n} elements cannot fit in the ${this.end - this.pos} bytes left`)
  }
}
