// The crash campaign (`npm run torture`, bench/torture/) at its short size: 5 kill -9
// cycles of a real `spool broker start` process under idempotent producers (acks=1 and all,
// gzip on some, keyed, 4 partitions) and a committing consumer group (about 15 s on a quiet
// machine; capped at two minutes so a loaded one still gets its 5 cycles). Every
// acknowledged record must be in the log exactly once, at its acknowledged offset, with its
// bytes and in per-key order; no group commit may run ahead of what the group was handed;
// the final SIGTERM must exit 0. The 100-cycle run and its figures are in docs/reliability.md.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { tempDir } from '../helpers/broker.js'
import { runToEnd } from '../helpers/processes.js'
import type { TortureResult } from '../../bench/torture/torture.js'

const TORTURE = fileURLToPath(new URL('../../bench/torture/torture.js', import.meta.url))

t.test('5 kill -9 cycles: nothing acknowledged is lost, duplicated, reordered or corrupted', async t => {
  const dir = tempDir(t, 'spool-torture-test-')
  const json = path.join(dir, 'result.json')
  const { code, output: out } = await runToEnd(t, TORTURE, ['--cycles', '5', '--seconds', '120', '--seed', '20261201', '--json', json, '--tmp', dir], 180_000)
  t.equal(code, 0, `torture exits 0\n${out.slice(-1500)}`)
  const r = JSON.parse(fs.readFileSync(json, 'utf8')) as TortureResult
  t.ok(r.cycles >= 5, `${r.cycles} cycles`)
  t.ok(r.acked > 200, `${r.acked} records acknowledged`)
  t.equal(r.verdict.checked, r.acked, 'every acknowledged record was looked for')
  t.same({ lost: r.verdict.lost, duplicated: r.verdict.duplicated, reordered: r.verdict.reordered, corrupted: r.verdict.corrupted, commitsAhead: r.verdict.commitsAhead },
    { lost: 0, duplicated: 0, reordered: 0, corrupted: 0, commitsAhead: 0 }, `no anomaly${r.verdict.examples.length > 0 ? `: ${r.verdict.examples.join('; ')}` : ''}`)
  t.equal(r.cleanShutdownExit, 0, 'the final SIGTERM stopped the broker cleanly')
  t.equal(r.recoveryMs.count, r.cycles, 'a recovery time per cycle')
  t.match(out, /checked [\d,]+: lost 0, duplicated 0, reordered 0, corrupted 0/, 'the figures are printed')
})
