/**
 * LZ4 for RecordBatch v2 (compression code 3): Kafka uses the LZ4 *frame* format (magic
 * 0x184D2204, a frame descriptor with its xxHash32 header checksum, blocks of at most the
 * declared maximum size, an end mark, an optional content checksum). Very old Kafka (message
 * format v0, before 0.10) computed the header checksum over the magic as well; magic 2
 * batches always carry correct frames, so the checksum is verified as specified.
 *
 * Pure TypeScript from the format descriptions (frame and block), no Node APIs. Every host
 * decodes with it (on Node it measured faster than lz4-napi's frame decoder on Kafka-like
 * records); a Node host may compress with lz4-napi instead of `lz4Encode`. Decoding accepts
 * linked and independent blocks, block and content checksums, content size, concatenated and
 * skippable frames; it never writes past `maxBytes` (MessageTooLargeError) and names anything
 * malformed a CorruptRecordError. The encoder writes what Kafka's Java producer writes:
 * independent 64 KiB blocks, no checksums beyond the header's, no content size.
 */

import { CorruptRecordError, MessageTooLargeError } from '../errors.js'
import { xxhash32 } from './xxhash32.js'

const MAGIC = 0x184d2204
const SKIPPABLE_MASK = 0xfffffff0
const SKIPPABLE = 0x184d2a50
const FLG_VERSION_MASK = 0xc0
const FLG_VERSION = 0x40
const FLG_INDEPENDENT = 0x20
const FLG_BLOCK_CHECKSUM = 0x10
const FLG_CONTENT_SIZE = 0x08
const FLG_CONTENT_CHECKSUM = 0x04
const FLG_RESERVED = 0x02
const FLG_DICT_ID = 0x01
const BLOCK_UNCOMPRESSED = 0x80000000
const BLOCK_MAX: Record<number, number> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 }
const MIN_MATCH = 4
/** The last match must start at least this far from the end of a block. */
const MF_LIMIT = 12
/** The last bytes of a block are always literals. */
const LAST_LITERALS = 5
const ENCODE_BLOCK = 64 * 1024
const HASH_LOG = 12

function u32le (d: Uint8Array, i: number): number {
  return (d[i]! | (d[i + 1]! << 8) | (d[i + 2]! << 16) | (d[i + 3]! << 24)) >>> 0
}

function putU32le (d: Uint8Array, i: number, v: number): void {
  d[i] = v & 0xff
  d[i + 1] = (v >>> 8) & 0xff
  d[i + 2] = (v >>> 16) & 0xff
  d[i + 3] = (v >>> 24) & 0xff
}

export interface Lz4Block {
  /** Block data, `data[start, end)` (without the size word or checksum). */
  start: number
  end: number
  compressed: boolean
}

export interface Lz4Frame {
  start: number
  /** Just past the frame (after the end mark and content checksum). */
  end: number
  blockMax: number
  independent: boolean
  blockChecksum: boolean
  contentChecksum: boolean
  /** Declared content size, or -1 when the frame does not carry one. */
  contentSize: number
  blocks: Lz4Block[]
  /** Most this frame can decode to. */
  bound: number
}

/**
 * Walks every frame in `data` without decoding blocks: magic, descriptor (version, reserved
 * bits, block size, no dictionary), header checksum, each block's size against the block
 * maximum and the input, block checksums. Returns the frames and the most they can decode to
 * (the exact content size where frames declare one).
 */
export function lz4FrameScan (data: Uint8Array): { frames: Lz4Frame[], bound: number } {
  const frames: Lz4Frame[] = []
  let bound = 0
  let pos = 0
  while (pos < data.length) {
    if (data.length - pos < 4) throw new CorruptRecordError('lz4 data ends inside a frame magic')
    const magic = u32le(data, pos)
    if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE) {
      if (data.length - pos < 8) throw new CorruptRecordError('lz4 skippable frame is truncated')
      const size = u32le(data, pos + 4)
      if (size > data.length - pos - 8) throw new CorruptRecordError('lz4 skippable frame is truncated')
      pos += 8 + size
      continue
    }
    if (magic !== MAGIC) throw new CorruptRecordError(`lz4 frame magic is 0x${magic.toString(16)}, expected 0x184d2204`)
    const frame = scanFrame(data, pos)
    frames.push(frame)
    bound += frame.bound
    pos = frame.end
  }
  if (frames.length === 0) throw new CorruptRecordError('lz4 data holds no frame')
  return { frames, bound }
}

