/**
 * Broker-to-broker connections over the native protocol: a follower's replica fetcher and the
 * MQTT gateway's forwarded appends talk to other brokers' native listeners as clients would,
 * with the same frames (protocol/native/frame.ts) and schemas. The broker cannot use the SDK
 * (`broker/` never imports `client/`), so this is the small part of a client it needs:
 * correlation of requests and responses (answers may come in any order), a deadline per
 * request, the broker notice (correlation id 0) before the peer closes, and one connection
 * per peer address, reopened on demand after it closes.
 *
 * Every failure is a typed error: ConnectionError (retriable) when the socket cannot be
 * opened or closes, RequestTimedOutError past the deadline, the peer's own error for a
 * top-level error code, MalformedFrameError for a response that does not match its schema.
 *
 * Concurrency: on the event loop; any number of requests may be in flight per connection.
 */

import net from 'node:net'
import tls, { type ConnectionOptions } from 'node:tls'
import type { Logger } from 'pino'
import { ConnectionError, MalformedFrameError, RequestTimedOutError, SpoolError, errorFromCode } from '../../protocol/errors.js'
import { APIS, type ApiName, type RequestOf, type ResponseOf } from '../../protocol/native/api-keys.js'
import {
  FrameDecoder, NOTICE_CORRELATION_ID, decodeBody, encodeClientId, encodeRequestFrame, parseResponseFrame,
} from '../../protocol/native/frame.js'
import type { PeerTls } from './peer-tls.js'

/** Largest response a peer may send (a replica fetch of maxBytes plus headers). */
const MAX_RESPONSE_FRAME_BYTES = 256 * 1024 * 1024
const MAX_CORRELATION_ID = 0x7fffffff

export interface PeerResponse<N extends ApiName> {
  body: ResponseOf<N>
  /** The frame's records section (a view into the frame). */
  records: Uint8Array
}

interface Pending {
  api: ApiName
  resolve (r: PeerResponse<ApiName>): void
  reject (err: Error): void
  timer: ReturnType<typeof setTimeout>
}

export class PeerConnection {
  readonly address: string
  readonly #socket: net.Socket
  readonly #clientId: Uint8Array
  readonly #pending = new Map<number, Pending>()
  readonly #decoder = new FrameDecoder(MAX_RESPONSE_FRAME_BYTES)
  readonly #onClosed: Array<() => void> = []
  #next = 1
  #closed = false
  #reason: SpoolError | null = null

