/**
 * `npm run bench -- --compare <git-ref>`: this working tree against another commit, on the
 * same machine in the same run (options: bench/lib/compare-args.ts).
 *
 *   1. `git archive <ref>` is unpacked into a temp dir; its node_modules is a symlink to
 *      this tree's when the two package-lock.json files are identical, else
 *      `npm ci --prefer-offline --ignore-scripts` installs it there; `npx tsc -p .` builds it.
 *   2. Each chosen scenario runs alternately on both, this tree first (A B A B … for
 *      --rounds N), each side with its own scenario program, compiled from its own source,
 *      as a child in its own process group (bench/lib/program.ts). Peers are not run unless
 *      --with-peers.
 *   3. Rows are matched (bench/lib/compare-rows.ts) and printed with each side's median of
 *      its rounds and the ratio this ÷ ref, as tables or (--json) as JSON on stdout.
 * The temp dir goes on exit and on SIGINT/SIGTERM (run.ts's handlers), unless --keep.
 * Alternating the sides spreads slow drift of the machine (other load, thermal state, page
 * cache) over both instead of charging it to whichever ran second.
 */

import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { COMPARE_USAGE, parseCompareArgs, type CompareOptions } from './lib/compare-args.js'
import { compareTable, matchRows, type CompareRow, type SideRuns } from './lib/compare-rows.js'
import { BenchBuildError, BenchUsageError } from './lib/errors.js'
import { REPO_ROOT, hostInfo, spoolSha } from './lib/host.js'
import { registerTempDir, runProgram, unregisterTempDir } from './lib/program.js'
import { SCENARIOS, type ScenarioSpec } from './lib/registry.js'
import type { Row, ScenarioOutput } from './lib/result.js'
import type { HostInfo } from './lib/results.js'

export interface CompareScenario {
  scenario: string
  title: string
  /** Rounds that produced rows, per side. */
  thisRounds: number
  refRounds: number
  ok: boolean
  errors: string[]
  notes: string[]
  rows: CompareRow[]
}

export interface CompareReport {
  format: 'spool-bench-compare/1'
  command: string
  startedAt: string
  finishedAt: string
  mode: string
  rounds: number
  withPeers: boolean
  this: { sha: string }
  ref: { ref: string, sha: string }
  host: HostInfo
  loadBefore: number[]
  loadAfter: number[]
  scenarios: CompareScenario[]
}

interface Side {
  label: string
  /** The tree the side's programs run in (their cwd). */
  root: string
  specs: ScenarioSpec[]
}

/** The commit `ref` names, or a BenchUsageError. */
export function resolveRef (ref: string, repo: string = REPO_ROOT): string {
  const r = spawnSync('git', ['-C', repo, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { encoding: 'utf8' })
  if (r.status !== 0 || r.stdout.trim() === '') throw new BenchUsageError(`unknown git ref "${ref}" (git rev-parse found no commit by that name)`)
  return r.stdout.trim()
}

/** The chosen scenarios of this tree, or a BenchUsageError naming an unknown one. */
export function selectForCompare (options: CompareOptions): ScenarioSpec[] {
  if (options.only !== null) {
    for (const name of options.only) {
      if (!SCENARIOS.some(s => s.name === name)) {
        throw new BenchUsageError(`unknown scenario "${name}"; there are: ${SCENARIOS.map(s => s.name).join(', ')}`)
      }
    }
    return SCENARIOS.filter(s => options.only!.includes(s.name))
  }
  return SCENARIOS.filter(s => s.in[options.mode])
}

async function step (name: string, command: string, args: string[], cwd: string, timeoutSeconds: number): Promise<void> {
  // The build runs without the caller's NODE_OPTIONS: a test runner's loaders (tap's) break tsc.
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  const r = await runProgram({ name, command, args, cwd, env, timeoutSeconds })
  if (r.code !== 0) {
    const why = r.timedOut ? `timed out after ${timeoutSeconds} s` : `exited with ${r.code ?? r.signal}`
    throw new BenchBuildError(`${name}: ${command} ${args.join(' ')} ${why}: ${r.stderrTail.trim().split('\n').slice(-8).join(' / ')}`)
  }
}

/** Unpacks, installs and compiles `sha` into `tree`. */
async function buildRef (sha: string, tree: string): Promise<void> {
  mkdirSync(tree, { recursive: true })
  const tar = join(tree, '..', 'ref.tar')
  await step('git archive', 'git', ['-C', REPO_ROOT, 'archive', '--format=tar', '-o', tar, sha], REPO_ROOT, 120)
  await step('unpack', 'tar', ['-xf', tar, '-C', tree], tree, 120)
  rmSync(tar, { force: true })
  const lockHere = join(REPO_ROOT, 'package-lock.json')
  const lockThere = join(tree, 'package-lock.json')
  const sameLock = existsSync(lockHere) && existsSync(lockThere) && readFileSync(lockHere).equals(readFileSync(lockThere))
  if (sameLock) {
    process.stderr.write('compare: same package-lock.json: the ref uses this tree\'s node_modules\n')
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(tree, 'node_modules'), 'dir')
  } else {
    process.stderr.write('compare: package-lock.json differs: npm ci for the ref\n')
    await step('npm ci', 'npm', ['ci', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], tree, 900)
  }
  await step('tsc', 'npx', ['tsc', '-p', '.'], tree, 900)
}

