/**
 * xxHash32, the checksum of the LZ4 frame format (header checksum, optional block and content
 * checksums). Written from the published algorithm description: four 32-bit lanes over
 * 16-byte stripes, then the tail in 4-byte and 1-byte steps, then an avalanche. Pure JS
 * (Math.imul), no Node APIs.
 */

const P1 = 0x9e3779b1
const P2 = 0x85ebca77
const P3 = 0xc2b2ae3d
const P4 = 0x27d4eb2f
const P5 = 0x165667b1

function rotl (x: number, r: number): number {
  return (x << r) | (x >>> (32 - r))
}

function u32le (d: Uint8Array, i: number): number {
  return (d[i]! | (d[i + 1]! << 8) | (d[i + 2]! << 16) | (d[i + 3]! << 24)) >>> 0
}

function round (acc: number, lane: number): number {
  return Math.imul(rotl((acc + Math.imul(lane, P2)) | 0, 13), P1)
}

/** xxHash32 of `data[start, end)` with `seed`; an unsigned 32-bit value. */
export function xxhash32 (data: Uint8Array, start = 0, end = data.length, seed = 0): number {
  const length = end - start
  let i = start
  let acc: number
  if (length >= 16) {
    let v1 = (seed + P1 + P2) | 0
    let v2 = (seed + P2) | 0
    let v3 = seed | 0
    let v4 = (seed - P1) | 0
    const limit = end - 16
    while (i <= limit) {
      v1 = round(v1, u32le(data, i))
      v2 = round(v2, u32le(data, i + 4))
      v3 = round(v3, u32le(data, i + 8))
      v4 = round(v4, u32le(data, i + 12))
      i += 16
    }
    acc = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0
  } else {
    acc = (seed + P5) | 0
  }
  acc = (acc + length) | 0
  while (i + 4 <= end) {
    acc = Math.imul(rotl((acc + Math.imul(u32le(data, i), P3)) | 0, 17), P4)
    i += 4
  }
  while (i < end) {
    acc = Math.imul(rotl((acc + Math.imul(data[i]!, P5)) | 0, 11), P1)
    i++
  }
  acc ^= acc >>> 15
  acc = Math.imul(acc, P2)
  acc ^= acc >>> 13
  acc = Math.imul(acc, P3)
  acc ^= acc >>> 16
  return acc >>> 0
}
