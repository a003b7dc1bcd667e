/**
 * DeleteGroups (key 42): delete empty groups and their committed offsets (NON_EMPTY_GROUP when
 * members remain).
 */

import { defineApi } from '../api.js'
import { int16, int32, string, array } from '../schema.js'

export const DeleteGroups = defineApi({
  name: 'DeleteGroups',
  key: 42,
  versions: '0-2',
  flexibleVersions: '2+',
  request: {
    groupsNames: array('string'),
  },
  response: {
    throttleTimeMs: int32(),
    results: array({
      groupId: string(),
      errorCode: int16(),
    }),
  },
})
