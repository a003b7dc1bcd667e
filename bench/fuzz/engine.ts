/**
 * The fuzzing engine shared by `npm run fuzz` (bench/fuzz/fuzz.ts) and the fuzz tests in
 * `npm test`: a seeded generator, AFL-style byte mutations, and the runner of a codec target.
 *
 * A codec target has two halves:
 *   - a fast-check property (random *valid* values: round trips, agreement between two
 *     decoders), run with `fc.check` under the run's seed, so a failure is replayed with
 *     `--seed S --path P` (fast-check's counterexample path);
 *   - a mutation case: `generate(rng)` makes an input (random bytes, or a captured or encoded
 *     valid frame mutated a few times) and `check(input, rng)` runs the decoders on it and
 *     throws FuzzFailure when they misbehave (an error that is not one of the named errors,
 *     a view outside the input, two decoders that disagree, a prototype changed). Case `i`
 *     draws from a generator seeded by (seed, target, i) alone, so one failing case is
 *     replayed with `--seed S --case i` without running the cases before it.
 */

import fc from 'fast-check'

// ----- seeded generator -----

/** A small deterministic generator (sfc32) with the helpers fuzzers need. */
export class Rng {
  #a: number
  #b: number
  #c: number
  #d: number

  constructor (seed: number) {
    this.#a = 0x9e3779b9
    this.#b = 0x243f6a88
    this.#c = 0xb7e15162
    this.#d = seed >>> 0
    for (let i = 0; i < 12; i++) this.u32()
  }

  u32 (): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0
    this.#d = (this.#d + 1) >>> 0
    this.#a = this.#b ^ (this.#b >>> 9)
    this.#b = (this.#c + (this.#c << 3)) >>> 0
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0
    this.#c = (this.#c + t) >>> 0
    return t
  }

  /** A float in [0, 1). */
  next (): number { return this.u32() / 0x100000000 }
  /** An integer in [0, n). */
  int (n: number): number { return n <= 1 ? 0 : Math.floor(this.next() * n) }
  /** An integer in [min, max]. */
  range (min: number, max: number): number { return min + this.int(max - min + 1) }
  chance (p: number): boolean { return this.next() < p }
  pick<T> (items: readonly T[]): T { return items[this.int(items.length)]! }
  bytes (n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff
    return out
  }

  /** Mostly small numbers, sometimes large ones (sizes of things). */
  small (max: number): number {
    const r = this.next()
    return Math.min(max, Math.floor(max ** (r * r)))
  }
}

function hash32 (text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/** The generator of case `index` of `target` in the run of `seed`. */
export function caseRng (seed: number, target: string, index: number): Rng {
  let h = Math.imul((seed >>> 0) ^ hash32(target), 0x85ebca6b) ^ Math.imul(index + 0x27d4eb2f, 0xc2b2ae35)
  h ^= h >>> 15
  return new Rng(h >>> 0)
}

// ----- mutations -----

/** A copy (Buffer#slice would be a view: Buffers from Node APIs must be copied like this). */
export function copyBytes (b: Uint8Array): Uint8Array {
  return new Uint8Array(b)
}

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xfe, 0xff]
const INTERESTING_16 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xfffe, 0xffff]
const INTERESTING_32 = [0, 1, 0x7f, 0x80, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x1000001, 0x100000]

function setBE (b: Uint8Array, at: number, width: number, value: number): void {
  for (let i = width - 1; i >= 0; i--) {
    if (at + i < b.length) b[at + i] = value & 0xff
    value = Math.floor(value / 256)
  }
}

function insertAt (b: Uint8Array, at: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length + bytes.length)
  out.set(b.subarray(0, at), 0)
  out.set(bytes, at)
  out.set(b.subarray(at), at + bytes.length)
  return out
}

function removeRange (b: Uint8Array, at: number, n: number): Uint8Array {
  const out = new Uint8Array(b.length - n)
  out.set(b.subarray(0, at), 0)
  out.set(b.subarray(at + n), at)
  return out
}

/**
 * One mutation: bit flips, interesting bytes and big-endian words (lengths!), sizes relative
 * to the input (length ± 1), inserted/removed/duplicated ranges, truncation, random tails,
 * runs of varint continuation bytes, and splices with another corpus entry.
 */
