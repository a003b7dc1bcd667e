/**
 * Authentication for every listener, from one credential store: SASL exchanges (the native
 * protocol's SaslHandshake/SaslAuthenticate, and the Kafka listener's, which carry the same
 * bytes), passwords (MQTT CONNECT, the HTTP login and Basic auth) and tokens (browsers).
 *
 *   start(mechanism, context) → exchange; exchange.step(clientMessage) → challenge | success | failure
 *   password(user, password, context) → principal | null
 *   token(token, context) → the verified token (or a named TOKEN_* error)
 *
 * Mechanisms: SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN (sasl-server.ts), and OAUTHBEARER
 * (RFC 7628) carrying a broker token (tokens.ts): the client's one message is
 * `n,,\x01auth=Bearer <token>\x01\x01`; a success has no server data; a token that does not
 * verify fails with its own error (TOKEN_EXPIRED, TOKEN_SIGNATURE_INVALID, ...), so a
 * browser can tell an expired token from a forged one. A token whose user was deleted since
 * it was issued is refused. PLAIN (the password itself on the wire) is offered only on TLS
 * connections unless `plainWithoutTls`.
 *
 * Abuse: before an attempt from a peer address is checked, the AuthThrottle's delay for
 * that address is waited out (nothing else waits); each attempt ends in recordSuccess or
 * recordFailure. Every failure is one warn line (protocol, mechanism, user, reason, peer) and
 * a count; every success one info line. Passwords, SASL messages, proofs and tokens are
 * never logged (only the token id).
 */

import type { Logger } from 'pino'
import {
  SaslAuthenticationFailedError, SpoolError, UnsupportedSaslMechanismError,
} from '../../protocol/errors.js'
import { fromUtf8 } from '../../protocol/sasl/encoding.js'
import type { Peer } from '../network/channel.js'
import type { AuthThrottle } from './auth-throttle.js'
import type { UserStore } from './credentials.js'
import { principalString, userPrincipal, type AuthMethod, type Principal, type ProtocolName } from './principal.js'
import { SASL_MECHANISMS, SaslServer } from './sasl-server.js'
import type { TokenService, VerifiedToken } from './tokens.js'

export const OAUTHBEARER = 'OAUTHBEARER'

/** Where an attempt comes from (the throttle's address, the log line's peer). */
export interface AuthContext {
  readonly peer: Peer
  readonly protocol: ProtocolName
}

export type AuthStep =
  | { readonly kind: 'challenge', readonly response: Uint8Array }
  | {
    readonly kind: 'success'
    readonly principal: Principal
    readonly response: Uint8Array
    /** When the credential stops being valid (a token's expiry); null for passwords. */
    readonly expiresAtMs: number | null
  }
  | { readonly kind: 'failure', readonly error: SpoolError, readonly response: Uint8Array | null }

export interface AuthExchange {
  readonly mechanism: string
  /** True once the exchange ended (success or failure). */
  readonly finished: boolean
  step (clientMessage: Uint8Array): Promise<AuthStep>
}

export interface AuthenticatorOptions {
  readonly credentials: UserStore
  /** Tokens verify (OAUTHBEARER, HTTP Bearer); null: no tokens. */
  readonly tokens: TokenService | null
  readonly throttle: AuthThrottle
  /** Offer PLAIN on connections without TLS too. */
  readonly plainWithoutTls: boolean
  readonly logger: Logger
}

/** Counts by protocol and mechanism, for /metrics. */
export interface AuthenticatorStats {
  readonly successes: Map<string, number>
  readonly failures: Map<string, number>
}

const MAX_OAUTHBEARER_BYTES = 9000

function sleep (ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise(resolve => setTimeout(resolve, ms).unref())
}

function tally (m: Map<string, number>, key: string): void {
  m.set(key, (m.get(key) ?? 0) + 1)
}

export class Authenticator {
  readonly stats: AuthenticatorStats = { successes: new Map(), failures: new Map() }
  readonly credentials: UserStore
  readonly tokens: TokenService | null
  readonly throttle: AuthThrottle
  readonly #sasl: SaslServer
  readonly #plainWithoutTls: boolean
  readonly #logger: Logger

  constructor (options: AuthenticatorOptions) {
    this.credentials = options.credentials
    this.tokens = options.tokens
    this.throttle = options.throttle
    this.#plainWithoutTls = options.plainWithoutTls
    this.#logger = options.logger
    this.#sasl = new SaslServer({ credentials: options.credentials, decoyIterations: options.credentials.iterations })
  }

