/**
 * A small Jepsen for Spool clusters: three broker processes and a three-member etcd, each in
 * a network namespace of its own (cluster-netns.ts; root needed), an idempotent acks=all
 * producer writing to every partition without pause, and a seeded schedule of faults, one at
 * a time, each healed before the next, in rounds that hold every kind once:
 *
 *   kill       kill -9 of a broker, restarted on its data dir 1-4 s later
 *   pause      SIGSTOP of a broker for 1-5 s (past the 3 s session: it is declared dead)
 *   partition  a broker cut off from everything (its link down) for 2-8 s
 *   etcd-kill  kill -9 of an etcd member, restarted 2-6 s later
 *   etcd-cut   an etcd member cut off for 2-6 s
 *
 * At the end everything is healed, the brokers come back into every ISR, the producer stops,
 * and a checker reads every partition back: every acknowledged record must be there, at its
 * offset, with its value, no value twice, offsets increasing and each partition's values in
 * send order; every replica of a partition must hold the same bytes. The result counts the
 * faults, the records checked and the anomalies, and the longest time without any
 * acknowledgement.
 *
 * The test (tests/integration/cluster-chaos.test.ts) runs it for about 35 s; `npm run chaos
 * -- --seconds 600 --seed 7` runs a campaign and prints the result as JSON (exit 1 on an
 * anomaly).
 */

import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client, type Logger } from '../../client/index.js'
import type { SpoolError } from '../../protocol/errors.js'
import type { TestLike } from './broker.js'
import { Load, checkRecords, waitForAgreement, waitForPartitions, type Acked } from './cluster-load.js'
import { createNetnsLab, startNetnsEtcd, type NetnsEtcdMember, type NetnsLab } from './cluster-netns.js'
import { startProcessCluster, type BrokerProcess, type ProcessCluster } from './cluster-processes.js'

export type FaultKind = 'kill' | 'pause' | 'partition' | 'etcd-kill' | 'etcd-cut'
const KINDS: readonly FaultKind[] = ['kill', 'pause', 'partition', 'etcd-kill', 'etcd-cut']

export interface ChaosOptions {
  /** How long faults are injected (setup and the final check come on top). */
  seconds: number
  seed: number
  partitions?: number
  /** A line per fault as it happens. */
  log?: (line: string) => void
}

export interface ChaosResult {
  seed: number
  seconds: number
  faults: Record<FaultKind, number>
  /** Each fault; writesResumedMs: from its start until every partition acknowledged a send made after it. */
  schedule: Array<{ atMs: number, kind: FaultKind, target: string, durationMs: number, writesResumedMs: number | null }>
  acked: number
  records: number
  lost: number
  duplicates: number
  misordered: number
  wrong: number
  /** Replicas whose bytes differ from the leader's at the end. */
  divergentReplicas: number
  failures: number
  longestStallMs: number
  details: string[]
}

/** A client logger appending one JSON line per event to `file` (every level). */
function fileLogger (file: string): Logger {
  const write = (level: string) => (fields: object, msg: string): void => {
    const extra = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v instanceof Error ? `${(v as SpoolError).code ?? v.name}: ${v.message}` : v]))
    fs.appendFileSync(file, JSON.stringify({ time: Date.now(), level, msg, ...extra }) + '\n')
  }
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') }
}

/** A seeded generator (mulberry32). */
function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

function logBytes (dataDir: string, topic: string, partition: number): Buffer {
  const dir = path.join(dataDir, `${topic}-${partition}`)
  const files = fs.readdirSync(dir).filter(f => /^\d{20}\.log$/.test(f)).sort()
  return Buffer.concat(files.map(f => fs.readFileSync(path.join(dir, f))))
}

/** How long each kind of fault lasts (ms, drawn between the two). */
const DURATIONS: Record<FaultKind, [number, number]> = {
  kill: [1000, 4000], pause: [1000, 5000], partition: [2000, 8000], 'etcd-kill': [2000, 6000], 'etcd-cut': [2000, 6000],
}

