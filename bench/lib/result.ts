/**
 * What every benchmark program reports: rows of { name, system, metric, value, unit },
 * written as JSON with --json (the runner's input) and printed as a markdown table.
 * `name` is the configuration measured ("produce 100 B, 1 partition, 1 producer"),
 * `system` who was measured ("Spool", "Redis Streams", ...), so rows with the same name
 * and metric are comparable across systems.
 */

import { writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'

export interface Row {
  name: string
  system: string
  metric: string
  value: number
  unit: string
  /** Which direction is better (ratios are read with it); default 'higher'. */
  better?: 'higher' | 'lower'
  /**
   * The aim this row measures (an id of bench/report.ts's aim tables, e.g. 'sdk-produce-100b'),
   * set where the row is measured: the report finds an aim's rows by it, never by a row's name.
   */
  aim?: string
}

/** `rows`, each tagged as a measurement of `aim` (Row.aim); unchanged when aim is undefined. */
export function forAim (aim: string | undefined, rows: Row[]): Row[] {
  return aim === undefined ? rows : rows.map(row => ({ ...row, aim }))
}

export interface ScenarioOutput {
  scenario: string
  title: string
  /** One paragraph: what is measured and how. */
  description?: string
  rows: Row[]
  /** Facts a reader needs (settings, counts, what a peer does differently). */
  notes?: string[]
  /** What was not measured and why (a peer not installed, --no-peers). */
  skipped?: string[]
  config?: Record<string, unknown>
  loadBefore?: number[]
  loadAfter?: number[]
  startedAt?: string
  seconds?: number
}

export const SPOOL = 'Spool'

export class Recorder {
  readonly output: ScenarioOutput
  readonly #started = performance.now()

  constructor (scenario: string, title: string, description?: string) {
    this.output = {
      scenario, title, rows: [], notes: [], skipped: [], config: {},
      loadBefore: loadavg(), startedAt: new Date().toISOString(),
    }
    if (description !== undefined) this.output.description = description
  }

  add (row: Row): void {
    if (!Number.isFinite(row.value)) {
      this.note(`${row.system}: ${row.name}: ${row.metric} was not measurable (${row.value})`)
      return
    }
    this.output.rows.push(row)
    process.stderr.write(`  ${row.system.padEnd(16)} ${row.name} | ${row.metric}: ${formatValue(row.value, row.unit)}\n`)
  }

  note (text: string): void {
    if (this.output.notes!.includes(text)) return
    this.output.notes!.push(text)
    process.stderr.write(`  note: ${text}\n`)
  }

  skip (text: string): void {
    if (!this.output.skipped!.includes(text)) this.output.skipped!.push(text)
    process.stderr.write(`  skipped: ${text}\n`)
  }

  config (values: Record<string, unknown>): void {
    Object.assign(this.output.config!, values)
  }

  /** Writes the JSON (when asked) and prints the table. */
  finish (jsonPath: string | null): void {
    this.output.loadAfter = loadavg()
    this.output.seconds = (performance.now() - this.#started) / 1000
    if (jsonPath !== null) writeFileSync(jsonPath, JSON.stringify(this.output, null, 2) + '\n')
    process.stdout.write(`\n${this.output.title} (${cpus().length} CPUs, load ${this.output.loadBefore!.map(l => l.toFixed(2)).join(' ')})\n\n`)
    process.stdout.write(simpleTable(this.output.rows) + '\n')
  }
}

export function formatValue (value: number, unit: string): string {
  const abs = Math.abs(value)
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3
  return `${value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 })} ${unit}`
}

function simpleTable (rows: Row[]): string {
  const lines = ['| configuration | system | metric | value |', '| --- | --- | --- | ---: |']
  for (const r of rows) lines.push(`| ${r.name} | ${r.system} | ${r.metric} | ${formatValue(r.value, r.unit)} |`)
  return lines.join('\n')
}
