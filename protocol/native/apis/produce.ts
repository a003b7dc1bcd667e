/**
 * Produce (key 0). Record data travels in the frame's records section: each partition's
 * RecordBatch v2 bytes (one or more batches back to back), in the order the partitions are
 * listed, `recordsBytes` long each. The broker validates every batch of a partition before
 * writing any of it and rewrites only baseOffset. acks 0 gets no response at all; acks 1
 * is answered once the batches are in the log file; acks -1 (all) once they are fsynced.
 *
 *   request  v0 := { acks: -1|0|1, timeoutMs, topics: [{ topic, partitions: [{ partition, recordsBytes }] }] }
 *                  records := partition batches, concatenated in request order
 *   response v0 := { errorCode, errorMessage, throttleTimeMs, topics: [{ topic, partitions: [{ partition, errorCode,
 *                    errorMessage, baseOffset, logAppendTimeMs, logStartOffset }] }] }
 *
 * throttleTimeMs (0 when absent): as in Fetch — the batches were written, and the client
 * should wait that long before it sends more to this broker (the broker does not read its
 * connection meanwhile).
 */

import { array, int, object, oneOf, optional } from '../schema.js'
import type { Infer } from '../schema.js'
import { errorCode, errorMessage, offset, partitionId, topLevelError, topicName } from './common.js'

export const ProduceRequest = object({
  acks: oneOf([-1, 0, 1] as const),
  timeoutMs: optional(int(0, 3_600_000), 30_000),
  topics: array(object({
    topic: topicName,
    partitions: array(object({ partition: partitionId, recordsBytes: int(0, 0x7fffffff) }), 100_000),
  }), 10_000),
})
export type ProduceRequest = Infer<typeof ProduceRequest>

export const ProduceResponse = object({
  ...topLevelError,
  throttleTimeMs: optional(int(0, 0x7fffffff), 0),
  topics: array(object({
    topic: topicName,
    partitions: array(object({
      partition: partitionId,
      errorCode,
      errorMessage,
      baseOffset: offset,
      logAppendTimeMs: offset,
      logStartOffset: offset,
    }), 100_000),
  })),
})
export type ProduceResponse = Infer<typeof ProduceResponse>
