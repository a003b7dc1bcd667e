/**
 * SCRAM (RFC 5802) with SHA-256 (RFC 7677) and SHA-512: the key derivation and the four
 * messages, shared by the client and the server so both build and read exactly the same
 * grammar. Only the non-PLUS mechanisms exist here: channel binding is never used, so the
 * GS2 header is `n,,` or `y,,` (with an optional `a=` authorization id) and `c=` carries
 * that header back in base64.
 *
 * Names and passwords are used as their UTF-8 bytes, without SASLprep: Kafka's clients and
 * brokers do the same, and normalizing on one side only would lock out non-ASCII users.
 */

import { InvalidArgumentError } from '../errors.js'
import type { HashName, SaslCrypto } from './crypto.js'
import { base64Decode, base64Encode, utf8, xor } from './encoding.js'

export type ScramMechanism = 'SCRAM-SHA-256' | 'SCRAM-SHA-512'

export const SCRAM_MECHANISMS: Readonly<Record<ScramMechanism, { readonly hash: HashName, readonly keyLength: number }>> = {
  'SCRAM-SHA-256': { hash: 'SHA-256', keyLength: 32 },
  'SCRAM-SHA-512': { hash: 'SHA-512', keyLength: 64 },
}

/** RFC 7677 asks for at least 4096 iterations; Kafka's tools refuse fewer. */
export const SCRAM_MIN_ITERATIONS = 4096
export const SCRAM_MAX_ITERATIONS = 1_000_000

export function isScramMechanism (name: string): name is ScramMechanism {
  return name === 'SCRAM-SHA-256' || name === 'SCRAM-SHA-512'
}

/** What a server keeps for one user and mechanism: never the password. */
export interface ScramCredential {
  readonly salt: Uint8Array
  readonly iterations: number
  readonly storedKey: Uint8Array
  readonly serverKey: Uint8Array
}

const CLIENT_KEY = utf8('Client Key')
const SERVER_KEY = utf8('Server Key')

export async function saltedPassword (crypto: SaslCrypto, mechanism: ScramMechanism, password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const { hash, keyLength } = SCRAM_MECHANISMS[mechanism]
  return await crypto.pbkdf2(hash, utf8(password), salt, iterations, keyLength)
}

export interface ScramKeys { readonly clientKey: Uint8Array, readonly storedKey: Uint8Array, readonly serverKey: Uint8Array }

/** ClientKey, StoredKey = H(ClientKey) and ServerKey from a SaltedPassword. */
export async function scramKeys (crypto: SaslCrypto, mechanism: ScramMechanism, salted: Uint8Array): Promise<ScramKeys> {
  const { hash } = SCRAM_MECHANISMS[mechanism]
  const clientKey = await crypto.hmac(hash, salted, CLIENT_KEY)
  const storedKey = await crypto.digest(hash, clientKey)
  const serverKey = await crypto.hmac(hash, salted, SERVER_KEY)
  return { clientKey, storedKey, serverKey }
}

/** The credential a server stores for `password` (a fresh 32-byte salt unless one is given). */
export async function scramCredential (crypto: SaslCrypto, mechanism: ScramMechanism, password: string, iterations: number, salt?: Uint8Array): Promise<ScramCredential> {
  checkIterations(iterations)
  const s = salt ?? crypto.randomBytes(32)
  const keys = await scramKeys(crypto, mechanism, await saltedPassword(crypto, mechanism, password, s, iterations))
  return { salt: s, iterations, storedKey: keys.storedKey, serverKey: keys.serverKey }
}

export function checkIterations (iterations: number): void {
  if (!Number.isInteger(iterations) || iterations < SCRAM_MIN_ITERATIONS || iterations > SCRAM_MAX_ITERATIONS) {
    throw new InvalidArgumentError(`SCRAM iterations must be an integer from ${SCRAM_MIN_ITERATIONS} to ${SCRAM_MAX_ITERATIONS}, got ${iterations}`)
  }
}

// ---- message grammar -------------------------------------------------------------------

