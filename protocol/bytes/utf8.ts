/**
 * UTF-8 encoding of the short strings a producer is handed (string keys, values and header
 * values), without a fresh ArrayBuffer per string: `TextEncoder.encodeInto` writes them one
 * after another into a shared 64 KiB block and each caller gets a view of its bytes. A block
 * is never written twice (a full one is left to the views still holding it and a new one
 * started), so a view stays valid for as long as it is held. Strings that could take more
 * than a quarter of a block are encoded on their own (`TextEncoder.encode`), so one large
 * value never strands most of a block. The bytes are exactly TextEncoder's (lone surrogates
 * become U+FFFD in both).
 */

const BLOCK_BYTES = 64 * 1024
/** Strings whose worst case (3 bytes per UTF-16 unit) exceeds this get their own buffer. */
const MAX_SHARED_BYTES = BLOCK_BYTES / 4

const encoder = new TextEncoder()
let block = new Uint8Array(BLOCK_BYTES)
let used = 0

/** The UTF-8 of `s`: a view of a shared block for short strings (callers must not write to it). */
export function encodeUtf8 (s: string): Uint8Array {
  const worst = s.length * 3
  if (worst > MAX_SHARED_BYTES) return encoder.encode(s)
  if (used + worst > BLOCK_BYTES) {
    block = new Uint8Array(BLOCK_BYTES)
    used = 0
  }
  const start = used
  const { written } = encoder.encodeInto(s, block.subarray(start))
  used = start + written
  return block.subarray(start, used)
}
