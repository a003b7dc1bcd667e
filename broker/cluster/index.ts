/** The cluster control plane: membership, controller election, metadata in etcd (docs/cluster.md). */

export { ClusterAgent, type ClusterAgentEvents, type ClusterAgentOptions, type IsrChangeInput, type PartitionRole, type ReplicaRole } from './cluster-agent.js'
export { resolveClusterSettings, DEFAULT_CLUSTER_SETTINGS, CLUSTER_SETTING_DOCS, parseHostPort, type ClusterSettings, type ClusterSettingsInput, type ListenerProtocol, type HostPort } from './settings.js'
export { NO_LEADER, type BrokerRegistration, type PartitionState, type TopicRecord, type TopicConfig } from './records.js'
export type { ControllerInfo, MetadataChange, MetadataCache } from './metadata-cache.js'
export type { DocumentStore, StoredDocument, WriteCondition } from './documents.js'
export type { CreateTopicBody, PartitionRef, RequestKind, RequestBodies, RequestResults } from './requests.js'
export { ClusterKeys, type DocumentKind } from './keys.js'
