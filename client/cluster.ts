/**
 * What a Client shares with its producers, consumers and admin: the connections (one per
 * broker address), the metadata cache, retry with backoff, and the closed state. Not part
 * of the public API (the Client holds it privately and hands it to what it creates).
 *
 * Addressing: `brokers` (TCP) is a bootstrap list tried in order, then every broker the last
 * Metadata named (so a client that started with one address survives that broker's death);
 * `url` (WebSocket) is one address. Partition requests go to the partition leader's
 * advertised host:port from Metadata; when the cluster has a single broker, or over
 * WebSocket, they use the bootstrap connection (so a broker advertising 0.0.0.0 or a proxy
 * in front of /ws keeps working). An error that says the metadata is stale
 * (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, a leader epoch mismatch, a broker that cannot
 * be reached) makes the caller forget the topic's metadata, so its retry asks again and
 * finds the new leader (`isStaleMetadataError`).
 *
 * Reconnects: a connection that closes (idle timeout, broker restart) is dropped from the
 * pool; the next request opens a new one. Requests that were in flight fail with a
 * retriable ConnectionError (or the broker's notice) and callers retry them with backoff.
 */

import {
  BrokerUnreachableError, ClientClosedError, ConnectionError, ERROR_TABLE, LeaderNotAvailableError, RequestTimedOutError, SpoolError,
} from '../protocol/errors.js'
import type { ApiName, RequestOf } from '../protocol/native/api-keys.js'
import { Connection, type RequestOptions, type Response, type ThrottleEvent } from './connection.js'
import type { Logger } from './logger.js'
import { MetadataCache } from './metadata.js'
import { backoffMs, type RetryOptions } from './retry.js'
import type { Authentication } from './auth.js'
import type { TlsClientOptions, TransportFactory } from './transport/transport.js'

export interface ClusterOptions {
  addresses: string[]
  webSocket: boolean
  clientId: string
  transport: TransportFactory
  connectTimeoutMs: number
  requestTimeoutMs: number
  maxFrameBytes: number
  retry: RetryOptions
  logger: Logger
  authentication: Authentication | null
  tls: TlsClientOptions | null
  onThrottle?: (event: ThrottleEvent) => void
}

/** How often and how long brokers throttled this client (quotas). */
export interface ThrottleStats {
  /** Responses that carried a throttle time. */
  throttles: number
  /** Their throttle times, summed (ms). */
  throttleTimeMs: number
  /** The last one (ms), 0 when none yet. */
  lastThrottleTimeMs: number
}

export class Cluster {
  readonly options: ClusterOptions
  readonly logger: Logger
  readonly metadata: MetadataCache
  readonly #connections = new Map<string, Connection | Promise<Connection>>()
  readonly #sleepers = new Set<{ timer: ReturnType<typeof setTimeout>, reject: (err: Error) => void }>()
  readonly #closeHooks = new Set<() => void>()
  readonly throttleStats: ThrottleStats = { throttles: 0, throttleTimeMs: 0, lastThrottleTimeMs: 0 }
  /** Coordinator node id per consumer group (FindCoordinator answers). */
  readonly #coordinators = new Map<string, number>()
  /** Index in `addresses` of the bootstrap address that last connected. */
  #bootstrapIndex = 0
  #closed = false

  constructor (options: ClusterOptions) {
    this.options = options
    this.logger = options.logger
    this.metadata = new MetadataCache(this)
  }

