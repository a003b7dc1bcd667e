/**
 * Live traffic statistics for the console, `/api/...` and `spool top`: once a second the
 * sampler reads the broker's counters and keeps per-second rates (records and bytes in/out
 * per topic; per connection bytes, records, messages, requests, fetches and produces, bytes
 * per topic, throttled time) and each group's total lag, for the last `historySeconds`.
 * Reading counters costs nothing on the hot path: the hot path only adds to them.
 */

import type { BrokerMetrics } from './metrics.js'

/** A connection's cumulative counters, as a source reports them. */
export interface ConnectionSample {
  /** `<protocol>-<n>` */
  id: string
  clientId: string
  /** `User:alice`; `User:ANONYMOUS` without authentication. */
  principal: string
  /** host:port of the peer. */
  remoteAddress: string
  /** The peer's host (no port). */
  host: string
  /** native-tcp, native-ws, mqtt-tcp, mqtt-ws, kafka-tcp */
  protocol: string
  group: string | null
  bytesIn: number
  bytesOut: number
  recordsIn: number
  recordsOut: number
  messagesIn: number
  messagesOut: number
  requests: number
  fetches: number
  produces: number
  /** Milliseconds a quota made it wait, since it connected. */
  throttledMs: number
  /** How much longer it is throttled now. */
  throttleMs: number
  /** Bytes and records per topic, since it connected. */
  topics: ReadonlyMap<string, { bytesIn: number, bytesOut: number, recordsIn: number, recordsOut: number }>
  /** Offsets between where its fetches read and the log end, summed (-1: it does not fetch). */
  fetchLag: number
  lagByTopic: ReadonlyMap<string, number>
  connectedAtMs: number
}

/**
 * Anything that has connections to show (the connection registry), read so that an idle
 * connection costs a few field reads per sample and no allocation: `activity` is the sum of
 * its cumulative counters and state (they only grow, so an equal sum means nothing moved; -1
 * when it must be described anyway, e.g. while a throttle runs out), and `describe` makes
 * the full sample only for connections that did something. The connection objects are the
 * sampler's keys: the same object from one sample to the next.
 */
export interface ConnectionSource<T extends object> {
  list (): Iterable<T>
  activity (connection: T): number
  describe (connection: T): ConnectionSample
}

/** A connection's traffic on one topic, per second over the last interval. */
export interface ConnectionTopicRate {
  topic: string
  bytesInPerSec: number
  bytesOutPerSec: number
  recordsInPerSec: number
  recordsOutPerSec: number
  bytesIn: number
  bytesOut: number
  /** -1: the connection does not fetch this topic. */
  fetchLag: number
}

/** A connection with its rates over the last sampling interval (plain JSON). */
export interface ConnectionRate {
  id: string
  clientId: string
  principal: string
  remoteAddress: string
  host: string
  protocol: string
  group: string | null
  bytesIn: number
  bytesOut: number
  connectedAtMs: number
  bytesInPerSec: number
  bytesOutPerSec: number
  recordsInPerSec: number
  recordsOutPerSec: number
  messagesInPerSec: number
  messagesOutPerSec: number
  requestsPerSec: number
  fetchesPerSec: number
  producesPerSec: number
  fetchLag: number
  throttledMs: number
  /** Share of the last interval it spent throttled, 0-100. */
  throttledPct: number
  throttleMs: number
  /** Busiest first. */
  topics: ConnectionTopicRate[]
}

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

const ZERO_TOPIC: readonly [number, number, number, number] = [0, 0, 0, 0]

/** The cumulative counters of a connection the sampler keeps between samples. */
interface ConnectionPrev {
  counters: number[]
  topics: ReadonlyMap<string, readonly [number, number, number, number]>
  /** Its last row said nothing moved (no row is kept for it while it stays so). */
  idle: boolean
  /** The source's activity sum when this was taken. */
  sum: number
  /** The sample that last saw the connection open. */
  round: number
}

/** The topics of a connection that moved nothing yet (most of a device fleet): shared. */
const NO_TOPICS: ReadonlyMap<string, readonly [number, number, number, number]> = new Map()