/** Injects one fault, waits `durationMs`, heals it; returns what it hit. */
async function injectFault (kind: FaultKind, durationMs: number, lab: NetnsLab, broker: BrokerProcess, member: NetnsEtcdMember): Promise<string> {
  switch (kind) {
    case 'kill':
      await broker.kill()
      await sleep(durationMs)
      await broker.start(60_000)
      return `broker ${broker.nodeId}`
    case 'pause':
      broker.pause()
      await sleep(durationMs)
      broker.resume()
      return `broker ${broker.nodeId}`
    case 'partition':
      lab.cut(`b${broker.nodeId}`)
      await sleep(durationMs)
      lab.heal(`b${broker.nodeId}`)
      return `broker ${broker.nodeId}`
    case 'etcd-kill':
      await member.kill()
      await sleep(durationMs)
      member.start()
      return `etcd ${member.node}`
    case 'etcd-cut':
      lab.cut(member.node)
      await sleep(durationMs)
      lab.heal(member.node)
      return `etcd ${member.node}`
  }
}

/** Replicas whose bytes differ from their leader's (each partition given up to 20 s to settle). */
async function divergentReplicas (c: ProcessCluster, ps: Array<{ partition: number, leader: number }>): Promise<number> {
  let divergent = 0
  for (const p of ps) {
    const leader = c.broker(p.leader)
    const differ = (): BrokerProcess[] => c.brokers.filter(b => !logBytes(b.dataDir, 'chaos', p.partition).equals(logBytes(leader.dataDir, 'chaos', p.partition)))
    const deadline = Date.now() + 20_000
    let now = differ()
    while (now.length > 0 && Date.now() < deadline) {
      await sleep(200)
      now = differ()
    }
    divergent += now.length
  }
  return divergent
}

/** From `sinceMs` until every partition had acknowledged a send made after it (null if one never did). */
function resumedAfter (acked: readonly Acked[], partitions: number, sinceMs: number): number | null {
  let latest = sinceMs
  for (let p = 0; p < partitions; p++) {
    const first = acked.find(a => a.partition === p && a.sentMs > sinceMs)
    if (first === undefined) return null
    latest = Math.max(latest, first.atMs)
  }
  return latest - sinceMs
}

