/**
 * Every open native-protocol connection, across listeners: enforces maxConnections, sweeps
 * idle connections, lists them for metrics and the console, closes them on shutdown.
 */

import type { Logger } from 'pino'
import { TooManyConnectionsError } from '../../protocol/errors.js'
import { NOTICE_CORRELATION_ID, encodeResponseFrame } from '../../protocol/native/frame.js'
import type { BrokerMetrics } from '../observability/metrics.js'
import type { ByteChannel } from './channel.js'
import { Connection, type ConnectionLimits, type Dispatch } from '../protocols/native/connection.js'

export interface ConnectionsOptions {
  limits: ConnectionLimits
  maxConnections: number
  dispatch: Dispatch
  logger: Logger
  metrics: BrokerMetrics
  now?: () => number
}

export class Connections {
  readonly #all = new Map<number, Connection>()
  readonly #options: ConnectionsOptions
  #nextId = 1
  #sweep: NodeJS.Timeout | null = null

  constructor (options: ConnectionsOptions) {
    this.#options = options
    // One sweep for all connections instead of a timer per connection.
    const every = Math.max(100, Math.min(options.limits.idleTimeoutMs / 4, 30_000))
    this.#sweep = setInterval(() => this.sweepIdle(), every)
    this.#sweep.unref()
  }

  get size (): number { return this.#all.size }

  list (): Connection[] { return [...this.#all.values()] }

  /** Wraps a new channel in a Connection, or refuses it when maxConnections is reached. */
  accept (channel: ByteChannel): Connection | null {
    const o = this.#options
    if (this.#all.size >= o.maxConnections) {
      const err = new TooManyConnectionsError(`the broker has ${o.maxConnections} connections (maxConnections)`)
      o.metrics.connectionsRejected.labels(err.code).inc()
      o.logger.warn({ remote: channel.remoteAddress, code: err.code }, 'connection refused')
      channel.write(encodeResponseFrame(NOTICE_CORRELATION_ID, { errorCode: err.errorCode, errorMessage: err.message }))
      channel.end()
      return null
    }
    const id = this.#nextId++
    const connection = new Connection({
      id,
      channel,
      limits: o.limits,
      dispatch: o.dispatch,
      logger: o.logger,
      metrics: o.metrics,
      ...(o.now === undefined ? {} : { now: o.now }),
      onClose: c => this.#all.delete(c.id),
    })
    this.#all.set(id, connection)
    return connection
  }

  sweepIdle (): void {
    const now = (this.#options.now ?? Date.now)()
    for (const c of this.#all.values()) c.checkIdle(now)
  }

  /** Ends every connection (queued responses are flushed first). */
  closeAll (): void {
    if (this.#sweep !== null) clearInterval(this.#sweep)
    this.#sweep = null
    for (const c of [...this.#all.values()]) c.close()
  }
}
