/**
 * `npm run torture`: the crash campaign (docs/reliability.md). A real `spool broker start`
 * child process on loopback takes a steady load from idempotent producers of the public SDK
 * (acks=1 and acks=all, gzip on two of four, keyed records on 4 partitions) while a consumer
 * group of two members reads and commits; every cycle the broker is killed with SIGKILL at
 * a random moment (in a quarter of the cycles again shortly after it was restarted, while it
 * recovers) and started again on the same port. The clients stay up throughout and retry.
 * After the last cycle the load stops, the broker is stopped with SIGTERM (it must exit 0)
 * and started once more, and the log is compared with what the broker acknowledged
 * (workload.ts: lost, duplicated, reordered, corrupted, commits past what was delivered).
 *
 *   node dist/bench/torture/torture.js [--cycles 100] [--seconds 900] [--seed N] [--partitions 4]
 *                                      [--json file] [--tmp dir] [--keep]
 *
 * Bounded: stops after --cycles kills or once --seconds have passed, whichever is first (the
 * final check adds its own bounded time). Exit 0 when every anomaly count is zero, 1 otherwise.
 */

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '../../client/index.js'
import { numberArg, parseArgs } from '../lib/cli.js'
import { onCleanup, runMain, tempDir } from '../lib/cleanup.js'
import { freePort, sleep, spawnServer, waitForLine, type ServerProcess } from '../lib/procs.js'
import { GroupReaders, Ledger, ProducerFleet, RecordShape, anomalies, rng, verify, type Verdict } from './workload.js'

const SPOOL_CLI = fileURLToPath(new URL('../../cli/spool.js', import.meta.url))
const TOPIC = 'torture'
const GROUP = 'torture-group'

interface Broker { server: ServerProcess, readyMs: number, recoveredUncleanly: boolean }

/** Spawns the broker on `port`; resolves once it logged 'broker started'. */
async function startBroker (dataDir: string, port: number): Promise<Broker> {
  const started = performance.now()
  const server = spawnServer('spool', process.execPath, [
    SPOOL_CLI, 'broker', 'start', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', String(port), '--http-port', '0',
    '--mqtt-port', 'off', '--kafka-port', 'off', '--segment-bytes', String(256 * 1024), '--log-level', 'info',
  ])
  const line = await waitForLine(server, l => l.includes('"broker started"'), 60_000)
  return { server, readyMs: performance.now() - started, recoveredUncleanly: (JSON.parse(line) as { recoveredUncleanly?: boolean }).recoveredUncleanly === true }
}

function kill9 (server: ServerProcess): Promise<void> {
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL')
  return server.exited
}

function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
}

export interface TortureResult {
  command: string
  date: string
  seed: number
  cycles: number
  secondKills: number
  seconds: number
  sent: number
  acked: number
  failures: Record<string, number>
  verdict: Verdict
  anomalies: number
  recoveryMs: { count: number, min: number, median: number, p95: number, max: number }
  group: { delivered: number, memberRestarts: number }
  cleanShutdownExit: number | string | null
}

interface Run {
  dataDir: string
  port: number
  address: string
  broker: Broker
  random: () => number
  ledger: Ledger
  recovery: number[]
  cycles: number
  secondKills: number
}

/** Kill -9 cycles under load until `maxCycles` or the deadline. */
async function killCycles (run: Run, maxCycles: number, deadline: number): Promise<void> {
  const { random, dataDir, port } = run
  while (run.cycles < maxCycles && performance.now() < deadline) {
    await sleep(200 + Math.floor(random() * 1300))
    await kill9(run.broker.server)
    run.cycles++
    if (random() < 0.25) {
      // Again right after the restart: while it opens and recovers the logs.
      run.secondKills++
      const again = spawnServer('spool', process.execPath, [
        SPOOL_CLI, 'broker', 'start', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', String(port), '--http-port', '0',
        '--mqtt-port', 'off', '--kafka-port', 'off', '--segment-bytes', String(256 * 1024),
      ])
      await sleep(30 + Math.floor(random() * 400))
      await kill9(again)
    }
    run.broker = await startBroker(dataDir, port)
    run.recovery.push(run.broker.readyMs)
    process.stderr.write(`cycle ${run.cycles}: acknowledged ${run.ledger.acked}, restarted in ${Math.round(run.broker.readyMs)} ms\n`)
  }
}

/** Stops the load, lets the group catch up (bounded) and returns its committed offsets. */
async function stopLoad (admin: Client, fleet: ProducerFleet, readers: GroupReaders): Promise<Array<{ partition: number, offset: number }>> {
  await fleet.stop()
  const ends = await admin.admin().fetchTopicOffsets(TOPIC)
  const catchUp = Date.now() + 30_000
  while (Date.now() < catchUp && ends.some(e => e.high > 0 && (readers.delivered.get(e.partition) ?? -1) < e.high - 1)) await sleep(100)
  await readers.stop()
  return (await admin.admin().fetchOffsets(GROUP, [TOPIC])).map(c => ({ partition: c.partition, offset: c.offset }))
}

