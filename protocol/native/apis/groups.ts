/**
 * Group administration.
 *
 * ListGroups (key 16):
 *   request  v0 := {}
 *   response v0 := { errorCode, errorMessage, groups: [{ groupId, state, members }] }
 *
 * DescribeGroups (key 15): members with their assignment, and per partition the committed
 * offset, log end offset and lag (what `spool group describe` and the console show).
 *   request  v0 := { groupIds: [groupId] }
 *   response v0 := { errorCode, errorMessage, groups: [{ groupId, errorCode, errorMessage, state, groupEpoch,
 *                    assignor, members: [{ memberId, instanceId, clientId, clientHost, memberEpoch,
 *                    subscribedTopics, assignment: [{ topic, partitions }] }],
 *                    offsets: [{ topic, partition, committedOffset, logEndOffset, lag, memberId|null }], totalLag }] }
 *   state: 'empty' | 'reconciling' | 'stable' | 'dead' (no such group)
 *
 * DeleteGroups (key 42): only groups without members (NON_EMPTY_GROUP otherwise).
 *   request  v0 := { groupIds: [groupId] }
 *   response v0 := { errorCode, errorMessage, groups: [{ groupId, errorCode, errorMessage }] }
 */

import { array, int, nullable, object, str } from '../schema.js'
import type { Infer } from '../schema.js'
import { errorCode, errorMessage, offset, partitionId, topLevelError, topicName } from './common.js'
import { groupId, memberId, topicPartitions } from './group-heartbeat.js'

export const ListGroupsRequest = object({})
export const ListGroupsResponse = object({
  ...topLevelError,
  groups: array(object({ groupId, state: str(32), members: int(0) }), 1_000_000),
})
export type ListGroupsResponse = Infer<typeof ListGroupsResponse>

export const DescribeGroupsRequest = object({ groupIds: array(groupId, 10_000) })
export const DescribeGroupsResponse = object({
  ...topLevelError,
  groups: array(object({
    groupId,
    errorCode,
    errorMessage,
    state: str(32),
    groupEpoch: int(),
    assignor: str(64),
    members: array(object({
      memberId,
      instanceId: nullable(str(255)),
      clientId: str(256),
      clientHost: str(256),
      memberEpoch: int(),
      subscribedTopics: array(topicName, 10_000),
      assignment: topicPartitions,
    }), 100_000),
    offsets: array(object({
      topic: topicName,
      partition: partitionId,
      committedOffset: offset,
      logEndOffset: offset,
      lag: offset,
      memberId: nullable(memberId),
    }), 1_000_000),
    totalLag: offset,
  })),
})
export type DescribeGroupsResponse = Infer<typeof DescribeGroupsResponse>
/** One member of a described group. */
export type GroupMemberDescription = DescribeGroupsResponse['groups'][number]['members'][number]
/**
 * One partition of a described group: committedOffset -1 when nothing is committed; lag =
 * logEndOffset - committedOffset, -1 when nothing is committed; memberId = its owner now.
 */
export type GroupPartitionLag = DescribeGroupsResponse['groups'][number]['offsets'][number]
/**
 * A described group as the SDK's Admin and the broker's `/api/groups/:id` give it: the
 * response entry without its error fields. offsets: per partition that has a committed
 * offset or an owner, sorted by topic and partition; totalLag: the sum over the partitions
 * with a committed offset.
 */
export type GroupDescription = Omit<DescribeGroupsResponse['groups'][number], 'errorCode' | 'errorMessage'>

export const DeleteGroupsRequest = object({ groupIds: array(groupId, 10_000) })
export const DeleteGroupsResponse = object({
  ...topLevelError,
  groups: array(object({ groupId, errorCode, errorMessage })),
})
export type DeleteGroupsResponse = Infer<typeof DeleteGroupsResponse>
