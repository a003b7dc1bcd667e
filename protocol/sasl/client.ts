/**
 * Client side of SASL PLAIN (RFC 4616) and SCRAM-SHA-256/512 (RFC 5802, RFC 7677) as
 * small state machines: `start()` gives the first message, `step(serverMessage)` the next
 * one, or null once the exchange is complete (for SCRAM: after the server proved it knows
 * the password too, by its `v=` signature). The transport that carries the bytes (a Kafka
 * SaslAuthenticate request, a native auth request) is the caller's business.
 *
 * Pure: no Node APIs; the cryptography comes in through `SaslCrypto`.
 */

import { IllegalSaslStateError, InvalidArgumentError, SaslAuthenticationFailedError, UnsupportedSaslMechanismError } from '../errors.js'
import type { SaslCrypto } from './crypto.js'
import { base64Encode, constantTimeEqual, fromUtf8, utf8 } from './encoding.js'
import {
  SCRAM_MAX_ITERATIONS, SCRAM_MIN_ITERATIONS, ScramSyntaxError, authMessage, clientProof, formatClientFirst,
  isScramMechanism, parseServerFinal, parseServerFirst, saltedPassword, scramKeys, serverSignature, type ScramMechanism,
} from './scram.js'

export type SaslMechanismName = 'PLAIN' | ScramMechanism

export interface SaslClient {
  readonly mechanism: SaslMechanismName
  /** True once the exchange completed and (for SCRAM) the server was verified. */
  readonly done: boolean
  /** The first client message. */
  start (): Promise<Uint8Array>
  /** The next client message for the server's message, or null when the exchange is complete. */
  step (serverMessage: Uint8Array): Promise<Uint8Array | null>
}

export interface SaslClientOptions {
  readonly username: string
  readonly password: string
  /** Authorization id; when given it must equal the username (brokers refuse acting as another user). */
  readonly authzid?: string
  readonly crypto: SaslCrypto
  /** Lowest iteration count accepted from a server (default 4096, RFC 7677's minimum). */
  readonly minIterations?: number
  /** Highest iteration count accepted (default 1,000,000): a hostile server cannot make the client spin. */
  readonly maxIterations?: number
  /** Fixed client nonce, for reproducing published test vectors only. */
  readonly nonce?: string
}

export function createSaslClient (mechanism: string, options: SaslClientOptions): SaslClient {
  if (options.username.length === 0) throw new InvalidArgumentError('SASL username is empty')
  if (mechanism === 'PLAIN') return new PlainClient(options)
  if (isScramMechanism(mechanism)) return new ScramClient(mechanism, options)
  throw new UnsupportedSaslMechanismError(`SASL mechanism ${mechanism} is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)`)
}

class PlainClient implements SaslClient {
  readonly mechanism = 'PLAIN'
  #state: 'new' | 'sent' | 'done' = 'new'
  readonly #options: SaslClientOptions

  constructor (options: SaslClientOptions) {
    if (options.username.includes('\0') || options.password.includes('\0') || (options.authzid ?? '').includes('\0')) {
      throw new InvalidArgumentError('PLAIN credentials may not contain NUL')
    }
    this.#options = options
  }

  get done (): boolean { return this.#state === 'done' }

  async start (): Promise<Uint8Array> {
    if (this.#state !== 'new') throw new IllegalSaslStateError('PLAIN exchange already started')
    this.#state = 'sent'
    const { authzid, username, password } = this.#options
    return utf8(`${authzid ?? ''}\0${username}\0${password}`)
  }

  async step (serverMessage: Uint8Array): Promise<Uint8Array | null> {
    if (this.#state !== 'sent') throw new IllegalSaslStateError('PLAIN exchange is not waiting for the server')
    if (serverMessage.length !== 0) throw new SaslAuthenticationFailedError('PLAIN: the server sent unexpected data')
    this.#state = 'done'
    return null
  }
}

class ScramClient implements SaslClient {
  #state: 'new' | 'first-sent' | 'final-sent' | 'done' | 'failed' = 'new'
  #clientNonce = ''
  #bare = ''
  #gs2Header = ''
  #expectedServerSignature: Uint8Array | null = null

  constructor (readonly mechanism: ScramMechanism, readonly options: SaslClientOptions) {}

  get done (): boolean { return this.#state === 'done' }

  async start (): Promise<Uint8Array> {
    if (this.#state !== 'new') throw new IllegalSaslStateError('SCRAM exchange already started')
    this.#clientNonce = this.options.nonce ?? base64Encode(this.options.crypto.randomBytes(24))
    const first = formatClientFirst(this.options.username, this.#clientNonce, this.options.authzid ?? null)
    this.#bare = first.bare
    this.#gs2Header = first.gs2Header
    this.#state = 'first-sent'
    return utf8(first.message)
  }

  async step (serverMessage: Uint8Array): Promise<Uint8Array | null> {
    try {
      if (this.#state === 'first-sent') return await this.#onServerFirst(serverMessage)
      if (this.#state === 'final-sent') { this.#onServerFinal(serverMessage); return null }
    } catch (err) {
      this.#state = 'failed'
      if (err instanceof ScramSyntaxError) throw new SaslAuthenticationFailedError(`${this.mechanism}: bad server message: ${err.message}`, { cause: err })
      throw err
    }
    throw new IllegalSaslStateError(`${this.mechanism} exchange is not waiting for the server (${this.#state})`)
  }

  async #onServerFirst (bytes: Uint8Array): Promise<Uint8Array> {
    const text = fromUtf8(bytes)
    if (text === null) throw new ScramSyntaxError('not UTF-8')
    const first = parseServerFirst(text)
    if (!first.nonce.startsWith(this.#clientNonce) || first.nonce.length === this.#clientNonce.length) {
      throw new SaslAuthenticationFailedError(`${this.mechanism}: the server nonce does not extend the client nonce`)
    }
    const min = this.options.minIterations ?? SCRAM_MIN_ITERATIONS
    const max = this.options.maxIterations ?? SCRAM_MAX_ITERATIONS
    if (first.iterations < min || first.iterations > max) {
      throw new SaslAuthenticationFailedError(`${this.mechanism}: the server asked for ${first.iterations} iterations (accepted: ${min}-${max})`)
    }
    const { crypto } = this.options
    const salted = await saltedPassword(crypto, this.mechanism, this.options.password, first.salt, first.iterations)
    const keys = await scramKeys(crypto, this.mechanism, salted)
    const withoutProof = `c=${base64Encode(utf8(this.#gs2Header))},r=${first.nonce}`
    const message = authMessage(this.#bare, first.message, withoutProof)
    const proof = await clientProof(crypto, this.mechanism, keys, message)
    this.#expectedServerSignature = await serverSignature(crypto, this.mechanism, keys.serverKey, message)
    this.#state = 'final-sent'
    return utf8(`${withoutProof},p=${base64Encode(proof)}`)
  }

  #onServerFinal (bytes: Uint8Array): void {
    const text = fromUtf8(bytes)
    if (text === null) throw new ScramSyntaxError('not UTF-8')
    const final = parseServerFinal(text)
    if (final.kind === 'error') throw new SaslAuthenticationFailedError(`${this.mechanism}: the server refused: ${final.error}`)
    if (!constantTimeEqual(final.signature, this.#expectedServerSignature!)) {
      throw new SaslAuthenticationFailedError(`${this.mechanism}: the server signature does not verify (the server does not know the password)`)
    }
    this.#state = 'done'
  }
}
