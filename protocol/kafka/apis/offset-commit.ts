/**
 * OffsetCommit (key 8): commit offsets for a group. retentionTimeMs exists in v2-4;
 * generationIdOrMemberEpoch -1 with an empty memberId is the simple (assign()-style) commit.
 */

import { defineApi } from '../api.js'
import { int16, int32, int64, string, array } from '../schema.js'

export const OffsetCommit = defineApi({
  name: 'OffsetCommit',
  key: 8,
  versions: '2-8',
  flexibleVersions: '8+',
  request: {
    groupId: string(),
    generationIdOrMemberEpoch: int32({ default: -1 }),
    memberId: string(),
    groupInstanceId: string({ versions: '7+', nullable: '7+', default: null }),
    retentionTimeMs: int64({ versions: '2-4', default: -1 }),
    topics: array({
      name: string(),
      partitions: array({
        partitionIndex: int32(),
        committedOffset: int64(),
        committedLeaderEpoch: int32({ versions: '6+', default: -1 }),
        committedMetadata: string({ nullable: '0+' }),
      }),
    }),
  },
  response: {
    throttleTimeMs: int32({ versions: '3+' }),
    topics: array({
      name: string(),
      partitions: array({
        partitionIndex: int32(),
        errorCode: int16(),
      }),
    }),
  },
})
