/**
 * ListGroups (key 16): the groups this broker coordinates; v4 filters by state and returns
 * each group's state.
 */

import { defineApi } from '../api.js'
import { int16, int32, string, array } from '../schema.js'

export const ListGroups = defineApi({
  name: 'ListGroups',
  key: 16,
  versions: '0-4',
  flexibleVersions: '3+',
  request: {
    statesFilter: array('string', { versions: '4+' }),
  },
  response: {
    throttleTimeMs: int32({ versions: '1+' }),
    errorCode: int16(),
    groups: array({
      groupId: string(),
      protocolType: string(),
      groupState: string({ versions: '4+' }),
    }),
  },
})
