/**
 * AlterConfigs (key 33): replace the whole configuration of resources (keys not given revert
 * to defaults).
 */

import { defineApi } from '../api.js'
import { bool, int8, int16, int32, string, array } from '../schema.js'

export const AlterConfigs = defineApi({
  name: 'AlterConfigs',
  key: 33,
  versions: '0-2',
  flexibleVersions: '2+',
  request: {
    resources: array({
      resourceType: int8(),
      resourceName: string(),
      configs: array({
        name: string(),
        value: string({ nullable: '0+' }),
      }),
    }),
    validateOnly: bool(),
  },
  response: {
    throttleTimeMs: int32(),
    responses: array({
      errorCode: int16(),
      errorMessage: string({ nullable: '0+' }),
      resourceType: int8(),
      resourceName: string(),
    }),
  },
})