export function mutateOnce (input: Uint8Array, rng: Rng, corpus: readonly Uint8Array[] = []): Uint8Array {
  const b = copyBytes(input)
  const n = b.length
  const at = rng.int(Math.max(1, n))
  switch (rng.int(n === 0 ? 2 : 13)) {
    case 0: return rng.bytes(rng.range(1, 16))
    case 1: return insertAt(b, at, rng.bytes(rng.range(1, 16)))
    case 2: b[at] = b[at]! ^ (1 << rng.int(8)); return b
    case 3: b[at] = rng.pick(INTERESTING_8); return b
    case 4: b[at] = rng.u32() & 0xff; return b
    case 5: setBE(b, at, 2, rng.chance(0.3) ? (n - at + rng.range(-3, 3)) & 0xffff : rng.pick(INTERESTING_16)); return b
    case 6: setBE(b, at, 4, rng.chance(0.3) ? (n - at + rng.range(-5, 5)) >>> 0 : rng.pick(INTERESTING_32)); return b
    case 7: return removeRange(b, at, Math.min(n - at, rng.range(1, 16)))
    case 8: {
      const len = Math.min(n - at, rng.range(1, 32))
      return insertAt(b, rng.int(n + 1), copyBytes(b.subarray(at, at + len)))
    }
    case 9: return b.subarray(0, rng.int(n))
    case 10: {
      const run = rng.range(1, 10)
      for (let i = 0; i < run && at + i < n; i++) b[at + i] = 0x80 | (rng.u32() & 0x7f)
      return b
    }
    case 11: {
      if (corpus.length === 0) return insertAt(b, n, rng.bytes(rng.range(1, 8)))
      const other = rng.pick(corpus)
      const cut = rng.int(other.length + 1)
      const out = new Uint8Array(at + other.length - cut)
      out.set(b.subarray(0, at), 0)
      out.set(other.subarray(cut), at)
      return out
    }
    default: {
      // A whole word overwritten with a random value (a length or count from nowhere).
      setBE(b, at, rng.pick([2, 4, 8]), rng.u32())
      return b
    }
  }
}

/** One to `max` mutations in a row (mostly few). */
export function mutate (input: Uint8Array, rng: Rng, corpus: readonly Uint8Array[] = [], max = 4): Uint8Array {
  let out = input
  const times = 1 + rng.small(max)
  for (let i = 0; i < times; i++) out = mutateOnce(out, rng, corpus)
  return out
}

/** Random chunk boundaries for `length` bytes (byte-at-a-time included). */
export function chunking (length: number, rng: Rng): number[] {
  const cuts: number[] = []
  const mode = rng.int(4)
  let pos = 0
  while (pos < length) {
    const step = mode === 0 ? 1 : mode === 1 ? rng.range(1, 7) : mode === 2 ? rng.range(1, 64) : length
    pos = Math.min(length, pos + step)
    cuts.push(pos)
  }
  return cuts
}

/** `bytes` split at `cuts` (from chunking). */
export function chunks (bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = []
  let pos = 0
  for (const c of cuts) {
    out.push(bytes.subarray(pos, c))
    pos = c
  }
  return out
}

// ----- checks -----

/** A property the decoders broke; `input` is what they were given (when there is one). */
export class FuzzFailure extends Error {
  override readonly name = 'FuzzFailure'
}

/**
 * A failure of a kind already reported and not fixed here (a third-party decoder's bug):
 * counted and shown with its first reproducer, but not a new failure. `id` names the report.
 */
export class KnownDefect extends FuzzFailure {
  constructor (readonly id: string, message: string) {
    super(`${id}: ${message}`)
  }
}

type ErrorClass = abstract new (...args: never[]) => Error

/** Rethrows `err` as a FuzzFailure unless it is an instance of one of `allowed`. */
export function expectNamed (err: unknown, allowed: readonly ErrorClass[], where: string): void {
  if (allowed.some(c => err instanceof c)) return
  if (err instanceof FuzzFailure) throw err
  const e = err as Error
  throw new FuzzFailure(`${where}: ${e?.name ?? typeof err} (not a named error): ${String(e?.message ?? err).slice(0, 300)}`, { cause: err })
}

/** Every Uint8Array reachable from `value` lies inside `input` (or is a fresh buffer). */
export function viewsInside (value: unknown, input: Uint8Array, where: string, depth = 0): void {
  if (depth > 64 || value === null || typeof value !== 'object') return
  if (value instanceof Uint8Array) {
    if (value.buffer !== input.buffer) return
    if (value.byteOffset < input.byteOffset || value.byteOffset + value.byteLength > input.byteOffset + input.byteLength) {
      throw new FuzzFailure(`${where}: a decoded view [${value.byteOffset}, +${value.byteLength}) lies outside the input [${input.byteOffset}, +${input.byteLength})`)
    }
    return
  }
  for (const v of Object.values(value as Record<string, unknown>)) viewsInside(v, input, where, depth + 1)
}

const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).join(',')

/** Decoding must never add to Object.prototype (a `__proto__` key in a map). */
export function prototypeUntouched (where: string): void {
  const now = Object.getOwnPropertyNames(Object.prototype).join(',')
  if (now !== PROTOTYPE_KEYS || Object.keys(Object.prototype).length > 0) {
    throw new FuzzFailure(`${where}: Object.prototype changed (${now})`)
  }
}