/** The ref's own scenario list (its registry), or this tree's when the ref has none. */
async function refSpecs (tree: string): Promise<ScenarioSpec[]> {
  const file = join(tree, 'dist', 'bench', 'lib', 'registry.js')
  if (!existsSync(file)) return SCENARIOS
  const mod = await import(pathToFileURL(file).href) as { SCENARIOS?: ScenarioSpec[] }
  return Array.isArray(mod.SCENARIOS) ? mod.SCENARIOS : SCENARIOS
}

/** One run of one scenario on one side: its rows, or why there are none. */
async function runSide (side: Side, name: string, options: CompareOptions, scratch: string, round: number): Promise<{ output: ScenarioOutput | null, error: string | null, missing: boolean }> {
  const spec = side.specs.find(s => s.name === name)
  const program = spec === undefined ? null : join(side.root, 'dist', 'bench', spec.file)
  if (spec === undefined || program === null || !existsSync(program)) return { output: null, error: null, missing: true }
  const mode = options.mode
  const modeArgs = mode === 'full' ? [] : [`--${mode}`]
  const tmp = join(scratch, `${name}-${side.label}-${round}`)
  const json = `${tmp}.json`
  mkdirSync(tmp, { recursive: true })
  const args = spec.external === true
    ? [...modeArgs, '--json', json]
    : [...modeArgs, ...(options.withPeers ? [] : ['--no-peers']), ...(spec.args?.[mode] ?? []), '--json', json, '--tmp', tmp]
  const r = await runProgram({
    name: `${name} ${side.label}`,
    command: process.execPath,
    args: [program, ...args],
    cwd: side.root,
    env: { ...process.env, TMPDIR: tmp },
    timeoutSeconds: spec.timeout[mode],
  })
  const output = r.code === 0 && existsSync(json) ? JSON.parse(readFileSync(json, 'utf8')) as ScenarioOutput : null
  rmSync(tmp, { recursive: true, force: true })
  rmSync(json, { force: true })
  if (output !== null) return { output, error: null, missing: false }
  const why = r.timedOut ? `timed out after ${spec.timeout[mode]} s` : `exited with ${r.code ?? r.signal}`
  return { output: null, error: `${side.label} round ${round} ${why}: ${r.stderrTail.trim().split('\n').slice(-6).join(' / ')}`, missing: false }
}

