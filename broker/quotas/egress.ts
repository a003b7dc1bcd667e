/**
 * Egress anomalies: outbound traffic far above inbound, usually one consumer re-reading a
 * topic, a group with far more members than meant, or a forgotten replay. Read from the
 * stats sampler after each one-second sample:
 *
 * - an anomaly is egress ≥ egressWarnMinBytesPerSec and ≥ egressWarnRatio × ingress;
 * - a connection taking more than egressWarnPercent of the egress for egressWarnSeconds in
 *   a row during an anomaly gets one warning line (who, which group and topics, how much),
 *   repeated at most every 10 minutes while it lasts;
 * - `/metrics` gains per-topic egress/ingress ratios over the last minute and an egress
 *   gauge for the heaviest egressTopConnections connections (a bounded label set);
 * - `notice()` is what the console shows ("egress is N× ingress", the heaviest connection).
 */

import type { Logger } from 'pino'
import type { BrokerConfig } from '../config/settings.js'
import { connectionTotals } from '../observability/connections.js'
import type { BrokerMetrics, Labels } from '../observability/metrics.js'
import type { ConnectionRate, StatsSampler } from '../observability/stats.js'

export type EgressSettings = Pick<BrokerConfig, 'egressWarnRatio' | 'egressWarnPercent' | 'egressWarnSeconds' | 'egressWarnMinBytesPerSec' | 'egressTopConnections'>

/** What the console shows about egress now. */
export interface EgressNotice {
  /** Egress ≥ egressWarnRatio × ingress and ≥ egressWarnMinBytesPerSec. */
  anomaly: boolean
  bytesInPerSec: number
  bytesOutPerSec: number
  /** bytesOutPerSec / bytesInPerSec; null without ingress. */
  ratio: number | null
  /** The connection with the most egress, with its share (%) of it. */
  heaviest: { id: string, clientId: string, group: string | null, host: string, bytesOutPerSec: number, sharePct: number, topics: string[] } | null
}

const REPEAT_MS = 10 * 60_000
const RATIO_WINDOW_SAMPLES = 60

export class EgressWatch {
  readonly #stats: StatsSampler
  readonly #settings: EgressSettings
  readonly #logger: Logger
  readonly #now: () => number
  /** Per connection id: since when it has been over its share. */
  readonly #over = new Map<string, number>()
  /** Per open connection id: when it was last logged (kept while it dips and comes back). */
  readonly #logged = new Map<string, number>()

  constructor (options: { stats: StatsSampler, settings: EgressSettings, logger: Logger, now: () => number }) {
    this.#stats = options.stats
    this.#settings = options.settings
    this.#logger = options.logger
    this.#now = options.now
    options.stats.onSample(() => this.check())
  }

  notice (): EgressNotice {
    const rates = this.#stats.activeConnections()
    const totals = connectionTotals(rates)
    const s = this.#settings
    const anomaly = totals.bytesOutPerSec > 0 && totals.bytesOutPerSec >= s.egressWarnMinBytesPerSec &&
      (totals.bytesInPerSec === 0 || totals.bytesOutPerSec >= s.egressWarnRatio * totals.bytesInPerSec)
    const top = rates[0]
    return {
      anomaly,
      bytesInPerSec: totals.bytesInPerSec,
      bytesOutPerSec: totals.bytesOutPerSec,
      ratio: totals.egressRatio,
      heaviest: top === undefined || top.bytesOutPerSec <= 0
        ? null
        : { id: top.id, clientId: top.clientId, group: top.group, host: top.host, bytesOutPerSec: top.bytesOutPerSec, sharePct: 100 * top.bytesOutPerSec / totals.bytesOutPerSec, topics: top.topics.filter(t => t.bytesOutPerSec > 0).slice(0, 5).map(t => t.topic) },
    }
  }

