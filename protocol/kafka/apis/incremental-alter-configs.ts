/**
 * IncrementalAlterConfigs (key 44): change single config keys; configOperation 0 set, 1
 * delete, 2 append, 3 subtract.
 */

import { defineApi } from '../api.js'
import { bool, int8, int16, int32, string, array } from '../schema.js'

export const IncrementalAlterConfigs = defineApi({
  name: 'IncrementalAlterConfigs',
  key: 44,
  versions: '0-1',
  flexibleVersions: '1+',
  request: {
    resources: array({
      resourceType: int8(),
      resourceName: string(),
      configs: array({
        name: string(),
        configOperation: int8(),
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
