/**
 * Native compression codecs for Node, each guarded so that it fails only with the two named
 * errors (MessageTooLargeError past `maxBytes`, CorruptRecordError on bad input) and never
 * allocates past `maxBytes` on a header's word:
 *
 * - gzip: node:zlib, bounded by `maxOutputLength`.
 * - snappy: the optional `snappy` package (napi-rs, raw Snappy). The declared length of each
 *   raw stream is read and checked before the native call; the xerial framing (snappy.ts)
 *   is handled here in TS around it.
 * - lz4: the optional `lz4-napi` package's *Frame* compressor (independent 64 KiB blocks, no
 *   checksums, as Kafka's Java client writes); frames are decoded by the pure decoder.
 * - zstd: node:zlib's zstd where it exists (Node >= 22.15; detected by the function, not the
 *   version), else the optional `zstd-napi` (compiled at install). Both get the frame walk of
 *   zstd-frame.ts first, a window limit and an output bound.
 *
 * A loader returns null when its package is absent, so an install without the optional
 * dependencies still works (node-codecs.ts then keeps the pure implementations).
 */

import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import * as zlib from 'node:zlib'
import { CorruptRecordError, MessageTooLargeError, UnsupportedCompressionTypeError } from '../protocol/errors.js'
import { guardDecompress, type SyncCompressionCodec } from '../protocol/record-batch/compression.js'
import { lz4Decode } from '../protocol/record-batch/lz4.js'
import { isXerialSnappy, snappyEncodeFramed, snappyRawLength, xerialBlocks } from '../protocol/record-batch/snappy.js'
import { ZSTD_MAX_WINDOW_LOG, zstdFrameScan } from '../protocol/record-batch/zstd-frame.js'

/** A Node codec: synchronous functions (the broker's append path) and asynchronous ones. */
export interface NodeCodec extends SyncCompressionCodec {
  /** What implements it, e.g. `snappy 7.4.3 (native)`; shown by benchmarks and tests. */
  readonly implementation: string
  compress (data: Uint8Array): Promise<Uint8Array>
  decompress (data: Uint8Array, maxBytes: number): Promise<Uint8Array>
}

/** Zstd level the encoders use (Kafka's default, compression.zstd.level = 3). */
export const ZSTD_LEVEL = 3

const require = createRequire(import.meta.url)

function asBuffer (data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
}

function bytes (b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

function tooLarge (maxBytes: number, cause?: unknown): MessageTooLargeError {
  return new MessageTooLargeError(`decompressed batch exceeds ${maxBytes} bytes`, cause === undefined ? undefined : { cause })
}

/** The installed version of a package (read beside its entry point: not every package exports package.json). */
function packageVersion (name: string): string {
  try {
    let dir = dirname(require.resolve(name))
    for (let i = 0; i < 5; i++, dir = dirname(dir)) {
      const file = join(dir, 'package.json')
      if (!existsSync(file)) continue
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string, version?: string }
      if (pkg.name === name) return pkg.version ?? '?'
    }
  } catch {
    // fall through
  }
  return '?'
}

/** Loads an optional package, or null when it is not installed (or its binary does not load). */
function optional<T> (name: string): T | null {
  try {
    return require(name) as T
  } catch {
    return null
  }
}

/** A NodeCodec from sync functions (guarded); its async functions run them on the calling thread. */
export function fromSync (implementation: string, name: string, codec: SyncCompressionCodec): NodeCodec {
  const compress = codec.compressSync
  return {
    implementation,
    compressSync: compress,
    decompressSync: (data, maxBytes) => guardDecompress(name, () => codec.decompressSync(data, maxBytes)),
    async compress (data) {
      if (compress === null) throw new UnsupportedCompressionTypeError(`${implementation} cannot compress`)
      return compress(data)
    },
    async decompress (data, maxBytes) {
      return guardDecompress(name, () => codec.decompressSync(data, maxBytes))
    },
  }
}

// ---------------------------------------------------------------------------------------
// gzip
// ---------------------------------------------------------------------------------------

const gzipAsync = (data: Uint8Array): Promise<Buffer> => new Promise((resolve, reject) => zlib.gzip(data, (err, out) => err === null ? resolve(out) : reject(err)))
const gunzipAsync = (data: Uint8Array, maxBytes: number): Promise<Buffer> => new Promise((resolve, reject) => {
  zlib.gunzip(data, { maxOutputLength: maxBytes }, (err, out) => err === null ? resolve(out) : reject(err))
})

