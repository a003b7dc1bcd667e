/**
 * Produce: each partition's records field is a view of the request frame, handed to the
 * partition service as it is — storage validates the whole payload (size, magic, CRC-32C,
 * counts, compression) before it writes a byte, rewrites only baseOffset and the leader
 * epoch in place, and answers a retried idempotent batch with its original offsets from the
 * producer state it shares with the native protocol (same producer ids, same sequences).
 * Records are never decoded or copied here. acks=1 is answered once the bytes are in the
 * file, acks=all (-1) after the partition's group commit, acks=0 never.
 *
 * Transactions are refused, never silently accepted as plain data: a request with a
 * transactional id, or any batch with the transactional bit, fails its partitions with
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED. That is the code Kafka itself gives a producer
 * that may not use transactions; librdkafka, kafkajs and the Java client treat it as fatal
 * (no retries, the producer stops) and show it with its meaning — a transactional producer
 * cannot work here. UNSUPPORTED_VERSION would make clients fall back or retry, and
 * INVALID_REQUEST reads as a client bug.
 *
 * Produce v0-2 is advertised only because librdkafka 2.0.2 enables gzip, snappy and lz4
 * only when the broker's Produce range includes v0. Those versions carry message formats
 * v0/v1, which Spool does not store: their partitions get UNSUPPORTED_FOR_MESSAGE_FORMAT
 * (clients that can send v3+ always do).
 */

import { InvalidRecordError, InvalidRequiredAcksError, SpoolError, StorageError, TransactionalIdAuthorizationFailedError } from '../../../protocol/errors.js'
import { KafkaErrorCode, kafkaErrorCodeOf } from '../../../protocol/kafka/error-codes.js'
import { ATTR_TRANSACTIONAL, BATCH_HEADER_SIZE, LOG_OVERHEAD, OFFSET_ATTRIBUTES, OFFSET_BATCH_LENGTH } from '../../../protocol/record-batch/header.js'
import type { RequestBody, ResponseInput } from '../../../protocol/kafka/registry.js'
import type { RequiredAcks } from '../../services/replication.js'
import { kafkaError, type KafkaContext, type KafkaRequestContext } from './context.js'
import { TRANSACTIONS_NOT_SUPPORTED } from './metadata.js'

interface PartitionResult {
  index: number
  errorCode: number
  baseOffset: number
  logAppendTimeMs: number
  logStartOffset: number
}

/** Whether any batch of a payload sets the transactional bit (header reads only). */
function hasTransactionalBatch (records: Uint8Array): boolean {
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength)
  let pos = 0
  while (pos + BATCH_HEADER_SIZE <= records.length) {
    if ((view.getInt16(pos + OFFSET_ATTRIBUTES) & ATTR_TRANSACTIONAL) !== 0) return true
    const next = pos + LOG_OVERHEAD + view.getInt32(pos + OFFSET_BATCH_LENGTH)
    if (next <= pos) return false // storage names the broken framing
    pos = next
  }
  return false
}

function failed (index: number, errorCode: number): PartitionResult {
  return { index, errorCode, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1 }
}

export function produce (ctx: KafkaContext, req: RequestBody<'Produce'>, rc: KafkaRequestContext): ResponseInput<'Produce'> | null | Promise<ResponseInput<'Produce'> | null> {
  const caller = rc.connection.caller
  const acks = req.acks
  let refusal: SpoolError | null = null
  if (rc.apiVersion < 3) {
    if (acks === 0) return null
    return {
      responses: req.topicData.map(t => ({ name: t.name, partitionResponses: t.partitionData.map(p => failed(p.index, KafkaErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT)) })),
    }
  }
  if (req.transactionalId !== null) refusal = new TransactionalIdAuthorizationFailedError(TRANSACTIONS_NOT_SUPPORTED)
  else if (acks !== 0 && acks !== 1 && acks !== -1) refusal = new InvalidRequiredAcksError(`acks must be 0, 1 or -1 (got ${acks})`)
  const pendingSyncs: Array<{ topic: string, result: PartitionResult }> = []
  const responses = req.topicData.map(t => ({
    name: t.name,
    partitionResponses: t.partitionData.map((p): PartitionResult => {
      if (refusal !== null) return failed(p.index, kafkaErrorCodeOf(refusal))
      try {
        if (p.records === null || p.records.length === 0) throw new InvalidRecordError('the partition has no records')
        if (hasTransactionalBatch(p.records)) throw new TransactionalIdAuthorizationFailedError(TRANSACTIONS_NOT_SUPPORTED)
        const r = ctx.partitions.append(caller, t.name, p.index, p.records, { acks: acks as RequiredAcks })
        rc.connection.producedPartition(t.name, p.records.length, r.recordCount)
        const result = { index: p.index, errorCode: 0, baseOffset: r.baseOffset, logAppendTimeMs: -1, logStartOffset: r.logStartOffset }
        if (acks === -1) pendingSyncs.push({ topic: t.name, result })
        return result
      } catch (err) {
        return failed(p.index, kafkaError(ctx, err, 'append').errorCode)
      }
    }),
  }))
  // Charged to the produce quota once per request, over the record bytes it carried.
  let requestBytes = 0
  for (const t of req.topicData) for (const p of t.partitionData) requestBytes += p.records?.length ?? 0
  const throttleTimeMs = rc.connection.producedRequest(requestBytes)
  if (acks === 0) return null
  if (pendingSyncs.length === 0) return { responses, throttleTimeMs }
  return Promise.all(pendingSyncs.map(async ({ topic, result }) => {
    try {
      await ctx.partitions.sync(topic, result.index)
    } catch (err) {
      const named = err instanceof SpoolError ? err : new StorageError('fsync failed', { cause: err })
      Object.assign(result, failed(result.index, kafkaError(ctx, named, 'fsync').errorCode))
    }
  })).then(() => ({ responses, throttleTimeMs: rc.connection.throttleRemainingMs }))
}
