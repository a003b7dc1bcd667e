/**
 * ApiVersions (key 18). The first request a client sends; tells which apis and versions the
 * broker serves. Always answered, even at an unsupported version (with version 0's shape).
 *
 *   request  v0 := {}
 *   response v0 := { errorCode, errorMessage, apis: [{ apiKey, name, minVersion, maxVersion }] }
 */

import { array, int, object, str } from '../schema.js'
import type { Infer } from '../schema.js'
import { topLevelError } from './common.js'

export const ApiVersionsRequest = object({})
export type ApiVersionsRequest = Infer<typeof ApiVersionsRequest>

export const ApiVersionsResponse = object({
  ...topLevelError,
  apis: array(object({ apiKey: int(0, 0xffff), name: str(64), minVersion: int(0, 0xffff), maxVersion: int(0, 0xffff) }), 1000),
})
export type ApiVersionsResponse = Infer<typeof ApiVersionsResponse>
