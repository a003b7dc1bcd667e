/**
 * The runner's results file (bench/results/<mode>.json): every scenario's rows as the
 * median of its runs, with all run values kept, and where and when they were measured.
 */

import { readFileSync } from 'node:fs'
import type { Row, ScenarioOutput } from './result.js'
import { median } from './stats.js'

export interface AggregatedRow extends Row {
  /** The value of each run (the row's `value` is their median). */
  runs: number[]
}

export interface ScenarioResult {
  scenario: string
  title: string
  description?: string
  /** The program that measured it (relative to the repository). */
  program: string
  command: string
  ok: boolean
  error?: string
  runs: number
  startedAt: string
  seconds: number
  spoolSha: string
  loadBefore: number[]
  loadAfter: number[]
  notes: string[]
  skipped: string[]
  config: Record<string, unknown>
  rows: AggregatedRow[]
}

export interface HostInfo {
  cpus: number
  cpuModel: string
  memoryGiB: number
  kernel: string
  platform: string
  virtualization: string | null
}

/** A later `--only` run whose scenarios replaced those of the first run. */
export interface Rerun {
  command: string
  startedAt: string
  finishedAt: string
  loadBefore: number[]
  loadAfter: number[]
  scenarios: string[]
}

export interface ResultsFile {
  format: 'spool-bench/1'
  mode: string
  /** The run the file was started with (reruns are listed in `reruns`). */
  command: string
  startedAt: string
  finishedAt: string
  reruns?: Rerun[]
  host: HostInfo
  versions: Record<string, string | null>
  loadBefore: number[]
  loadAfter: number[]
  repeats: number
  scenarios: ScenarioResult[]
}

export function rowKey (r: Pick<Row, 'name' | 'system' | 'metric'>): string {
  return `${r.name}\u0000${r.system}\u0000${r.metric}`
}

/** Rows of several runs of one scenario → one row per (name, system, metric), the median. */
export function aggregateRuns (runs: ScenarioOutput[]): AggregatedRow[] {
  const byKey = new Map<string, AggregatedRow>()
  for (const run of runs) {
    for (const row of run.rows) {
      const key = rowKey(row)
      const agg = byKey.get(key)
      if (agg === undefined) byKey.set(key, { ...row, runs: [row.value] })
      else agg.runs.push(row.value)
    }
  }
  for (const agg of byKey.values()) agg.value = median(agg.runs)
  return [...byKey.values()]
}

export function readResults (file: string): ResultsFile {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as ResultsFile
  if (parsed.format !== 'spool-bench/1') throw new Error(`${file} is not a spool-bench results file`)
  return parsed
}

/**
 * Scenarios of `update` (an `--only` run) replace those of the same name in `base` (kept in
 * base's order); base's provenance stays, and the update is listed in `reruns`.
 */
export function mergeResults (base: ResultsFile, update: ResultsFile): ResultsFile {
  const replaced = new Map(update.scenarios.map(s => [s.scenario, s]))
  const scenarios = base.scenarios.map(s => replaced.get(s.scenario) ?? s)
  for (const s of update.scenarios) if (!base.scenarios.some(b => b.scenario === s.scenario)) scenarios.push(s)
  const rerun: Rerun = {
    command: update.command, startedAt: update.startedAt, finishedAt: update.finishedAt,
    loadBefore: update.loadBefore, loadAfter: update.loadAfter, scenarios: update.scenarios.map(s => s.scenario),
  }
  return { ...base, host: update.host, versions: update.versions, scenarios, reruns: [...(base.reruns ?? []), rerun] }
}