async function main (): Promise<void> {
  const args = parseArgs()
  const maxCycles = numberArg(args, 'cycles', 100)
  const maxSeconds = numberArg(args, 'seconds', 900)
  const seed = numberArg(args, 'seed', Math.floor(Math.random() * 1e9))
  const partitions = numberArg(args, 'partitions', 4)
  const dataDir = args.flags.has('keep') ? mkdtempSync(join(args.tmp ?? tmpdir(), 'spool-torture-')) : tempDir('torture', args.tmp)
  const began = performance.now()
  const port = await freePort()
  const address = `127.0.0.1:${port}`
  const run: Run = { dataDir, port, address, broker: await startBroker(dataDir, port), random: rng(seed), ledger: new Ledger(), recovery: [], cycles: 0, secondKills: 0 }
  const admin = new Client({ brokers: [address], clientId: 'torture-admin' })
  await admin.admin().createTopics([{ topic: TOPIC, partitions }])

  const shape = new RecordShape(seed, 16)
  const client = new Client({ brokers: [address], clientId: 'torture-producers' })
  // Enough retrying to ride out a restart (about 13 s of backoff in all).
  const fleet = new ProducerFleet(client, { topic: TOPIC, shape, ledger: run.ledger, retry: { retries: 12, initialRetryTimeMs: 100, maxRetryTimeMs: 1500 } })
  const readers = new GroupReaders([address], TOPIC, GROUP, 2)
  // On an error too, the clients go before the broker processes are stopped (cleanups run last-registered first).
  onCleanup(() => admin.close())
  onCleanup(() => client.close())
  onCleanup(() => fleet.stop())
  onCleanup(() => readers.stop())
  fleet.start()
  readers.start()
  await killCycles(run, maxCycles, began + maxSeconds * 1000)
  const committed = await stopLoad(admin, fleet, readers)
  await admin.close()
  await client.close()

  // A clean stop must exit 0, and the next start must not need recovery.
  run.broker.server.child.kill('SIGTERM')
  await run.broker.server.exited
  const cleanShutdownExit = run.broker.server.child.exitCode ?? run.broker.server.child.signalCode
  const last = await startBroker(dataDir, port)
  const verdict = await verify([address], TOPIC, shape, run.ledger, committed, readers.delivered)
  if (last.recoveredUncleanly) verdict.examples.push('the start after a clean shutdown recovered the logs')
  await last.server.stop()

  const result = summarize(run, { seed, began, verdict, cleanShutdownExit, uncleanAfterClean: last.recoveredUncleanly, delivered: readers.deliveredCount, memberRestarts: readers.restarts })
  process.stdout.write(render(result))
  if (args.json !== null) writeFileSync(args.json, JSON.stringify(result, null, 2) + '\n')
  if (args.flags.has('keep')) process.stdout.write(`data dir kept: ${dataDir}\n`)
  if (result.anomalies > 0) process.exitCode = 1
}

function summarize (run: Run, o: {
  seed: number, began: number, verdict: Verdict, cleanShutdownExit: number | string | null, uncleanAfterClean: boolean, delivered: number, memberRestarts: number
}): TortureResult {
  const sorted = [...run.recovery].sort((a, b) => a - b)
  let sent = 0
  for (let p = 0; p < run.ledger.producers; p++) sent += run.ledger.sentCount(p)
  return {
    command: `npm run torture -- ${process.argv.slice(2).join(' ')}`.trim(),
    date: new Date().toISOString(),
    seed: o.seed,
    cycles: run.cycles,
    secondKills: run.secondKills,
    seconds: Math.round((performance.now() - o.began) / 1000),
    sent,
    acked: run.ledger.acked,
    failures: Object.fromEntries(run.ledger.failures),
    verdict: o.verdict,
    anomalies: anomalies(o.verdict) + (o.cleanShutdownExit === 0 ? 0 : 1) + (o.uncleanAfterClean ? 1 : 0),
    recoveryMs: {
      count: sorted.length, min: Math.round(sorted[0] ?? NaN), median: Math.round(percentile(sorted, 0.5)),
      p95: Math.round(percentile(sorted, 0.95)), max: Math.round(sorted.at(-1) ?? NaN),
    },
    group: { delivered: o.delivered, memberRestarts: o.memberRestarts },
    cleanShutdownExit: o.cleanShutdownExit,
  }
}

function render (r: TortureResult): string {
  const n = (x: number): string => x.toLocaleString('en-US')
  const failures = Object.entries(r.failures).map(([code, count]) => `${code} ${n(count)}`).join(', ') || 'none'
  const v = r.verdict
  return [
    `torture: ${r.cycles} kill -9 cycles (${r.secondKills} killed again while restarting), ${r.seconds} s, seed ${r.seed}`,
    `  records sent ${n(r.sent)}, acknowledged ${n(r.acked)}; failed sends: ${failures}`,
    `  checked ${n(v.checked)}: lost ${v.lost}, duplicated ${v.duplicated}, reordered ${v.reordered}, corrupted ${v.corrupted}, commits past delivered ${v.commitsAhead}`,
    `  unacknowledged records found in the log (written, answer lost in a crash): ${n(v.unacked)}`,
    `  recovery, spawn to "broker started": min ${r.recoveryMs.min} ms, median ${r.recoveryMs.median} ms, p95 ${r.recoveryMs.p95} ms, max ${r.recoveryMs.max} ms`,
    `  group: ${n(r.group.delivered)} deliveries (redelivery after a crash is allowed), member restarts ${r.group.memberRestarts}`,
    `  clean shutdown at the end: exit ${String(r.cleanShutdownExit)}`,
    `  anomalies: ${r.anomalies}`,
    ...v.examples.map(e => `    - ${e}`),
    '',
  ].join('\n')
}

await runMain(main)
// Whatever a failed run left open (a socket, a timer) must not keep the campaign alive.
process.exit()
