/**
 * `npm run soak`: one `spool broker start` child process under a mixed load for a set time,
 * measured from outside (bench/soak/load.ts has the clients):
 *
 *   - SDK producers (acks=1; acks=all idempotent; gzip) at a steady rate on a 4-partition
 *     topic, and a consumer group of two members reading everything;
 *   - slow readers (raw connections that fetch a lot and pause their sockets), vanishing
 *     group members (child processes killed with SIGKILL while fetching), MQTT sessions coming
 *     and going (persistent and clean, 3.1.1 and 5, QoS 0/1/2, wills) over TCP and /mqtt,
 *     the SDK over WebSocket, and /api polling;
 *   - canaries (bench/fuzz/canary.ts) timing round trips through the native and MQTT ports.
 *
 * Every 5 s: the broker's resident memory (/proc/<pid>/status VmRSS), open descriptors
 * (sockets apart) and the event loop's longest delay since the last sample (prom-client's
 * nodejs_eventloop_lag_max_seconds on /metrics, which reading resets). At the end the load
 * stops, the group catches up, every client leaves, and the program checks and prints:
 *
 *   - the broker is alive, logged no error line (and one warning per slow reader it closed),
 *     and SIGTERM stops it with exit 0;
 *   - every acknowledged record is in the log once, at its offset, in order (the torture
 *     program's verify), and the group read every one of them;
 *   - the broker's sockets return to their baseline once the clients are gone;
 *   - the canaries never failed;
 *   - resident memory after the warm-up (the first fifth of the run, at most 5 minutes) stays
 *     within ±10% (judged for runs of 10 minutes or more; shorter runs report it);
 *   - event-loop stalls over 100 ms, and the longest, are reported.
 *
 *   node dist/bench/soak/soak.js [--minutes 30] [--rate 150] [--seed N] [--json file] [--tmp dir]
 *
 * Exit 0 when every check holds, 1 otherwise.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { Client } from '../../client/index.js'
import { numberArg, parseArgs } from '../lib/cli.js'
import { onCleanup, runMain } from '../lib/cleanup.js'
import { BrokerChild, MiB, ResourceSampler, type ResourceSample } from '../fuzz/broker-child.js'
import { MqttCanary, SdkCanary, type CanaryStats } from '../fuzz/canary.js'
import { GroupReaders, anomalies, verify, type Verdict } from '../torture/workload.js'
import { ApiPoller, MqttSessions, RateProducers, RecordShape, SlowReaders, VanishingMembers, WsClients, memberMain, sleep, xorshift } from './load.js'

const TOPIC = 'soak'
const WS_TOPIC = 'soak-ws'
const GROUP = 'soak-group'
const VANISHING_GROUP = 'soak-vanishing'

export interface SoakSample extends ResourceSample {
  /** Longest event-loop delay since the previous sample, in ms (NaN when /metrics did not answer). */
  loopLagMaxMs: number
}

export interface SoakCheck { name: string, ok: boolean | null, detail: string }

export interface SoakResult {
  command: string
  date: string
  commit: string
  seed: number
  minutes: number
  node: string
  load: Record<string, number | string>
  rss: { warmUpMs: number, startBytes: number, endBytes: number, maxBytes: number, driftPercent: number }
  fds: { baseline: number, max: number, afterClientsLeft: number }
  sockets: { baseline: number, max: number, afterClientsLeft: number }
  stalls: { over100ms: number, maxMs: number, samples: number }
  canaries: CanaryStats[]
  verdict: Verdict
  notConsumedByGroup: number
  brokerErrors: string[]
  /** Warning lines the broker logged, by message. */
  brokerWarnings: Record<string, number>
  cleanStopExit: number | string | null
  checks: SoakCheck[]
  samples: SoakSample[]
}

async function loopLagMaxMs (httpPort: number): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(10_000) })
    const text = await res.text()
    const m = /^nodejs_eventloop_lag_max_seconds(?:\{[^}]*\})? (\S+)/m.exec(text)
    return m === null ? NaN : Number(m[1]) * 1000
  } catch {
    return NaN
  }
}

function median (xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b)
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!
}

function gitCommit (): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return 'unknown'
  }
}

