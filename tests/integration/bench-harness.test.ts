// The benchmark runner end to end at its smallest size, Spool only, so it cannot rot:
// `node dist/bench/run.js --tiny --no-peers --out <dir>` must run every default scenario,
// write the JSON, markdown and SVG with sane rows, and leave no temp dir and no process
// behind. It never checks a time or a rate (benchmarks do not pass or fail on numbers).
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { ResultsFile } from '../../bench/lib/results.js'

const RUNNER = fileURLToPath(new URL('../../bench/run.js', import.meta.url))
const EXPECTED = ['machine', 'produce', 'consume', 'latency', 'idle-consumers', 'acks-all', 'mqtt', 'websocket']

/** Processes whose command line mentions `text` (a leftover broker would name its data dir). */
function processesMentioning (text: string): string[] {
  const found: string[] = []
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
      if (cmdline.includes(text)) found.push(`${pid}: ${cmdline.slice(0, 200)}`)
    } catch { /* gone meanwhile */ }
  }
  return found
}

t.test('npm run bench -- --tiny --no-peers: every scenario, results files, nothing left behind', async t => {
  const root = mkdtempSync(join(tmpdir(), 'spool-bench-test-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const out = join(root, 'out')
  const scratch = join(root, 'tmp')
  mkdirSync(scratch)
  const child = spawn(process.execPath, [RUNNER, '--tiny', '--no-peers', '--out', out], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TMPDIR: scratch },
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  // Bounded well inside the file's timeout; a loaded 2-core machine needs minutes for the tiny run.
  const killer = setTimeout(() => child.kill('SIGKILL'), 250_000)
  const code = await new Promise<number | null>(resolve => child.once('exit', c => resolve(c)))
  clearTimeout(killer)
  t.equal(code, 0, `runner exit code (stderr tail: ${stderr.slice(-2000)})`)

  const results = JSON.parse(readFileSync(join(out, 'tiny.json'), 'utf8')) as ResultsFile
  t.equal(results.format, 'spool-bench/1')
  t.equal(results.mode, 'tiny')
  t.ok(results.host.cpus > 0, 'host info recorded')
  t.ok(typeof results.versions.node === 'string' && typeof results.versions.spool === 'string', 'versions recorded')
  t.same(results.scenarios.map(s => s.scenario), EXPECTED, 'every default scenario ran, in order')
  for (const s of results.scenarios) {
    t.ok(s.ok, `${s.scenario} succeeded ${s.error ?? ''}`)
    t.ok(s.rows.length > 0, `${s.scenario} has rows`)
    t.ok(s.skipped.some(x => x.includes('no-peers')) || ['machine', 'websocket', 'idle-consumers'].includes(s.scenario), `${s.scenario} says the peers were skipped (or has none)`)
    const bad = s.rows.filter(r => typeof r.name !== 'string' || r.name === '' || typeof r.system !== 'string' || r.system === '' ||
      typeof r.metric !== 'string' || r.metric === '' || typeof r.unit !== 'string' || !Number.isFinite(r.value) || r.value < 0 ||
      !Array.isArray(r.runs) || r.runs.length !== 1)
    t.same(bad, [], `${s.scenario}: every row has a name, system, metric, unit and a finite value`)
    t.notOk(s.rows.some(r => ['NATS JetStream', 'Redis Streams', 'Mosquitto', 'Aedes'].includes(r.system)), `${s.scenario}: no peer rows with --no-peers`)
  }
  const produce = results.scenarios.find(s => s.scenario === 'produce')!
  t.ok(produce.rows.some(r => r.system === 'Spool' && r.metric === 'records/s' && r.aim === 'sdk-produce-100b' && r.name === 'produce 100 B, 1 partition, 1 producer'), 'produce has the aim row, tagged with its aim')
  // The report finds an aim's rows by their tag: measured aims show a value, the rest say so.
  const { resultsMd } = await import('../../bench/report.js')
  const report = resultsMd(results, 'bench/results/tiny.json')
  t.match(report, /\| Produce ≥ 1,000,000 records\/s of 100 B, acks=1 \| [\d,.]+ rec\/s \(produce 100 B, 1 partition, 1 producer, records\/s/, 'the report reads the produce aim from its tagged row')
  t.match(report, /\| 19 \| Memory per idle, subscribed MQTT connection ≤ 4 KB \| not measured in this run \|/, 'an aim this run did not measure says so')
  t.ok(produce.rows.some(r => r.metric === 'server CPU s per 1M records'), 'produce reports broker CPU per million records')
  const latency = results.scenarios.find(s => s.scenario === 'latency')!
  t.ok(latency.rows.some(r => r.metric === 'p99.9 produce→consume'), 'latency reports p99.9')

  const md = readFileSync(join(out, 'tiny.md'), 'utf8')
  t.match(md, /\| configuration \| metric \| Spool \|/, 'markdown has the tables')
  for (const name of EXPECTED) t.match(md, new RegExp(`### ${name}: `), `markdown has a section for ${name}`)
  const svg = readFileSync(join(out, 'tiny.svg'), 'utf8')
  t.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, 'an SVG document')
  t.match(svg, /<rect [^>]*width="\d+"/, 'with bars')
  t.match(svg.trimEnd(), /<\/svg>$/, 'complete')
  t.match(stdout, /### produce: /, 'the runner prints the tables')

  t.same(readdirSync(scratch), [], 'no temp dir is left in TMPDIR')
  t.same(processesMentioning(root), [], 'no process started by the run is left')
})
