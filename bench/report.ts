/**
 * Regenerates bench/RESULTS.md from a results file (the last step of a full `npm run bench`):
 *
 *   node dist/bench/report.js [--in bench/results/full.json] [--out bench/RESULTS.md]
 *
 * RESULTS.md = the run's provenance, the aims of issues 7, 4, 6, 17 and 19 checked against the
 * rows that measure them (each scenario tags a row with the aim it measures, Row.aim; an aim
 * no scenario measures says so),
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
  /** When `measure` found nothing: what the run measured instead (a smaller size), or ''. */
  instead?: (r: ResultsFile) => string
}

function rowsWhere (r: ResultsFile, f: (row: AggregatedRow, scenario: string) => boolean): Array<AggregatedRow & { scenario: string }> {
  const out: Array<AggregatedRow & { scenario: string }> = []
  for (const s of r.scenarios) for (const row of s.rows) if (f(row, s.scenario)) out.push({ ...row, scenario: s.scenario })
  return out
}

/** The row measuring `aim` (Row.aim, set by the scenario that measured it) for `system` and `metric`. */
function byAim (r: ResultsFile, aim: string, system: string, metric: string): (AggregatedRow & { scenario: string }) | undefined {
  return rowsWhere(r, row => row.aim === aim && row.system === system && row.metric === metric)[0]
}

/** An aim read from one row: the row tagged `aim` for `system` and `metric`. */
function rowAim (aim: string, metric: string, system = 'Spool'): Aim['measure'] {
  return r => {
    const row = byAim(r, aim, system, metric)
    return row === undefined ? null : { value: row.value, unit: row.unit, where: `${row.name}, ${metric}` }
  }
}

/** An aim read as Spool's row over a peer's row of the same aim and metric (higher is better). */
function ratioAim (aim: string, metric: string, peer: string, peerLabel: string): Aim['measure'] {
  return r => {
    const s = byAim(r, aim, 'Spool', metric)
    const p = byAim(r, aim, peer, metric)
    if (s === undefined || p === undefined) return null
    return { value: s.value / p.value, unit: '×', where: `${s.name}: Spool ${formatNumber(s.value)} ÷ ${peerLabel} ${formatNumber(p.value)} ${s.unit}` }
  }
}

/** Several rows that must each meet the aim: the worst of them (`worse` picks it). */
function worstAim (rows: Array<{ aim: string, metric: string, system?: string }>, worse: (a: number, b: number) => boolean): Aim['measure'] {
  return r => {
    const found = rows.map(q => byAim(r, q.aim, q.system ?? 'Spool', q.metric))
    if (found.some(row => row === undefined)) return null
    const worst = (found as AggregatedRow[]).reduce((a, b) => (worse(b.value, a.value) ? b : a))
    return { value: worst.value, unit: worst.unit, where: `worst of ${found.length}: ${worst.name}, ${worst.metric}` }
  }
}

/**
 * What a scenario measured in place of an aim's size (its rows tagged `aim`, e.g. fewer
 * connections than the aim's because of an fd limit): "not measured at <size>" with that
 * row's value, never a verdict on the aim.
 */
function insteadOf (aim: string, metric: string, size: string): (r: ResultsFile) => string {
  return r => {
    const row = byAim(r, aim, 'Spool', metric)
    return row === undefined ? '' : `not measured at ${size}; instead: ${formatNumber(row.value)} ${row.unit} (${row.name}, ${metric})`
  }
}

/** Aims no scenario of this suite measures yet: always "not measured in this run". */

function bestOf (aim: string, metric: string): (r: ResultsFile) => string {
  return r => {
    const base = rowsWhere(r, row => row.aim === aim && row.system === 'Spool' && row.metric === metric)[0]
    if (base === undefined) return ''
    // The same value size in the produce scenario's other configurations (more partitions or producers).
    const size = base.name.split(',')[0]!
    const rows = rowsWhere(r, (row, scenario) => scenario === base.scenario && row.name.startsWith(size) && row.system === 'Spool' && row.metric === metric)
    const best = rows.reduce((a, b) => (b.value > a.value ? b : a))
    return best.name === base.name ? '' : `; best configuration: ${best.name}, ${formatNumber(best.value)} ${best.unit}`
  }
}

