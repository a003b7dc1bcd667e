/**
 * OffsetFetch (key 9): committed offsets of a group. A null topic list (v2+) asks for every
 * committed partition. v8 asks for several groups at once (groups[]) and drops the
 * single-group fields.
 */

import { defineApi } from '../api.js'
import { bool, int16, int32, int64, string, array } from '../schema.js'

export const OffsetFetch = defineApi({
  name: 'OffsetFetch',
  key: 9,
  versions: '1-8',
  flexibleVersions: '6+',
  request: {
    groupId: string({ versions: '0-7' }),
    topics: array({
      name: string({ versions: '0-7' }),
      partitionIndexes: array('int32', { versions: '0-7' }),
    }, { versions: '0-7', nullable: '2-7' }),
    groups: array({
      groupId: string({ versions: '8+' }),
      topics: array({
        name: string({ versions: '8+' }),
        partitionIndexes: array('int32', { versions: '8+' }),
      }, { versions: '8+', nullable: '8+' }),
    }, { versions: '8+' }),
    requireStable: bool({ versions: '7+' }),
  },
  response: {
    throttleTimeMs: int32({ versions: '3+' }),
    topics: array({
      name: string({ versions: '0-7' }),
      partitions: array({
        partitionIndex: int32({ versions: '0-7' }),
        committedOffset: int64({ versions: '0-7' }),
        committedLeaderEpoch: int32({ versions: '5-7', default: -1 }),
        metadata: string({ versions: '0-7', nullable: '0-7' }),
        errorCode: int16({ versions: '0-7' }),
      }, { versions: '0-7' }),
    }, { versions: '0-7' }),
    errorCode: int16({ versions: '2-7' }),
    groups: array({
      groupId: string({ versions: '8+' }),
      topics: array({
        name: string({ versions: '8+' }),
        partitions: array({
          partitionIndex: int32({ versions: '8+' }),
          committedOffset: int64({ versions: '8+' }),
          committedLeaderEpoch: int32({ versions: '8+', default: -1 }),
          metadata: string({ versions: '8+', nullable: '8+' }),
          errorCode: int16({ versions: '8+' }),
        }, { versions: '8+' }),
      }, { versions: '8+' }),
      errorCode: int16({ versions: '8+' }),
    }, { versions: '8+' }),
  },
})
