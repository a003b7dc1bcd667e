/**
 * DeleteRecords (key 21): move a partition's log start offset forward (-1 = the high
 * watermark).
 */

import { defineApi } from '../api.js'
import { int16, int32, int64, string, array } from '../schema.js'

export const DeleteRecords = defineApi({
  name: 'DeleteRecords',
  key: 21,
  versions: '0-2',
  flexibleVersions: '2+',
  request: {
    topics: array({
      name: string(),
      partitions: array({
        partitionIndex: int32(),
        offset: int64(),
      }),
    }),
    timeoutMs: int32(),
  },
  response: {
    throttleTimeMs: int32(),
    topics: array({
      name: string(),
      partitions: array({
        partitionIndex: int32(),
        lowWatermark: int64(),
        errorCode: int16(),
      }),
    }),
  },
})