/** Stops the load, lets the group read to the end (bounded), returns committed offsets. */
async function drain (brokers: string[], readers: GroupReaders): Promise<Array<{ partition: number, offset: number }>> {
  const admin = new Client({ brokers, clientId: 'soak-admin' })
  try {
    const ends = await admin.admin().fetchTopicOffsets(TOPIC)
    const deadline = Date.now() + 90_000
    while (Date.now() < deadline && ends.some(e => e.high > 0 && (readers.delivered.get(e.partition) ?? -1) < e.high - 1)) await sleep(200)
    await sleep(1000) // one more auto-commit
    await readers.stop()
    return (await admin.admin().fetchOffsets(GROUP, [TOPIC])).map(c => ({ partition: c.partition, offset: c.offset }))
  } finally {
    await admin.close()
  }
}

async function main (): Promise<void> {
  const args = parseArgs()
  if (args.flags.has('member')) {
    await memberMain(numberArg(args, 'port', 0), args.values.get('topic')!, args.values.get('group')!)
    return
  }
  const minutes = numberArg(args, 'minutes', 30)
  const rate = numberArg(args, 'rate', 150)
  const seed = numberArg(args, 'seed', Math.floor(Math.random() * 1e9))
  const random = xorshift(seed)
  const durationMs = minutes * 60_000
  const dataDir = mkdtempSync(join(args.tmp ?? tmpdir(), 'spool-soak-'))
  onCleanup(() => rmSync(dataDir, { recursive: true, force: true }))

  const broker = await BrokerChild.start(dataDir, ['--segment-bytes', String(16 * MiB), '--retention-check-interval-ms', '10000', '--mqtt-partitions', '2'])
  const sampler = new ResourceSampler(broker.pid, 60_000)
  onCleanup(() => sampler.stop())
  await sleep(500)
  const before = sampler.now()!
  const brokers = [`127.0.0.1:${broker.ports.native}`]
  const admin = new Client({ brokers, clientId: 'soak-setup' })
  await admin.admin().createTopics([{ topic: TOPIC, partitions: 4 }, { topic: WS_TOPIC, partitions: 1 }])
  await admin.close()
  process.stdout.write(`soak: broker pid ${broker.pid}, ports ${JSON.stringify(broker.ports)}, ${minutes} min, seed ${seed}\n`)

  const shape = new RecordShape(seed, 32)
  const producers = new RateProducers(brokers, TOPIC, shape, [
    { acks: 1, idempotent: false, compression: 'none' }, { acks: 'all', idempotent: true, compression: 'none' }, { acks: 1, idempotent: true, compression: 'gzip' },
  ], rate)
  const readers = new GroupReaders(brokers, TOPIC, GROUP, 2)
  const slow = new SlowReaders(broker.ports.native, TOPIC, 2, random)
  const vanishing = new VanishingMembers(broker.ports.native, TOPIC, VANISHING_GROUP, 2, random)
  const mqttTcp = new MqttSessions(`mqtt://127.0.0.1:${broker.ports.mqtt}`, 'soak-tcp', 4, random)
  const mqttWs = new MqttSessions(`ws://127.0.0.1:${broker.ports.http}/mqtt`, 'soak-ws', 2, random)
  const ws = new WsClients(broker.ports.http, WS_TOPIC, random)
  const poller = new ApiPoller(broker.ports.http)
  const sdkCanary = new SdkCanary(broker.ports.native, 'soak-canary', 200)
  const mqttCanary = new MqttCanary(broker.ports.mqtt, 'soak/canary', 200)
  const loops = [producers, slow, vanishing, mqttTcp, mqttWs, ws, poller]
  onCleanup(() => Promise.allSettled([...loops.map(l => l.stop()), readers.stop(), sdkCanary.stop(), mqttCanary.stop()]))
  readers.start()
  for (const l of loops) l.start()
  await sdkCanary.start()
  await mqttCanary.start()

  // Samples every 5 s (loop lag from /metrics, which resets it).
  const samples: SoakSample[] = []
  const started = performance.now()
  await loopLagMaxMs(broker.ports.http)
  let lastLine = started
  while (performance.now() - started < durationMs && broker.alive) {
    await sleep(5000)
    const s = sampler.now()
    if (s === null) break
    const lag = await loopLagMaxMs(broker.ports.http)
    samples.push({ ...s, atMs: performance.now() - started, loopLagMaxMs: lag })
    if (performance.now() - lastLine >= 60_000 || durationMs <= 120_000) {
      lastLine = performance.now()
      process.stderr.write(`soak ${Math.round((performance.now() - started) / 1000)} s: rss ${Math.round(s.rssBytes / MiB)} MiB, fds ${s.fds} (sockets ${s.sockets}), ` +
        `loop lag max ${Math.round(lag)} ms, acknowledged ${producers.ledger.acked}, group read ${readers.deliveredCount}\n`)
    }
  }

  // Everyone leaves: the load first, then the group catches up, then the rest.
  await producers.stop()
  await Promise.allSettled([slow.stop(), vanishing.stop(), mqttTcp.stop(), mqttWs.stop(), ws.stop(), poller.stop()])
  const committed = await drain(brokers, readers)
  const canaries = [await sdkCanary.stop(), await mqttCanary.stop()]
  const releaseDeadline = Date.now() + 30_000
  let after = sampler.now()
  while (Date.now() < releaseDeadline && after !== null && after.sockets > before.sockets + 2) {
    await sleep(500)
    after = sampler.now()
  }
  const verdict = await verify(brokers, TOPIC, shape, producers.ledger, committed, readers.delivered)
  let notConsumed = 0
  for (let p = 0; p < producers.ledger.producers; p++) {
    for (let c = 0; c < producers.ledger.sentCount(p); c++) {
      const id = { producer: p, counter: c }
      const offset = producers.ledger.offsetOf(id)
      if (offset >= 0 && offset > (readers.delivered.get(producers.ledger.partitionOf(id)) ?? -1)) notConsumed++
    }
  }
  const alive = broker.alive
  const cleanStopExit = alive ? await broker.stop() : null
  sampler.stop()

  const result = summarize({
    minutes, seed, samples, before, after, canaries, verdict, notConsumed, cleanStopExit, alive,
    errors: broker.errors.map(e => e.raw.slice(0, 1000)),
    warnings: Object.fromEntries(broker.warnings),
    load: {
      recordsSent: (() => { let n = 0; for (let p = 0; p < producers.ledger.producers; p++) n += producers.ledger.sentCount(p); return n })(),
      recordsAcknowledged: producers.ledger.acked,
      sendFailures: [...producers.ledger.failures.values()].reduce((a, b) => a + b, 0),
      groupDeliveries: readers.deliveredCount,
      groupMemberRestarts: readers.restarts,
      slowReaderCycles: slow.cycles,
      slowReadersClosedByBroker: slow.closedByBroker,
      vanishingMembersKilled: vanishing.killed,
      mqttSessions: mqttTcp.counts.sessions + mqttWs.counts.sessions,
      mqttPersistentResumes: mqttTcp.counts.persistentResumes + mqttWs.counts.persistentResumes,
      mqttPublished: mqttTcp.counts.published + mqttWs.counts.published,
      mqttReceived: mqttTcp.counts.received + mqttWs.counts.received,
      mqttDroppedConnections: mqttTcp.counts.dropped + mqttWs.counts.dropped,
      mqttErrors: mqttTcp.errors + mqttWs.errors,
      wsRecordsProduced: ws.produced,
      wsRecordsReadBack: ws.readBack,
      wsReconnects: ws.reconnects,
      wsErrors: ws.errors,
      apiRequests: poller.requests,
      apiNot200: poller.notOk,
    },
  })
  process.stdout.write(render(result))
  if (args.json !== null) writeFileSync(args.json, JSON.stringify(result, null, 1) + '\n')
  if (result.checks.some(c => c.ok === false)) process.exitCode = 1
}