/** Why a message does not parse; the SCRAM `e=` value to answer with where there is one. */
export class ScramSyntaxError extends Error {
  constructor (message: string, readonly serverError: ScramServerError = 'invalid-encoding') {
    super(message)
    this.name = 'ScramSyntaxError'
  }
}

/** RFC 5802's server-error-value set (the ones this implementation sends). */
export type ScramServerError =
  | 'invalid-encoding' | 'extensions-not-supported' | 'invalid-proof' | 'channel-bindings-dont-match'
  | 'server-does-support-channel-binding' | 'channel-binding-not-supported' | 'unknown-user'
  | 'invalid-username-encoding' | 'no-resources' | 'other-error'

/** `=2C` and `=3D` escapes of saslname. */
export function encodeSaslName (name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C')
}

export function decodeSaslName (text: string): string {
  if (text.length === 0) throw new ScramSyntaxError('empty name', 'invalid-username-encoding')
  if (/[\0,]/.test(text)) throw new ScramSyntaxError('forbidden character in name', 'invalid-username-encoding')
  return text.replace(/=(..)?/g, (_m, code: string | undefined) => {
    if (code === '2C') return ','
    if (code === '3D') return '='
    throw new ScramSyntaxError('bad = escape in name', 'invalid-username-encoding')
  })
}

/** A nonce: printable ASCII except ','. */
export function isValidNonce (nonce: string): boolean {
  return nonce.length > 0 && /^[\x21-\x2b\x2d-\x7e]+$/.test(nonce)
}

interface Attr { readonly key: string, readonly value: string }

function splitAttrs (text: string): Attr[] {
  // RFC 5802 attributes are one letter; Kafka's SCRAM extensions (`tokenauth=true`) are words.
  return text.split(',').map(part => {
    const eq = part.indexOf('=')
    if (eq < 1 || !/^[A-Za-z][A-Za-z0-9]*$/.test(part.slice(0, eq))) throw new ScramSyntaxError('not an attribute=value list')
    return { key: part.slice(0, eq), value: part.slice(eq + 1) }
  })
}

export interface ClientFirst {
  /** `n` or `y` (neither uses channel binding). */
  readonly cbindFlag: 'n' | 'y'
  readonly authzid: string | null
  readonly username: string
  readonly clientNonce: string
  /** Attributes after the nonce (Kafka's `tokenauth=true` is one). */
  readonly extensions: ReadonlyMap<string, string>
  /** The GS2 header as sent, including the trailing comma. */
  readonly gs2Header: string
  readonly bare: string
}

export function formatClientFirst (username: string, clientNonce: string, authzid: string | null = null): { message: string, bare: string, gs2Header: string } {
  const gs2Header = `n,${authzid === null ? '' : `a=${encodeSaslName(authzid)}`},`
  const bare = `n=${encodeSaslName(username)},r=${clientNonce}`
  return { message: gs2Header + bare, bare, gs2Header }
}

export function parseClientFirst (text: string): ClientFirst {
  const c1 = text.indexOf(',')
  const c2 = c1 < 0 ? -1 : text.indexOf(',', c1 + 1)
  if (c2 < 0) throw new ScramSyntaxError('missing GS2 header')
  const flag = text.slice(0, c1)
  if (flag.startsWith('p=')) throw new ScramSyntaxError('channel binding requested', 'channel-binding-not-supported')
  if (flag !== 'n' && flag !== 'y') throw new ScramSyntaxError('bad channel binding flag')
  const az = text.slice(c1 + 1, c2)
  let authzid: string | null = null
  if (az.length > 0) {
    if (!az.startsWith('a=')) throw new ScramSyntaxError('bad authzid')
    authzid = decodeSaslName(az.slice(2))
  }
  const bare = text.slice(c2 + 1)
  const attrs = splitAttrs(bare)
  if (attrs[0]?.key === 'm') throw new ScramSyntaxError('mandatory extension', 'extensions-not-supported')
  if (attrs[0]?.key !== 'n' || attrs[1]?.key !== 'r') throw new ScramSyntaxError('expected n=,r=')
  const username = decodeSaslName(attrs[0].value)
  const clientNonce = attrs[1].value
  if (!isValidNonce(clientNonce)) throw new ScramSyntaxError('bad nonce')
  const extensions = new Map<string, string>()
  for (const a of attrs.slice(2)) extensions.set(a.key, a.value)
  return { cbindFlag: flag, authzid, username, clientNonce, extensions, gs2Header: text.slice(0, c2 + 1), bare }
}

