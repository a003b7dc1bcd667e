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
 * - The first request on a connection is ApiVersions (after the SASL exchange when the
 *   client authenticates, client/auth.ts); `request` refuses an api the broker does not
 *   serve at the version this client speaks, without sending it.
 * - A broker closes a connection whose token expired with a TOKEN_EXPIRED notice; when the
 *   token is renewable (a function) pending requests fail with a retriable ConnectionError
 *   instead, and the retry's new connection asks for a fresh token.
 * - A response with `throttleTimeMs` > 0 (Produce, Fetch: a quota of this client) means the
 *   broker will not read this connection for that long: requests made meanwhile are held
 *   here and written once the time has passed (as Kafka clients do since KIP-219), their
 *   timeouts extended by the wait, and `onThrottle` is told.
 * - A request that times out closes the connection (the others in flight fail with the same
 *   retriable error): the broker may be dead or cut off behind a connection that looks open.
 *
 * Concurrency: all methods run on the event loop. Any number of requests may be in flight;
 * callers bound their own concurrency (the producer's maxInFlight, one fetch per consumer).
 */

import {
  ConnectionError, MalformedFrameError, RequestTimedOutError, SpoolError, TokenExpiredError, UnsupportedApiError, UnsupportedVersionError,
  errorFromCode,
} from '../protocol/errors.js'
import type { Authentication } from './auth.js'
import { APIS, type ApiName, type RequestOf, type ResponseOf } from '../protocol/native/api-keys.js'
import { runSaslExchange } from '../protocol/sasl/exchange.js'
import {
  NOTICE_CORRELATION_ID, decodeBody, encodeClientId, encodeRequestFrame, parseResponseFrame,
} from '../protocol/native/frame.js'
import type { Logger } from './logger.js'
import type { Transport, TransportFactory, TransportOptions } from './transport/transport.js'

/** A broker told this client to wait (a quota). */
export interface ThrottleEvent {
  /** The broker's address. */
  broker: string
  /** The api whose response carried the throttle time. */
  api: ApiName
  throttleTimeMs: number
}

export interface ConnectionOptions {
  address: string
  clientId: string
  transport: TransportFactory
  connectTimeoutMs: number
  requestTimeoutMs: number
  maxFrameBytes: number
  logger: Logger
  /** How to authenticate (null: anonymous). */
  authentication?: Authentication | null
  /** TLS options for the transport (Node TCP). */
  tls?: TransportOptions['tls']
  onThrottle?: (event: ThrottleEvent) => void
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
  /** Authenticated with a token that a new connection can renew. */
  #renewable = false
  /** While a quota throttles this client: until when, and the frames held until then. */
  #throttledUntilMs = 0
  #held: Uint8Array[][] = []
  #throttleTimer: ReturnType<typeof setTimeout> | null = null

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
    }, { connectTimeoutMs: options.connectTimeoutMs, maxFrameBytes: options.maxFrameBytes, ...(options.tls == null ? {} : { tls: options.tls }) })
    try {
      if (options.authentication != null) await connection.#authenticate(options.authentication)
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

  /**
   * The SASL exchange: SaslHandshake and the first SaslAuthenticate go out together, then
   * one SaslAuthenticate per server challenge until the client's side is done (for SCRAM:
   * the broker's signature verified).
   */
  async #authenticate (auth: Authentication): Promise<void> {
    this.#renewable = auth.renewable
    const client = await auth.client()
    const timeoutMs = this.#options.connectTimeoutMs
    await runSaslExchange(client, {
      handshake: () => this.request('SaslHandshake', { mechanism: auth.mechanism }, { timeoutMs }),
      authenticate: async authBytes => (await this.request('SaslAuthenticate', { authBytes }, { timeoutMs })).body.authBytes,
    })
  }

  /** True when the transport's send buffer is below its high water mark. */
  get writable (): boolean { return this.#writable }

  /** How much longer the broker asked this client to wait (ms; 0: not throttled). */
  get throttleRemainingMs (): number {
    const left = this.#throttledUntilMs - Date.now()
    return left > 0 ? left : 0
  }

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
    const timeoutMs = (options.timeoutMs ?? this.#options.requestTimeoutMs) + this.throttleRemainingMs
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
    if (this.#held.length > 0) return new Promise(resolve => this.#drainWaiters.push(resolve))
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
    if (this.#held.length > 0 || this.throttleRemainingMs > 0) {
      this.#held.push(parts)
      this.#releaseLater()
      return
    }
    if (this.#transport!.write(parts)) return
    this.#writable = false
  }

  /** The broker asked for a wait of `ms` in the answer to `api`. */
  #throttled (api: ApiName, ms: number): void {
    const until = Date.now() + ms
    if (until > this.#throttledUntilMs) this.#throttledUntilMs = until
    this.#options.logger.debug({ address: this.address, api, throttleTimeMs: ms }, 'throttled by the broker (a quota)')
    try {
      this.#options.onThrottle?.({ broker: this.address, api, throttleTimeMs: ms })
    } catch (err) {
      this.#options.logger.error({ err }, 'onThrottle threw')
    }
  }

  #releaseLater (): void {
    if (this.#throttleTimer !== null || this.#closed) return
    this.#throttleTimer = setTimeout(() => {
      this.#throttleTimer = null
      if (this.#closed) return
      if (this.throttleRemainingMs > 0) {
        this.#releaseLater()
        return
      }
      const held = this.#held
      this.#held = []
      for (const parts of held) {
        if (!this.#transport!.write(parts)) this.#writable = false
      }
      if (this.#writable) this.#onDrain()
    }, Math.max(1, this.throttleRemainingMs))
  }

  #onDrain (): void {
    this.#writable = true
    if (this.#held.length > 0) return // sends held for a throttle resolve once written
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
      const throttle = (body as { throttleTimeMs?: unknown }).throttleTimeMs
      if (typeof throttle === 'number' && throttle > 0) this.#throttled(pending.api, throttle)
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
    if (error instanceof TokenExpiredError && this.#renewable) {
      error = new ConnectionError(`the broker at ${this.address} closed the connection: its token expired (a new connection gets a fresh one)`, { cause: error })
    }
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
    this.#held = []
    if (this.#throttleTimer !== null) clearTimeout(this.#throttleTimer)
    this.#throttleTimer = null
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
