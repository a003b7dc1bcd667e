/**
 * The timing loop and the output checks of the codec micro-benchmarks (bench/scenarios/micro.ts).
 *
 * A case is one operation (e.g. "CRC-32C of 1 KiB") done by several subjects (Spool and
 * other libraries). Before anything is timed, every subject that implements the same
 * algorithm as Spool must give Spool's output for the case's input (`checkCase`): a
 * mismatch is a BenchOutputMismatchError, never a row. Then each subject is calibrated to
 * about `sampleMs` per sample and the samples are taken round-robin over the subjects (so
 * drift of the machine is spread over all of them); a row is the median of a subject's
 * samples, in items per second (bytes as MB/s for checksums).
 */

import { BenchOutputMismatchError } from './errors.js'
import type { Row } from './result.js'
import { median } from './stats.js'

export interface MicroSubject {
  /** The row's system: 'Spool', 'Spool pure JS', a package name. */
  system: string
  /** One call: the operation once over the case's input. */
  run: () => unknown
  /** Whether `run` returns a promise (kafkajs' record batch code is async). */
  async?: boolean
  /**
   * The output compared with Spool's before timing, normalised to plain data (numbers,
   * strings, arrays, objects; bytes as hex). Omitted: a different algorithm (e.g. IEEE
   * CRC-32 next to CRC-32C), compared for speed only; the case's notes must say so.
   */
  output?: () => unknown | Promise<unknown>
}

export interface MicroCase {
  /** The row's configuration name. */
  name: string
  metric: string
  unit: string
  /** Items one call handles (bytes for MB/s, records, varints, packets). */
  itemsPerCall: number
  /** 1e6 for MB/s (items are bytes), 1 for items per second. */
  divisor: number
  subjects: MicroSubject[]
  notes?: string[]
}

export interface MicroSizes { sampleMs: number, samples: number }

/** Plain data for comparing outputs: bytes become hex, the rest is kept. */
export function plain (value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')
  if (Array.isArray(value)) return value.map(plain)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = plain(v)
    return out
  }
  return value
}

function firstDifference (a: unknown, b: unknown, path = ''): string | null {
  if (typeof a !== typeof b) return `${path || 'value'}: ${typeof a} vs ${typeof b}`
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${path}.length: ${a.length} vs ${b.length}`
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`)
      if (d !== null) return d
    }
    return null
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)])
    for (const k of keys) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`)
      if (d !== null) return d
    }
    return null
  }
  if (a === b) return null
  const show = (v: unknown): string => JSON.stringify(v)?.slice(0, 80) ?? String(v)
  return `${path || 'value'}: ${show(a)} vs ${show(b)}`
}

/**
 * Checks that every subject with an `output` gives the first subject's (Spool's) output;
 * throws BenchOutputMismatchError naming the first difference. Returns how many subjects
 * were compared (the first included).
 */
export async function checkCase (c: MicroCase): Promise<number> {
  const reference = c.subjects[0]
  if (reference?.output === undefined) throw new BenchOutputMismatchError(`${c.name}: the first subject (${reference?.system ?? 'none'}) has no output to compare with`)
  const expected = plain(await reference.output())
  let compared = 1
  for (const s of c.subjects.slice(1)) {
    if (s.output === undefined) continue
    const diff = firstDifference(expected, plain(await s.output()))
    if (diff !== null) throw new BenchOutputMismatchError(`${c.name}: ${s.system} differs from ${reference.system} (${diff}); not timed`)
    compared++
  }
  return compared
}

let sink = 0

function consume (value: unknown): void {
  // Keeps results alive so a call cannot be optimised away.
  if (typeof value === 'number') sink = (sink + value) | 0
  else if (value !== undefined && value !== null) sink = (sink + 1) | 0
}

/** Seconds for `n` calls. */
async function timeCalls (s: MicroSubject, n: number): Promise<number> {
  const started = performance.now()
  if (s.async === true) {
    for (let i = 0; i < n; i++) consume(await s.run())
  } else {
    for (let i = 0; i < n; i++) consume(s.run())
  }
  return (performance.now() - started) / 1000
}

/** The most calls per sample tried while calibrating (bounds the doubling). */
const MAX_CALLS = 1 << 26

/** Calls per sample so that one sample takes about `sampleMs` (after a warm-up). */
async function calibrate (s: MicroSubject, sampleMs: number): Promise<number> {
  let n = 1
  for (;;) {
    const seconds = await timeCalls(s, n)
    if (seconds * 1000 >= sampleMs / 4 || n >= MAX_CALLS) {
      return Math.max(1, Math.min(MAX_CALLS, Math.ceil(n * sampleMs / Math.max(seconds * 1000, 0.001))))
    }
    n *= 2
  }
}

/** Times every subject of a checked case; one row per subject (the median of its samples). */
export async function timeCase (c: MicroCase, sizes: MicroSizes): Promise<Row[]> {
  const calls: number[] = []
  for (const s of c.subjects) calls.push(await calibrate(s, sizes.sampleMs))
  const rates: number[][] = c.subjects.map(() => [])
  for (let round = 0; round < sizes.samples; round++) {
    for (let i = 0; i < c.subjects.length; i++) {
      const seconds = await timeCalls(c.subjects[i]!, calls[i]!)
      rates[i]!.push(calls[i]! * c.itemsPerCall / seconds / c.divisor)
    }
  }
  return c.subjects.map((s, i) => ({ name: c.name, system: s.system, metric: c.metric, value: median(rates[i]!), unit: c.unit }))
}

/** Makes the sink observable (so the optimiser must keep it); the value means nothing. */
export function sinkValue (): number {
  return sink
}
