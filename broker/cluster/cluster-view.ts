/**
 * The ClusterView (services/cluster-view.ts) of a broker in a cluster, read from the agent's
 * metadata cache: the live brokers with the listeners they registered, each partition's
 * leader, epoch, replicas and ISR as the controller last wrote them, the controller. Before
 * the agent has joined, the view is empty (no brokers, no topics).
 */

import type { BrokerView, ClusterView, PartitionView } from '../services/cluster-view.js'
import type { ClusterAgent } from './cluster-agent.js'

export class AgentClusterView implements ClusterView {
  readonly clusterId: string
  readonly clustered = true
  readonly nodeId: number
  readonly #agent: () => ClusterAgent | null

  constructor (o: { clusterId: string, nodeId: number, agent: () => ClusterAgent | null }) {
    this.clusterId = o.clusterId
    this.nodeId = o.nodeId
    this.#agent = o.agent
  }

  brokers (): BrokerView[] {
    const agent = this.#agent()
    if (agent === null) return []
    return [...agent.metadata.brokers.values()]
      .sort((a, b) => a.nodeId - b.nodeId)
      .map(b => ({ nodeId: b.nodeId, rack: b.rack, listeners: { ...b.listeners }, decommissioned: agent.metadata.decommissioned.has(b.nodeId) }))
  }

  controllerId (): number {
    return this.#agent()?.controller?.nodeId ?? -1
  }

  partitions (topic: string): PartitionView[] | null {
    const agent = this.#agent()
    if (agent === null || !agent.metadata.topics.has(topic)) return null
    const live = agent.metadata.brokers
    return agent.metadata.partitionsOf(topic)
      .sort((a, b) => a.partition - b.partition)
      .map(p => ({
        partition: p.partition,
        leader: p.leader,
        leaderEpoch: p.leaderEpoch,
        replicas: [...p.replicas],
        isr: [...p.isr],
        offlineReplicas: p.replicas.filter(r => !live.has(r)),
        addingReplicas: [...p.addingReplicas],
        removingReplicas: [...p.removingReplicas],
      }))
  }
}
