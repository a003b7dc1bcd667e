/**
 * The one writer every wire codec uses: the mirror of Reader, same forms and names.
 *
 * Output is a list of parts rather than one buffer, so large payloads (RecordBatch bytes
 * read from a segment file) can be appended by reference with `ref()` and reach the socket
 * through writev without ever being copied. Small fields go into an internal scratch buffer;
 * when it is full a new one is started and the old one becomes a part, so bytes already
 * written never move and a reserved slot (`reserveInt32`) can be patched at any time.
 *
 * Values are checked as they are written (integer ranges, string lengths, uuid form): a bad
 * value is an InvalidArgumentError at the field, never silently wrapped bytes on the wire.
 */

import { InvalidArgumentError } from '../errors.js'
import { varintSize, varlongSize, writeVarint, writeVarlong } from './varint.js'

const utf8 = new TextEncoder()

/** A reserved 4-byte slot, patched once its value (usually a size) is known. */
export interface Int32Slot {
  readonly view: DataView
  readonly pos: number
}

/** Bytes of the UTF-8 encoding of `s` (lone surrogates count as U+FFFD, as TextEncoder writes them). */
export function utf8Length (s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n++
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4
      i++
    } else n += 3
  }
  return n
}

/** Bytes an unsigned varint of `value` (0 .. 2^32-1) takes. */
export function uvarintSize (value: number): number {
  let size = 1
  while (value >= 0x80) {
    value = Math.floor(value / 128)
    size++
  }
  return size
}

/** Joins parts into one buffer (tests, small messages); a single part is returned as is. */
export function joinParts (parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!
  let size = 0
  for (const p of parts) size += p.length
  const out = new Uint8Array(size)
  let pos = 0
  for (const p of parts) {
    out.set(p, pos)
    pos += p.length
  }
  return out
}

function badValue (what: string, value: unknown): never {
  throw new InvalidArgumentError(`cannot write ${String(value)} as ${what}`)
}

export class Writer {
  #buf: Uint8Array
  #view: DataView
  #pos = 0
  #chunkStart = 0
  #parts: Uint8Array[] = []
  #committed = 0

  constructor (initialCapacity = 256) {
    this.#buf = new Uint8Array(initialCapacity > 16 ? initialCapacity : 16)
    this.#view = new DataView(this.#buf.buffer)
  }

  /** Total bytes written so far, referenced parts included. */
  get length (): number { return this.#committed + this.#pos - this.#chunkStart }

  /** Makes room for `n` contiguous bytes in the scratch buffer. */
  #ensure (n: number): void {
    if (this.#buf.length - this.#pos >= n) return
    this.#commit()
    const size = Math.max(n, this.#buf.length * 2)
    this.#buf = new Uint8Array(size)
    this.#view = new DataView(this.#buf.buffer)
    this.#pos = 0
    this.#chunkStart = 0
  }

  #commit (): void {
    if (this.#pos > this.#chunkStart) {
      this.#parts.push(this.#buf.subarray(this.#chunkStart, this.#pos))
      this.#committed += this.#pos - this.#chunkStart
      this.#chunkStart = this.#pos
    }
  }

  /** The output as parts, in order. The writer must not be used afterwards. */
  finish (): Uint8Array[] {
    this.#commit()
    return this.#parts
  }

  /** The output as one buffer (copies when there is more than one part). */
  toBytes (): Uint8Array {
    const parts = this.finish()
    return parts.length === 0 ? new Uint8Array(0) : joinParts(parts)
  }

  int8 (v: number): void {
    if (!Number.isInteger(v) || v < -0x80 || v > 0x7f) badValue('int8', v)
    this.#ensure(1)
    this.#view.setInt8(this.#pos++, v)
  }

  uint8 (v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) badValue('uint8', v)
    this.#ensure(1)
    this.#buf[this.#pos++] = v
  }

  bool (v: boolean): void {
    if (typeof v !== 'boolean') badValue('boolean', v)
    this.#ensure(1)
    this.#buf[this.#pos++] = v ? 1 : 0
  }

  int16 (v: number): void {
    if (!Number.isInteger(v) || v < -0x8000 || v > 0x7fff) badValue('int16', v)
    this.#ensure(2)
    this.#view.setInt16(this.#pos, v)
    this.#pos += 2
  }

