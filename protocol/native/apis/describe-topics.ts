/**
 * DescribeTopics (key 1000, Spool's own): a topic's config and, per partition, log start
 * and end offsets, high watermark and bytes on disk — what `spool topic describe` and the
 * console show.
 *
 *   request  v0 := { topics: [topic] | null (all), includeInternal: bool }
 *   response v0 := { errorCode, errorMessage, topics: [{ topic, errorCode, errorMessage, internal,
 *                    config: { key: number|string },
 *                    partitions: [{ partition, logStartOffset, logEndOffset, highWatermark, sizeBytes }] }] }
 */

import { array, bool, int, nullable, object, optional, record, scalar } from '../schema.js'
import type { Infer } from '../schema.js'
import { errorCode, errorMessage, offset, partitionId, topLevelError, topicName } from './common.js'

export const DescribeTopicsRequest = object({
  topics: nullable(array(topicName, 10_000)),
  includeInternal: optional(bool, false),
})
export type DescribeTopicsRequest = Infer<typeof DescribeTopicsRequest>

export const DescribeTopicsResponse = object({
  ...topLevelError,
  topics: array(object({
    topic: topicName,
    errorCode,
    errorMessage,
    internal: bool,
    config: record(scalar, 100),
    partitions: array(object({
      partition: partitionId,
      logStartOffset: offset,
      logEndOffset: offset,
      highWatermark: offset,
      sizeBytes: int(0),
    }), 1_000_000),
  })),
})
export type DescribeTopicsResponse = Infer<typeof DescribeTopicsResponse>
