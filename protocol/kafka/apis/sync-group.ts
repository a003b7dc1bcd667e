/**
 * SyncGroup (key 14): the leader hands in every member's assignment; each member gets its own
 * back. assignment bytes are ConsumerProtocol assignments (consumer-protocol.ts).
 */

import { defineApi } from '../api.js'
import { int16, int32, string, bytes, array } from '../schema.js'

export const SyncGroup = defineApi({
  name: 'SyncGroup',
  key: 14,
  versions: '0-4',
  flexibleVersions: '4+',
  request: {
    groupId: string(),
    generationId: int32(),
    memberId: string(),
    groupInstanceId: string({ versions: '3+', nullable: '3+', default: null }),
    assignments: array({
      memberId: string(),
      assignment: bytes(),
    }),
  },
  response: {
    throttleTimeMs: int32({ versions: '1+' }),
    errorCode: int16(),
    assignment: bytes(),
  },
})
