/**
 * ListOffsets: -1 latest (the high watermark), -2 earliest (log start offset), T >= 0 the
 * first offset whose record timestamp is >= T (offset -1, timestamp -1 when none).
 */

import { SpoolError } from '../../../protocol/errors.js'
import type { RequestOf, ResponseOf } from '../../../protocol/native/api-keys.js'
import type { RequestContext } from './wire.js'
import { errorFields, type BrokerContext } from './context.js'
import type { Reply } from './dispatcher.js'

export async function listOffsets (ctx: BrokerContext, req: RequestOf<'ListOffsets'>, rc: RequestContext): Promise<Reply<'ListOffsets'>> {
  const topics: ResponseOf<'ListOffsets'>['topics'] = []
  for (const t of req.topics) {
    const partitions: ResponseOf<'ListOffsets'>['topics'][number]['partitions'] = []
    for (const p of t.partitions) {
      try {
        const found = await ctx.partitions.offsetFor(rc.connection.caller, t.topic, p.partition, p.timestamp)
        partitions.push({ partition: p.partition, errorCode: 0, errorMessage: null, offset: found?.offset ?? -1, timestamp: found?.timestamp ?? -1 })
      } catch (err) {
        if (!(err instanceof SpoolError)) ctx.logger.error({ err, topic: t.topic, partition: p.partition }, 'list offsets failed')
        partitions.push({ partition: p.partition, ...errorFields(err), offset: -1, timestamp: -1 })
      }
    }
    topics.push({ topic: t.topic, partitions })
  }
  return { body: { topics } }
}
