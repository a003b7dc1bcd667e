/**
 * Metadata (key 3): brokers, and topics with their partitions and leaders. With
 * `allowAutoCreate` and the broker's autoCreateTopics on, unknown topics named in the
 * request are created with the default partition count (as Kafka clients expect). In a
 * cluster every live broker is listed (its native listener as advertised) and each
 * partition names its leader (-1 while offline: LEADER_NOT_AVAILABLE), leader epoch,
 * replicas and in-sync replicas; any broker answers for the whole cluster.
 *
 *   request  v0 := { topics: [topic] | null (all), allowAutoCreate: bool }
 *   response v0 := { errorCode, errorMessage, clusterId, controllerId,
 *                    brokers: [{ nodeId, host, port, rack?, decommissioned? }],
 *                    topics: [{ topic, errorCode, errorMessage, internal,
 *                               partitions: [{ partition, errorCode, leader, leaderEpoch, replicas: [nodeId], isr: [nodeId],
 *                                              offlineReplicas?, addingReplicas?, removingReplicas? }] }] }
 */

import { array, bool, int, nullable, object, optional, str } from '../schema.js'
import type { Infer } from '../schema.js'
import { errorCode, errorMessage, partitionId, topLevelError, topicName } from './common.js'

export const MetadataRequest = object({
  topics: nullable(array(topicName, 10_000)),
  allowAutoCreate: optional(bool, false),
})
export type MetadataRequest = Infer<typeof MetadataRequest>

export const MetadataResponse = object({
  ...topLevelError,
  clusterId: str(64),
  controllerId: int(),
  brokers: array(object({ nodeId: int(), host: str(255), port: int(0, 65535), rack: nullable(str(64)), decommissioned: optional(bool, false) })),
  topics: array(object({
    topic: topicName,
    errorCode,
    errorMessage,
    internal: bool,
    partitions: array(object({
      partition: partitionId,
      errorCode,
      leader: int(),
      leaderEpoch: int(),
      replicas: array(int()),
      isr: array(int()),
      offlineReplicas: optional(array(int()), []),
      addingReplicas: optional(array(int()), []),
      removingReplicas: optional(array(int()), []),
    }), 1_000_000),
  })),
})
export type MetadataResponse = Infer<typeof MetadataResponse>
