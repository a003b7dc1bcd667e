/**
 * The benchmark runner: `npm run bench` (→ node dist/bench/run.js).
 *
 *   npm run bench                      every scenario, peers included, 3 runs each (medians);
 *                                      writes bench/results/full.{json,md,svg} and bench/RESULTS.md
 *   npm run bench -- --quick           small counts, 1 run each, in under 2 minutes (results/quick.*)
 *   npm run bench -- --tiny --no-peers smallest counts, Spool only (what npm test runs)
 *   --only produce,latency             just these (merged into an existing results file)
 *   --no-peers                         Spool only (no NATS, Redis, Mosquitto, Aedes)
 *   --scale                            also the scale scenarios (1,000 partitions, a 5 GB log)
 *   --soak                             also the soak (30 minutes of mixed load; 3 with --quick)
 *   --repeat N                         runs per scenario (default 3 full, 1 quick/tiny)
 *   --out DIR                          where results go (default bench/results)
 *   --fresh                            with --only: replace the results file instead of merging
 *   --no-report                        do not regenerate bench/RESULTS.md after a full run
 *   --list                             print the scenarios and exit
 *   --compare <git-ref>                this tree against another commit, alternately, on the
 *                                      same machine (bench/compare.ts; --only, --rounds N,
 *                                      --quick/--tiny, --json, --with-peers, --keep)
 *
 * Each scenario is a program (bench/scenarios/*.ts, bench/storage.ts, and bench/groups.ts
 * and bench/browser.ts when built) run as a child process in its own process group with
 * --json <file> --tmp <dir>; it starts the servers it needs (Spool as a separate process,
 * peers as real servers on 127.0.0.1 with temp data dirs) and stops them. The runner kills
 * the whole group when a program ends, times out, or on Ctrl-C, and deletes its temp root,
 * so nothing is left behind (programs also get TMPDIR inside that root). Set-up of the
 * peers and the build: bench/setup.
 */

import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runCompare } from './compare.js'
import { parseArgs, type Mode } from './lib/cli.js'
import { wantsCompare } from './lib/compare-args.js'
import { BenchError } from './lib/errors.js'
import { REPO_ROOT, hostInfo, spoolSha, versions } from './lib/host.js'
import { resultsMarkdown, resultsSvg, scenarioTable } from './lib/render.js'
import { SCENARIOS, type ScenarioSpec } from './lib/registry.js'
import { registerTempDir, removeTempDirs, runProgram, runningName, stopRunning, type ProgramOutcome } from './lib/program.js'
import type { ScenarioOutput } from './lib/result.js'
import { aggregateRuns, mergeResults, readResults, type ResultsFile, type ScenarioResult } from './lib/results.js'
import { writeResultsMd } from './report.js'

const DIST_BENCH = fileURLToPath(new URL('.', import.meta.url))

let tempRoot: string | null = null
let interrupted = false

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(code)
    interrupted = true
    process.stderr.write(`\n${signal}: stopping ${runningName() ?? 'the runner'} and everything it started\n`)
    void stopRunning(3000).finally(() => {
      removeTempDirs()
      process.exit(code)
    })
  })
}

function runScenarioProgram (spec: ScenarioSpec, args: string[], timeoutSeconds: number, tmp: string): Promise<ProgramOutcome> {
  mkdirSync(tmp, { recursive: true })
  return runProgram({
    name: spec.name,
    command: process.execPath,
    args: [join(DIST_BENCH, spec.file), ...args],
    cwd: REPO_ROOT,
    // Whatever a program puts in the system temp dir lands in the runner's temp root,
    // which is deleted at the end even if the program is killed.
    env: { ...process.env, TMPDIR: tmp },
    timeoutSeconds,
  })
}

function selectScenarios (mode: Mode, only: string[] | null, scale: boolean, soak: boolean): ScenarioSpec[] {
  if (only !== null) {
    for (const name of only) {
      if (!SCENARIOS.some(s => s.name === name)) throw new Error(`unknown scenario "${name}" (see --list)`)
    }
    return SCENARIOS.filter(s => only.includes(s.name))
  }
  return SCENARIOS.filter(s => s.in[mode] || (scale && s.scale === true && mode === 'full') || (soak && s.soak === true))
}

