/**
 * SaslAuthenticate (key 36): one SASL token exchange. sessionLifetimeMs (v1+) tells the client
 * when to re-authenticate (0 = never).
 */

import { defineApi } from '../api.js'
import { int16, int64, string, bytes } from '../schema.js'

export const SaslAuthenticate = defineApi({
  name: 'SaslAuthenticate',
  key: 36,
  versions: '0-2',
  flexibleVersions: '2+',
  request: {
    authBytes: bytes(),
  },
  response: {
    errorCode: int16(),
    errorMessage: string({ nullable: '0+' }),
    authBytes: bytes(),
    sessionLifetimeMs: int64({ versions: '1+' }),
  },
})
