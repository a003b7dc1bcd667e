/**
 * Snappy for RecordBatch v2 (compression code 2), in both forms Kafka clients write:
 *
 * - raw: one Snappy stream (varint uncompressed length, then literal/copy elements) — what
 *   librdkafka writes;
 * - xerial-framed: an 8-byte magic `82 'SNAPPY' 00`, int32 version, int32 minimum-compatible
 *   version (big-endian), then blocks of int32 big-endian length + one raw Snappy stream each
 *   — what the Java client (snappy-java's stream, 32 KiB blocks), kafka-python and kafkajs's
 *   snappy plugin write.
 *
 * The decoder tells them apart by the magic: a raw stream cannot begin with it (`82 53` is
 * the varint 10626, and the element after it, `4e`, is a copy with nothing yet to copy
 * from), so the test is exact. A framed stream may hold several concatenated streams (a
 * magic header again at a block boundary), as snappy-java's reader accepts. The encoder
 * writes the framed form with 32 KiB blocks, as Kafka's Java producer does, so every Kafka
 * consumer reads it.
 *
 * Pure TypeScript from the format description (no Node APIs, so the browser bundle uses it);
 * a Node host may register the native `snappy` package for raw blocks. Decoding is strict:
 * every length is checked against the input and the declared output size, the output must be
 * exactly as long as declared, and nothing is allocated beyond `maxBytes` (MessageTooLargeError
 * past it, CorruptRecordError for anything malformed).
 */

import { CorruptRecordError, MessageTooLargeError } from '../errors.js'

export const XERIAL_MAGIC = Uint8Array.of(0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00)
/** Magic + version + minimum compatible version. */
export const XERIAL_HEADER_SIZE = 16
/** Uncompressed bytes per framed block (snappy-java's default, which Kafka's Java client uses). */
export const XERIAL_BLOCK_SIZE = 32 * 1024
const XERIAL_VERSION = 1
const XERIAL_COMPATIBLE_VERSION = 1

/** True when `data[pos..]` starts with the xerial magic. */
export function isXerialSnappy (data: Uint8Array, pos = 0): boolean {
  if (data.length - pos < XERIAL_MAGIC.length) return false
  for (let i = 0; i < XERIAL_MAGIC.length; i++) if (data[pos + i] !== XERIAL_MAGIC[i]) return false
  return true
}

// ---------------------------------------------------------------------------------------
// Raw Snappy streams
// ---------------------------------------------------------------------------------------

/** The declared uncompressed length of the raw stream at `data[start, end)` and where its elements begin. */
export function snappyRawLength (data: Uint8Array, start: number, end: number): { length: number, elements: number } {
  let length = 0
  let shift = 0
  for (let i = start; i < end && i < start + 5; i++) {
    const b = data[i]!
    length += (b & 0x7f) * 2 ** shift
    if (b < 0x80) {
      if (length > 0xffffffff) break
      return { length, elements: i + 1 }
    }
    shift += 7
  }
  throw new CorruptRecordError('snappy stream has no valid length header')
}

/**
 * Decodes the elements of a raw stream, `data[pos, end)`, into `out[outStart, outStart +
 * length)`. Throws CorruptRecordError unless they produce exactly `length` bytes.
 */
export function snappyDecodeElements (data: Uint8Array, pos: number, end: number, out: Uint8Array, outStart: number, length: number): void {
  let op = outStart
  const outEnd = outStart + length
  while (pos < end) {
    const tag = data[pos++]!
    const kind = tag & 3
    if (kind === 0) {
      let len = (tag >>> 2) + 1
      if (len > 60) {
        const n = len - 60
        if (pos + n > end) throw new CorruptRecordError('snappy literal length runs past the input')
        len = 0
        for (let i = 0; i < n; i++) len += data[pos + i]! * 2 ** (8 * i)
        len += 1
        pos += n
      }
      if (len > end - pos) throw new CorruptRecordError('snappy literal runs past the input')
      if (len > outEnd - op) throw new CorruptRecordError('snappy literal runs past the declared length')
      if (len < 16) {
        for (let i = 0; i < len; i++) out[op + i] = data[pos + i]!
      } else {
        out.set(data.subarray(pos, pos + len), op)
      }
      pos += len
      op += len
      continue
    }
    let len: number
    let offset: number
    if (kind === 1) {
      if (pos >= end) throw new CorruptRecordError('snappy copy runs past the input')
      len = ((tag >>> 2) & 7) + 4
      offset = ((tag >>> 5) << 8) | data[pos++]!
    } else if (kind === 2) {
      if (pos + 2 > end) throw new CorruptRecordError('snappy copy runs past the input')
      len = (tag >>> 2) + 1
      offset = data[pos]! | (data[pos + 1]! << 8)
      pos += 2
    } else {
      if (pos + 4 > end) throw new CorruptRecordError('snappy copy runs past the input')
      len = (tag >>> 2) + 1
      offset = (data[pos]! | (data[pos + 1]! << 8) | (data[pos + 2]! << 16) | (data[pos + 3]! << 24)) >>> 0
      pos += 4
    }
    if (offset === 0 || offset > op - outStart) throw new CorruptRecordError(`snappy copy offset ${offset} points before the start of the output`)
    if (len > outEnd - op) throw new CorruptRecordError('snappy copy runs past the declared length')
    let from = op - offset
    if (offset >= len && len > 16) {
      out.copyWithin(op, from, from + len)
      op += len
    } else {
      const stop = op + len
      while (op < stop) out[op++] = out[from++]!
    }
  }
  if (op !== outEnd) throw new CorruptRecordError(`snappy stream decodes to ${op - outStart} bytes, its header says ${length}`)
}

