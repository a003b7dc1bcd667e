/**
 * SaslHandshake (v0-1) and SaslAuthenticate (v0-2) on the Kafka listener: the wire side of
 * the one authenticator (security/authenticator.ts), which throttles failed attempts per
 * peer address and writes one log line per attempt without the secret. The handshake picks
 * the connection's mechanism and opens its exchange; each client message gets the server's
 * next one, until success (the session takes the principal and leaves its
 * pre-authentication stage, wire.ts) or failure.
 *
 *   SaslHandshake v1 → SaslAuthenticate…   librdkafka (kcat, confluent-kafka), kafkajs, Java
 *   SaslHandshake v0 → raw tokens…         kafka-python: each token a bare size-prefixed
 *                                          frame, answered the same way (wire.ts readRawTokens)
 *
 * As Kafka's broker answers:
 * - a mechanism that is not enabled (PLAIN without TLS unless saslPlainWithoutTls):
 *   UNSUPPORTED_SASL_MECHANISM with the enabled list, then the connection closes;
 * - a failed exchange: SaslAuthenticate answers SASL_AUTHENTICATION_FAILED (58) with the
 *   reason's message and no bytes, then the connection closes (in raw-token mode it just
 *   closes: that mode has no error answer); the client tries again on a new connection;
 * - a SASL message out of turn (SaslAuthenticate before a handshake, a second one while the
 *   first is being checked, anything after the exchange ended): ILLEGAL_SASL_STATE, close.
 *
 * Re-authentication (KIP-368): a token's remaining lifetime is the sessionLifetimeMs of
 * SaslAuthenticate v1+ (0 for passwords: they do not expire), and the connection is closed
 * when the token runs out (network/connection.ts). Before that, a client may run SaslHandshake
 * v1 + SaslAuthenticate again on the same connection (kafkajs does at its threshold) with
 * the same mechanism; it must prove the same principal, and the connection then lives until
 * the new credential's expiry. Other requests keep being served meanwhile.
 *
 * A connection whose TLS client certificate verified is authenticated at accept; it may
 * still run one SASL exchange (a client on sasl_ssl with a certificate), whose principal
 * then replaces the certificate's, as on Kafka's SASL_SSL listener.
 */

import {
  IllegalSaslStateError, SaslAuthenticationFailedError, UnsupportedSaslMechanismError, type SpoolError,
} from '../../../protocol/errors.js'
import { KafkaErrorCode } from '../../../protocol/kafka/error-codes.js'
import { ApiVersions, SaslAuthenticate, SaslHandshake } from '../../../protocol/kafka/apis/index.js'
import type { RequestBody, ResponseInput } from '../../../protocol/kafka/registry.js'
import type { Logger } from 'pino'
import type { AuthStep, Authenticator } from '../../security/authenticator.js'
import { principalString } from '../../security/principal.js'
import type { KafkaRequestContext, RawTokenAnswer } from './context.js'
import type { KafkaDispatcher } from './dispatcher.js'
import { DEFAULT_MAX_PRE_AUTH_FRAME_BYTES, type KafkaAuthentication } from './wire.js'

/** What an unauthenticated Kafka connection may send. */
export const KAFKA_PRE_AUTH_APIS: ReadonlySet<number> = new Set([ApiVersions.key, SaslHandshake.key, SaslAuthenticate.key])

/** The pre-authentication stage of an authenticating broker: ApiVersions and SASL, small frames, `timeoutMs` to authenticate. */
export function kafkaAuthentication (timeoutMs: number): KafkaAuthentication {
  return { preAuthApis: KAFKA_PRE_AUTH_APIS, maxPreAuthFrameBytes: DEFAULT_MAX_PRE_AUTH_FRAME_BYTES, timeoutMs }
}

export interface KafkaSaslOptions {
  readonly authenticator: Authenticator
  readonly logger: Logger
  readonly now: () => number
}

const EMPTY = new Uint8Array(0)

/** The step's outcome, or the error of a message out of turn. */
type Outcome = AuthStep | { readonly kind: 'illegal', readonly error: SpoolError }

