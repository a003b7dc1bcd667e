/**
 * CreateTopics (key 19). Each topic gets its own error code; `validateOnly` checks
 * without creating. Config keys are the broker's topic config names (retentionMs,
 * retentionBytes, cleanupPolicy, segmentBytes, segmentMs, deleteRetentionMs, maxBatchBytes, ...).
 *
 *   request  v0 := { topics: [{ topic, partitions (-1 = broker default), replicationFactor (-1 = broker default), config: { key: number|string } }], validateOnly: bool }
 *
 * `replicationFactor` matters in a cluster only (a single broker holds one copy of everything).
 *   response v0 := { errorCode, errorMessage, topics: [{ topic, errorCode, errorMessage, partitions }] }
 */

import { array, bool, int, object, optional, record, scalar } from '../schema.js'
import type { Infer } from '../schema.js'
import { errorCode, errorMessage, topLevelError, topicName } from './common.js'

export const CreateTopicsRequest = object({
  topics: array(object({
    topic: topicName,
    partitions: optional(int(-1, 1_000_000), -1),
    replicationFactor: optional(int(-1, 1000), -1),
    config: optional(record(scalar, 100), {}),
  }), 10_000),
  validateOnly: optional(bool, false),
})
export type CreateTopicsRequest = Infer<typeof CreateTopicsRequest>

export const CreateTopicsResponse = object({
  ...topLevelError,
  topics: array(object({ topic: topicName, errorCode, errorMessage, partitions: int() })),
})
export type CreateTopicsResponse = Infer<typeof CreateTopicsResponse>
