/**
 * DeleteAcls (key 31): delete ACL bindings matching filters; each filter reports the bindings
 * it removed.
 */

import { defineApi } from '../api.js'
import { int8, int16, int32, string, array } from '../schema.js'

export const DeleteAcls = defineApi({
  name: 'DeleteAcls',
  key: 31,
  versions: '0-3',
  flexibleVersions: '2+',
  request: {
    filters: array({
      resourceTypeFilter: int8(),
      resourceNameFilter: string({ nullable: '0+' }),
      patternTypeFilter: int8({ versions: '1+', default: 3 }),
      principalFilter: string({ nullable: '0+' }),
      hostFilter: string({ nullable: '0+' }),
      operation: int8(),
      permissionType: int8(),
    }),
  },
  response: {
    throttleTimeMs: int32(),
    filterResults: array({
      errorCode: int16(),
      errorMessage: string({ nullable: '0+' }),
      matchingAcls: array({
        errorCode: int16(),
        errorMessage: string({ nullable: '0+' }),
        resourceType: int8(),
        resourceName: string(),
        patternType: int8({ versions: '1+', default: 3 }),
        principal: string(),
        host: string(),
        operation: int8(),
        permissionType: int8(),
      }),
    }),
  },
})
