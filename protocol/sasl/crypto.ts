/**
 * The cryptography the SASL mechanisms need, as an interface the caller supplies: Node
 * passes an implementation over node:crypto, the browser one over WebCrypto (both in
 * platform/). Digest-based operations are async because WebCrypto's are.
 */

export type HashName = 'SHA-256' | 'SHA-512'

export interface SaslCrypto {
  hmac (hash: HashName, key: Uint8Array, data: Uint8Array): Promise<Uint8Array>
  digest (hash: HashName, data: Uint8Array): Promise<Uint8Array>
  /** PBKDF2 with HMAC-`hash`, `keyLength` bytes of output (SCRAM's Hi()). */
  pbkdf2 (hash: HashName, password: Uint8Array, salt: Uint8Array, iterations: number, keyLength: number): Promise<Uint8Array>
  /** Cryptographically strong random bytes. */
  randomBytes (length: number): Uint8Array
}
