/**
 * Zstandard frame structure for RecordBatch v2 (compression code 4), read without decoding:
 * the frame header (descriptor, window descriptor, dictionary id, content size), every
 * block header (last flag, type, size), the optional content checksum, skippable frames
 * between frames. Written from the zstd format specification (RFC 8878).
 *
 * Every zstd decoder in Spool runs this walk first, so all of them refuse the same inputs
 * and none allocates on a header's word alone:
 * - a window larger than ZSTD_MAX_WINDOW_LOG allows is refused (MessageTooLargeError), as
 *   zstd's own decoder does by default (its windowLogMax limit is 27, 128 MiB);
 * - declared content sizes above `maxBytes` are refused before anything is decoded;
 * - each block's size is checked against its frame's block maximum (min(window, 128 KiB))
 *   and the input, so the walk also yields an upper bound of the decoded size;
 * - frames that need a dictionary are refused (Kafka producers never use one), as are
 *   reserved bits and reserved block types.
 */

import { CorruptRecordError, MessageTooLargeError } from '../errors.js'

const MAGIC = 0xfd2fb528
const SKIPPABLE_MASK = 0xfffffff0
const SKIPPABLE = 0x184d2a50
/** zstd's default decoder limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT): 128 MiB. */
export const ZSTD_MAX_WINDOW_LOG = 27
const BLOCK_SIZE_MAX = 128 * 1024

export interface ZstdFrame {
  start: number
  end: number
  /** Position of the window descriptor byte, or -1 for a single-segment frame. */
  windowDescriptorAt: number
  windowSize: number
  /** Declared content size, or -1 when absent. */
  contentSize: number
  /** Most the frame can decode to (its content size when declared). */
  bound: number
}

function u32le (d: Uint8Array, i: number): number {
  return (d[i]! | (d[i + 1]! << 8) | (d[i + 2]! << 16) | (d[i + 3]! << 24)) >>> 0
}

/** Walks every frame of `data`; see the file comment for what is checked. */
export function zstdFrameScan (data: Uint8Array, maxBytes: number): { frames: ZstdFrame[], bound: number } {
  const frames: ZstdFrame[] = []
  let bound = 0
  let declared = 0
  let pos = 0
  while (pos < data.length) {
    if (data.length - pos < 4) throw new CorruptRecordError('zstd data ends inside a frame magic')
    const magic = u32le(data, pos)
    if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE) {
      if (data.length - pos < 8 || u32le(data, pos + 4) > data.length - pos - 8) throw new CorruptRecordError('zstd skippable frame is truncated')
      pos += 8 + u32le(data, pos + 4)
      continue
    }
    if (magic !== MAGIC) throw new CorruptRecordError(`zstd frame magic is 0x${magic.toString(16)}, expected 0xfd2fb528`)
    const frame = scanFrame(data, pos)
    if (frame.contentSize >= 0) {
      declared += frame.contentSize
      if (declared > maxBytes) throw new MessageTooLargeError(`decompressed batch exceeds ${maxBytes} bytes (zstd frames declare ${declared})`)
    }
    frames.push(frame)
    bound += frame.bound
    pos = frame.end
  }
  if (frames.length === 0) throw new CorruptRecordError('zstd data holds no frame')
  return { frames, bound }
}

function scanFrame (data: Uint8Array, start: number): ZstdFrame {
  let pos = start + 4
  if (pos >= data.length) throw new CorruptRecordError('zstd frame header is truncated')
  const fhd = data[pos++]!
  const fcsFlag = fhd >>> 6
  const singleSegment = (fhd & 0x20) !== 0
  if ((fhd & 0x08) !== 0) throw new CorruptRecordError('zstd frame header sets its reserved bit')
  const checksum = (fhd & 0x04) !== 0
  const dictIdBytes = [0, 1, 2, 4][fhd & 3]!
  const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : 1 << fcsFlag
  const headerEnd = pos + (singleSegment ? 0 : 1) + dictIdBytes + fcsBytes
  if (headerEnd > data.length) throw new CorruptRecordError('zstd frame header is truncated')
  let windowSize = 0
  let windowDescriptorAt = -1
  if (!singleSegment) {
    windowDescriptorAt = pos
    const wd = data[pos++]!
    const windowLog = 10 + (wd >>> 3)
    if (windowLog > ZSTD_MAX_WINDOW_LOG) {
      throw new MessageTooLargeError(`zstd frame needs a 2^${windowLog}-byte window; at most 2^${ZSTD_MAX_WINDOW_LOG} is accepted`)
    }
    windowSize = 2 ** windowLog + (2 ** windowLog / 8) * (wd & 7)
  }
  let dictId = 0
  for (let i = 0; i < dictIdBytes; i++) dictId += data[pos + i]! * 2 ** (8 * i)
  pos += dictIdBytes
  if (dictId !== 0) throw new CorruptRecordError(`zstd frame needs dictionary ${dictId}`)
  let contentSize = -1
  if (fcsBytes > 0) {
    contentSize = 0
    for (let i = 0; i < Math.min(fcsBytes, 7); i++) contentSize += data[pos + i]! * 2 ** (8 * i)
    if (fcsBytes === 8 && data[pos + 7]! !== 0) contentSize = Number.MAX_SAFE_INTEGER
    if (fcsBytes === 2) contentSize += 256
    pos += fcsBytes
  }
  if (singleSegment) {
    windowSize = contentSize
    if (windowSize > 2 ** ZSTD_MAX_WINDOW_LOG) throw new MessageTooLargeError(`zstd frame needs a ${windowSize}-byte window; at most 2^${ZSTD_MAX_WINDOW_LOG} is accepted`)
  }
  const blockMax = Math.min(windowSize, BLOCK_SIZE_MAX)
  let bound = 0
  for (;;) {
    if (data.length - pos < 3) throw new CorruptRecordError('zstd frame ends inside a block header')
    const header = data[pos]! | (data[pos + 1]! << 8) | (data[pos + 2]! << 16)
    pos += 3
    const last = (header & 1) !== 0
    const type = (header >>> 1) & 3
    const size = header >>> 3
    if (type === 3) throw new CorruptRecordError('zstd block has the reserved block type')
    if (size > blockMax) throw new CorruptRecordError(`zstd block of ${size} bytes exceeds the frame's ${blockMax}-byte block maximum`)
    const stored = type === 1 ? 1 : size
    if (stored > data.length - pos) throw new CorruptRecordError('zstd block runs past the input')
    bound += type === 2 ? blockMax : size
    pos += stored
    if (last) break
  }
  if (checksum) {
    if (data.length - pos < 4) throw new CorruptRecordError('zstd frame ends inside its content checksum')
    pos += 4
  }
  if (contentSize >= 0) {
    if (contentSize > bound) throw new CorruptRecordError(`zstd frame declares ${contentSize} bytes, its blocks hold at most ${bound}`)
    bound = contentSize
  }
  return { start, end: pos, windowDescriptorAt, windowSize, contentSize, bound }
}

/**
 * The window descriptor byte for the smallest window >= `size` (at least 1 KiB), for a
 * decoder that sizes its window buffer from the header: a frame that can decode to at most
 * `size` bytes never refers further back than that, so its window can be declared smaller
 * without changing what it decodes to.
 */
export function zstdWindowDescriptorFor (size: number): number {
  let exponent = 0
  while (2 ** (10 + exponent) < size && exponent < ZSTD_MAX_WINDOW_LOG - 10) exponent++
  return exponent << 3
}
