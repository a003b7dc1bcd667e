/**
 * One client connection over any ByteChannel (TCP or WebSocket): framing, limits, request
 * dispatch and response writing.
 *
 * Request path: chunk → FrameDecoder (length prefix checked against maxFrameBytes before
 * anything is buffered) → parseRequestFrame → in-flight limit → dispatcher → response
 * frame written as parts. Requests are handled concurrently and answered as they complete,
 * so a long-polling fetch never holds up a produce on the same connection; produce appends
 * still happen in arrival order because the append itself is synchronous on arrival.
 *
 * Limits, each with its named error (protocol/errors.ts):
 *   maxFrameBytes        FRAME_TOO_LARGE   notice, then close (the stream's framing is lost)
 *   malformed header     MALFORMED_FRAME   notice, then close
 *   maxInFlightRequests  TOO_MANY_IN_FLIGHT answered on that request; the connection stays
 *   maxQueuedBytes       SLOW_READER       notice behind the queued bytes, then close; destroyed
 *                                          if it still does not read
 *   idleTimeoutMs        IDLE_TIMEOUT      notice, then close
 * Reading pauses while more than a quarter of maxQueuedBytes waits to be written, so a slow
 * reader is throttled before it is cut off.
 */

import type { Logger } from 'pino'
import {
  FrameDecoder, NOTICE_CORRELATION_ID, REQUEST_HEADER_FIXED_BYTES, encodeResponseFrame, parseRequestFrame,
  type RequestFrame,
} from '../../../protocol/native/frame.js'
import {
  IdleTimeoutError, MalformedFrameError, SlowReaderError, SpoolError, TooManyInFlightError, UnknownServerError,
} from '../../../protocol/errors.js'
import type { BrokerMetrics } from '../../observability/metrics.js'
import type { ByteChannel, ListenerName } from '../../network/channel.js'

export interface ConnectionInfo {
  readonly id: number
  readonly listener: ListenerName
  readonly remoteAddress: string
  readonly clientId: string
  readonly connectedAtMs: number
  readonly bytesIn: number
  readonly bytesOut: number
  readonly inFlight: number
  /** The consumer group this connection heartbeats for, if any (shown in the console). */
  readonly group: string | null
  noteGroup (groupId: string | null): void
}

export interface RequestContext {
  readonly connection: ConnectionInfo
  readonly apiVersion: number
  readonly correlationId: number
  /** The frame's records section (a view; valid for the life of the request). */
  readonly records: Uint8Array
  /** Aborted when the connection closes, so long polls stop waiting. */
  readonly signal: AbortSignal
  /** This connection's response memory: what a fetch may still read (see ResponseRoom). */
  readonly room: ResponseRoom
}

/**
 * Bytes of response data a connection may hold: maxQueuedBytes minus what waits to be
 * written minus what its fetches are reading. A fetch reads at most what is available and
 * reserves it while it reads, so a client that pipelines many large fetches without
 * reading cannot make the broker read (allocate) more than the limit for it. A handler
 * that throws SlowReaderError closes the connection with that notice.
 */
export interface ResponseRoom {
  available (): number
  /** Response bytes written but not yet taken by the peer. */
  queued (): number
  reserve (bytes: number): void
  release (bytes: number): void
}

export interface HandlerResult {
  body: Record<string, unknown>
  records?: readonly Uint8Array[]
}

/** Turns a request into a response (null = no response, e.g. acks=0). */
export type Dispatch = (frame: RequestFrame, ctx: RequestContext) => HandlerResult | null | Promise<HandlerResult | null>

export interface ConnectionLimits {
  maxFrameBytes: number
  maxInFlightRequests: number
  maxQueuedBytes: number
  idleTimeoutMs: number
}

export interface ConnectionOptions {
  id: number
  channel: ByteChannel
  limits: ConnectionLimits
  dispatch: Dispatch
  logger: Logger
  metrics: BrokerMetrics
  now?: () => number
  onClose?: (connection: Connection) => void
}

const SNIPPET_BYTES = 32