function scanFrame (data: Uint8Array, start: number): Lz4Frame {
  let pos = start + 4
  if (data.length - pos < 3) throw new CorruptRecordError('lz4 frame descriptor is truncated')
  const flg = data[pos]!
  const bd = data[pos + 1]!
  if ((flg & FLG_VERSION_MASK) !== FLG_VERSION) throw new CorruptRecordError(`lz4 frame version ${(flg >>> 6)} is not 1`)
  if ((flg & FLG_RESERVED) !== 0 || (bd & 0x8f) !== 0) throw new CorruptRecordError('lz4 frame descriptor sets reserved bits')
  if ((flg & FLG_DICT_ID) !== 0) throw new CorruptRecordError('lz4 frame needs a dictionary')
  const blockMax = BLOCK_MAX[(bd >>> 4) & 7]
  if (blockMax === undefined) throw new CorruptRecordError(`lz4 frame block size code ${(bd >>> 4) & 7} is invalid`)
  const descriptorEnd = pos + 2 + ((flg & FLG_CONTENT_SIZE) !== 0 ? 8 : 0)
  if (data.length < descriptorEnd + 1) throw new CorruptRecordError('lz4 frame descriptor is truncated')
  let contentSize = -1
  if ((flg & FLG_CONTENT_SIZE) !== 0) {
    const high = u32le(data, pos + 6)
    contentSize = high > 0x1fffff ? Number.MAX_SAFE_INTEGER : high * 2 ** 32 + u32le(data, pos + 2)
  }
  const hc = (xxhash32(data, pos, descriptorEnd) >>> 8) & 0xff
  if (hc !== data[descriptorEnd]) throw new CorruptRecordError(`lz4 frame header checksum is 0x${data[descriptorEnd]!.toString(16)}, expected 0x${hc.toString(16)}`)
  pos = descriptorEnd + 1
  const blockChecksum = (flg & FLG_BLOCK_CHECKSUM) !== 0
  const blocks: Lz4Block[] = []
  let bound = 0
  for (;;) {
    if (data.length - pos < 4) throw new CorruptRecordError('lz4 frame ends without an end mark')
    const word = u32le(data, pos)
    pos += 4
    if (word === 0) break
    const compressed = (word & BLOCK_UNCOMPRESSED) === 0
    const size = word & 0x7fffffff
    if (size > blockMax) throw new CorruptRecordError(`lz4 block of ${size} bytes exceeds the frame's ${blockMax}-byte maximum`)
    if (size > data.length - pos - (blockChecksum ? 4 : 0)) throw new CorruptRecordError('lz4 block runs past the input')
    if (blockChecksum && xxhash32(data, pos, pos + size) !== u32le(data, pos + size)) throw new CorruptRecordError('lz4 block checksum mismatch')
    blocks.push({ start: pos, end: pos + size, compressed })
    bound += compressed ? blockMax : size
    pos += size + (blockChecksum ? 4 : 0)
  }
  const contentChecksum = (flg & FLG_CONTENT_CHECKSUM) !== 0
  if (contentChecksum) {
    if (data.length - pos < 4) throw new CorruptRecordError('lz4 frame ends inside its content checksum')
    pos += 4
  }
  if (contentSize >= 0) {
    if (contentSize > bound) throw new CorruptRecordError(`lz4 frame declares ${contentSize} bytes, its blocks hold at most ${bound}`)
    bound = contentSize
  }
  return {
    start, end: pos, blockMax, independent: (flg & FLG_INDEPENDENT) !== 0, blockChecksum, contentChecksum, contentSize, blocks, bound,
  }
}

/**
 * Decodes one LZ4 block, `src[sp, sEnd)`, to `dst` at `op`. Matches may reach back to
 * `windowStart` (the block's own start for independent blocks). Output must stay below
 * `limit`: past it the block is corrupt, or too large when `limitIsMaxBytes` (the caller's
 * `maxBytes` is nearer than the block maximum). Returns the new output position.
 */