function printReport (report: CompareReport, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n')
    return
  }
  const thisLabel = `this (${report.this.sha})`
  const refLabel = `${report.ref.ref} (${report.ref.sha.slice(0, 7)})`
  process.stdout.write(`\n# Compare: ${thisLabel} vs ${refLabel}, ${report.mode}, ${report.rounds} round(s) each, medians; ${report.withPeers ? 'peers included' : 'no peers'}\n`)
  for (const s of report.scenarios) {
    process.stdout.write(`\n### ${s.scenario}: ${s.title} (rounds: this ${s.thisRounds}, ref ${s.refRounds})${s.ok ? '' : ' — FAILED'}\n\n`)
    for (const e of s.errors) process.stdout.write(`- error: ${e}\n`)
    for (const n of s.notes) process.stdout.write(`- ${n}\n`)
    if (s.errors.length + s.notes.length > 0) process.stdout.write('\n')
    if (s.rows.length > 0) process.stdout.write(compareTable(s.rows, thisLabel, refLabel) + '\n')
  }
}

/**
 * Runs the comparison `argv` asks for (the runner's arguments) and prints it. Sets
 * process.exitCode to 1 when a run failed; bad usage throws a BenchUsageError (exit 2).
 */
export async function runCompare (argv: readonly string[], interrupted: () => boolean): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(COMPARE_USAGE)
    return
  }
  const options = parseCompareArgs(argv)
  const selected = selectForCompare(options)
  const sha = resolveRef(options.ref)
  const startedAt = new Date().toISOString()
  const loadBefore = loadavg()
  const root = mkdtempSync(join(tmpdir(), 'spool-bench-compare-'))
  registerTempDir(root)
  const tree = join(root, 'tree')
  const scratch = mkdtempSync(join(tmpdir(), 'spool-bench-compare-runs-'))
  registerTempDir(scratch)
  process.stderr.write(`compare: building ${options.ref} (${sha.slice(0, 12)}) in ${tree}\n`)
  await buildRef(sha, tree)
  if (options.keep) {
    unregisterTempDir(root)
    process.stderr.write(`compare: --keep: the ref's build stays in ${tree}\n`)
  }
  const thisSide: Side = { label: 'this', root: REPO_ROOT, specs: SCENARIOS }
  const refSide: Side = { label: 'ref', root: tree, specs: await refSpecs(tree) }
  const scenarios: CompareScenario[] = []
  for (const spec of selected) {
    const runs = { this: [] as Row[][], ref: [] as Row[][] }
    const errors: string[] = []
    const notes: string[] = []
    let title = spec.name
    for (let round = 1; round <= options.rounds && !interrupted(); round++) {
      for (const side of [thisSide, refSide]) {
        if (interrupted()) break
        process.stderr.write(`\n== ${spec.name}: round ${round} of ${options.rounds}, ${side.label}\n`)
        const r = await runSide(side, spec.name, options, scratch, round)
        if (r.missing) {
          const note = `${side.label === 'ref' ? options.ref : 'this tree'} has no scenario "${spec.name}" (or it is not built): its column is empty`
          if (!notes.includes(note)) notes.push(note)
        } else if (r.output !== null) {
          runs[side.label as 'this' | 'ref'].push(r.output.rows)
          if (side === thisSide) title = r.output.title
        } else if (r.error !== null) {
          errors.push(r.error)
        }
      }
    }
    const thisRuns: SideRuns = { rounds: runs.this }
    const refRuns: SideRuns = { rounds: runs.ref }
    scenarios.push({
      scenario: spec.name,
      title,
      thisRounds: runs.this.length,
      refRounds: runs.ref.length,
      ok: errors.length === 0 && runs.this.length > 0,
      errors,
      notes,
      rows: matchRows(thisRuns, refRuns),
    })
  }
  const report: CompareReport = {
    format: 'spool-bench-compare/1',
    command: `npm run bench -- ${argv.join(' ')}`,
    startedAt,
    finishedAt: new Date().toISOString(),
    mode: options.mode,
    rounds: options.rounds,
    withPeers: options.withPeers,
    this: { sha: spoolSha() },
    ref: { ref: options.ref, sha },
    host: hostInfo(),
    loadBefore,
    loadAfter: loadavg(),
    scenarios,
  }
  if (!interrupted()) printReport(report, options.json)
  if (scenarios.some(s => !s.ok)) process.exitCode = 1
}
