/**
 * The Kafka wire protocol as a WireProtocol (network/connection.ts): int32-size-prefixed
 * frames, requests dispatched as they arrive (appends happen in arrival order) and answered
 * in request order through the request pipeline — Kafka clients match answers by position
 * as well as by correlation id; a Produce with acks=0 gets no answer at all.
 *
 * Stages of a session (Kafka's own broker has the same two):
 *   pre-authentication  only the apis an authenticator lets through (ApiVersions and the
 *                       SASL handshake), frames at most `maxPreAuthFrameBytes` (Kafka's
 *                       sasl.server.max.receive.size): an unauthenticated peer cannot make
 *                       the broker buffer large frames. A SASL handler calls
 *                       `completeAuthentication` to move on.
 *   authenticated       every served api, frames up to maxFrameBytes.
 * With no authentication configured (today) a session starts authenticated, so the
 * pre-authentication stage costs nothing.
 *
 * Limits and bad input, each with its named error (protocol/errors.ts); Kafka has no
 * notice frame, so a connection that is closed is closed silently, with one log line:
 *   maxFrameBytes / pre-auth size  FRAME_TOO_LARGE      close (the stream's framing is lost)
 *   malformed header or body       MALFORMED_FRAME      close
 *   api key / version not served   UNSUPPORTED_API/_VERSION close (ApiVersions excepted: dispatcher.ts)
 *   maxInFlightRequests            TOO_MANY_IN_FLIGHT   answered as that request's error
 *   maxQueuedBytes                 SLOW_READER          close
 *   idleTimeoutMs                  IDLE_TIMEOUT         close
 * Reading pauses while more than a quarter of maxQueuedBytes waits to be written.
 */

import { FrameTooLargeError, IllegalSaslStateError, MalformedFrameError, TooManyInFlightError, UnknownServerError, type SpoolError } from '../../../protocol/errors.js'
import { kafkaErrorCodeOf } from '../../../protocol/kafka/error-codes.js'
import { encodeResponse } from '../../../protocol/kafka/frame.js'
import { KAFKA_APIS } from '../../../protocol/kafka/apis/index.js'
import type { FrameSizeReader } from '../../../protocol/bytes/frame-assembler.js'
import type { ByteChannel } from '../../network/channel.js'
import type { Connection, ProtocolSession, WireProtocol } from '../../network/connection.js'
import { RequestPipeline, type Answer } from '../../network/request-pipeline.js'
import type { Principal } from '../../security/principal.js'
import type { ResponseRoom } from '../../services/fetch.js'
import type { KafkaRequestContext, KafkaSessionControl } from './context.js'
import type { KafkaDispatcher, ParsedKafkaRequest } from './dispatcher.js'
import { errorResponse } from './error-responses.js'

export interface KafkaLimits {
  maxFrameBytes: number
  maxInFlightRequests: number
  maxQueuedBytes: number
  idleTimeoutMs: number
}

/**
 * How a Kafka session authenticates (the security layer supplies one; null: no
 * authentication, sessions start authenticated).
 */
export interface KafkaAuthentication {
  /** Api keys a peer may send before it is authenticated. */
  readonly preAuthApis: ReadonlySet<number>
  /** Largest frame accepted before authentication. */
  readonly maxPreAuthFrameBytes: number
}

/** Kafka's sasl.server.max.receive.size default. */
export const DEFAULT_MAX_PRE_AUTH_FRAME_BYTES = 512 * 1024

/** Size prefix + api key, version, correlation id and client id length. */
const MIN_REQUEST_BYTES = 4 + 10

export function kafkaProtocol (limits: KafkaLimits, dispatcher: KafkaDispatcher, authentication: KafkaAuthentication | null = null): WireProtocol {
  return {
    name: 'kafka',
    limits: { maxQueuedBytes: limits.maxQueuedBytes, pauseAtQueuedBytes: limits.maxQueuedBytes / 4, idleTimeoutMs: limits.idleTimeoutMs },
    open: connection => new KafkaSession(connection, limits, dispatcher, authentication),
    // Kafka has no way to tell a peer why it is refused: the channel is just ended.
    refuse (_channel: ByteChannel, _err: SpoolError) {},
  }
}

