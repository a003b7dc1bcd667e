/**
 * ListOffsets (key 2): offset for a timestamp per partition (-1 latest, -2 earliest).
 * isolationLevel from v2; currentLeaderEpoch and leaderEpoch from v4.
 */

import { defineApi } from '../api.js'
import { int8, int16, int32, int64, string, array } from '../schema.js'

export const ListOffsets = defineApi({
  name: 'ListOffsets',
  key: 2,
  versions: '1-5',
  flexibleVersions: '6+',
  request: {
    replicaId: int32(),
    isolationLevel: int8({ versions: '2+' }),
    topics: array({
      name: string(),
      partitions: array({
        partitionIndex: int32(),
        currentLeaderEpoch: int32({ versions: '4+', default: -1 }),
        timestamp: int64(),
      }),
    }),
  },
  response: {
    throttleTimeMs: int32({ versions: '2+' }),
    topics: array({
      name: string(),
      partitions: array({
        partitionIndex: int32(),
        errorCode: int16(),
        timestamp: int64({ default: -1 }),
        offset: int64({ default: -1 }),
        leaderEpoch: int32({ versions: '4+', default: -1 }),
      }),
    }),
  },
})
