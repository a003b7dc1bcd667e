/**
 * Raw sockets for the listener fuzzer: a TCP connection that records what comes back and
 * whether the peer closed it, the probes each protocol answers (a native ApiVersions request,
 * an MQTT PINGREQ), the WebSocket opening handshake and frames written by hand (client
 * frames masked, server frames read back), and simulations of the broker's framing over the
 * bytes a case sent, which say whether the broker owes an answer or may wait for more bytes.
 */

import { connect, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { FrameAssembler } from '../../protocol/bytes/frame-assembler.js'
import { MQTT_MAX_HEADER_BYTES, mqttHeaderReader } from '../../broker/protocols/mqtt/framer.js'
import { REQUEST_HEADER_FIXED_BYTES, concatParts, encodeClientId, encodeRequestFrame, lengthPrefixReader, parseResponseFrame } from '../../protocol/native/frame.js'
import { encodeFrame } from './codecs/websocket.js'

/** A client socket that keeps what it receives; `until` waits (bounded) for a condition. */
export class RawConn {
  readonly socket: Socket
  readonly chunks: Buffer[] = []
  receivedBytes = 0
  closed = false
  #waiters: Array<() => void> = []

  private constructor (socket: Socket) {
    this.socket = socket
    socket.on('data', d => {
      // Keep at most 1 MiB: a probe answer is found in the first bytes after the case's.
      if (this.receivedBytes < 1024 * 1024) this.chunks.push(d)
      this.receivedBytes += d.length
      this.#wake()
    })
    socket.on('close', () => { this.closed = true; this.#wake() })
    socket.on('error', () => {})
  }

  static open (port: number, timeoutMs = 5000): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true })
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`connect to ${port} took more than ${timeoutMs} ms`)) }, timeoutMs)
      socket.once('connect', () => { clearTimeout(timer); resolve(new RawConn(socket)) })
      socket.once('error', err => { clearTimeout(timer); reject(err) })
    })
  }

  #wake (): void {
    const w = this.#waiters
    this.#waiters = []
    for (const fn of w) fn()
  }

  get received (): Buffer { return Buffer.concat(this.chunks) }

  write (bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes)
  }

  /** Writes `bytes` a few at a time with a pause between writes (a trickling peer). */
  async trickle (bytes: Uint8Array, step: number, pauseMs: number, maxMs: number): Promise<void> {
    const deadline = performance.now() + maxMs
    for (let i = 0; i < bytes.length && !this.closed; i += step) {
      if (performance.now() > deadline) {
        this.write(bytes.subarray(i))
        return
      }
      this.write(bytes.subarray(i, i + step))
      await new Promise(resolve => setTimeout(resolve, pauseMs))
    }
  }

  /** Resolves true once `predicate` holds, false after `timeoutMs`. */
  async until (predicate: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs
    while (!predicate()) {
      const left = deadline - performance.now()
      if (left <= 0) return false
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, left)
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
    return true
  }

  destroy (): void { this.socket.destroy() }
}

// ----- native -----

export const PROBE_CORRELATION_ID = 0x7ffffff0

/** An ApiVersions request: every native connection whose framing is intact answers it. */
export function nativeProbe (): Uint8Array {
  return concatParts(encodeRequestFrame(18, 0, PROBE_CORRELATION_ID, encodeClientId('fuzz-probe'), {}))
}

/** Whether a response with the probe's correlation id is in `bytes` (a stream of response frames). */
export function nativeProbeAnswered (bytes: Uint8Array): boolean {
  const assembler = new FrameAssembler(lengthPrefixReader(256 * 1024 * 1024, 12), 4)
  let found = false
  try {
    assembler.push(bytes, frame => {
      if (parseResponseFrame(frame).correlationId === PROBE_CORRELATION_ID) found = true
      return !found
    })
  } catch {
    return found
  }
  return found
}

/**
 * - `complete`: whole frames, the last of them exactly the probe (`tail` bytes): the broker
 *   owes an answer to the probe, or a close;
 * - `swallowed`: whole frames, but a length field took the probe into an earlier frame: the
 *   broker owes nothing more (it may answer that frame, and waits for the next);
 * - `partial`: a frame still arriving: the broker may wait;
 * - `error`: framing the broker refuses: it owes a close.
 */
export type FramingVerdict = 'complete' | 'swallowed' | 'partial' | 'error'

