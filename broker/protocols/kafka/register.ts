/**
 * Registers every Kafka api handler with the dispatcher (one line per api); what is
 * registered is what ApiVersions advertises, with every version its schema implements.
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
  dispatcher.register('DescribeCluster', () => describeCluster(ctx))
  dispatcher.register('FindCoordinator', (req, rc) => findCoordinator(ctx, req, rc))
  dispatcher.register('Produce', (req, rc) => produce(ctx, req, rc))
  dispatcher.register('Fetch', (req, rc) => fetch(ctx, req, rc))
  dispatcher.register('ListOffsets', (req, rc) => listOffsets(ctx, req, rc))
  dispatcher.register('OffsetForLeaderEpoch', (req, rc) => offsetForLeaderEpoch(ctx, req, rc))
  dispatcher.register('InitProducerId', (req, rc) => initProducerId(ctx, req, rc))
  dispatcher.register('JoinGroup', (req, rc) => joinGroup(ctx, req, rc))
  dispatcher.register('SyncGroup', req => syncGroup(ctx, req))
  dispatcher.register('Heartbeat', req => heartbeat(ctx, req))
  dispatcher.register('LeaveGroup', (req, rc) => leaveGroup(ctx, req, rc))
  dispatcher.register('OffsetCommit', req => offsetCommit(ctx, req))
  dispatcher.register('OffsetFetch', (req, rc) => offsetFetch(ctx, req, rc))
  dispatcher.register('ListGroups', (req, rc) => listGroups(ctx, req, rc))
  dispatcher.register('DescribeGroups', req => describeGroups(ctx, req))
  dispatcher.register('DeleteGroups', req => deleteGroups(ctx, req))
  dispatcher.register('OffsetDelete', req => offsetDelete(ctx, req))
  dispatcher.register('CreateTopics', (req, rc) => createTopics(ctx, req, rc))
  dispatcher.register('DeleteTopics', (req, rc) => deleteTopics(ctx, req, rc))
  dispatcher.register('CreatePartitions', (req, rc) => createPartitions(ctx, req, rc))
  dispatcher.register('DeleteRecords', (req, rc) => deleteRecords(ctx, req, rc))
  dispatcher.register('DescribeConfigs', (req, rc) => describeConfigs(ctx, req, rc))
  dispatcher.register('AlterConfigs', (req, rc) => alterConfigs(ctx, req, rc))
  dispatcher.register('IncrementalAlterConfigs', (req, rc) => incrementalAlterConfigs(ctx, req, rc))
}