  /** The mechanisms a peer may use, strongest first (what SaslHandshake advertises). */
  mechanisms (peer: Peer): string[] {
    const out: string[] = SASL_MECHANISMS.filter(m => m !== 'PLAIN' || peer.encrypted || this.#plainWithoutTls)
    if (this.tokens !== null) out.push(OAUTHBEARER)
    return out
  }

  /** Opens an exchange; UNSUPPORTED_SASL_MECHANISM (naming the enabled ones) for any other mechanism. */
  start (mechanism: string, context: AuthContext): AuthExchange {
    const offered = this.mechanisms(context.peer)
    if (!offered.includes(mechanism)) {
      const why = mechanism === 'PLAIN' ? 'PLAIN sends the password itself and needs a TLS connection here (saslPlainWithoutTls allows it)' : `SASL mechanism ${mechanism.slice(0, 64)} is not enabled`
      throw new UnsupportedSaslMechanismError(`${why}; enabled: ${offered.join(', ')}`)
    }
    if (mechanism === OAUTHBEARER) return new TokenExchange(this, context)
    return new SaslExchange(this, this.#sasl.start(mechanism), context)
  }

  /** Checks a user name and password (MQTT, the HTTP login): the principal, or null (logged and throttled). */
  async password (user: string, password: string, context: AuthContext, method: AuthMethod, mechanism = 'password'): Promise<Principal | null> {
    await this.wait(context)
    const ok = user.length > 0 && await this.credentials.verifyPassword(user, password)
    if (!ok) {
      this.failed(context, mechanism, user, this.credentials.hasUser(user) ? 'bad-password' : 'unknown-user')
      return null
    }
    const principal = userPrincipal(user, method)
    this.succeeded(context, mechanism, principal)
    return principal
  }

  /** Verifies a token for a connection or request (throws its named error; logged and throttled). */
  async token (token: string, context: AuthContext, mechanism = 'token'): Promise<VerifiedToken> {
    await this.wait(context)
    try {
      const verified = this.verifyToken(token)
      this.succeeded(context, mechanism, verified.principal, verified.tokenId)
      return verified
    } catch (err) {
      if (!(err instanceof SpoolError)) throw err
      this.failed(context, mechanism, null, err.code)
      throw err
    }
  }

  /** A token's claims if it verifies and its user still exists; throws the named error otherwise. Not throttled. */
  verifyToken (token: string): VerifiedToken {
    if (this.tokens === null) throw new UnsupportedSaslMechanismError('tokens are not enabled on this broker')
    const verified = this.tokens.verify(token)
    if (!this.credentials.hasUser(verified.principal.name)) {
      throw new SaslAuthenticationFailedError(`the user of token ${verified.tokenId} no longer exists`)
    }
    return verified
  }

  /** Waits the throttle's delay for the peer's address. */
  async wait (context: AuthContext): Promise<void> {
    await sleep(this.throttle.delayFor(context.peer.host))
  }

  succeeded (context: AuthContext, mechanism: string, principal: Principal, tokenId?: string): void {
    this.throttle.recordSuccess(context.peer.host)
    tally(this.stats.successes, `${context.protocol}\u0000${mechanism}`)
    this.#logger.info({ protocol: context.protocol, mechanism, principal: principalString(principal), peer: context.peer.address, tokenId }, 'authenticated')
  }

  failed (context: AuthContext, mechanism: string, user: string | null, reason: string): void {
    this.throttle.recordFailure(context.peer.host)
    tally(this.stats.failures, `${context.protocol}\u0000${mechanism}`)
    this.#logger.warn({ protocol: context.protocol, mechanism, user: user?.slice(0, 255) ?? undefined, reason, peer: context.peer.address }, 'authentication failed')
  }
}

/** PLAIN and SCRAM: the SASL server's exchange, throttled and logged. */
class SaslExchange implements AuthExchange {
  #steps = 0

  constructor (
    private readonly auth: Authenticator,
    private readonly session: import('./sasl-server.js').SaslServerSession,
    private readonly context: AuthContext,
  ) {}

  get mechanism (): string { return this.session.mechanism }
  get finished (): boolean { return this.session.finished }

  async step (message: Uint8Array): Promise<AuthStep> {
    if (this.#steps++ === 0) await this.auth.wait(this.context)
    const r = await this.session.step(message)
    if (r.kind === 'challenge') return r
    if (r.kind === 'success') {
      this.auth.succeeded(this.context, this.mechanism, r.principal)
      return { kind: 'success', principal: r.principal, response: r.response, expiresAtMs: null }
    }
    this.auth.failed(this.context, this.mechanism, r.username, r.reason)
    return { kind: 'failure', error: r.error, response: r.response }
  }
}

/** OAUTHBEARER with a broker token: one client message, no server data. */
class TokenExchange implements AuthExchange {
  readonly mechanism = OAUTHBEARER
  finished = false

  constructor (private readonly auth: Authenticator, private readonly context: AuthContext) {}

  async step (message: Uint8Array): Promise<AuthStep> {
    if (this.finished) return { kind: 'failure', error: new SaslAuthenticationFailedError('OAUTHBEARER exchange already finished'), response: null }
    this.finished = true
    const token = message.length > MAX_OAUTHBEARER_BYTES ? null : bearerToken(message)
    if (token === null) {
      await this.auth.wait(this.context)
      this.auth.failed(this.context, OAUTHBEARER, null, 'malformed')
      return { kind: 'failure', error: new SaslAuthenticationFailedError('Authentication failed: malformed OAUTHBEARER message (expected n,,\\x01auth=Bearer <token>\\x01\\x01)'), response: null }
    }
    try {
      const v = await this.auth.token(token, this.context, OAUTHBEARER)
      return { kind: 'success', principal: v.principal, response: new Uint8Array(0), expiresAtMs: v.expiresAtMs }
    } catch (err) {
      if (!(err instanceof SpoolError)) throw err
      return { kind: 'failure', error: err, response: null }
    }
  }
}

/** The token of an RFC 7628 client message `gs2-header \x01 auth=Bearer <token> \x01 ... \x01`, or null. */
export function bearerToken (message: Uint8Array): string | null {
  const text = fromUtf8(message)
  if (text === null || !text.endsWith('\u0001\u0001')) return null
  const parts = text.slice(0, -2).split('\u0001')
  const gs2 = parts[0]!
  if (!/^[ny],(a=[^,]*)?,$/.test(gs2)) return null
  let token: string | null = null
  for (const kv of parts.slice(1)) {
    const m = /^auth=Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(kv)
    if (m !== null) {
      if (token !== null) return null
      token = m[1]!
    } else if (!/^[A-Za-z]+=/.test(kv)) {
      return null
    }
  }
  return token
}
