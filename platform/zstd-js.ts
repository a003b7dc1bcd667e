/**
 * zstd decoding in pure JS (the `fzstd` package), for hosts without a native zstd: the
 * browser bundle, and Node 20 when the optional `zstd-napi` did not install. Browser-safe: no
 * Node APIs. There is no pure-JS zstd *encoder* of reasonable size, so such hosts read zstd
 * batches but do not write them.
 *
 * fzstd trusts the frame it is given, so the input is walked first (zstdFrameScan: window
 * limit, declared sizes against `maxBytes`, block sizes against the input) and the output is
 * counted as fzstd streams it, failing with MessageTooLargeError the moment it passes
 * `maxBytes`. fzstd sizes a buffer from each frame's declared window and copies that window
 * once per block, so a declared window larger than what the frame can decode to is lowered
 * to that size (on a copy of the input; what the frame decodes to does not change, since
 * nothing can refer back past the start of the output). fzstd does not verify the optional
 * content checksum; Kafka producers do not write one by default, and the record walk that
 * follows every decompression catches a frame that decodes to the wrong bytes.
 */

import { Decompress } from 'fzstd'
import { CorruptRecordError, MessageTooLargeError } from '../protocol/errors.js'
import { guardDecompress, type SyncCompressionCodec } from '../protocol/record-batch/compression.js'
import { zstdFrameScan, zstdWindowDescriptorFor } from '../protocol/record-batch/zstd-frame.js'

const BLOCK_SIZE_MAX = 128 * 1024

/** Decodes every zstd frame in `data`, producing at most `maxBytes`. */
export function zstdDecodeJs (data: Uint8Array, maxBytes: number): Uint8Array {
  const { frames } = zstdFrameScan(data, maxBytes)
  let input = data
  for (const f of frames) {
    if (f.windowDescriptorAt < 0) continue
    const needed = Math.max(Math.min(f.bound, maxBytes), Math.min(f.windowSize, BLOCK_SIZE_MAX))
    if (needed * 2 > f.windowSize) continue
    if (input === data) input = data.slice()
    input[f.windowDescriptorAt] = zstdWindowDescriptorFor(needed)
  }
  const chunks: Uint8Array[] = []
  let total = 0
  const decoder = new Decompress(chunk => {
    total += chunk.length
    if (total > maxBytes) throw new MessageTooLargeError(`decompressed batch exceeds ${maxBytes} bytes`)
    chunks.push(chunk)
  })
  guardDecompress('zstd', () => decoder.push(input, true))
  const declared = frames.every(f => f.contentSize >= 0) ? frames.reduce((n, f) => n + f.contentSize, 0) : -1
  if (declared >= 0 && declared !== total) throw new CorruptRecordError(`zstd frames decode to ${total} bytes, they declare ${declared}`)
  if (chunks.length === 1) return chunks[0]!
  const out = new Uint8Array(total)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}

/** fzstd as a decode-only codec. */
export const jsZstd: SyncCompressionCodec = {
  compressSync: null,
  decompressSync: (data, maxBytes) => guardDecompress('zstd', () => zstdDecodeJs(data, maxBytes)),
}
