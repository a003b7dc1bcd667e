/**
 * SaslCrypto over node:crypto, for the broker and the Node SDK. PBKDF2 runs on libuv's
 * thread pool (crypto.pbkdf2), so verifying a password never blocks the event loop.
 */

import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto'
import type { HashName, SaslCrypto } from '../protocol/sasl/crypto.js'

const NODE_NAMES: Record<HashName, string> = { 'SHA-256': 'sha256', 'SHA-512': 'sha512' }

function view (b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

/** Synchronous HMAC, for callers on the broker that need no promise. */
export function hmacSync (hash: HashName, key: Uint8Array, data: Uint8Array): Uint8Array {
  return view(createHmac(NODE_NAMES[hash], key).update(data).digest())
}

export function digestSync (hash: HashName, data: Uint8Array): Uint8Array {
  return view(createHash(NODE_NAMES[hash]).update(data).digest())
}

export const nodeSaslCrypto: SaslCrypto = Object.freeze({
  async hmac (hash: HashName, key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
    return hmacSync(hash, key, data)
  },
  async digest (hash: HashName, data: Uint8Array): Promise<Uint8Array> {
    return digestSync(hash, data)
  },
  async pbkdf2 (hash: HashName, password: Uint8Array, salt: Uint8Array, iterations: number, keyLength: number): Promise<Uint8Array> {
    return await new Promise<Uint8Array>((resolve, reject) => {
      pbkdf2(password, salt, iterations, keyLength, NODE_NAMES[hash], (err, key) => { if (err) reject(err); else resolve(view(key)) })
    })
  },
  randomBytes (length: number): Uint8Array {
    return view(randomBytes(length))
  },
})
