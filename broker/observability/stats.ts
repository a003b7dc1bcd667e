/**
 * Live traffic statistics for the console and `/api/...`: once a second the sampler reads
 * the broker's counters and keeps per-second rates (records and bytes in/out per topic,
 * bytes in/out per connection) and each group's total lag, for the last `historySeconds`.
 * Reading counters costs nothing on the hot path: the hot path only adds to them.
 */

import type { BrokerMetrics } from './metrics.js'

export interface ConnectionSample {
  id: string
  clientId: string
  remoteAddress: string
  /** native-tcp, native-ws, mqtt-tcp, mqtt-ws */
  protocol: string
  group: string | null
  bytesIn: number
  bytesOut: number
  connectedAtMs: number
}

/** Anything that has connections to show (native listeners, the MQTT gateway, ...). */
export type ConnectionSource = () => Iterable<ConnectionSample>

export interface TopicRate {
  recordsInPerSec: number
  recordsOutPerSec: number
  bytesInPerSec: number
  bytesOutPerSec: number
}

export interface Sample {
  timeMs: number
  topics: Record<string, TopicRate>
  groupLag: Record<string, number>
}

export interface ConnectionRate extends ConnectionSample {
  bytesInPerSec: number
  bytesOutPerSec: number
}

const ZERO_TOPIC: readonly [number, number, number, number] = [0, 0, 0, 0]
const ZERO_CONN: readonly [number, number] = [0, 0]

export class StatsSampler {
  readonly #metrics: BrokerMetrics
  readonly #sources: ConnectionSource[] = []
  readonly #groupLag: () => Iterable<[string, number]>
  readonly #history: Sample[] = []
  readonly #historySeconds: number
  #lastTopic = new Map<string, [number, number, number, number]>()
  #lastConn = new Map<string, [number, number]>()
  #connRates: ConnectionRate[] = []
  #lastTimeMs = 0
  #sampled = false
  #timer: NodeJS.Timeout | null = null
  readonly #now: () => number

  constructor (options: { metrics: BrokerMetrics, groupLag: () => Iterable<[string, number]>, historySeconds?: number, now?: () => number }) {
    this.#metrics = options.metrics
    this.#groupLag = options.groupLag
    this.#historySeconds = options.historySeconds ?? 300
    this.#now = options.now ?? Date.now
  }

  addSource (source: ConnectionSource): void {
    this.#sources.push(source)
  }

  start (intervalMs = 1000): void {
    this.#lastTimeMs = this.#now()
    this.sample()
    this.#timer = setInterval(() => this.sample(), intervalMs)
    this.#timer.unref()
  }

  stop (): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  /**
   * Takes one sample (the timer calls this; tests may too). A topic or connection first seen
   * now counts from zero (everything it did happened since the last sample), except in the
   * first sample, which only sets the baseline.
   */
  sample (): void {
    const first = !this.#sampled
    this.#sampled = true
    const now = this.#now()
    const seconds = Math.max(0.001, (now - this.#lastTimeMs) / 1000)
    this.#lastTimeMs = now
    const totals = new Map<string, [number, number, number, number]>()
    for (const [topic, t] of this.#metrics.topics()) totals.set(topic, [t.recordsIn, t.recordsOut, t.bytesIn, t.bytesOut])
    const topics: Record<string, TopicRate> = {}
    for (const [topic, row] of totals) {
      const prev = this.#lastTopic.get(topic) ?? (first ? row : ZERO_TOPIC)
      topics[topic] = {
        recordsInPerSec: (row[0] - prev[0]) / seconds,
        recordsOutPerSec: (row[1] - prev[1]) / seconds,
        bytesInPerSec: (row[2] - prev[2]) / seconds,
        bytesOutPerSec: (row[3] - prev[3]) / seconds,
      }
    }
    this.#lastTopic = totals
    const groupLag: Record<string, number> = {}
    for (const [group, lag] of this.#groupLag()) groupLag[group] = lag
    this.#history.push({ timeMs: now, topics, groupLag })
    while (this.#history.length > this.#historySeconds) this.#history.shift()

    const conns = new Map<string, [number, number]>()
    const rates: ConnectionRate[] = []
    for (const source of this.#sources) {
      for (const c of source()) {
        const prev = this.#lastConn.get(c.id) ?? (first ? [c.bytesIn, c.bytesOut] : ZERO_CONN)
        conns.set(c.id, [c.bytesIn, c.bytesOut])
        rates.push({ ...c, bytesInPerSec: (c.bytesIn - prev[0]) / seconds, bytesOutPerSec: (c.bytesOut - prev[1]) / seconds })
      }
    }
    this.#lastConn = conns
    this.#connRates = rates.sort((a, b) => b.bytesOutPerSec - a.bytesOutPerSec || b.bytesOut - a.bytesOut)
  }

  history (sinceMs = 0): Sample[] {
    return this.#history.filter(s => s.timeMs > sinceMs)
  }

  /** Open connections with their rates, heaviest egress first. */
  connections (): ConnectionRate[] {
    return this.#connRates
  }
}
