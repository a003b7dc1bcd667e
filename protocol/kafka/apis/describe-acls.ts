/**
 * DescribeAcls (key 29): list ACL bindings matching a filter (null strings match anything).
 */

import { defineApi } from '../api.js'
import { int8, int16, int32, string, array } from '../schema.js'

export const DescribeAcls = defineApi({
  name: 'DescribeAcls',
  key: 29,
  versions: '0-3',
  flexibleVersions: '2+',
  request: {
    resourceTypeFilter: int8(),
    resourceNameFilter: string({ nullable: '0+' }),
    patternTypeFilter: int8({ versions: '1+', default: 3 }),
    principalFilter: string({ nullable: '0+' }),
    hostFilter: string({ nullable: '0+' }),
    operation: int8(),
    permissionType: int8(),
  },
  response: {
    throttleTimeMs: int32(),
    errorCode: int16(),
    errorMessage: string({ nullable: '0+' }),
    resources: array({
      resourceType: int8(),
      resourceName: string(),
      patternType: int8({ versions: '1+', default: 3 }),
      acls: array({
        principal: string(),
        host: string(),
        operation: int8(),
        permissionType: int8(),
      }),
    }),
  },
})
