/**
 * The listener fuzzer: one `spool broker start` child process (every port 0), fuzzed over real
 * sockets on every listener while two canaries (the SDK through the native port, mqtt.js
 * through the MQTT port) keep making round trips through it.
 *
 * Frames to mutate come from the fixtures and from a capture made at the start of the run
 * against this very broker (bench/fuzz/capture.ts: the SDK flow and the mqtt.js flows).
 * Cases (listener-cases.ts) run a few at a time, one connection each, and end with a probe.
 * A case passes when the broker answers the probe or closes the connection; when the bytes
 * leave a frame unfinished (the framing simulation in wire.ts says so) the broker may also
 * wait for the rest, and the case ends after a short look. Anything else within the case's
 * bound is a hang. Record batches the produce mode got into the log must read back through
 * the SDK, before and after a restart of the broker on the same data (fuzzed-log.ts). Then
 * the idle phase: thousands of connections that send nothing, half a
 * header, half a frame, half-close, or send requests and never read, held open together.
 *
 * What must hold, checked for the whole run:
 *   - the broker process is alive at the end, and stops cleanly on SIGTERM (exit 0);
 *   - it logged no error line (an error is an internal error: a client's bytes caused an
 *     unexpected exception);
 *   - no case hung; no HTTP answer was a 5xx;
 *   - resident memory stayed under its bound (baseline + 2 × maxPendingRequestBytes + 256 MiB);
 *   - both canaries kept working (no failed round trip, no gap over 10 s, every acknowledged
 *     record read back);
 *   - connections the clients closed are released: the broker's socket count returns to
 *     within a few of its baseline; idle connections are closed by the idle timeouts and
 *     half-closed ones at once.
 */

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { onCleanup } from '../lib/cleanup.js'
import { sleep } from '../lib/procs.js'
import { nativeFixtureFrames, mqttFixtureFrames, kafkaFixtureFrames } from './corpus.js'
import { captureMqttFrames, captureSdkFrames, distinct } from './capture.js'
import { BrokerChild, MiB, ResourceSampler } from './broker-child.js'
import { MqttCanary, SdkCanary } from './canary.js'
import { caseRng, hex, mutate, type Rng } from './engine.js'
import {
  corpora, httpCase, inMessages, mqttCase, nativeCase, rawWebSocketFrames, withNativeProbe, withPing, type Corpora,
} from './listener-cases.js'
import {
  RawConn, framing, mqttFraming, mqttPingAnswered, nativeFraming, nativeProbe, nativeProbeAnswered, openWebSocket, wsBinary, wsServerMessages,
  type FramingVerdict,
} from './wire.js'
import { runIdlePhase, type IdleReport } from './idle.js'
import { createProduceTopics, readBack } from './fuzzed-log.js'
import { finish, type ListenerFailure, type ListenerReport, type TargetReport } from './listener-report.js'
import { lengthPrefixReader } from '../../protocol/native/frame.js'
import { wsFrameSize, MAX_WS_HEADER_BYTES } from '../../broker/network/websocket.js'

export type { ListenerFailure, ListenerReport, TargetReport }

export const LISTENER_TARGETS: Record<string, string> = {
  native: 'native protocol over TCP (the SDK\'s port)',
  ws: 'native protocol over WebSocket (/ws on the HTTP port)',
  mqtt: 'MQTT 3.1.1 and 5 over TCP',
  'mqtt-ws': 'MQTT over WebSocket (/mqtt on the HTTP port)',
  http: 'HTTP: /api bodies, URLs, headers, methods',
  kafka: 'Kafka listener: captured Kafka client frames, mutated',
  idle: 'thousands of idle, half-header, half-frame, half-closed and non-reading connections at once',
}

/** Broker settings for the run: bounds small enough that "bounded" is measurable. */
export const FUZZ_BROKER = {
  maxFrameBytes: 8 * MiB,
  maxPendingRequestBytes: 128 * MiB,
  mqttMaxPacketBytes: 256 * 1024,
  idleTimeoutMs: 8000,
  maxPartitionsPerTopic: 16,
}

