/** Registers every native api handler with the dispatcher (one line per api). */

import type { BrokerContext } from './context.js'
import type { Dispatcher } from './dispatcher.js'
import { fetch } from './fetch.js'
import { listOffsets } from './offsets.js'
import { produce } from './produce.js'
import { createTopics, deleteTopics, describeTopics, metadata } from './topics.js'

export function registerHandlers (dispatcher: Dispatcher, ctx: BrokerContext): void {
  dispatcher.register('ApiVersions', () => ({ body: { apis: dispatcher.registered() } }))
  dispatcher.register('Metadata', req => metadata(ctx, req))
  dispatcher.register('CreateTopics', req => createTopics(ctx, req))
  dispatcher.register('DeleteTopics', req => deleteTopics(ctx, req))
  dispatcher.register('DescribeTopics', req => describeTopics(ctx, req))
  dispatcher.register('Produce', (req, rc) => produce(ctx, req, rc))
  dispatcher.register('Fetch', (req, rc) => fetch(ctx, req, rc))
  dispatcher.register('ListOffsets', req => listOffsets(ctx, req))
}
