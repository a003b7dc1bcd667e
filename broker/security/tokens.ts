/**
 * Short-lived tokens for browsers (and anything else that cannot do SASL): a JWT (RFC 7519)
 * in JWS compact form signed with HMAC-SHA-256 (RFC 7515 "HS256").
 *
 *   header  {"alg":"HS256","typ":"JWT","kid":"<key id>"}
 *   payload {"iss":"spool","sub":"<principal name>","iat":<s>,"exp":<s>,"jti":"<random>",
 *            "scope":{"topicPrefix":"orders."}}        (scope only when the token is scoped)
 *
 * Signed with node:crypto rather than a JWT library: one algorithm and one header shape
 * are all that is needed, verification stays synchronous, and accepting exactly
 * `alg: HS256` with a known `kid` (nothing else) rules out the classic algorithm-confusion
 * and `alg: none` mistakes that a general library must be configured against.
 *
 * Keys live in a TokenKeyRing: on a single broker `<dataDir>/security/token-keys.json`
 * (0600, atomic writes; see secure-file.ts), in a cluster one etcd document per key
 * (cluster-token-keys.ts), so a token issued at any broker verifies at every broker:
 *   { "version": 1, "keys": [ { "kid": "...", "secret": "<base64, 32 bytes>",
 *                               "createdAtMs": ..., "retiredAtMs": null } ] }
 * The newest unretired key signs. Rotation (on `rotate()`, or when issuing finds the
 * signing key older than `rotationIntervalMs`) retires it and adds a new one; a retired key
 * still verifies until `retiredAtMs + maxTtlMs + clockToleranceMs`, after which no token
 * it signed can be valid, and is then deleted. Another process (the CLI issuing a token
 * or rotating) changes the file; a token with an unknown kid makes the broker re-read it.
 */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import path from 'node:path'
import type { Logger } from 'pino'
import {
  InvalidArgumentError, MetadataConflictError, TokenExpiredError, TokenInvalidError, TokenKeyUnknownError, TokenSignatureInvalidError,
} from '../../protocol/errors.js'
import { base64Decode, base64Encode } from '../../protocol/sasl/encoding.js'
import { userPrincipal, type Principal, type TokenScope } from './principal.js'
import { WatchedJsonFile, asArray, asInt, asObject, asString, asVersion, invalid, securityDir } from './secure-file.js'

export interface TokenKey {
  readonly kid: string
  readonly secret: Uint8Array
  readonly createdAtMs: number
  readonly retiredAtMs: number | null
}

export interface TokenKeyInfo {
  readonly kid: string
  readonly createdAtMs: number
  readonly retiredAtMs: number | null
  /** When the key stops verifying (null while it signs). */
  readonly verifiesUntilMs: number | null
}

export interface IssuedToken {
  readonly token: string
  readonly tokenId: string
  readonly kid: string
  readonly issuedAtMs: number
  readonly expiresAtMs: number
}

export interface VerifiedToken {
  /** `User:<sub>` with method `token` and the token's scope. */
  readonly principal: Principal
  readonly scope: TokenScope | null
  readonly tokenId: string
  readonly kid: string
  readonly issuedAtMs: number
  /** Close the connection at this time: the token is no longer valid after it. */
  readonly expiresAtMs: number
}

/** Where the signing keys are kept (the data directory's file, or the cluster's documents). */
export interface TokenKeyRing {
  /** Where that is, for messages. */
  readonly location: string
  /** The keys as last read, oldest first. */
  keys (): readonly TokenKey[]
  /** Reads them again if another process may have changed them; true when they changed. */
  refresh (): boolean
  /** Stores what `change` makes of the current keys; resolves with its result (a key id). */
  update (change: (keys: readonly TokenKey[]) => { value: TokenKey[], result: string }): Promise<string>
}

/** The keys of a single broker: `<dataDir>/security/token-keys.json`. */
class FileKeyRing implements TokenKeyRing {
  readonly location: string
  readonly #file: WatchedJsonFile<TokenKey[]>

