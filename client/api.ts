/**
 * Everything `spool/client` exports, shared by the Node entry (index.ts) and the browser
 * entry (browser.ts). Nothing here, nor anything it imports, may use node: modules or
 * Buffer (tests/unit/client.test.ts walks the browser entry's import graph).
 */

export { Client, type ClientOptions } from './client.js'
export type { ThrottleStats } from './cluster.js'
export type { ThrottleEvent } from './connection.js'
export {
  Producer, type Acks, type HeaderValue, type MessageHeaders, type ProducerMessage, type ProducerOptions,
  type ProducerRecord, type RecordMetadata,
} from './producer.js'
export {
  Consumer, type AssignTarget, type AutoOffsetReset, type Batch, type CommitOffset, type ConsumerOptions, type EachBatchPayload,
  type EachMessagePayload, type RevokedInfo, type RunOptions, type SubscribeOptions, type TopicPartition,
} from './consumer.js'
export type { Message, MessageHeader } from './message.js'
export {
  Admin, type ClientQuota, type ConnectionActivityRow, type ConnectionView, type ConnectionsDescription, type QuotaAlteration,
  type QuotaEntity, type QuotaLimits, type CommittedOffset, type GroupDescription, type GroupListing, type GroupMemberDescription, type GroupPartitionLag,
  type NewTopic, type PartitionDescription, type TopicConfig, type TopicDescription, type TopicOffsets,
  type ClusterDescription, type ClusterPartition,
} from './admin.js'
export type { OffsetAnswer, OffsetQuery } from './offsets.js'
export { EARLIEST, LATEST } from './offsets.js'
export type { Logger } from './logger.js'
export type { RetryOptions } from './retry.js'
export type { TlsClientOptions, Transport, TransportFactory, TransportHandlers, TransportOptions } from './transport/transport.js'
export type { SaslMechanismOption, SaslOptions, TokenSource } from './auth.js'
export { webSocketTransport, type WebSocketConstructor, type WebSocketLike } from './transport/websocket.js'
export { json, text, toJson, utf8 } from './bytes.js'
export * from '../protocol/errors.js'
