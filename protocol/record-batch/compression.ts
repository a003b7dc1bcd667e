/**
 * Compression codecs for RecordBatch v2 (attribute bits 0-2: 1 gzip, 2 snappy, 3 lz4,
 * 4 zstd). The concatenated records are compressed as one blob after recordsCount; the
 * header stays plain and the CRC covers the compressed bytes (docs/formats.md §1.5).
 *
 * What every host has without installing anything (this file imports no Node API):
 * - gzip through the web-standard CompressionStream (Node >= 18 and browsers);
 * - snappy (raw and xerial-framed; snappy.ts) and lz4 (frame format; lz4.ts) in pure TS.
 * zstd has no pure implementation here: a host registers one (the Node entries register
 * zlib's or a native package's, the browser entry a pure-JS decoder). A Node host also
 * replaces gzip, snappy and lz4 with native implementations (platform/node-codecs.ts).
 *
 * Decompression is always bounded by `maxBytes` so a small batch cannot expand without
 * limit (a "zip bomb"): past it a codec fails with MessageTooLargeError, and on input it
 * cannot decode with CorruptRecordError — never with its library's own error type.
 */

import { CorruptRecordError, MessageTooLargeError, UnsupportedCompressionTypeError } from '../errors.js'
import { SpoolError } from '../errors.js'
import { Compression, type CompressionCode, type CompressionName } from './header.js'
import { lz4Decode, lz4Encode } from './lz4.js'
import { snappyDecode, snappyEncodeFramed } from './snappy.js'

export interface CompressionCodec {
  compress (data: Uint8Array): Promise<Uint8Array>
  /** Must fail with MessageTooLargeError once the output would exceed `maxBytes`. */
  decompress (data: Uint8Array, maxBytes: number): Promise<Uint8Array>
  /**
   * False for a codec this host can read but not write (zstd in a browser): `compress`
   * then rejects with UnsupportedCompressionTypeError. Default true.
   */
  readonly canCompress?: boolean
}

/** A codec with synchronous functions (pure TS, or a native binding's sync calls). */
export interface SyncCompressionCodec {
  /** Null when this implementation can only decompress. */
  readonly compressSync: ((data: Uint8Array) => Uint8Array) | null
  /** Fails with MessageTooLargeError past `maxBytes`, CorruptRecordError on bad input. */
  decompressSync (data: Uint8Array, maxBytes: number): Uint8Array
}

/** Default cap on decompressed size when a caller gives none. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024

/** The name of a compression code (`'code 5'` for codes without one). */
export function compressionName (code: number): string {
  for (const [name, value] of Object.entries(Compression)) if (value === code) return name
  return `code ${code}`
}

/**
 * Runs a decompressor and keeps its failures to the two named errors: Spool errors pass
 * through, anything else (a library's own error, a RangeError) becomes CorruptRecordError.
 */
export function guardDecompress<T> (name: string, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    if (err instanceof SpoolError) throw err
    throw new CorruptRecordError(`${name} records do not decompress: ${(err as Error)?.message ?? String(err)}`, { cause: err })
  }
}

/** The asynchronous face of a synchronous codec (the work runs on the calling thread). */
export function asyncCodec (name: string, codec: SyncCompressionCodec): CompressionCodec {
  const compress = codec.compressSync
  return {
    canCompress: compress !== null,
    async compress (data) {
      if (compress === null) throw new UnsupportedCompressionTypeError(`this host can read ${name} but not write it`)
      return compress(data)
    },
    async decompress (data, maxBytes) {
      return guardDecompress(name, () => codec.decompressSync(data, maxBytes))
    },
  }
}

/** Pure-TS snappy: decodes raw and xerial-framed streams, encodes framed (as Kafka's Java client). */
export const pureSnappy: SyncCompressionCodec = {
  compressSync: data => snappyEncodeFramed(data),
  decompressSync: snappyDecode,
}

/** Pure-TS LZ4 frames. */
export const pureLz4: SyncCompressionCodec = { compressSync: lz4Encode, decompressSync: lz4Decode }

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
codecs.set(Compression.snappy, asyncCodec('snappy', pureSnappy))
codecs.set(Compression.lz4, asyncCodec('lz4', pureLz4))

/** Installs (or replaces) the codec for a compression code. */
export function registerCompressionCodec (compression: CompressionCode, codec: CompressionCodec): void {
  codecs.set(compression, codec)
}

/** The codec for a compression code; throws UnsupportedCompressionTypeError if none. */
export function compressionCodec (compression: number): CompressionCodec {
  const codec = codecs.get(compression)
  if (codec === undefined) {
    throw new UnsupportedCompressionTypeError(`no codec for compression ${compressionName(compression)} on this host`)
  }
  return codec
}

/** True when this host can write batches with this compression code (none always). */
export function canCompress (compression: number): boolean {
  if (compression === Compression.none) return true
  const codec = codecs.get(compression)
  return codec !== undefined && codec.canCompress !== false
}

/** The attribute code for a compression name. */
export function compressionCode (name: CompressionName): CompressionCode {
  const code = Compression[name]
  if (code === undefined) throw new UnsupportedCompressionTypeError(`unknown compression ${String(name)}`)
  return code
}
