// The codec micro-benchmarks (bench/scenarios/micro.ts): every library whose algorithm is
// Spool's gives Spool's output on the benchmark's inputs (checked before timing), a wrong
// output is refused with a named error, and the program's rows have the runner's format.
// Never checks a time or a rate.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { BenchOutputMismatchError } from '../../bench/lib/errors.js'
import { checkCase, plain, timeCase, type MicroCase } from '../../bench/lib/micro-harness.js'
import type { ScenarioOutput } from '../../bench/lib/result.js'
import { loadPeers, microCases } from '../../bench/scenarios/micro.js'

const PROGRAM = fileURLToPath(new URL('../../bench/scenarios/micro.js', import.meta.url))
const PEERS = ['@node-rs/crc32', 'crc-32/crc32c', 'crc-32 (IEEE CRC-32)', 'kafkajs', 'varint', 'mqtt-packet']

t.test('every library with Spool\'s algorithm gives Spool\'s output on every case', async t => {
  const cases = microCases(loadPeers(true))
  t.same(cases.map(c => c.name.split(' (')[0]), [
    'CRC-32C 256 B', 'CRC-32C 1 KiB', 'CRC-32C 16 KiB', 'varint encode', 'varint decode',
    'RecordBatch encode', 'RecordBatch decode', 'MQTT PUBLISH decode', 'Kafka request header decode',
  ])
  const systems = new Set(cases.flatMap(c => c.subjects.map(s => s.system)))
  for (const peer of PEERS) t.ok(systems.has(peer), `${peer} is installed and measured`)
  for (const c of cases) {
    t.equal(c.subjects[0]!.system, 'Spool', `${c.name}: Spool first`)
    const compared = await checkCase(c)
    t.equal(compared, c.subjects.filter(s => s.output !== undefined).length, `${c.name}: ${compared} outputs equal`)
    t.ok(compared >= 2, `${c.name}: at least one other library checked`)
  }
  const crc = cases[0]!
  t.notOk(crc.subjects.find(s => s.system === 'crc-32 (IEEE CRC-32)')!.output, 'IEEE CRC-32 is not compared with CRC-32C')
  t.match(crc.notes!.join(' '), /different checksum.*speed only/, 'and the notes say so')
})

t.test('a subject whose output differs is refused before timing', async t => {
  const good = microCases(loadPeers(false))[0]!
  const broken: MicroCase = { ...good, subjects: [...good.subjects, { system: 'off by one', run: () => 0, output: () => ((good.subjects[0]!.output!() as number) + 1) }] }
  const err = await checkCase(broken).then(() => null, (e: unknown) => e)
  t.ok(err instanceof BenchOutputMismatchError, 'a BenchOutputMismatchError')
  t.equal((err as BenchOutputMismatchError).code, 'BENCH_OUTPUT_MISMATCH')
  t.match((err as Error).message, /CRC-32C 256 B: off by one differs from Spool \(value: \d+ vs \d+\); not timed/)
  const noReference: MicroCase = { ...good, subjects: [{ system: 'Spool', run: () => 0 }] }
  await t.rejects(checkCase(noReference), BenchOutputMismatchError)
  t.same(plain({ a: new Uint8Array([1, 255]), b: [new Uint8Array([16])] }), { a: '01ff', b: ['10'] }, 'bytes compare as hex')
})

t.test('timeCase: one row per subject in the runner\'s row format', async t => {
  const c = microCases(loadPeers(true)).find(x => x.name.startsWith('Kafka request header'))!
  const rows = await timeCase(c, { sampleMs: 2, samples: 2 })
  t.same(rows.map(r => r.system), c.subjects.map(s => s.system))
  for (const r of rows) {
    t.equal(r.name, c.name)
    t.equal(r.metric, 'headers/s')
    t.equal(r.unit, '/s')
    t.ok(Number.isFinite(r.value) && r.value > 0, `${r.system}: a finite positive rate`)
  }
})

function runProgram (args: string[]): Promise<{ code: number | null, stderr: string }> {
  const child = spawn(process.execPath, [PROGRAM, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000)
  return new Promise(resolve => child.once('exit', code => {
    clearTimeout(killer)
    resolve({ code, stderr })
  }))
}

t.test('node dist/bench/scenarios/micro.js --tiny --json: rows for Spool and each library, with the caveats', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-bench-micro-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const json = join(dir, 'micro.json')
  const r = await runProgram(['--tiny', '--json', json])
  t.equal(r.code, 0, `exit code (stderr tail: ${r.stderr.slice(-1500)})`)
  const out = JSON.parse(readFileSync(json, 'utf8')) as ScenarioOutput
  t.equal(out.scenario, 'micro')
  const bad = out.rows.filter(row => row.name === '' || row.system === '' || row.metric === '' || row.unit === '' || !Number.isFinite(row.value) || row.value <= 0)
  t.same(bad, [], 'every row has a name, system, metric, unit and a finite positive value')
  const names = [...new Set(out.rows.map(row => row.name))]
  t.equal(names.length, 9, 'nine operations')
  for (const name of names) t.ok(out.rows.some(row => row.name === name && row.system === 'Spool'), `${name}: a Spool row`)
  for (const peer of PEERS) t.ok(out.rows.some(row => row.system === peer), `${peer} has rows`)
  t.ok(out.rows.some(row => row.system === 'Spool pure JS' && row.name === 'CRC-32C 16 KiB'), 'CRC-32C\'s pure JS path has its own rows')
  t.match(out.notes!.join('\n'), /IEEE CRC-32\) computes a different checksum/, 'the IEEE caveat is in the notes')
  t.match(r.stderr, /CRC-32C 256 B: 5 output\(s\) checked equal/, 'the checks are reported')

  const alone = join(dir, 'alone.json')
  const r2 = await runProgram(['--tiny', '--no-peers', '--json', alone])
  t.equal(r2.code, 0)
  const spoolOnly = JSON.parse(readFileSync(alone, 'utf8')) as ScenarioOutput
  t.same([...new Set(spoolOnly.rows.map(row => row.system))].sort(), ['Spool', 'Spool pure JS'], '--no-peers: Spool only')
  t.ok(spoolOnly.skipped!.some(s => s.includes('no-peers')), 'and it says the others were skipped')
})
