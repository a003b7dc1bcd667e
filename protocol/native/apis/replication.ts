/**
 * The inter-broker replication apis (docs/cluster.md): a follower fetches the partitions it
 * replicates from their leader, and after a leader change asks the new leader where its
 * log diverges. Brokers speak them to each other over the native listener; clients never do.
 *
 * ReplicaFetch (key 1001), a long poll like Fetch: the leader answers once any partition has
 * records past `fetchOffset`, or a high watermark past the follower's, or after `maxWaitMs`.
 * `fetchOffset` is the follower's log end offset (the leader tracks it per follower: ISR and
 * high watermark are computed from it); records are whole batches as the leader stores them,
 * read up to the leader's log end (not its high watermark), which the follower appends
 * unchanged. `leaderEpoch` is the epoch the follower believes current: an older one is
 * FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH (the leader has not seen the change
 * yet), a broker that does not lead the partition says NOT_LEADER_OR_FOLLOWER.
 *
 *   request  v0 := { replicaId, maxWaitMs, minBytes, maxBytes,
 *                    partitions: [{ topic, partition, leaderEpoch, fetchOffset, highWatermark, maxBytes }] }
 *   response v0 := { errorCode, errorMessage,
 *                    partitions: [{ topic, partition, errorCode, errorMessage, highWatermark, logStartOffset,
 *                                   logEndOffset, recordsBytes }] }
 *                  records := each partition's batches, concatenated in response order
 *
 * OffsetForLeaderEpoch (key 23, Kafka's number; KIP-101/279): for each partition, the largest
 * epoch the leader knows at or below `leaderEpoch` (the follower's latest epoch) and where it
 * ends in the leader's log; the follower truncates there (or at its own end of that epoch,
 * whichever is lower). `currentLeaderEpoch` is checked like ReplicaFetch's `leaderEpoch`.
 * -1/-1 when the leader knows no such epoch.
 *
 *   request  v0 := { replicaId, partitions: [{ topic, partition, currentLeaderEpoch, leaderEpoch }] }
 *   response v0 := { errorCode, errorMessage,
 *                    partitions: [{ topic, partition, errorCode, errorMessage, leaderEpoch, endOffset,
 *                                   logStartOffset, logEndOffset }] }
 */

import { array, int, object, optional } from '../schema.js'
import type { Infer } from '../schema.js'
import { errorCode, errorMessage, offset, partitionId, topLevelError, topicName } from './common.js'

const nodeId = int(0, 0x7fffffff)
const epoch = int(-1, 0x7fffffff)

export const ReplicaFetchRequest = object({
  replicaId: nodeId,
  maxWaitMs: optional(int(0, 60_000), 500),
  minBytes: optional(int(0, 0x7fffffff), 1),
  maxBytes: optional(int(0, 0x7fffffff), 16 * 1024 * 1024),
  partitions: array(object({
    topic: topicName,
    partition: partitionId,
    leaderEpoch: epoch,
    fetchOffset: offset,
    highWatermark: offset,
    maxBytes: optional(int(0, 0x7fffffff), 1024 * 1024),
  }), 100_000),
})
export type ReplicaFetchRequest = Infer<typeof ReplicaFetchRequest>

export const ReplicaFetchResponse = object({
  ...topLevelError,
  partitions: array(object({
    topic: topicName,
    partition: partitionId,
    errorCode,
    errorMessage,
    highWatermark: offset,
    logStartOffset: offset,
    logEndOffset: offset,
    recordsBytes: int(0, 0x7fffffff),
  }), 100_000),
})
export type ReplicaFetchResponse = Infer<typeof ReplicaFetchResponse>

export const OffsetForLeaderEpochRequest = object({
  replicaId: nodeId,
  partitions: array(object({
    topic: topicName,
    partition: partitionId,
    currentLeaderEpoch: epoch,
    leaderEpoch: epoch,
  }), 100_000),
})
export type OffsetForLeaderEpochRequest = Infer<typeof OffsetForLeaderEpochRequest>

export const OffsetForLeaderEpochResponse = object({
  ...topLevelError,
  partitions: array(object({
    topic: topicName,
    partition: partitionId,
    errorCode,
    errorMessage,
    leaderEpoch: epoch,
    endOffset: int(-1),
    logStartOffset: offset,
    logEndOffset: offset,
  }), 100_000),
})
export type OffsetForLeaderEpochResponse = Infer<typeof OffsetForLeaderEpochResponse>
