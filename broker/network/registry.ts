/**
 * Every connection of every protocol, in one place: `maxConnections` counts them all and
 * refuses the next one at accept (per-protocol limits such as `mqttMaxConnections` apply
 * under it), one sweep checks them for idleness, and `/metrics`, the stats sampler, the
 * console and `spool top` read them from here. Plain HTTP requests are not connections here
 * (so `/healthz` and `/metrics` answer while the broker is full); a socket upgraded to a
 * WebSocket is accepted as a connection of its endpoint's protocol and counts.
 *
 * Refusals are counted in `spool_connection_errors_total{protocol,reason="TOO_MANY_CONNECTIONS"}`
 * and logged (rate-limited to one line a second, with how many were suppressed).
 */

import type { Logger } from 'pino'
import { TooManyConnectionsError } from '../../protocol/errors.js'
import type { BrokerMetrics, Labels } from '../observability/metrics.js'
import type { Principal, ProtocolName } from '../security/principal.js'
import type { ByteBudget } from './budget.js'
import type { ByteChannel } from './channel.js'
import { Connection, type ProtocolCounters, type QuotaPolicy, type WireProtocol } from './connection.js'

export interface RegistryOptions {
  maxConnections: number
  /** Limits of single protocols under maxConnections. */
  perProtocol?: Partial<Record<ProtocolName, number>>
  budget: ByteBudget | null
  logger: Logger
  now: () => number
  /** How often idle connections are looked for. */
  sweepMs?: number
  /** The broker's quotas, which every connection charges (broker/quotas/). */
  quotas?: QuotaPolicy | null
}

export class ConnectionRegistry {
  readonly #all = new Map<number, Connection>()
  readonly #options: RegistryOptions
  readonly #counters = new Map<ProtocolName, ProtocolCounters>()
  readonly #opened = new Map<string, { labels: Labels, count: number }>()
  readonly #perProtocol = new Map<ProtocolName, number>()
  #nextId = 1
  /** A connection closed: one function for all of them (no closure per connection). */
  readonly #removed = (c: Connection): void => {
    if (this.#all.delete(c.id)) this.#perProtocol.set(c.protocol, (this.#perProtocol.get(c.protocol) ?? 1) - 1)
  }
  #sweep: NodeJS.Timeout | null
  #refusalLoggedMs = 0
  #refusalsSuppressed = 0

  constructor (options: RegistryOptions) {
    this.#options = options
    this.#sweep = setInterval(() => this.sweepIdle(), options.sweepMs ?? 1000)
    this.#sweep.unref()
  }

