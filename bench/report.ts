/**
 * Regenerates bench/RESULTS.md from a results file (the last step of a full `npm run bench`):
 *
 *   node dist/bench/report.js [--in bench/results/full.json] [--out bench/RESULTS.md]
 *
 * RESULTS.md = the run's provenance, the aims of issue 7 checked against the measured rows,
 * the hand-written analysis (bench/notes/analysis.md: profiles, changes with before/after
 * numbers, next steps), every scenario's table with ratios, the chart, Node 20 and 24 side by
 * side (bench/notes/node-runtimes.md), the earlier storage measurement (bench/notes/storage.md)
 * and the caveats (bench/notes/caveats.md). Numbers
 * come only from the results file; prose only from bench/notes/.
 */

import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { REPO_ROOT } from './lib/host.js'
import { formatNumber, formatRatio, loadText, rerunLines, scenarioSection } from './lib/render.js'
import { readResults, type AggregatedRow, type ResultsFile } from './lib/results.js'

interface Aim {
  text: string
  /** What is compared: one row (or the largest/smallest of several). */
  measure: (r: ResultsFile) => { value: number, unit: string, where: string } | null
  ok: (value: number) => boolean
}

function rowsWhere (r: ResultsFile, f: (row: AggregatedRow, scenario: string) => boolean): Array<AggregatedRow & { scenario: string }> {
  const out: Array<AggregatedRow & { scenario: string }> = []
  for (const s of r.scenarios) for (const row of s.rows) if (f(row, s.scenario)) out.push({ ...row, scenario: s.scenario })
  return out
}

function one (r: ResultsFile, name: string, system: string, metric: string): AggregatedRow | undefined {
  return rowsWhere(r, row => row.name === name && row.system === system && row.metric === metric)[0]
}

function rowAim (name: string, metric: string, system = 'Spool'): Aim['measure'] {
  return r => {
    const row = one(r, name, system, metric)
    return row === undefined ? null : { value: row.value, unit: row.unit, where: `${name}, ${metric}` }
  }
}

function bestOf (prefix: string, metric: string): (r: ResultsFile) => string {
  return r => {
    const rows = rowsWhere(r, (row, scenario) => scenario === 'produce' && row.name.startsWith(prefix) && row.system === 'Spool' && row.metric === metric)
    if (rows.length === 0) return ''
    const best = rows.reduce((a, b) => (b.value > a.value ? b : a))
    return `; best configuration: ${best.name}, ${formatNumber(best.value)} ${best.unit}`
  }
}

const AIMS: Array<Aim & { extra?: (r: ResultsFile) => string }> = [
  {
    text: 'Produce ≥ 1,000,000 records/s of 100 B, acks=1',
    measure: rowAim('produce 100 B, 1 partition, 1 producer', 'records/s'),
    ok: v => v >= 1_000_000,
    extra: bestOf('produce 100 B', 'records/s'),
  },
  {
    text: '… and ≥ 8× Redis Streams\' pipelined XADD rate in the same run',
    measure: r => {
      const name = 'produce 100 B, 1 partition, 1 producer'
      const s = one(r, name, 'Spool', 'records/s')
      const p = one(r, name, 'Redis Streams', 'records/s')
      return s === undefined || p === undefined ? null : { value: s.value / p.value, unit: '×', where: `${name}: Spool ${formatNumber(s.value)} ÷ Redis ${formatNumber(p.value)} rec/s` }
    },
    ok: v => v >= 8,
  },
  {
    text: 'Consume ≥ 2,000,000 records/s',
    measure: rowAim('consume 100 B, 1 partition', 'records/s'),
    ok: v => v >= 2_000_000,
  },
  {
    text: '1 KiB records: produce ≥ 600 MB/s',
    measure: rowAim('produce 1 KiB, 1 partition, 1 producer', 'MB/s (values)'),
    ok: v => v >= 600,
    extra: bestOf('produce 1 KiB', 'MB/s (values)'),
  },
  {
    text: 'acks=all with 8 producers ≥ 100,000 records/s',
    measure: rowAim('acks=all, 8 producers, pipelined (group commit)', 'records/s'),
    ok: v => v >= 100_000,
  },
  {
    text: 'Produce→consume p99 ≤ 1.5 ms at 5,000 msg/s',
    measure: rowAim('latency 100 B at 5,000 msg/s', 'p99 produce→consume'),
    ok: v => v <= 1.5,
  },
  {
    text: 'Broker RSS ≤ 150 MB during these runs (peak of every Spool row)',
    measure: r => {
      const rows = rowsWhere(r, (row, scenario) => row.system.startsWith('Spool') && row.metric === 'server peak RSS' && ['produce', 'consume', 'acks-all', 'websocket', 'mqtt'].includes(scenario))
      if (rows.length === 0) return null
      const worst = rows.reduce((a, b) => (b.value > a.value ? b : a))
      return { value: worst.value, unit: 'MB', where: `largest in ${worst.scenario}: ${worst.name}` }
    },
    ok: v => v <= 150,
  },
]

