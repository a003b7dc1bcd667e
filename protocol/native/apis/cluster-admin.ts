/**
 * Cluster administration (cluster mode only; a single broker answers UNSUPPORTED_API):
 *
 * AlterPartitionReassignments (key 45, Kafka's number): moves partitions to new replica
 * lists. The controller starts each move (new replicas are added and catch up, throttled by
 * reassignmentThrottleBytesPerSec; once all are in the ISR the old ones are removed) and the
 * answer says how many were started and how many were already complete. Progress shows in
 * Metadata (`addingReplicas`, `removingReplicas`).
 *
 *   request  v0 := { moves: [{ topic, partition, replicas: [nodeId] }] }
 *   response v0 := { errorCode, errorMessage, started, completed }
 *
 * DecommissionBroker (key 1002): drains a broker — each of its replicas is reassigned to
 * another live broker (same rack first), and it gets no new replicas — or, with
 * `recommission`, lets it take replicas again.
 *
 *   request  v0 := { nodeId, recommission: bool }
 *   response v0 := { errorCode, errorMessage, moved }
 */

import { array, bool, int, object, optional } from '../schema.js'
import type { Infer } from '../schema.js'
import { partitionId, topLevelError, topicName } from './common.js'

const nodeId = int(0, 0x7fffffff)

export const AlterPartitionReassignmentsRequest = object({
  moves: array(object({ topic: topicName, partition: partitionId, replicas: array(nodeId, 1000) }), 100_000),
})
export type AlterPartitionReassignmentsRequest = Infer<typeof AlterPartitionReassignmentsRequest>

export const AlterPartitionReassignmentsResponse = object({
  ...topLevelError,
  started: optional(int(0), 0),
  completed: optional(int(0), 0),
})

export const DecommissionBrokerRequest = object({
  nodeId,
  recommission: optional(bool, false),
})
export type DecommissionBrokerRequest = Infer<typeof DecommissionBrokerRequest>

export const DecommissionBrokerResponse = object({
  ...topLevelError,
  moved: optional(int(0), 0),
})
