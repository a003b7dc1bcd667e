/**
 * CreateAcls (key 30): add ACL bindings. resourcePatternType (v1+) is 3 literal or 4 prefixed.
 */

import { defineApi } from '../api.js'
import { int8, int16, int32, string, array } from '../schema.js'

export const CreateAcls = defineApi({
  name: 'CreateAcls',
  key: 30,
  versions: '0-3',
  flexibleVersions: '2+',
  request: {
    creations: array({
      resourceType: int8(),
      resourceName: string(),
      resourcePatternType: int8({ versions: '1+', default: 3 }),
      principal: string(),
      host: string(),
      operation: int8(),
      permissionType: int8(),
    }),
  },
  response: {
    throttleTimeMs: int32(),
    results: array({
      errorCode: int16(),
      errorMessage: string({ nullable: '0+' }),
    }),
  },
})