  /** After each sample: logs a connection that has stayed over its share long enough. */
  check (): void {
    const s = this.#settings
    if (s.egressWarnPercent <= 0) return
    const now = this.#now()
    const notice = this.notice()
    const seen = new Set<string>()
    const rates = this.#stats.activeConnections()
    if (notice.anomaly) {
      for (const r of rates) {
        const share = 100 * r.bytesOutPerSec / notice.bytesOutPerSec
        if (!(share > s.egressWarnPercent)) break // heaviest first: the rest have less
        seen.add(r.id)
        const since = this.#over.get(r.id) ?? now
        this.#over.set(r.id, since)
        if (now - since < s.egressWarnSeconds * 1000) continue
        const logged = this.#logged.get(r.id)
        if (logged !== undefined && now - logged < REPEAT_MS) continue
        this.#logged.set(r.id, now)
        this.#warn(r, share, notice, now - since)
      }
    }
    for (const id of this.#over.keys()) if (!seen.has(id)) this.#over.delete(id)
    if (this.#logged.size > 0) {
      // Every open connection, idle ones too: a logged one that pauses is still remembered.
      const open = new Set(this.#stats.connections().map(r => r.id))
      for (const id of this.#logged.keys()) if (!open.has(id)) this.#logged.delete(id)
    }
  }

  #warn (r: ConnectionRate, share: number, notice: EgressNotice, forMs: number): void {
    this.#logger.warn({
      connection: r.id,
      clientId: r.clientId,
      group: r.group ?? undefined,
      peer: r.remoteAddress,
      principal: r.principal,
      topics: r.topics.filter(t => t.bytesOutPerSec > 0).slice(0, 5).map(t => t.topic),
      bytesOutPerSec: Math.round(r.bytesOutPerSec),
      sharePct: Math.round(share),
      egressRatio: notice.ratio === null ? null : Math.round(notice.ratio),
      fetchLag: r.fetchLag,
      forSeconds: Math.round(forMs / 1000),
    }, 'egress anomaly: one connection takes most of the outbound traffic (see `spool top`; `spool quota set --client-id ... --fetch-bytes-per-sec ...` limits it)')
  }

  /** The egress series on `/metrics`. */
  registerMetrics (metrics: BrokerMetrics): void {
    const stats = this.#stats
    const top = this.#settings.egressTopConnections
    metrics.gauge('spool_topic_egress_ratio', 'Bytes sent to consumers over bytes appended, per topic, over the last minute (+Inf: egress without ingress)', ['topic'], () => {
      const sums = new Map<string, [number, number]>()
      for (const sample of stats.history().slice(-RATIO_WINDOW_SAMPLES)) {
        for (const [topic, r] of Object.entries(sample.topics)) {
          const row = sums.get(topic)
          if (row === undefined) sums.set(topic, [r.bytesInPerSec, r.bytesOutPerSec])
          else {
            row[0] += r.bytesInPerSec
            row[1] += r.bytesOutPerSec
          }
        }
      }
      const rows: Array<[Labels, number]> = []
      for (const [topic, [bytesIn, bytesOut]] of sums) {
        if (bytesOut <= 0) continue
        rows.push([{ topic }, bytesIn > 0 ? bytesOut / bytesIn : Infinity])
      }
      return rows
    })
    metrics.gauge('spool_egress_ratio', 'Bytes sent over bytes received, all connections, over the last second (absent without ingress)', [], () => {
      const ratio = connectionTotals(stats.activeConnections()).egressRatio
      return ratio === null ? [] : [[{}, ratio]]
    })
    metrics.gauge('spool_connection_egress_bytes_per_second', `Bytes per second sent to each of the ${top} connections with the most egress`, ['connection', 'protocol', 'client_id', 'group', 'peer'], () => {
      const rows: Array<[Labels, number]> = []
      for (const r of stats.activeConnections().slice(0, top)) {
        if (r.bytesOutPerSec <= 0) break
        rows.push([{ connection: r.id, protocol: r.protocol, client_id: r.clientId, group: r.group ?? '', peer: r.remoteAddress }, r.bytesOutPerSec])
      }
      return rows
    })
  }
}
