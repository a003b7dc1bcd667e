/**
 * OffsetForLeaderEpoch (key 23): the end offset of a leader epoch, used by consumers to detect
 * log truncation. replicaId (v3+) is -1 for consumers.
 */

import { defineApi } from '../api.js'
import { int16, int32, int64, string, array } from '../schema.js'

export const OffsetForLeaderEpoch = defineApi({
  name: 'OffsetForLeaderEpoch',
  key: 23,
  versions: '2-4',
  flexibleVersions: '4+',
  request: {
    replicaId: int32({ versions: '3+', default: -2 }),
    topics: array({
      topic: string(),
      partitions: array({
        partition: int32(),
        currentLeaderEpoch: int32({ default: -1 }),
        leaderEpoch: int32(),
      }),
    }),
  },
  response: {
    throttleTimeMs: int32(),
    topics: array({
      topic: string(),
      partitions: array({
        errorCode: int16(),
        partition: int32(),
        leaderEpoch: int32({ default: -1 }),
        endOffset: int64({ default: -1 }),
      }),
    }),
  },
})
