/**
 * The quota and connection apis: DescribeClientQuotas / AlterClientQuotas (the quotas of
 * broker/quotas/, `spool quota`) and DescribeConnections (the registry's connections as the
 * stats sampler last measured them, `spool top`). Thin adapters to the QuotaManager and
 * observability/connections.ts; the caller passes the AccessPolicy (describe_configs /
 * alter_configs on the cluster for quotas, describe on the cluster for connections).
 */

import type { ResponseOf } from '../../../protocol/native/api-keys.js'
import { describeConnections } from '../../observability/connections.js'
import type { StatsSampler } from '../../observability/stats.js'
import type { QuotaManager } from '../../quotas/quota-manager.js'
import { CLUSTER_RESOURCE, type AccessPolicy } from '../../services/access.js'
import { errorFields } from './context.js'
import type { Dispatcher } from './dispatcher.js'

export interface QuotaApiContext {
  readonly quotas: QuotaManager
  readonly stats: StatsSampler
  readonly access: AccessPolicy
  readonly now: () => number
}

type QuotaRows = ResponseOf<'DescribeClientQuotas'>['quotas']

export function registerQuotaHandlers (dispatcher: Dispatcher, ctx: QuotaApiContext): void {
  dispatcher.register('DescribeClientQuotas', (_req, rc) => {
    const quotas: QuotaRows = ctx.quotas.list(rc.connection.caller).map(e => ({
      entity: { type: e.entity.type, name: e.entity.name },
      produceBytesPerSec: e.limits.produceBytesPerSec ?? null,
      fetchBytesPerSec: e.limits.fetchBytesPerSec ?? null,
      requestsPerSec: e.limits.requestsPerSec ?? null,
    }))
    return { body: { quotas } }
  })
  dispatcher.register('AlterClientQuotas', async (req, rc) => {
    const results = await ctx.quotas.alter(rc.connection.caller, req.entries, req.validateOnly)
    return { body: { entries: results.map(r => ({ entity: { type: r.entity.type, name: r.entity.name }, ...errorFields(r.error) })) } }
  })
  dispatcher.register('DescribeConnections', (req, rc) => {
    ctx.access.check(rc.connection.caller, 'describe', 'cluster', CLUSTER_RESOURCE)
    return { body: describeConnections(ctx.stats, req.by, ctx.now()) }
  })
}
