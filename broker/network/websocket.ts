/**
 * WebSocket endpoints on the HTTP port (`/ws` for the native protocol, `/mqtt` for MQTT):
 * one acceptor that upgrades the HTTP request (the `ws` library does the handshake and the
 * message framing) and hands the WebSocket to the connection registry as a channel of the
 * endpoint's protocol, with the upgrade request kept as the channel's peer information.
 *
 * Memory: `ws` keeps every chunk it receives until it can parse a frame, so a peer writing
 * a frame one byte at a time cost ~130 bytes of broker memory per byte. The acceptor puts
 * a frame gatherer between the socket and `ws`: the same FrameAssembler (and the same
 * broker-wide budget) as every protocol's framing, reading WebSocket frame headers (RFC 6455
 * §5.2), so `ws` only ever sees whole frames, each in one buffer. A message may be split
 * into at most MAX_FRAGMENTS frames (browsers and Node send one): a message of thousands of
 * tiny fragments would cost the same per-fragment overhead inside `ws`.
 */

import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import { WebSocketServer, type WebSocket } from 'ws'
import { FrameAssembler, type FrameSizeReader } from '../../protocol/bytes/frame-assembler.js'
import type { ByteBudget } from './budget.js'
import { END_GRACE_MS } from './channel.js'

/** Frames one message may be split into. */
export const MAX_FRAGMENTS = 64
/** The longest WebSocket frame header: 2 bytes, a 64-bit length, a 4-byte mask. */
export const MAX_WS_HEADER_BYTES = 14

export type UpgradeHandler = (req: IncomingMessage, socket: Socket, head: Buffer) => void

export interface WebSocketAcceptorOptions {
  /** Largest message accepted (ws closes with 1009 past it). */
  maxPayload: number
  /** Subprotocol chosen among those the client offers (MQTT: `mqtt`); none when omitted. */
  subprotocol?: string
  budget: ByteBudget | null
  logger: Logger
}

export interface WebSocketAcceptor {
  /** Upgrades the request and calls `onOpen` with the WebSocket. */
  upgrade (req: IncomingMessage, socket: Socket, head: Buffer, onOpen: (ws: WebSocket, socket: Socket) => void): void
  close (): void
}

export function webSocketAcceptor (options: WebSocketAcceptorOptions): WebSocketAcceptor {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxPayload,
    perMessageDeflate: false,
    clientTracking: false,
    ...(options.subprotocol === undefined
      ? {}
      : { handleProtocols: (protocols: Set<string>) => protocols.has(options.subprotocol!) ? options.subprotocol! : (protocols.values().next().value ?? false) }),
  })
  return {
    upgrade (req, socket, head, onOpen) {
      wss.handleUpgrade(req, socket, head, ws => {
        ws.binaryType = 'nodebuffer'
        gatherFrames(socket, options)
        onOpen(ws, socket)
      })
    },
    close () { wss.close() },
  }
}

/** Answers an upgrade request with an HTTP error and closes (destroyed if the peer never reads). */
export function refuseUpgrade (socket: Socket, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`)
  // An upgraded socket is paused: read (and drop) what the peer still sends, so that its
  // FIN or reset is seen and the socket closes; cut it off if the peer keeps it open.
  socket.resume()
  setTimeout(() => socket.destroy(), END_GRACE_MS).unref()
}

/**
 * Reads a WebSocket frame header: FIN/opcode byte, mask bit and 7-bit length, 16- or 64-bit
 * extended length, 4-byte masking key. A payload over `maxPayload` is given to `ws` as the
 * header alone, which `ws` refuses (close 1009).
 */
export function wsFrameSize (maxPayload: number, onTooLarge: () => void): FrameSizeReader {
  return (b, pos, end) => {
    if (end - pos < 2) return -1
    const second = b[pos + 1]!
    let length = second & 0x7f
    let header = 2
    if (length === 126) {
      if (end - pos < 4) return -1
      length = (b[pos + 2]! << 8) | b[pos + 3]!
      header = 4
    } else if (length === 127) {
      if (end - pos < 10) return -1
      const high = ((b[pos + 2]! << 24) | (b[pos + 3]! << 16) | (b[pos + 4]! << 8) | b[pos + 5]!) >>> 0
      const low = ((b[pos + 6]! << 24) | (b[pos + 7]! << 16) | (b[pos + 8]! << 8) | b[pos + 9]!) >>> 0
      length = high > 0 ? Number.MAX_SAFE_INTEGER : low
      header = 10
    }
    if ((second & 0x80) !== 0) header += 4
    if (end - pos < header) return -1
    if (length > maxPayload) {
      onTooLarge()
      return header
    }
    return header + length
  }
}

/** Replaces ws's socket reader with one that hands it whole frames (see the file header). */
function gatherFrames (socket: Socket, options: WebSocketAcceptorOptions): void {
  type Reader = (this: Socket, chunk: Buffer) => void
  const wsReaders = new Set(socket.listeners('data') as Reader[])
  if (wsReaders.size === 0) return
  socket.removeAllListeners('data')
  // `ws` stops reading by removing its listener (after a protocol error, on close): it must
  // then stop getting frames from here, as it would from the socket.
  const removeListener = socket.removeListener.bind(socket)
  const remove = function (this: Socket, event: string | symbol, fn: Reader): Socket {
    if (event === 'data' && wsReaders.delete(fn)) {
      if (wsReaders.size === 0) socket.resume()
      return socket
    }
    return removeListener(event, fn)
  } as Socket['removeListener']
  socket.removeListener = remove
  socket.off = remove
  let passThrough = false
  let fragments = 0
  const deliver = (bytes: Uint8Array): void => {
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (const read of wsReaders) read.call(socket, buf)
  }
  const assembler = new FrameAssembler(wsFrameSize(options.maxPayload, () => { passThrough = true }), MAX_WS_HEADER_BYTES, options.budget)
  const sink = (frame: Uint8Array): boolean => {
    const opcode = frame[0]! & 0x0f
    const fin = (frame[0]! & 0x80) !== 0
    if (opcode < 8) {
      // Data frames: count the fragments of the message they belong to.
      fragments = fin ? 0 : fragments + 1
      if (fragments > MAX_FRAGMENTS) {
        options.logger.warn({ peer: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`, fragments }, 'closing a WebSocket whose message has too many fragments')
        socket.destroy()
        return false
      }
    }
    deliver(frame)
    return !passThrough && !socket.destroyed
  }
  let cancelWait: (() => void) | null = null
  const blocked = (): void => {
    socket.pause()
    cancelWait = options.budget!.whenAvailable(() => {
      cancelWait = null
      if (socket.destroyed) return
      if (assembler.resume(sink) === 'blocked') blocked()
      else socket.resume()
    })
  }
  socket.on('data', (chunk: Buffer) => {
    if (wsReaders.size === 0) return
    if (passThrough) {
      deliver(chunk)
      return
    }
    try {
      if (assembler.push(chunk, sink) === 'blocked') blocked()
    } catch (err) {
      options.logger.warn({ err: (err as Error).message }, 'closing a WebSocket with an unreadable frame header')
      socket.destroy()
    }
  })
  socket.once('close', () => {
    cancelWait?.()
    assembler.dispose()
  })
}
