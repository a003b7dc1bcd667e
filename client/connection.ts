/**
 * One connection to one broker address: correlation of requests and responses over a
 * Transport, per-request timeouts, the ApiVersions handshake, and broker notices.
 *
 * Protocol rules honoured here (docs/architecture.md §5, protocol/native/frame.ts):
 * - Responses may arrive in any order (a long-polling fetch does not hold up a produce on
 *   the same connection): they are matched by correlation id, never by position.
 * - Correlation id 0 is a broker notice sent just before the broker closes the connection
 *   (FRAME_TOO_LARGE, SLOW_READER, IDLE_TIMEOUT, TOO_MANY_CONNECTIONS, MALFORMED_FRAME).
 *   Requests in flight then fail with that typed error (retriable per the error table)
 *   instead of a generic ConnectionError.
 * - Every response body may carry a top-level errorCode/errorMessage (unknown api, bad
 *   version, schema mismatch): it is checked before the body's schema and thrown as the
 *   typed error.
 * - A produce with acks=0 gets no response: `send` resolves once the frame is written.
 * - The first request on a connection is ApiVersions; `request` refuses an api the broker
 *   does not serve at the version this client speaks, without sending it.
 * - A request that times out closes the connection (the others in flight fail with the same
 *   retriable error): the broker may be dead or cut off behind a connection that looks open.
 *
 * Concurrency: all methods run on the event loop. Any number of requests may be in flight;
 * callers bound their own concurrency (the producer's maxInFlight, one fetch per consumer).
 */

import {
  ConnectionError, MalformedFrameError, RequestTimedOutError, SpoolError, UnsupportedApiError, UnsupportedVersionError,
  errorFromCode,
} from '../protocol/errors.js'
import { APIS, type ApiName, type RequestOf, type ResponseOf } from '../protocol/native/api-keys.js'
import {
  NOTICE_CORRELATION_ID, decodeBody, encodeClientId, encodeRequestFrame, parseResponseFrame,
} from '../protocol/native/frame.js'
import type { Logger } from './logger.js'
import type { Transport, TransportFactory } from './transport/transport.js'

export interface ConnectionOptions {
  address: string
  clientId: string
  transport: TransportFactory
  connectTimeoutMs: number
  requestTimeoutMs: number
  maxFrameBytes: number
  logger: Logger
}

export interface Response<N extends ApiName> {
  body: ResponseOf<N>
  /** The frame's records section (a view into the frame). */
  records: Uint8Array
}

export interface RequestOptions {
  records?: readonly Uint8Array[]
  /** Overrides the connection's requestTimeoutMs (fetch adds its maxWaitMs). */
  timeoutMs?: number
}

interface Pending {
  api: ApiName
  resolve (response: Response<ApiName>): void
  reject (error: Error): void
  timer: ReturnType<typeof setTimeout>
}

const MAX_CORRELATION_ID = 0x7fffffff

/** The version of each api this client speaks (all at 0 in issue 3). */
function clientVersion (api: ApiName): number {
  return APIS[api].maxVersion
}

export class Connection {
  readonly address: string
  readonly #options: ConnectionOptions
  readonly #clientId: Uint8Array
  readonly #pending = new Map<number, Pending>()
  readonly #closeListeners: Array<(error: SpoolError) => void> = []
  #transport: Transport | null = null
  #nextCorrelationId = 1
  #closed = false
  /** Set by a broker notice; used as the failure of everything still pending. */
  #noticeError: SpoolError | null = null
  #writable = true
  #drainWaiters: Array<() => void> = []
  /** apiKey -> [minVersion, maxVersion] the broker serves; null before the handshake. */
  #versions: Map<number, [number, number]> | null = null

  private constructor (options: ConnectionOptions) {
    this.address = options.address
    this.#options = options
    this.#clientId = encodeClientId(options.clientId)
  }

