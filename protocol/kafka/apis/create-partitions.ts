/**
 * CreatePartitions (key 37): raise a topic's partition count, optionally with replica
 * assignments for the new partitions.
 */

import { defineApi } from '../api.js'
import { bool, int16, int32, string, array } from '../schema.js'

export const CreatePartitions = defineApi({
  name: 'CreatePartitions',
  key: 37,
  versions: '0-3',
  flexibleVersions: '2+',
  request: {
    topics: array({
      name: string(),
      count: int32(),
      assignments: array({
        brokerIds: array('int32'),
      }, { nullable: '0+' }),
    }),
    timeoutMs: int32(),
    validateOnly: bool(),
  },
  response: {
    throttleTimeMs: int32(),
    results: array({
      name: string(),
      errorCode: int16(),
      errorMessage: string({ nullable: '0+', default: null }),
    }),
  },
})
