/**
 * WebSocket transport: the native protocol's frames carried one per binary message
 * (docs/architecture.md §5), over any WHATWG-style WebSocket: the global one of browsers and
 * Node >= 22 (undici's), or the `ws` package's (Node 20 has no global one; client.ts picks).
 * Browser-safe: no Buffer, no node: imports; binaryType is 'arraybuffer' so every runtime
 * hands over ArrayBuffers.
 *
 * What differs between them, and is handled here (tests/integration/node-runtimes.test.ts):
 *   - a failed handshake: `ws` gives an error with the system code (ECONNREFUSED) or the
 *     HTTP status ("Unexpected server response: 403"); browsers and Node's global WebSocket
 *     give none (Node 24: an empty message; Node 22: "Received network error or non-101
 *     status code."), so the error names the likely causes instead.
 *   - after a failed handshake Node 22's global WebSocket fires `error` but never `close`
 *     (readyState stays CONNECTING): the open promise settles on whichever comes first.
 *
 * Backpressure: the WebSocket API has no drain event, so `write` reports false once
 * `bufferedAmount` passes HIGH_WATER_BYTES and a short poll reports onDrain when it falls
 * below LOW_WATER_BYTES.
 */

import { FrameTooLargeError, MalformedFrameError, OriginNotAllowedError } from '../../protocol/errors.js'
import { concatParts } from '../../protocol/native/frame.js'
import type { Transport, TransportFactory, TransportHandlers, TransportOptions } from './transport.js'

/** The part of the WHATWG WebSocket interface this transport uses (`ws` matches it too). */
export interface WebSocketLike {
  binaryType: string
  readonly readyState: number
  readonly bufferedAmount: number
  send (data: Uint8Array<ArrayBuffer>): void
  close (code?: number, reason?: string): void
  addEventListener (type: 'message', listener: (event: { data: unknown }) => void): void
  addEventListener (type: 'error', listener: (event: { error?: unknown }) => void): void
  addEventListener (type: 'close', listener: (event: { code?: number, reason?: string }) => void): void
  addEventListener (type: 'open', listener: () => void): void
}

/** A WebSocket constructor: `globalThis.WebSocket` in browsers, `ws`'s in Node. */
export type WebSocketConstructor = new (url: string) => WebSocketLike

const HIGH_WATER_BYTES = 4 * 1024 * 1024
const LOW_WATER_BYTES = 1024 * 1024
const DRAIN_POLL_MS = 2
const OPEN = 1

class WebSocketTransport implements Transport {
  readonly #ws: WebSocketLike
  readonly #handlers: TransportHandlers
  readonly #maxFrameBytes: number
  #closed = false
  #drainTimer: ReturnType<typeof setInterval> | null = null

