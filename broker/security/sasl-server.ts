/**
 * Server side of SASL PLAIN (RFC 4616) and SCRAM-SHA-256/512 (RFC 5802, RFC 7677).
 *
 * `SaslServer.start(mechanism)` opens one exchange; each client message goes to
 * `session.step(bytes)`, which answers with the next server message (`challenge`), the
 * authenticated principal (`success`, with the final server message: SCRAM's `v=`
 * signature, empty for PLAIN) or a `failure`. That is the shape of Kafka's
 * SaslHandshake + SaslAuthenticate loop and of a native-protocol auth request alike; the
 * caller carries the bytes and maps a failure to its protocol (Kafka: error 58 and close).
 *
 * Rules kept here:
 * - SCRAM: the client nonce must be printable; the server appends 24 random bytes
 *   (base64) and the client-final must echo the combined nonce exactly (or, for
 *   librdkafka < 2.6.1, the client nonce followed by the combined nonce; see
 *   `acceptDuplicatedClientNonce`). No channel binding (no -PLUS mechanisms): GS2 flag
 *   `n` or `y` (a client that supports binding but sees no -PLUS offered), `p=` is
 *   refused, and `c=` must be the GS2 header in base64.
 *   The proof is checked as H(proof XOR HMAC(StoredKey, AuthMessage)) == StoredKey with a
 *   constant-time compare; the answer carries v=HMAC(ServerKey, AuthMessage).
 * - An unknown SCRAM user gets a decoy salt (derived from a per-process secret and the
 *   name, so it is stable for a name) and the default iteration count, and fails at the
 *   proof like a wrong password does: the exchange does not reveal which users exist.
 * - The `a=` authzid (SCRAM) and the authzid of PLAIN must be empty or equal the user
 *   name, as Kafka requires: no acting as another user.
 * - Kafka's `tokenauth=true` extension (delegation tokens) is refused; other extensions
 *   are ignored; a mandatory `m=` extension is refused.
 * - Every message is bounded (`maxMessageBytes`); after success or failure any further
 *   message is an ILLEGAL_SASL_STATE failure.
 *
 * A failure carries a `reason` for the broker's log; the user name may be logged, the
 * messages, passwords and proofs never are (nothing here logs).
 */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import {
  IllegalSaslStateError, SaslAuthenticationFailedError, UnsupportedSaslMechanismError, type SpoolError,
} from '../../protocol/errors.js'
import type { SaslCrypto } from '../../protocol/sasl/crypto.js'
import { base64Encode, fromUtf8, utf8, xor } from '../../protocol/sasl/encoding.js'
import {
  SCRAM_MECHANISMS, SCRAM_MIN_ITERATIONS, ScramSyntaxError, authMessage, formatServerFirst,
  parseClientFinal, parseClientFirst, type ScramCredential, type ScramMechanism, type ScramServerError,
} from '../../protocol/sasl/scram.js'
import { nodeSaslCrypto } from '../../platform/sasl-crypto-node.js'
import type { CredentialSource } from './credentials.js'
import { userPrincipal, type Principal } from './principal.js'

export type SaslMechanism = 'PLAIN' | ScramMechanism

/** Every mechanism this server implements, strongest first (the order to advertise). */
export const SASL_MECHANISMS: readonly SaslMechanism[] = ['SCRAM-SHA-512', 'SCRAM-SHA-256', 'PLAIN']

export type SaslFailureReason =
  | 'malformed' | 'unknown-user' | 'bad-password' | 'invalid-proof' | 'authzid-mismatch' | 'nonce-mismatch'
  | 'channel-binding' | 'unsupported-extension' | 'too-large' | 'illegal-state'

export type SaslStep =
  | { readonly kind: 'challenge', readonly response: Uint8Array }
  | { readonly kind: 'success', readonly principal: Principal, readonly response: Uint8Array }
  | {
    readonly kind: 'failure'
    readonly error: SpoolError
    readonly reason: SaslFailureReason
    /** The user name the client gave, when it got that far (for the log). */
    readonly username: string | null
    /** SCRAM's `e=` server-final message where the RFC has one; null otherwise. */
    readonly response: Uint8Array | null
  }

export interface SaslServerSession {
  readonly mechanism: SaslMechanism
  /** True once the exchange ended (success or failure). */
  readonly finished: boolean
  step (clientMessage: Uint8Array): Promise<SaslStep>
}