  /** Connections open now. */
  get size (): number { return this.#all.size }

  count (protocol: ProtocolName): number { return this.#perProtocol.get(protocol) ?? 0 }

  list (): Connection[] { return [...this.#all.values()] }

  /** The open connections, without copying them into an array. */
  values (): IterableIterator<Connection> { return this.#all.values() }

  get (id: number): Connection | undefined { return this.#all.get(id) }

  counters (protocol: ProtocolName): ProtocolCounters {
    let c = this.#counters.get(protocol)
    if (c === undefined) this.#counters.set(protocol, (c = { receivedBytes: 0, sentBytes: 0, errors: new Map() }))
    return c
  }

  /**
   * Wraps a new channel in a Connection of `protocol`, or refuses it (told why, then ended).
   * `principal`: who the channel already proved to be (a verified TLS client certificate,
   * a WebSocket upgrade with a login session), set before the protocol's session opens.
   */
  accept (channel: ByteChannel, protocol: WireProtocol, principal?: { principal: Principal, expiresAtMs: number | null } | null): Connection | null {
    const refusal = this.#refusal(protocol.name)
    if (refusal !== null) {
      this.#refused(protocol.name, channel.peer.address, refusal)
      try {
        protocol.refuse(channel, refusal)
      } finally {
        channel.end()
      }
      return null
    }
    const id = this.#nextId++
    const connection = new Connection({
      id,
      channel,
      protocol,
      budget: this.#options.budget,
      counters: this.counters(protocol.name),
      logger: this.#options.logger,
      now: this.#options.now,
      quotas: this.#options.quotas ?? null,
      onClose: this.#removed,
    })
    this.#all.set(id, connection)
    this.#perProtocol.set(protocol.name, (this.#perProtocol.get(protocol.name) ?? 0) + 1)
    const key = `${protocol.name}\u0000${channel.transport}`
    const opened = this.#opened.get(key)
    if (opened === undefined) this.#opened.set(key, { labels: { protocol: protocol.name, transport: channel.transport }, count: 1 })
    else opened.count++
    if (principal != null) connection.authenticated(principal.principal, principal.expiresAtMs)
    connection.start(protocol)
    return connection.closed ? null : connection
  }

  #refusal (protocol: ProtocolName): TooManyConnectionsError | null {
    const o = this.#options
    if (this.size >= o.maxConnections) return new TooManyConnectionsError(`the broker has ${o.maxConnections} connections (maxConnections)`)
    const limit = o.perProtocol?.[protocol]
    if (limit !== undefined && this.count(protocol) >= limit) {
      return new TooManyConnectionsError(`the broker has ${limit} ${protocol} connections (${protocol}MaxConnections)`)
    }
    return null
  }

  #refused (protocol: ProtocolName, peer: string, err: TooManyConnectionsError): void {
    const errors = this.counters(protocol).errors
    errors.set(err.code, (errors.get(err.code) ?? 0) + 1)
    const now = this.#options.now()
    if (now - this.#refusalLoggedMs < 1000) {
      this.#refusalsSuppressed++
      return
    }
    this.#options.logger.warn({ protocol, peer, code: err.code, reason: err.message, suppressed: this.#refusalsSuppressed || undefined }, 'connection refused')
    this.#refusalLoggedMs = now
    this.#refusalsSuppressed = 0
  }

  sweepIdle (): void {
    const now = this.#options.now()
    for (const c of this.#all.values()) c.checkIdle(now)
  }

  /** Ends every connection (queued output is flushed first). */
  closeAll (err: import('../../protocol/errors.js').SpoolError | null = null): void {
    if (this.#sweep !== null) clearInterval(this.#sweep)
    this.#sweep = null
    for (const c of [...this.#all.values()]) c.close(err)
  }

  /** The registry's series on `/metrics`. */
  registerMetrics (metrics: BrokerMetrics): void {
    const all = this.#all
    const counters = this.#counters
    const opened = this.#opened
    metrics.gauge('spool_connections', 'Open connections, by protocol and transport', ['protocol', 'transport'], () => {
      const n = new Map<string, [Labels, number]>()
      for (const c of all.values()) {
        const key = `${c.protocol}\u0000${c.transport}`
        const row = n.get(key)
        if (row === undefined) n.set(key, [{ protocol: c.protocol, transport: c.transport }, 1])
        else row[1]++
      }
      return n.values()
    })
    metrics.counter('spool_connections_opened_total', 'Connections accepted, by protocol and transport', ['protocol', 'transport'], function * () {
      for (const o of opened.values()) yield [o.labels, o.count]
    })
    metrics.counter('spool_connection_errors_total', 'Connections refused or closed for a limit, bad input or an internal error, by protocol and reason', ['protocol', 'reason'], function * () {
      for (const [protocol, c] of counters) for (const [reason, n] of c.errors) yield [{ protocol, reason }, n]
    })
    metrics.counter('spool_received_bytes_total', 'Bytes received from clients, by protocol', ['protocol'], function * () {
      for (const [protocol, c] of counters) yield [{ protocol }, c.receivedBytes]
    })
    metrics.counter('spool_sent_bytes_total', 'Bytes sent to clients, by protocol', ['protocol'], function * () {
      for (const [protocol, c] of counters) yield [{ protocol }, c.sentBytes]
    })
    const perConnection = (read: (c: Connection) => number) => function * (): Iterable<[Labels, number]> {
      for (const c of all.values()) yield [{ connection: c.id, protocol: c.protocol, client_id: c.clientId, peer: c.peer.address }, read(c)]
    }
    metrics.counter('spool_connection_received_bytes_total', 'Bytes received per open connection', ['connection', 'protocol', 'client_id', 'peer'], perConnection(c => c.bytesIn))
    metrics.counter('spool_connection_sent_bytes_total', 'Bytes sent per open connection', ['connection', 'protocol', 'client_id', 'peer'], perConnection(c => c.bytesOut))
    const budget = this.#options.budget
    if (budget !== null) {
      metrics.gauge('spool_pending_request_bytes', 'Bytes held for requests still arriving, all connections together (bounded by maxPendingRequestBytes)', [], () => [[{}, budget.used]])
      metrics.counter('spool_pending_request_waits_total', 'Times a connection stopped reading because maxPendingRequestBytes was reached', [], () => [[{}, budget.blockedTotal]])
    }
  }
}
