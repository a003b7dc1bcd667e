/**
 * ListOffsets (v1-5) and OffsetForLeaderEpoch (v2-4).
 *
 * ListOffsets timestamps: -1 latest (the high watermark; also the last stable offset, as
 * there are no transactions), -2 earliest (log start offset), T >= 0 the first offset whose
 * record timestamp is >= T (offset -1, timestamp -1, no error when none). The leader epoch
 * is always 0: one node, never re-elected.
 *
 * OffsetForLeaderEpoch: every batch Spool wrote carries leader epoch 0, so the end offset of
 * epoch 0 (and of any epoch above it the client may have seen) is the log end offset; an
 * epoch below 0 is unknown (UNDEFINED: epoch -1, offset -1).
 */

import type { RequestBody, ResponseInput } from '../../../protocol/kafka/registry.js'
import { kafkaError, type ItemOf, type KafkaContext, type KafkaRequestContext } from './context.js'

type ListOffsetsTopic = ItemOf<ResponseInput<'ListOffsets'>['topics']>

export async function listOffsets (ctx: KafkaContext, req: RequestBody<'ListOffsets'>, rc: KafkaRequestContext): Promise<ResponseInput<'ListOffsets'>> {
  const caller = rc.connection.caller
  const topics: ListOffsetsTopic[] = []
  for (const t of req.topics) {
    const partitions: Array<ItemOf<ListOffsetsTopic['partitions']>> = []
    for (const p of t.partitions) {
      try {
        const found = await ctx.partitions.offsetFor(caller, t.name, p.partitionIndex, p.timestamp)
        partitions.push({ partitionIndex: p.partitionIndex, errorCode: 0, offset: found?.offset ?? -1, timestamp: found?.timestamp ?? -1, leaderEpoch: found === null ? -1 : 0 })
      } catch (err) {
        partitions.push({ partitionIndex: p.partitionIndex, errorCode: kafkaError(ctx, err, 'list offsets').errorCode, offset: -1, timestamp: -1, leaderEpoch: -1 })
      }
    }
    topics.push({ name: t.name, partitions })
  }
  return { topics }
}

export function offsetForLeaderEpoch (ctx: KafkaContext, req: RequestBody<'OffsetForLeaderEpoch'>, rc: KafkaRequestContext): ResponseInput<'OffsetForLeaderEpoch'> {
  const caller = rc.connection.caller
  return {
    topics: req.topics.map(t => ({
      topic: t.topic,
      partitions: t.partitions.map(p => {
        try {
          ctx.topics.describe(caller, t.topic)
          const offsets = ctx.partitions.offsets(t.topic, p.partition)
          if (p.leaderEpoch < 0) return { partition: p.partition, errorCode: 0, leaderEpoch: -1, endOffset: -1 }
          return { partition: p.partition, errorCode: 0, leaderEpoch: 0, endOffset: offsets.logEndOffset }
        } catch (err) {
          return { partition: p.partition, errorCode: kafkaError(ctx, err, 'offset for leader epoch').errorCode, leaderEpoch: -1, endOffset: -1 }
        }
      }),
    })),
  }
}
