/**
 * GroupHeartbeat (key 68): broker-side assignment in the spirit of Kafka's KIP-848
 * (docs/formats.md §4.4). A member joins with memberEpoch 0, then heartbeats every
 * heartbeatIntervalMs with its epoch; the coordinator answers with the partitions the member
 * may own now. Partitions move incrementally: a partition leaves a member's assignment
 * (the member must stop fetching it, commit, and report it no longer owned) before it is
 * given to another member, so no partition is owned by two members at once.
 *
 *   memberEpoch  0  join (memberId '' lets the coordinator choose one)
 *               -1  leave the group (partitions are released at once)
 *               -2  a static member (instanceId set) leaves for a moment: its partitions
 *                   stay reserved for it until its session times out
 *               >0  the epoch the coordinator last gave this member
 *
 *   request  v0 := { groupId, memberId, memberEpoch, instanceId: string|null,
 *                    rebalanceTimeoutMs, sessionTimeoutMs, subscribedTopics: [topic]|null (null = unchanged),
 *                    ownedPartitions: [{ topic, partitions: [int] }]|null (null = unchanged) }
 *   response v0 := { errorCode, errorMessage, memberId, memberEpoch, heartbeatIntervalMs,
 *                    assignment: [{ topic, partitions: [int] }] }
 *
 * Errors: UNKNOWN_MEMBER_ID (member evicted or never joined: rejoin with epoch 0),
 * FENCED_MEMBER_EPOCH (epoch is not the member's: rejoin), INVALID_SESSION_TIMEOUT,
 * GROUP_MAX_SIZE_REACHED, INVALID_REQUEST.
 */

import { array, int, nullable, object, optional, str } from '../schema.js'
import type { Infer } from '../schema.js'
import { partitionId, topLevelError, topicName } from './common.js'

export const groupId = str(255)
export const memberId = str(255)

export const topicPartitions = array(object({ topic: topicName, partitions: array(partitionId, 1_000_000) }), 10_000)
export type TopicPartitionsList = Infer<typeof topicPartitions>

export const GroupHeartbeatRequest = object({
  groupId,
  memberId: optional(memberId, ''),
  memberEpoch: int(-2, 0x7fffffff),
  instanceId: nullable(str(255)),
  rebalanceTimeoutMs: optional(int(0, 3_600_000), 60_000),
  sessionTimeoutMs: optional(int(0, 3_600_000), 45_000),
  subscribedTopics: nullable(array(topicName, 10_000)),
  ownedPartitions: nullable(topicPartitions),
})
export type GroupHeartbeatRequest = Infer<typeof GroupHeartbeatRequest>

export const GroupHeartbeatResponse = object({
  ...topLevelError,
  memberId: optional(memberId, ''),
  memberEpoch: optional(int(), -1),
  heartbeatIntervalMs: optional(int(0), 3000),
  assignment: optional(topicPartitions, []),
})
export type GroupHeartbeatResponse = Infer<typeof GroupHeartbeatResponse>