async function runScenario (spec: ScenarioSpec, mode: Mode, repeats: number, noPeers: boolean): Promise<ScenarioResult | null> {
  const program = relative(REPO_ROOT, join(REPO_ROOT, 'bench', spec.file.replace(/\.js$/, '.ts')))
  if (!existsSync(join(DIST_BENCH, spec.file))) {
    if (spec.external === true) {
      process.stderr.write(`[${spec.name}] skipped: ${program} is not there (written by other work)\n`)
      return null
    }
    throw new Error(`${join(DIST_BENCH, spec.file)} is missing: build first (npx tsc -p .)`)
  }
  const modeArgs = mode === 'full' ? [] : [`--${mode}`]
  const extra = spec.args?.[mode] ?? []
  const outputs: ScenarioOutput[] = []
  const errors: string[] = []
  const startedAt = new Date().toISOString()
  const loadBefore = loadavg()
  const started = performance.now()
  const sha = spoolSha()
  const runs = spec.external === true || spec.scale === true || spec.soak === true || spec.name === 'storage' ? 1 : repeats
  const shown = spec.external === true ? modeArgs : [...modeArgs, ...(noPeers ? ['--no-peers'] : []), ...extra]
  const command = `node dist/bench/${spec.file}${shown.length > 0 ? ` ${shown.join(' ')}` : ''}`
  for (let i = 0; i < runs && !interrupted; i++) {
    const json = join(tempRoot!, `${spec.name}-${i}.json`)
    const tmp = join(tempRoot!, `${spec.name}-${i}`)
    const args = spec.external === true ? [...shown, '--json', json] : [...shown, '--json', json, '--tmp', tmp]
    process.stderr.write(`\n== ${spec.name} (run ${i + 1} of ${runs})\n`)
    const r = await runScenarioProgram(spec, args, spec.timeout[mode], tmp)
    if (r.code === 0 && existsSync(json)) {
      outputs.push(JSON.parse(readFileSync(json, 'utf8')) as ScenarioOutput)
    } else {
      const why = r.timedOut ? `timed out after ${spec.timeout[mode]} s` : `exited with ${r.code ?? r.signal}`
      errors.push(`run ${i + 1} ${why}: ${r.stderrTail.trim().split('\n').slice(-6).join(' / ')}`)
    }
  }
  const first = outputs[0]
  return {
    scenario: spec.name,
    title: first?.title ?? spec.name,
    ...(first?.description !== undefined ? { description: first.description } : {}),
    program,
    command,
    ok: errors.length === 0 && outputs.length > 0,
    ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
    runs: outputs.length,
    startedAt,
    seconds: (performance.now() - started) / 1000,
    spoolSha: sha,
    loadBefore,
    loadAfter: loadavg(),
    notes: [...new Set(outputs.flatMap(o => o.notes ?? []))],
    skipped: [...new Set(outputs.flatMap(o => o.skipped ?? []))],
    config: first?.config ?? {},
    rows: aggregateRuns(outputs),
  }
}

async function main (): Promise<void> {
  const argv = process.argv.slice(2)
  if (wantsCompare(argv)) {
    await runCompare(argv, () => interrupted)
    return
  }
  const args = parseArgs()
  if (args.flags.has('list')) {
    const nameWidth = Math.max(...SCENARIOS.map(s => s.name.length)) + 1
    for (const s of SCENARIOS) {
      const where = s.scale === true ? 'scale (--scale)' : s.soak === true ? 'soak (--soak)' : Object.entries(s.in).filter(([, v]) => v).map(([k]) => k).join(', ') || 'only with --only'
      console.log(`${s.name.padEnd(nameWidth)} ${`bench/${s.file.replace(/\.js$/, '.ts')}`.padEnd(40)} ${where}${s.external === true ? ' (external, when built)' : ''}`)
    }
    return
  }
  const mode = args.mode
  const only = args.values.get('only')?.split(',').map(s => s.trim()).filter(s => s.length > 0) ?? null
  const repeats = Number(args.values.get('repeat') ?? (mode === 'full' ? 3 : 1))
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error('--repeat must be a positive integer')
  const outDir = resolve(args.values.get('out') ?? join(REPO_ROOT, 'bench', 'results'))
  const selected = selectScenarios(mode, only, args.flags.has('scale'), args.flags.has('soak'))
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`
  const started = new Date().toISOString()
  const loadBefore = loadavg()
  tempRoot = mkdtempSync(join(tmpdir(), 'spool-bench-run-'))
  registerTempDir(tempRoot)
  process.stderr.write(`spool bench (${mode}): ${selected.map(s => s.name).join(', ')}; load average ${loadBefore.map(l => l.toFixed(2)).join(' ')}\n`)
  const scenarios: ScenarioResult[] = []
  try {
    for (const spec of selected) {
      if (interrupted) break
      const result = await runScenario(spec, mode, repeats, args.noPeers)
      if (result !== null) scenarios.push(result)
    }
  } finally {
    await stopRunning()
    removeTempDirs()
  }
  let results: ResultsFile = {
    format: 'spool-bench/1',
    mode,
    command,
    startedAt: started,
    finishedAt: new Date().toISOString(),
    host: hostInfo(),
    versions: versions(),
    loadBefore,
    loadAfter: loadavg(),
    repeats,
    scenarios,
  }
  mkdirSync(outDir, { recursive: true })
  const jsonFile = join(outDir, `${mode}.json`)
  if (only !== null && !args.flags.has('fresh') && existsSync(jsonFile)) results = mergeResults(readResults(jsonFile), results)
  writeFileSync(jsonFile, JSON.stringify(results, null, 2) + '\n')
  writeFileSync(join(outDir, `${mode}.md`), resultsMarkdown(results))
  writeFileSync(join(outDir, `${mode}.svg`), resultsSvg(results))
  for (const s of scenarios) {
    process.stdout.write(`\n### ${s.scenario}: ${s.title}${s.ok ? '' : ` — FAILED: ${s.error}`}\n\n`)
    if (s.rows.length > 0) process.stdout.write(scenarioTable(s) + '\n')
  }
  process.stdout.write(`\nResults: ${relative(process.cwd(), jsonFile)}, ${mode}.md, ${mode}.svg in ${relative(process.cwd(), outDir) || '.'}\n`)
  if (mode === 'full' && args.values.get('out') === undefined && !args.flags.has('no-report')) {
    const file = writeResultsMd(jsonFile)
    process.stdout.write(`Regenerated ${relative(process.cwd(), file)}\n`)
  }
  if (scenarios.some(s => !s.ok)) process.exitCode = 1
}

main().catch(err => {
  if (err instanceof BenchError) {
    // An expected failure (bad usage, a ref that does not build): one line, no stack.
    process.stderr.write(`error: ${err.message}\n`)
    process.exitCode = err.exitCode
    return
  }
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
}).finally(() => {
  removeTempDirs()
})
