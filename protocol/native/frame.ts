/**
 * Native frames: the same bytes on TCP (a stream of frames) and WebSocket (one frame per
 * binary message). All integers big-endian.
 *
 *   RequestFrame  := length:u32 apiKey:u16 apiVersion:u16 correlationId:u32
 *                    clientIdLength:u16 clientId:utf8[clientIdLength]
 *                    bodyLength:u32 body:msgpack[bodyLength] records:bytes[rest]
 *   ResponseFrame := length:u32 correlationId:u32 bodyLength:u32 body:msgpack[bodyLength]
 *                    records:bytes[rest]
 *
 * `length` counts the bytes after itself. `body` holds the control fields (plain msgpack,
 * a map; see apis/*.ts for each api's grammar). `records` holds raw RecordBatch v2 bytes
 * that the body refers to by length, in order (e.g. a produce body lists each partition's
 * `recordsBytes`; the partitions' batches follow each other in the records section). Record
 * bytes are never inside msgpack, so the broker writes fetched file bytes straight after the
 * body and reads produced batches as a view of the frame, without copying or re-encoding.
 *
 * Correlation id 0 is reserved for broker notices (a response nobody asked for): the broker
 * sends one with an error just before it closes a connection (frame too large, slow reader,
 * idle timeout, too many connections), so a client can report the named reason. Over
 * WebSocket a message larger than maxFrameBytes is refused by the WebSocket layer itself
 * (close code 1009) before the broker sees a byte; clients map that code to FRAME_TOO_LARGE.
 */

import { FrameAssembler, type FrameSizeReader } from '../bytes/frame-assembler.js'
import { Packr } from 'msgpackr'
import { FrameTooLargeError, MalformedFrameError } from '../errors.js'

export const REQUEST_HEADER_FIXED_BYTES = 4 + 2 + 2 + 4 + 2 + 4
export const RESPONSE_HEADER_BYTES = 4 + 4 + 4
export const NOTICE_CORRELATION_ID = 0
export const MAX_CLIENT_ID_BYTES = 256

/** Plain msgpack (no record extension) so any msgpack decoder can read the bodies; int64 as number. */
export const packr = new Packr({ useRecords: false, int64AsType: 'number', mapsAsObjects: true })

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

export interface RequestHeader {
  apiKey: number
  apiVersion: number
  correlationId: number
  clientId: string
}

export interface RequestFrame extends RequestHeader {
  /** The msgpack body, not yet decoded. */
  bodyBytes: Uint8Array
  /** The records section (a view into the frame). */
  records: Uint8Array
}

export interface ResponseFrame {
  correlationId: number
  bodyBytes: Uint8Array
  records: Uint8Array
}

function viewOf (b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength)
}

/** Encodes a client id once per connection. */
export function encodeClientId (clientId: string): Uint8Array {
  const bytes = utf8Encoder.encode(clientId)
  if (bytes.length > MAX_CLIENT_ID_BYTES) throw new MalformedFrameError(`client id longer than ${MAX_CLIENT_ID_BYTES} bytes`)
  return bytes
}

/**
 * Encodes a request as parts for a vectored write: [header, body, ...records]. The length
 * prefix covers all parts.
 */
export function encodeRequestFrame (
  apiKey: number, apiVersion: number, correlationId: number, clientId: Uint8Array,
  body: unknown, records: readonly Uint8Array[] = [],
): Uint8Array[] {
  const bodyBytes = packr.pack(body) as Uint8Array
  let recordsLength = 0
  for (const r of records) recordsLength += r.length
  const headerLength = REQUEST_HEADER_FIXED_BYTES + clientId.length
  const head = new Uint8Array(headerLength)
  const v = viewOf(head)
  v.setUint32(0, headerLength - 4 + bodyBytes.length + recordsLength)
  v.setUint16(4, apiKey)
  v.setUint16(6, apiVersion)
  v.setUint32(8, correlationId)
  v.setUint16(12, clientId.length)
  head.set(clientId, 14)
  v.setUint32(14 + clientId.length, bodyBytes.length)
  return [head, bodyBytes, ...records]
}

/** Encodes a response as parts: [header, body, ...records]. */
export function encodeResponseFrame (correlationId: number, body: unknown, records: readonly Uint8Array[] = []): Uint8Array[] {
  const bodyBytes = packr.pack(body) as Uint8Array
  let recordsLength = 0
  for (const r of records) recordsLength += r.length
  const head = new Uint8Array(RESPONSE_HEADER_BYTES)
  const v = viewOf(head)
  v.setUint32(0, RESPONSE_HEADER_BYTES - 4 + bodyBytes.length + recordsLength)
  v.setUint32(4, correlationId)
  v.setUint32(8, bodyBytes.length)
  return [head, bodyBytes, ...records]
}

/** Joins frame parts into one buffer (for WebSocket messages). */
export function concatParts (parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!
  let total = 0
  for (const p of parts) total += p.length
  const out = new Uint8Array(total)
  let pos = 0
  for (const p of parts) {
    out.set(p, pos)
    pos += p.length
  }
  return out
}