  get closed (): boolean { return this.#closed }

  /** Throws ClientClosedError once the client is closed. */
  assertOpen (): void {
    if (this.#closed) throw new ClientClosedError('the client is closed')
  }

  /** The connection to the bootstrap broker (the first address that answers, in order). */
  async bootstrap (): Promise<Connection> {
    this.assertOpen()
    const addresses = this.options.addresses
    const failures: Array<{ address: string, error: unknown }> = []
    for (let i = 0; i < addresses.length; i++) {
      const index = (this.#bootstrapIndex + i) % addresses.length
      try {
        const connection = await this.connection(addresses[index]!)
        this.#bootstrapIndex = index
        return connection
      } catch (err) {
        if (err instanceof SpoolError && !(err instanceof BrokerUnreachableError)) throw err
        failures.push({ address: addresses[index]!, error: err })
      }
    }
    // The bootstrap list is down: any other broker the cluster told us about will do.
    if (!this.options.webSocket) {
      for (const address of [...this.metadata.brokers.values()].filter(a => !addresses.includes(a))) {
        try {
          return await this.connection(address)
        } catch (err) {
          if (err instanceof SpoolError && !(err instanceof BrokerUnreachableError)) throw err
          failures.push({ address, error: err })
        }
      }
    }
    throw unreachable(failures)
  }

  /** The connection for a broker node id (the leader of a partition; -1: not known, the bootstrap broker). */
  async nodeConnection (nodeId: number): Promise<Connection> {
    const brokers = this.metadata.brokers
    const address = brokers.get(nodeId)
    if (this.options.webSocket || brokers.size <= 1 || address === undefined) return this.bootstrap()
    return this.connection(address)
  }

  /**
   * The connection to a group's coordinator: the broker FindCoordinator names (cached until
   * forgetCoordinator), or the bootstrap broker when it does not serve FindCoordinator or
   * runs alone.
   */
  async coordinator (groupId: string): Promise<Connection> {
    const known = this.#coordinators.get(groupId)
    if (known !== undefined) return this.nodeConnection(known)
    const bootstrap = await this.bootstrap()
    if (!bootstrap.supports('FindCoordinator')) return bootstrap
    const { body } = await bootstrap.request('FindCoordinator', { key: groupId, keyType: 0 })
    const address = `${body.host}:${body.port}`
    if (!this.metadata.brokers.has(body.nodeId)) this.metadata.brokers.set(body.nodeId, address)
    this.#coordinators.set(groupId, body.nodeId)
    return this.nodeConnection(body.nodeId)
  }

  /** Drops the cached coordinator of a group when `err` says it moved (NOT_COORDINATOR, a closed connection, ...). */
  forgetCoordinator (groupId: string, err: unknown): void {
    if (isStaleMetadataError(err) || (err instanceof SpoolError && err.errorCode === ERROR_TABLE.COORDINATOR_LOAD_IN_PROGRESS.code)) {
      this.#coordinators.delete(groupId)
      if (err instanceof ConnectionError || err instanceof BrokerUnreachableError) void this.metadata.refresh(null).catch(() => {})
    }
  }

  /** One request to a group's coordinator, retried (finding the coordinator again) on retriable errors. */
  groupRequest<N extends ApiName> (
    groupId: string, api: N, body: RequestOf<N>,
    options?: RequestOptions & { retryIf?: (err: unknown) => boolean, check?: (response: Response<N>) => void },
  ): Promise<Response<N>> {
    return this.retry(async () => {
      try {
        const response = await (await this.coordinator(groupId)).request(api, body, options)
        options?.check?.(response)
        return response
      } catch (err) {
        this.forgetCoordinator(groupId, err)
        throw err
      }
    }, options?.retryIf === undefined ? {} : { retryIf: options.retryIf })
  }

  /**
   * The leader of each partition (loading topic metadata as needed), grouped: node id →
   * the items for it. A partition without a leader (offline, an election under way) throws
   * LeaderNotAvailableError (retriable) after dropping its topic's metadata.
   */
  async byLeader<T extends { topic: string, partition: number }> (items: readonly T[]): Promise<Map<number, T[]>> {
    const out = new Map<number, T[]>()
    for (const item of items) {
      const info = await this.metadata.topic(item.topic)
      const leader = info.leaders[item.partition] ?? -1
      if (leader < 0) {
        this.metadata.invalidate(item.topic)
        throw new LeaderNotAvailableError(`topic "${item.topic}" partition ${item.partition} has no leader right now`)
      }
      let list = out.get(leader)
      if (list === undefined) out.set(leader, (list = []))
      list.push(item)
    }
    return out
  }

  /** The open connection to `address`, opening it if needed. */
  async connection (address: string): Promise<Connection> {
    this.assertOpen()
    const existing = this.#connections.get(address)
    if (existing !== undefined) {
      if (existing instanceof Promise) return existing
      if (!existing.closed) return existing
      this.#connections.delete(address)
    }
    const opening = this.#open(address)
    this.#connections.set(address, opening)
    try {
      const connection = await opening
      if (this.#closed) {
        connection.close()
        throw new ClientClosedError('the client is closed')
      }
      this.#connections.set(address, connection)
      connection.onClose(() => {
        if (this.#connections.get(address) === connection) this.#connections.delete(address)
      })
      return connection
    } catch (err) {
      if (this.#connections.get(address) === opening) this.#connections.delete(address)
      throw err
    }
  }

  async #open (address: string): Promise<Connection> {
    const o = this.options
    try {
      return await Connection.open({
        address,
        clientId: o.clientId,
        transport: o.transport,
        connectTimeoutMs: o.connectTimeoutMs,
        requestTimeoutMs: o.requestTimeoutMs,
        maxFrameBytes: o.maxFrameBytes,
        logger: o.logger,
        authentication: o.authentication,
        ...(o.tls === null ? {} : { tls: o.tls }),
        onThrottle: event => {
          this.throttleStats.throttles++
          this.throttleStats.throttleTimeMs += event.throttleTimeMs
          this.throttleStats.lastThrottleTimeMs = event.throttleTimeMs
          o.onThrottle?.(event)
        },
      })
    } catch (err) {
      if (err instanceof SpoolError) throw err
      throw unreachable([{ address, error: err }])
    }
  }

  /** One request to the bootstrap broker, retried with backoff on retriable errors. */
  request<N extends ApiName> (api: N, body: RequestOf<N>, options?: RequestOptions): Promise<Response<N>> {
    return this.retry(async () => (await this.bootstrap()).request(api, body, options))
  }

  /**
   * Runs `fn` until it succeeds, an error `retryIf` refuses (default: non-retriable ones),
   * or `retries` retries; waits backoffMs between attempts. `fn` gets the attempt number.
   */
  async retry<T> (fn: (attempt: number) => Promise<T>, options: { retries?: number, retryIf?: (err: unknown) => boolean } = {}): Promise<T> {
    const retries = options.retries ?? this.options.retry.retries
    const retryIf = options.retryIf ?? isRetriable
    for (let attempt = 0; ; attempt++) {
      this.assertOpen()
      try {
        return await fn(attempt)
      } catch (err) {
        if (!retryIf(err) || attempt >= retries || this.#closed) throw err
        this.logger.debug({ attempt, code: (err as SpoolError).code }, `retrying after: ${(err as Error).message}`)
        await this.sleep(backoffMs(attempt, this.options.retry))
      }
    }
  }

  /** A timer that the client's close() cancels (rejecting with ClientClosedError). */
  sleep (ms: number): Promise<void> {
    if (this.#closed) return Promise.reject(new ClientClosedError('the client is closed'))
    return new Promise((resolve, reject) => {
      const sleeper = {
        timer: setTimeout(() => {
          this.#sleepers.delete(sleeper)
          resolve()
        }, ms),
        reject,
      }
      this.#sleepers.add(sleeper)
    })
  }

  /** Registers a function close() calls first (producers and consumers stop their loops). */
  onClose (hook: () => void): () => void {
    this.#closeHooks.add(hook)
    return () => this.#closeHooks.delete(hook)
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    for (const hook of [...this.#closeHooks]) {
      try {
        hook()
      } catch (err) {
        this.logger.error({ err }, 'close hook failed')
      }
    }
    this.#closeHooks.clear()
    for (const sleeper of this.#sleepers) {
      clearTimeout(sleeper.timer)
      sleeper.reject(new ClientClosedError('the client is closed'))
    }
    this.#sleepers.clear()
    // Requests still pending fail as the application's own doing, not as a retriable
    // connection error.
    const closed = new ClientClosedError('the client was closed')
    for (const entry of this.#connections.values()) {
      if (entry instanceof Promise) entry.then(c => c.close(closed), () => {})
      else entry.close(closed)
    }
    this.#connections.clear()
  }
}

export function isRetriable (err: unknown): boolean {
  return err instanceof SpoolError && err.retriable
}

const STALE_METADATA_CODES = new Set<number>([
  ERROR_TABLE.NOT_LEADER_OR_FOLLOWER.code, ERROR_TABLE.LEADER_NOT_AVAILABLE.code, ERROR_TABLE.FENCED_LEADER_EPOCH.code,
  ERROR_TABLE.UNKNOWN_LEADER_EPOCH.code, ERROR_TABLE.UNKNOWN_TOPIC_OR_PARTITION.code, ERROR_TABLE.NOT_COORDINATOR.code,
])

/** True when the error means the partition's leader (or the broker) may have moved: refresh metadata. */
export function isStaleMetadataError (err: unknown): boolean {
  if (err instanceof ConnectionError || err instanceof BrokerUnreachableError || err instanceof RequestTimedOutError) return true
  return err instanceof SpoolError && STALE_METADATA_CODES.has(err.errorCode)
}

/** The system error code (ECONNREFUSED, ETIMEDOUT, ...) of an error, if any. */
export function systemCode (err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  return typeof code === 'string' ? code : undefined
}

function unreachable (failures: Array<{ address: string, error: unknown }>): BrokerUnreachableError {
  const describe = (f: { address: string, error: unknown }): string => {
    if (f.error instanceof BrokerUnreachableError) return f.error.message.replace(/^cannot reach broker at /, '')
    return `${f.address} (${systemCode(f.error) ?? (f.error instanceof Error ? f.error.message : String(f.error))})`
  }
  const first = failures[0]
  const cause = first?.error instanceof BrokerUnreachableError ? first.error.cause : first?.error
  if (failures.length === 1) {
    return new BrokerUnreachableError(`cannot reach broker at ${describe(first!)}`, { cause })
  }
  if (failures.length === 0) return new BrokerUnreachableError('no broker address given')
  return new BrokerUnreachableError(`cannot reach any broker: ${failures.map(describe).join(', ')}`, { cause })
}
