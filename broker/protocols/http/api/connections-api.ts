/**
 * `GET /api/connections[?by=group|topic|client|host]`: the connections view of `spool top`
 * (observability/connections.ts, the same rows as the DescribeConnections api) plus the
 * egress notice the console shows ("egress is N× ingress", the heaviest connection).
 */

import { InvalidRequestError } from '../../../../protocol/errors.js'
import { CONNECTION_VIEWS, type ConnectionView } from '../../../../protocol/native/apis/describe-connections.js'
import { describeConnections } from '../../../observability/connections.js'
import type { StatsSampler } from '../../../observability/stats.js'
import type { EgressWatch } from '../../../quotas/egress.js'
import type { ApiRoute } from './router.js'
import type { ConnectionsAnswer } from './types.js'

export function connectionsRoute (ctx: { stats: StatsSampler, egress: EgressWatch, now: () => number }): ApiRoute {
  return {
    pattern: '/api/connections',
    doc: 'every connection of every protocol with its rates, heaviest egress first (?by=group|topic|client|host aggregates), and the egress notice',
    methods: {
      GET: req => {
        const by = req.query.get('by') ?? 'connection'
        if (!(CONNECTION_VIEWS as readonly string[]).includes(by)) {
          throw new InvalidRequestError(`by must be one of ${CONNECTION_VIEWS.join(', ')}, got ${JSON.stringify(by.slice(0, 32))}`)
        }
        const body: ConnectionsAnswer = { ...describeConnections(ctx.stats, by as ConnectionView, ctx.now()), egress: ctx.egress.notice() }
        return { body }
      },
    },
  }
}