/** Parses a whole request frame (length prefix included). Throws MalformedFrameError. */
export function parseRequestFrame (frame: Uint8Array): RequestFrame {
  if (frame.length < REQUEST_HEADER_FIXED_BYTES) throw new MalformedFrameError(`request frame of ${frame.length} bytes is shorter than its header`)
  const v = viewOf(frame)
  if (v.getUint32(0) !== frame.length - 4) throw new MalformedFrameError('request frame length prefix disagrees with its size')
  const clientIdLength = v.getUint16(12)
  if (clientIdLength > MAX_CLIENT_ID_BYTES) throw new MalformedFrameError(`client id length ${clientIdLength} exceeds ${MAX_CLIENT_ID_BYTES}`)
  const bodyLengthAt = 14 + clientIdLength
  if (bodyLengthAt + 4 > frame.length) throw new MalformedFrameError('request frame ends inside its header')
  let clientId: string
  try {
    clientId = utf8Decoder.decode(frame.subarray(14, bodyLengthAt))
  } catch (err) {
    throw new MalformedFrameError('client id is not valid UTF-8', { cause: err })
  }
  const bodyLength = v.getUint32(bodyLengthAt)
  const bodyStart = bodyLengthAt + 4
  if (bodyStart + bodyLength > frame.length) throw new MalformedFrameError('request body length runs past the frame')
  return {
    apiKey: v.getUint16(4),
    apiVersion: v.getUint16(6),
    correlationId: v.getUint32(8),
    clientId,
    bodyBytes: frame.subarray(bodyStart, bodyStart + bodyLength),
    records: frame.subarray(bodyStart + bodyLength),
  }
}

/** Parses a whole response frame (length prefix included). Throws MalformedFrameError. */
export function parseResponseFrame (frame: Uint8Array): ResponseFrame {
  if (frame.length < RESPONSE_HEADER_BYTES) throw new MalformedFrameError(`response frame of ${frame.length} bytes is shorter than its header`)
  const v = viewOf(frame)
  if (v.getUint32(0) !== frame.length - 4) throw new MalformedFrameError('response frame length prefix disagrees with its size')
  const bodyLength = v.getUint32(8)
  if (RESPONSE_HEADER_BYTES + bodyLength > frame.length) throw new MalformedFrameError('response body length runs past the frame')
  return {
    correlationId: v.getUint32(4),
    bodyBytes: frame.subarray(RESPONSE_HEADER_BYTES, RESPONSE_HEADER_BYTES + bodyLength),
    records: frame.subarray(RESPONSE_HEADER_BYTES + bodyLength),
  }
}

/** Decodes a msgpack body; undecodable bytes are a MalformedFrameError. */
export function decodeBody (bodyBytes: Uint8Array): unknown {
  if (bodyBytes.length === 0) throw new MalformedFrameError('empty msgpack body')
  try {
    return packr.unpack(bodyBytes)
  } catch (err) {
    throw new MalformedFrameError(`body is not valid msgpack: ${(err as Error).message.slice(0, 100)}`, { cause: err })
  }
}

/**
 * The 4-byte big-endian length prefix of native (and Kafka) frames, read for
 * FrameAssembler: the frame's total size, checked against `maxFrameBytes` and the smallest
 * header before a byte of the frame is buffered, so an oversized frame costs nothing but
 * its prefix.
 */
export function lengthPrefixReader (maxFrameBytes: number, minFrameBytes: number): FrameSizeReader {
  return (bytes, pos, end) => {
    if (end - pos < 4) return -1
    const total = (((bytes[pos]! << 24) | (bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!) >>> 0) + 4
    if (total > maxFrameBytes) throw new FrameTooLargeError(`frame of ${total} bytes exceeds maxFrameBytes ${maxFrameBytes}`)
    if (total < minFrameBytes) throw new MalformedFrameError(`frame of ${total} bytes is shorter than any header`)
    return total
  }
}

/**
 * Push parser for a byte stream of frames (the client's responses; the broker drives a
 * FrameAssembler itself, with its shared budget). `push` takes chunks as they arrive and
 * returns the whole frames they complete (each including its length prefix): views of the
 * chunk where a frame lies within it, one buffer of the frame's size where it spans chunks.
 *
 * After a FrameTooLargeError or MalformedFrameError the stream is unusable (its framing is
 * lost); the owner closes the connection.
 */
export class FrameDecoder {
  readonly maxFrameBytes: number
  readonly minFrameBytes: number
  readonly #assembler: FrameAssembler

  constructor (maxFrameBytes: number, minFrameBytes = RESPONSE_HEADER_BYTES) {
    this.maxFrameBytes = maxFrameBytes
    this.minFrameBytes = minFrameBytes
    this.#assembler = new FrameAssembler(lengthPrefixReader(maxFrameBytes, minFrameBytes), 4)
  }

  /** Bytes held for an incomplete frame. */
  get bufferedBytes (): number { return this.#assembler.bufferedBytes }

  push (chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = []
    this.#assembler.push(chunk, frame => { frames.push(frame); return true })
    return frames
  }
}
