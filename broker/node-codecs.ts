/**
 * Node-only speed-ups for the pure codecs in protocol/: a native CRC-32C when the optional
 * `@node-rs/crc32` package is installed, and zlib for gzip (synchronous work on the thread
 * pool instead of web streams). Both the broker and the Node client call this once; the pure
 * JS paths stay in use where these are missing (and in the browser).
 */

import { promisify } from 'node:util'
import { gzip, gunzip } from 'node:zlib'
import { setNativeCrc32c } from '../protocol/bytes/crc32c.js'
import { registerCompressionCodec } from '../protocol/record-batch/compression.js'
import { Compression } from '../protocol/record-batch/header.js'
import { MessageTooLargeError } from '../protocol/errors.js'

const gzipAsync = promisify(gzip)
const gunzipAsync = promisify(gunzip)

let installed: Promise<void> | null = null

/** Installs the Node codecs once; later calls return the same promise. */
export function installNodeCodecs (): Promise<void> {
  installed ??= (async () => {
    try {
      const mod = await import('@node-rs/crc32')
      setNativeCrc32c((data: Uint8Array) => mod.crc32c(Buffer.from(data.buffer, data.byteOffset, data.byteLength)))
    } catch {
      // Optional dependency absent: the JS slicing-by-8 implementation stays in use.
    }
    registerCompressionCodec(Compression.gzip, {
      async compress (data) {
        return new Uint8Array(await gzipAsync(data))
      },
      async decompress (data, maxBytes) {
        try {
          return new Uint8Array(await gunzipAsync(data, { maxOutputLength: maxBytes }))
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
            throw new MessageTooLargeError(`decompressed batch exceeds ${maxBytes} bytes`, { cause: err })
          }
          throw err
        }
      },
    })
  })()
  return installed
}