/** Runs one step of the session's exchange and applies a success to the session. */
async function step (o: KafkaSaslOptions, rc: KafkaRequestContext, message: Uint8Array): Promise<Outcome> {
  const sasl = rc.session.sasl
  const exchange = sasl.exchange
  if (exchange === null) return { kind: 'illegal', error: new IllegalSaslStateError('SaslAuthenticate before SaslHandshake') }
  if (sasl.stepping) return { kind: 'illegal', error: new IllegalSaslStateError('a SASL message arrived while the previous one was being checked') }
  if (exchange.finished) return { kind: 'illegal', error: new IllegalSaslStateError('the SASL exchange of this connection is over') }
  sasl.stepping = true
  let r: AuthStep
  try {
    r = await exchange.step(message)
  } finally {
    sasl.stepping = false
  }
  if (r.kind !== 'success') return r
  const before = sasl.principal
  if (before !== null && principalString(before) !== principalString(r.principal)) {
    o.logger.warn({ principal: principalString(before), attempted: principalString(r.principal), peer: rc.connection.peer.address }, 're-authentication as another principal refused')
    return { kind: 'failure', error: new SaslAuthenticationFailedError(`re-authentication must keep the principal ${principalString(before)}`), response: null }
  }
  sasl.principal = r.principal
  rc.session.completeAuthentication(r.principal, r.expiresAtMs)
  return r
}

function handshake (o: KafkaSaslOptions, req: RequestBody<'SaslHandshake'>, rc: KafkaRequestContext): ResponseInput<'SaslHandshake'> {
  const conn = rc.connection
  const sasl = rc.session.sasl
  const mechanisms = o.authenticator.mechanisms(conn.peer)
  const refuse = (errorCode: number): ResponseInput<'SaslHandshake'> => {
    rc.session.closeAfterAnswer()
    return { errorCode, mechanisms }
  }
  const previous = sasl.exchange
  if (previous !== null) {
    // Only a finished, successful exchange may be followed by another (re-authentication).
    if (!previous.finished || sasl.principal === null || sasl.stepping) return refuse(KafkaErrorCode.ILLEGAL_SASL_STATE)
    if (rc.apiVersion < 1 || req.mechanism !== previous.mechanism) {
      o.logger.info({ peer: conn.peer.address, mechanism: req.mechanism.slice(0, 64), was: previous.mechanism }, 're-authentication refused: it needs SaslHandshake v1 and the same mechanism')
      return refuse(KafkaErrorCode.ILLEGAL_SASL_STATE)
    }
  }
  try {
    sasl.exchange = o.authenticator.start(req.mechanism, { peer: conn.peer, protocol: 'kafka' })
  } catch (err) {
    if (!(err instanceof UnsupportedSaslMechanismError)) throw err
    o.logger.info({ peer: conn.peer.address, mechanism: req.mechanism.slice(0, 64), enabled: mechanisms }, 'SASL mechanism not enabled')
    return refuse(KafkaErrorCode.UNSUPPORTED_SASL_MECHANISM)
  }
  if (rc.apiVersion === 0) rc.session.readRawTokens(token => rawToken(o, rc, token))
  return { errorCode: 0, mechanisms }
}

async function rawToken (o: KafkaSaslOptions, rc: KafkaRequestContext, token: Uint8Array): Promise<RawTokenAnswer> {
  const r = await step(o, rc, token)
  if (r.kind === 'challenge') return { kind: 'continue', response: r.response }
  if (r.kind === 'success') return { kind: 'done', response: r.response }
  if (r.kind === 'illegal') o.logger.info({ peer: rc.connection.peer.address, reason: r.error.message }, 'SASL token out of turn')
  return { kind: 'failed' }
}

async function authenticate (o: KafkaSaslOptions, req: RequestBody<'SaslAuthenticate'>, rc: KafkaRequestContext): Promise<ResponseInput<'SaslAuthenticate'>> {
  const r = await step(o, rc, req.authBytes)
  if (r.kind === 'challenge') return { errorCode: 0, errorMessage: null, authBytes: r.response, sessionLifetimeMs: 0 }
  if (r.kind === 'success') {
    const lifetimeMs = r.expiresAtMs === null ? 0 : Math.max(1, r.expiresAtMs - o.now())
    return { errorCode: 0, errorMessage: null, authBytes: r.response, sessionLifetimeMs: lifetimeMs }
  }
  rc.session.closeAfterAnswer()
  // Whatever failed (a bad proof, an expired token), Kafka clients expect 58 here; 34 for a message out of turn.
  const errorCode = r.error instanceof IllegalSaslStateError ? KafkaErrorCode.ILLEGAL_SASL_STATE : KafkaErrorCode.SASL_AUTHENTICATION_FAILED
  return { errorCode, errorMessage: r.error.message, authBytes: EMPTY, sessionLifetimeMs: 0 }
}

export function registerSaslHandlers (dispatcher: KafkaDispatcher, o: KafkaSaslOptions): void {
  dispatcher.register('SaslHandshake', (req, rc) => handshake(o, req, rc))
  dispatcher.register('SaslAuthenticate', (req, rc) => authenticate(o, req, rc))
}