  constructor (ws: WebSocketLike, handlers: TransportHandlers, maxFrameBytes: number) {
    this.#ws = ws
    this.#handlers = handlers
    this.#maxFrameBytes = maxFrameBytes
    ws.addEventListener('message', event => this.#onMessage(event.data))
    ws.addEventListener('close', event => this.#finish(closeError(event)))
    ws.addEventListener('error', event => this.#finish(errorOf(event, 'WebSocket error')))
  }

  #onMessage (data: unknown): void {
    if (this.#closed) return
    if (!(data instanceof ArrayBuffer)) {
      this.#fail(new MalformedFrameError('WebSocket message is not binary'))
      return
    }
    const frame = new Uint8Array(data)
    if (frame.length > this.#maxFrameBytes) {
      this.#fail(new FrameTooLargeError(`frame of ${frame.length} bytes exceeds maxFrameBytes ${this.#maxFrameBytes}`))
      return
    }
    const length = frame.length < 4 ? -1 : ((frame[0]! << 24) | (frame[1]! << 16) | (frame[2]! << 8) | frame[3]!) >>> 0
    if (length + 4 !== frame.length) {
      this.#fail(new MalformedFrameError('WebSocket message is not exactly one frame'))
      return
    }
    this.#handlers.onFrame(frame)
  }

  write (parts: readonly Uint8Array[]): boolean {
    if (this.#closed || this.#ws.readyState !== OPEN) return true
    // Our frames never live in a SharedArrayBuffer.
    this.#ws.send(concatParts(parts) as Uint8Array<ArrayBuffer>)
    if (this.#ws.bufferedAmount < HIGH_WATER_BYTES) return true
    this.#drainTimer ??= setInterval(() => {
      if (this.#closed || this.#ws.bufferedAmount <= LOW_WATER_BYTES) {
        this.#stopDrainPoll()
        if (!this.#closed) this.#handlers.onDrain()
      }
    }, DRAIN_POLL_MS)
    return false
  }

  close (): void {
    this.#finish()
  }

  #stopDrainPoll (): void {
    if (this.#drainTimer !== null) clearInterval(this.#drainTimer)
    this.#drainTimer = null
  }

  #fail (error: Error): void {
    this.#finish(error)
  }

  #finish (error?: Error): void {
    if (this.#closed) return
    this.#closed = true
    this.#stopDrainPoll()
    try {
      this.#ws.close()
    } catch {
      // Closing a socket that never opened throws in some runtimes; it is closed either way.
    }
    this.#handlers.onClose(error)
  }
}

/** WebSocket close code 1009: the peer refused a message as too big. */
const CLOSE_MESSAGE_TOO_BIG = 1009

/**
 * The error a close event stands for. A broker's WebSocket layer refuses a message over its
 * maxFrameBytes with close code 1009 before the frame reaches the native protocol (so no
 * FRAME_TOO_LARGE notice is sent): reported as the same typed error.
 */
function closeError (event: { code?: number, reason?: string }): Error | undefined {
  if (event.code === CLOSE_MESSAGE_TOO_BIG) {
    return new FrameTooLargeError(`the broker refused a frame larger than its maxFrameBytes (WebSocket close 1009${event.reason ? `: ${event.reason}` : ''})`)
  }
  return undefined
}

/** The system error code (ECONNREFUSED, ...) `ws` puts on its errors; other runtimes give none. */
function codeOf (cause: unknown): unknown {
  return typeof cause === 'object' && cause !== null && 'code' in cause ? (cause as { code: unknown }).code : undefined
}

/** An Error for a WebSocket error event, keeping the runtime's error (with its code) as cause. */
function errorOf (event: { error?: unknown }, message: string): Error {
  const cause = event.error
  const code = codeOf(cause)
  const detail = cause instanceof Error && cause.message !== '' ? `: ${cause.message}` : ''
  return Object.assign(new Error(message + detail, { cause }), code === undefined ? {} : { code })
}

/** A transport factory for WebSocket URLs using the given constructor. */
export function webSocketTransport (WebSocketImpl: WebSocketConstructor): TransportFactory {
  return (address: string, handlers: TransportHandlers, options: TransportOptions) => new Promise<Transport>((resolve, reject) => {
    let ws: WebSocketLike
    try {
      ws = new WebSocketImpl(address)
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)))
      return
    }
    ws.binaryType = 'arraybuffer'
    let settled = false
    const timer = setTimeout(() => {
      if (settled) return
      settled = true
      try { ws.close() } catch { /* not open yet */ }
      reject(Object.assign(new Error(`connect to ${address} timed out after ${options.connectTimeoutMs} ms`), { code: 'ETIMEDOUT' }))
    }, options.connectTimeoutMs)
    ws.addEventListener('open', () => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(new WebSocketTransport(ws, handlers, options.maxFrameBytes))
    })
    const failEarly = (event: { error?: unknown }): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      const cause = event.error
      if (cause instanceof Error && /\b403\b/.test(cause.message)) {
        // Node's ws reports the status; the broker answers 403 only for a refused Origin.
        reject(new OriginNotAllowedError(`the broker at ${address} refused this client's Origin (see httpAllowedOrigins)`, { cause }))
        return
      }
      // Browsers and Node's global WebSocket give no reason (no system code, no status): name the likely ones.
      reject(errorOf(event, codeOf(cause) === undefined
        ? `cannot open WebSocket ${address} (the broker is down, or refused it: a page whose Origin is not allowed by the broker's httpAllowedOrigins is refused)`
        : `cannot open WebSocket ${address}`))
    }
    ws.addEventListener('error', failEarly)
    ws.addEventListener('close', () => failEarly({}))
  })
}
