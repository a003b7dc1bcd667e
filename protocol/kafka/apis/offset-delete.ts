/**
 * OffsetDelete (key 47): delete committed offsets of some partitions of a group. Never
 * flexible.
 */

import { defineApi } from '../api.js'
import { int16, int32, string, array } from '../schema.js'

export const OffsetDelete = defineApi({
  name: 'OffsetDelete',
  key: 47,
  versions: '0',
  flexibleVersions: 'none',
  request: {
    groupId: string(),
    topics: array({
      name: string(),
      partitions: array({
        partitionIndex: int32(),
      }),
    }),
  },
  response: {
    errorCode: int16(),
    throttleTimeMs: int32(),
    topics: array({
      name: string(),
      partitions: array({
        partitionIndex: int32(),
        errorCode: int16(),
      }),
    }),
  },
})
