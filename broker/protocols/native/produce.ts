/**
 * Produce: each partition's batches are a slice of the frame's records section (no copy).
 * PartitionLog.append validates the whole slice (size, magic, CRC32C, counts) before it
 * writes a byte, rewrites baseOffset in place and writes synchronously, so with acks=1 the
 * answer goes out once the bytes are in the file. acks=all waits for the partition's group
 * commit (one fdatasync shared by every batch waiting) and, in a cluster, for every in-sync
 * replica (NOT_ENOUGH_REPLICAS before the write below minInsyncReplicas, ..._AFTER_APPEND, or
 * REQUEST_TIMED_OUT past timeoutMs). acks=0 is never answered.
 * A bad batch fails its partition only; the other partitions of the request are appended.
 * The connection counts what was appended per topic and charges the request's record bytes
 * to its produce quota; a throttled client is told how long to wait in `throttleTimeMs`.
 */

import { InvalidRequestError, SpoolError, StorageError } from '../../../protocol/errors.js'
import type { RequestOf } from '../../../protocol/native/api-keys.js'
import type { RequestContext } from './wire.js'
import { errorFields, type BrokerContext } from './context.js'
import type { Reply } from './dispatcher.js'

interface PartitionResult {
  partition: number
  errorCode: number
  errorMessage: string | null
  baseOffset: number
  logAppendTimeMs: number
  logStartOffset: number
}

export function produce (ctx: BrokerContext, req: RequestOf<'Produce'>, rc: RequestContext): Reply<'Produce'> | null | Promise<Reply<'Produce'> | null> {
  let declared = 0
  for (const t of req.topics) for (const p of t.partitions) declared += p.recordsBytes
  if (declared !== rc.records.length) {
    throw new InvalidRequestError(`partitions declare ${declared} record bytes, the frame carries ${rc.records.length}`)
  }
  let pos = 0
  const pendingSyncs: Array<{ topic: string, result: PartitionResult }> = []
  const topics = req.topics.map(t => ({
    topic: t.topic,
    partitions: t.partitions.map(p => {
      const payload = rc.records.subarray(pos, pos + p.recordsBytes)
      pos += p.recordsBytes
      let result: PartitionResult
      try {
        const r = ctx.partitions.append(rc.connection.caller, t.topic, p.partition, payload, { acks: req.acks })
        rc.connection.producedPartition(t.topic, payload.length, r.recordCount)
        result = { partition: p.partition, errorCode: 0, errorMessage: null, baseOffset: r.baseOffset, logAppendTimeMs: -1, logStartOffset: r.logStartOffset }
        if (req.acks === -1) pendingSyncs.push({ topic: t.topic, result })
      } catch (err) {
        if (!(err instanceof SpoolError)) ctx.logger.error({ err, topic: t.topic, partition: p.partition }, 'append failed')
        result = { partition: p.partition, ...errorFields(err), baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1 }
      }
      return result
    }),
  }))
  const throttleTimeMs = rc.connection.producedRequest(rc.records.length)
  if (req.acks === 0) return null
  if (pendingSyncs.length === 0) return { body: { throttleTimeMs, topics } }
  return Promise.all(pendingSyncs.map(async ({ topic, result }) => {
    try {
      await ctx.partitions.sync(topic, result.partition, req.timeoutMs)
    } catch (err) {
      if (!(err instanceof SpoolError) || err instanceof StorageError) ctx.logger.error({ err, topic, partition: result.partition }, 'fsync failed')
      Object.assign(result, errorFields(err instanceof SpoolError ? err : new StorageError('fsync failed', { cause: err })), { baseOffset: -1 })
    }
  })).then(() => ({ body: { throttleTimeMs: rc.connection.throttleRemainingMs, topics } }))
}
