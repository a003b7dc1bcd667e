/**
 * SaslCrypto over WebCrypto (`crypto.subtle`), for the browser bundle; it also runs on
 * Node 20, which has the same global, so tests check it against the node:crypto one.
 * No Node imports here.
 */

import type { HashName, SaslCrypto } from '../protocol/sasl/crypto.js'

/** WebCrypto wants an ArrayBuffer-backed view; copy anything else (a view of a SharedArrayBuffer). */
function own (bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes)
}

export function webSaslCrypto (webCrypto: Crypto = globalThis.crypto): SaslCrypto {
  const subtle = webCrypto.subtle
  return Object.freeze({
    async hmac (hash: HashName, key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
      const k = await subtle.importKey('raw', own(key), { name: 'HMAC', hash }, false, ['sign'])
      return new Uint8Array(await subtle.sign('HMAC', k, own(data)))
    },
    async digest (hash: HashName, data: Uint8Array): Promise<Uint8Array> {
      return new Uint8Array(await subtle.digest(hash, own(data)))
    },
    async pbkdf2 (hash: HashName, password: Uint8Array, salt: Uint8Array, iterations: number, keyLength: number): Promise<Uint8Array> {
      const k = await subtle.importKey('raw', own(password), 'PBKDF2', false, ['deriveBits'])
      return new Uint8Array(await subtle.deriveBits({ name: 'PBKDF2', hash, salt: own(salt), iterations }, k, keyLength * 8))
    },
    randomBytes (length: number): Uint8Array {
      const out = new Uint8Array(length)
      // getRandomValues fills at most 65536 bytes per call.
      for (let o = 0; o < length; o += 65536) webCrypto.getRandomValues(out.subarray(o, Math.min(length, o + 65536)))
      return out
    },
  })
}
