/**
 * How a connection authenticates (the broker's SaslHandshake + SaslAuthenticate,
 * protocol/native/apis/sasl.ts): SCRAM-SHA-256/512 or PLAIN with a user name and password
 * (`sasl`), or a broker token (`token`, sent as OAUTHBEARER) — the way for browsers, which
 * must not hold a password. The token may be a function: it is called for every new
 * connection, so a reconnect after the broker closed an expired token's connection gets a
 * fresh one.
 *
 * The exchange runs first on a new connection, before ApiVersions: the handshake and the
 * first client message go out together (one round trip for PLAIN and tokens, two for
 * SCRAM), in the first frames after the socket opens — never in a URL. SCRAM's last server
 * message is verified (the broker proves it knows the password too). Cryptography is
 * WebCrypto's (Node 20 and browsers alike). Nothing here logs a secret.
 */

import { InvalidArgumentError, SaslAuthenticationFailedError } from '../protocol/errors.js'
import { createSaslClient, type SaslClient } from '../protocol/sasl/client.js'
import { utf8 } from '../protocol/sasl/encoding.js'
import { webSaslCrypto } from '../platform/sasl-crypto-web.js'

export type SaslMechanismOption = 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | 'PLAIN'

export interface SaslOptions {
  /** Default SCRAM-SHA-256. PLAIN sends the password itself: brokers accept it over TLS only, unless configured otherwise. */
  mechanism?: SaslMechanismOption
  username: string
  password: string
}

/** What the connection drives: the first message, then one answer per server message (null: done). */
export type ExchangeClient = Pick<SaslClient, 'start' | 'step'>

/** A token, or a function that gives one (called for each new connection). */
export type TokenSource = string | (() => string | Promise<string>)

/** A connection's authentication, resolved from the client options. */
export interface Authentication {
  readonly mechanism: string
  /** A new SASL client for one exchange. */
  client (): Promise<ExchangeClient>
  /** A token that can be renewed (a function): an expired connection is then retried. */
  readonly renewable: boolean
}

export function authenticationOf (options: { sasl?: SaslOptions, token?: TokenSource }): Authentication | null {
  if (options.sasl !== undefined && options.token !== undefined) throw new InvalidArgumentError('give either sasl or token, not both')
  if (options.sasl !== undefined) {
    const { mechanism = 'SCRAM-SHA-256', username, password } = options.sasl
    if (typeof username !== 'string' || username === '') throw new InvalidArgumentError('sasl.username is empty')
    if (typeof password !== 'string' || password === '') throw new InvalidArgumentError('sasl.password is empty')
    if (!['SCRAM-SHA-256', 'SCRAM-SHA-512', 'PLAIN'].includes(mechanism)) throw new InvalidArgumentError(`sasl.mechanism must be SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN, got ${String(mechanism)}`)
    const crypto = webSaslCrypto()
    return { mechanism, renewable: false, client: async () => createSaslClient(mechanism, { username, password, crypto }) }
  }
  const token = options.token
  if (token === undefined) return null
  if (typeof token !== 'string' && typeof token !== 'function') throw new InvalidArgumentError('token must be a string or a function returning one')
  return {
    mechanism: 'OAUTHBEARER',
    renewable: typeof token === 'function',
    client: async () => {
      const value = typeof token === 'function' ? await token() : token
      if (typeof value !== 'string' || value === '') throw new InvalidArgumentError('the token callback gave no token')
      return new TokenSaslClient(value)
    },
  }
}

/** OAUTHBEARER (RFC 7628) with a bearer token: one message, nothing back on success. */
class TokenSaslClient implements ExchangeClient {
  #state: 'new' | 'sent' | 'done' = 'new'

  constructor (private readonly token: string) {
    if (!/^[A-Za-z0-9._~+/=-]+$/.test(token)) throw new InvalidArgumentError('a token is base64url parts separated by dots')
  }

  async start (): Promise<Uint8Array> {
    this.#state = 'sent'
    return utf8(`n,,\u0001auth=Bearer ${this.token}\u0001\u0001`)
  }

  async step (serverMessage: Uint8Array): Promise<Uint8Array | null> {
    if (this.#state !== 'sent' || serverMessage.length !== 0) throw new SaslAuthenticationFailedError('OAUTHBEARER: unexpected answer from the broker')
    this.#state = 'done'
    return null
  }
}
