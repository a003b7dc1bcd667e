/** What every native api handler may use; built once by broker.ts. */

import type { Logger } from 'pino'
import { SpoolError } from '../../../protocol/errors.js'
import type { BrokerConfig } from '../../config/settings.js'
import type { BrokerMetrics } from '../../observability/metrics.js'
import type { AccessPolicy } from '../../services/access.js'
import type { ClusterAdmin, ClusterView } from '../../services/cluster-view.js'
import type { PartitionService } from '../../services/partitions.js'
import type { ProducerIdService } from '../../services/producer-ids.js'
import type { ReplicaEndpoints } from '../../services/replication.js'
import type { TopicService } from '../../services/topics.js'

export interface BrokerContext {
  readonly config: BrokerConfig
  readonly topics: TopicService
  readonly partitions: PartitionService
  readonly producerIds: ProducerIdService
  readonly logger: Logger
  readonly metrics: BrokerMetrics
  /** host:port clients should use for the native protocol (metadata). */
  readonly advertised: { host: string, port: number }
  /** What the handlers that call no service ask (the inter-broker and cluster-admin apis). */
  readonly access: AccessPolicy
  /** The brokers and partition leaders Metadata describes (a single broker: itself). */
  readonly cluster: ClusterView
  /** Cluster mode: the leader's side of ReplicaFetch and OffsetForLeaderEpoch (null on one broker). */
  readonly replication: ReplicaEndpoints | null
  /** Cluster mode: reassignment and decommission (null on one broker). */
  readonly clusterAdmin: ClusterAdmin | null
  readonly now: () => number
}

/** The error fields of a per-item result: 0/null for success, the named error otherwise. */
export function errorFields (err: unknown): { errorCode: number, errorMessage: string | null } {
  if (err === null || err === undefined) return { errorCode: 0, errorMessage: null }
  if (err instanceof SpoolError) return { errorCode: err.errorCode, errorMessage: err.message }
  return { errorCode: -1, errorMessage: 'internal error' }
}