const COUNTERS = ['bytesIn', 'bytesOut', 'recordsIn', 'recordsOut', 'messagesIn', 'messagesOut', 'requests', 'fetches', 'produces', 'throttledMs'] as const

export class StatsSampler {
  readonly #metrics: BrokerMetrics
  readonly #sources: Array<ConnectionSource<object>> = []
  readonly #groupLag: () => Iterable<[string, number]>
  readonly #history: Sample[] = []
  readonly #historySeconds: number
  #lastTopic = new Map<string, [number, number, number, number]>()
  /** Per open connection: its counters at the last sample (updated in place, closed ones dropped). */
  readonly #lastConn = new Map<object, ConnectionPrev>()
  #round = 0
  /** Rows of the connections that moved in the last interval (or the one before), heaviest first. */
  #connRates: ConnectionRate[] = []
  /**
   * The idle connections of the last sample, with their sources: no row is kept for them (a
   * device fleet is mostly idle, and a row is ~0.5 KB); `connections()` makes theirs on demand.
   */
  #idleKeys: object[] = []
  #idleSources: Array<ConnectionSource<object>> = []
  /** `connections()` of this sample, once asked for. */
  #allRates: ConnectionRate[] | null = null
  #listeners: Array<() => void> = []
  #intervalMs = 1000
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

  addSource<T extends object> (source: ConnectionSource<T>): void {
    this.#sources.push(source as unknown as ConnectionSource<object>)
  }

  /** Called after each sample (the egress watch reads the new rates). */
  onSample (listener: () => void): void {
    this.#listeners.push(listener)
  }