  uint16 (v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) badValue('uint16', v)
    this.#ensure(2)
    this.#view.setUint16(this.#pos, v)
    this.#pos += 2
  }

  int32 (v: number): void {
    if ((v | 0) !== v) badValue('int32', v)
    this.#ensure(4)
    this.#view.setInt32(this.#pos, v)
    this.#pos += 4
  }

  uint32 (v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) badValue('uint32', v)
    this.#ensure(4)
    this.#view.setUint32(this.#pos, v)
    this.#pos += 4
  }

  /** A safe-integer number as a big-endian int64. */
  int64 (v: number): void {
    if (!Number.isSafeInteger(v)) badValue('int64 (safe integer)', v)
    this.#ensure(8)
    const hi = Math.floor(v / 0x100000000)
    this.#view.setInt32(this.#pos, hi)
    this.#view.setUint32(this.#pos + 4, v - hi * 0x100000000)
    this.#pos += 8
  }

  float64 (v: number): void {
    if (typeof v !== 'number') badValue('float64', v)
    this.#ensure(8)
    this.#view.setFloat64(this.#pos, v)
    this.#pos += 8
  }

  uvarint (v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) badValue('unsigned varint', v)
    this.#ensure(5)
    const buf = this.#buf
    let pos = this.#pos
    while (v >= 0x80) {
      buf[pos++] = (v % 128) | 0x80
      v = Math.floor(v / 128)
    }
    buf[pos++] = v
    this.#pos = pos
  }

  /** Zigzag signed varint (int32 range). */
  varint (v: number): void {
    if ((v | 0) !== v) badValue('varint', v)
    this.#ensure(varintSize(v))
    this.#pos = writeVarint(this.#buf, this.#pos, v)
  }

  /** Zigzag signed varlong (safe-integer range). */
  varlong (v: number): void {
    if (!Number.isSafeInteger(v)) badValue('varlong', v)
    this.#ensure(varlongSize(v))
    this.#pos = writeVarlong(this.#buf, this.#pos, v)
  }

  /** 32 hex digits (dashes allowed and ignored) as 16 raw bytes. */
  uuid (v: string): void {
    const hex = typeof v === 'string' ? v.replaceAll('-', '') : ''
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) badValue('uuid (32 hex digits)', v)
    this.#ensure(16)
    for (let i = 0; i < 16; i++) this.#buf[this.#pos++] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  }

  /** Copies `b` into the output. */
  raw (b: Uint8Array): void {
    this.#ensure(b.length)
    this.#buf.set(b, this.#pos)
    this.#pos += b.length
  }

  /**
   * Appends `b` by reference as its own part: the bytes are not copied, and the caller must
   * keep them unchanged until the parts are written out.
   */
  ref (b: Uint8Array): void {
    if (b.length === 0) return
    this.#commit()
    this.#parts.push(b)
    this.#committed += b.length
  }

  /** Appends another writer's output (by reference to its parts). */
  append (other: Writer): void {
    for (const p of other.finish()) this.ref(p)
  }

  /** Reserves 4 bytes to be patched later with `patchInt32`. */
  reserveInt32 (): Int32Slot {
    this.#ensure(4)
    const slot = { view: this.#view, pos: this.#pos }
    this.#pos += 4
    return slot
  }

  patchInt32 (slot: Int32Slot, v: number): void {
    if ((v | 0) !== v) badValue('int32', v)
    slot.view.setInt32(slot.pos, v)
  }

  #text (s: string, n: number): void {
    this.#ensure(n)
    if (n === s.length) {
      const buf = this.#buf
      let pos = this.#pos
      for (let i = 0; i < n; i++) buf[pos++] = s.charCodeAt(i)
      this.#pos = pos
    } else {
      utf8.encodeInto(s, this.#buf.subarray(this.#pos, this.#pos + n))
      this.#pos += n
    }
  }

  #stringLength (s: unknown): number {
    if (typeof s !== 'string') badValue('string', s)
    const n = utf8Length(s)
    if (n > 0x7fff) badValue('string (at most 32767 UTF-8 bytes)', `a string of ${n} bytes`)
    return n
  }

  string (s: string): void {
    const n = this.#stringLength(s)
    this.int16(n)
    this.#text(s, n)
  }

  nullableString (s: string | null): void {
    if (s === null) this.int16(-1)
    else this.string(s)
  }

  compactString (s: string): void {
    const n = this.#stringLength(s)
    this.uvarint(n + 1)
    this.#text(s, n)
  }

  compactNullableString (s: string | null): void {
    if (s === null) this.uvarint(0)
    else this.compactString(s)
  }

  bytes (b: Uint8Array): void {
    if (!(b instanceof Uint8Array)) badValue('bytes', b)
    this.int32(b.length)
    this.raw(b)
  }

  nullableBytes (b: Uint8Array | null): void {
    if (b === null) this.int32(-1)
    else this.bytes(b)
  }

  compactBytes (b: Uint8Array): void {
    if (!(b instanceof Uint8Array)) badValue('bytes', b)
    this.uvarint(b.length + 1)
    this.raw(b)
  }

  compactNullableBytes (b: Uint8Array | null): void {
    if (b === null) this.uvarint(0)
    else this.compactBytes(b)
  }

  /** int32 array count; -1 for null. */
  arrayLength (n: number): void {
    this.int32(n)
  }

  /** Compact array count (count + 1; null as -1 writes 0). */
  compactArrayLength (n: number): void {
    this.uvarint(n + 1)
  }
}