  private constructor (address: string, socket: net.Socket, clientId: string) {
    this.address = address
    this.#socket = socket
    this.#clientId = encodeClientId(clientId)
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    socket.on('error', err => this.#close(new ConnectionError(`connection to broker ${address} failed: ${err.message}`, { cause: err })))
    socket.on('close', () => this.#close(null))
  }

  /**
   * Connects to host:port within `timeoutMs` — over TLS with `tls` (peer-tls.ts: the peer's
   * certificate is checked against the CA and `host`) — ConnectionError otherwise.
   */
  static open (host: string, port: number, clientId: string, timeoutMs: number, tlsOptions: ConnectionOptions | null = null): Promise<PeerConnection> {
    const address = `${host}:${port}`
    return new Promise((resolve, reject) => {
      const socket = tlsOptions === null
        ? net.connect({ host, port, noDelay: true })
        : tls.connect({ ...tlsOptions, host, port, noDelay: true, ...(net.isIP(host) === 0 ? { servername: host } : {}) } as ConnectionOptions & { noDelay: boolean })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new ConnectionError(`connecting to broker ${address} timed out after ${timeoutMs} ms`))
      }, timeoutMs)
      socket.once(tlsOptions === null ? 'connect' : 'secureConnect', () => {
        clearTimeout(timer)
        socket.removeAllListeners('error')
        resolve(new PeerConnection(address, socket, clientId))
      })
      socket.once('error', err => {
        clearTimeout(timer)
        const what = tlsOptions === null ? 'cannot connect to broker' : 'cannot open a TLS connection to broker'
        reject(new ConnectionError(`${what} ${address}: ${err.message}`, { cause: err }))
      })
    })
  }

  get closed (): boolean { return this.#closed }

  onClose (fn: () => void): void {
    if (this.#closed) fn()
    else this.#onClosed.push(fn)
  }

  /** Sends a request; resolves with the schema-checked response (or its typed error). */
  request<N extends ApiName> (api: N, body: RequestOf<N>, options: { records?: readonly Uint8Array[], timeoutMs: number }): Promise<PeerResponse<N>> {
    if (this.#closed) return Promise.reject(this.#reason ?? new ConnectionError(`the connection to broker ${this.address} is closed`))
    const id = this.#next
    this.#next = id >= MAX_CORRELATION_ID ? 1 : id + 1
    const parts = encodeRequestFrame(APIS[api].key, APIS[api].maxVersion, id, this.#clientId, body, options.records)
    return new Promise<PeerResponse<N>>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.#pending.delete(id)) reject(new RequestTimedOutError(`${api} to broker ${this.address} timed out after ${options.timeoutMs} ms`))
      }, options.timeoutMs)
      this.#pending.set(id, { api, resolve: resolve as Pending['resolve'], reject, timer })
      for (const part of parts) this.#socket.write(part)
    })
  }

  close (): void {
    this.#socket.destroy()
    this.#close(null)
  }

  #onData (chunk: Buffer): void {
    let frames: Uint8Array[]
    try {
      frames = this.#decoder.push(chunk)
    } catch (err) {
      this.#close(err as SpoolError)
      this.#socket.destroy()
      return
    }
    for (const frame of frames) this.#onFrame(frame)
  }

  #onFrame (frame: Uint8Array): void {
    let parsed: ReturnType<typeof parseResponseFrame>
    try {
      parsed = parseResponseFrame(frame)
    } catch (err) {
      this.#close(err as SpoolError)
      this.#socket.destroy()
      return
    }
    if (parsed.correlationId === NOTICE_CORRELATION_ID) {
      this.#close(topError(safeDecode(parsed.bodyBytes)) ?? new ConnectionError(`broker ${this.address} closed the connection`))
      this.#socket.destroy()
      return
    }
    const pending = this.#pending.get(parsed.correlationId)
    if (pending === undefined) return // timed out earlier
    this.#pending.delete(parsed.correlationId)
    clearTimeout(pending.timer)
    try {
      const raw = decodeBody(parsed.bodyBytes)
      const error = topError(raw)
      if (error !== null) throw error
      let body: unknown
      try {
        body = APIS[pending.api].response.parse(raw, '')
      } catch (err) {
        throw new MalformedFrameError(`${pending.api} response from broker ${this.address} does not match its schema: ${(err as Error).message}`, { cause: err })
      }
      pending.resolve({ body: body as ResponseOf<ApiName>, records: parsed.records })
    } catch (err) {
      pending.reject(err as Error)
    }
  }

  #close (reason: SpoolError | null): void {
    if (this.#closed) return
    this.#closed = true
    this.#reason = reason ?? new ConnectionError(`the connection to broker ${this.address} closed`)
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer)
      p.reject(this.#reason)
    }
    this.#pending.clear()
    for (const fn of this.#onClosed.splice(0)) fn()
  }
}

function safeDecode (bytes: Uint8Array): unknown {
  try {
    return decodeBody(bytes)
  } catch {
    return null
  }
}

function topError (raw: unknown): SpoolError | null {
  if (raw === null || typeof raw !== 'object') return null
  const { errorCode, errorMessage } = raw as { errorCode?: unknown, errorMessage?: unknown }
  if (typeof errorCode !== 'number' || errorCode === 0) return null
  return errorFromCode(errorCode, typeof errorMessage === 'string' ? errorMessage : undefined)
}

/** Where a broker's native listener is, by node id (from the cluster metadata). */
/** Socket errors that say the peer is down or unreachable, not that TLS failed. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED'])

/** The TLS (or certificate) error code under a failed peer connection, else null. */
function tlsFailureCode (err: unknown): string | null {
  const code = ((err as Error).cause as { code?: unknown } | undefined)?.code
  return typeof code === 'string' && !NETWORK_CODES.has(code) ? code : null
}

export type PeerAddressOf = (nodeId: number) => { host: string, port: number } | undefined

/**
 * One connection per peer broker, opened on demand and dropped when it closes or the peer's
 * advertised address changes (a restarted broker on another port).
 */
export class PeerPool {
  readonly #addressOf: PeerAddressOf
  readonly #clientId: string
  readonly #connectTimeoutMs: number
  readonly #logger: Logger
  readonly #authenticate: ((connection: PeerConnection) => Promise<void>) | null
  readonly #tls: PeerTls | null
  /** The last authentication error code per peer, while it keeps failing. */
  readonly #authFailures = new Map<number, string>()
  /** The last TLS failure code per peer, while it keeps failing. */
  readonly #tlsFailures = new Map<number, string>()
  readonly #connections = new Map<number, { address: string, connection: Promise<PeerConnection> }>()
  #closed = false

