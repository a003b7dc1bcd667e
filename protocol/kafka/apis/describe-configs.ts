/**
 * DescribeConfigs (key 32): configuration of topics (resourceType 2) and brokers (4). A null
 * configurationKeys asks for every key. v1 adds synonyms and configSource; v0 has isDefault
 * instead.
 */

import { defineApi } from '../api.js'
import { bool, int8, int16, int32, string, array } from '../schema.js'

export const DescribeConfigs = defineApi({
  name: 'DescribeConfigs',
  key: 32,
  versions: '0-2',
  flexibleVersions: '4+',
  request: {
    resources: array({
      resourceType: int8(),
      resourceName: string(),
      configurationKeys: array('string', { nullable: '0+' }),
    }),
    includeSynonyms: bool({ versions: '1+' }),
  },
  response: {
    throttleTimeMs: int32(),
    results: array({
      errorCode: int16(),
      errorMessage: string({ nullable: '0+' }),
      resourceType: int8(),
      resourceName: string(),
      configs: array({
        name: string(),
        value: string({ nullable: '0+' }),
        readOnly: bool(),
        isDefault: bool({ versions: '0' }),
        configSource: int8({ versions: '1+', default: -1 }),
        isSensitive: bool(),
        synonyms: array({
          name: string({ versions: '1+' }),
          value: string({ versions: '1+', nullable: '0+' }),
          source: int8({ versions: '1+' }),
        }, { versions: '1+' }),
      }),
    }),
  },
})