export interface SaslServerOptions {
  readonly credentials: CredentialSource
  /** Mechanisms enabled (default all of SASL_MECHANISMS). */
  readonly mechanisms?: readonly SaslMechanism[]
  /** Largest client message accepted (default 4096 bytes). */
  readonly maxMessageBytes?: number
  /** Iteration count sent for unknown users (match the store's default; default 4096). */
  readonly decoyIterations?: number
  readonly crypto?: SaslCrypto
  /**
   * Accept the client-final nonce of librdkafka < 2.6.1, which repeats the client nonce
   * before the combined one (default true; Kafka 3.8.1-3.9 accept it too, Kafka 4 does not).
   */
  readonly acceptDuplicatedClientNonce?: boolean
  /** Fixed server nonce part, for reproducing published test vectors only. */
  readonly serverNonce?: () => string
}

const GENERIC_FAILURE = 'Authentication failed: invalid user name or password'

function failure (reason: SaslFailureReason, username: string | null, response: string | null, message = GENERIC_FAILURE): SaslStep {
  const error = reason === 'illegal-state' ? new IllegalSaslStateError(message) : new SaslAuthenticationFailedError(message)
  return { kind: 'failure', error, reason, username, response: response === null ? null : utf8(response) }
}

export class SaslServer {
  readonly mechanisms: readonly SaslMechanism[]
  readonly #options: SaslServerOptions
  readonly #decoySecret = randomBytes(32)

  constructor (options: SaslServerOptions) {
    this.#options = options
    this.mechanisms = options.mechanisms ?? SASL_MECHANISMS
    for (const m of this.mechanisms) if (!SASL_MECHANISMS.includes(m)) throw new UnsupportedSaslMechanismError(`SASL mechanism ${m} is not implemented`)
  }

