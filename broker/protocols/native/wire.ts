/**
 * The native protocol as a WireProtocol (network/connection.ts): length-prefixed frames
 * (protocol/native/frame.ts), requests answered in any order through the request pipeline,
 * broker notices (correlation id 0) as the last word before a close.
 *
 * Limits, each with its named error (protocol/errors.ts):
 *   maxFrameBytes        FRAME_TOO_LARGE    notice, then close (the stream's framing is lost)
 *   malformed header     MALFORMED_FRAME    notice, then close
 *   maxInFlightRequests  TOO_MANY_IN_FLIGHT answered on that request; the connection stays
 *   maxQueuedBytes       SLOW_READER        notice behind the queued bytes, then close
 *   idleTimeoutMs        IDLE_TIMEOUT       notice, then close (idle: no request in flight and
 *                                           none arrived, whole, for that long)
 * Reading pauses while more than a quarter of maxQueuedBytes waits to be written, so a slow
 * reader is throttled before it is cut off.
 *
 * Authentication (protocol/native/apis/sasl.ts): with `auth.required`, a connection that has
 * not authenticated (by SASL, a token, or a verified client certificate at accept) is in a
 * pre-authentication stage: only ApiVersions, SaslHandshake and SaslAuthenticate are
 * served — any other request closes it with an AUTHENTICATION_REQUIRED notice —, its
 * frames are limited to PRE_AUTH_MAX_FRAME_BYTES (FRAME_TOO_LARGE past it), and it must
 * authenticate within `auth.timeoutMs` (IDLE_TIMEOUT). Once authenticated, the broker's own
 * limits apply. Without `required`, the SASL apis still work (the connection gets its
 * principal) and nothing else changes.
 */

import { AuthenticationRequiredError, MalformedFrameError, TooManyInFlightError, type SpoolError } from '../../../protocol/errors.js'
import { ApiKey } from '../../../protocol/native/api-keys.js'
import { PRE_AUTH_MAX_FRAME_BYTES } from '../../../protocol/native/apis/sasl.js'
import {
  NOTICE_CORRELATION_ID, REQUEST_HEADER_FIXED_BYTES, encodeResponseFrame, lengthPrefixReader, parseRequestFrame,
  type RequestFrame,
} from '../../../protocol/native/frame.js'
import type { AuthExchange, Authenticator } from '../../security/authenticator.js'
import type { ByteChannel } from '../../network/channel.js'
import type { Connection, ProtocolSession, WireProtocol } from '../../network/connection.js'
import { RequestPipeline } from '../../network/request-pipeline.js'
import { ConnectionRoom, type ResponseRoom } from '../../services/response-room.js'

export interface RequestContext {
  readonly connection: Connection
  readonly apiVersion: number
  readonly correlationId: number
  /** The frame's records section (a view; valid for the life of the request). */
  readonly records: Uint8Array
  /** Aborted when the connection closes, so long polls stop waiting. */
  readonly signal: AbortSignal
  /** This connection's response memory: what a fetch may still read (see ResponseRoom). */
  readonly room: ResponseRoom
  /** This connection's SASL exchange (sasl.ts). */
  readonly sasl: SaslState
}

/** Where a connection's SASL exchange stands. */
export interface SaslState {
  /** The mechanism SaslHandshake chose, null before. */
  mechanism: string | null
  exchange: AuthExchange | null
}

/** How the native listener authenticates (null: no authenticator at all). */
export interface NativeAuth {
  /** Refuse everything but ApiVersions and SASL until the connection has authenticated. */
  readonly required: boolean
  readonly authenticator: Authenticator
  /** How long a connection may take to authenticate. */
  readonly timeoutMs: number
}

/** What an unauthenticated connection may ask. */
const PRE_AUTH_APIS: ReadonlySet<number> = new Set([ApiKey.ApiVersions, ApiKey.SaslHandshake, ApiKey.SaslAuthenticate])

export interface HandlerResult {
  body: Record<string, unknown>
  records?: readonly Uint8Array[]
}

/** Turns a request into a response (null = no response, e.g. acks=0). */
export type Dispatch = (frame: RequestFrame, ctx: RequestContext) => HandlerResult | null | Promise<HandlerResult | null>

export interface NativeLimits {
  maxFrameBytes: number
  maxInFlightRequests: number
  maxQueuedBytes: number
  idleTimeoutMs: number
}

