/**
 * InitProducerId (v0-3): a fresh producer id with epoch 0 for an idempotent producer, from
 * the same ProducerIdService as the native protocol, so ids never collide across protocols
 * or restarts.
 *
 * Without a transactional id Kafka always allocates a new id; the producer id and epoch of
 * v3 (KIP-360, for bumping the epoch of a transactional producer) are ignored:
 * @platformatic/kafka sends producer id 0 and epoch 0 for a new producer and must still get
 * a fresh id, not id 0. A transactional id is refused (produce.ts says why this code).
 */

import { TransactionalIdAuthorizationFailedError } from '../../../protocol/errors.js'
import { kafkaErrorCodeOf } from '../../../protocol/kafka/error-codes.js'
import type { RequestBody, ResponseInput } from '../../../protocol/kafka/registry.js'
import { kafkaError, type KafkaContext, type KafkaRequestContext } from './context.js'
import { TRANSACTIONS_NOT_SUPPORTED } from './metadata.js'

export async function initProducerId (ctx: KafkaContext, req: RequestBody<'InitProducerId'>, rc: KafkaRequestContext): Promise<ResponseInput<'InitProducerId'>> {
  if (req.transactionalId !== null) {
    return { errorCode: kafkaErrorCodeOf(new TransactionalIdAuthorizationFailedError(TRANSACTIONS_NOT_SUPPORTED)), producerId: -1, producerEpoch: -1 }
  }
  try {
    return { errorCode: 0, producerId: await ctx.producerIds.allocate(rc.connection.caller), producerEpoch: 0 }
  } catch (err) {
    return { errorCode: kafkaError(ctx, err, 'init producer id').errorCode, producerId: -1, producerEpoch: -1 }
  }
}
