/**
 * DescribeConnections (key 1003): every open connection of every protocol (native over TCP
 * and WebSocket, MQTT, Kafka) with what it does per second, from the broker's one-second
 * sampler — what `spool top`, `/api/connections` and the console's Traffic page show.
 * Heaviest egress first; `by` aggregates the rows by consumer group, topic, client id or
 * host instead (one row per key, the connections' rates summed).
 *
 *   request  v0 := { by: 'connection'|'group'|'topic'|'client'|'host' }
 *   response v0 := { errorCode, errorMessage, timeMs, intervalMs, by,
 *                    totals: { connections, bytesInPerSec, bytesOutPerSec, recordsInPerSec, recordsOutPerSec,
 *                              egressRatio|null, throttled },
 *                    rows: [Row] }
 *   Row := { key, id, connections, clientId, principal, host, address, protocol, transport, group,
 *            topics: [{ topic, bytesInPerSec, bytesOutPerSec, fetchLag }],
 *            clientIds, groups, hosts (distinct values, at most 20 each; aggregated rows),
 *            bytesInPerSec, bytesOutPerSec, recordsInPerSec, recordsOutPerSec, messagesInPerSec, messagesOutPerSec,
 *            requestsPerSec, fetchesPerSec, producesPerSec, fetchLag, throttledMs, throttledPct, throttleMs,
 *            bytesIn, bytesOut, connectedAtMs }
 *
 * Per connection: `key` = `id` = `<protocol>-<n>`; fetchLag = offsets between where its
 * fetches read and the log end, summed over the partitions it fetched in the last 30 s (-1:
 * it does not fetch); throttledMs = milliseconds a quota made it wait since it connected,
 * throttledPct = the share of the last interval it spent throttled, throttleMs = how much
 * longer it waits now. Aggregated rows sum the rates, fetch lag and throttled time, count
 * the connections, list the distinct client ids, groups and hosts, and leave the
 * per-connection fields empty ('' / null / -1; connectedAtMs: the oldest). egressRatio =
 * bytesOutPerSec / bytesInPerSec (null without ingress).
 */

import { array, int, nullable, num, object, oneOf, optional, str } from '../schema.js'
import type { Infer } from '../schema.js'
import { topLevelError, topicName } from './common.js'

export const CONNECTION_VIEWS = ['connection', 'group', 'topic', 'client', 'host'] as const
export type ConnectionView = typeof CONNECTION_VIEWS[number]

export const DescribeConnectionsRequest = object({
  by: optional(oneOf(CONNECTION_VIEWS), 'connection'),
})
export type DescribeConnectionsRequest = Infer<typeof DescribeConnectionsRequest>

const names = array(str(256), 1000)

export const ConnectionActivityRow = object({
  key: str(512),
  id: str(64),
  connections: int(0),
  clientId: str(256),
  principal: str(512),
  host: str(256),
  address: str(300),
  protocol: str(16),
  transport: str(16),
  group: nullable(str(255)),
  topics: array(object({ topic: topicName, bytesInPerSec: num, bytesOutPerSec: num, fetchLag: int(-1) }), 100_000),
  clientIds: names,
  groups: names,
  hosts: names,
  bytesInPerSec: num,
  bytesOutPerSec: num,
  recordsInPerSec: num,
  recordsOutPerSec: num,
  messagesInPerSec: num,
  messagesOutPerSec: num,
  requestsPerSec: num,
  fetchesPerSec: num,
  producesPerSec: num,
  fetchLag: int(-1),
  throttledMs: num,
  throttledPct: num,
  throttleMs: int(0),
  bytesIn: int(0),
  bytesOut: int(0),
  connectedAtMs: int(0),
})
export type ConnectionActivityRow = Infer<typeof ConnectionActivityRow>

export const ConnectionTotals = object({
  connections: int(0),
  bytesInPerSec: num,
  bytesOutPerSec: num,
  recordsInPerSec: num,
  recordsOutPerSec: num,
  egressRatio: nullable(num),
  /** Connections throttled by a quota now. */
  throttled: int(0),
})
export type ConnectionTotals = Infer<typeof ConnectionTotals>

export const DescribeConnectionsResponse = object({
  ...topLevelError,
  timeMs: int(0),
  intervalMs: int(0),
  by: oneOf(CONNECTION_VIEWS),
  totals: ConnectionTotals,
  rows: array(ConnectionActivityRow, 1_000_000),
})
export type DescribeConnectionsResponse = Infer<typeof DescribeConnectionsResponse>
/** The answer as the SDK returns it (no error fields). */
export type ConnectionsDescription = Omit<DescribeConnectionsResponse, 'errorCode' | 'errorMessage'>
