/**
 * The connections view of `spool top`, `/api/connections`, the DescribeConnections api and
 * the console: every connection of the one registry, sampled once a second by the stats
 * sampler (stats.ts), as rows heaviest egress first — or aggregated by consumer group,
 * topic, client id or host, the question an operator asks once the first screen shows that
 * egress exploded ("which group is it?").
 *
 * Aggregation sums rates, fetch lag and throttled time over the connections of a key and
 * lists the distinct client ids, groups and hosts behind it. By topic, a connection counts
 * with the bytes and records it moved on that topic; its request rates count in full on
 * every topic it touched.
 */

import type { ConnectionActivityRow, ConnectionTotals, ConnectionView, ConnectionsDescription } from '../../protocol/native/apis/describe-connections.js'
import type { Connection } from '../network/connection.js'
import { principalString } from '../security/principal.js'
import type { ConnectionRate, ConnectionSample, ConnectionSource, StatsSampler } from './stats.js'

/** The registry's connections as the stats sampler reads them. */
export function registrySource (list: () => Iterable<Connection>, now: () => number): ConnectionSource<Connection> {
  return {
    list,
    activity (c) {
      const a = c.activity
      // A throttle runs out with no counter moving. Whether it fetches can change with none
      // moving too (a position goes stale), so it is the sum's lowest bit; the lag itself
      // only moves when a fetch arrives, which counts. All terms are integers.
      if (c.throttleRemainingMs > 0) return -1
      const sum = c.bytesIn + c.bytesOut + a.recordsIn + a.recordsOut + a.messagesIn + a.messagesOut + a.requests + a.fetches +
        a.produces + a.throttles + a.topics.size
      return sum * 2 + (a.fetching(now()) ? 1 : 0)
    },
    describe: c => connectionSample(c, now()),
  }
}

/** The sampler's view of one connection (its cumulative counters). */
export function connectionSample (c: Connection, nowMs: number): ConnectionSample {
  const a = c.activity
  const lag = a.lag(nowMs)
  return {
    id: `${c.protocol}-${c.id}`,
    clientId: c.clientId,
    principal: principalString(c.principal),
    remoteAddress: c.peer.address,
    host: c.peer.host,
    protocol: `${c.protocol}-${c.transport}`,
    group: c.group,
    bytesIn: c.bytesIn,
    bytesOut: c.bytesOut,
    recordsIn: a.recordsIn,
    recordsOut: a.recordsOut,
    messagesIn: a.messagesIn,
    messagesOut: a.messagesOut,
    requests: a.requests,
    fetches: a.fetches,
    produces: a.produces,
    throttledMs: a.throttledMs,
    throttleMs: c.throttleRemainingMs,
    topics: a.topics,
    fetchLag: a.fetching(nowMs) ? lag.total : -1,
    lagByTopic: lag.byTopic,
    connectedAtMs: c.connectedAtMs,
  }
}

const MAX_NAMES = 20

function connectionRow (r: ConnectionRate): ConnectionActivityRow {
  const dash = r.protocol.lastIndexOf('-')
  return {
    key: r.id,
    id: r.id,
    connections: 1,
    clientId: r.clientId,
    principal: r.principal,
    host: r.host,
    address: r.remoteAddress,
    protocol: dash < 0 ? r.protocol : r.protocol.slice(0, dash),
    transport: dash < 0 ? '' : r.protocol.slice(dash + 1),
    group: r.group,
    topics: r.topics.map(t => ({ topic: t.topic, bytesInPerSec: t.bytesInPerSec, bytesOutPerSec: t.bytesOutPerSec, fetchLag: t.fetchLag })),
    clientIds: [r.clientId],
    groups: r.group === null ? [] : [r.group],
    hosts: [r.host],
    bytesInPerSec: r.bytesInPerSec,
    bytesOutPerSec: r.bytesOutPerSec,
    recordsInPerSec: r.recordsInPerSec,
    recordsOutPerSec: r.recordsOutPerSec,
    messagesInPerSec: r.messagesInPerSec,
    messagesOutPerSec: r.messagesOutPerSec,
    requestsPerSec: r.requestsPerSec,
    fetchesPerSec: r.fetchesPerSec,
    producesPerSec: r.producesPerSec,
    fetchLag: r.fetchLag,
    throttledMs: r.throttledMs,
    throttledPct: r.throttledPct,
    throttleMs: r.throttleMs,
    bytesIn: r.bytesIn,
    bytesOut: r.bytesOut,
    connectedAtMs: r.connectedAtMs,
  }
}

function emptyAggregate (key: string): ConnectionActivityRow {
  return {
    key, id: '', connections: 0, clientId: '', principal: '', host: '', address: '', protocol: '', transport: '', group: null,
    topics: [], clientIds: [], groups: [], hosts: [],
    bytesInPerSec: 0, bytesOutPerSec: 0, recordsInPerSec: 0, recordsOutPerSec: 0, messagesInPerSec: 0, messagesOutPerSec: 0,
    requestsPerSec: 0, fetchesPerSec: 0, producesPerSec: 0, fetchLag: -1, throttledMs: 0, throttledPct: 0, throttleMs: 0,
    bytesIn: 0, bytesOut: 0, connectedAtMs: Number.MAX_SAFE_INTEGER,
  }
}

