/**
 * DescribeCluster (key 60): cluster id, controller and brokers (the admin clients' metadata).
 * Flexible from v0.
 */

import { defineApi } from '../api.js'
import { bool, int16, int32, string, array } from '../schema.js'

export const DescribeCluster = defineApi({
  name: 'DescribeCluster',
  key: 60,
  versions: '0',
  flexibleVersions: '0+',
  request: {
    includeClusterAuthorizedOperations: bool(),
  },
  response: {
    throttleTimeMs: int32(),
    errorCode: int16(),
    errorMessage: string({ nullable: '0+', default: null }),
    clusterId: string(),
    controllerId: int32({ default: -1 }),
    brokers: array({
      brokerId: int32(),
      host: string(),
      port: int32(),
      rack: string({ nullable: '0+', default: null }),
    }),
    clusterAuthorizedOperations: int32({ default: -2147483648 }),
  },
})