  /**
   * `authenticate` (--auth in a cluster: broker/cluster/peer-auth.ts) runs on every new
   * connection before it is handed out; when it rejects the connection is closed and the
   * request that asked for it fails with that error.
   */
  constructor (options: { addressOf: PeerAddressOf, clientId: string, connectTimeoutMs: number, logger: Logger, authenticate?: (connection: PeerConnection) => Promise<void>, tls?: PeerTls | null }) {
    this.#addressOf = options.addressOf
    this.#authenticate = options.authenticate ?? null
    this.#tls = options.tls ?? null
    this.#clientId = options.clientId
    this.#connectTimeoutMs = options.connectTimeoutMs
    this.#logger = options.logger
  }

  /** The connection to broker `nodeId`; ConnectionError when it has no address or cannot be reached. */
  connection (nodeId: number): Promise<PeerConnection> {
    if (this.#closed) return Promise.reject(new ConnectionError('the broker is shutting down'))
    const hp = this.#addressOf(nodeId)
    if (hp === undefined) {
      return Promise.reject(new ConnectionError(this.#tls === null
        ? `broker ${nodeId} is not registered in the cluster`
        : `broker ${nodeId} has no native TLS listener registered in the cluster (inter-broker TLS is on: every broker needs --tls-port)`))
    }
    const address = `${hp.host}:${hp.port}`
    const existing = this.#connections.get(nodeId)
    if (existing !== undefined && existing.address === address) return existing.connection
    if (existing !== undefined) void existing.connection.then(c => c.close(), () => {})
    const authenticate = this.#authenticate
    let tlsOptions: ConnectionOptions | null = null
    try {
      tlsOptions = this.#tls?.options() ?? null
    } catch (err) {
      return Promise.reject(new ConnectionError(`inter-broker TLS files cannot be read: ${(err as Error).message}`, { cause: err }))
    }
    const opened = PeerConnection.open(hp.host, hp.port, this.#clientId, this.#connectTimeoutMs, tlsOptions)
    const connection = authenticate === null
      ? opened
      : opened.then(async c => {
        try {
          await authenticate(c)
        } catch (err) {
          c.close()
          // One warning per peer and error code until it succeeds again (the fetcher retries every second or so).
          const code = (err as SpoolError).code ?? 'UNKNOWN'
          const level = this.#authFailures.get(nodeId) === code ? 'debug' : 'warn'
          this.#authFailures.set(nodeId, code)
          this.#logger[level]({ nodeId, address, err: (err as Error).message, code }, 'authentication to peer broker failed')
          throw err
        }
        if (this.#authFailures.delete(nodeId)) this.#logger.info({ nodeId, address }, 'authenticated to peer broker again')
        return c
      })
    void connection.then(() => { if (this.#tlsFailures.delete(nodeId)) this.#logger.info({ nodeId, address }, 'TLS connection to peer broker works again') }, () => {})
    const entry = { address, connection }
    this.#connections.set(nodeId, entry)
    connection.then(c => {
      if (this.#closed) c.close()
      c.onClose(() => { if (this.#connections.get(nodeId) === entry) this.#connections.delete(nodeId) })
    }, err => {
      if (this.#connections.get(nodeId) === entry) this.#connections.delete(nodeId)
      const tlsCode = this.#tls === null ? null : tlsFailureCode(err)
      if (tlsCode !== null && this.#tlsFailures.get(nodeId) !== tlsCode) {
        // A certificate the peer does not accept, or one this broker does not: a
        // misconfiguration, said once per peer and code (the fetcher retries every second or so).
        this.#tlsFailures.set(nodeId, tlsCode)
        this.#logger.warn({ nodeId, address, code: tlsCode, err: (err as Error).message }, 'TLS connection to peer broker failed')
      } else {
        this.#logger.debug({ nodeId, address, err: (err as Error).message }, 'peer connection failed')
      }
    })
    return connection
  }

  /** Closes the connection to `nodeId` (the next request opens a new one). */
  drop (nodeId: number): void {
    const entry = this.#connections.get(nodeId)
    this.#connections.delete(nodeId)
    if (entry !== undefined) void entry.connection.then(c => c.close(), () => {})
  }

  close (): void {
    this.#closed = true
    for (const nodeId of [...this.#connections.keys()]) this.drop(nodeId)
  }
}
