/**
 * ApiVersions (key 18): the first request of every connection; the broker answers with the key
 * and version range of every API it serves. v3+ is flexible and the request names the client
 * software, but the response header stays v0 in every version (KIP-511) so a client can always
 * read it. A version the broker does not know is answered with a v0 body carrying
 * UNSUPPORTED_VERSION (see encodeApiVersionsUnsupported in frame.ts).
 */

import { defineApi } from '../api.js'
import { bool, int16, int32, int64, string, array } from '../schema.js'

export const ApiVersions = defineApi({
  name: 'ApiVersions',
  key: 18,
  versions: '0-3',
  flexibleVersions: '3+',
  request: {
    clientSoftwareName: string({ versions: '3+' }),
    clientSoftwareVersion: string({ versions: '3+' }),
  },
  response: {
    errorCode: int16(),
    apiKeys: array({
      apiKey: int16(),
      minVersion: int16(),
      maxVersion: int16(),
    }),
    throttleTimeMs: int32({ versions: '1+' }),
    supportedFeatures: array({
      name: string({ versions: '3+' }),
      minVersion: int16({ versions: '3+' }),
      maxVersion: int16({ versions: '3+' }),
    }, { versions: '3+', tag: 0, taggedVersions: '3+' }),
    finalizedFeaturesEpoch: int64({ versions: '3+', tag: 1, taggedVersions: '3+', default: -1 }),
    finalizedFeatures: array({
      name: string({ versions: '3+' }),
      maxVersionLevel: int16({ versions: '3+' }),
      minVersionLevel: int16({ versions: '3+' }),
    }, { versions: '3+', tag: 2, taggedVersions: '3+' }),
    zkMigrationReady: bool({ versions: '3+', tag: 3, taggedVersions: '3+' }),
  },
})
