/**
 * Kafka request and response frames: headers plus a body chosen by api key and version.
 *
 *   frame            := size int32 (bytes after itself), header, body
 *   request header   v1 := api_key int16, api_version int16, correlation_id int32,
 *                          client_id nullable string (int16 length, also in flexible versions)
 *                    v2 := v1 + tagged fields            (used by every flexible request version)
 *   response header  v0 := correlation_id int32
 *                    v1 := v0 + tagged fields            (flexible response versions)
 *   ApiVersions responses always use header v0, whatever their version (KIP-511), so a
 *   client can read the answer before it knows which versions the broker speaks.
 *
 * Decoders take a frame *without* its size prefix (the listener has already cut the stream
 * into frames and bounded their size); encoders return parts *with* the prefix, ready for
 * writev, and the total size. Every decoder fails with MalformedFrameError on truncated
 * input, impossible lengths or bytes left over after the body.
 */

import { MalformedFrameError, UnsupportedApiError, UnsupportedVersionError } from '../errors.js'
import { Reader } from '../bytes/reader.js'
import { Writer } from '../bytes/writer.js'
import { ApiVersions } from './apis/api-versions.js'
import type { KafkaApi } from './api.js'
import { ADVERTISED_APIS, apiByKey } from './registry.js'
import type { AnyKafkaApi, KafkaApiName, RequestBody, RequestInputOf, ResponseBodyOf, ResponseInputOf } from './registry.js'
import { KAFKA_ERRORS } from './error-codes.js'

/** An encoded frame: its bytes as parts (size prefix included) and their total length. */
export interface EncodedFrame {
  readonly parts: Uint8Array[]
  readonly size: number
}

export interface RequestHeader {
  readonly apiKey: number
  readonly apiVersion: number
  readonly correlationId: number
  readonly clientId: string | null
}

export interface ParsedRequestHeader extends RequestHeader {
  /** The implemented API with this key, or null. */
  readonly definition: AnyKafkaApi | null
  /** Whether the key and version are implemented, so that the body can be decoded. */
  readonly supported: boolean
  /** Where the body starts in the frame (-1 when unsupported: the header's tags were not read). */
  readonly bodyOffset: number
}

/** A decoded request: its header fields, the API's name (the discriminant) and its body. */
export type KafkaRequest = {
  [N in KafkaApiName]: RequestHeader & { readonly apiName: N, readonly body: RequestBody<N> }
}[KafkaApiName]

/** Whether `version` of `api` uses request header v2 / response header v1. */
export function isFlexibleVersion (api: KafkaApi, version: number): boolean {
  return version >= api.flexibleFrom
}

function responseHeaderHasTags (api: KafkaApi, version: number): boolean {
  return api.key !== ApiVersions.key && isFlexibleVersion(api, version)
}

/** Reads a tagged-field section whose tags are all unknown to us (headers define none). */
function skipTaggedFields (r: Reader): void {
  const count = r.uvarint()
  if (count * 2 > r.remaining) throw new MalformedFrameError(`${count} header tagged fields cannot fit in the ${r.remaining} bytes left`)
  for (let i = 0; i < count; i++) {
    r.uvarint()
    r.skip(r.uvarint(), 'header tagged field')
  }
}

/**
 * Reads the request header. For a key or version Spool does not implement only the fixed
 * prefix (key, version, correlation id, client id) is read, which is all that is needed to
 * answer an ApiVersions request of an unknown version.
 */
export function decodeRequestHeader (frame: Uint8Array): ParsedRequestHeader {
  const r = new Reader(frame)
  const apiKey = r.int16()
  const apiVersion = r.int16()
  const correlationId = r.int32()
  const clientId = r.nullableString()
  const definition = apiByKey(apiKey) ?? null
  const supported = definition !== null && apiVersion >= definition.minVersion && apiVersion <= definition.maxVersion
  if (supported && isFlexibleVersion(definition, apiVersion)) skipTaggedFields(r)
  return { apiKey, apiVersion, correlationId, clientId, definition, supported, bodyOffset: supported ? r.pos : -1 }
}

export interface DecodeRequestOptions {
  /**
   * Accept bytes left after the body instead of failing with MalformedFrameError. Kafka's
   * own broker does not check for them, and some clients send them (see the fixtures'
   * README); a listener may opt in per API for such a client. Default false.
   */
  readonly allowTrailingBytes?: boolean
}