function summarize (o: {
  minutes: number, seed: number, samples: SoakSample[], before: ResourceSample, after: ResourceSample | null, canaries: CanaryStats[], verdict: Verdict,
  notConsumed: number, cleanStopExit: number | string | null, alive: boolean, errors: string[], warnings: Record<string, number>, load: Record<string, number | string>,
}): SoakResult {
  const slowWarnings = o.warnings['closing a connection that does not read'] ?? 0
  const durationMs = o.minutes * 60_000
  const warmUpMs = Math.min(5 * 60_000, Math.max(15_000, durationMs / 5))
  const steady = o.samples.filter(s => s.atMs >= warmUpMs)
  const window = Math.max(1, Math.min(6, Math.floor(steady.length / 5)))
  const rssStart = median(steady.slice(0, window).map(s => s.rssBytes))
  const rssEnd = median(steady.slice(-window).map(s => s.rssBytes))
  const drift = (rssEnd - rssStart) / rssStart * 100
  const lags = o.samples.map(s => s.loopLagMaxMs).filter(Number.isFinite)
  const maxRss = Math.max(...o.samples.map(s => s.rssBytes))
  const after = o.after ?? { fds: NaN, sockets: NaN }
  const checks: SoakCheck[] = [
    { name: 'broker alive, SIGTERM exit 0', ok: o.alive && o.cleanStopExit === 0, detail: `alive ${o.alive}, exit ${String(o.cleanStopExit)}` },
    { name: 'no error logged by the broker', ok: o.errors.length === 0, detail: o.errors.length === 0 ? 'none' : o.errors.slice(0, 3).join(' | ') },
    { name: 'acknowledged records: none lost, duplicated, reordered or corrupted', ok: anomalies(o.verdict) === 0 && o.verdict.checked === Number(o.load.recordsAcknowledged), detail: `checked ${o.verdict.checked}: lost ${o.verdict.lost}, duplicated ${o.verdict.duplicated}, reordered ${o.verdict.reordered}, corrupted ${o.verdict.corrupted}, commits ahead ${o.verdict.commitsAhead}` },
    { name: 'one warning per slow reader the broker closed', ok: slowWarnings <= Number(o.load.slowReaderCycles), detail: `${slowWarnings} "closing a connection that does not read" lines, ${o.load.slowReaderCycles} slow-reader connections` },
    { name: 'every acknowledged record read by the group', ok: o.notConsumed === 0, detail: `${o.notConsumed} not read` },
    { name: 'sockets back to the baseline after the clients left', ok: after.sockets <= o.before.sockets + 2, detail: `baseline ${o.before.sockets}, after ${after.sockets}` },
    { name: 'canaries never failed', ok: o.canaries.every(c => c.failures === 0 && c.roundTrips > 0), detail: o.canaries.map(c => `${c.name}: ${c.roundTrips} ok, ${c.failures} failed`).join('; ') },
    { name: 'resident memory flat (±10%) after the warm-up', ok: o.minutes >= 10 ? Math.abs(drift) <= 10 : null, detail: `${(rssStart / MiB).toFixed(1)} → ${(rssEnd / MiB).toFixed(1)} MiB (${drift.toFixed(1)}%)${o.minutes >= 10 ? '' : '; not judged: runs shorter than 10 minutes are mostly warm-up'}` },
  ]
  return {
    command: `npm run soak -- ${process.argv.slice(2).join(' ')}`.trim(),
    date: new Date().toISOString(),
    commit: gitCommit(),
    seed: o.seed,
    minutes: o.minutes,
    node: process.version,
    load: o.load,
    rss: { warmUpMs, startBytes: rssStart, endBytes: rssEnd, maxBytes: maxRss, driftPercent: drift },
    fds: { baseline: o.before.fds, max: Math.max(...o.samples.map(s => s.fds)), afterClientsLeft: after.fds },
    sockets: { baseline: o.before.sockets, max: Math.max(...o.samples.map(s => s.sockets)), afterClientsLeft: after.sockets },
    stalls: { over100ms: lags.filter(l => l > 100).length, maxMs: lags.length === 0 ? NaN : Math.max(...lags), samples: lags.length },
    canaries: o.canaries,
    verdict: o.verdict,
    notConsumedByGroup: o.notConsumed,
    brokerErrors: o.errors.slice(0, 20),
    brokerWarnings: o.warnings,
    cleanStopExit: o.cleanStopExit,
    checks,
    samples: o.samples,
  }
}

