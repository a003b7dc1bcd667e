/**
 * DescribeGroups (key 15): state, protocol and members of groups; memberMetadata and
 * memberAssignment are ConsumerProtocol bytes.
 */

import { defineApi } from '../api.js'
import { bool, int16, int32, string, bytes, array } from '../schema.js'

export const DescribeGroups = defineApi({
  name: 'DescribeGroups',
  key: 15,
  versions: '0-5',
  flexibleVersions: '5+',
  request: {
    groups: array('string'),
    includeAuthorizedOperations: bool({ versions: '3+' }),
  },
  response: {
    throttleTimeMs: int32({ versions: '1+' }),
    groups: array({
      errorCode: int16(),
      groupId: string(),
      groupState: string(),
      protocolType: string(),
      protocolData: string(),
      members: array({
        memberId: string(),
        groupInstanceId: string({ versions: '4+', nullable: '4+', default: null }),
        clientId: string(),
        clientHost: string(),
        memberMetadata: bytes(),
        memberAssignment: bytes(),
      }),
      authorizedOperations: int32({ versions: '3+', default: -2147483648 }),
    }),
  },
})
