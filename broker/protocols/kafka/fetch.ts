/**
 * Fetch (v4-12): the long poll of services/fetch.ts — max_wait_ms and min_bytes (woken by
 * any append to a requested partition, whichever protocol appended), the per-partition and
 * per-request max bytes, and the connection's response room. Whole batches are sent as
 * they lie on disk: each partition's records field is the buffer storage read, written to
 * the socket as its own part (protocol/kafka encodes records by reference).
 *
 * Single node, no transactions: the last stable offset is the high watermark for both
 * isolation levels, and there are no aborted transactions (an empty list for
 * read_committed, null for read_uncommitted, as Kafka answers). Fetch sessions (KIP-227,
 * v7+) are not kept: every fetch is a full fetch answered with session id 0, which tells a
 * client that asked for a session that none was created (librdkafka 2.0.2 and kafkajs never
 * ask).
 *
 * Rack-aware follower fetching (KIP-392, Fetch v11+): a consumer that names its rack
 * (librdkafka's `client.rack`, kafkajs' `rackId`) is told by a leader in another rack to read
 * a partition from an in-sync replica in its own rack (`preferred_read_replica`, no records
 * for that partition in this answer), and that follower then serves its fetches up to its
 * own high watermark (services/fetch.ts). Without a rack, or on a single broker, -1.
 *
 * The connection meters the answer (its activity for `spool top`, the fetch quota); a
 * throttled client is told how long to wait in throttle_time_ms, as Kafka answers (KIP-219:
 * the answer goes out first, then the connection is not read for that long).
 */

import type { RequestBody, ResponseInput } from '../../../protocol/kafka/registry.js'
import { fetchRecords } from '../../services/fetch.js'
import { kafkaError, type ItemOf, type KafkaContext, type KafkaRequestContext } from './context.js'

type FetchTopic = ItemOf<ResponseInput<'Fetch'>['responses']>
type FetchPartition = ItemOf<FetchTopic['partitions']>

const READ_COMMITTED = 1

export async function fetch (ctx: KafkaContext, req: RequestBody<'Fetch'>, rc: KafkaRequestContext): Promise<ResponseInput<'Fetch'>> {
  const partitions = []
  for (const t of req.topics) {
    for (const p of t.partitions) partitions.push({ topic: t.topic, partition: p.partition, fetchOffset: p.fetchOffset, maxBytes: Math.max(0, p.partitionMaxBytes) })
  }
  const result = await fetchRecords({
    partitions: ctx.partitions,
    caller: rc.connection.caller,
    room: rc.room,
    signal: rc.signal,
    now: ctx.now,
    logger: ctx.logger,
    meter: rc.connection,
  }, {
    partitions,
    maxWaitMs: Math.max(0, req.maxWaitMs),
    minBytes: Math.max(0, req.minBytes),
    maxBytes: Math.max(0, req.maxBytes),
    ...(req.rackId === '' ? {} : { rackId: req.rackId }),
  })
  const aborted = req.isolationLevel === READ_COMMITTED ? [] : null
  const responses: Array<{ topic: string, partitions: FetchPartition[] }> = []
  let current: { topic: string, partitions: FetchPartition[] } | null = null
  for (const p of result.partitions) {
    if (current === null || current.topic !== p.topic) responses.push(current = { topic: p.topic, partitions: [] })
    current.partitions.push(p.error === null
      ? {
          partitionIndex: p.partition,
          errorCode: 0,
          highWatermark: p.highWatermark,
          lastStableOffset: p.lastStableOffset,
          logStartOffset: p.logStartOffset,
          abortedTransactions: aborted,
          preferredReadReplica: p.preferredReadReplica,
          records: p.records,
        }
      : {
          partitionIndex: p.partition,
          errorCode: kafkaError(ctx, p.error, 'fetch').errorCode,
          highWatermark: -1,
          lastStableOffset: -1,
          logStartOffset: -1,
          abortedTransactions: aborted,
          preferredReadReplica: -1,
          records: null,
        })
  }
  return { throttleTimeMs: result.throttleTimeMs, errorCode: 0, sessionId: 0, responses }
}
