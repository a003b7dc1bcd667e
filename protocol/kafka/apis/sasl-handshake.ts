/**
 * SaslHandshake (key 17): choose a SASL mechanism; the response lists the enabled ones. With
 * v0 the SASL tokens follow as bare length-prefixed frames; with v1 they travel in
 * SaslAuthenticate requests. Never flexible.
 */

import { defineApi } from '../api.js'
import { int16, string, array } from '../schema.js'

export const SaslHandshake = defineApi({
  name: 'SaslHandshake',
  key: 17,
  versions: '0-1',
  flexibleVersions: 'none',
  request: {
    mechanism: string(),
  },
  response: {
    errorCode: int16(),
    mechanisms: array('string'),
  },
})
