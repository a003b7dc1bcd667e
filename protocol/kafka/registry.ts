/**
 * The implemented APIs looked up by key and name, with the types of their bodies, and the
 * ApiVersions advertisement derived from them (one place: an API's range in its schema file
 * is what is decoded, encoded and advertised).
 */

import type { KafkaApi } from './api.js'
import { KAFKA_APIS } from './apis/index.js'
import type { Decoded, Encodable, Fields } from './schema.js'

export type KafkaApiName = keyof typeof KAFKA_APIS
export type AnyKafkaApi = (typeof KAFKA_APIS)[KafkaApiName]

type RequestFields<A> = A extends KafkaApi<string, number, infer Req, Fields> ? Req : never
type ResponseFields<A> = A extends KafkaApi<string, number, Fields, infer Res> ? Res : never

/** A decoded request body of API `N` (every field present). */
export type RequestBody<N extends KafkaApiName> = Decoded<RequestFields<(typeof KAFKA_APIS)[N]>>
/** A request body to encode (fields left out take their defaults). */
export type RequestInput<N extends KafkaApiName> = Encodable<RequestFields<(typeof KAFKA_APIS)[N]>>
/** A decoded response body of API `N`. */
export type ResponseBody<N extends KafkaApiName> = Decoded<ResponseFields<(typeof KAFKA_APIS)[N]>>
/** A response body to encode. */
export type ResponseInput<N extends KafkaApiName> = Encodable<ResponseFields<(typeof KAFKA_APIS)[N]>>

/** Request fields of an API object (for code generic over the API). */
export type RequestInputOf<A> = Encodable<RequestFields<A>>
export type ResponseInputOf<A> = Encodable<ResponseFields<A>>
export type RequestBodyOf<A> = Decoded<RequestFields<A>>
export type ResponseBodyOf<A> = Decoded<ResponseFields<A>>

const BY_KEY = new Map<number, AnyKafkaApi>()
for (const api of Object.values(KAFKA_APIS)) BY_KEY.set(api.key, api)

/** The implemented API with this key, or undefined. */
export function apiByKey (key: number): AnyKafkaApi | undefined {
  return BY_KEY.get(key)
}

/** Whether Spool implements `version` of the API with this key. */
export function isSupported (key: number, version: number): boolean {
  const api = BY_KEY.get(key)
  return api !== undefined && version >= api.minVersion && version <= api.maxVersion
}

export interface AdvertisedApi {
  readonly apiKey: number
  readonly minVersion: number
  readonly maxVersion: number
}

/** Every implemented API and its version range, by api key: the ApiVersions answer. */
export const ADVERTISED_APIS: readonly AdvertisedApi[] = Object.values(KAFKA_APIS)
  .map(api => ({ apiKey: api.key, minVersion: api.minVersion, maxVersion: api.maxVersion }))
  .sort((a, b) => a.apiKey - b.apiKey)
