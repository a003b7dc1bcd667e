/**
 * FindCoordinator (key 10, Kafka's number): the broker that coordinates a consumer group — on
 * a single broker itself; in a cluster the leader of the group's `__consumer_offsets`
 * partition (murmur2(groupId) % partitions), which other brokers refuse group requests for
 * with NOT_COORDINATOR. COORDINATOR_NOT_AVAILABLE while that partition has no leader.
 *
 *   request  v0 := { key: groupId, keyType: 0 (group) }
 *   response v0 := { errorCode, errorMessage, nodeId, host, port }
 */

import { int, object, oneOf, optional, str } from '../schema.js'
import type { Infer } from '../schema.js'
import { topLevelError } from './common.js'

export const FindCoordinatorRequest = object({
  key: str(255),
  keyType: optional(oneOf([0] as const), 0),
})
export type FindCoordinatorRequest = Infer<typeof FindCoordinatorRequest>

export const FindCoordinatorResponse = object({
  ...topLevelError,
  nodeId: optional(int(-1), -1),
  host: optional(str(255), ''),
  port: optional(int(-1, 65535), -1),
})
export type FindCoordinatorResponse = Infer<typeof FindCoordinatorResponse>