function notice (err: SpoolError): Uint8Array[] {
  return encodeResponseFrame(NOTICE_CORRELATION_ID, { errorCode: err.errorCode, errorMessage: err.message })
}

export function nativeProtocol (limits: NativeLimits, dispatch: Dispatch, auth: NativeAuth | null = null): WireProtocol {
  return {
    name: 'native',
    limits: { maxQueuedBytes: limits.maxQueuedBytes, pauseAtQueuedBytes: limits.maxQueuedBytes / 4, idleTimeoutMs: limits.idleTimeoutMs },
    open: connection => new NativeSession(connection, limits, dispatch, auth),
    refuse (channel: ByteChannel, err: SpoolError) { channel.write(notice(err)) },
  }
}

class NativeSession implements ProtocolSession {
  readonly frameSize
  readonly maxHeaderBytes = 4
  readonly #conn: Connection
  readonly #pipeline: RequestPipeline<RequestFrame>
  readonly #room: ResponseRoom
  readonly #limits: NativeLimits
  readonly #sasl: SaslState = { mechanism: null, exchange: null }
  /** Still in the pre-authentication stage (auth required, not yet authenticated). */
  #gated: boolean

  constructor (conn: Connection, limits: NativeLimits, dispatch: Dispatch, auth: NativeAuth | null) {
    this.#conn = conn
    this.#limits = limits
    const full = lengthPrefixReader(limits.maxFrameBytes, REQUEST_HEADER_FIXED_BYTES)
    const small = lengthPrefixReader(Math.min(limits.maxFrameBytes, PRE_AUTH_MAX_FRAME_BYTES), REQUEST_HEADER_FIXED_BYTES)
    this.#gated = auth?.required === true && !conn.isAuthenticated
    if (this.#gated) conn.idleTimeoutMs = auth!.timeoutMs
    this.frameSize = (bytes: Uint8Array, pos: number, end: number): number => this.#ungated() ? full(bytes, pos, end) : small(bytes, pos, end)
    this.#room = new ConnectionRoom(limits.maxQueuedBytes, () => conn.queuedBytes)
    this.#pipeline = new RequestPipeline<RequestFrame>(conn, {
      codec: {
        ordering: 'any',
        parse: frame => {
          const request = parseRequestFrame(frame)
          if (request.correlationId === NOTICE_CORRELATION_ID) throw new MalformedFrameError('correlation id 0 is reserved for broker notices')
          conn.setClientId(request.clientId)
          return request
        },
        encodeError: (request, err) => encodeResponseFrame(request.correlationId, { errorCode: err.errorCode, errorMessage: err.message }),
      },
      maxInFlight: limits.maxInFlightRequests,
      tooMany: request => {
        const err = new TooManyInFlightError(`more than ${limits.maxInFlightRequests} requests in flight on this connection`)
        return encodeResponseFrame(request.correlationId, { errorCode: err.errorCode, errorMessage: err.message })
      },
      handle: request => {
        if (!this.#ungated() && !PRE_AUTH_APIS.has(request.apiKey)) {
          conn.fail(new AuthenticationRequiredError(`this broker requires authentication (SaslHandshake, then SaslAuthenticate) before api key ${request.apiKey}`))
          return null
        }
        const ctx: RequestContext = {
          connection: conn,
          apiVersion: request.apiVersion,
          correlationId: request.correlationId,
          records: request.records,
          signal: conn.signal,
          room: this.#room,
          sasl: this.#sasl,
        }
        const result = dispatch(request, ctx)
        if (result instanceof Promise) return result.then(r => r === null ? null : encodeResponseFrame(request.correlationId, r.body, r.records))
        return result === null ? null : encodeResponseFrame(request.correlationId, result.body, result.records)
      },
    })
  }

  onFrame (frame: Uint8Array): boolean {
    return this.#pipeline.onFrame(frame)
  }

  /** True once the pre-authentication stage is over (or there was none); restores the idle timeout then. */
  #ungated (): boolean {
    if (!this.#gated) return true
    if (!this.#conn.isAuthenticated) return false
    this.#gated = false
    this.#conn.idleTimeoutMs = this.#limits.idleTimeoutMs
    return true
  }

  busy (): boolean { return this.#pipeline.inFlight > 0 }

  farewell (err: SpoolError): void {
    this.#conn.write(notice(err))
  }

  onClose (): void { /* requests in flight see the connection's signal abort */ }
}