export function lz4DecodeBlock (
  src: Uint8Array, sp: number, sEnd: number, dst: Uint8Array, op: number, windowStart: number, limit: number, limitIsMaxBytes: boolean,
): number {
  const overrun = (): never => {
    if (limitIsMaxBytes) throw new MessageTooLargeError('decompressed batch exceeds its maximum size')
    throw new CorruptRecordError('lz4 block decodes past its maximum size')
  }
  for (;;) {
    if (sp >= sEnd) throw new CorruptRecordError('lz4 block ends inside a sequence')
    const token = src[sp++]!
    let lit = token >>> 4
    if (lit === 15) {
      let b: number
      do {
        if (sp >= sEnd) throw new CorruptRecordError('lz4 literal length runs past the block')
        b = src[sp++]!
        lit += b
      } while (b === 255)
    }
    if (lit > sEnd - sp) throw new CorruptRecordError('lz4 literals run past the block')
    if (lit > limit - op) overrun()
    if (lit < 16) {
      for (let i = 0; i < lit; i++) dst[op + i] = src[sp + i]!
    } else {
      dst.set(src.subarray(sp, sp + lit), op)
    }
    sp += lit
    op += lit
    if (sp === sEnd) return op // the last sequence has literals only
    if (sEnd - sp < 2) throw new CorruptRecordError('lz4 match offset runs past the block')
    const offset = src[sp]! | (src[sp + 1]! << 8)
    sp += 2
    if (offset === 0 || offset > op - windowStart) throw new CorruptRecordError(`lz4 match offset ${offset} points before the window`)
    let len = token & 15
    if (len === 15) {
      let b: number
      do {
        if (sp >= sEnd) throw new CorruptRecordError('lz4 match length runs past the block')
        b = src[sp++]!
        len += b
      } while (b === 255)
    }
    len += MIN_MATCH
    if (len > limit - op) overrun()
    let from = op - offset
    if (offset >= len && len > 32) {
      dst.copyWithin(op, from, from + len)
      op += len
    } else {
      const stop = op + len
      while (op < stop) dst[op++] = dst[from++]!
    }
  }
}

/**
 * Decodes every frame in `data` into one buffer, allocating at most `maxBytes`
 * (MessageTooLargeError when the content would exceed it).
 */
export function lz4Decode (data: Uint8Array, maxBytes: number): Uint8Array {
  const { frames, bound } = lz4FrameScan(data)
  const declared = frames.reduce((n, f) => n + (f.contentSize >= 0 ? f.contentSize : 0), 0)
  if (declared > maxBytes) throw new MessageTooLargeError(`decompressed batch exceeds ${maxBytes} bytes (lz4 frames declare ${declared})`)
  const capIsMaxBytes = bound > maxBytes
  const out = new Uint8Array(capIsMaxBytes ? maxBytes : bound)
  let op = 0
  for (const frame of frames) op = decodeFrameInto(data, frame, out, op, capIsMaxBytes)
  return op === out.length ? out : out.subarray(0, op)
}

function decodeFrameInto (data: Uint8Array, frame: Lz4Frame, out: Uint8Array, op: number, capIsMaxBytes: boolean): number {
  const frameStart = op
  for (const block of frame.blocks) {
    const blockStart = op
    const blockLimit = blockStart + frame.blockMax
    const limit = Math.min(blockLimit, out.length)
    const limitIsMaxBytes = capIsMaxBytes && out.length < blockLimit
    if (!block.compressed) {
      const size = block.end - block.start
      if (size > limit - op) {
        if (limitIsMaxBytes) throw new MessageTooLargeError('decompressed batch exceeds its maximum size')
        throw new CorruptRecordError('lz4 frame decodes to more than it declares')
      }
      out.set(data.subarray(block.start, block.end), op)
      op += size
    } else {
      const windowStart = frame.independent ? blockStart : frameStart
      op = lz4DecodeBlock(data, block.start, block.end, out, op, windowStart, limit, limitIsMaxBytes)
    }
  }
  if (frame.contentSize >= 0 && op - frameStart !== frame.contentSize) {
    throw new CorruptRecordError(`lz4 frame decodes to ${op - frameStart} bytes, it declares ${frame.contentSize}`)
  }
  if (frame.contentChecksum && xxhash32(out, frameStart, op) !== u32le(data, frame.end - 4)) {
    throw new CorruptRecordError('lz4 frame content checksum mismatch')
  }
  return op
}