export interface ServerFirst { readonly nonce: string, readonly salt: Uint8Array, readonly iterations: number, readonly message: string }

export function formatServerFirst (nonce: string, salt: Uint8Array, iterations: number): string {
  return `r=${nonce},s=${base64Encode(salt)},i=${iterations}`
}

export function parseServerFirst (text: string): ServerFirst {
  const attrs = splitAttrs(text)
  if (attrs[0]?.key === 'm') throw new ScramSyntaxError('mandatory extension', 'extensions-not-supported')
  if (attrs[0]?.key === 'e') throw new ScramSyntaxError(`server error: ${attrs[0].value}`, 'other-error')
  if (attrs[0]?.key !== 'r' || attrs[1]?.key !== 's' || attrs[2]?.key !== 'i') throw new ScramSyntaxError('expected r=,s=,i=')
  const salt = base64Decode(attrs[1].value)
  if (salt === null || salt.length === 0) throw new ScramSyntaxError('bad salt')
  if (!/^[1-9][0-9]{0,9}$/.test(attrs[2].value)) throw new ScramSyntaxError('bad iteration count')
  if (!isValidNonce(attrs[0].value)) throw new ScramSyntaxError('bad nonce')
  return { nonce: attrs[0].value, salt, iterations: Number(attrs[2].value), message: text }
}

export interface ClientFinal {
  readonly channelBinding: string
  readonly nonce: string
  readonly proof: Uint8Array
  readonly withoutProof: string
}

export function parseClientFinal (text: string): ClientFinal {
  const cut = text.lastIndexOf(',p=')
  if (cut < 0) throw new ScramSyntaxError('missing proof')
  const withoutProof = text.slice(0, cut)
  const attrs = splitAttrs(withoutProof)
  if (attrs[0]?.key !== 'c' || attrs[1]?.key !== 'r') throw new ScramSyntaxError('expected c=,r=')
  const proof = base64Decode(text.slice(cut + 3))
  if (proof === null) throw new ScramSyntaxError('bad proof encoding')
  return { channelBinding: attrs[0].value, nonce: attrs[1].value, proof, withoutProof }
}

export type ServerFinal = { readonly kind: 'verifier', readonly signature: Uint8Array } | { readonly kind: 'error', readonly error: string }

export function parseServerFinal (text: string): ServerFinal {
  const attrs = splitAttrs(text)
  if (attrs[0]?.key === 'e') return { kind: 'error', error: attrs[0].value }
  if (attrs[0]?.key !== 'v') throw new ScramSyntaxError('expected v= or e=')
  const signature = base64Decode(attrs[0].value)
  if (signature === null) throw new ScramSyntaxError('bad verifier encoding')
  return { kind: 'verifier', signature }
}

/** AuthMessage = client-first-bare "," server-first "," client-final-without-proof. */
export function authMessage (clientFirstBare: string, serverFirst: string, clientFinalWithoutProof: string): Uint8Array {
  return utf8(`${clientFirstBare},${serverFirst},${clientFinalWithoutProof}`)
}

/** ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage). */
export async function clientProof (crypto: SaslCrypto, mechanism: ScramMechanism, keys: ScramKeys, message: Uint8Array): Promise<Uint8Array> {
  const signature = await crypto.hmac(SCRAM_MECHANISMS[mechanism].hash, keys.storedKey, message)
  return xor(keys.clientKey, signature)
}

/** ServerSignature = HMAC(ServerKey, AuthMessage). */
export async function serverSignature (crypto: SaslCrypto, mechanism: ScramMechanism, serverKey: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
  return await crypto.hmac(SCRAM_MECHANISMS[mechanism].hash, serverKey, message)
}
