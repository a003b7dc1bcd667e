/**
 * ListOffsets (key 2). `timestamp` -1 asks for the latest offset (the high watermark),
 * -2 for the earliest (log start offset), any T >= 0 for the first offset whose record
 * timestamp is >= T (offset -1 and timestamp -1 when there is none).
 *
 *   request  v0 := { isolationLevel: 0|1, topics: [{ topic, partitions: [{ partition, timestamp }] }] }
 *   response v0 := { errorCode, errorMessage, topics: [{ topic, partitions: [{ partition, errorCode, errorMessage, offset, timestamp }] }] }
 */

import { array, int, object, oneOf, optional } from '../schema.js'
import type { Infer } from '../schema.js'
import { errorCode, errorMessage, offset, partitionId, topLevelError, topicName } from './common.js'

export const LATEST_TIMESTAMP = -1
export const EARLIEST_TIMESTAMP = -2

export const ListOffsetsRequest = object({
  isolationLevel: optional(oneOf([0, 1] as const), 0),
  topics: array(object({
    topic: topicName,
    partitions: array(object({ partition: partitionId, timestamp: int(-2) }), 100_000),
  }), 10_000),
})
export type ListOffsetsRequest = Infer<typeof ListOffsetsRequest>

export const ListOffsetsResponse = object({
  ...topLevelError,
  topics: array(object({
    topic: topicName,
    partitions: array(object({ partition: partitionId, errorCode, errorMessage, offset, timestamp: offset }), 100_000),
  })),
})
export type ListOffsetsResponse = Infer<typeof ListOffsetsResponse>