/** Compresses one block `src[start, end)` into `dst` at `dp`; returns the new position, or -1 if it would not shrink. */
function compressBlock (src: Uint8Array, start: number, end: number, dst: Uint8Array, dp: number, table: Int32Array): number {
  const len = end - start
  const dstStart = dp
  const dstLimit = dp + len
  let anchor = start
  if (len >= MF_LIMIT + 1) {
    table.fill(-1)
    const matchLimit = end - LAST_LITERALS
    const mfLimit = end - MF_LIMIT
    let ip = start
    while (ip <= mfLimit) {
      const seq = src[ip]! | (src[ip + 1]! << 8) | (src[ip + 2]! << 16) | (src[ip + 3]! << 24)
      const h = Math.imul(seq, 2654435761) >>> (32 - HASH_LOG)
      const ref = table[h]!
      table[h] = ip
      if (ref < 0 || ip - ref > 65535 || (src[ref]! | (src[ref + 1]! << 8) | (src[ref + 2]! << 16) | (src[ref + 3]! << 24)) !== seq) {
        ip += 1 + ((ip - anchor) >>> 6)
        continue
      }
      let m = ip
      let r = ref
      while (m > anchor && r > start && src[m - 1] === src[r - 1]) { m--; r-- }
      let mEnd = m + MIN_MATCH + (ip - m)
      while (mEnd < matchLimit && src[mEnd] === src[r + (mEnd - m)]) mEnd++
      dp = writeSequence(src, anchor, m, m - r, mEnd - m, dst, dp, dstLimit)
      if (dp < 0) return -1
      ip = mEnd
      anchor = ip
    }
  }
  dp = writeSequence(src, anchor, end, 0, 0, dst, dp, dstLimit)
  return dp < 0 || dp - dstStart >= len ? -1 : dp
}

/** Writes literals `src[litStart, litEnd)` then (if matchLen > 0) a match; -1 if past `limit`. */
function writeSequence (
  src: Uint8Array, litStart: number, litEnd: number, offset: number, matchLen: number, dst: Uint8Array, dp: number, limit: number,
): number {
  const lit = litEnd - litStart
  const ml = matchLen > 0 ? matchLen - MIN_MATCH : 0
  if (dp + 1 + lit + Math.floor(lit / 255) + 1 + 2 + Math.floor(ml / 255) + 1 > limit) return -1
  dst[dp++] = ((lit >= 15 ? 15 : lit) << 4) | (ml >= 15 ? 15 : ml)
  if (lit >= 15) {
    let n = lit - 15
    while (n >= 255) { dst[dp++] = 255; n -= 255 }
    dst[dp++] = n
  }
  dst.set(src.subarray(litStart, litEnd), dp)
  dp += lit
  if (matchLen === 0) return dp
  dst[dp++] = offset & 0xff
  dst[dp++] = offset >>> 8
  if (ml >= 15) {
    let n = ml - 15
    while (n >= 255) { dst[dp++] = 255; n -= 255 }
    dst[dp++] = n
  }
  return dp
}

/** Bytes a frame of `n` input bytes may take (every block stored, plus headers). */
function frameBound (n: number): number {
  return 7 + Math.ceil(n / ENCODE_BLOCK) * 4 + n + 4
}

/**
 * Compresses `src` into one LZ4 frame as Kafka's Java producer writes it: version 1,
 * independent 64 KiB blocks, no block or content checksum, no content size. A block that
 * does not shrink is stored uncompressed.
 */
export function lz4Encode (src: Uint8Array): Uint8Array {
  const out = new Uint8Array(frameBound(src.length))
  putU32le(out, 0, MAGIC)
  out[4] = FLG_VERSION | FLG_INDEPENDENT
  out[5] = 4 << 4
  out[6] = (xxhash32(out, 4, 6) >>> 8) & 0xff
  let pos = 7
  const table = new Int32Array(1 << HASH_LOG)
  for (let at = 0; at < src.length; at += ENCODE_BLOCK) {
    const end = Math.min(src.length, at + ENCODE_BLOCK)
    const written = compressBlock(src, at, end, out, pos + 4, table)
    if (written < 0) {
      putU32le(out, pos, (BLOCK_UNCOMPRESSED | (end - at)) >>> 0)
      out.set(src.subarray(at, end), pos + 4)
      pos += 4 + end - at
    } else {
      putU32le(out, pos, written - pos - 4)
      pos = written
    }
  }
  putU32le(out, pos, 0)
  return out.subarray(0, pos + 4)
}