function gunzipError (err: unknown, maxBytes: number): Error {
  if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return tooLarge(maxBytes, err)
  return new CorruptRecordError(`gzip records do not decompress: ${(err as Error).message}`, { cause: err })
}

export function zlibGzip (): NodeCodec {
  return {
    implementation: `node:zlib gzip (zlib ${process.versions.zlib})`,
    compressSync: data => bytes(zlib.gzipSync(data)),
    decompressSync (data, maxBytes) {
      try {
        return bytes(zlib.gunzipSync(data, { maxOutputLength: maxBytes }))
      } catch (err) {
        throw gunzipError(err, maxBytes)
      }
    },
    async compress (data) {
      return bytes(await gzipAsync(data))
    },
    async decompress (data, maxBytes) {
      try {
        return bytes(await gunzipAsync(data, maxBytes))
      } catch (err) {
        throw gunzipError(err, maxBytes)
      }
    },
  }
}

// ---------------------------------------------------------------------------------------
// snappy (napi-rs `snappy`)
// ---------------------------------------------------------------------------------------

interface SnappyBinding {
  compressSync (input: Uint8Array, options?: { copyOutputData?: boolean }): Buffer
  uncompressSync (input: Uint8Array, options?: { asBuffer?: boolean, copyOutputData?: boolean }): Buffer | string
}

/**
 * Output copied into a V8-allocated buffer: the package's default, an external buffer,
 * measured several times slower over many calls (~330 vs ~2900 MiB/s decoding 540 KiB).
 */
const SNAPPY_OUT = { asBuffer: true, copyOutputData: true } as const

export function nativeSnappy (): NodeCodec | null {
  const native = optional<SnappyBinding>('snappy')
  if (native === null) return null
  const raw = (data: Uint8Array, maxBytes: number): Uint8Array => {
    const { length } = snappyRawLength(data, 0, data.length)
    if (length > maxBytes) throw tooLarge(maxBytes)
    const out = native.uncompressSync(asBuffer(data), SNAPPY_OUT) as Buffer
    if (out.length !== length) throw new CorruptRecordError(`snappy stream decodes to ${out.length} bytes, its header says ${length}`)
    return bytes(out)
  }
  return fromSync(`snappy ${packageVersion('snappy')} (native)`, 'snappy', {
    compressSync: data => snappyEncodeFramed(data, block => bytes(native.compressSync(asBuffer(block), SNAPPY_OUT))),
    decompressSync (data, maxBytes) {
      if (!isXerialSnappy(data)) return raw(data, maxBytes)
      const { blocks, total } = xerialBlocks(data, maxBytes)
      if (blocks.length === 1) return raw(data.subarray(blocks[0]!.start, blocks[0]!.end), maxBytes)
      const out = new Uint8Array(total)
      let at = 0
      for (const b of blocks) {
        out.set(raw(data.subarray(b.start, b.end), maxBytes), at)
        at += b.length
      }
      return out
    },
  })
}

// ---------------------------------------------------------------------------------------
// lz4 (`lz4-napi`, frame functions)
// ---------------------------------------------------------------------------------------

interface Lz4Binding {
  compressFrameSync (data: Buffer): Buffer
}

export function nativeLz4 (): NodeCodec | null {
  const native = optional<Lz4Binding>('lz4-napi')
  if (native === null) return null
  return fromSync(`lz4-napi ${packageVersion('lz4-napi')} (native compress, TS decompress)`, 'lz4', {
    compressSync: data => bytes(native.compressFrameSync(asBuffer(data))),
    // Decoding stays in TS: lz4-napi's frame decoder measured slower on Kafka-like records
    // (long overlapping matches; bench/codecs.ts: ~150 vs ~700 MiB/s), and it stops silently
    // after the first of several frames and has no output bound.
    decompressSync: lz4Decode,
  })
}

// ---------------------------------------------------------------------------------------
// zstd: node:zlib (Node >= 22.15) or `zstd-napi`
// ---------------------------------------------------------------------------------------

interface ZlibZstd {
  zstdCompressSync (data: Uint8Array, options?: object): Buffer
  zstdDecompressSync (data: Uint8Array, options?: object): Buffer
  zstdCompress (data: Uint8Array, options: object, cb: (err: Error | null, out: Buffer) => void): void
  zstdDecompress (data: Uint8Array, options: object, cb: (err: Error | null, out: Buffer) => void): void
  constants: { ZSTD_c_compressionLevel: number, ZSTD_d_windowLogMax: number }
}

