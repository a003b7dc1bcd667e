/**
 * Renders a results file: markdown tables (one per scenario, a ratio column Spool ÷ each
 * peer) and an SVG bar chart of the headline rows. No dependencies: the SVG is written by
 * hand here.
 */

import type { AggregatedRow, ResultsFile, ScenarioResult } from './results.js'

const RATE_UNITS = new Set(['rec/s', 'msg/s', 'MB/s', '/s', 'fdatasync/s'])

export function formatNumber (value: number): string {
  if (!Number.isFinite(value)) return 'n/a'
  const abs = Math.abs(value)
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 })
}

export function formatRatio (ratio: number): string {
  if (!Number.isFinite(ratio)) return 'n/a'
  return `${ratio >= 10 ? ratio.toFixed(0) : ratio >= 1 ? ratio.toFixed(1) : ratio.toFixed(2)}×`
}

function metricLabel (r: AggregatedRow): string {
  const showUnit = !(RATE_UNITS.has(r.unit) && r.metric.includes('/s')) && !r.metric.split(/[\s(),]+/).includes(r.unit)
  return `${r.metric}${showUnit ? `, ${r.unit}` : ''}${r.better === 'lower' ? ' ↓' : ''}`
}

/** Systems in the order they first appear; the subject (Spool, or the first) leads. */
export function systemsOf (s: ScenarioResult): { subject: string, peers: string[] } {
  const order: string[] = []
  for (const r of s.rows) if (!order.includes(r.system)) order.push(r.system)
  const subject = order.includes('Spool') ? 'Spool' : order[0] ?? 'Spool'
  return { subject, peers: order.filter(x => x !== subject) }
}

function escapeCell (text: string): string {
  return text.replace(/\|/g, '\\|')
}

export function loadText (l: number[] | undefined): string {
  return l === undefined ? 'n/a' : l.map(x => x.toFixed(2)).join(' ')
}

/** One scenario's table: rows = (configuration, metric), columns = systems, then ratios. */
export function scenarioTable (s: ScenarioResult): string {
  const { subject, peers } = systemsOf(s)
  const systems = [subject, ...peers]
  const groups = new Map<string, Map<string, AggregatedRow>>()
  for (const r of s.rows) {
    const key = `${r.name}\u0000${r.metric}`
    let g = groups.get(key)
    if (g === undefined) groups.set(key, (g = new Map()))
    g.set(r.system, r)
  }
  const withRatios = peers.filter(p => [...groups.values()].some(g => g.has(subject) && g.has(p)))
  const header = ['configuration', 'metric', ...systems, ...withRatios.map(p => `${subject} ÷ ${p}`)]
  const align = ['---', '---', ...systems.map(() => '---:'), ...withRatios.map(() => '---:')]
  const lines = [`| ${header.map(escapeCell).join(' | ')} |`, `| ${align.join(' | ')} |`]
  let lastName = ''
  for (const g of groups.values()) {
    const any = g.values().next().value as AggregatedRow
    const cells = [any.name === lastName ? '〃' : any.name, metricLabel(any)]
    lastName = any.name
    for (const sys of systems) cells.push(g.has(sys) ? formatNumber(g.get(sys)!.value) : '')
    for (const p of withRatios) {
      const a = g.get(subject)
      const b = g.get(p)
      cells.push(a !== undefined && b !== undefined && b.value !== 0 ? formatRatio(a.value / b.value) : '')
    }
    lines.push(`| ${cells.map(escapeCell).join(' | ')} |`)
  }
  return lines.join('\n')
}

/** Largest max ÷ min among a scenario's rows measured more than once (run-to-run spread). */
export function spreadOf (s: ScenarioResult, system?: string): number {
  let worst = 1
  for (const r of s.rows) {
    if (r.runs.length < 2 || (system !== undefined && r.system !== system)) continue
    const lo = Math.min(...r.runs)
    const hi = Math.max(...r.runs)
    if (lo > 0) worst = Math.max(worst, hi / lo)
  }
  return worst
}

/** A scenario's section: title, description, provenance, table, notes. */
export function scenarioSection (s: ScenarioResult, level = '###'): string {
  const out: string[] = [`${level} ${s.scenario}: ${s.title}`, '']
  if (s.description !== undefined) out.push(s.description, '')
  const runs = s.runs > 1 ? `median of ${s.runs} runs (largest run-to-run spread, max ÷ min, of any row: ${formatRatio(spreadOf(s))})` : '1 run'
  out.push(`\`${s.command}\` — ${s.startedAt.replace(/\.\d+Z$/, 'Z')}, Spool ${s.spoolSha}, ${runs}, ${s.seconds.toFixed(0)} s; load average ${loadText(s.loadBefore)} before, ${loadText(s.loadAfter)} after.`, '')
  if (!s.ok) out.push(`**Failed:** ${s.error ?? 'unknown error'}`, '')
  if (s.rows.length > 0) out.push(scenarioTable(s), '')
  for (const n of s.notes) out.push(`- ${n}`)
  for (const n of s.skipped) out.push(`- Not measured: ${n}`)
  if (s.notes.length + s.skipped.length > 0) out.push('')
  return out.join('\n')
}