class KafkaSession implements ProtocolSession, KafkaSessionControl {
  readonly frameSize: FrameSizeReader
  readonly maxHeaderBytes = 4
  readonly #conn: Connection
  readonly #pipeline: RequestPipeline<ParsedKafkaRequest>
  readonly #room: ResponseRoom
  readonly #authentication: KafkaAuthentication | null
  #authenticated: boolean
  #reserved = 0

  constructor (conn: Connection, limits: KafkaLimits, dispatcher: KafkaDispatcher, authentication: KafkaAuthentication | null) {
    this.#conn = conn
    this.#authentication = authentication
    this.#authenticated = authentication === null
    this.frameSize = (bytes, pos, end) => {
      if (end - pos < 4) return -1
      const total = (((bytes[pos]! << 24) | (bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!) >>> 0) + 4
      const max = this.#authenticated ? limits.maxFrameBytes : Math.min(limits.maxFrameBytes, authentication!.maxPreAuthFrameBytes)
      if (total > max) {
        throw new FrameTooLargeError(`frame of ${total} bytes exceeds ${this.#authenticated ? 'maxFrameBytes' : 'the pre-authentication limit'} ${max}`)
      }
      if (total < MIN_REQUEST_BYTES) throw new MalformedFrameError(`frame of ${total} bytes is shorter than a request header`)
      return total
    }
    this.#room = {
      limit: limits.maxQueuedBytes,
      available: () => limits.maxQueuedBytes - conn.queuedBytes - this.#reserved,
      queued: () => conn.queuedBytes,
      reserve: bytes => { this.#reserved += bytes },
      release: bytes => { this.#reserved = Math.max(0, this.#reserved - bytes) },
    }
    const encodeError = (parsed: ParsedKafkaRequest, err: SpoolError): Answer => {
      const request = parsed.request
      const body = request === null ? null : errorResponse(request, kafkaErrorCodeOf(err), err.message)
      if (request === null || body === null) {
        // No place for an error in this api's answer: end the connection (see
        // error-responses.ts). An internal error is closed by the pipeline itself, with its
        // error line.
        if (!(err instanceof UnknownServerError)) conn.fail(err)
        return null
      }
      return encodeResponse(KAFKA_APIS[request.apiName], request.apiVersion, request.correlationId, body as never).parts
    }
    this.#pipeline = new RequestPipeline<ParsedKafkaRequest>(conn, {
      codec: {
        ordering: 'in-order',
        parse: frame => {
          const parsed = dispatcher.parse(frame.subarray(4))
          if (!this.#authenticated && !this.#authentication!.preAuthApis.has(parsed.header.apiKey)) {
            throw new IllegalSaslStateError(`api key ${parsed.header.apiKey} before authentication`)
          }
          conn.setClientId(parsed.header.clientId ?? '')
          return parsed
        },
        encodeError,
      },
      maxInFlight: limits.maxInFlightRequests,
      tooMany: parsed => encodeError(parsed, new TooManyInFlightError(`more than ${limits.maxInFlightRequests} requests in flight on this connection`)),
      handle: parsed => {
        const ctx: KafkaRequestContext = {
          connection: conn,
          apiVersion: parsed.header.apiVersion,
          correlationId: parsed.header.correlationId,
          signal: conn.signal,
          room: this.#room,
          session: this,
        }
        return dispatcher.dispatch(parsed, ctx)
      },
    })
  }

  get authenticated (): boolean { return this.#authenticated }

  completeAuthentication (principal: Principal): void {
    this.#conn.authenticated(principal)
    this.#authenticated = true
  }

  onFrame (frame: Uint8Array): boolean {
    return this.#pipeline.onFrame(frame)
  }

  busy (): boolean { return this.#pipeline.inFlight > 0 }

  onClose (): void { /* requests in flight see the connection's signal abort */ }
}
