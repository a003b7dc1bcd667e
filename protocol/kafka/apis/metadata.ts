/**
 * Metadata (key 3): brokers, cluster id, controller and the partitions of the asked topics. In
 * v0 an empty topic list means every topic; from v1 that is a null list and an empty one means
 * none. allowAutoTopicCreation exists from v4. v9 is flexible; v10+ (topic ids) is not
 * implemented.
 */

import { defineApi } from '../api.js'
import { bool, int16, int32, string, array } from '../schema.js'

export const Metadata = defineApi({
  name: 'Metadata',
  key: 3,
  versions: '0-9',
  flexibleVersions: '9+',
  request: {
    topics: array({
      name: string(),
    }, { nullable: '1+' }),
    allowAutoTopicCreation: bool({ versions: '4+', default: true }),
    includeClusterAuthorizedOperations: bool({ versions: '8-10' }),
    includeTopicAuthorizedOperations: bool({ versions: '8+' }),
  },
  response: {
    throttleTimeMs: int32({ versions: '3+' }),
    brokers: array({
      nodeId: int32(),
      host: string(),
      port: int32(),
      rack: string({ versions: '1+', nullable: '1+', default: null }),
    }),
    clusterId: string({ versions: '2+', nullable: '2+', default: null }),
    controllerId: int32({ versions: '1+', default: -1 }),
    topics: array({
      errorCode: int16(),
      name: string(),
      isInternal: bool({ versions: '1+' }),
      partitions: array({
        errorCode: int16(),
        partitionIndex: int32(),
        leaderId: int32(),
        leaderEpoch: int32({ versions: '7+', default: -1 }),
        replicaNodes: array('int32'),
        isrNodes: array('int32'),
        offlineReplicas: array('int32', { versions: '5+' }),
      }),
      topicAuthorizedOperations: int32({ versions: '8+', default: -2147483648 }),
    }),
    clusterAuthorizedOperations: int32({ versions: '8-10', default: -2147483648 }),
  },
})
