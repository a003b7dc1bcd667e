/**
 * The soak as a benchmark scenario (`npm run bench -- --soak`): runs bench/soak/soak.ts for a
 * set time and turns its result into rows, so a whole published run can hold the memory aim
 * "broker RSS flat (± 10%) over a 30-minute soak" next to the other aims. The soak program
 * (one broker child under a mixed load of SDK producers and a group, slow readers, vanishing
 * members, MQTT sessions over TCP and WebSocket, the SDK over WebSocket, /api polling and
 * canaries) does the measuring and the checking; this reads its JSON.
 *
 *   node dist/bench/scenarios/soak.js [--quick|--tiny] [--minutes 30] [--seed N] [--rate 150]
 *        [--soak-json file] [--json out.json]
 *
 * `--soak-json` keeps the soak's own result (every check and 5-s sample); the rows' config holds
 * the RSS samples either way, so a published run keeps the raw curve.
 *
 * Sizes: 30 minutes (full), 3 (quick), 1 (tiny). The soak judges memory only for runs of 10
 * minutes or more (the first fifth, at most 5 minutes, is warm-up); shorter runs report it.
 */

import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { SoakResult } from '../soak/soak.js'
import { bySize, numberArg, parseArgs } from '../lib/cli.js'
import { runMain, tempDir } from '../lib/cleanup.js'
import { Recorder, SPOOL } from '../lib/result.js'

const SOAK = fileURLToPath(new URL('../soak/soak.js', import.meta.url))
const MiB = 1024 * 1024

function runSoak (soakArgs: string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    // Same process group as this program: the runner's kill of the group stops it too.
    const child = spawn(process.execPath, [SOAK, ...soakArgs], { stdio: ['ignore', 'inherit', 'inherit'] })
    child.once('error', reject)
    child.once('exit', code => resolve(code))
  })
}

await runMain(async () => {
  const args = parseArgs()
  const minutes = numberArg(args, 'minutes', bySize(args.mode, { full: 30, quick: 3, tiny: 1 }))
  const tmp = tempDir('soak', args.tmp)
  const rec = new Recorder('soak', `Soak: ${minutes} minutes of mixed load on one broker`,
    'One `spool broker start` child under a steady mixed load for the whole time (bench/soak/soak.ts): SDK producers at acks=1, acks=all idempotent and gzip with a consumer group reading everything; slow readers; group members killed with SIGKILL; MQTT sessions coming and going over TCP and WebSocket; the SDK over WebSocket; /api polling; canaries through the native and MQTT ports. Resident memory, descriptors and event-loop stalls are sampled every 5 s from outside; at the end every acknowledged record is checked in the log.')
  const json = args.values.get('soak-json') ?? join(tmp, 'soak.json')
  const passed = (['seed', 'rate'] as const).flatMap(k => args.values.has(k) ? [`--${k}`, String(numberArg(args, k, 0))] : [])
  const code = await runSoak(['--minutes', String(minutes), ...passed, '--json', json, '--tmp', tmp])
  if (!existsSync(json)) throw new Error(`the soak wrote no result (exit ${String(code)})`)
  const r = JSON.parse(readFileSync(json, 'utf8')) as SoakResult
  rec.config({ minutes, seed: r.seed, soakExit: code, rssSamplesMiB: r.samples.map(x => [Math.round(x.atMs / 1000), Math.round(x.rssBytes / MiB * 10) / 10]) })
  const name = `soak, ${minutes} min of mixed load`
  const aim = { aim: 'soak' }
  // The aim is a 30-minute soak; the soak judges memory from 10 minutes on (shorter runs are mostly warm-up).
  rec.add({ name, system: SPOOL, metric: 'RSS drift after the warm-up, absolute', value: Math.abs(r.rss.driftPercent), unit: '%', better: 'lower', ...(minutes >= 10 ? aim : {}) })
  rec.add({ name, system: SPOOL, metric: 'RSS after the warm-up', value: r.rss.startBytes / MiB, unit: 'MiB', better: 'lower', ...aim })
  rec.add({ name, system: SPOOL, metric: 'RSS at the end', value: r.rss.endBytes / MiB, unit: 'MiB', better: 'lower', ...aim })
  rec.add({ name, system: SPOOL, metric: 'peak RSS', value: r.rss.maxBytes / MiB, unit: 'MiB', better: 'lower', ...aim })
  rec.add({ name, system: SPOOL, metric: 'records acknowledged and checked', value: r.verdict.checked, unit: 'records', ...aim })
  rec.add({ name, system: SPOOL, metric: 'acknowledged records lost, duplicated, reordered or corrupted', value: r.verdict.lost + r.verdict.duplicated + r.verdict.reordered + r.verdict.corrupted, unit: 'records', better: 'lower', ...aim })
  rec.add({ name, system: SPOOL, metric: 'longest event-loop stall', value: r.stalls.maxMs, unit: 'ms', better: 'lower', ...aim })
  rec.add({ name, system: SPOOL, metric: 'checks failed', value: r.checks.filter(c => c.ok === false).length, unit: 'checks', better: 'lower', ...aim })
  rec.note(`soak seed ${r.seed} (rerun it with \`npm run soak -- --minutes ${minutes} --seed ${r.seed}\`)`)
  for (const c of r.checks) rec.note(`soak check ${c.ok === null ? 'not judged' : c.ok ? 'ok' : 'FAILED'}: ${c.name}: ${c.detail}`)
  rec.finish(args.json)
})
