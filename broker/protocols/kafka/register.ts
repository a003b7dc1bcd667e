/**
 * Registers the Kafka api handlers with the dispatcher (one line per api); what is
 * registered is what ApiVersions advertises, with every version its schema implements. The
 * SASL apis (sasl.ts) and the ACL apis (acls.ts) are registered beside these by listener.ts.
 */

import { createPartitions, createTopics, deleteRecords, deleteTopics } from './admin.js'
import { alterConfigs, describeConfigs, incrementalAlterConfigs } from './configs.js'
import type { KafkaContext } from './context.js'
import type { KafkaDispatcher } from './dispatcher.js'
import { fetch } from './fetch.js'
import { deleteGroups, describeGroups, heartbeat, joinGroup, leaveGroup, listGroups, offsetCommit, offsetDelete, offsetFetch, syncGroup } from './groups.js'
import { describeCluster, findCoordinator, metadata } from './metadata.js'
import { listOffsets, offsetForLeaderEpoch } from './offsets.js'
import { initProducerId } from './producer-ids.js'
import { produce } from './produce.js'

export function registerKafkaHandlers (dispatcher: KafkaDispatcher, ctx: KafkaContext): void {
  dispatcher.register('ApiVersions', () => ({ errorCode: 0, apiKeys: dispatcher.advertised() }))
  dispatcher.register('Metadata', (req, rc) => metadata(ctx, req, rc))
  dispatcher.register('DescribeCluster', (_req, rc) => describeCluster(ctx, rc))
  dispatcher.register('FindCoordinator', (req, rc) => findCoordinator(ctx, req, rc))
  dispatcher.register('Produce', (req, rc) => produce(ctx, req, rc))
  dispatcher.register('Fetch', (req, rc) => fetch(ctx, req, rc))
  dispatcher.register('ListOffsets', (req, rc) => listOffsets(ctx, req, rc))
  dispatcher.register('OffsetForLeaderEpoch', (req, rc) => offsetForLeaderEpoch(ctx, req, rc))
  dispatcher.register('InitProducerId', (req, rc) => initProducerId(ctx, req, rc))
  dispatcher.register('JoinGroup', (req, rc) => joinGroup(ctx, req, rc))
  dispatcher.register('SyncGroup', (req, rc) => syncGroup(ctx, req, rc))
  dispatcher.register('Heartbeat', (req, rc) => heartbeat(ctx, req, rc))
  dispatcher.register('LeaveGroup', (req, rc) => leaveGroup(ctx, req, rc))
  dispatcher.register('OffsetCommit', (req, rc) => offsetCommit(ctx, req, rc))
  dispatcher.register('OffsetFetch', (req, rc) => offsetFetch(ctx, req, rc))
  dispatcher.register('ListGroups', (req, rc) => listGroups(ctx, req, rc))
  dispatcher.register('DescribeGroups', (req, rc) => describeGroups(ctx, req, rc))
  dispatcher.register('DeleteGroups', (req, rc) => deleteGroups(ctx, req, rc))
  dispatcher.register('OffsetDelete', (req, rc) => offsetDelete(ctx, req, rc))
  dispatcher.register('CreateTopics', (req, rc) => createTopics(ctx, req, rc))
  dispatcher.register('DeleteTopics', (req, rc) => deleteTopics(ctx, req, rc))
  dispatcher.register('CreatePartitions', (req, rc) => createPartitions(ctx, req, rc))
  dispatcher.register('DeleteRecords', (req, rc) => deleteRecords(ctx, req, rc))
  dispatcher.register('DescribeConfigs', (req, rc) => describeConfigs(ctx, req, rc))
  dispatcher.register('AlterConfigs', (req, rc) => alterConfigs(ctx, req, rc))
  dispatcher.register('IncrementalAlterConfigs', (req, rc) => incrementalAlterConfigs(ctx, req, rc))
}