export async function runChaos (t: TestLike, o: ChaosOptions): Promise<ChaosResult> {
  const random = rng(o.seed)
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!
  const between = (lo: number, hi: number): number => Math.round(lo + random() * (hi - lo))
  const shuffle = <T>(list: T[]): T[] => {
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1))
      const x = list[i]!
      list[i] = list[j]!
      list[j] = x
    }
    return list
  }
  const log = o.log ?? (() => {})
  const partitions = o.partitions ?? 3
  const lab = await createNetnsLab(t, ['e1', 'e2', 'e3', 'b1', 'b2', 'b3'])
  const etcd = await startNetnsEtcd(t, lab, ['e1', 'e2', 'e3'])
  // SPOOL_CHAOS_LOG_DIR=dir keeps what a run's processes said there: each broker's log lines
  // (b<id>.log, across restarts) and the producer's debug log (client.log, one JSON line each).
  const logDir = process.env.SPOOL_CHAOS_LOG_DIR
  if (logDir !== undefined) fs.mkdirSync(logDir, { recursive: true })
  const perBroker = Object.fromEntries([1, 2, 3].map(id => [id, {
    inNamespace: lab.exec(`b${id}`), host: lab.address(`b${id}`), ...(logDir !== undefined ? { transcript: path.join(logDir, `b${id}.log`) } : {}),
  }]))
  const c = await startProcessCluster(t, { etcd, brokers: 3, args: ['--min-insync-replicas', '2', '--replica-lag-time-ms', '3000'], perBroker })
  const client = new Client({
    brokers: c.brokers.map(b => b.address), requestTimeoutMs: 4000, connectTimeoutMs: 2000, retry: { retries: 100_000, initialRetryTimeMs: 50, maxRetryTimeMs: 500 },
    ...(logDir !== undefined ? { logger: fileLogger(path.join(logDir, 'client.log')) } : {}),
  })
  t.teardown(() => client.close())
  await client.admin().createTopics([{ topic: 'chaos', partitions, replicationFactor: 3 }])
  await waitForPartitions(() => c.addresses(), 'chaos', ps => ps.length === partitions && ps.every(p => p.isr.length === 3 && p.leader > 0), 'the topic fully replicated', 60_000)
  const load = new Load(client, { topic: 'chaos', partitions, window: 24, timeoutMs: 3000 })
  load.start()
  const faults: Record<FaultKind, number> = { kill: 0, pause: 0, partition: 0, 'etcd-kill': 0, 'etcd-cut': 0 }
  const schedule: Array<Omit<ChaosResult['schedule'][number], 'writesResumedMs'> & { startedAbs: number }> = []
  const startedAt = Date.now()
  const end = startedAt + o.seconds * 1000
  await sleep(1000)
  // Faults come in rounds, each round every kind once in a random order: a short run still
  // sees every kind (the first round is always completed).
  let round: FaultKind[] = []
  while (Date.now() < end || schedule.length < KINDS.length) {
    if (round.length === 0) round = shuffle([...KINDS])
    const kind = round.pop()!
    const broker = pick(c.brokers)
    const member = pick(etcd.members)
    const [lo, hi] = DURATIONS[kind]
    const durationMs = between(lo, hi)
    const startedAbs = Date.now()
    const target = await injectFault(kind, durationMs, lab, broker, member)
    const at = startedAbs - startedAt
    faults[kind]++
    schedule.push({ atMs: at, kind, target, durationMs, startedAbs })
    log(`${(at / 1000).toFixed(1)}s ${kind} ${target} for ${durationMs} ms (acknowledged so far: ${load.acked.length})`)
    await sleep(between(1000, 3000))
  }
  // Heal everything and let the cluster settle: every broker in every ISR.
  for (const b of c.brokers) {
    if (b.paused) b.resume()
    if (!b.running) await b.start(60_000)
  }
  await waitForAgreement(() => c.addresses(), 'chaos', ps => ps.every(p => p.isr.length === 3 && p.leader > 0), 'every broker back in every ISR', 90_000)
  await sleep(1000)
  await load.stop(60_000)
  const result = await checkRecords(client, 'chaos', partitions, load.acked)
  if (logDir !== undefined) {
    fs.writeFileSync(path.join(logDir, 'acked.jsonl'), load.acked.map(a => JSON.stringify(a)).join('\n') + '\n')
    fs.writeFileSync(path.join(logDir, 'schedule.json'), JSON.stringify(schedule, null, 1))
  }
  const divergent = await divergentReplicas(c, await waitForAgreement(() => c.addresses(), 'chaos', () => true, 'metadata'))
  const times = load.acked.map(a => a.atMs).sort((a, b) => a - b)
  let longestStallMs = 0
  for (let i = 1; i < times.length; i++) longestStallMs = Math.max(longestStallMs, times[i]! - times[i - 1]!)
  return {
    seed: o.seed,
    seconds: o.seconds,
    faults,
    schedule: schedule.map(({ startedAbs, ...f }) => ({ ...f, writesResumedMs: resumedAfter(load.acked, partitions, startedAbs) })),
    acked: result.acked,
    records: result.records,
    lost: result.lost.length,
    duplicates: result.duplicates,
    misordered: result.misordered,
    wrong: result.wrong,
    divergentReplicas: divergent,
    failures: load.failures.length,
    longestStallMs,
    details: [...result.details, ...load.failures.slice(0, 5).map(f => `send failed: ${f.partition}:${f.seq} ${f.code} ${f.message}`)],
  }
}

/** `npm run chaos -- --seconds 600 --seed 7 [--partitions 3] [--json result.json]` (root: namespaces) */
async function main (): Promise<void> {
  const args = process.argv.slice(2)
  const arg = (name: string, fallback: number): number => {
    const at = args.indexOf(`--${name}`)
    return at < 0 ? fallback : Number(args[at + 1])
  }
  const jsonAt = args.indexOf('--json')
  const teardowns: Array<() => unknown> = []
  const t: TestLike = { teardown: fn => { teardowns.push(fn) } }
  let code = 1
  const tearDown = async (): Promise<void> => {
    for (const fn of teardowns.splice(0).reverse()) {
      try { await fn() } catch { /* keep tearing down */ }
    }
  }
  // Ctrl-C or SIGTERM mid-campaign: stop everything (processes, namespaces, temp dirs) first.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => { void tearDown().finally(() => process.exit(130)) })
  }
  try {
    const result = await runChaos(t, { seconds: arg('seconds', 300), seed: arg('seed', Date.now() % 100_000), partitions: arg('partitions', 3), log: line => process.stderr.write(line + '\n') })
    const out = JSON.stringify(result, null, 2)
    process.stdout.write(out + '\n')
    if (jsonAt >= 0) fs.writeFileSync(args[jsonAt + 1]!, out)
    code = result.lost + result.duplicates + result.misordered + result.wrong + result.divergentReplicas === 0 ? 0 : 1
  } catch (err) {
    process.stderr.write(`chaos run failed: ${(err as Error).stack ?? String(err)}\n`)
  } finally {
    await tearDown()
  }
  process.exit(code)
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await main()