/** Decodes one raw stream, `data[start, end)`, allocating at most `maxBytes`. */
export function snappyDecodeRaw (data: Uint8Array, maxBytes: number, start = 0, end = data.length): Uint8Array {
  const { length, elements } = snappyRawLength(data, start, end)
  if (length > maxBytes) throw new MessageTooLargeError(`decompressed batch exceeds ${maxBytes} bytes (snappy header says ${length})`)
  const out = new Uint8Array(length)
  snappyDecodeElements(data, elements, end, out, 0, length)
  return out
}

const HASH_BITS = 14
const FRAGMENT = 65536
const INPUT_MARGIN = 15

function load32 (d: Uint8Array, i: number): number {
  return d[i]! | (d[i + 1]! << 8) | (d[i + 2]! << 16) | (d[i + 3]! << 24)
}

function hash (v: number): number {
  return Math.imul(v, 0x1e35a7bd) >>> (32 - HASH_BITS)
}

class Output {
  buf: Uint8Array
  pos: number
  constructor (capacity: number) {
    this.buf = new Uint8Array(capacity)
    this.pos = 0
  }

  varint (n: number): void {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80
      n = Math.floor(n / 128)
    }
    this.buf[this.pos++] = n
  }

  literal (src: Uint8Array, start: number, end: number): void {
    const n = end - start - 1
    if (n < 0) return
    if (n < 60) {
      this.buf[this.pos++] = n << 2
    } else {
      const bytes = n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x1000000 ? 3 : 4
      this.buf[this.pos++] = (59 + bytes) << 2
      for (let i = 0, v = n; i < bytes; i++, v >>>= 8) this.buf[this.pos++] = v & 0xff
    }
    this.buf.set(src.subarray(start, end), this.pos)
    this.pos += end - start
  }

  copy (offset: number, len: number): void {
    while (len >= 68) {
      this.copy2(offset, 64)
      len -= 64
    }
    if (len > 64) {
      this.copy2(offset, 60)
      len -= 60
    }
    if (len < 12 && offset < 2048) {
      this.buf[this.pos++] = 1 | ((len - 4) << 2) | ((offset >>> 8) << 5)
      this.buf[this.pos++] = offset & 0xff
    } else {
      this.copy2(offset, len)
    }
  }

  copy2 (offset: number, len: number): void {
    this.buf[this.pos++] = 2 | ((len - 1) << 2)
    this.buf[this.pos++] = offset & 0xff
    this.buf[this.pos++] = offset >>> 8
  }
}

/** Compresses one fragment (<= 64 KiB) `src[start, end)` with a greedy hash matcher. */
function compressFragment (src: Uint8Array, start: number, end: number, out: Output, table: Uint16Array): void {
  const len = end - start
  if (len < INPUT_MARGIN) {
    out.literal(src, start, end)
    return
  }
  table.fill(0)
  const ipLimit = end - INPUT_MARGIN
  let nextEmit = start
  let ip = start + 1
  for (;;) {
    // Find a 4-byte match, skipping faster the longer nothing matches.
    let skip = 32
    let nextIp = ip
    let candidate: number
    do {
      ip = nextIp
      nextIp = ip + (skip++ >>> 5)
      if (nextIp > ipLimit) {
        out.literal(src, nextEmit, end)
        return
      }
      const h = hash(load32(src, ip))
      candidate = start + table[h]!
      table[h] = ip - start
    } while (load32(src, ip) !== load32(src, candidate))
    out.literal(src, nextEmit, ip)
    do {
      const base = ip
      let matched = 4
      while (ip + matched < end && src[candidate + matched] === src[ip + matched]) matched++
      ip += matched
      out.copy(base - candidate, matched)
      nextEmit = ip
      if (ip >= ipLimit) {
        out.literal(src, nextEmit, end)
        return
      }
      table[hash(load32(src, ip - 1))] = ip - 1 - start
      const h = hash(load32(src, ip))
      candidate = start + table[h]!
      table[h] = ip - start
    } while (load32(src, ip) === load32(src, candidate))
    ip++
  }
}

