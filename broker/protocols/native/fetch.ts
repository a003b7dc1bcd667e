/**
 * Fetch: the long poll of services/fetch.ts, answered in the native shape (per topic, per
 * partition) with the read buffers written after the body, never joined. The connection
 * meters the answer (its activity, the fetch quota); a throttled client is told how long
 * to wait in `throttleTimeMs`.
 */

import type { RequestOf, ResponseOf } from '../../../protocol/native/api-keys.js'
import { fetchRecords } from '../../services/fetch.js'
import type { RequestContext } from './wire.js'
import { errorFields, type BrokerContext } from './context.js'
import type { Reply } from './dispatcher.js'

type FetchTopics = ResponseOf<'Fetch'>['topics']

export async function fetch (ctx: BrokerContext, req: RequestOf<'Fetch'>, rc: RequestContext): Promise<Reply<'Fetch'>> {
  const result = await fetchRecords({
    partitions: ctx.partitions,
    caller: rc.connection.caller,
    room: rc.room,
    signal: rc.signal,
    now: ctx.now,
    logger: ctx.logger,
    meter: rc.connection,
  }, {
    partitions: req.topics.flatMap(t => t.partitions.map(p => ({ topic: t.topic, partition: p.partition, fetchOffset: p.fetchOffset, maxBytes: p.maxBytes }))),
    maxWaitMs: req.maxWaitMs,
    minBytes: req.minBytes,
    maxBytes: req.maxBytes,
    rackId: req.rackId,
  })
  const topics: FetchTopics = []
  let current: FetchTopics[number] | null = null
  for (const p of result.partitions) {
    if (current === null || current.topic !== p.topic) topics.push(current = { topic: p.topic, partitions: [] })
    current.partitions.push(p.error === null
      ? { partition: p.partition, errorCode: 0, errorMessage: null, highWatermark: p.highWatermark, lastStableOffset: p.lastStableOffset, logStartOffset: p.logStartOffset, recordsBytes: p.records.length, preferredReadReplica: p.preferredReadReplica }
      : { partition: p.partition, ...errorFields(p.error), highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, recordsBytes: 0, preferredReadReplica: -1 })
  }
  return { body: { throttleTimeMs: result.throttleTimeMs, topics }, records: result.records }
}
