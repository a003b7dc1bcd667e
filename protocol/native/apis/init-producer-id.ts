/**
 * InitProducerId (key 22): a fresh producer id (and epoch 0) for an idempotent producer
 * (docs/formats.md §4.5). Ids are never reused: the broker allocates them from a
 * persisted counter.
 *
 *   request  v0 := {}
 *   response v0 := { errorCode, errorMessage, producerId, producerEpoch }
 */

import { int, object, optional } from '../schema.js'
import type { Infer } from '../schema.js'
import { topLevelError } from './common.js'

export const InitProducerIdRequest = object({})
export const InitProducerIdResponse = object({
  ...topLevelError,
  producerId: optional(int(-1), -1),
  producerEpoch: optional(int(-1, 0x7fff), -1),
})
export type InitProducerIdResponse = Infer<typeof InitProducerIdResponse>
