/**
 * Structured values for the fuzzers: random msgpack-able values (fast-check), and
 * structure-aware mutation of a decoded body — one node of the tree replaced by a value of
 * another type, an extreme number, a long or odd string, an emptied or repeated array, a
 * dropped or added key — so mutated requests keep their shape and reach the schema checks
 * and the handlers behind them, where byte flips mostly stop at the msgpack decoder.
 */

import fc from 'fast-check'
import type { Rng } from './engine.js'

/** Values msgpack carries and gives back as they were (no -0, no undefined). */
export const msgpackValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>(tie => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true }).filter(d => !Object.is(d, -0)),
    fc.string({ unit: 'grapheme', maxLength: 12 }),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 16 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 8 }), tie('value'), { maxKeys: 4 }),
  ),
})).value

const NUMBERS = [0, -1, 1, 2, -2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, -0x80000000, 0xffffffff,
  2 ** 32, 2 ** 53 - 1, -(2 ** 53), 2 ** 63, 1.5, -0.5, 1e300, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1_000_000, 3_600_001]

function oddString (rng: Rng): string {
  switch (rng.int(9)) {
    case 0: return ''
    case 1: return 'x'.repeat(rng.pick([249, 250, 255, 256, 257, 4096, 4097, 40_000]))
    case 2: return '\u0000'
    case 3: return '\ud800'
    case 4: return 'a/b/../c'
    case 5: return '__consumer_offsets'
    case 6: return '$share/g/t'
    case 7: return 'é'.repeat(rng.range(1, 200))
    default: return String.fromCharCode(...Array.from({ length: rng.range(1, 12) }, () => rng.range(0, 0xffff)))
  }
}

/** A value of some type, mostly extreme. */
export function oddValue (rng: Rng, like?: unknown): unknown {
  switch (rng.int(9)) {
    case 0: return rng.pick(NUMBERS)
    case 1: return typeof like === 'number' ? like + rng.range(-2, 2) : rng.range(-5, 5)
    case 2: return oddString(rng)
    case 3: return null
    case 4: return rng.chance(0.5)
    case 5: return rng.bytes(rng.small(64))
    case 6: return []
    case 7: return {}
    default: return Array.from({ length: rng.small(8) }, () => rng.pick(NUMBERS))
  }
}

function nodes (value: unknown, out: Array<{ parent: unknown, key: string | number }>, depth = 0): void {
  if (depth > 12 || value === null || typeof value !== 'object' || value instanceof Uint8Array) return
  if (Array.isArray(value)) {
    value.forEach((v, i) => { out.push({ parent: value, key: i }); nodes(v, out, depth + 1) })
  } else {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) { out.push({ parent: value, key: k }); nodes(v, out, depth + 1) }
  }
}

function clone (value: unknown): unknown {
  if (value instanceof Uint8Array) return new Uint8Array(value)
  if (Array.isArray(value)) return value.map(clone)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) Object.defineProperty(out, k, { value: clone(v), enumerable: true, writable: true, configurable: true })
    return out
  }
  return value
}

/** One to three structural changes to a copy of `value` (a decoded body). */
export function mutateValue (value: unknown, rng: Rng): unknown {
  const root = { value: clone(value) }
  const times = 1 + rng.small(3)
  for (let t = 0; t < times; t++) {
    const all: Array<{ parent: unknown, key: string | number }> = [{ parent: root, key: 'value' }]
    nodes(root.value, all)
    const { parent, key } = rng.pick(all)
    const holder = parent as Record<string | number, unknown>
    const current = holder[key]
    const r = rng.int(10)
    if (r < 5) {
      holder[key] = oddValue(rng, current)
    } else if (r < 7 && Array.isArray(current)) {
      if (current.length === 0 || rng.chance(0.3)) current.length = 0
      else {
        // Repeat one element (duplicate partitions, topics, ids).
        const el = current[rng.int(current.length)]
        const n = rng.pick([1, 2, 10, 100, 1000])
        for (let i = 0; i < n; i++) current.push(clone(el))
      }
    } else if (r < 9 && current !== null && typeof current === 'object' && !Array.isArray(current) && !(current instanceof Uint8Array)) {
      const obj = current as Record<string, unknown>
      const keys = Object.keys(obj)
      if (keys.length > 0 && rng.chance(0.6)) delete obj[rng.pick(keys)]
      // An own property, also for "__proto__" (an assignment would change the prototype).
      else Object.defineProperty(obj, rng.pick(['__proto__', 'constructor', 'extra', 'toString', '']), { value: oddValue(rng), enumerable: true, writable: true, configurable: true })
    } else {
      holder[key] = oddValue(rng)
    }
  }
  return root.value
}
