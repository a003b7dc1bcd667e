// `npm run bench -- --compare <ref>`: its argument parsing (bad usage is a BenchUsageError,
// exit code 2), the row matching and ratio maths, and one real comparison with HEAD at the
// tiny size on the smallest scenario (machine), which must print both sides and leave no
// temp dir behind, also when it is stopped by SIGTERM halfway. Never checks a time or a rate.
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import type { CompareReport } from '../../bench/compare.js'
import { parseCompareArgs, wantsCompare } from '../../bench/lib/compare-args.js'
import { compareTable, formatCompareRatio, matchRows, ratioOf } from '../../bench/lib/compare-rows.js'
import { BenchUsageError } from '../../bench/lib/errors.js'
import type { Row } from '../../bench/lib/result.js'

const RUNNER = fileURLToPath(new URL('../../bench/run.js', import.meta.url))

interface Ran { code: number | null, signal: string | null, stdout: string, stderr: string }

/** Runs the runner with `args` (TMPDIR = `tmp`); `onStderr` may act on its progress. */
function runRunner (args: string[], tmp: string, limitMs: number, onStderr?: (text: string, child: ReturnType<typeof spawn>) => void): Promise<Ran> {
  // Through `env -u NODE_OPTIONS`: tap's process-info hook puts itself into every child's
  // NODE_OPTIONS (also through the runner's own spawns), and under it typescript/bin/tsc,
  // which the runner starts for the ref, fails (a require(esm) cycle).
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, RUNNER, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: tmp } })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d
    onStderr?.(stderr, child)
  })
  // Bounded: a stuck runner is killed (with its group, by its own handlers) and the test fails on the code.
  const killer = setTimeout(() => child.kill('SIGKILL'), limitMs)
  return new Promise(resolve => child.once('exit', (code, signal) => {
    clearTimeout(killer)
    resolve({ code, signal, stdout, stderr })
  }))
}

function usageError (t: Test, argv: string[], pattern: RegExp): void {
  let caught: unknown = null
  try {
    parseCompareArgs(argv)
  } catch (err) {
    caught = err
  }
  t.ok(caught instanceof BenchUsageError, `${argv.join(' ')}: a BenchUsageError`)
  const err = caught as BenchUsageError
  t.same([err.code, err.exitCode], ['BENCH_USAGE', 2], 'code and exit code')
  t.match(err.message, pattern)
}

t.test('arguments: defaults, every option, and bad usage as BenchUsageError (exit code 2)', async t => {
  t.ok(wantsCompare(['--tiny', '--compare', 'HEAD']))
  t.ok(wantsCompare(['--compare=main']))
  t.notOk(wantsCompare(['--tiny', '--only', 'compare']))
  t.same(parseCompareArgs(['--compare', 'HEAD~1']), { ref: 'HEAD~1', only: null, rounds: 3, mode: 'full', json: false, withPeers: false, keep: false })
  t.same(parseCompareArgs(['--compare=v1', '--only', 'produce, latency', '--rounds', '5', '--quick', '--json', '--with-peers', '--keep']),
    { ref: 'v1', only: ['produce', 'latency'], rounds: 5, mode: 'quick', json: true, withPeers: true, keep: true })
  t.equal(parseCompareArgs(['--compare', 'x', '--tiny', '--rounds=1']).mode, 'tiny')
  usageError(t, ['--compare'], /--compare needs a value/)
  usageError(t, ['--tiny'], /--compare needs a git ref/)
  usageError(t, ['--compare', 'HEAD', '--bogus'], /unknown option --bogus/)
  usageError(t, ['--compare', 'HEAD', 'stray'], /unexpected argument "stray"/)
  for (const bad of ['0', '-1', '1.5', 'abc', '101', '']) usageError(t, ['--compare', 'HEAD', `--rounds=${bad}`], bad === '' ? /needs a value/ : /--rounds must be a whole number/)
  usageError(t, ['--compare', 'HEAD', '--quick', '--tiny'], /exclude each other/)
  usageError(t, ['--compare', 'HEAD', '--only', ','], /at least one scenario/)
  usageError(t, ['--compare', 'HEAD', '--json=x'], /takes no value/)
  usageError(t, ['--compare', 'HEAD', '--rounds', '2', '--rounds', '3'], /given twice/)
})

const row = (name: string, value: number, extra: Partial<Row> = {}): Row => ({ name, system: 'Spool', metric: 'records/s', value, unit: '/s', ...extra })

