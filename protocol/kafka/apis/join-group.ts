/**
 * JoinGroup (key 11): a member joins a classic consumer group. protocols[].metadata and
 * members[].metadata carry the ConsumerProtocol subscription bytes (see consumer-protocol.ts).
 * From v4 a first join with an empty memberId is answered MEMBER_ID_REQUIRED with a generated
 * id.
 */

import { defineApi } from '../api.js'
import { int16, int32, string, bytes, array } from '../schema.js'

export const JoinGroup = defineApi({
  name: 'JoinGroup',
  key: 11,
  versions: '0-6',
  flexibleVersions: '6+',
  request: {
    groupId: string(),
    sessionTimeoutMs: int32(),
    rebalanceTimeoutMs: int32({ versions: '1+', default: -1 }),
    memberId: string(),
    groupInstanceId: string({ versions: '5+', nullable: '5+', default: null }),
    protocolType: string(),
    protocols: array({
      name: string(),
      metadata: bytes(),
    }),
  },
  response: {
    throttleTimeMs: int32({ versions: '2+' }),
    errorCode: int16(),
    generationId: int32({ default: -1 }),
    protocolName: string(),
    leader: string(),
    memberId: string(),
    members: array({
      memberId: string(),
      groupInstanceId: string({ versions: '5+', nullable: '5+', default: null }),
      metadata: bytes(),
    }),
  },
})
