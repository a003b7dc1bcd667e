/**
 * LeaveGroup (key 13): one member (v0-2) or a batch of members with instance ids (v3+) leave
 * the group.
 */

import { defineApi } from '../api.js'
import { int16, int32, string, array } from '../schema.js'

export const LeaveGroup = defineApi({
  name: 'LeaveGroup',
  key: 13,
  versions: '0-4',
  flexibleVersions: '4+',
  request: {
    groupId: string(),
    memberId: string({ versions: '0-2' }),
    members: array({
      memberId: string({ versions: '3+' }),
      groupInstanceId: string({ versions: '3+', nullable: '3+', default: null }),
    }, { versions: '3+' }),
  },
  response: {
    throttleTimeMs: int32({ versions: '1+' }),
    errorCode: int16(),
    members: array({
      memberId: string({ versions: '3+' }),
      groupInstanceId: string({ versions: '3+', nullable: '3+' }),
      errorCode: int16({ versions: '3+' }),
    }, { versions: '3+' }),
  },
})
