/**
 * DeleteTopics (key 20): delete topics by name (topicNames, v0-5) or by name or id (topics,
 * v6).
 */

import { defineApi } from '../api.js'
import { int16, int32, string, uuid, array } from '../schema.js'

export const DeleteTopics = defineApi({
  name: 'DeleteTopics',
  key: 20,
  versions: '0-6',
  flexibleVersions: '4+',
  request: {
    topics: array({
      name: string({ versions: '6+', nullable: '6+', default: null }),
      topicId: uuid({ versions: '6+' }),
    }, { versions: '6+' }),
    topicNames: array('string', { versions: '0-5' }),
    timeoutMs: int32(),
  },
  response: {
    throttleTimeMs: int32({ versions: '1+' }),
    responses: array({
      name: string({ nullable: '6+' }),
      topicId: uuid({ versions: '6+' }),
      errorCode: int16(),
      errorMessage: string({ versions: '5+', nullable: '5+', default: null }),
    }),
  },
})
