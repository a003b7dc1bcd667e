/**
 * DescribeClientQuotas (key 48): quota values by entity (user, client-id, ip). matchType 0
 * exact, 1 default entity, 2 any.
 */

import { defineApi } from '../api.js'
import { bool, int8, int16, int32, float64, string, array } from '../schema.js'

export const DescribeClientQuotas = defineApi({
  name: 'DescribeClientQuotas',
  key: 48,
  versions: '0-1',
  flexibleVersions: '1+',
  request: {
    components: array({
      entityType: string(),
      matchType: int8(),
      match: string({ nullable: '0+' }),
    }),
    strict: bool(),
  },
  response: {
    throttleTimeMs: int32(),
    errorCode: int16(),
    errorMessage: string({ nullable: '0+' }),
    entries: array({
      entity: array({
        entityType: string(),
        entityName: string({ nullable: '0+' }),
      }),
      values: array({
        key: string(),
        value: float64(),
      }),
    }, { nullable: '0+' }),
  },
})
