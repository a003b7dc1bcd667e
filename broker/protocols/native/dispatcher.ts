/**
 * Routes a request frame to its api handler: checks the api key and version against the
 * table in protocol/native/api-keys.ts, decodes and validates the msgpack body with the
 * api's schema, calls the handler, counts the request. Unknown keys and versions are
 * answered with UNSUPPORTED_API / UNSUPPORTED_VERSION (never a hang), a body that does not
 * match its schema with INVALID_REQUEST; the connection stays open for all three.
 */

import { APIS, apiByKey, type ApiName, type RequestOf, type ResponseOf } from '../../../protocol/native/api-keys.js'
import { decodeBody, type RequestFrame } from '../../../protocol/native/frame.js'
import { SpoolError, UnsupportedApiError, UnsupportedVersionError } from '../../../protocol/errors.js'
import type { BrokerMetrics } from '../../observability/metrics.js'
import { faultPoints } from '../../storage/testing/fault-points.js'
import type { Dispatch, HandlerResult, RequestContext } from './wire.js'

/** What a handler returns: its response body (top-level error fields are added on failure), and records. */
export interface Reply<N extends ApiName> {
  body: Omit<ResponseOf<N>, 'errorCode' | 'errorMessage'>
  records?: readonly Uint8Array[]
}

export type Handler<N extends ApiName> = (request: RequestOf<N>, ctx: RequestContext) => Reply<N> | null | Promise<Reply<N> | null>

interface Entry {
  name: ApiName
  minVersion: number
  maxVersion: number
  parse (body: unknown): unknown
  handle (request: unknown, ctx: RequestContext): HandlerResult | null | Promise<HandlerResult | null>
}

export class Dispatcher {
  readonly #entries = new Map<number, Entry>()
  readonly #metrics: BrokerMetrics

  constructor (metrics: BrokerMetrics) {
    this.#metrics = metrics
  }

  /** Registers the handler of an api (each api once). */
  register<N extends ApiName> (name: N, handler: Handler<N>): void {
    const spec = APIS[name]
    this.#entries.set(spec.key, {
      name,
      minVersion: spec.minVersion,
      maxVersion: spec.maxVersion,
      parse: body => spec.request.parse(body, ''),
      handle: handler as (request: unknown, ctx: RequestContext) => HandlerResult | null | Promise<HandlerResult | null>,
    })
  }

  /** Api keys with a registered handler (what ApiVersions reports). */
  registered (): Array<{ apiKey: number, name: string, minVersion: number, maxVersion: number }> {
    return [...this.#entries.entries()].map(([apiKey, e]) => ({ apiKey, name: e.name, minVersion: e.minVersion, maxVersion: e.maxVersion }))
  }

  readonly dispatch: Dispatch = (frame: RequestFrame, ctx: RequestContext) => {
    if (faultPoints.active) faultPoints.hit('native.request', frame.clientId)
    const entry = this.#entries.get(frame.apiKey)
    if (entry === undefined) {
      const known = apiByKey(frame.apiKey)
      this.#metrics.countRequest('native', 'unknown')
      throw new UnsupportedApiError(known === undefined
        ? `api key ${frame.apiKey} is not known to this broker`
        : `api ${known.name} (key ${frame.apiKey}) is not served by this broker`)
    }
    this.#metrics.countRequest('native', entry.name)
    if (frame.apiVersion < entry.minVersion || frame.apiVersion > entry.maxVersion) {
      throw new UnsupportedVersionError(`${entry.name} version ${frame.apiVersion} is not supported (supported ${entry.minVersion}-${entry.maxVersion})`)
    }
    const request = entry.parse(decodeBody(frame.bodyBytes))
    try {
      const result = entry.handle(request, ctx)
      if (result instanceof Promise) return result.catch(err => this.#countError(entry.name, err))
      return result
    } catch (err) {
      return this.#countError(entry.name, err)
    }
  }

  #countError (name: string, err: unknown): never {
    this.#metrics.countRequestError('native', name, err instanceof SpoolError ? err.code : 'UNKNOWN_SERVER_ERROR')
    throw err
  }
}
