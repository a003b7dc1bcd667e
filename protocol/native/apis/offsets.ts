/**
 * Committed offsets of consumer groups, kept in the internal compacted topic
 * `__consumer_offsets` (docs/architecture.md §4).
 *
 * OffsetCommit (key 8): a member commits for partitions it owns now (or is giving up), with
 * its current member epoch. memberId '' and memberEpoch -1 is an admin commit (offset reset),
 * accepted only while the group has no members (NON_EMPTY_GROUP otherwise).
 *   request  v0 := { groupId, memberId, memberEpoch, topics: [{ topic, partitions: [{ partition, offset, metadata: string|null }] }] }
 *   response v0 := { errorCode, errorMessage, topics: [{ topic, partitions: [{ partition, errorCode, errorMessage }] }] }
 *   errors: UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH (a zombie: the member was evicted), STALE_MEMBER_EPOCH,
 *           UNKNOWN_TOPIC_OR_PARTITION, ILLEGAL_GENERATION (partition not owned by this member), NON_EMPTY_GROUP
 *
 * OffsetFetch (key 9): committed offsets (-1 when none).
 *   request  v0 := { groupId, topics: [{ topic, partitions: [int] }] | null (all committed) }
 *   response v0 := { errorCode, errorMessage, topics: [{ topic, partitions: [{ partition, offset, metadata, errorCode, errorMessage }] }] }
 */

import { array, int, nullable, object, str } from '../schema.js'
import type { Infer } from '../schema.js'
import { errorCode, errorMessage, offset, partitionId, topLevelError, topicName } from './common.js'
import { groupId, memberId, topicPartitions } from './group-heartbeat.js'

export const OffsetCommitRequest = object({
  groupId,
  memberId,
  memberEpoch: int(-1, 0x7fffffff),
  topics: array(object({
    topic: topicName,
    partitions: array(object({ partition: partitionId, offset: int(0), metadata: nullable(str(4096)) }), 1_000_000),
  }), 10_000),
})
export type OffsetCommitRequest = Infer<typeof OffsetCommitRequest>

export const OffsetCommitResponse = object({
  ...topLevelError,
  topics: array(object({ topic: topicName, partitions: array(object({ partition: partitionId, errorCode, errorMessage }), 1_000_000) })),
})
export type OffsetCommitResponse = Infer<typeof OffsetCommitResponse>

export const OffsetFetchRequest = object({ groupId, topics: nullable(topicPartitions) })
export type OffsetFetchRequest = Infer<typeof OffsetFetchRequest>

export const OffsetFetchResponse = object({
  ...topLevelError,
  topics: array(object({
    topic: topicName,
    partitions: array(object({ partition: partitionId, offset, metadata: nullable(str(4096)), errorCode, errorMessage }), 1_000_000),
  })),
})
export type OffsetFetchResponse = Infer<typeof OffsetFetchResponse>