export class Connection implements ConnectionInfo {
  readonly id: number
  readonly listener: ListenerName
  readonly remoteAddress: string
  readonly connectedAtMs: number
  clientId = ''
  bytesIn = 0
  bytesOut = 0
  inFlight = 0
  #reserved = 0
  readonly room: ResponseRoom = {
    available: () => this.#limits.maxQueuedBytes - this.#channel.queuedBytes - this.#reserved,
    queued: () => this.#channel.queuedBytes,
    reserve: bytes => { this.#reserved += bytes },
    release: bytes => { this.#reserved = Math.max(0, this.#reserved - bytes) },
  }
  group: string | null = null
  lastActiveMs: number
  readonly #channel: ByteChannel
  readonly #decoder: FrameDecoder
  readonly #limits: ConnectionLimits
  readonly #dispatch: Dispatch
  readonly #logger: Logger
  readonly #metrics: BrokerMetrics
  readonly #now: () => number
  readonly #abort = new AbortController()
  readonly #onClose: ((c: Connection) => void) | undefined
  #paused = false
  #closed = false
  #bytesInSeries: { inc (n: number): void } | null = null
  #bytesOutSeries: { inc (n: number): void } | null = null

  constructor (options: ConnectionOptions) {
    this.id = options.id
    this.#channel = options.channel
    this.listener = options.channel.listener
    this.remoteAddress = options.channel.remoteAddress
    this.#limits = options.limits
    this.#dispatch = options.dispatch
    this.#logger = options.logger.child({ conn: options.id, remote: this.remoteAddress, listener: this.listener })
    this.#metrics = options.metrics
    this.#now = options.now ?? Date.now
    this.#onClose = options.onClose
    this.connectedAtMs = this.#now()
    this.lastActiveMs = this.connectedAtMs
    this.#decoder = new FrameDecoder(options.limits.maxFrameBytes, REQUEST_HEADER_FIXED_BYTES)
    this.#metrics.connectionsOpened.labels(this.listener).inc()
    this.#setSeries()
    this.#channel.onData(chunk => this.#onData(chunk))
    this.#channel.onDrain(() => this.#onDrain())
    this.#channel.onClose(() => this.#closedByPeer())
    this.#logger.debug('connection opened')
  }

  get closed (): boolean { return this.#closed }

  noteGroup (groupId: string | null): void {
    this.group = groupId
  }

  #setSeries (): void {
    const labels = [String(this.id), this.clientId, this.remoteAddress, this.listener]
    this.#metrics.connectionBytesIn.removeWhere(l => l[0] === labels[0])
    this.#metrics.connectionBytesOut.removeWhere(l => l[0] === labels[0])
    const inSeries = this.#metrics.connectionBytesIn.labels(...labels)
    const outSeries = this.#metrics.connectionBytesOut.labels(...labels)
    inSeries.inc(this.bytesIn)
    outSeries.inc(this.bytesOut)
    this.#bytesInSeries = inSeries
    this.#bytesOutSeries = outSeries
  }

  #onData (chunk: Uint8Array): void {
    if (this.#closed || chunk.length === 0) return
    this.bytesIn += chunk.length
    this.#bytesInSeries!.inc(chunk.length)
    let frames: Uint8Array[]
    try {
      frames = this.#decoder.push(chunk)
    } catch (err) {
      this.#fail(err as SpoolError, chunk)
      return
    }
    // Activity is a whole request, not a byte: a peer trickling a frame one byte at a time
    // (holding up to maxFrameBytes of buffer) is idle as far as the timeout goes.
    if (frames.length > 0) this.lastActiveMs = this.#now()
    for (const frame of frames) {
      if (this.#closed) return
      this.#onFrame(frame)
    }
  }

  #onFrame (bytes: Uint8Array): void {
    let frame: RequestFrame
    try {
      frame = parseRequestFrame(bytes)
    } catch (err) {
      this.#fail(err as SpoolError, bytes)
      return
    }
    if (frame.clientId !== this.clientId) {
      this.clientId = frame.clientId
      this.#setSeries()
    }
    if (frame.correlationId === NOTICE_CORRELATION_ID) {
      this.#fail(new MalformedFrameError('correlation id 0 is reserved for broker notices'), bytes)
      return
    }
    if (this.inFlight >= this.#limits.maxInFlightRequests) {
      const err = new TooManyInFlightError(`more than ${this.#limits.maxInFlightRequests} requests in flight on this connection`)
      this.#respond(frame.correlationId, { errorCode: err.errorCode, errorMessage: err.message })
      return
    }
    this.inFlight++
    const ctx: RequestContext = {
      connection: this,
      apiVersion: frame.apiVersion,
      correlationId: frame.correlationId,
      records: frame.records,
      signal: this.#abort.signal,
      room: this.room,
    }
    let result: HandlerResult | null | Promise<HandlerResult | null>
    try {
      result = this.#dispatch(frame, ctx)
    } catch (err) {
      this.#requestFailed(frame, err)
      return
    }
    if (result instanceof Promise) {
      result.then(
        r => this.#completed(frame, r),
        err => this.#requestFailed(frame, err),
      )
    } else {
      this.#completed(frame, result)
    }
  }

  #completed (frame: RequestFrame, result: HandlerResult | null): void {
    this.inFlight--
    if (result !== null) this.#respond(frame.correlationId, result.body, result.records)
  }

  /** A handler threw: answer with the error at the top of the body; the connection stays. */
  #requestFailed (frame: RequestFrame, err: unknown): void {
    this.inFlight--
    if (err instanceof SlowReaderError) {
      this.#slowReader(err)
      return
    }
    const named = err instanceof SpoolError ? err : new UnknownServerError('internal error', { cause: err })
    if (!(err instanceof SpoolError)) this.#logger.error({ err, apiKey: frame.apiKey }, 'request handler failed')
    this.#respond(frame.correlationId, { errorCode: named.errorCode, errorMessage: named.message })
  }

