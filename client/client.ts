/**
 * Client: the entry point of the SDK. Holds the connections (one per broker address) and
 * the metadata cache, and creates producers, consumers and an admin that share them.
 *
 *   new Client({ brokers: ['127.0.0.1:7420'] })            TCP (Node entry only)
 *   new Client({ url: 'ws://127.0.0.1:7421/ws' })          WebSocket: the runtime's global WebSocket
 *                                                          (browsers, Node >= 22), else the
 *                                                          fallback the Node entry registers
 *                                                          (the `ws` package, for Node 20)
 *   new Client({ url, WebSocket })                         WebSocket with an injected constructor
 *   new Client({ brokers, tls: { ca }, sasl: { username, password } })   TLS and SCRAM-SHA-256 (Node)
 *   new Client({ url: 'wss://host:7443/ws', token: () => fetchToken() })   a browser with a token
 *
 * `close()` first closes its consumers (a group consumer commits and leaves its group:
 * consumer.close()), then stops everything else at once: sends not yet acknowledged fail
 * with ClientClosedError, sockets and timers go away. Close producers first
 * (`producer.close()` flushes) to deliver what is buffered.
 */

import { InvalidArgumentError } from '../protocol/errors.js'
import { brokerAddress } from './address.js'
import { Admin } from './admin.js'
import { Cluster, type ThrottleStats } from './cluster.js'
import type { ThrottleEvent } from './connection.js'
import { Consumer, type ConsumerOptions } from './consumer.js'
import { silentLogger, type Logger } from './logger.js'
import { Producer, type ProducerOptions } from './producer.js'
import { DEFAULT_RETRY, type RetryOptions } from './retry.js'
import { authenticationOf, type SaslOptions, type TokenSource } from './auth.js'
import type { TlsClientOptions, TransportFactory } from './transport/transport.js'
import { webSocketTransport, type WebSocketConstructor } from './transport/websocket.js'

export interface ClientOptions {
  /** TCP bootstrap brokers, "host:port" (or "host": port 7420), tried in order. Default ['127.0.0.1:7420'] when no url. */
  brokers?: string[] | string
  /** A WebSocket URL (ws://host:7421/ws) instead of TCP brokers. */
  url?: string
  /** The WebSocket constructor (default: globalThis.WebSocket, else `ws`'s in Node 20). */
  WebSocket?: WebSocketConstructor
  /** Sent in every request header; shows in the broker's metrics. Default 'spool-client'. */
  clientId?: string
  /** Per request (fetches add their maxWaitMs). Default 30000. */
  requestTimeoutMs?: number
  /** Per connection attempt, including the ApiVersions handshake. Default 10000. */
  connectTimeoutMs?: number
  /** Largest response frame accepted. Default 64 MiB. */
  maxFrameBytes?: number
  retry?: Partial<RetryOptions>
  logger?: Logger
  /** A custom transport (tests, proxies); overrides the one chosen from brokers/url. */
  transport?: TransportFactory
  /** Authenticate with a user name and password (SCRAM-SHA-256 unless `mechanism` says otherwise). */
  sasl?: SaslOptions
  /**
   * Authenticate with a broker token (`spool token create`, `POST /api/tokens`): the way for
   * browsers. A function is asked for a token for every new connection, so reconnects after
   * the broker closed an expired token's connection get a fresh one.
   */
  token?: TokenSource
  /** TLS to TCP brokers (Node): `true` for the system's CAs, or options (ca, cert, key, ...). Over WebSocket use a wss:// url. */
  tls?: boolean | TlsClientOptions
  /**
   * Called when a broker throttles this client (a quota: Produce and Fetch responses carry
   * the time). The client then holds its next requests to that broker until the time has
   * passed; `client.throttleStats()` sums what happened.
   */
  onThrottle?: (event: ThrottleEvent) => void
}

let defaultTcpTransport: TransportFactory | null = null
let fallbackWebSocket: (() => WebSocketConstructor) | null = null

/** @internal The Node entry registers the node:net transport here; the browser entry does not. */
export function setDefaultTcpTransport (factory: TransportFactory): void {
  defaultTcpTransport = factory
}

/**
 * @internal The Node entry registers `ws` here, loaded on first use: the WebSocket for a
 * runtime without a global one (Node 20). Runtimes with one (browsers, Node >= 22) never call it.
 */
export function setFallbackWebSocket (load: () => WebSocketConstructor): void {
  fallbackWebSocket = load
}

