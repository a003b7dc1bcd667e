/**
 * FindCoordinator (key 10): the broker that coordinates a group (keyType 0) or a transactional
 * id (keyType 1). v4 batches several keys (coordinatorKeys / coordinators) and drops the
 * single-key fields.
 */

import { defineApi } from '../api.js'
import { int8, int16, int32, string, array } from '../schema.js'

export const FindCoordinator = defineApi({
  name: 'FindCoordinator',
  key: 10,
  versions: '0-4',
  flexibleVersions: '3+',
  request: {
    key: string({ versions: '0-3' }),
    keyType: int8({ versions: '1+' }),
    coordinatorKeys: array('string', { versions: '4+' }),
  },
  response: {
    throttleTimeMs: int32({ versions: '1+' }),
    errorCode: int16({ versions: '0-3' }),
    errorMessage: string({ versions: '1-3', nullable: '1-3' }),
    nodeId: int32({ versions: '0-3' }),
    host: string({ versions: '0-3' }),
    port: int32({ versions: '0-3' }),
    coordinators: array({
      key: string({ versions: '4+' }),
      nodeId: int32({ versions: '4+' }),
      host: string({ versions: '4+' }),
      port: int32({ versions: '4+' }),
      errorCode: int16({ versions: '4+' }),
      errorMessage: string({ versions: '4+', nullable: '4+' }),
    }, { versions: '4+' }),
  },
})