  /** Opens an exchange; throws UnsupportedSaslMechanismError for a mechanism not enabled here. */
  start (mechanism: string): SaslServerSession {
    const m = this.mechanisms.find(x => x === mechanism)
    if (m === undefined) throw new UnsupportedSaslMechanismError(`SASL mechanism ${mechanism} is not enabled (enabled: ${this.mechanisms.join(', ')})`)
    const max = this.#options.maxMessageBytes ?? 4096
    if (m === 'PLAIN') return new PlainSession(this.#options.credentials, max)
    return new ScramSession(m, this.#options, max, name => this.#decoy(m, name))
  }

  #decoy (mechanism: ScramMechanism, name: string): ScramCredential {
    const salt = createHmac('sha256', this.#decoySecret).update(`${mechanism}\0${name}`).digest().subarray(0, 32)
    const keyLength = SCRAM_MECHANISMS[mechanism].keyLength
    return { salt, iterations: this.#options.decoyIterations ?? SCRAM_MIN_ITERATIONS, storedKey: randomBytes(keyLength), serverKey: randomBytes(keyLength) }
  }
}

class PlainSession implements SaslServerSession {
  readonly mechanism = 'PLAIN'
  finished = false

  constructor (private readonly credentials: CredentialSource, private readonly maxBytes: number) {}

  async step (message: Uint8Array): Promise<SaslStep> {
    if (this.finished) return failure('illegal-state', null, null, 'PLAIN exchange already finished')
    this.finished = true
    if (message.length > this.maxBytes) return failure('too-large', null, null)
    const text = fromUtf8(message)
    const parts = text?.split('\0')
    if (parts?.length !== 3) return failure('malformed', null, null, 'Authentication failed: PLAIN message must be authzid NUL user NUL password')
    const [authzid, user, password] = parts as [string, string, string]
    if (user.length === 0 || password.length === 0) return failure('malformed', null, null, 'Authentication failed: PLAIN user name or password is empty')
    if (authzid.length > 0 && authzid !== user) return failure('authzid-mismatch', user, null, 'Authentication failed: the authorization id must be empty or equal the user name')
    if (!await this.credentials.verifyPassword(user, password)) return failure('bad-password', user, null)
    return { kind: 'success', principal: userPrincipal(user, 'plain'), response: new Uint8Array(0) }
  }
}

class ScramSession implements SaslServerSession {
  #state: 'first' | 'final' | 'done' = 'first'
  #username = ''
  #gs2Header = ''
  #bare = ''
  #serverFirst = ''
  #nonce = ''
  #clientNonce = ''
  #credential: ScramCredential | null = null
  #known = false

  constructor (
    readonly mechanism: ScramMechanism,
    private readonly options: SaslServerOptions,
    private readonly maxBytes: number,
    private readonly decoy: (name: string) => ScramCredential,
  ) {}

  get finished (): boolean { return this.#state === 'done' }

  async step (message: Uint8Array): Promise<SaslStep> {
    if (this.#state === 'done') return failure('illegal-state', null, null, `${this.mechanism} exchange already finished`)
    const state = this.#state
    this.#state = 'done' // any early return below ends the exchange; the success paths set it back
    if (message.length > this.maxBytes) return failure('too-large', state === 'final' ? this.#username : null, state === 'final' ? 'e=other-error' : null)
    const text = fromUtf8(message)
    if (text === null) return failure('malformed', null, state === 'final' ? 'e=invalid-encoding' : null)
    try {
      return state === 'first' ? this.#onClientFirst(text) : await this.#onClientFinal(text)
    } catch (err) {
      if (!(err instanceof ScramSyntaxError)) throw err
      const reason: SaslFailureReason = err.serverError === 'channel-binding-not-supported' ? 'channel-binding'
        : err.serverError === 'extensions-not-supported' ? 'unsupported-extension' : 'malformed'
      return failure(reason, this.#username || null, state === 'final' ? `e=${err.serverError}` : null, `Authentication failed: malformed ${this.mechanism} message (${err.message})`)
    }
  }

  #onClientFirst (text: string): SaslStep {
    const first = parseClientFirst(text)
    this.#username = first.username
    if (first.authzid !== null && first.authzid !== first.username) {
      return failure('authzid-mismatch', first.username, null, 'Authentication failed: the authorization id must equal the user name')
    }
    if (first.extensions.has('tokenauth')) return failure('unsupported-extension', first.username, null, 'Authentication failed: delegation tokens are not supported')
    const cred = this.options.credentials.getScramCredential(first.username, this.mechanism)
    this.#known = cred !== undefined
    this.#credential = cred ?? this.decoy(first.username)
    const serverPart = this.options.serverNonce?.() ?? randomBytes(24).toString('base64')
    this.#clientNonce = first.clientNonce
    this.#nonce = first.clientNonce + serverPart
    this.#gs2Header = first.gs2Header
    this.#bare = first.bare
    this.#serverFirst = formatServerFirst(this.#nonce, this.#credential.salt, this.#credential.iterations)
    this.#state = 'final'
    return { kind: 'challenge', response: utf8(this.#serverFirst) }
  }

  async #onClientFinal (text: string): Promise<SaslStep> {
    const final = parseClientFinal(text)
    const user = this.#username
    const fail = (reason: SaslFailureReason, e: ScramServerError): SaslStep => failure(reason, user, `e=${e}`)
    if (final.channelBinding !== base64Encode(utf8(this.#gs2Header))) return fail('channel-binding', 'channel-bindings-dont-match')
    // librdkafka before 2.6.1 (Debian 12's kcat: 2.0.2) sends its client nonce twice
    // (c-nonce + c-nonce s-nonce). That exact form still contains this session's server
    // nonce, and the proof covers the message as sent, so it is accepted unless disabled.
    const duplicated = this.options.acceptDuplicatedClientNonce !== false && final.nonce === this.#clientNonce + this.#nonce
    if (final.nonce !== this.#nonce && !duplicated) return fail('nonce-mismatch', 'other-error')
    const cred = this.#credential!
    const { keyLength } = SCRAM_MECHANISMS[this.mechanism]
    if (final.proof.length !== keyLength) return fail('invalid-proof', 'invalid-proof')
    const crypto = this.options.crypto ?? nodeSaslCrypto
    const { hash } = SCRAM_MECHANISMS[this.mechanism]
    const auth = authMessage(this.#bare, this.#serverFirst, final.withoutProof)
    const clientSignature = await crypto.hmac(hash, cred.storedKey, auth)
    const clientKey = xor(final.proof, clientSignature)
    const storedKey = await crypto.digest(hash, clientKey)
    if (!timingSafeEqual(storedKey, cred.storedKey) || !this.#known) return fail(this.#known ? 'invalid-proof' : 'unknown-user', 'invalid-proof')
    const signature = await crypto.hmac(hash, cred.serverKey, auth)
    return { kind: 'success', principal: userPrincipal(user, this.mechanism === 'SCRAM-SHA-256' ? 'scram-sha-256' : 'scram-sha-512'), response: utf8(`v=${base64Encode(signature)}`) }
  }
}