/** The constructor a `url` client uses when none is passed: the global one, else the fallback. */
export function defaultWebSocket (): WebSocketConstructor | null {
  const global = (globalThis as { WebSocket?: unknown }).WebSocket
  if (typeof global === 'function') return global as WebSocketConstructor
  return fallbackWebSocket?.() ?? null
}

function positiveInt (name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got ${String(value)}`)
  return v
}

function tlsOf (tls: ClientOptions['tls'], webSocket: boolean): TlsClientOptions | null {
  if (tls === undefined || tls === false) return null
  if (webSocket) throw new InvalidArgumentError('tls applies to TCP brokers; for WebSocket give a wss:// url')
  return tls === true ? {} : tls
}

export class Client {
  readonly #cluster: Cluster
  readonly #consumers = new Set<Consumer>()

  constructor (options: ClientOptions = {}) {
    const useWebSocket = options.url !== undefined
    if (useWebSocket && options.brokers !== undefined) throw new InvalidArgumentError('give either brokers (TCP) or url (WebSocket), not both')
    let addresses: string[]
    let transport = options.transport ?? null
    if (useWebSocket) {
      if (!/^wss?:\/\//.test(options.url!)) throw new InvalidArgumentError(`url must start with ws:// or wss://, got "${options.url}"`)
      addresses = [options.url!]
      if (transport === null) {
        const WebSocketImpl = options.WebSocket ?? defaultWebSocket()
        if (WebSocketImpl === null) {
          throw new InvalidArgumentError('no WebSocket implementation: this runtime has no global WebSocket; pass { WebSocket } (e.g. import { WebSocket } from \'ws\')')
        }
        transport = webSocketTransport(WebSocketImpl)
      }
    } else {
      const brokers = options.brokers ?? ['127.0.0.1:7420']
      addresses = (Array.isArray(brokers) ? brokers : brokers.split(',')).map(b => b.trim()).filter(b => b !== '')
      if (addresses.length === 0) throw new InvalidArgumentError('brokers is empty')
      addresses = addresses.map(address => brokerAddress(address))
      transport ??= defaultTcpTransport
      if (transport === null) {
        throw new InvalidArgumentError('TCP brokers need the Node entry (spool/client); in a browser use { url: \'ws://host:7421/ws\' }')
      }
    }
    this.#cluster = new Cluster({
      addresses,
      webSocket: useWebSocket,
      clientId: options.clientId ?? 'spool-client',
      transport,
      connectTimeoutMs: positiveInt('connectTimeoutMs', options.connectTimeoutMs, 10_000),
      requestTimeoutMs: positiveInt('requestTimeoutMs', options.requestTimeoutMs, 30_000),
      maxFrameBytes: positiveInt('maxFrameBytes', options.maxFrameBytes, 64 * 1024 * 1024),
      retry: { ...DEFAULT_RETRY, ...options.retry },
      logger: options.logger ?? silentLogger,
      authentication: authenticationOf(options),
      tls: tlsOf(options.tls, useWebSocket),
      ...(options.onThrottle === undefined ? {} : { onThrottle: options.onThrottle }),
    })
  }

  /** Connects to the first reachable bootstrap broker (optional: every call connects on demand). */
  async connect (): Promise<void> {
    await this.#cluster.retry(() => this.#cluster.bootstrap())
  }

  producer (options?: ProducerOptions): Producer {
    this.#cluster.assertOpen()
    return new Producer(this.#cluster, options)
  }

  consumer (options?: ConsumerOptions): Consumer {
    this.#cluster.assertOpen()
    const consumer = new Consumer(this.#cluster, options)
    this.#consumers.add(consumer)
    return consumer
  }

  admin (): Admin {
    this.#cluster.assertOpen()
    return new Admin(this.#cluster)
  }

  get closed (): boolean { return this.#cluster.closed }

  /** How often and how long brokers throttled this client so far (quotas). */
  throttleStats (): ThrottleStats {
    return { ...this.#cluster.throttleStats }
  }

  /**
   * Closes every consumer (see Consumer.close), then every producer and connection (see the
   * header); rejects with a consumer's final commit error, if any, once all is closed.
   * Idempotent.
   */
  async close (): Promise<void> {
    if (this.#cluster.closed) return
    const consumers = [...this.#consumers]
    this.#consumers.clear()
    const closed = await Promise.allSettled(consumers.map(c => c.close()))
    this.#cluster.close()
    const failed = closed.find(r => r.status === 'rejected')
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
  }
}