const CASE_BOUND_MS = 8000
const PARTIAL_LOOK_MS = 250
const CONCURRENCY = 8

interface Ctx {
  broker: BrokerChild
  corpora: Corpora
  seed: number
  cases: number
  /** Cases of listener:http (cheap: a request each). */
  httpCases: number
  /** Only this case (a replay). */
  onlyCase: number | undefined
  failures: ListenerFailure[]
}

type Outcome = 'answered' | 'closed' | 'waiting' | 'hang'

/** Waits for the probe or the close; a complete stream owes one of them within the bound. */
async function settle (conn: RawConn, verdict: FramingVerdict, answered: () => boolean, closing: () => boolean = () => false): Promise<Outcome> {
  const owed = verdict === 'complete' || verdict === 'error'
  const bound = owed ? CASE_BOUND_MS : PARTIAL_LOOK_MS
  await conn.until(() => conn.closed || answered() || closing(), bound)
  if (answered()) return 'answered'
  if (conn.closed || closing()) return 'closed'
  return owed ? 'hang' : 'waiting'
}

async function runCases (ctx: Ctx, target: string, n: number, run: (i: number, rng: Rng) => Promise<{ mode: string, outcome: Outcome | 'refused', input: Uint8Array, note?: string }>): Promise<TargetReport> {
  const started = performance.now()
  const outcomes: Record<string, number> = {}
  const slowest = new Map<string, number>()
  let next = ctx.onlyCase ?? 0
  const last = ctx.onlyCase === undefined ? n : ctx.onlyCase + 1
  const worker = async (): Promise<void> => {
    while (next < last && ctx.broker.alive) {
      const i = next++
      const t0 = performance.now()
      let r: Awaited<ReturnType<typeof run>>
      try {
        r = await run(i, caseRng(ctx.seed, `listener:${target}`, i))
      } catch (err) {
        // The fuzzer's own side failed (a connect refused, a generator bug): a failure too.
        r = { mode: 'error', outcome: 'refused', input: new Uint8Array(0), note: `the case could not run: ${(err as Error)?.stack ?? String(err)}` }
      }
      const took = performance.now() - t0
      if (took > (slowest.get(r.outcome) ?? 0)) slowest.set(r.outcome, took)
      outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1
      outcomes[`${r.mode}:${r.outcome}`] = (outcomes[`${r.mode}:${r.outcome}`] ?? 0) + 1
      if ((r.outcome === 'hang' || r.outcome === 'refused' || r.note !== undefined) && ctx.failures.length < 50) {
        ctx.failures.push({
          target: `listener:${target}`, case: i, mode: r.mode,
          message: r.note ?? (r.outcome === 'hang'
            ? `no answer to the probe and no close within ${CASE_BOUND_MS} ms, though the bytes sent hold only whole frames`
            : 'the connection or upgrade was refused'),
          input: hex(r.input, 2048),
          reproduce: `npm run fuzz -- --target listener:${target} --seed ${ctx.seed} --case ${i} (mutations of frames captured afresh: the input above is the exact bytes)`,
        })
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return { target, cases: last - (ctx.onlyCase ?? 0), ms: performance.now() - started, outcomes, slowestMs: Object.fromEntries([...slowest].map(([k, v]) => [k, Math.round(v)])) }
}

async function write (conn: RawConn, bytes: Uint8Array, trickle: boolean, splitAt = -1): Promise<void> {
  if (!trickle) {
    conn.write(bytes)
    return
  }
  const at = splitAt < 0 ? bytes.length : splitAt
  await conn.trickle(bytes.subarray(0, at), 1, 1, 2000)
  conn.write(bytes.subarray(at))
}

// ----- targets -----

async function nativeTcp (ctx: Ctx): Promise<TargetReport> {
  const max = FUZZ_BROKER.maxFrameBytes
  return runCases(ctx, 'native', ctx.cases, async (_i, rng) => {
    const k = nativeCase(ctx.corpora, rng, max)
    const bytes = withNativeProbe(k)
    const conn = await RawConn.open(ctx.broker.ports.native)
    try {
      await write(conn, bytes, k.trickle, k.bytes.length)
      const outcome = await settle(conn, nativeFraming(bytes, max), () => nativeProbeAnswered(conn.received))
      return { mode: k.mode, outcome, input: bytes }
    } finally {
      conn.destroy()
    }
  })
}

/** What the broker's WebSocket layer and the protocol behind it make of a stream of client frames. */
function wsVerdict (stream: Uint8Array, maxPayload: number, probeFrame: number, inner: (payload: Uint8Array) => FramingVerdict): FramingVerdict {
  // The gatherer's framing first: an unfinished WebSocket frame may be waited for.
  let tooLarge = false
  const outer = framing(stream, wsFrameSize(maxPayload, () => { tooLarge = true }), MAX_WS_HEADER_BYTES, probeFrame)
  if (tooLarge) return 'error'
  if (outer !== 'complete') return outer
  // Whole frames: ws refuses invalid ones (close); binary messages go to the protocol.
  const payloads: Uint8Array[] = []
  let pos = 0
  let partialMessage = false
  while (pos < stream.length) {
    const b0 = stream[pos]!
    const b1 = stream[pos + 1]!
    let len = b1 & 0x7f
    let head = 2
    if (len === 126) { len = (stream[pos + 2]! << 8) | stream[pos + 3]!; head = 4 } else if (len === 127) { len = Number(new DataView(stream.buffer, stream.byteOffset + pos + 2, 8).getBigUint64(0)); head = 10 }
    const masked = (b1 & 0x80) !== 0
    if (masked) head += 4
    const opcode = b0 & 0x0f
    const rsv = b0 & 0x70
    if (!masked || rsv !== 0 || ![0, 1, 2, 8, 9, 10].includes(opcode) || (opcode === 1) || (opcode >= 8 && ((b0 & 0x80) === 0 || len > 125)) || opcode === 8) return 'error'
    const key = stream.subarray(pos + head - 4, pos + head)
    const payload = stream.slice(pos + head, pos + head + len)
    for (let j = 0; j < payload.length; j++) payload[j] = payload[j]! ^ key[j % 4]!
    if (opcode === 0 || opcode === 2) {
      payloads.push(payload)
      partialMessage = (b0 & 0x80) === 0
    }
    pos += head + len
  }
  // A message still open at the end: ws waits for its last fragment.
  if (partialMessage) return 'partial'
  const joined = Buffer.concat(payloads)
  return inner(joined)
}

async function webSocketTarget (ctx: Ctx, name: 'ws' | 'mqtt-ws'): Promise<TargetReport> {
  const mqtt = name === 'mqtt-ws'
  const maxPayload = mqtt ? FUZZ_BROKER.mqttMaxPacketBytes + 16 : FUZZ_BROKER.maxFrameBytes
  const inner = mqtt ? (b: Uint8Array) => mqttFraming(b, FUZZ_BROKER.mqttMaxPacketBytes) : (b: Uint8Array) => nativeFraming(b, FUZZ_BROKER.maxFrameBytes)
  const probe = mqtt ? Uint8Array.of(0xc0, 0x00) : nativeProbe()
  return runCases(ctx, name, ctx.cases, async (_i, rng) => {
    let mode: string
    let stream: Uint8Array
    let trickle = false
    if (rng.chance(0.3)) {
      mode = 'ws-frames'
      stream = Buffer.concat([rawWebSocketFrames(rng), wsBinary(probe)])
    } else {
      const k = mqtt ? mqttCase(ctx.corpora, rng, FUZZ_BROKER.mqttMaxPacketBytes) : nativeCase(ctx.corpora, rng, FUZZ_BROKER.maxFrameBytes)
      mode = k.mode
      trickle = k.trickle
      stream = Buffer.concat([inMessages(k.bytes, rng), wsBinary(probe)])
    }
    const conn = await openWebSocket(ctx.broker.ports.http, mqtt ? '/mqtt' : '/ws', mqtt ? 'mqtt' : null)
    if (conn === null) return { mode, outcome: 'refused', input: stream }
    try {
      await write(conn, stream, trickle)
      const answered = (): boolean => {
        const { messages } = wsServerMessages(conn.received)
        const joined = Buffer.concat(messages)
        return mqtt ? mqttPingAnswered(joined) : nativeProbeAnswered(joined)
      }
      // A close frame from the broker ends the case (a client would answer it and the broker
      // then closes the TCP connection; without an answer it waits END_GRACE_MS first).
      const outcome = await settle(conn, wsVerdict(stream, maxPayload, wsBinary(probe).length, inner), answered, () => wsServerMessages(conn.received).closed)
      return { mode, outcome, input: stream }
    } finally {
      conn.destroy()
    }
  })
}

async function mqttTcp (ctx: Ctx): Promise<TargetReport> {
  const max = FUZZ_BROKER.mqttMaxPacketBytes
  return runCases(ctx, 'mqtt', ctx.cases, async (_i, rng) => {
    const k = mqttCase(ctx.corpora, rng, max)
    const bytes = withPing(k)
    const conn = await RawConn.open(ctx.broker.ports.mqtt)
    try {
      await write(conn, bytes, k.trickle, k.bytes.length)
      const outcome = await settle(conn, mqttFraming(bytes, max), () => mqttPingAnswered(conn.received))
      return { mode: k.mode, outcome, input: bytes }
    } finally {
      conn.destroy()
    }
  })
}

async function http (ctx: Ctx): Promise<TargetReport> {
  return runCases(ctx, 'http', ctx.httpCases, async (_i, rng) => {
    const k = httpCase(rng, ctx.broker.ports.http)
    const conn = await RawConn.open(ctx.broker.ports.http)
    try {
      await write(conn, k.bytes, rng.chance(0.05))
      await conn.until(() => conn.closed, k.complete ? CASE_BOUND_MS : PARTIAL_LOOK_MS)
      const text = conn.received.toString('latin1')
      const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map(m => Number(m[1]))
      const fiveHundred = statuses.find(s => s >= 500)
      const outcome: Outcome = conn.closed ? (statuses.length > 0 ? 'answered' : 'closed') : k.complete ? 'hang' : 'waiting'
      const mode = `${k.mode}${statuses.length > 0 ? ` ${statuses[0]}` : ''}`
      if (fiveHundred !== undefined) return { mode, outcome, input: k.bytes, note: `HTTP ${fiveHundred} for ${k.summary}: ${text.slice(text.indexOf('\r\n\r\n') + 4).slice(0, 300)}` }
      return { mode: outcome === 'answered' ? mode.replace(/ (\d)\d\d$/, ' $1xx') : mode, outcome, input: k.bytes }
    } finally {
      conn.destroy()
    }
  })
}

/** Kafka frames (fixtures of seven clients), mutated, each with its size prefix; ApiVersions v0 probe. */
async function kafka (ctx: Ctx): Promise<TargetReport> {
  const port = ctx.broker.ports.kafka
  if (port === null) throw new Error('the broker under test was started without its Kafka listener')
  const frames = kafkaFixtureFrames().filter(f => f.direction === 'request').map(f => f.bytes)
  const prefixed = (b: Uint8Array): Uint8Array => { const o = new Uint8Array(b.length + 4); new DataView(o.buffer).setInt32(0, b.length); o.set(b, 4); return o }
  // ApiVersions v0, correlation id 0x7ffffff0, client id "probe".
  const probe = prefixed(Uint8Array.from([0, 18, 0, 0, 0x7f, 0xff, 0xff, 0xf0, 0, 5, ...Buffer.from('probe')]))
  return runCases(ctx, 'kafka', ctx.cases, async (_i, rng) => {
    const n = rng.chance(0.8) ? 1 : rng.range(2, 3)
    const parts = Array.from({ length: n }, () => {
      const f = prefixed(rng.pick(frames))
      return rng.chance(0.85) ? mutate(f, rng) : f
    })
    const bytes = Buffer.concat([...parts, probe])
    const conn = await RawConn.open(port)
    try {
      conn.write(bytes)
      const answered = (): boolean => {
        const b = conn.received
        for (let pos = 0; pos + 8 <= b.length;) {
          if (b.readInt32BE(pos + 4) === 0x7ffffff0) return true
          pos += 4 + b.readInt32BE(pos)
        }
        return false
      }
      const outcome = await settle(conn, framing(bytes, lengthPrefixReader(100 * MiB, 8), 4, probe.length), answered)
      return { mode: 'mutated', outcome, input: bytes }
    } finally {
      conn.destroy()
    }
  })
}

export interface ListenerRunOptions {
  targets: string[]
  cases: number
  seed: number
  idleConnections?: number
  httpCases?: number
  onlyCase?: number
  log: (line: string) => void
}

/** Runs the listener targets against one broker child process; see the file header for the rules. */
export async function runListenerFuzz (o: ListenerRunOptions): Promise<ListenerReport> {
  const dataDir = mkdtempSync(join(tmpdir(), 'spool-fuzz-listeners-'))
  // Kept when what the broker wrote is part of a failure (the log is the reproducer then).
  let keepData = false
  onCleanup(() => { if (!keepData) rmSync(dataDir, { recursive: true, force: true }) })
  const flags = [
    '--max-frame-bytes', String(FUZZ_BROKER.maxFrameBytes), '--max-pending-request-bytes', String(FUZZ_BROKER.maxPendingRequestBytes),
    '--mqtt-max-packet-bytes', String(FUZZ_BROKER.mqttMaxPacketBytes), '--idle-timeout-ms', String(FUZZ_BROKER.idleTimeoutMs),
    '--max-partitions-per-topic', String(FUZZ_BROKER.maxPartitionsPerTopic), '--retention-check-interval-ms', '1000',
  ]
  const wantsKafka = o.targets.includes('kafka')
  const broker = await BrokerChild.start(dataDir, flags, { kafka: wantsKafka })
  const sampler = new ResourceSampler(broker.pid, 200)
  onCleanup(() => sampler.stop())
  o.log(`listeners: broker pid ${broker.pid}, ports ${JSON.stringify(broker.ports)}`)

  // Frames from this broker's own clients, beside the fixtures.
  const liveNative = distinct(await captureSdkFrames(broker.ports.native, 'fuzz-capture'), 16)
  const liveMqtt = distinct(await captureMqttFrames(broker.ports.mqtt, 'fuzz-capture'))
  const produceTopics = await createProduceTopics(broker.ports.native)
  const ctx: Ctx = { broker, corpora: corpora([...nativeFixtureFrames(), ...liveNative], [...mqttFixtureFrames(), ...liveMqtt], produceTopics), seed: o.seed, cases: o.cases, httpCases: o.httpCases ?? o.cases, onlyCase: o.onlyCase, failures: [] }
  o.log(`listeners: captured ${liveNative.length} SDK frames and ${liveMqtt.length} mqtt.js packets from this broker`)

  const sdk = new SdkCanary(broker.ports.native, `fuzz-canary-${process.pid}`)
  const mq = new MqttCanary(broker.ports.mqtt, `fuzz/canary/${process.pid}`)
  await sdk.start()
  await mq.start()
  onCleanup(() => sdk.stop())
  onCleanup(() => mq.stop())
  await sleep(1000)
  const baseline = sampler.now()!
  const targets: TargetReport[] = []
  const runners: Record<string, (c: Ctx) => Promise<TargetReport>> = {
    native: nativeTcp, ws: c => webSocketTarget(c, 'ws'), mqtt: mqttTcp, 'mqtt-ws': c => webSocketTarget(c, 'mqtt-ws'), http, kafka,
  }
  for (const name of o.targets) {
    if (name === 'idle' || !broker.alive) continue
    const r = await runners[name]!(ctx)
    targets.push(r)
    const s = sampler.now()
    o.log(`listener:${name.padEnd(8)} ${r.cases} cases in ${Math.round(r.ms / 1000)} s: ${Object.entries(r.outcomes).filter(([k]) => !k.includes(':')).map(([k, v]) => `${k} ${v} (slowest ${r.slowestMs[k]} ms)`).join(', ')}` +
      `  (rss ${Math.round((s?.rssBytes ?? NaN) / MiB)} MiB, sockets ${s?.sockets ?? '?'})`)
  }
  let idle: IdleReport | null = null
  if (o.targets.includes('idle') && broker.alive) {
    idle = await runIdlePhase({ ports: broker.ports, connections: o.idleConnections ?? 3000, sampler, baselineSockets: baseline.sockets, idleTimeoutMs: FUZZ_BROKER.idleTimeoutMs, failures: ctx.failures, log: o.log })
  }
  // Everything this side opened is closed: the broker's sockets return to the baseline.
  const released = Date.now() + 20_000
  let end = sampler.now()
  while (Date.now() < released && end !== null && end.sockets > baseline.sockets + 4) {
    await sleep(200)
    end = sampler.now()
  }
  const canaries = [await sdk.stop(), await mq.stop()]
  await sleep(300)
  end = sampler.now() ?? end
  // What the produce mode got into the log reads back, now and after a restart on the same data.
  const fail = (message: string): void => { ctx.failures.push({ target: 'listener:native', case: -1, mode: 'produce', message, input: '', reproduce: `npm run fuzz -- --target listener:native --seed ${o.seed} --socket-cases ${o.cases}` }) }
  const before = broker.alive ? await readBack(broker.ports.native) : null
  if (before?.error != null) fail(`the fuzzed batches the broker accepted do not read back: ${before.error.slice(0, 1500)}`)
  const report = await finish({ broker, sampler, baseline, end, canaries, targets, idle, flags, seed: o.seed, cases: o.cases, failures: ctx.failures, log: o.log })
  if (report.cleanStopExit === 0) {
    const again = await BrokerChild.start(dataDir, flags).catch((err: Error) => err)
    if (again instanceof Error) {
      fail(`the broker does not start again on the fuzzed data: ${again.message.slice(0, 1500)}`)
    } else {
      const after = await readBack(again.ports.native)
      if (after.error !== null) fail(`after a restart, the fuzzed batches do not read back: ${after.error.slice(0, 1500)}`)
      const exit = await again.stop()
      for (const e of again.errors.slice(0, 5)) fail(`the restarted broker logged an error: ${e.raw.slice(0, 1500)}`)
      if (exit !== 0) fail(`the restarted broker's SIGTERM exit is ${String(exit)}`)
      report.readBack = { records: before?.records ?? 0, afterRestart: after.records }
      o.log(`listeners: fuzzed produce topics read back: ${before?.records ?? 0} records, ${after.records} after a restart on the same data (exit ${String(exit)})`)
    }
  }
  const produceFailures = ctx.failures.filter(f => f.mode === 'produce')
  for (const f of produceFailures) o.log(`  FAIL ${f.target} (${f.mode}): ${f.message}`)
  if (produceFailures.length > 0) {
    keepData = true
    o.log(`  the broker's data directory is kept for inspection: ${dataDir}`)
  }
  return report
}
