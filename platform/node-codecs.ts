/**
 * Node-only speed-ups for the pure codecs in protocol/, installed by the Node entries of
 * both the broker and the client: a native CRC-32C when the optional `@node-rs/crc32`
 * package is present, and zlib gzip on the thread pool instead of web streams. protocol/
 * stays free of Node APIs (docs/architecture.md §1) and the browser bundle never imports this
 * file; there the pure-JS CRC and CompressionStream stay in use. platform/ depends only on
 * protocol/, so broker and client can share it without depending on each other.
 */

import { createRequire } from 'node:module'
import { promisify } from 'node:util'
import { gunzip, gzip } from 'node:zlib'
import { setNativeCrc32c } from '../protocol/bytes/crc32c.js'
import { CorruptRecordError, MessageTooLargeError } from '../protocol/errors.js'
import { registerCompressionCodec } from '../protocol/record-batch/compression.js'
import { Compression } from '../protocol/record-batch/header.js'

const gzipAsync = promisify(gzip)
const gunzipAsync = promisify(gunzip)
let installed = false

/** Installs the codecs once (synchronously, so the entry needs no top-level await). */
export function installNodeCodecs (): void {
  if (installed) return
  installed = true
  try {
    const native = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c (data: Buffer): number }
    setNativeCrc32c(data => native.crc32c(Buffer.from(data.buffer, data.byteOffset, data.byteLength)))
  } catch {
    // Optional dependency absent: the JS slicing-by-8 implementation stays in use.
  }
  registerCompressionCodec(Compression.gzip, {
    async compress (data) {
      const out = await gzipAsync(data)
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
    },
    async decompress (data, maxBytes) {
      try {
        const out = await gunzipAsync(data, { maxOutputLength: maxBytes })
        return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
          throw new MessageTooLargeError(`decompressed batch exceeds ${maxBytes} bytes`, { cause: err })
        }
        throw new CorruptRecordError(`gzip records do not decompress: ${(err as Error).message}`, { cause: err })
      }
    },
  })
}