function zstdError (err: unknown, maxBytes: number): Error {
  if (err instanceof MessageTooLargeError || err instanceof CorruptRecordError) return err
  if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return tooLarge(maxBytes, err)
  return new CorruptRecordError(`zstd records do not decompress: ${(err as Error).message}`, { cause: err })
}

function concat (parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/**
 * node:zlib's zstd, when this Node has it (feature-detected). It stops after the first frame
 * (and does not skip a leading skippable frame), so each frame the walk found is decoded on
 * its own, with what is left of `maxBytes` as its output limit.
 */
export function zlibZstd (): NodeCodec | null {
  const z = zlib as unknown as Partial<ZlibZstd>
  if (typeof z.zstdCompressSync !== 'function' || typeof z.zstdDecompressSync !== 'function' ||
    typeof z.zstdCompress !== 'function' || typeof z.zstdDecompress !== 'function' || z.constants === undefined) return null
  const api = z as ZlibZstd
  const compressOptions = { params: { [api.constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL } }
  const decompressOptions = (left: number): object => ({ maxOutputLength: Math.max(1, left), params: { [api.constants.ZSTD_d_windowLogMax]: ZSTD_MAX_WINDOW_LOG } })
  const checked = (out: Buffer, left: number, maxBytes: number): Uint8Array => {
    if (out.length > left) throw tooLarge(maxBytes)
    return bytes(out)
  }
  return {
    implementation: `node:zlib zstd (Node ${process.version})`,
    compressSync: data => bytes(api.zstdCompressSync(data, compressOptions)),
    decompressSync (data, maxBytes) {
      try {
        const { frames } = zstdFrameScan(data, maxBytes)
        const parts: Uint8Array[] = []
        let left = maxBytes
        for (const f of frames) {
          const part = checked(api.zstdDecompressSync(data.subarray(f.start, f.end), decompressOptions(left)), left, maxBytes)
          left -= part.length
          parts.push(part)
        }
        return concat(parts)
      } catch (err) {
        throw zstdError(err, maxBytes)
      }
    },
    async compress (data) {
      return bytes(await new Promise<Buffer>((resolve, reject) => api.zstdCompress(data, compressOptions, (err, out) => err === null ? resolve(out) : reject(err))))
    },
    async decompress (data, maxBytes) {
      try {
        const { frames } = zstdFrameScan(data, maxBytes)
        const parts: Uint8Array[] = []
        let left = maxBytes
        for (const f of frames) {
          const out = await new Promise<Buffer>((resolve, reject) => {
            api.zstdDecompress(data.subarray(f.start, f.end), decompressOptions(left), (err, o) => err === null ? resolve(o) : reject(err))
          })
          const part = checked(out, left, maxBytes)
          left -= part.length
          parts.push(part)
        }
        return concat(parts)
      } catch (err) {
        throw zstdError(err, maxBytes)
      }
    },
  }
}

interface ZstdNapiBinding {
  CCtx: new () => { compress (dst: Uint8Array, src: Uint8Array, level: number): number }
  DCtx: new () => { decompress (dst: Uint8Array, src: Uint8Array): number }
  compressBound (size: number): number
}

/** The optional `zstd-napi` package (Node versions without zlib zstd). */
export function napiZstd (): NodeCodec | null {
  const native = optional<ZstdNapiBinding>('zstd-napi/binding')
  if (native === null) return null
  let cctx: InstanceType<ZstdNapiBinding['CCtx']> | null = null
  let dctx: InstanceType<ZstdNapiBinding['DCtx']> | null = null
  return fromSync(`zstd-napi ${packageVersion('zstd-napi')} (native)`, 'zstd', {
    compressSync (data) {
      cctx ??= new native.CCtx()
      const out = Buffer.allocUnsafe(native.compressBound(data.length))
      return bytes(out.subarray(0, cctx.compress(out, data, ZSTD_LEVEL)))
    },
    decompressSync (data, maxBytes) {
      // One-shot decoding into a buffer of the walk's bound: no window buffer, and the
      // library fails rather than write past the buffer.
      const { bound } = zstdFrameScan(data, maxBytes)
      const capped = bound > maxBytes
      const out = Buffer.allocUnsafe(Math.min(bound, maxBytes))
      dctx ??= new native.DCtx()
      try {
        return bytes(out.subarray(0, dctx.decompress(out, data)))
      } catch (err) {
        if (capped && /too small/i.test((err as Error).message)) throw tooLarge(maxBytes, err)
        throw new CorruptRecordError(`zstd records do not decompress: ${(err as Error).message}`, { cause: err })
      }
    },
  })
}
