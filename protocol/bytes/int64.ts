/**
 * 64-bit integers as JS numbers. Offsets, timestamps and producer ids are int64 on the wire
 * and on disk; Spool keeps them as numbers, exact up to 2^53 (about 285,000 years of
 * milliseconds, or 9e15 offsets), and rejects anything larger instead of rounding it.
 */

import { CorruptRecordError } from '../errors.js'

const TWO_32 = 0x100000000

/** Reads a big-endian int64 at `pos` as a number; throws if it is not a safe integer. */
export function readInt64 (view: DataView, pos: number): number {
  const hi = view.getInt32(pos)
  const lo = view.getUint32(pos + 4)
  const value = hi * TWO_32 + lo
  if (!Number.isSafeInteger(value)) throw new CorruptRecordError(`int64 at ${pos} is outside the safe integer range`)
  return value
}

/** Writes a safe-integer `value` as a big-endian int64 at `pos`. */
export function writeInt64 (view: DataView, pos: number, value: number): void {
  const hi = Math.floor(value / TWO_32)
  view.setInt32(pos, hi)
  view.setUint32(pos + 4, value - hi * TWO_32)
}