/** Decodes the body after a header from decodeRequestHeader. */
export function decodeRequestBody (header: ParsedRequestHeader, frame: Uint8Array, options: DecodeRequestOptions = {}): KafkaRequest {
  const api = header.definition
  if (api === null) throw new UnsupportedApiError(`api key ${header.apiKey} is not implemented`)
  if (!header.supported) {
    throw new UnsupportedVersionError(`${api.name} v${header.apiVersion} is not supported (v${api.minVersion}-${api.maxVersion})`)
  }
  const r = new Reader(frame, header.bodyOffset)
  const body = (api.request as KafkaApi['request']).read(header.apiVersion, r)
  if (r.pos !== r.end && options.allowTrailingBytes !== true) {
    throw new MalformedFrameError(`${api.name} v${header.apiVersion} request: ${r.end - r.pos} trailing bytes after the body`)
  }
  return {
    apiName: api.name,
    apiKey: header.apiKey,
    apiVersion: header.apiVersion,
    correlationId: header.correlationId,
    clientId: header.clientId,
    body,
  } as KafkaRequest
}

/**
 * Decodes a whole request frame. Throws UnsupportedApiError / UnsupportedVersionError for
 * what Spool does not implement (use decodeRequestHeader first to answer those), and
 * MalformedFrameError for bad bytes.
 */
export function decodeRequest (frame: Uint8Array, options: DecodeRequestOptions = {}): KafkaRequest {
  return decodeRequestBody(decodeRequestHeader(frame), frame, options)
}

function finishFrame (w: Writer, slot: ReturnType<Writer['reserveInt32']>): EncodedFrame {
  const size = w.length
  w.patchInt32(slot, size - 4)
  return { parts: w.finish(), size }
}

/**
 * Encodes a response frame. Records fields (Fetch) given as slices come out as their own
 * parts, by reference; everything else is in a few scratch buffers.
 */
export function encodeResponse<A extends AnyKafkaApi> (api: A, version: number, correlationId: number, body: ResponseInputOf<A>): EncodedFrame {
  const w = new Writer(512)
  const slot = w.reserveInt32()
  w.int32(correlationId)
  if (responseHeaderHasTags(api, version)) w.uvarint(0)
  ;(api.response as KafkaApi['response']).write(version, body, w)
  return finishFrame(w, slot)
}

/**
 * The answer to an ApiVersions request of a version Spool does not implement: header v0
 * and a v0 body (error UNSUPPORTED_VERSION, and ApiVersions' own range so the client can
 * retry with a version it shares), which every client version can parse.
 */
export function encodeApiVersionsUnsupported (correlationId: number): EncodedFrame {
  const own = ADVERTISED_APIS.find(a => a.apiKey === ApiVersions.key)!
  return encodeResponse(ApiVersions, 0, correlationId, {
    errorCode: KAFKA_ERRORS.UNSUPPORTED_VERSION.code,
    apiKeys: [{ apiKey: own.apiKey, minVersion: own.minVersion, maxVersion: own.maxVersion }],
  })
}

/** Encodes a request frame (client side). */
export function encodeRequest<A extends AnyKafkaApi> (
  api: A, version: number, correlationId: number, clientId: string | null, body: RequestInputOf<A>,
): EncodedFrame {
  const w = new Writer(256)
  const slot = w.reserveInt32()
  w.int16(api.key)
  w.int16(version)
  w.int32(correlationId)
  w.nullableString(clientId)
  const request = api.request as KafkaApi['request']
  request.plan(version)
  if (isFlexibleVersion(api, version)) w.uvarint(0)
  request.write(version, body, w)
  return finishFrame(w, slot)
}

export interface DecodedResponse<B> {
  readonly correlationId: number
  /** The version the body was read as (ApiVersions errors are read as v0). */
  readonly version: number
  readonly body: B
}

/** The correlation id of a response frame (first four bytes, the same in every header). */
export function responseCorrelationId (frame: Uint8Array): number {
  return new Reader(frame).int32()
}

/**
 * Decodes a response frame (client side) for the API and version the request was sent
 * with. An ApiVersions response carrying UNSUPPORTED_VERSION is read as v0, the form a
 * broker uses for a version it does not know.
 */
export function decodeResponse<A extends AnyKafkaApi> (api: A, version: number, frame: Uint8Array): DecodedResponse<ResponseBodyOf<A>> {
  const response = api.response as KafkaApi['response']
  response.plan(version)
  const r = new Reader(frame)
  const correlationId = r.int32()
  if (responseHeaderHasTags(api, version)) skipTaggedFields(r)
  let bodyVersion = version
  if (api.key === ApiVersions.key && r.remaining >= 2 && r.view.getInt16(r.pos) === KAFKA_ERRORS.UNSUPPORTED_VERSION.code) bodyVersion = 0
  const body = response.read(bodyVersion, r)
  if (r.pos !== r.end) throw new MalformedFrameError(`${api.name} v${bodyVersion} response: ${r.end - r.pos} trailing bytes after the body`)
  return { correlationId, version: bodyVersion, body: body as ResponseBodyOf<A> }
}
