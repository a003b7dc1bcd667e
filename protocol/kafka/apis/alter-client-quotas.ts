/**
 * AlterClientQuotas (key 49): set or remove quota values for entities.
 */

import { defineApi } from '../api.js'
import { bool, int16, int32, float64, string, array } from '../schema.js'

export const AlterClientQuotas = defineApi({
  name: 'AlterClientQuotas',
  key: 49,
  versions: '0-1',
  flexibleVersions: '1+',
  request: {
    entries: array({
      entity: array({
        entityType: string(),
        entityName: string({ nullable: '0+' }),
      }),
      ops: array({
        key: string(),
        value: float64(),
        remove: bool(),
      }),
    }),
    validateOnly: bool(),
  },
  response: {
    throttleTimeMs: int32(),
    entries: array({
      errorCode: int16(),
      errorMessage: string({ nullable: '0+' }),
      entity: array({
        entityType: string(),
        entityName: string({ nullable: '0+' }),
      }),
    }),
  },
})
