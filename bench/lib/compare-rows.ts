/**
 * `npm run bench -- --compare <ref>`: the rows of this tree and of the ref side by side.
 * Pure functions (no I/O), so the matching and the ratio maths are tested on their own
 * (tests/unit/bench-compare.test.ts).
 *
 * Rows of one scenario are matched by configuration name, system and metric; rows that
 * both carry an aim tag (Row.aim) are matched by aim, system and metric instead, so a row
 * renamed between the two commits still meets its counterpart. Each side's value is the
 * median of its rounds; the ratio is this ÷ ref (read it with the row's `better`: for a
 * latency, below 1 is an improvement).
 */

import type { Row } from './result.js'
import { median } from './stats.js'

/** The rows one side produced for one scenario over all its rounds. */
export interface SideRuns {
  /** One entry per round that succeeded: that round's rows. */
  rounds: Row[][]
}

export interface CompareRow {
  name: string
  system: string
  metric: string
  unit: string
  better: 'higher' | 'lower'
  aim?: string
  /** Median of this tree's rounds (null: this tree has no such row). */
  thisValue: number | null
  /** Median of the ref's rounds (null: the ref has no such row). */
  refValue: number | null
  thisRuns: number[]
  refRuns: number[]
  /** thisValue ÷ refValue; null when either is missing or the ref's is 0. */
  ratio: number | null
}

interface Collected { row: Row, values: number[] }

function byNameKey (r: Row): string {
  return `n\u0000${r.name}\u0000${r.system}\u0000${r.metric}`
}

function byAimKey (r: Row): string | null {
  return r.aim === undefined ? null : `a\u0000${r.aim}\u0000${r.system}\u0000${r.metric}`
}

/** Every distinct row of a side (first seen wins its description) with its values per round. */
function collect (side: SideRuns): Collected[] {
  const out = new Map<string, Collected>()
  for (const round of side.rounds) {
    for (const row of round) {
      const key = byNameKey(row)
      const c = out.get(key)
      if (c === undefined) out.set(key, { row, values: [row.value] })
      else c.values.push(row.value)
    }
  }
  return [...out.values()]
}

/** this ÷ ref, or null when it has no meaning (a side is missing, the ref is 0, not finite). */
export function ratioOf (thisValue: number | null, refValue: number | null): number | null {
  if (thisValue === null || refValue === null || refValue === 0) return null
  const r = thisValue / refValue
  return Number.isFinite(r) ? r : null
}

function compareRow (row: Row, thisRuns: number[], refRuns: number[]): CompareRow {
  const thisValue = thisRuns.length > 0 ? median(thisRuns) : null
  const refValue = refRuns.length > 0 ? median(refRuns) : null
  return {
    name: row.name,
    system: row.system,
    metric: row.metric,
    unit: row.unit,
    better: row.better ?? 'higher',
    ...(row.aim !== undefined ? { aim: row.aim } : {}),
    thisValue: thisValue !== null && Number.isFinite(thisValue) ? thisValue : null,
    refValue: refValue !== null && Number.isFinite(refValue) ? refValue : null,
    thisRuns,
    refRuns,
    ratio: ratioOf(thisValue !== null && Number.isFinite(thisValue) ? thisValue : null, refValue !== null && Number.isFinite(refValue) ? refValue : null),
  }
}

/**
 * This tree's rows matched with the ref's: this tree's rows in their order (with the ref's
 * value where it has the row), then the ref's rows this tree no longer has.
 */
export function matchRows (thisSide: SideRuns, refSide: SideRuns): CompareRow[] {
  const mine = collect(thisSide)
  const theirs = collect(refSide)
  const refByName = new Map<string, Collected>()
  const refByAim = new Map<string, Collected>()
  for (const c of theirs) {
    refByName.set(byNameKey(c.row), c)
    const aim = byAimKey(c.row)
    if (aim !== null && !refByAim.has(aim)) refByAim.set(aim, c)
  }
  const used = new Set<Collected>()
  const out: CompareRow[] = []
  for (const c of mine) {
    const aim = byAimKey(c.row)
    let match = aim !== null ? refByAim.get(aim) : undefined
    if (match === undefined || used.has(match)) match = refByName.get(byNameKey(c.row))
    if (match !== undefined && used.has(match)) match = undefined
    if (match !== undefined) used.add(match)
    out.push(compareRow(c.row, c.values, match?.values ?? []))
  }
  for (const c of theirs) if (!used.has(c)) out.push(compareRow(c.row, [], c.values))
  return out
}

function formatNumber (value: number | null): string {
  if (value === null) return '—'
  const abs = Math.abs(value)
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 })
}

/** A ratio as printed: two decimals ("1.07×"), or "—" when there is none. */
export function formatCompareRatio (ratio: number | null): string {
  return ratio === null ? '—' : `${ratio.toFixed(2)}×`
}

function cell (text: string): string {
  return text.replace(/\|/g, '\\|')
}

/** One scenario's comparison as a markdown table. */
export function compareTable (rows: readonly CompareRow[], thisLabel: string, refLabel: string): string {
  const lines = [
    `| configuration | system | metric | ${cell(thisLabel)} | ${cell(refLabel)} | this ÷ ref |`,
    '| --- | --- | --- | ---: | ---: | ---: |',
  ]
  let lastName = ''
  for (const r of rows) {
    // A rate's unit is in its metric already ('records/s' in rec/s), as in the runner's tables.
    const named = r.metric.split(/[\s(),]+/).includes(r.unit) || (r.unit.endsWith('/s') && r.metric.includes('/s'))
    const metric = `${r.metric}${named ? '' : `, ${r.unit}`}${r.better === 'lower' ? ' ↓' : ''}`
    lines.push(`| ${[r.name === lastName ? '〃' : r.name, r.system, metric, formatNumber(r.thisValue), formatNumber(r.refValue), formatCompareRatio(r.ratio)].map(cell).join(' | ')} |`)
    lastName = r.name
  }
  return lines.join('\n')
}