t.test('row matching: medians per side, ratio this ÷ ref, aims, rows only one side has', async t => {
  const rows = matchRows(
    { rounds: [[row('a', 10), row('b', 1, { metric: 'p99', unit: 'ms', better: 'lower' }), row('renamed', 7, { aim: 'aim-1' }), row('new', 5)], [row('a', 30), row('b', 3, { metric: 'p99', unit: 'ms', better: 'lower' }), row('renamed', 9, { aim: 'aim-1' }), row('new', 6)], [row('a', 20), row('b', 2, { metric: 'p99', unit: 'ms', better: 'lower' })]] },
    { rounds: [[row('a', 5), row('b', 4, { metric: 'p99', unit: 'ms', better: 'lower' }), row('old name', 4, { aim: 'aim-1' }), row('gone', 1), row('zero', 0)], [row('a', 15), row('b', 4, { metric: 'p99', unit: 'ms', better: 'lower' }), row('old name', 4, { aim: 'aim-1' })]] },
  )
  const by = (name: string) => rows.find(r => r.name === name)!
  t.same([by('a').thisValue, by('a').refValue, by('a').ratio], [20, 10, 2], 'medians of 3 and of 2 rounds, ratio 2')
  t.same([by('a').thisRuns, by('a').refRuns], [[10, 30, 20], [5, 15]], 'every round kept')
  t.same([by('b').thisValue, by('b').refValue, by('b').ratio, by('b').better], [2, 4, 0.5, 'lower'], 'a lower-is-better row keeps its direction')
  t.same([by('renamed').thisValue, by('renamed').refValue, by('renamed').ratio], [8, 4, 2], 'rows with the same aim match across a rename')
  t.notOk(rows.some(r => r.name === 'old name'), 'the renamed row is not listed twice')
  t.same([by('new').thisValue, by('new').refValue, by('new').ratio], [5.5, null, null], 'a row only this tree has: no ref value, no ratio')
  t.same([by('gone').thisValue, by('gone').refValue, by('gone').ratio], [null, 1, null], 'a row only the ref has is listed after')
  t.equal(by('zero').ratio, null, 'no ratio over a zero')
  t.same(rows.map(r => r.name), ['a', 'b', 'renamed', 'new', 'gone', 'zero'], 'this tree\'s order, then the ref\'s leftovers')
  t.equal(ratioOf(3, 2), 1.5)
  t.equal(ratioOf(1, Number.NaN), null)
  t.equal(formatCompareRatio(1.0749), '1.07×')
  t.equal(formatCompareRatio(null), '—')
  const table = compareTable(rows, 'this (abc)', 'main (def)').split('\n')
  t.equal(table[0], '| configuration | system | metric | this (abc) | main (def) | this ÷ ref |')
  t.equal(table[2], '| a | Spool | records/s | 20 | 10 | 2.00× |')
  t.equal(table[3], '| b | Spool | p99, ms ↓ | 2 | 4 | 0.50× |')
  t.match(table[5], /^\| new \| Spool \| records\/s \| 5\.5 \| — \| — \|$/)
})

t.test('bad usage from the command line exits 2 with one line, before anything is built', async t => {
  const tmp = mkdtempSync(join(tmpdir(), 'spool-bench-compare-test-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  for (const [args, pattern] of [
    [['--compare', 'no-such-ref-xyz', '--tiny'], /^error: unknown git ref "no-such-ref-xyz"/],
    [['--compare', 'HEAD', '--only', 'nope'], /^error: unknown scenario "nope"; there are: machine, /],
    [['--compare', 'HEAD', '--rounds', 'many'], /^error: --rounds must be a whole number/],
  ] as const) {
    const r = await runRunner([...args], tmp, 30_000)
    t.equal(r.code, 2, `${args.join(' ')}: exit code 2`)
    t.match(r.stderr, pattern)
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
  }
  t.same(readdirSync(tmp), [], 'nothing was left in TMPDIR')
})

t.test('--compare HEAD --tiny --only machine: both sides measured, JSON report, temp dir removed', async t => {
  const root = mkdtempSync(join(tmpdir(), 'spool-bench-compare-e2e-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const tmp = join(root, 'tmp')
  mkdirSync(tmp)
  const r = await runRunner(['--compare', 'HEAD', '--tiny', '--only', 'machine', '--rounds', '2', '--json'], tmp, 240_000)
  t.equal(r.code, 0, `exit code (stderr tail: ${r.stderr.slice(-1500)})`)
  const report = JSON.parse(r.stdout) as CompareReport
  t.equal(report.format, 'spool-bench-compare/1')
  t.equal(report.rounds, 2)
  t.equal(report.mode, 'tiny')
  t.equal(report.withPeers, false)
  t.match(report.ref.sha, /^[0-9a-f]{40}$/)
  t.same(report.scenarios.map(s => s.scenario), ['machine'])
  const s = report.scenarios[0]!
  t.ok(s.ok, `machine ok ${s.errors.join('; ')}`)
  t.same([s.thisRounds, s.refRounds], [2, 2], 'two rounds on each side')
  t.ok(s.rows.length > 0, 'rows')
  for (const row of s.rows) {
    t.ok(row.thisValue !== null && row.refValue !== null, `${row.name} ${row.metric}: both sides have it`)
    t.equal(row.thisRuns.length, 2)
    t.equal(row.refRuns.length, 2)
    if (row.thisValue !== null && row.refValue !== null && row.refValue !== 0) t.equal(row.ratio, row.thisValue / row.refValue, 'ratio is this ÷ ref')
  }
  // The order of the runs: this, ref, this, ref.
  const order = [...r.stderr.matchAll(/== machine: round (\d) of 2, (this|ref)/g)].map(m => `${m[1]}${m[2]}`)
  t.same(order, ['1this', '1ref', '2this', '2ref'], 'the sides alternate')
  t.same(readdirSync(tmp), [], 'the ref\'s build and the runs\' scratch dirs are gone')
})

t.test('SIGTERM while comparing: the run stops and the temp dir is removed', async t => {
  const root = mkdtempSync(join(tmpdir(), 'spool-bench-compare-sig-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const tmp = join(root, 'tmp')
  mkdirSync(tmp)
  let sent = false
  const r = await runRunner(['--compare', 'HEAD', '--tiny', '--only', 'machine', '--rounds', '3'], tmp, 240_000, (text, child) => {
    if (!sent && text.includes('== machine: round 1 of 3, ref')) {
      sent = true
      child.kill('SIGTERM')
    }
  })
  t.ok(sent, 'the run got as far as the ref side')
  t.equal(r.code, 143, `exit code 143 after SIGTERM (stderr tail: ${r.stderr.slice(-800)})`)
  t.same(readdirSync(tmp), [], 'no temp dir is left')
})
