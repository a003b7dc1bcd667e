/**
 * Routes a Kafka request to its handler. Parsing (in the connection's read path) reads the
 * header, checks the api key and version against what this listener serves and decodes the
 * body with the api's schema (protocol/kafka); dispatching counts the request, calls the
 * handler and encodes its answer at the request's version.
 *
 * What a client gets for what it should not send:
 * - ApiVersions at a version Spool does not implement: the v0-format UNSUPPORTED_VERSION
 *   answer with ApiVersions' own range (KIP-511), so librdkafka retries with v0 and kafkajs
 *   walks down — the connection stays.
 * - any other api key or version not advertised, or a body that does not decode: a typed
 *   error (UNSUPPORTED_API, UNSUPPORTED_VERSION, MALFORMED_FRAME) from parse, which the
 *   connection's failure rule turns into one warning line and a close, as Kafka's broker
 *   closes the connection (there is no version to write an error response in).
 * - a handler's typed error: that request's error response (error-responses.ts).
 */

import { SpoolError, UnsupportedApiError, UnsupportedVersionError } from '../../../protocol/errors.js'
import { KAFKA_APIS, ApiVersions, DescribeConfigs } from '../../../protocol/kafka/apis/index.js'
import { apiKeyName } from '../../../protocol/kafka/api-keys.js'
import { decodeRequestBody, decodeRequestHeader, encodeApiVersionsUnsupported, encodeResponse } from '../../../protocol/kafka/frame.js'
import type { KafkaRequest, ParsedRequestHeader } from '../../../protocol/kafka/frame.js'
import type { AdvertisedApi, AnyKafkaApi, KafkaApiName, RequestBody, ResponseInput } from '../../../protocol/kafka/registry.js'
import type { BrokerMetrics } from '../../observability/metrics.js'
import { faultPoints } from '../../storage/testing/fault-points.js'
import type { KafkaRequestContext } from './context.js'

/** A handler's answer: the response body (fields left out take their defaults), or null for none (acks=0). */
export type KafkaHandler<N extends KafkaApiName> =
  (request: RequestBody<N>, rc: KafkaRequestContext) => ResponseInput<N> | null | Promise<ResponseInput<N> | null>

/** A parsed request: its header and decoded body, or only the header of an ApiVersions Spool cannot decode. */
export interface ParsedKafkaRequest {
  readonly header: ParsedRequestHeader
  /** null: ApiVersions at a version not implemented (answered in the v0 format). */
  readonly request: KafkaRequest | null
}

/**
 * Requests decoded even with bytes after their body, as Kafka's broker does: clients that
 * send them (tests/fixtures/kafka/README.md) — @platformatic/kafka's DescribeConfigs v2
 * carries v3's include_documentation byte.
 */
const LENIENT = new Set<number>([DescribeConfigs.key])

interface Entry {
  readonly api: AnyKafkaApi
  readonly handle: (request: unknown, rc: KafkaRequestContext) => unknown
}

export class KafkaDispatcher {
  readonly #entries = new Map<number, Entry>()
  readonly #metrics: BrokerMetrics

  constructor (metrics: BrokerMetrics) {
    this.#metrics = metrics
  }

  /** Registers the handler of an api (all the versions its schema implements). */
  register<N extends KafkaApiName> (name: N, handler: KafkaHandler<N>): void {
    const api = KAFKA_APIS[name]
    this.#entries.set(api.key, { api, handle: handler as Entry['handle'] })
  }

  /** The apis with a handler and their version ranges, by key: the ApiVersions answer. */
  advertised (): AdvertisedApi[] {
    return [...this.#entries.values()]
      .map(e => ({ apiKey: e.api.key, minVersion: e.api.minVersion, maxVersion: e.api.maxVersion }))
      .sort((a, b) => a.apiKey - b.apiKey)
  }

  /** Whether an api key has a handler. */
  serves (apiKey: number): boolean { return this.#entries.has(apiKey) }

  /** Parses one frame without its size prefix; throws the typed error of bad input. */
  parse (frame: Uint8Array): ParsedKafkaRequest {
    const header = decodeRequestHeader(frame)
    const entry = this.#entries.get(header.apiKey)
    if (!header.supported || entry === undefined) {
      if (header.apiKey === ApiVersions.key && entry !== undefined) return { header, request: null }
      this.#metrics.countRequest('kafka', header.definition?.name ?? 'unknown')
      if (entry === undefined) throw new UnsupportedApiError(`api key ${header.apiKey} (${apiKeyName(header.apiKey)}) is not served by this listener`)
      throw new UnsupportedVersionError(`${entry.api.name} v${header.apiVersion} is not supported (v${entry.api.minVersion}-${entry.api.maxVersion})`)
    }
    return { header, request: decodeRequestBody(header, frame, { allowTrailingBytes: LENIENT.has(header.apiKey) }) }
  }

  /** Handles a parsed request; the encoded response parts, or null when none is due. */
  dispatch (parsed: ParsedKafkaRequest, rc: KafkaRequestContext): readonly Uint8Array[] | null | Promise<readonly Uint8Array[] | null> {
    const { header, request } = parsed
    if (faultPoints.active) faultPoints.hit('kafka.request', header.clientId ?? '')
    if (request === null) {
      this.#metrics.countRequest('kafka', 'ApiVersions')
      return encodeApiVersionsUnsupported(header.correlationId).parts
    }
    const entry = this.#entries.get(header.apiKey)!
    const name = entry.api.name
    this.#metrics.countRequest('kafka', name)
    const encode = (body: unknown): readonly Uint8Array[] | null => body === null
      ? null
      : encodeResponse(entry.api, header.apiVersion, header.correlationId, body as never).parts
    try {
      const result = entry.handle(request.body, rc)
      if (result instanceof Promise) return result.then(encode, err => this.#countError(name, err))
      return encode(result)
    } catch (err) {
      return this.#countError(name, err)
    }
  }

  #countError (name: string, err: unknown): never {
    this.#metrics.countRequestError('kafka', name, err instanceof SpoolError ? err.code : 'UNKNOWN_SERVER_ERROR')
    throw err
  }
}