function render (r: SoakResult): string {
  const mib = (b: number): string => `${(b / MiB).toFixed(1)} MiB`
  const lines = [
    `soak: ${r.minutes} min, seed ${r.seed}, commit ${r.commit}, ${r.date}, Node ${r.node}`,
    `  load: ${Object.entries(r.load).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `  rss: after warm-up (${Math.round(r.rss.warmUpMs / 1000)} s) ${mib(r.rss.startBytes)}, end ${mib(r.rss.endBytes)} (${r.rss.driftPercent.toFixed(1)}%), max ${mib(r.rss.maxBytes)}`,
    `  fds: baseline ${r.fds.baseline}, max ${r.fds.max}, after the clients left ${r.fds.afterClientsLeft}; sockets: baseline ${r.sockets.baseline}, max ${r.sockets.max}, after ${r.sockets.afterClientsLeft}`,
    `  broker warnings: ${Object.entries(r.brokerWarnings).map(([k, v]) => `${k} ×${v}`).join(', ') || 'none'}`,
    `  event loop: longest stall ${Math.round(r.stalls.maxMs)} ms; ${r.stalls.over100ms} of ${r.stalls.samples} 5-s windows had a stall over 100 ms`,
    ...r.canaries.map(c => `  canary ${c.name}: ${c.roundTrips} round trips, max ${Math.round(c.maxRoundTripMs)} ms, longest gap ${Math.round(c.maxGapMs)} ms, ${c.failures} failed`),
    '  checks:',
    ...r.checks.map(c => `    ${c.ok === null ? 'n/a ' : c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`),
    '',
  ]
  return lines.join('\n')
}

await runMain(main)
process.exit()