  constructor (dataDir: string, logger: Logger | undefined) {
    this.location = path.join(securityDir(dataDir), 'token-keys.json')
    this.#file = new WatchedJsonFile<TokenKey[]>({
      file: this.location, parse: parseKeys, serialize: serializeKeys, empty: () => [],
      ...(logger === undefined ? {} : { logger }),
    })
  }

  keys (): readonly TokenKey[] { return this.#file.value }
  refresh (): boolean { return this.#file.refresh() }
  async update (change: (keys: readonly TokenKey[]) => { value: TokenKey[], result: string }): Promise<string> {
    return this.#file.update(change)
  }
}

/** The keys of a data directory's token-keys.json (what an import into a cluster copies). */
export function fileTokenKeys (dataDir: string): TokenKeyRing {
  return new FileKeyRing(dataDir, undefined)
}

export interface TokenServiceOptions {
  /** The data directory whose token-keys.json holds the keys (unless `keys` is given). */
  readonly dataDir?: string
  /** Where the keys are kept instead (a cluster's documents). */
  readonly keys?: TokenKeyRing
  /** Lifetime of a token when the issuer names none (default 15 minutes). */
  readonly defaultTtlMs?: number
  /** Longest lifetime a token may be issued with (default 24 hours). */
  readonly maxTtlMs?: number
  /** Age at which the signing key is replaced (default 24 hours; 0 = only on rotate()). */
  readonly rotationIntervalMs?: number
  /** Clock difference tolerated between issuer and verifier (default 5 s). */
  readonly clockToleranceMs?: number
  readonly logger?: Logger
  readonly now?: () => number
}

const MAX_TOKEN_LENGTH = 8192
/** What a key id may be, wherever keys are kept. */
export const TOKEN_KID = /^[A-Za-z0-9_-]{1,64}$/
/** The shortest signing secret accepted, wherever keys are kept. */
export const MIN_TOKEN_SECRET_BYTES = 32
const HEADER_FIELDS = new Set(['alg', 'typ', 'kid'])

function b64url (bytes: Uint8Array): string {
  return base64Encode(bytes).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')
}

function fromB64url (text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/')
  return base64Decode(b64 + '='.repeat((4 - (b64.length % 4)) % 4))
}

function jsonPart (text: string, what: string): Record<string, unknown> {
  const bytes = fromB64url(text)
  if (bytes === null) throw new TokenInvalidError(`token ${what} is not base64url`)
  let v: unknown
  try { v = JSON.parse(Buffer.from(bytes).toString('utf8')) } catch { throw new TokenInvalidError(`token ${what} is not JSON`) }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TokenInvalidError(`token ${what} is not a JSON object`)
  return v as Record<string, unknown>
}

function parseKeys (json: unknown, file: string): TokenKey[] {
  const root = asObject(json, file, '(top level)')
  asVersion(root, file)
  const seen = new Set<string>()
  return asArray(root.keys, file, 'keys').map((v, i) => {
    const where = `keys[${i}]`
    const o = asObject(v, file, where)
    const kid = asString(o.kid, file, `${where}.kid`)
    if (!TOKEN_KID.test(kid)) throw invalid(file, `${where}.kid`, 'expected 1-64 characters of [A-Za-z0-9_-]')
    if (seen.has(kid)) throw invalid(file, `${where}.kid`, `duplicate key id ${kid}`)
    seen.add(kid)
    const secret = base64Decode(asString(o.secret, file, `${where}.secret`))
    if (secret === null || secret.length < MIN_TOKEN_SECRET_BYTES) throw invalid(file, `${where}.secret`, 'expected base64 of at least 32 bytes')
    const retired = o.retiredAtMs === null || o.retiredAtMs === undefined ? null : asInt(o.retiredAtMs, file, `${where}.retiredAtMs`, 0, Number.MAX_SAFE_INTEGER)
    return { kid, secret, createdAtMs: asInt(o.createdAtMs, file, `${where}.createdAtMs`, 0, Number.MAX_SAFE_INTEGER), retiredAtMs: retired }
  })
}

function serializeKeys (keys: TokenKey[]): unknown {
  return { version: 1, keys: keys.map(k => ({ kid: k.kid, secret: base64Encode(k.secret), createdAtMs: k.createdAtMs, retiredAtMs: k.retiredAtMs })) }
}

export class TokenService {
  /** Where the keys are: the file on a single broker, the cluster's documents in a cluster. */
  readonly file: string
  readonly defaultTtlMs: number
  readonly maxTtlMs: number
  readonly rotationIntervalMs: number
  readonly clockToleranceMs: number
  readonly #keys: TokenKeyRing
  readonly #now: () => number
  readonly #logger: Logger | undefined

  static open (options: TokenServiceOptions): TokenService {
    return new TokenService(options)
  }

  private constructor (options: TokenServiceOptions) {
    this.defaultTtlMs = options.defaultTtlMs ?? 15 * 60_000
    this.maxTtlMs = options.maxTtlMs ?? 24 * 3600_000
    this.rotationIntervalMs = options.rotationIntervalMs ?? 24 * 3600_000
    this.clockToleranceMs = options.clockToleranceMs ?? 5000
    if (!(this.defaultTtlMs > 0 && this.defaultTtlMs <= this.maxTtlMs)) throw new InvalidArgumentError('token ttl must be positive and at most maxTtlMs')
    this.#now = options.now ?? Date.now
    this.#logger = options.logger
    if (options.keys === undefined && options.dataDir === undefined) throw new InvalidArgumentError('TokenService needs a dataDir or a key ring')
    this.#keys = options.keys ?? new FileKeyRing(options.dataDir!, options.logger)
    this.file = this.#keys.location
  }

  /** Issues a token for `principal` (its name becomes `sub`); a `ttlMs` above maxTtlMs is refused. */
  async issue (principal: Principal | string, options: { ttlMs?: number, topicPrefix?: string } = {}): Promise<IssuedToken> {
    const name = typeof principal === 'string' ? principal : principal.name
    if (name.length === 0) throw new InvalidArgumentError('token subject is empty')
    const ttlMs = options.ttlMs ?? this.defaultTtlMs
    if (!Number.isInteger(ttlMs) || ttlMs < 1000 || ttlMs > this.maxTtlMs) throw new InvalidArgumentError(`token ttl must be from 1 s to ${this.maxTtlMs} ms, got ${ttlMs}`)
    const key = await this.#signingKey()
    const now = this.#now()
    const iat = Math.floor(now / 1000)
    const exp = Math.floor((now + ttlMs) / 1000)
    const tokenId = b64url(randomBytes(12))
    const payload: Record<string, unknown> = { iss: 'spool', sub: name, iat, exp, jti: tokenId }
    if (options.topicPrefix !== undefined) payload.scope = { topicPrefix: options.topicPrefix }
    const head = b64url(Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: key.kid })))
    const body = b64url(Buffer.from(JSON.stringify(payload)))
    const sig = b64url(createHmac('sha256', key.secret).update(`${head}.${body}`).digest())
    this.#logger?.info({ sub: name, kid: key.kid, tokenId, expiresAtMs: exp * 1000, scoped: options.topicPrefix !== undefined }, 'token issued')
    return { token: `${head}.${body}.${sig}`, tokenId, kid: key.kid, issuedAtMs: iat * 1000, expiresAtMs: exp * 1000 }
  }

  /** Checks a token; throws TokenInvalidError, TokenKeyUnknownError, TokenSignatureInvalidError or TokenExpiredError. */
  verify (token: string): VerifiedToken {
    if (token.length > MAX_TOKEN_LENGTH) throw new TokenInvalidError('token is too long')
    const parts = token.split('.')
    if (parts.length !== 3) throw new TokenInvalidError('token is not three dot-separated parts')
    const [h, p, s] = parts as [string, string, string]
    const header = jsonPart(h, 'header')
    if (header.alg !== 'HS256') throw new TokenInvalidError('token algorithm must be HS256')
    if (header.typ !== undefined && header.typ !== 'JWT') throw new TokenInvalidError('token type must be JWT')
    if (typeof header.kid !== 'string') throw new TokenInvalidError('token header has no kid')
    for (const k of Object.keys(header)) if (!HEADER_FIELDS.has(k)) throw new TokenInvalidError(`token header field ${k} is not supported`)
    const now = this.#now()
    const key = this.#verifyingKey(header.kid, now)
    const sig = fromB64url(s)
    const expected = createHmac('sha256', key.secret).update(`${h}.${p}`).digest()
    if (sig === null || sig.length !== expected.length || !timingSafeEqual(sig, expected)) throw new TokenSignatureInvalidError()
    const claims = jsonPart(p, 'payload')
    const { sub, iat, exp, jti, scope } = claims
    if (typeof sub !== 'string' || sub.length === 0) throw new TokenInvalidError('token has no subject')
    if (!Number.isSafeInteger(iat) || !Number.isSafeInteger(exp)) throw new TokenInvalidError('token iat/exp must be integers (seconds)')
    if (typeof jti !== 'string') throw new TokenInvalidError('token has no jti')
    let tokenScope: TokenScope | null = null
    if (scope !== undefined) {
      const prefix = (scope as { topicPrefix?: unknown } | null)?.topicPrefix
      if (typeof prefix !== 'string') throw new TokenInvalidError('token scope must be {"topicPrefix": string}')
      tokenScope = { topicPrefix: prefix }
    }
    const expiresAtMs = (exp as number) * 1000
    const issuedAtMs = (iat as number) * 1000
    if (issuedAtMs > now + this.clockToleranceMs) throw new TokenInvalidError('token is issued in the future')
    if (now >= expiresAtMs + this.clockToleranceMs) throw new TokenExpiredError(`token expired at ${new Date(expiresAtMs).toISOString()}`)
    return {
      principal: userPrincipal(sub, 'token', tokenScope ?? undefined),
      scope: tokenScope, tokenId: jti, kid: key.kid, issuedAtMs, expiresAtMs,
    }
  }

  /**
   * Retires the signing key and creates a new one; returns the new key id. With
   * `revoke`, every older key is deleted at once: every token issued so far stops verifying.
   */
  rotate (options: { revoke?: boolean } = {}): Promise<string> {
    return this.#keys.update(keys => this.#rotated(options.revoke === true ? [] : keys, this.#now()))
  }

  listKeys (): TokenKeyInfo[] {
    this.#keys.refresh()
    return this.#keys.keys().map(k => ({
      kid: k.kid, createdAtMs: k.createdAtMs, retiredAtMs: k.retiredAtMs,
      verifiesUntilMs: k.retiredAtMs === null ? null : k.retiredAtMs + this.maxTtlMs + this.clockToleranceMs,
    }))
  }

  async #signingKey (): Promise<TokenKey> {
    this.#keys.refresh()
    const now = this.#now()
    const current = this.#current(this.#keys.keys())
    if (current !== undefined && !this.#due(current, now)) return current
    try {
      await this.#keys.update(keys => {
        const c = this.#current(keys)
        return c !== undefined && !this.#due(c, now) ? { value: [...keys], result: c.kid } : this.#rotated(keys, now)
      })
    } catch (err) {
      // Another broker rotated at the same moment (a cluster's compare-and-swap): its key will do.
      if (!(err instanceof MetadataConflictError)) throw err
    }
    const signing = this.#current(this.#keys.keys())
    if (signing === undefined) throw new MetadataConflictError('no token signing key yet (another broker is making one); retry')
    return signing
  }

  #verifyingKey (kid: string, now: number): TokenKey {
    let key = this.#keys.keys().find(k => k.kid === kid)
    if (key === undefined && this.#keys.refresh()) key = this.#keys.keys().find(k => k.kid === kid)
    if (key === undefined) throw new TokenKeyUnknownError(`token key ${kid} is not known (rotated out, or from another cluster)`)
    if (key.retiredAtMs !== null && now > key.retiredAtMs + this.maxTtlMs + this.clockToleranceMs) throw new TokenKeyUnknownError(`token key ${kid} is retired`)
    return key
  }

  #current (keys: readonly TokenKey[]): TokenKey | undefined {
    for (let i = keys.length - 1; i >= 0; i--) if (keys[i]!.retiredAtMs === null) return keys[i]
    return undefined
  }

  #due (key: TokenKey, now: number): boolean {
    return this.rotationIntervalMs > 0 && now - key.createdAtMs >= this.rotationIntervalMs
  }

  #rotated (keys: readonly TokenKey[], now: number): { value: TokenKey[], result: string } {
    const horizon = this.maxTtlMs + this.clockToleranceMs
    const kept = keys
      .map(k => k.retiredAtMs === null ? { ...k, retiredAtMs: now } : k)
      .filter(k => now <= k.retiredAtMs! + horizon)
    const kid = `k${now.toString(36)}${randomBytes(3).toString('hex')}`
    this.#logger?.info({ kid, kept: kept.length }, 'token signing key rotated')
    return { value: [...kept, { kid, secret: randomBytes(32), createdAtMs: now, retiredAtMs: null }], result: kid }
  }
}
