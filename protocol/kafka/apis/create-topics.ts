/**
 * CreateTopics (key 19): create topics with a partition count and replication factor (-1 =
 * broker default, v4+) or explicit assignments. From v5 the response reports the resulting
 * config; v7 returns the topic id.
 */

import { defineApi } from '../api.js'
import { bool, int8, int16, int32, string, uuid, array } from '../schema.js'

export const CreateTopics = defineApi({
  name: 'CreateTopics',
  key: 19,
  versions: '0-7',
  flexibleVersions: '5+',
  request: {
    topics: array({
      name: string(),
      numPartitions: int32(),
      replicationFactor: int16(),
      assignments: array({
        partitionIndex: int32(),
        brokerIds: array('int32'),
      }),
      configs: array({
        name: string(),
        value: string({ nullable: '0+' }),
      }),
    }),
    timeoutMs: int32({ default: 60000 }),
    validateOnly: bool({ versions: '1+' }),
  },
  response: {
    throttleTimeMs: int32({ versions: '2+' }),
    topics: array({
      name: string(),
      topicId: uuid({ versions: '7+' }),
      errorCode: int16(),
      errorMessage: string({ versions: '1+', nullable: '0+' }),
      topicConfigErrorCode: int16({ versions: '5+', tag: 0, taggedVersions: '5+' }),
      numPartitions: int32({ versions: '5+', default: -1 }),
      replicationFactor: int16({ versions: '5+', default: -1 }),
      configs: array({
        name: string({ versions: '5+' }),
        value: string({ versions: '5+', nullable: '5+' }),
        readOnly: bool({ versions: '5+' }),
        configSource: int8({ versions: '5+', default: -1 }),
        isSensitive: bool({ versions: '5+' }),
      }, { versions: '5+', nullable: '5+' }),
    }),
  },
})