const AIMS: Array<Aim & { extra?: (r: ResultsFile) => string }> = [
  {
    text: 'Produce ≥ 1,000,000 records/s of 100 B, acks=1',
    measure: rowAim('sdk-produce-100b', 'records/s'),
    ok: v => v >= 1_000_000,
    extra: bestOf('sdk-produce-100b', 'records/s'),
  },
  {
    text: '… and ≥ 8× Redis Streams\' pipelined XADD rate in the same run',
    measure: ratioAim('sdk-produce-100b', 'records/s', 'Redis Streams', 'Redis'),
    ok: v => v >= 8,
  },
  {
    text: 'Consume ≥ 2,000,000 records/s',
    measure: rowAim('sdk-consume-100b', 'records/s'),
    ok: v => v >= 2_000_000,
  },
  {
    text: '1 KiB records: produce ≥ 600 MB/s',
    measure: rowAim('sdk-produce-1kib', 'MB/s (values)'),
    ok: v => v >= 600,
    extra: bestOf('sdk-produce-1kib', 'MB/s (values)'),
  },
  {
    text: 'acks=all with 8 producers ≥ 100,000 records/s',
    measure: rowAim('acks-all-8-producers', 'records/s'),
    ok: v => v >= 100_000,
  },
  {
    text: 'Produce→consume p99 ≤ 1.5 ms at 5,000 msg/s',
    measure: rowAim('latency-5000', 'p99 produce→consume'),
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
  { issue: '4', text: 'Consuming through a group costs < 5% vs without a group', measure: rowAim('group-overhead', 'overhead', 'spool'), ok: v => v < 5 },
  { issue: '6', text: 'MQTT QoS 0 ≥ 150,000 msg/s (every message written to the log)', measure: rowAim('mqtt-qos0-throughput', 'msg/s'), ok: v => v >= 150_000 },
  { issue: '6', text: 'MQTT QoS 1 ≥ 50,000 msg/s', measure: rowAim('mqtt-qos1-throughput', 'msg/s'), ok: v => v >= 50_000 },
  { issue: '6', text: 'MQTT QoS 0 p99 ≤ 2 ms at 5,000 msg/s', measure: rowAim('mqtt-qos0-latency-5000', 'p99 publish→receive'), ok: v => v <= 2 },
  { issue: '6', text: 'MQTT QoS 1 p99 ≤ 2 ms at 5,000 msg/s', measure: rowAim('mqtt-qos1-latency-5000', 'p99 publish→receive'), ok: v => v <= 2 },
  { issue: '16', text: 'Writes resume within 5 s of a kill -9 of the partition leader (the slowest kill of a run, median over the runs)', measure: rowAim('cluster-failover', 'max', 'Spool (3 brokers, RF 3)'), ok: v => v <= 5 },
  { issue: '17', text: 'SDK produce, 100 B, one producer: ≥ 2,000,000 records/s', measure: rowAim('sdk-produce-100b', 'records/s'), ok: v => v >= 2_000_000 },
  { issue: '17', text: '… and ≥ 10× Redis Streams\' pipelined XADD in the same run', measure: ratioAim('sdk-produce-100b', 'records/s', 'Redis Streams', 'Redis'), ok: v => v >= 10 },
  { issue: '17', text: 'SDK consume (eachBatch): ≥ 3,000,000 records/s', measure: rowAim('sdk-consume-100b', 'records/s'), ok: v => v >= 3_000_000 },
  { issue: '17', text: '… and ≥ 6× Redis XREAD in the same run', measure: ratioAim('sdk-consume-100b', 'records/s', 'Redis Streams', 'Redis'), ok: v => v >= 6 },
  { issue: '17', text: 'SDK consume with `for await`: ≥ 3,000,000 records/s', measure: rowAim('sdk-consume-for-await-100b', 'records/s'), ok: v => v >= 3_000_000 },
  { issue: '17', text: 'Kafka listener: broker CPU per record within 20% of the native protocol (kcat produce and consume)', measure: worstAim([{ aim: 'kafka-produce-cpu', metric: 'broker CPU per record vs native', system: 'Spool (Kafka listener, kcat)' }, { aim: 'kafka-consume-cpu', metric: 'broker CPU per record vs native', system: 'Spool (Kafka listener, kcat)' }], (a, b) => a > b), ok: v => v <= 120 },
  { issue: '17', text: '1 KiB records: produce ≥ 600 MB/s', measure: rowAim('sdk-produce-1kib', 'MB/s (values)'), ok: v => v >= 600 },
  { issue: '17', text: 'Group consumption costs < 5% vs a plain consumer', measure: rowAim('group-overhead', 'overhead', 'spool'), ok: v => v < 5 },
  { issue: '17', text: '100,000 MQTT connections (keep-alive 60, one subscription each): a wildcard publish reaches all within 2 s', measure: rowAim('mqtt-connections-100000', 'time to every device (slowest publish)'), ok: v => v <= 2, instead: insteadOf('mqtt-connections-fd-limited', 'time to every device (slowest publish)', '100,000') },
  { issue: '17', text: '… with broker RSS ≤ 1 GB (peak during the publishes)', measure: rowAim('mqtt-connections-100000', 'broker peak RSS during the publishes'), ok: v => v <= 1000, instead: insteadOf('mqtt-connections-fd-limited', 'broker peak RSS during the publishes', '100,000') },
  { issue: '17', text: '10,000 native consumers tailing one topic each: a new record seen with p99 ≤ 50 ms', measure: rowAim('tailing-consumers-10000', 'produce → seen, p99'), ok: v => v <= 50 },
  { issue: '17', text: '1,000 idle SDK consumers cost ≤ 3% of a core', measure: rowAim('idle-consumers-1000', 'broker CPU while idle'), ok: v => v <= 3 },
  { issue: '17', text: 'Restart over 5 GB: first fetch served ≤ 2 s after start, clean or kill -9 (measured on one partition, not 1,000)', measure: worstAim([{ aim: 'restart-clean', metric: 'spawn → fetch at offset 0 served' }, { aim: 'restart-kill', metric: 'spawn → fetch at offset 0 served' }], (a, b) => a > b), ok: v => v <= 2 },
  // The soak scenario (`--soak`) runs bench/soak for 30 minutes; its drift is judged after the warm-up.
  { issue: '17', text: 'Broker RSS flat (± 10%) over a 30-minute soak (after its warm-up)', measure: rowAim('soak', 'RSS drift after the warm-up, absolute'), ok: v => v <= 10 },
  { issue: '19', text: 'Reconnect storm of 5,000 persistent sessions: every queued message delivered ≤ 2 s', measure: rowAim('mqtt-storm-5000', 'time to every message delivered'), ok: v => v <= 2 },
  { issue: '19', text: '… with ≤ 50 MB peak RSS growth', measure: rowAim('mqtt-storm-5000', 'peak RSS growth'), ok: v => v <= 50 },
  { issue: '19', text: 'Reconnect storm of 50,000: every queued message delivered ≤ 20 s', measure: rowAim('mqtt-storm-50000', 'time to every message delivered'), ok: v => v <= 20 },
  { issue: '19', text: '… within 1 GB (peak RSS)', measure: rowAim('mqtt-storm-50000', 'peak RSS'), ok: v => v <= 1000 },
  { issue: '19', text: 'Memory per idle, subscribed MQTT connection ≤ 4 KB', measure: rowAim('mqtt-idle-memory', 'RSS per connection, fresh server'), ok: v => v <= 4 },
]

function aimRow (a: Aim & { extra?: (r: ResultsFile) => string }, r: ResultsFile, prefix: string[] = []): string {
  const m = a.measure(r)
  if (m === null) return `| ${[...prefix, a.text].join(' | ')} | ${a.instead?.(r) || 'not measured in this run'} | – |`
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