/** Compresses `src` into one raw Snappy stream. */
export function snappyEncodeRaw (src: Uint8Array): Uint8Array {
  const out = new Output(32 + src.length + Math.ceil(src.length / 6))
  out.varint(src.length)
  const table = new Uint16Array(1 << HASH_BITS)
  for (let at = 0; at < src.length; at += FRAGMENT) compressFragment(src, at, Math.min(src.length, at + FRAGMENT), out, table)
  return out.buf.subarray(0, out.pos)
}

// ---------------------------------------------------------------------------------------
// Xerial framing
// ---------------------------------------------------------------------------------------

/**
 * Compresses `src` in the xerial-framed form, one block per 32 KiB (Kafka's Java producer
 * writes this form; librdkafka, kafkajs, kafka-python and the Java consumer all read it).
 * `encodeBlock` compresses one block to a raw stream (a native one on Node).
 */
export function snappyEncodeFramed (src: Uint8Array, encodeBlock: (block: Uint8Array) => Uint8Array = snappyEncodeRaw): Uint8Array {
  const blocks: Uint8Array[] = []
  let total = XERIAL_HEADER_SIZE
  for (let at = 0; at < src.length; at += XERIAL_BLOCK_SIZE) {
    const block = encodeBlock(src.subarray(at, Math.min(src.length, at + XERIAL_BLOCK_SIZE)))
    blocks.push(block)
    total += 4 + block.length
  }
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  out.set(XERIAL_MAGIC, 0)
  view.setInt32(8, XERIAL_VERSION)
  view.setInt32(12, XERIAL_COMPATIBLE_VERSION)
  let pos = XERIAL_HEADER_SIZE
  for (const block of blocks) {
    view.setInt32(pos, block.length)
    out.set(block, pos + 4)
    pos += 4 + block.length
  }
  return out
}

/** Where each block of a framed stream lies and its declared uncompressed length. */
export interface XerialBlock { start: number, end: number, length: number }

/**
 * Walks a framed stream's blocks without decoding them: checks every length against the
 * input and the running total against `maxBytes`.
 */
export function xerialBlocks (data: Uint8Array, maxBytes: number): { blocks: XerialBlock[], total: number } {
  if (data.length < XERIAL_HEADER_SIZE || !isXerialSnappy(data)) throw new CorruptRecordError('xerial snappy stream has no valid header')
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const blocks: XerialBlock[] = []
  let total = 0
  let pos = XERIAL_HEADER_SIZE
  while (pos < data.length) {
    if (isXerialSnappy(data, pos)) {
      if (data.length - pos < XERIAL_HEADER_SIZE) throw new CorruptRecordError('xerial snappy stream ends inside a header')
      pos += XERIAL_HEADER_SIZE
      continue
    }
    if (data.length - pos < 4) throw new CorruptRecordError('xerial snappy stream ends inside a block length')
    const size = view.getInt32(pos)
    pos += 4
    if (size <= 0 || size > data.length - pos) throw new CorruptRecordError(`xerial snappy block of ${size} bytes does not fit the ${data.length - pos} bytes left`)
    const { length } = snappyRawLength(data, pos, pos + size)
    total += length
    if (total > maxBytes) throw new MessageTooLargeError(`decompressed batch exceeds ${maxBytes} bytes`)
    blocks.push({ start: pos, end: pos + size, length })
    pos += size
  }
  return { blocks, total }
}

/** Decodes a framed stream into one buffer, allocating at most `maxBytes`. */
export function snappyDecodeFramed (data: Uint8Array, maxBytes: number): Uint8Array {
  const { blocks, total } = xerialBlocks(data, maxBytes)
  const out = new Uint8Array(total)
  let at = 0
  for (const b of blocks) {
    const { elements } = snappyRawLength(data, b.start, b.end)
    snappyDecodeElements(data, elements, b.end, out, at, b.length)
    at += b.length
  }
  return out
}

/** Decodes either form (told apart by the xerial magic). */
export function snappyDecode (data: Uint8Array, maxBytes: number): Uint8Array {
  return isXerialSnappy(data) ? snappyDecodeFramed(data, maxBytes) : snappyDecodeRaw(data, maxBytes)
}