const OTHER_AIMS: Array<Aim & { issue: string }> = [
  { issue: '4', text: 'Consuming through a group costs < 5% vs without a group', measure: rowAim('consume: group overhead', 'overhead', 'spool'), ok: v => v < 5 },
  { issue: '6', text: 'MQTT QoS 0 ≥ 150,000 msg/s (every message written to the log)', measure: rowAim('MQTT QoS 0 throughput, 1 publisher → 1 subscriber', 'msg/s'), ok: v => v >= 150_000 },
  { issue: '6', text: 'MQTT QoS 1 ≥ 50,000 msg/s', measure: rowAim('MQTT QoS 1 throughput, 1 publisher → 1 subscriber', 'msg/s'), ok: v => v >= 50_000 },
  { issue: '6', text: 'MQTT QoS 0 p99 ≤ 2 ms at 5,000 msg/s', measure: rowAim('MQTT QoS 0 latency at 5,000 msg/s', 'p99 publish→receive'), ok: v => v <= 2 },
  { issue: '6', text: 'MQTT QoS 1 p99 ≤ 2 ms at 5,000 msg/s', measure: rowAim('MQTT QoS 1 latency at 5,000 msg/s', 'p99 publish→receive'), ok: v => v <= 2 },
]

function aimRow (a: Aim & { extra?: (r: ResultsFile) => string }, r: ResultsFile, prefix: string[] = []): string {
  const m = a.measure(r)
  if (m === null) return `| ${[...prefix, a.text].join(' | ')} | not measured in this run | – |`
  const value = m.unit === '×' ? formatRatio(m.value) : `${formatNumber(m.value)} ${m.unit}`
  return `| ${[...prefix, a.text].join(' | ')} | ${value} (${m.where}${a.extra?.(r) ?? ''}) | ${a.ok(m.value) ? 'met' : '**not met**'} |`
}

function note (name: string): string {
  const file = join(REPO_ROOT, 'bench', 'notes', name)
  return existsSync(file) ? readFileSync(file, 'utf8').trim() + '\n' : `_(bench/notes/${name} is missing)_\n`
}

/** The full RESULTS.md text for a results file. */
export function resultsMd (results: ResultsFile, jsonRelative: string): string {
  const svg = jsonRelative.replace(/\.json$/, '.svg').replace(/^bench\//, '')
  const out: string[] = [
    '# Benchmark results',
    '',
    `<!-- Generated by \`node dist/bench/report.js\` from ${jsonRelative} (also the last step of \`npm run bench\`). Numbers come from that file; prose from bench/notes/*.md. Do not edit by hand. -->`,
    '',
    'Spool measured side by side with the systems a user would pick instead, in the same run on the same machine: NATS JetStream and Redis Streams for the log, Mosquitto and Aedes for MQTT. One machine on one day: these are measurements, not promises. To reproduce: `bench/setup` (once, as root; it also builds), then `npm run bench` (add `--scale` for the 1,000-partition and 5 GB scenarios; `--quick` for a 2-minute pass).',
    '',
    '## The run',
    '',
    `- Command: \`${results.command}\` (${results.repeats} run${results.repeats > 1 ? 's' : ''} of each scenario; tables show medians)`,
    `- Date: ${results.startedAt} → ${results.finishedAt}`,
    `- Machine: ${results.host.cpus} CPUs (${results.host.cpuModel}), ${results.host.memoryGiB} GiB RAM, ${results.host.platform} ${results.host.kernel}${results.host.virtualization !== null ? `, ${results.host.virtualization}` : ''}; brokers and clients share the ${results.host.cpus} cores`,
    `- Versions: ${Object.entries(results.versions).map(([k, v]) => `${k} ${v ?? 'not installed'}`).join(', ')}`,
    `- Load average (1, 5, 15 min): ${loadText(results.loadBefore)} before, ${loadText(results.loadAfter)} after; each scenario below gives its own. The machine is shared with other work, so some runs overlap other processes.`,
    ...rerunLines(results).map(l => `- ${l}`),
    `- Raw results: [${jsonRelative.replace(/^bench\//, '')}](${jsonRelative.replace(/^bench\//, '')}), chart: [${svg}](${svg})`,
    '',
    '## Aims (issue 7)',
    '',
    '| aim | measured (median) | |',
    '| --- | --- | --- |',
    ...AIMS.map(a => aimRow(a, results)),
    '',
    'Aims of other issues measured by this suite:',
    '',
    '| issue | aim | measured (median) | |',
    '| --- | --- | --- | --- |',
    ...OTHER_AIMS.map(a => aimRow(a, results, [a.issue])),
    '',
    '## Analysis',
    '',
    note('analysis.md'),
    '## Results by scenario',
    '',
    `![Spool vs peers](${svg})`,
    '',
    'Ratios are Spool ÷ peer for the same configuration and metric; ↓ marks metrics where lower is better (a ratio below 1 is then in Spool\'s favour). CPU seconds per million records are user + system time of the whole process (all threads) from /proc; the client figures are this Node process\'s own.',
    '',
  ]
  for (const s of results.scenarios) out.push(scenarioSection(s))
  out.push('## Node.js 20 and 24 side by side (`--quick`)', '', note('node-runtimes.md'))
  out.push('## Storage engine (bench/storage): the earlier five-GiB measurement', '', note('storage.md'), '## Caveats', '', note('caveats.md'))
  return out.join('\n')
}

/** Writes bench/RESULTS.md (or `out`) from a results file; returns the path written. */
export function writeResultsMd (jsonFile: string, out = join(REPO_ROOT, 'bench', 'RESULTS.md')): string {
  const results = readResults(jsonFile)
  writeFileSync(out, resultsMd(results, relative(REPO_ROOT, jsonFile)))
  return out
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2)
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`)
    return i >= 0 ? argv[i + 1] : undefined
  }
  const input = arg('in') ?? join(REPO_ROOT, 'bench', 'results', 'full.json')
  const file = writeResultsMd(input, arg('out'))
  console.log(`wrote ${relative(process.cwd(), file)} from ${relative(process.cwd(), input)}`)
}
