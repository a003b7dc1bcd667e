/**
 * `npm run fuzz`: property-based and mutation fuzzing of every decoder (codec targets, in
 * process) and of every listener of a real broker process (listener targets, over sockets).
 *
 *   node dist/bench/fuzz/fuzz.js [--target all|codec|listener|codec:<name>|listener:<name>[,...]]
 *                                [--cases 1000000] [--socket-cases 10000] [--seed N]
 *                                [--idle-connections 3000] [--http-cases N] [--case I | --path P] [--json file] [--list]
 *
 *   --cases         cases per codec target (property + mutation; default 10^6)
 *   --socket-cases  connections per listener target (default 10^4; see listeners.ts)
 *   --idle-connections  connections held open at once by listener:idle (default 3000)
 *   --http-cases    requests of listener:http (default: --socket-cases)
 *   --seed          the run's seed (default: random, printed); with the same seed and counts
 *                   a run makes the same inputs (the broker's scheduling is not replayed)
 *   --case I        replay one mutation case of one codec target (with --seed, --target)
 *   --path P        replay one fast-check counterexample of one codec target
 *
 * Prints one line per target (cases, time, outcomes, failures) and every failure with the
 * command that replays it; exits 1 when a target failed (known, reported defects are
 * listed but do not fail the run).
 */

import { writeFileSync } from 'node:fs'
import { numberArg, parseArgs } from '../lib/cli.js'
import { runMain } from '../lib/cleanup.js'
import { codecTargets } from './codecs/index.js'
import { runCodecTarget, type TargetResult } from './engine.js'
import { LISTENER_TARGETS, runListenerFuzz, type ListenerReport } from './listeners.js'

export interface FuzzReport {
  command: string
  date: string
  seed: number
  codecs: TargetResult[]
  listeners: ListenerReport | null
  failures: number
}

function render (r: TargetResult): string {
  const outcomes = Object.entries(r.outcomes).map(([k, n]) => `${k} ${n}`).join(', ')
  const known = Object.entries(r.known).map(([id, k]) => `known ${id} ×${k.count}`).join(', ')
  return `codec:${r.target.padEnd(34)} ${String(r.cases).padStart(9)} cases ${String(Math.round(r.ms / 1000)).padStart(5)} s  ` +
    `failures ${r.failures.length}${known === '' ? '' : `  (${known})`}${outcomes === '' ? '' : `\n    outcomes: ${outcomes}`}`
}

async function main (): Promise<void> {
  const args = parseArgs()
  const target = args.values.get('target') ?? 'all'
  const seed = numberArg(args, 'seed', Math.floor(Math.random() * 2 ** 31))
  const cases = numberArg(args, 'cases', 1_000_000)
  const socketCases = numberArg(args, 'socket-cases', 10_000)
  const onlyCase = args.values.has('case') ? numberArg(args, 'case', 0) : undefined
  const path = args.values.get('path')
  const all = codecTargets()
  if (args.flags.has('list')) {
    for (const c of all) process.stdout.write(`codec:${c.name}  ${c.summary}\n`)
    for (const [name, summary] of Object.entries(LISTENER_TARGETS)) process.stdout.write(`listener:${name}  ${summary}\n`)
    return
  }
  // Several targets may be given, separated by commas.
  const wanted = target.split(',').map(s => s.trim()).filter(s => s !== '')
  const wantsCodec = (name: string): boolean => wanted.some(w => w === 'all' || w === 'codec' || w === `codec:${name}` || (w === 'codec:kafka' && name.startsWith('kafka-')))
  const listenerNames = wanted.some(w => w === 'all' || w === 'listener')
    ? Object.keys(LISTENER_TARGETS)
    : wanted.filter(w => w.startsWith('listener:')).map(w => w.slice('listener:'.length))
  const chosen = all.filter(c => wantsCodec(c.name))
  if (chosen.length === 0 && listenerNames.length === 0) throw new Error(`no target "${target}" (--list shows them)`)
  for (const n of listenerNames) if (!(n in LISTENER_TARGETS)) throw new Error(`no listener target "${n}" (--list shows them)`)
  process.stdout.write(`fuzz: seed ${seed}, ${chosen.length} codec targets × ${cases} cases, listeners ${listenerNames.join(', ') || 'none'} × ${socketCases} connections\n`)

  const report: FuzzReport = { command: `npm run fuzz -- ${process.argv.slice(2).join(' ')}`.trim(), date: new Date().toISOString(), seed, codecs: [], listeners: null, failures: 0 }
  for (const c of chosen) {
    const r = await runCodecTarget(c, { cases, seed, ...(onlyCase === undefined ? {} : { onlyCase }), ...(path === undefined ? {} : { path }), progress: line => process.stderr.write(`${line}\n`) })
    report.codecs.push(r)
    report.failures += r.failures.length
    process.stdout.write(`${render(r)}\n`)
    for (const f of r.failures) process.stdout.write(`  FAIL ${f.kind}: ${f.message}\n    replay: ${f.reproduce}\n    input: ${f.input.slice(0, 2000)}\n`)
    for (const [id, k] of Object.entries(r.known)) process.stdout.write(`  known defect ${id} (${k.count} cases), e.g.: ${k.first.reproduce}\n`)
  }
  if (listenerNames.length > 0) {
    const l = await runListenerFuzz({
      targets: listenerNames, cases: socketCases, seed, idleConnections: numberArg(args, 'idle-connections', 3000), httpCases: numberArg(args, 'http-cases', socketCases),
      ...(onlyCase === undefined ? {} : { onlyCase }), log: line => process.stdout.write(`${line}\n`),
    })
    report.listeners = l
    report.failures += l.failures.length
  }
  process.stdout.write(`fuzz: ${report.failures === 0 ? 'no failures' : `${report.failures} failures`} (seed ${seed})\n`)
  const json = args.json
  if (json !== null) writeFileSync(json, JSON.stringify(report, null, 1) + '\n')
  if (report.failures > 0) process.exitCode = 1
}

await runMain(main)
process.exit()
