/**
 * The Kafka wire protocol as a WireProtocol (network/connection.ts): int32-size-prefixed
 * frames, requests dispatched as they arrive (appends happen in arrival order) and answered
 * in request order through the request pipeline — Kafka clients match answers by position
 * as well as by correlation id; a Produce with acks=0 gets no answer at all.
 *
 * Stages of a session (Kafka's own broker has the same two):
 *   pre-authentication  only the apis an authenticator lets through (ApiVersions and the
 *                       SASL apis, sasl.ts), frames at most `maxPreAuthFrameBytes` (Kafka's
 *                       sasl.server.max.receive.size): an unauthenticated peer cannot make
 *                       the broker buffer large frames; a session still here `timeoutMs`
 *                       after it opened is closed (IDLE_TIMEOUT), however busy it keeps
 *                       itself with ApiVersions. A SASL handler calls
 *                       `completeAuthentication` to move on.
 *   authenticated       every served api, frames up to maxFrameBytes.
 * With no authentication configured a session starts authenticated, so the
 * pre-authentication stage costs nothing; a connection whose TLS client certificate verified
 * is authenticated from its first byte.
 *
 * SaslHandshake v0 (kafka-python; librdkafka before it knew v1) is followed by SASL tokens
 * with no request header: `readRawTokens` makes the session take the next frames as raw
 * tokens, answered by size-prefixed raw tokens, until the exchange ends — in order with the
 * requests before them, through the same pipeline.
 *
 * Limits and bad input, each with its named error (protocol/errors.ts); Kafka has no
 * notice frame, so a connection that is closed is closed silently, with one log line:
 *   maxFrameBytes / pre-auth size  FRAME_TOO_LARGE      close (the stream's framing is lost)
 *   malformed header or body       MALFORMED_FRAME      close
 *   api key / version not served   UNSUPPORTED_API/_VERSION close (ApiVersions excepted: dispatcher.ts)
 *   an api before authentication   ILLEGAL_SASL_STATE   close (as Kafka's broker does)
 *   not authenticated in time      IDLE_TIMEOUT         close
 *   maxInFlightRequests            TOO_MANY_IN_FLIGHT   answered as that request's error
 *   maxQueuedBytes                 SLOW_READER          close
 *   idleTimeoutMs                  IDLE_TIMEOUT         close
 * Reading pauses while more than a quarter of maxQueuedBytes waits to be written.
 */

import { FrameTooLargeError, IdleTimeoutError, IllegalSaslStateError, MalformedFrameError, TooManyInFlightError, UnknownServerError, type SpoolError } from '../../../protocol/errors.js'
import { kafkaErrorCodeOf } from '../../../protocol/kafka/error-codes.js'
import { encodeResponse } from '../../../protocol/kafka/frame.js'
import { KAFKA_APIS } from '../../../protocol/kafka/apis/index.js'
import type { FrameSizeReader } from '../../../protocol/bytes/frame-assembler.js'
import type { ByteChannel } from '../../network/channel.js'
import type { Connection, ProtocolSession, WireProtocol } from '../../network/connection.js'
import { RequestPipeline, type Answer } from '../../network/request-pipeline.js'
import type { Principal } from '../../security/principal.js'
import { ConnectionRoom, type ResponseRoom } from '../../services/response-room.js'
import type { KafkaAdvertised, KafkaRequestContext, KafkaSaslState, KafkaSessionControl, RawTokenHandler } from './context.js'
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
  /** A session not authenticated this long after it opened is closed; 0 or absent: no limit. */
  readonly timeoutMs?: number
}

/** Kafka's sasl.server.max.receive.size default. */
export const DEFAULT_MAX_PRE_AUTH_FRAME_BYTES = 512 * 1024

/** Size prefix + api key, version, correlation id and client id length. */
const MIN_REQUEST_BYTES = 4 + 10

/** While a SASL step runs when the authentication deadline passes, the deadline waits this much longer. */
const DEADLINE_GRACE_MS = 1000

/** A frame of the raw SASL token stream after SaslHandshake v0 (no request header). */
interface RawToken {
  readonly token: Uint8Array
}

type KafkaFrame = ParsedKafkaRequest | RawToken

function sizePrefixed (bytes: Uint8Array): Uint8Array[] {
  const size = new Uint8Array(4)
  new DataView(size.buffer).setInt32(0, bytes.length)
  return [size, bytes]
}

/**
 * The WireProtocol of one Kafka listener. `advertised` is the host:port that listener tells
 * clients to use (its Metadata and FindCoordinator answers); a plain and a TLS listener
 * share the dispatcher and each has its own.
 */
export function kafkaProtocol (limits: KafkaLimits, dispatcher: KafkaDispatcher, authentication: KafkaAuthentication | null = null, advertised: KafkaAdvertised = { host: '127.0.0.1', port: 0, listener: 'kafka' }): WireProtocol {
  return {
    name: 'kafka',
    limits: { maxQueuedBytes: limits.maxQueuedBytes, pauseAtQueuedBytes: limits.maxQueuedBytes / 4, idleTimeoutMs: limits.idleTimeoutMs },
    open: connection => new KafkaSession(connection, limits, dispatcher, authentication, advertised),
    // Kafka has no way to tell a peer why it is refused: the channel is just ended.
    refuse (_channel: ByteChannel, _err: SpoolError) {},
  }
}

class KafkaSession implements ProtocolSession, KafkaSessionControl {
  readonly frameSize: FrameSizeReader
  readonly maxHeaderBytes = 4
  readonly sasl: KafkaSaslState = { exchange: null, stepping: false, principal: null }
  readonly #conn: Connection
  readonly #pipeline: RequestPipeline<KafkaFrame>
  readonly #room: ResponseRoom
  readonly #authentication: KafkaAuthentication | null
  #authenticated: boolean
  #rawTokens: RawTokenHandler | null = null
  #deadline: NodeJS.Timeout | null = null

