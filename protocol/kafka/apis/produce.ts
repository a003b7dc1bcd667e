/**
 * Produce (key 0): record batches per topic partition. records stays raw RecordBatch bytes:
 * the decoder hands out a view into the request frame, never a copy, so the broker validates
 * and appends the bytes the client sent. Versions 3-7 all carry magic-2 batches; acks 0 gets
 * no response at all. v9+ (flexible) is not implemented.
 *
 * Versions 0-2 (message formats v0/v1) are decoded and encoded so that they can be
 * advertised: librdkafka 2.0.2 compresses with gzip, snappy or lz4 only when the broker's
 * Produce range includes v0 (its compression gate asks for [0, 0]); a broker may then answer
 * such old requests with an error.
 */

import { defineApi } from '../api.js'
import { int16, int32, int64, string, records, array } from '../schema.js'

export const Produce = defineApi({
  name: 'Produce',
  key: 0,
  versions: '0-7',
  flexibleVersions: '9+',
  request: {
    transactionalId: string({ versions: '3+', nullable: '3+', default: null }),
    acks: int16(),
    timeoutMs: int32(),
    topicData: array({
      name: string(),
      partitionData: array({
        index: int32(),
        records: records({ nullable: '0+' }),
      }),
    }),
  },
  response: {
    responses: array({
      name: string(),
      partitionResponses: array({
        index: int32(),
        errorCode: int16(),
        baseOffset: int64(),
        logAppendTimeMs: int64({ versions: '2+', default: -1 }),
        logStartOffset: int64({ versions: '5+', default: -1 }),
      }),
    }),
    throttleTimeMs: int32({ versions: '1+' }),
  },
})
