/** Registers every native api handler with the dispatcher (one line per api). */

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
  const replication = ctx.replication
  if (replication !== null) {
    dispatcher.register('ReplicaFetch', (req, rc) => replication.replicaFetch(req, rc.signal))
    dispatcher.register('OffsetForLeaderEpoch', req => ({ body: replication.offsetForLeaderEpoch(req) }))
  }
  const admin = ctx.clusterAdmin
  if (admin !== null) {
    dispatcher.register('AlterPartitionReassignments', async req => ({ body: await admin.reassign(req.moves) }))
    dispatcher.register('DecommissionBroker', async req => ({ body: await admin.decommission(req.nodeId, req.recommission) }))
  }
}
