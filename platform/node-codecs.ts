/**
 * Node-only speed-ups for the pure codecs in protocol/, installed by the Node entries of
 * both the broker and the client: a native CRC-32C when the optional `@node-rs/crc32` package
 * is present, and for each compression codec the fastest implementation this process has
 * (native-codecs.ts), falling back to the pure ones:
 *
 *   gzip    node:zlib
 *   snappy  `snappy` (native; the xerial framing in TS around it)   else pure TS (snappy.ts)
 *   lz4     `lz4-napi` frames (native) for compressing; decoded in TS (lz4.ts), which measured
 *           faster on Kafka-like records — without the package, TS for everything
 *   zstd    node:zlib (Node >= 22.15)    else `zstd-napi` (native)   else fzstd (read only)
 *
 * (bench/codecs.ts measures what each costs the broker per MiB appended.)
 *
 * protocol/ stays free of Node APIs and the browser bundle never imports this file (there
 * browser-codecs.ts installs the pure-JS zstd decoder). platform/ depends only on protocol/,
 * so broker and client can share it without depending on each other.
 */

import { createRequire } from 'node:module'
import { setNativeCrc32c } from '../protocol/bytes/crc32c.js'
import { UnsupportedCompressionTypeError } from '../protocol/errors.js'
import { compressionName, pureLz4, pureSnappy, registerCompressionCodec } from '../protocol/record-batch/compression.js'
import { Compression, type CompressionCode } from '../protocol/record-batch/header.js'
import { fromSync, napiZstd, nativeLz4, nativeSnappy, type NodeCodec, zlibGzip, zlibZstd } from './native-codecs.js'
import { jsZstd } from './zstd-js.js'

export type { NodeCodec } from './native-codecs.js'

/** Codec implementations by compression code. */
export type NodeCodecSet = ReadonlyMap<CompressionCode, NodeCodec>

/** The pure implementations (what a Node install without the optional packages runs). */
export function pureNodeCodecs (): NodeCodecSet {
  return new Map<CompressionCode, NodeCodec>([
    [Compression.gzip, zlibGzip()],
    [Compression.snappy, fromSync('pure TS snappy', 'snappy', pureSnappy)],
    [Compression.lz4, fromSync('pure TS lz4', 'lz4', pureLz4)],
    [Compression.zstd, fromSync('fzstd (pure JS, read only)', 'zstd', jsZstd)],
  ])
}

/** The fastest implementation of each codec this process can load. */
export function bestNodeCodecs (): NodeCodecSet {
  const fallback = pureNodeCodecs()
  return new Map<CompressionCode, NodeCodec>([
    [Compression.gzip, fallback.get(Compression.gzip)!],
    [Compression.snappy, nativeSnappy() ?? fallback.get(Compression.snappy)!],
    [Compression.lz4, nativeLz4() ?? fallback.get(Compression.lz4)!],
    [Compression.zstd, zlibZstd() ?? napiZstd() ?? fallback.get(Compression.zstd)!],
  ])
}

let chosen: NodeCodecSet | null = null
let installed = false

/** The implementations this process uses (chosen once; does not touch the registry). */
export function nodeCodecs (): NodeCodecSet {
  chosen ??= bestNodeCodecs()
  return chosen
}

/**
 * Installs the native CRC-32C (when present) and nodeCodecs() into protocol/'s codec
 * registry, once (synchronously, so the entry needs no top-level await).
 */
export function installNodeCodecs (): void {
  if (installed) return
  installed = true
  try {
    const native = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c (data: Buffer): number }
    setNativeCrc32c(data => native.crc32c(Buffer.from(data.buffer, data.byteOffset, data.byteLength)))
  } catch {
    // Optional dependency absent: the JS slicing-by-8 implementation stays in use.
  }
  for (const [code, codec] of nodeCodecs()) {
    registerCompressionCodec(code, { canCompress: codec.compressSync !== null, compress: codec.compress, decompress: codec.decompress })
  }
}

/**
 * Decompresses synchronously with the installed implementation (the broker's append path).
 * Throws UnsupportedCompressionTypeError for a code with no codec (none, 5-7).
 */
export function decompressSync (compression: number, data: Uint8Array, maxBytes: number): Uint8Array {
  const codec = nodeCodecs().get(compression as CompressionCode)
  if (codec === undefined) throw new UnsupportedCompressionTypeError(`compression ${compressionName(compression)} is not supported`)
  return codec.decompressSync(data, maxBytes)
}
