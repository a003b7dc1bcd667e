/**
 * Fetch (key 1), a long poll. The broker answers when at least `minBytes` of records are
 * available across the request's partitions, or after `maxWaitMs`, whichever is first; an
 * append to any of the partitions wakes a waiting fetch. Each partition returns whole
 * batches as they lie on disk, starting with the batch that contains `fetchOffset` (so the
 * client skips records below it), at most `maxBytes` per partition and per request, except
 * that the first batch is returned even if larger, so a consumer always progresses.
 *
 *   request  v0 := { maxWaitMs, minBytes, maxBytes, isolationLevel: 0|1, rackId?,
 *                    topics: [{ topic, partitions: [{ partition, fetchOffset, maxBytes }] }] }
 *   response v0 := { errorCode, errorMessage, throttleTimeMs, topics: [{ topic, partitions: [{ partition, errorCode,
 *                    errorMessage, highWatermark, lastStableOffset, logStartOffset, recordsBytes, preferredReadReplica? }] }] }
 *                  records := each partition's batches, concatenated in response order
 *
 * throttleTimeMs (0 when absent): a quota throttles this client; the broker reads nothing
 * more from the connection for that long, and the client should send nothing to this
 * broker before it has passed (Kafka's throttle_time_ms, KIP-219 order: answer, then wait).
 *
 * Cluster mode (docs/cluster.md): a partition is fetched from its leader; a broker that does
 * not lead it answers NOT_LEADER_OR_FOLLOWER. A consumer that names its rack (`rackId`, KIP-392)
 * may be told `preferredReadReplica`, a replica in its rack, and may then fetch that partition
 * from it: a follower serves fetches that carry a rackId, up to its own high watermark.
 * `preferredReadReplica` is -1 (absent) when the leader is the one to use.
 */

import { array, int, object, oneOf, optional, str } from '../schema.js'
import type { Infer } from '../schema.js'
import { errorCode, errorMessage, offset, partitionId, topLevelError, topicName } from './common.js'

export const FetchRequest = object({
  maxWaitMs: optional(int(0, 3_600_000), 500),
  minBytes: optional(int(0, 0x7fffffff), 1),
  maxBytes: optional(int(0, 0x7fffffff), 50 * 1024 * 1024),
  isolationLevel: optional(oneOf([0, 1] as const), 0),
  rackId: optional(str(64), ''),
  topics: array(object({
    topic: topicName,
    partitions: array(object({ partition: partitionId, fetchOffset: offset, maxBytes: optional(int(0, 0x7fffffff), 1024 * 1024) }), 100_000),
  }), 10_000),
})
export type FetchRequest = Infer<typeof FetchRequest>

export const FetchResponse = object({
  ...topLevelError,
  throttleTimeMs: optional(int(0, 0x7fffffff), 0),
  topics: array(object({
    topic: topicName,
    partitions: array(object({
      partition: partitionId,
      errorCode,
      errorMessage,
      highWatermark: offset,
      lastStableOffset: offset,
      logStartOffset: offset,
      recordsBytes: int(0, 0x7fffffff),
      preferredReadReplica: optional(int(-1), -1),
    }), 100_000),
  })),
})
export type FetchResponse = Infer<typeof FetchResponse>
