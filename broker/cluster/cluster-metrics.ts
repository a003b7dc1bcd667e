/**
 * Cluster metrics on `/metrics` (read when scraped, never on the data path):
 *
 *   spool_cluster_brokers                         live brokers in the cluster
 *   spool_cluster_controller                      1 while this broker is the controller
 *   spool_cluster_controller_changes_total        controller changes this broker has seen
 *   spool_cluster_metadata_stale                  1 while etcd does not answer (last known metadata in use)
 *   spool_cluster_leader_partitions               partitions this broker leads
 *   spool_cluster_under_replicated_partitions     of those, with fewer in-sync replicas than replicas
 *   spool_cluster_offline_partitions              partitions of the cluster without a leader (any broker reports it)
 *   spool_cluster_isr_shrinks_total / _isr_expands_total   ISR changes this broker made as a leader
 *   spool_cluster_truncations_total               divergent tails this broker cut as a follower
 *   spool_cluster_replica_lag_records{topic,partition,replica}
 *                                                 on the leader: its log end minus each follower's
 *   spool_cluster_replication_bytes_total         bytes this broker fetched as a follower
 */

import type { BrokerMetrics } from '../observability/metrics.js'
import type { ClusterNode } from './cluster-node.js'
import { NO_LEADER } from './records.js'

export function registerClusterMetrics (metrics: BrokerMetrics, node: ClusterNode): void {
  const one = (name: string, help: string, read: () => number): void => metrics.gauge(name, help, [], function * () { yield [{}, read()] })
  const count = (name: string, help: string, read: () => number): void => metrics.counter(name, help, [], function * () { yield [{}, read()] })
  const replicas = node.replicas
  one('spool_cluster_brokers', 'Live brokers in the cluster', () => node.agent?.metadata.brokers.size ?? 0)
  one('spool_cluster_controller', '1 while this broker is the controller', () => (node.agent?.isController === true ? 1 : 0))
  count('spool_cluster_controller_changes_total', 'Controller changes this broker has seen', () => node.controllerChanges)
  one('spool_cluster_metadata_stale', '1 while etcd does not answer and the last known metadata is in use', () => (node.agent?.metadataStale === true ? 1 : 0))
  one('spool_cluster_leader_partitions', 'Partitions this broker leads', () => [...replicas.replicas()].filter(r => r.role === 'leader').length)
  one('spool_cluster_under_replicated_partitions', 'Partitions this broker leads with fewer in-sync replicas than replicas', () => replicas.underReplicatedCount())
  one('spool_cluster_offline_partitions', 'Partitions of the cluster without a leader', () => node.agent?.offlinePartitions().filter(p => p.leader === NO_LEADER).length ?? 0)
  count('spool_cluster_isr_shrinks_total', 'ISR shrinks this broker made as a leader', () => replicas.counters.isrShrinks)
  count('spool_cluster_isr_expands_total', 'ISR expansions this broker made as a leader', () => replicas.counters.isrExpands)
  count('spool_cluster_truncations_total', 'Divergent log tails this broker truncated as a follower', () => replicas.counters.truncations)
  count('spool_cluster_replication_bytes_total', 'Bytes this broker fetched from leaders as a follower', () => replicas.counters.bytesFetched)
  metrics.gauge('spool_cluster_replica_lag_records', 'On the leader: its log end offset minus each follower\'s', ['topic', 'partition', 'replica'], function * () {
    for (const r of replicas.replicas()) {
      if (r.role !== 'leader') continue
      let end: number
      try {
        end = replicas.log(r.topic, r.partition).logEndOffset
      } catch {
        continue
      }
      for (const [id, f] of r.followers) {
        yield [{ topic: r.topic, partition: r.partition, replica: id }, f.logEndOffset < 0 ? end : Math.max(0, end - f.logEndOffset)]
      }
    }
  })
}
