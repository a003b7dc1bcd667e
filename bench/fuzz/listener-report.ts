/**
 * The listener fuzzer's report and its end-of-run checks (the rules in listeners.ts's header
 * that hold for the whole run: the process alive and stopping cleanly, no error line, memory
 * under its bound, the canaries unharmed, sockets released).
 */

import { MiB, type BrokerChild, type LogLine, type ResourceSample, type ResourceSampler } from './broker-child.js'
import type { CanaryStats } from './canary.js'

export interface ListenerFailure {
  target: string
  case: number
  mode: string
  message: string
  /** What the case wrote (hex, truncated). */
  input: string
  reproduce: string
}

export interface TargetReport {
  target: string
  cases: number
  ms: number
  /** Cases by how they ended: answered, closed, waiting (an unfinished frame), by mode too. */
  outcomes: Record<string, number>
  /** The longest case, by how it ended. */
  slowestMs: Record<string, number>
}

export interface ListenerReport {
  seed: number
  brokerFlags: string[]
  targets: TargetReport[]
  idle: IdleReport | null
  canaries: CanaryStats[]
  memory: { baselineRssBytes: number, maxRssBytes: number, endRssBytes: number, boundBytes: number }
  sockets: { baseline: number, max: number, end: number }
  fds: { baseline: number, end: number }
  brokerErrors: LogLine[]
  /** Warnings the broker logged (bad input closing a connection, mostly), by message. */
  brokerWarnings: Record<string, number>
  brokerAlive: boolean
  cleanStopExit: number | string | null
  /** Records of the produce mode's topics read back by the SDK, before and after a restart. */
  readBack: { records: number, afterRestart: number } | null
  failures: ListenerFailure[]
}

/** The idle phase (idle.ts). */
export interface IdleReport {
  connections: number
  /** How long opening them all took. */
  openingMs: number
  opened: Record<string, number>
  failedToOpen: number
  heldMs: number
  closedByBroker: Record<string, number>
  peakSockets: number
  peakRssBytes: number
}

/** What runListenerFuzz measured, for finish(). */
export interface RunState {
  broker: BrokerChild
  sampler: ResourceSampler
  baseline: ResourceSample
  end: ResourceSample | null
  canaries: CanaryStats[]
  targets: TargetReport[]
  idle: IdleReport | null
  flags: string[]
  seed: number
  cases: number
  failures: ListenerFailure[]
  log: (line: string) => void
}

/** Builds the report, adds the run-wide failures, stops the broker (SIGTERM) and logs the summary. */
export async function finish (r: RunState): Promise<ListenerReport> {
  const { broker, baseline, end, canaries } = r
  const maxRss = r.sampler.max('rssBytes')
  // Bytes held for partial frames are bounded by the pending budget; twice that and 256 MiB for the rest.
  const pendingBudget = Number(r.flags[r.flags.indexOf('--max-pending-request-bytes') + 1])
  const bound = baseline.rssBytes + 2 * pendingBudget + 256 * MiB
  const alive = broker.alive
  const report: ListenerReport = {
    seed: r.seed,
    brokerFlags: r.flags,
    targets: r.targets,
    idle: r.idle,
    canaries,
    memory: { baselineRssBytes: baseline.rssBytes, maxRssBytes: maxRss, endRssBytes: end?.rssBytes ?? NaN, boundBytes: bound },
    sockets: { baseline: baseline.sockets, max: r.sampler.max('sockets'), end: end?.sockets ?? NaN },
    fds: { baseline: baseline.fds, end: end?.fds ?? NaN },
    brokerErrors: broker.errors.slice(0, 50),
    brokerWarnings: Object.fromEntries(broker.warnings),
    brokerAlive: alive,
    cleanStopExit: null,
    readBack: null,
    failures: r.failures,
  }
  const fail = (message: string): void => {
    report.failures.push({ target: 'listener', case: -1, mode: 'run', message, input: '', reproduce: `npm run fuzz -- --target listener --seed ${r.seed} --socket-cases ${r.cases}` })
  }
  if (!alive) fail(`the broker process died: ${JSON.stringify(broker.exit)}; last output: ${broker.server.output().slice(-2000)}`)
  for (const e of broker.errors.slice(0, 10)) fail(`the broker logged an error: ${e.raw.slice(0, 1500)}`)
  if (maxRss > bound) fail(`resident memory reached ${Math.round(maxRss / MiB)} MiB, above the bound of ${Math.round(bound / MiB)} MiB`)
  for (const c of canaries) {
    if (c.failures > 0 || c.roundTrips === 0) fail(`canary ${c.name}: ${c.failures} failed round trips of ${c.roundTrips + c.failures} (${c.lastError ?? ''})`)
    if (c.maxGapMs > 10_000) fail(`canary ${c.name}: ${Math.round(c.maxGapMs)} ms without a round trip`)
    if (c.consumed < c.acknowledged) fail(`canary ${c.name}: ${c.acknowledged - c.consumed} acknowledged records never read back`)
  }
  if (end !== null && end.sockets > baseline.sockets + 4) fail(`the broker still holds ${end.sockets} sockets after every fuzz connection closed (baseline ${baseline.sockets})`)
  if (alive) {
    report.cleanStopExit = await broker.stop()
    if (report.cleanStopExit !== 0) fail(`SIGTERM after the run: exit ${String(report.cleanStopExit)}`)
  }
  r.sampler.stop()
  r.log(`listeners: rss baseline ${Math.round(baseline.rssBytes / MiB)} MiB, max ${Math.round(maxRss / MiB)} MiB (bound ${Math.round(bound / MiB)}), end ${Math.round((end?.rssBytes ?? NaN) / MiB)} MiB; ` +
    `sockets baseline ${baseline.sockets}, max ${report.sockets.max}, end ${report.sockets.end}; fds ${baseline.fds} → ${report.fds.end}`)
  for (const c of canaries) r.log(`  canary ${c.name}: ${c.roundTrips} round trips, max ${Math.round(c.maxRoundTripMs)} ms, longest gap ${Math.round(c.maxGapMs)} ms, ${c.failures} failures, ${c.consumed}/${c.acknowledged} read back`)
  r.log(`  broker: ${alive ? 'alive' : 'DEAD'}, ${broker.errors.length} error lines, ${[...broker.warnings.values()].reduce((a, b) => a + b, 0)} warnings, SIGTERM exit ${String(report.cleanStopExit)}`)
  for (const f of report.failures) r.log(`  FAIL ${f.target} case ${f.case} (${f.mode}): ${f.message}\n    replay: ${f.reproduce}${f.input === '' ? '' : `\n    input: ${f.input.slice(0, 600)}`}`)
  return report
}