/** Deep equality where Uint8Arrays compare by content. */
export function same (a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i])
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]))
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a)
    const kb = Object.keys(b)
    return ka.length === kb.length && ka.every(k => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  }
  return Object.is(a, b)
}

export function hex (b: Uint8Array, max = 4096): string {
  return Buffer.from(b.buffer, b.byteOffset, Math.min(b.byteLength, max)).toString('hex') + (b.byteLength > max ? '…' : '')
}

// ----- targets and the runner -----

export interface CodecTarget {
  /** `codec:<name>` on the command line. */
  readonly name: string
  /** One line: what is decoded and what must hold. */
  readonly summary: string
  /** The share of cases given to the property (the rest are mutation cases). */
  readonly propertyShare: number
  /** Random valid values (fast-check). */
  property (): fc.IRawProperty<unknown[]>
  /** One mutation case's input. */
  generate (rng: Rng): Uint8Array
  /**
   * Runs the decoders on `input`; throws FuzzFailure when a rule is broken. May return a
   * label for what happened (`accepted`, `rejected`...), tallied so that a run shows its
   * mutations reach past the first check.
   */
  check (input: Uint8Array, rng: Rng): void | string | Promise<void | string>
}

export interface CaseFailure {
  target: string
  kind: 'property' | 'mutation'
  message: string
  /** The command that replays it. */
  reproduce: string
  /** Mutation cases: the input, in hex. Property cases: the counterexample, printed. */
  input: string
}

export interface TargetResult {
  target: string
  cases: number
  propertyCases: number
  mutationCases: number
  ms: number
  failures: CaseFailure[]
  /** Mutation cases by the label their check returned. */
  outcomes: Record<string, number>
  /** Known defects hit, by id: how often, and the first case that hit it. */
  known: Record<string, { count: number, first: CaseFailure }>
}

export interface RunOptions {
  cases: number
  seed: number
  /** Only this mutation case (a replay). */
  onlyCase?: number
  /** Only the property, along this fast-check path (a replay). */
  path?: string
  /** Failures kept per target (later ones are counted, not kept). */
  maxFailures?: number
  /** A line now and then while long runs go. */
  progress?: (line: string) => void
}

/** Runs one codec target: its property, then its mutation cases. */
export async function runCodecTarget (target: CodecTarget, o: RunOptions): Promise<TargetResult> {
  const started = performance.now()
  const failures: CaseFailure[] = []
  const known: TargetResult['known'] = {}
  const outcomes: Record<string, number> = {}
  const maxFailures = o.maxFailures ?? 10
  const replay = (extra: string): string => `npm run fuzz -- --target codec:${target.name} --seed ${o.seed} ${extra}`
  let propertyCases = 0
  let mutationCases = 0
  if (o.onlyCase === undefined) {
    const numRuns = o.path !== undefined ? 1 : Math.round(o.cases * target.propertyShare)
    if (numRuns > 0) {
      const r = await fc.check(target.property() as fc.IRawProperty<unknown[]>, { numRuns, seed: o.seed, ...(o.path === undefined ? {} : { path: o.path }), endOnFailure: false })
      propertyCases = r.numRuns
      if (r.failed) {
        failures.push({
          target: target.name,
          kind: 'property',
          message: String((r.errorInstance as Error | undefined)?.message ?? 'property returned false').slice(0, 2000),
          reproduce: replay(`--path ${r.counterexamplePath ?? ''}`),
          input: fc.stringify(r.counterexample).slice(0, 4000),
        })
      }
    }
  }
  if (o.path === undefined) {
    const first = o.onlyCase ?? 0
    const total = o.onlyCase !== undefined ? 1 : o.cases - propertyCases
    let nextProgress = performance.now() + 30_000
    for (let i = first; i < first + total; i++) {
      const rng = caseRng(o.seed, target.name, i)
      const input = target.generate(rng)
      try {
        const label = await target.check(input, rng)
        if (typeof label === 'string') outcomes[label] = (outcomes[label] ?? 0) + 1
      } catch (err) {
        const failure: CaseFailure = {
          target: target.name,
          kind: 'mutation',
          message: err instanceof FuzzFailure ? err.message : `check threw ${(err as Error)?.stack ?? String(err)}`,
          reproduce: replay(`--case ${i}`),
          input: hex(input),
        }
        if (err instanceof KnownDefect) {
          const k = (known[err.id] ??= { count: 0, first: failure })
          k.count++
        } else if (failures.length < maxFailures) {
          failures.push(failure)
        }
      }
      mutationCases++
      if (o.progress !== undefined && performance.now() > nextProgress) {
        nextProgress = performance.now() + 30_000
        o.progress(`codec:${target.name}: ${mutationCases} of ${total} mutation cases, ${failures.length} failures`)
      }
    }
  }
  return { target: target.name, cases: propertyCases + mutationCases, propertyCases, mutationCases, ms: performance.now() - started, failures, outcomes, known }
}