  /**
   * Opens the transport and runs the ApiVersions handshake. Rejects with the transport's
   * own error (e.g. ECONNREFUSED) when the socket cannot be opened, or a typed error when
   * the handshake fails.
   */
  static async open (options: ConnectionOptions): Promise<Connection> {
    const connection = new Connection(options)
    connection.#transport = await options.transport(options.address, {
      onFrame: frame => connection.#onFrame(frame),
      onDrain: () => connection.#onDrain(),
      onClose: error => connection.#onClose(error),
    }, { connectTimeoutMs: options.connectTimeoutMs, maxFrameBytes: options.maxFrameBytes })
    try {
      const { body } = await connection.request('ApiVersions', {}, { timeoutMs: options.connectTimeoutMs })
      const versions = new Map<number, [number, number]>()
      for (const api of body.apis) versions.set(api.apiKey, [api.minVersion, api.maxVersion])
      connection.#versions = versions
    } catch (err) {
      connection.close()
      throw err
    }
    return connection
  }

  get closed (): boolean { return this.#closed }

  /** True when the transport's send buffer is below its high water mark. */
  get writable (): boolean { return this.#writable }

  /** Whether the broker serves `api` at the version this client speaks. */
  supports (api: ApiName): boolean {
    const range = this.#versions?.get(APIS[api].key)
    const version = clientVersion(api)
    return range !== undefined && version >= range[0] && version <= range[1]
  }

  /** Called once when the connection closes, with the error pending requests failed with. */
  onClose (listener: (error: SpoolError) => void): void {
    this.#closeListeners.push(listener)
  }

  /** Sends a request and resolves with its decoded, schema-checked response. */
  request<N extends ApiName> (api: N, body: RequestOf<N>, options: RequestOptions = {}): Promise<Response<N>> {
    const refused = this.#refusal(api)
    if (refused !== null) return Promise.reject(refused)
    const correlationId = this.#correlationId()
    const parts = encodeRequestFrame(APIS[api].key, clientVersion(api), correlationId, this.#clientId, body, options.records)
    const timeoutMs = options.timeoutMs ?? this.#options.requestTimeoutMs
    return new Promise<Response<N>>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.#pending.delete(correlationId)) {
          const error = new RequestTimedOutError(`${api} request to ${this.address} timed out after ${timeoutMs} ms`)
          reject(error)
          // As Kafka clients do: a broker that does not answer in time may be gone or cut off
          // (its TCP connection can stay open for minutes); the next request reconnects.
          this.#failAndClose(error)
        }
      }, timeoutMs)
      this.#pending.set(correlationId, { api, resolve: resolve as Pending['resolve'], reject, timer })
      this.#write(parts)
    })
  }

  /**
   * Sends a request the broker does not answer (Produce with acks=0): resolves once the
   * frame is handed to the transport below its high water mark.
   */
  send<N extends ApiName> (api: N, body: RequestOf<N>, records?: readonly Uint8Array[]): Promise<void> {
    const refused = this.#refusal(api)
    if (refused !== null) return Promise.reject(refused)
    const parts = encodeRequestFrame(APIS[api].key, clientVersion(api), this.#correlationId(), this.#clientId, body, records)
    this.#write(parts)
    return this.#writable ? Promise.resolve() : this.whenWritable()
  }

  /** Resolves when the transport can take more bytes (at once if it can now). */
  whenWritable (): Promise<void> {
    if (this.#writable || this.#closed) return Promise.resolve()
    return new Promise(resolve => this.#drainWaiters.push(resolve))
  }

  /** Closes the transport; pending requests fail with `reason` (default ConnectionError). */
  close (reason?: SpoolError): void {
    if (reason !== undefined) this.#noticeError ??= reason
    if (this.#transport === null) {
      this.#onClose()
      return
    }
    this.#transport.close()
  }

  #refusal (api: ApiName): SpoolError | null {
    if (this.#closed) return this.#closeReason()
    if (this.#versions !== null && !this.supports(api)) {
      const range = this.#versions.get(APIS[api].key)
      return range === undefined
        ? new UnsupportedApiError(`the broker at ${this.address} does not serve ${api}`)
        : new UnsupportedVersionError(`the broker at ${this.address} serves ${api} v${range[0]}-${range[1]}, this client speaks v${clientVersion(api)}`)
    }
    return null
  }

  #correlationId (): number {
    const id = this.#nextCorrelationId
    this.#nextCorrelationId = id >= MAX_CORRELATION_ID ? 1 : id + 1
    return id
  }

  #write (parts: Uint8Array[]): void {
    if (this.#transport!.write(parts)) return
    this.#writable = false
  }

  #onDrain (): void {
    this.#writable = true
    const waiters = this.#drainWaiters
    this.#drainWaiters = []
    for (const w of waiters) w()
  }

  #onFrame (frame: Uint8Array): void {
    let correlationId: number
    let bodyBytes: Uint8Array
    let records: Uint8Array
    try {
      ({ correlationId, bodyBytes, records } = parseResponseFrame(frame))
    } catch (err) {
      this.#failAndClose(err as SpoolError)
      return
    }
    if (correlationId === NOTICE_CORRELATION_ID) {
      this.#onNotice(bodyBytes)
      return
    }
    const pending = this.#pending.get(correlationId)
    if (pending === undefined) return // timed out earlier; its late answer is dropped
    this.#pending.delete(correlationId)
    clearTimeout(pending.timer)
    try {
      const raw = decodeBody(bodyBytes) as { errorCode?: unknown, errorMessage?: unknown }
      const topError = topLevelError(raw)
      if (topError !== null) {
        pending.reject(topError)
        return
      }
      let body: unknown
      try {
        body = APIS[pending.api].response.parse(raw, '')
      } catch (err) {
        throw new MalformedFrameError(`${pending.api} response from ${this.address} does not match its schema: ${(err as Error).message}`, { cause: err })
      }
      pending.resolve({ body: body as ResponseOf<ApiName>, records })
    } catch (err) {
      pending.reject(err as Error)
    }
  }

  #onNotice (bodyBytes: Uint8Array): void {
    let error: SpoolError
    try {
      error = topLevelError(decodeBody(bodyBytes) as { errorCode?: unknown, errorMessage?: unknown }) ??
        new ConnectionError(`the broker at ${this.address} sent an empty notice`)
    } catch (err) {
      error = new MalformedFrameError('undecodable broker notice', { cause: err })
    }
    this.#options.logger.debug({ address: this.address, code: error.code }, `broker notice: ${error.message}`)
    // The broker closes the connection right after a notice; fail what is pending now.
    this.#failAndClose(error)
  }

  #failAndClose (error: SpoolError): void {
    this.#noticeError ??= error
    this.close()
  }

  #closeReason (cause?: Error): SpoolError {
    return this.#noticeError ?? new ConnectionError(`the connection to ${this.address} closed`, cause === undefined ? undefined : { cause })
  }

  #onClose (error?: Error): void {
    if (this.#closed) return
    this.#closed = true
    this.#writable = true
    const reason = error instanceof SpoolError && this.#noticeError === null ? error : this.#closeReason(error)
    const pending = [...this.#pending.values()]
    this.#pending.clear()
    for (const p of pending) {
      clearTimeout(p.timer)
      p.reject(reason)
    }
    this.#onDrain()
    for (const listener of this.#closeListeners) listener(reason)
  }
}

/** The typed error for a body's top-level errorCode, or null when there is none. */
function topLevelError (raw: { errorCode?: unknown, errorMessage?: unknown } | null): SpoolError | null {
  if (raw === null || typeof raw !== 'object') return null
  const code = raw.errorCode
  if (typeof code !== 'number' || code === 0) return null
  return errorFromCode(code, typeof raw.errorMessage === 'string' ? raw.errorMessage : undefined)
}