function addName (list: string[], name: string | null): void {
  if (name === null || list.length >= MAX_NAMES || list.includes(name)) return
  list.push(name)
}

/** Adds a connection's rates (or its share on one topic) into an aggregate row. */
function accumulate (row: ConnectionActivityRow, r: ConnectionRate, share: { bytesInPerSec: number, bytesOutPerSec: number, recordsInPerSec: number, recordsOutPerSec: number, bytesIn: number, bytesOut: number, fetchLag: number } | null): void {
  row.connections++
  addName(row.clientIds, r.clientId)
  addName(row.groups, r.group)
  addName(row.hosts, r.host)
  const s = share ?? r
  row.bytesInPerSec += s.bytesInPerSec
  row.bytesOutPerSec += s.bytesOutPerSec
  row.recordsInPerSec += s.recordsInPerSec
  row.recordsOutPerSec += s.recordsOutPerSec
  row.bytesIn += s.bytesIn
  row.bytesOut += s.bytesOut
  if (s.fetchLag >= 0) row.fetchLag = Math.max(0, row.fetchLag) + s.fetchLag
  row.messagesInPerSec += r.messagesInPerSec
  row.messagesOutPerSec += r.messagesOutPerSec
  row.requestsPerSec += r.requestsPerSec
  row.fetchesPerSec += r.fetchesPerSec
  row.producesPerSec += r.producesPerSec
  row.throttledMs += r.throttledMs
  row.throttledPct = Math.max(row.throttledPct, r.throttledPct)
  row.throttleMs = Math.max(row.throttleMs, r.throttleMs)
  row.connectedAtMs = Math.min(row.connectedAtMs, r.connectedAtMs)
  if (share === null) {
    for (const t of r.topics) {
      const known = row.topics.find(x => x.topic === t.topic)
      if (known === undefined) row.topics.push({ topic: t.topic, bytesInPerSec: t.bytesInPerSec, bytesOutPerSec: t.bytesOutPerSec, fetchLag: t.fetchLag })
      else {
        known.bytesInPerSec += t.bytesInPerSec
        known.bytesOutPerSec += t.bytesOutPerSec
        if (t.fetchLag >= 0) known.fetchLag = Math.max(0, known.fetchLag) + t.fetchLag
      }
    }
  }
}

function keyOf (by: Exclude<ConnectionView, 'connection' | 'topic'>, r: ConnectionRate): string {
  if (by === 'group') return r.group ?? ''
  if (by === 'client') return r.clientId
  return r.host
}

/** Heaviest egress first, then ingress, then the key. */
function byEgress (a: ConnectionActivityRow, b: ConnectionActivityRow): number {
  return b.bytesOutPerSec - a.bytesOutPerSec || b.bytesInPerSec - a.bytesInPerSec || b.bytesOut - a.bytesOut || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
}

/** The totals over every connection (network bytes, records). */
export function connectionTotals (rates: readonly ConnectionRate[]): ConnectionTotals {
  const t: ConnectionTotals = { connections: rates.length, bytesInPerSec: 0, bytesOutPerSec: 0, recordsInPerSec: 0, recordsOutPerSec: 0, egressRatio: null, throttled: 0 }
  for (const r of rates) {
    t.bytesInPerSec += r.bytesInPerSec
    t.bytesOutPerSec += r.bytesOutPerSec
    t.recordsInPerSec += r.recordsInPerSec
    t.recordsOutPerSec += r.recordsOutPerSec
    if (r.throttleMs > 0) t.throttled++
  }
  t.egressRatio = t.bytesInPerSec > 0 ? t.bytesOutPerSec / t.bytesInPerSec : null
  return t
}

/** The rows of one view. */
export function connectionRows (rates: readonly ConnectionRate[], by: ConnectionView): ConnectionActivityRow[] {
  if (by === 'connection') return rates.map(connectionRow).sort(byEgress)
  const rows = new Map<string, ConnectionActivityRow>()
  const row = (key: string): ConnectionActivityRow => {
    let r = rows.get(key)
    if (r === undefined) rows.set(key, (r = emptyAggregate(key)))
    return r
  }
  for (const r of rates) {
    if (by === 'topic') {
      for (const t of r.topics) accumulate(row(t.topic), r, t)
    } else {
      accumulate(row(keyOf(by, r)), r, null)
    }
  }
  const out = [...rows.values()]
  for (const r of out) r.topics.sort((a, b) => (b.bytesOutPerSec + b.bytesInPerSec) - (a.bytesOutPerSec + a.bytesInPerSec) || (a.topic < b.topic ? -1 : 1))
  return out.sort(byEgress)
}

/** The DescribeConnections answer (and `/api/connections`). */
export function describeConnections (stats: StatsSampler, by: ConnectionView, nowMs: number): ConnectionsDescription {
  const rates = stats.connections()
  return { timeMs: nowMs, intervalMs: stats.intervalMs, by, totals: connectionTotals(rates), rows: connectionRows(rates, by) }
}