  constructor (conn: Connection, limits: KafkaLimits, dispatcher: KafkaDispatcher, authentication: KafkaAuthentication | null, advertised: KafkaAdvertised) {
    this.#conn = conn
    this.#authentication = authentication
    this.#authenticated = authentication === null || conn.isAuthenticated
    this.frameSize = (bytes, pos, end) => {
      if (end - pos < 4) return -1
      const total = (((bytes[pos]! << 24) | (bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!) >>> 0) + 4
      const max = this.#authenticated ? limits.maxFrameBytes : Math.min(limits.maxFrameBytes, authentication!.maxPreAuthFrameBytes)
      if (total > max) {
        throw new FrameTooLargeError(`frame of ${total} bytes exceeds ${this.#authenticated ? 'maxFrameBytes' : 'the pre-authentication limit'} ${max}`)
      }
      // A raw SASL token has no request header (an empty one is a valid token).
      if (total < MIN_REQUEST_BYTES && this.#rawTokens === null) throw new MalformedFrameError(`frame of ${total} bytes is shorter than a request header`)
      return total
    }
    this.#room = new ConnectionRoom(limits.maxQueuedBytes, () => conn.queuedBytes)
    const encodeError = (frame: KafkaFrame, err: SpoolError): Answer => {
      const request = 'token' in frame ? null : frame.request
      const body = request === null ? null : errorResponse(request, kafkaErrorCodeOf(err), err.message)
      if (request === null || body === null) {
        // No place for an error in this api's answer (or a raw SASL token): end the
        // connection (see error-responses.ts). An internal error is closed by the pipeline
        // itself, with its error line.
        if (!(err instanceof UnknownServerError)) conn.fail(err)
        return null
      }
      return encodeResponse(KAFKA_APIS[request.apiName], request.apiVersion, request.correlationId, body as never).parts
    }
    this.#pipeline = new RequestPipeline<KafkaFrame>(conn, {
      codec: {
        ordering: 'in-order',
        parse: frame => {
          if (this.#rawTokens !== null) return { token: frame.subarray(4) }
          const parsed = dispatcher.parse(frame.subarray(4))
          if (!this.#authenticated && !this.#authentication!.preAuthApis.has(parsed.header.apiKey)) {
            throw new IllegalSaslStateError(`${parsed.header.definition?.name ?? `api key ${parsed.header.apiKey}`} before authentication: this listener requires SASL (SaslHandshake, then SaslAuthenticate) or a client certificate`)
          }
          conn.setClientId(parsed.header.clientId ?? '')
          return parsed
        },
        encodeError,
      },
      maxInFlight: limits.maxInFlightRequests,
      tooMany: frame => encodeError(frame, new TooManyInFlightError(`more than ${limits.maxInFlightRequests} requests in flight on this connection`)),
      handle: frame => {
        if ('token' in frame) return this.#rawToken(frame.token)
        const ctx: KafkaRequestContext = {
          connection: conn,
          apiVersion: frame.header.apiVersion,
          correlationId: frame.header.correlationId,
          signal: conn.signal,
          room: this.#room,
          session: this,
          advertised,
        }
        return dispatcher.dispatch(frame, ctx)
      },
    })
    const timeoutMs = authentication?.timeoutMs ?? 0
    if (!this.#authenticated && timeoutMs > 0) this.#armDeadline(timeoutMs, timeoutMs)
  }

  get authenticated (): boolean { return this.#authenticated }

  completeAuthentication (principal: Principal, expiresAtMs: number | null = null): void {
    this.#conn.authenticated(principal, expiresAtMs)
    this.#authenticated = true
    this.#clearDeadline()
  }

  readRawTokens (onToken: RawTokenHandler): void {
    this.#rawTokens = onToken
  }

  closeAfterAnswer (): void {
    // The answer is written when the handler's result settles (microtasks); this runs after.
    setImmediate(() => this.#conn.close(null))
  }

  /** One raw SASL token: the handler's answer, size-prefixed; the stream ends with the exchange. */
  async #rawToken (token: Uint8Array): Promise<Answer> {
    const onToken = this.#rawTokens!
    const r = await onToken(token)
    if (r.kind === 'continue') return sizePrefixed(r.response)
    this.#rawTokens = null
    if (r.kind === 'done') return sizePrefixed(r.response)
    // A failed exchange gets no answer in this mode, as from Kafka: the connection closes.
    this.closeAfterAnswer()
    return null
  }

  #armDeadline (ms: number, timeoutMs: number): void {
    this.#deadline = setTimeout(() => this.#conn.run(() => {
      this.#deadline = null
      if (this.#authenticated) return
      // A step that is running (a throttled attempt) gets its answer first.
      if (this.sasl.stepping) {
        this.#armDeadline(DEADLINE_GRACE_MS, timeoutMs)
        return
      }
      this.#conn.fail(new IdleTimeoutError(`not authenticated within ${timeoutMs} ms of connecting`))
    }), ms)
    this.#deadline.unref()
  }

  #clearDeadline (): void {
    if (this.#deadline !== null) clearTimeout(this.#deadline)
    this.#deadline = null
  }

  onFrame (frame: Uint8Array): boolean {
    return this.#pipeline.onFrame(frame)
  }

  busy (): boolean { return this.#pipeline.inFlight > 0 }

  onClose (): void {
    // Requests in flight see the connection's signal abort.
    this.#clearDeadline()
  }
}