/** One line per later `--only` run merged into the file. */
export function rerunLines (results: ResultsFile): string[] {
  return (results.reruns ?? []).map(r =>
    `Rerun: \`${r.command}\` ${r.startedAt} → ${r.finishedAt} (load ${loadText(r.loadBefore)} before, ${loadText(r.loadAfter)} after) replaced ${r.scenarios.join(', ')}`)
}

export function resultsMarkdown (results: ResultsFile): string {
  const out = [
    `# Spool benchmarks (${results.mode})`,
    '',
    `Command: \`${results.command}\``,
    `Date: ${results.startedAt} → ${results.finishedAt}`,
    `Machine: ${results.host.cpus} CPUs (${results.host.cpuModel}), ${results.host.memoryGiB} GiB RAM, ${results.host.platform} ${results.host.kernel}${results.host.virtualization !== null ? ` (${results.host.virtualization})` : ''}`,
    `Versions: ${Object.entries(results.versions).map(([k, v]) => `${k} ${v ?? 'not installed'}`).join(', ')}`,
    `Load average: ${loadText(results.loadBefore)} before, ${loadText(results.loadAfter)} after`,
    ...rerunLines(results),
    '',
    'Ratios are Spool ÷ peer for the same configuration and metric; ↓ marks metrics where lower is better.',
    '',
  ]
  for (const s of results.scenarios) out.push(scenarioSection(s))
  return out.join('\n')
}

// ----- SVG -----

const HEADLINE = new Set(['records/s', 'msg/s', 'p99 produce→consume', 'p99 publish→receive'])
const PALETTE = ['#1f6feb', '#d1242f', '#8250df', '#1a7f37', '#bf8700', '#57606a']

function xml (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/** Grouped horizontal bars: one group per comparable headline row, bars scaled within it. */
export function resultsSvg (results: ResultsFile): string {
  interface Group { title: string, bars: Array<{ system: string, value: number, unit: string }>, lower: boolean }
  const groups: Group[] = []
  const systems: string[] = []
  for (const s of results.scenarios) {
    const byName = new Map<string, AggregatedRow[]>()
    for (const r of s.rows) {
      if (!HEADLINE.has(r.metric)) continue
      const key = `${r.name}\u0000${r.metric}`
      byName.set(key, [...(byName.get(key) ?? []), r])
    }
    for (const rows of byName.values()) {
      for (const r of rows) if (!systems.includes(r.system)) systems.push(r.system)
      groups.push({
        title: `${s.scenario}: ${rows[0]!.name} — ${rows[0]!.metric}${rows[0]!.better === 'lower' ? ' (lower is better)' : ''}`,
        bars: rows.map(r => ({ system: r.system, value: r.value, unit: r.unit })),
        lower: rows[0]!.better === 'lower',
      })
    }
  }
  const width = 960
  const labelWidth = 190
  const barMax = width - labelWidth - 150
  const barHeight = 13
  const lines: string[] = []
  let y = 54
  // Comparisons when there are any (a Spool-only run shows its headline rows instead).
  const compared = groups.filter(g => g.bars.length > 1)
  for (const g of compared.length > 0 ? compared : groups) {
    lines.push(`<text x="10" y="${y}" class="t">${xml(g.title)}</text>`)
    y += 6
    const max = Math.max(...g.bars.map(b => b.value))
    for (const b of g.bars) {
      const w = max > 0 ? Math.max(1, Math.round(b.value / max * barMax)) : 1
      const color = PALETTE[systems.indexOf(b.system) % PALETTE.length]
      lines.push(`<text x="${labelWidth - 6}" y="${y + barHeight - 3}" class="s" text-anchor="end">${xml(b.system)}</text>`)
      lines.push(`<rect x="${labelWidth}" y="${y}" width="${w}" height="${barHeight}" fill="${color}"/>`)
      lines.push(`<text x="${labelWidth + w + 5}" y="${y + barHeight - 3}" class="s">${xml(`${formatNumber(b.value)} ${b.unit}`)}</text>`)
      y += barHeight + 3
    }
    y += 16
  }
  const height = y + 10
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    '<style>.h{font-size:15px;font-weight:bold}.t{font-size:12px;font-weight:bold;fill:#24292f}.s{font-size:11px;fill:#24292f}</style>',
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="22" class="h">${xml(`Spool vs peers (${results.mode} run, ${results.startedAt.slice(0, 16).replace('T', ' ')} UTC${(results.reruns ?? []).length > 0 ? `, partly rerun until ${results.reruns!.at(-1)!.finishedAt.slice(11, 16)}` : ''}, ${results.host.cpus} CPUs)`)}</text>`,
    `<text x="10" y="38" class="s">${xml('Bars are scaled within each group; medians of the runs; same machine, same run. See bench/RESULTS.md for caveats.')}</text>`,
    ...lines,
    '</svg>',
    '',
  ].join('\n')
}