  /** The length of the last sampling interval (what the rates are over). */
  get intervalMs (): number { return this.#intervalMs }

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
    if (!first) this.#intervalMs = Math.round(seconds * 1000)
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

    const conns = this.#lastConn
    const round = ++this.#round
    const rates: ConnectionRate[] = []
    const idleKeys: object[] = []
    const idleSources: Array<ConnectionSource<object>> = []
    for (const source of this.#sources) {
      for (const key of source.list()) {
        const prev = conns.get(key)
        const sum = source.activity(key)
        // Idle (nothing moved in this interval nor the one before): not described, no row.
        if (prev !== undefined && sum >= 0 && sum === prev.sum && prev.idle) {
          prev.round = round
          idleKeys.push(key)
          idleSources.push(source)
          continue
        }
        const c = source.describe(key)
        const now = snapshot(c, prev)
        now.round = round
        now.sum = sum
        if (now !== prev) conns.set(key, now)
        const row = connectionRate(c, now, prev ?? (first ? now : null), seconds)
        now.idle = idleRow(row)
        if (now.idle) {
          idleKeys.push(key)
          idleSources.push(source)
        } else rates.push(row)
      }
    }
    if (conns.size > rates.length + idleKeys.length) for (const [id, p] of conns) if (p.round !== round) conns.delete(id)
    this.#connRates = rates.sort(byEgress)
    this.#idleKeys = idleKeys
    this.#idleSources = idleSources
    this.#allRates = null
    for (const listener of this.#listeners) listener()
  }

  history (sinceMs = 0): Sample[] {
    return this.#history.filter(s => s.timeMs > sinceMs)
  }

  /** Open connections with their rates, heaviest egress first (idle ones' rows made now, once per sample). */
  connections (): ConnectionRate[] {
    if (this.#idleKeys.length === 0) return this.#connRates
    if (this.#allRates !== null) return this.#allRates
    const all = this.#connRates.slice()
    for (let i = 0; i < this.#idleKeys.length; i++) {
      const key = this.#idleKeys[i]!
      const prev = this.#lastConn.get(key)
      if (prev !== undefined) all.push(connectionRate(this.#idleSources[i]!.describe(key), prev, prev, 1))
    }
    this.#allRates = all.sort(byEgress)
    return this.#allRates
  }

  /**
   * The connections that moved in the last interval or the one before, heaviest egress first:
   * every connection with a rate above zero is here (what the egress watch reads each second).
   */
  activeConnections (): ConnectionRate[] {
    return this.#connRates
  }
}

/** The connection's counters now; `prev` itself when nothing moved since (an idle connection allocates nothing). */
function snapshot (c: ConnectionSample, prev: ConnectionPrev | undefined): ConnectionPrev {
  if (prev !== undefined && unchanged(c, prev)) return prev
  let topics = NO_TOPICS
  if (c.topics.size > 0) {
    const copy = new Map<string, readonly [number, number, number, number]>()
    for (const [topic, t] of c.topics) copy.set(topic, [t.bytesIn, t.bytesOut, t.recordsIn, t.recordsOut])
    topics = copy
  }
  return { counters: COUNTERS.map(k => c[k]), topics, idle: false, sum: -1, round: 0 }
}

/**
 * Whether `row` says nothing moved: no traffic, no throttle, no fetch lag. Such a row stays
 * true while the connection's counters stand still (its client id, principal and group only
 * change with a request, which moves them).
 */
function idleRow (row: ConnectionRate): boolean {
  return row.bytesInPerSec === 0 && row.bytesOutPerSec === 0 && row.requestsPerSec === 0 && row.messagesInPerSec === 0 &&
    row.messagesOutPerSec === 0 && row.recordsInPerSec === 0 && row.recordsOutPerSec === 0 && row.fetchesPerSec === 0 &&
    row.producesPerSec === 0 && row.throttledPct === 0 && row.throttleMs === 0 && row.fetchLag === -1 && row.topics.length === 0
}

function unchanged (c: ConnectionSample, prev: ConnectionPrev): boolean {
  if (c.topics.size > 0 || prev.topics.size > 0) return false
  for (let i = 0; i < COUNTERS.length; i++) if (c[COUNTERS[i]!] !== prev.counters[i]) return false
  return true
}

function byEgress (a: ConnectionRate, b: ConnectionRate): number {
  return b.bytesOutPerSec - a.bytesOutPerSec || b.bytesOut - a.bytesOut
}

/** Rates from two snapshots `seconds` apart (a connection first seen counts from zero). */
function connectionRate (c: ConnectionSample, now: ConnectionPrev, prev: ConnectionPrev | null, seconds: number): ConnectionRate {
  const per = (i: number): number => Math.max(0, now.counters[i]! - (prev?.counters[i] ?? 0)) / seconds
  const topics: ConnectionTopicRate[] = []
  for (const [topic, row] of now.topics) {
    const p = prev?.topics.get(topic) ?? ZERO_TOPIC
    topics.push({
      topic,
      bytesInPerSec: Math.max(0, row[0] - p[0]) / seconds,
      bytesOutPerSec: Math.max(0, row[1] - p[1]) / seconds,
      recordsInPerSec: Math.max(0, row[2] - p[2]) / seconds,
      recordsOutPerSec: Math.max(0, row[3] - p[3]) / seconds,
      bytesIn: row[0],
      bytesOut: row[1],
      fetchLag: c.lagByTopic.get(topic) ?? -1,
    })
  }
  topics.sort((a, b) => (b.bytesOutPerSec + b.bytesInPerSec) - (a.bytesOutPerSec + a.bytesInPerSec) || (b.bytesOut + b.bytesIn) - (a.bytesOut + a.bytesIn))
  return {
    id: c.id,
    clientId: c.clientId,
    principal: c.principal,
    remoteAddress: c.remoteAddress,
    host: c.host,
    protocol: c.protocol,
    group: c.group,
    bytesIn: c.bytesIn,
    bytesOut: c.bytesOut,
    connectedAtMs: c.connectedAtMs,
    bytesInPerSec: per(0),
    bytesOutPerSec: per(1),
    recordsInPerSec: per(2),
    recordsOutPerSec: per(3),
    messagesInPerSec: per(4),
    messagesOutPerSec: per(5),
    requestsPerSec: per(6),
    fetchesPerSec: per(7),
    producesPerSec: per(8),
    fetchLag: c.fetchLag,
    throttledMs: c.throttledMs,
    throttledPct: Math.min(100, per(9) / 10),
    throttleMs: c.throttleMs,
    topics,
  }
}
