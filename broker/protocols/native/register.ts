/** Registers every native api handler with the dispatcher (one line per api). */

import { CLUSTER_RESOURCE } from '../../services/access.js'
import type { BrokerContext } from './context.js'
import type { Dispatcher } from './dispatcher.js'
import { fetch } from './fetch.js'
import { listOffsets } from './offsets.js'
import { produce } from './produce.js'
import { createTopics, deleteTopics, describeTopics, metadata } from './topics.js'

export function registerHandlers (dispatcher: Dispatcher, ctx: BrokerContext): void {
  dispatcher.register('ApiVersions', () => ({ body: { apis: dispatcher.registered() } }))
  dispatcher.register('Metadata', (req, rc) => metadata(ctx, req, rc))
  dispatcher.register('CreateTopics', (req, rc) => createTopics(ctx, req, rc))
  dispatcher.register('DeleteTopics', (req, rc) => deleteTopics(ctx, req, rc))
  dispatcher.register('DescribeTopics', (req, rc) => describeTopics(ctx, req, rc))
  dispatcher.register('Produce', (req, rc) => produce(ctx, req, rc))
  dispatcher.register('Fetch', (req, rc) => fetch(ctx, req, rc))
  dispatcher.register('ListOffsets', (req, rc) => listOffsets(ctx, req, rc))
  dispatcher.register('InitProducerId', async (_req, rc) => ({ body: { producerId: await ctx.producerIds.allocate(rc.connection.caller), producerEpoch: 0 } }))
  // Inter-broker apis need cluster_action on the cluster (the inter-broker principal is a
  // super user); reassignment and decommission need alter on it. Without --auth: allowed.
  const replication = ctx.replication
  if (replication !== null) {
    dispatcher.register('ReplicaFetch', (req, rc) => {
      ctx.access.check(rc.connection.caller, 'cluster_action', 'cluster', CLUSTER_RESOURCE)
      return replication.replicaFetch(req, rc.signal)
    })
    dispatcher.register('OffsetForLeaderEpoch', (req, rc) => {
      ctx.access.check(rc.connection.caller, 'cluster_action', 'cluster', CLUSTER_RESOURCE)
      return { body: replication.offsetForLeaderEpoch(req) }
    })
  }
  const admin = ctx.clusterAdmin
  if (admin !== null) {
    dispatcher.register('AlterPartitionReassignments', async (req, rc) => {
      ctx.access.check(rc.connection.caller, 'alter', 'cluster', CLUSTER_RESOURCE)
      return { body: await admin.reassign(req.moves) }
    })
    dispatcher.register('DecommissionBroker', async (req, rc) => {
      ctx.access.check(rc.connection.caller, 'alter', 'cluster', CLUSTER_RESOURCE)
      return { body: await admin.decommission(req.nodeId, req.recommission) }
    })
  }
}