  #respond (correlationId: number, body: Record<string, unknown>, records?: readonly Uint8Array[]): void {
    if (this.#closed) return
    const parts = encodeResponseFrame(correlationId, body, records)
    let size = 0
    for (const p of parts) size += p.length
    this.#channel.write(parts)
    this.bytesOut += size
    this.#bytesOutSeries!.inc(size)
    this.#checkQueue()
  }

  #checkQueue (): void {
    const queued = this.#channel.queuedBytes
    if (queued > this.#limits.maxQueuedBytes) {
      this.#slowReader(new SlowReaderError(`${queued} response bytes queued, over maxQueuedBytes ${this.#limits.maxQueuedBytes}`))
      return
    }
    if (!this.#paused && queued > this.#limits.maxQueuedBytes / 4) {
      this.#paused = true
      this.#channel.pause()
    }
  }

  #slowReader (err: SlowReaderError): void {
    this.#logger.warn({ code: err.code, queuedBytes: this.#channel.queuedBytes, reservedBytes: this.#reserved }, 'closing a connection that does not read')
    this.#metrics.connectionsRejected.labels(err.code).inc()
    // The notice goes after what is queued (a reader that catches up learns why); one that
    // does not read at all is destroyed after the channel's grace period.
    this.notifyAndClose(err)
  }

  #onDrain (): void {
    if (this.#paused && !this.#closed) {
      this.#paused = false
      this.#channel.resume()
    }
  }

  /**
   * Bad input on the stream: log a bounded line, tell the client why, close. Only this
   * connection is affected.
   */
  #fail (err: SpoolError, bytes: Uint8Array): void {
    const snippet = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, SNIPPET_BYTES)).toString('hex')
    this.#logger.warn({ code: err.code, reason: err.message.slice(0, 200), snippet }, 'closing connection after bad input')
    this.#metrics.connectionsRejected.labels(err.code).inc()
    this.notifyAndClose(err)
  }

  /** Sends a notice (correlation id 0) with the error, then ends the connection. */
  notifyAndClose (err: SpoolError): void {
    if (this.#closed) return
    this.#channel.write(encodeResponseFrame(NOTICE_CORRELATION_ID, { errorCode: err.errorCode, errorMessage: err.message }))
    this.#closed = true
    this.#abort.abort(err)
    this.#channel.end() // destroyed after a grace period if the peer never reads
    this.#cleanup()
  }

  /** Closes if idle past idleTimeoutMs; called by the broker's periodic sweep. */
  checkIdle (nowMs: number): void {
    if (this.inFlight === 0 && nowMs - this.lastActiveMs > this.#limits.idleTimeoutMs) {
      this.#logger.info({ idleMs: nowMs - this.lastActiveMs }, 'closing idle connection')
      this.notifyAndClose(new IdleTimeoutError(`no request for ${this.#limits.idleTimeoutMs} ms`))
    }
  }

  /** Ends the connection (broker shutdown): what is queued is flushed first. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#abort.abort(new SpoolError('connection closed'))
    this.#channel.end()
    this.#cleanup()
  }

  #closedByPeer (): void {
    if (!this.#closed) {
      this.#closed = true
      this.#abort.abort(new SpoolError('connection closed by peer'))
      this.#cleanup()
    }
    this.#logger.debug({ bytesIn: this.bytesIn, bytesOut: this.bytesOut }, 'connection closed')
  }

  #cleanup (): void {
    this.#metrics.connectionBytesIn.removeWhere(l => l[0] === String(this.id))
    this.#metrics.connectionBytesOut.removeWhere(l => l[0] === String(this.id))
    this.#onClose?.(this)
  }
}
