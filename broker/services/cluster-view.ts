/**
 * The one description of the cluster every front-end answers Metadata from (native,
 * Kafka): the brokers with their advertised listeners per protocol, each partition's
 * leader, replicas, in-sync replicas and leader epoch, and the controller. A single broker
 * is a cluster of one (singleBrokerView: itself everywhere, epoch 0); in cluster mode the
 * view is read from the cluster metadata (broker/cluster/cluster-view.ts).
 */

export type AdvertisedProtocol = 'native' | 'nativeTls' | 'kafka' | 'kafkaTls' | 'mqtt' | 'http'

export interface HostPort { host: string, port: number }

export interface BrokerView {
  nodeId: number
  rack: string | null
  /** Where clients reach the broker, per protocol (a protocol switched off is absent). */
  listeners: Partial<Record<AdvertisedProtocol, HostPort>>
  /** Being drained: it gets no new replicas. */
  decommissioned: boolean
}

/**
 * The native listener a client should be told about: the TLS one to a client on TLS, the
 * plain one otherwise — as Kafka names each broker's listener of the kind the client came in
 * on. A broker without that listener is not offered (never a plaintext address to a TLS client).
 */
export function nativeAddressOf (broker: BrokerView, encrypted: boolean): HostPort | undefined {
  return encrypted ? broker.listeners.nativeTls : broker.listeners.native
}

export interface PartitionView {
  partition: number
  /** Node id of the leader; -1 while the partition is offline. */
  leader: number
  leaderEpoch: number
  replicas: number[]
  isr: number[]
  /** Replicas on brokers that are not alive. */
  offlineReplicas: number[]
  /** A reassignment in progress: replicas being added and being removed. */
  addingReplicas: number[]
  removingReplicas: number[]
}

/** Cluster administration the front-ends offer in cluster mode (the controller does the work). */
export interface ClusterAdmin {
  reassign (moves: Array<{ topic: string, partition: number, replicas: number[] }>): Promise<{ started: number, completed: number }>
  decommission (nodeId: number, recommission: boolean): Promise<{ moved: number }>
}

export interface ClusterView {
  readonly clusterId: string
  /** True when several brokers share the partitions (etcd configured). */
  readonly clustered: boolean
  /** This broker's node id. */
  readonly nodeId: number
  /** Live brokers, by node id. */
  brokers (): BrokerView[]
  /** The controller's node id (-1 when none is known). */
  controllerId (): number
  /** A topic's partitions as the cluster knows them; null when it has no such topic. */
  partitions (topic: string): PartitionView[] | null
}

/**
 * A single broker: itself, at its advertised listeners (read when asked, so ports bound
 * after start show), leader of every partition at epoch 0.
 */
export function singleBrokerView (options: {
  clusterId: string, nodeId: number, listeners: () => Partial<Record<AdvertisedProtocol, HostPort>>, partitionCount: (topic: string) => number
}): ClusterView {
  const node = options.nodeId
  return {
    clusterId: options.clusterId,
    clustered: false,
    nodeId: node,
    brokers: () => [{ nodeId: node, rack: null, listeners: options.listeners(), decommissioned: false }],
    controllerId: () => node,
    partitions (topic) {
      const count = options.partitionCount(topic)
      if (count === 0) return null
      return Array.from({ length: count }, (_, partition) => ({ partition, leader: node, leaderEpoch: 0, replicas: [node], isr: [node], offlineReplicas: [], addingReplicas: [], removingReplicas: [] }))
    },
  }
}
