/**
 * The shapes of the `/api/` answers (http-api.ts builds them; the web console in
 * web/console/ reads them). Types only: nothing here runs.
 */

import type { ConnectionsDescription } from '../../../../protocol/native/apis/describe-connections.js'
import type { GroupDescription } from '../../../../protocol/native/apis/groups.js'
import type { ConnectionRate } from '../../../observability/stats.js'
import type { EgressNotice } from '../../../quotas/egress.js'

export type { ConnectionActivityRow, ConnectionTotals, ConnectionView } from '../../../../protocol/native/apis/describe-connections.js'
export type { EgressNotice }
import type { PartitionStats } from '../../../storage/log-manager.js'

export interface ApiErrorBody {
  error: { code: string, message: string, retriable: boolean }
}

export interface Rates {
  recordsInPerSec: number
  recordsOutPerSec: number
  bytesInPerSec: number
  bytesOutPerSec: number
}

/** GET /api/overview */
export interface OverviewAnswer {
  broker: {
    version: string
    nodeId: number
    clusterId: string
    startedAtMs: number
    uptimeMs: number
    ports: { native: number | null, http: number | null, mqtt: number | null }
  }
  topics: { count: number, partitions: number, sizeBytes: number }
  groups: { count: number }
  connections: { count: number }
  /** Summed over topics, from the last one-second sample. */
  rates: Rates
  /** Egress against ingress now, and the connection with the most egress. */
  egress: EgressNotice
  timeMs: number
}

/** A row of GET /api/topics. */
export interface TopicSummary {
  /** The topic's name (the same field name as the SDK's describeTopics and the CLI's JSON). */
  topic: string
  internal: boolean
  partitions: number
  /** Bytes on disk, all partitions. */
  sizeBytes: number
  /** Log end minus log start, summed over partitions (a compacted topic holds fewer records). */
  records: number
  cleanupPolicy: 'delete' | 'compact'
  /** -1: forever. */
  retentionMs: number
  /** Per partition; -1: no limit. */
  retentionBytes: number
  createdAtMs: number
}

/** A partition of GET /api/topics/:name: offsets, bytes on disk and segment count. */
export type PartitionDetail = PartitionStats

/** GET /api/topics/:name → { topic }, POST /api/topics → 201 { topic } */
export interface TopicDetail extends Omit<TopicSummary, 'partitions'> {
  /** The effective config (broker defaults overlaid by the topic's overrides). */
  config: Record<string, string | number>
  partitions: PartitionDetail[]
}

/** A row of GET /api/groups. */
export interface GroupSummary {
  groupId: string
  state: string
  members: number
  topics: string[]
  totalLag: number
  /** [timeMs, total lag] once a second, oldest first (at most 5 minutes). */
  lagHistory: Array<[number, number]>
}



/** GET /api/groups/:id → { group } */
export type GroupDetail = GroupDescription

/** A connection with its byte rates over the last sampling interval. */
export type ConnectionRow = ConnectionRate

/** GET /api/traffic */
export interface TrafficAnswer {
  timeMs: number
  /** One sample a second, oldest first: rates per topic. */
  history: Array<{ timeMs: number, topics: Record<string, Rates> }>
  /** Heaviest egress first. */
  connections: ConnectionRow[]
}

/** GET /api/connections[?by=...]: the DescribeConnections answer and the egress notice. */
export interface ConnectionsAnswer extends ConnectionsDescription {
  egress: EgressNotice
}

/** GET /api/cluster: the brokers and the state of the partitions (a single broker is a cluster of one). */
export interface ClusterAnswer {
  clustered: boolean
  clusterId: string
  controllerId: number
  /** The broker that answered. */
  nodeId: number
  brokers: Array<{ nodeId: number, rack: string | null, decommissioned: boolean, listeners: Record<string, string> }>
  partitions: { total: number, underReplicated: number, offline: number, reassigning: number }
  /** Partitions that are under-replicated, offline or being reassigned (at most 200). */
  attention: Array<{ topic: string, partition: number, leader: number, leaderEpoch: number, replicas: number[], isr: number[], state: string }>
}
