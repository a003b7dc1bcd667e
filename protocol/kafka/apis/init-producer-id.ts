/**
 * InitProducerId (key 22): a producer id and epoch for an idempotent or transactional
 * producer. v3 carries the producer's current id and epoch (-1/-1 for a new producer).
 */

import { defineApi } from '../api.js'
import { int16, int32, int64, string } from '../schema.js'

export const InitProducerId = defineApi({
  name: 'InitProducerId',
  key: 22,
  versions: '0-3',
  flexibleVersions: '2+',
  request: {
    transactionalId: string({ nullable: '0+' }),
    transactionTimeoutMs: int32(),
    producerId: int64({ versions: '3+', default: -1 }),
    producerEpoch: int16({ versions: '3+', default: -1 }),
  },
  response: {
    throttleTimeMs: int32(),
    errorCode: int16(),
    producerId: int64({ default: -1 }),
    producerEpoch: int16(),
  },
})
