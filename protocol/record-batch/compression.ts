/**
 * Compression codecs for RecordBatch v2 (attribute bits 0-2). The concatenated records are
 * compressed as one blob after recordsCount; the header stays plain and the CRC covers the
 * compressed bytes (docs/formats.md §1.5).
 *
 * gzip works everywhere through the web-standard CompressionStream (Node >= 18 and
 * browsers). A Node host may register a faster implementation (zlib) with
 * `registerCompressionCodec`; snappy, lz4 and zstd exist only when a host registers them.
 * Decompression is always bounded by `maxBytes` so a small batch cannot expand without
 * limit (a "zip bomb").
 */

import { CorruptRecordError, MessageTooLargeError, UnsupportedCompressionTypeError } from '../errors.js'
import { Compression, type CompressionCode, type CompressionName } from './header.js'

export interface CompressionCodec {
  compress (data: Uint8Array): Promise<Uint8Array>
  /** Must fail with MessageTooLargeError once the output would exceed `maxBytes`. */
  decompress (data: Uint8Array, maxBytes: number): Promise<Uint8Array>
}

/** Default cap on decompressed size when a caller gives none. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024

async function drain (readable: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let total = 0
  const reader = readable.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.length
    if (total > maxBytes) {
      await reader.cancel()
      throw new MessageTooLargeError(`decompressed batch exceeds ${maxBytes} bytes`)
    }
    chunks.push(value)
  }
  if (chunks.length === 1) return chunks[0]!
  const out = new Uint8Array(total)
  let pos = 0
  for (const chunk of chunks) {
    out.set(chunk, pos)
    pos += chunk.length
  }
  return out
}

function streamOf (data: Uint8Array): ReadableStream<BufferSource> {
  return new ReadableStream<BufferSource>({
    start (controller) {
      controller.enqueue(data as Uint8Array<ArrayBuffer>)
      controller.close()
    },
  })
}

const webGzip: CompressionCodec = {
  async compress (data) {
    return drain(streamOf(data).pipeThrough(new CompressionStream('gzip')), Number.MAX_SAFE_INTEGER)
  },
  async decompress (data, maxBytes) {
    try {
      return await drain(streamOf(data).pipeThrough(new DecompressionStream('gzip')), maxBytes)
    } catch (err) {
      if (err instanceof MessageTooLargeError) throw err
      throw new CorruptRecordError(`gzip records do not decompress: ${(err as Error).message}`, { cause: err })
    }
  },
}

const codecs = new Map<number, CompressionCodec>()
if (typeof CompressionStream === 'function') codecs.set(Compression.gzip, webGzip)

/** Installs (or replaces) the codec for a compression code. */
export function registerCompressionCodec (compression: CompressionCode, codec: CompressionCodec): void {
  codecs.set(compression, codec)
}

/** The codec for a compression code; throws UnsupportedCompressionTypeError if none. */
export function compressionCodec (compression: number): CompressionCodec {
  const codec = codecs.get(compression)
  if (codec === undefined) {
    throw new UnsupportedCompressionTypeError(`no codec registered for compression code ${compression}`)
  }
  return codec
}

/** The attribute code for a compression name. */
export function compressionCode (name: CompressionName): CompressionCode {
  const code = Compression[name]
  if (code === undefined) throw new UnsupportedCompressionTypeError(`unknown compression ${String(name)}`)
  return code
}