/** How the broker's framing reads `bytes`, whose last `tail` bytes are the probe. */
export function framing (bytes: Uint8Array, reader: ReturnType<typeof lengthPrefixReader>, maxHeader: number, tail: number): FramingVerdict {
  const assembler = new FrameAssembler(reader, maxHeader)
  let lastSize = 0
  let total = 0
  try {
    assembler.push(bytes, frame => {
      lastSize = frame.length
      total += frame.length
      return true
    })
  } catch {
    return 'error'
  }
  if (assembler.bufferedBytes > 0) return 'partial'
  return total === bytes.length && lastSize === tail ? 'complete' : 'swallowed'
}

export function nativeFraming (bytes: Uint8Array, maxFrameBytes: number, tail = nativeProbe().length): FramingVerdict {
  return framing(bytes, lengthPrefixReader(maxFrameBytes, REQUEST_HEADER_FIXED_BYTES), 4, tail)
}

// ----- MQTT -----

export const PINGREQ = Uint8Array.of(0xc0, 0x00)

/** Whether a PINGRESP is among the packets in `bytes`. */
export function mqttPingAnswered (bytes: Uint8Array): boolean {
  const assembler = new FrameAssembler(mqttHeaderReader(256 * 1024 * 1024), MQTT_MAX_HEADER_BYTES)
  let found = false
  try {
    assembler.push(bytes, p => { if (p[0] === 0xd0) found = true; return !found })
  } catch {
    return found
  }
  return found
}

export function mqttFraming (bytes: Uint8Array, maxPacketBytes: number, tail = PINGREQ.length): FramingVerdict {
  return framing(bytes, mqttHeaderReader(maxPacketBytes), MQTT_MAX_HEADER_BYTES, tail)
}

// ----- WebSocket -----

/** Opens a WebSocket by hand on `path` (raw socket, so the frames after it can be anything). */
export async function openWebSocket (port: number, path: string, subprotocol: string | null, timeoutMs = 5000): Promise<RawConn | null> {
  const conn = await RawConn.open(port, timeoutMs)
  const key = randomBytes(16).toString('base64')
  conn.write(Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${subprotocol === null ? '' : `Sec-WebSocket-Protocol: ${subprotocol}\r\n`}\r\n`))
  const upgraded = await conn.until(() => conn.received.includes('\r\n\r\n') || conn.closed, timeoutMs)
  const head = conn.received
  if (!upgraded || !head.subarray(0, 12).toString().startsWith('HTTP/1.1 101')) {
    conn.destroy()
    return null
  }
  // Keep only what follows the handshake.
  const rest = head.subarray(head.indexOf('\r\n\r\n') + 4)
  conn.chunks.length = 0
  conn.receivedBytes = 0
  if (rest.length > 0) conn.chunks.push(rest)
  return conn
}

/** One binary message as one masked client frame. */
export function wsBinary (payload: Uint8Array): Uint8Array {
  return encodeFrame({ fin: true, rsv: 0, opcode: 2, masked: true, payload, declared: payload.length, lengthBits: payload.length < 126 ? 7 : payload.length < 65536 ? 16 : 64 })
}

/** The payloads of the binary/text data messages in a stream of server frames (unmasked). */
export function wsServerMessages (bytes: Uint8Array): { messages: Uint8Array[], closed: boolean } {
  const messages: Uint8Array[] = []
  let closed = false
  let pos = 0
  let current: Uint8Array[] = []
  while (pos + 2 <= bytes.length) {
    const b0 = bytes[pos]!
    const b1 = bytes[pos + 1]!
    let len = b1 & 0x7f
    let head = 2
    if (len === 126) {
      if (pos + 4 > bytes.length) break
      len = (bytes[pos + 2]! << 8) | bytes[pos + 3]!
      head = 4
    } else if (len === 127) {
      if (pos + 10 > bytes.length) break
      len = Number(new DataView(bytes.buffer, bytes.byteOffset + pos + 2, 8).getBigUint64(0))
      head = 10
    }
    if ((b1 & 0x80) !== 0) head += 4
    if (pos + head + len > bytes.length) break
    const payload = bytes.subarray(pos + head, pos + head + len)
    const opcode = b0 & 0x0f
    if (opcode === 8) closed = true
    if (opcode <= 2) {
      current.push(payload)
      if ((b0 & 0x80) !== 0) {
        messages.push(concatParts(current))
        current = []
      }
    }
    pos += head + len
  }
  return { messages, closed }
}
