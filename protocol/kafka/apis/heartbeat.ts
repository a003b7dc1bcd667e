/**
 * Heartbeat (key 12): keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to
 * rejoin.
 */

import { defineApi } from '../api.js'
import { int16, int32, string } from '../schema.js'

export const Heartbeat = defineApi({
  name: 'Heartbeat',
  key: 12,
  versions: '0-4',
  flexibleVersions: '4+',
  request: {
    groupId: string(),
    generationId: int32(),
    memberId: string(),
    groupInstanceId: string({ versions: '3+', nullable: '3+', default: null }),
  },
  response: {
    throttleTimeMs: int32({ versions: '1+' }),
    errorCode: int16(),
  },
})
