/**
 * Scenario "mqtt-connections" (scale; opt-in with --scale): issue 17's "100,000 MQTT
 * connections (keep-alive 60, one subscription each): RSS ≤ 1 GB, a wildcard publish reaches
 * all within 2 s", on Spool's MQTT gateway. Spool only.
 *
 *   node dist/bench/scenarios/mqtt-connections.js [--quick|--tiny] [--devices N] [--json out.json]
 *
 * The devices: the lean 3.1.1 fleet of mqtt-fleet.ts (raw sockets, spread over the source
 * addresses 127.0.0.2-65), clean sessions, keep-alive 60 s (each pings every 30 s), and one
 * subscription each, at QoS 1, to the wildcard filter `fleet/+/cfg`: the broadcast topic a
 * Mosquitto user gives a fleet. One QoS 1 publish to `fleet/all/cfg` matches every device's
 * filter; the time until every device received it is measured, 3 times (a warm-up publish
 * to another topic first creates the MQTT log topic, so no round pays for that).
 *
 * File descriptors: one socket per device on each side. The program raises its soft limit
 * to the hard limit (fd-limit.ts: re-running itself under `ulimit -n`), which the broker and
 * the workers inherit, and never the hard limit itself. The fleet is split over worker
 * processes (mqtt-fleet-worker.ts) of at most min(limit − 1,000, 25,000) devices each; the
 * broker holds every connection in one process, so the devices connected are at most
 * limit − 2,000 (its log files, listeners and Node's own descriptors need the rest). Where
 * that is below the devices asked for, the rows say how many were measured and a note says
 * why; the 100,000 aim row is tagged only when 100,000 devices were connected.
 *
 * The publisher is one more lean client, connected before the first round; a round's clock
 * starts just before its PUBLISH is written.
 *
 * Measured: broker RSS on the fresh broker, with every device connected and subscribed
 * (idle 3 s), per connection, and its peak during the publishes; broker CPU while they idle
 * (5 s); per publish the time from just before it is sent to every device having it (p50,
 * p99 and max over every device and round; "time to every device" is the slowest round).
 * Every wait is bounded; devices that did not connect or receive are counted.
 */

import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { bySize, numberArg, parseArgs } from '../lib/cli.js'
import { runMain, tempDir } from '../lib/cleanup.js'
import { raiseFdLimit, shellLimit } from '../lib/fd-limit.js'
import { cpuSecondsBetween, cpuTicks, rssBytes, RssSampler, sleep, spawnServer, type ServerProcess } from '../lib/procs.js'
import { Recorder, SPOOL } from '../lib/result.js'
import { startSpool } from '../lib/spool.js'
import { percentile } from '../lib/stats.js'
import { Device, publishEach, publishPacket } from './mqtt-fleet.js'

const FILTER = 'fleet/+/cfg'
const BROADCAST = 'fleet/all/cfg'
const KEEP_ALIVE_SEC = 60
const ROUNDS = 3
const ROUND_TIMEOUT_MS = 30_000
/** Descriptors left to a process beside its sockets (logs, listeners, Node's own). */
const BROKER_RESERVE = 2000
const WORKER_RESERVE = 1000
const MAX_PER_WORKER = 25_000
const AIM_DEVICES = 100_000
const WORKER = fileURLToPath(new URL('./mqtt-fleet-worker.js', import.meta.url))

interface Worker {
  server: ServerProcess
  devices: number
  /** Lines from its stdout not yet taken. */
  lines: string[]
  wake: () => void
}

function startWorker (port: number, first: number, devices: number): Worker {
  const server = spawnServer(`fleet-${first}`, process.execPath, [WORKER, String(port), String(first), String(devices), FILTER, String(KEEP_ALIVE_SEC)], { stdio: ['pipe', 'pipe', 'pipe'] })
  const worker: Worker = { server, devices, lines: [], wake: () => {} }
  let buffered = ''
  server.child.stdout?.on('data', (d: Buffer) => {
    buffered += d.toString()
    const parts = buffered.split('\n')
    buffered = parts.pop() ?? ''
    worker.lines.push(...parts)
    worker.wake()
  })
  void server.exited.then(() => worker.wake())
  return worker
}

/** The worker's next line starting with `prefix` (earlier other lines are dropped), or null after `timeoutMs` or its exit. */
async function nextLine (worker: Worker, prefix: string, timeoutMs: number): Promise<string | null> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    while (worker.lines.length > 0) {
      const line = worker.lines.shift()!
      if (line.startsWith(prefix)) return line
    }
    const left = deadline - performance.now()
    if (left <= 0 || worker.server.child.exitCode !== null || worker.server.child.signalCode !== null) return null
    await new Promise<void>(resolve => {
      const timer = setTimeout(resolve, Math.min(left, 1000))
      worker.wake = () => { clearTimeout(timer); resolve() }
    })
  }
}

async function main (): Promise<void> {
  const args = parseArgs()
  const asked = numberArg(args, 'devices', bySize(args.mode, { full: AIM_DEVICES, quick: 5000, tiny: 200 }))
  const fdLimit = shellLimit('-n')
  const devices = Math.min(asked, fdLimit - BROKER_RESERVE)
  const perWorker = Math.min(fdLimit - WORKER_RESERVE, MAX_PER_WORKER)
  const workersNeeded = Math.ceil(devices / perWorker)
  await runMain(async () => {
    const count = devices.toLocaleString('en-US')
    const limited = devices < asked
    const name = `${count} MQTT connections${limited ? ` (of ${asked.toLocaleString('en-US')} asked: fd limit ${fdLimit.toLocaleString('en-US')})` : ''}, keep-alive ${KEEP_ALIVE_SEC}, 1 subscription each (${FILTER})`
    const rec = new Recorder('mqtt-connections', `Scale: ${count} MQTT connections and one wildcard publish reaching them all`,
      `${count} lean 3.1.1 devices (clean sessions, keep-alive ${KEEP_ALIVE_SEC} s) in ${workersNeeded} worker process${workersNeeded > 1 ? 'es' : ''}, each subscribed at QoS 1 to ${FILTER}; ${ROUNDS} QoS 1 publishes to ${BROADCAST}, each timed until every device had it.`)
    rec.config({ asked, devices, fdLimit, workers: workersNeeded, perWorker, filter: FILTER, topic: BROADCAST, keepAliveSec: KEEP_ALIVE_SEC, rounds: ROUNDS })
    if (limited) {
      rec.note(`The fd limit here is ${fdLimit.toLocaleString('en-US')} per process (soft = hard; it is not raised beyond the hard limit): the broker holds every connection in one process, so ${count} devices were connected, not ${asked.toLocaleString('en-US')}. The ${AIM_DEVICES.toLocaleString('en-US')} aim stays unmeasured here.`)
    }
    const dir = tempDir('mqtt-connections', args.tmp)
    const capacity = String(devices + 1000)
    const broker = await startSpool({ dataDir: `${dir}/spool`, mqtt: true, args: ['--max-connections', capacity, '--mqtt-max-connections', capacity] })
    const port = broker.ports.mqtt!
    // Tagged for the aim only at its size; a run the fd limit held below it is tagged as such
    // (the report shows it as "instead", never as the aim's verdict); smaller runs by choice, not at all.
    const aim = devices >= AIM_DEVICES ? { aim: `mqtt-connections-${AIM_DEVICES}` } : limited ? { aim: 'mqtt-connections-fd-limited' } : {}
    const add = (metric: string, value: number, unit: string, better: 'higher' | 'lower' = 'lower'): void => rec.add({ name, system: SPOOL, metric, value, unit, better, ...aim })
    const workers: Worker[] = []
    try {
      // The MQTT log topic is made by the first publish: once, before any device or timing.
      await publishEach(port, 'warm-up-publisher', ['warm-up/topic'], Buffer.alloc(8), 30_000)
      await sleep(1000)
      const rssFresh = rssBytes(broker.pid)
      const connectStarted = performance.now()
      for (let first = 0; first < devices; first += perWorker) workers.push(startWorker(port, first, Math.min(perWorker, devices - first)))
      let connected = 0
      let failed = 0
      for (const w of workers) {
        const line = await nextLine(w, 'connected ', 600_000)
        if (line === null) {
          failed += w.devices
          rec.note(`a fleet worker did not report its ${w.devices} devices connected: ${w.server.output().slice(-300)}`)
          continue
        }
        const [, ok, bad] = line.split(' ').map(Number)
        connected += ok!
        failed += bad!
      }
      const connectSeconds = (performance.now() - connectStarted) / 1000
      add('devices connected and subscribed', connected, 'conn', 'higher')
      if (failed > 0) add('devices that could not connect and subscribe', failed, 'conn')
      add('seconds to connect and subscribe them all', connectSeconds, 's')
      await sleep(3000)
      const rssConnected = rssBytes(broker.pid)
      add('broker RSS, fresh (no devices)', rssFresh / 1e6, 'MB')
      add('broker RSS, every device connected and subscribed', rssConnected / 1e6, 'MB')
      add('broker RSS per connection', (rssConnected - rssFresh) / Math.max(1, connected) / 1024, 'KB')
      const idleBefore = cpuTicks(broker.pid)
      await sleep(5000)
      add('broker CPU while they idle', cpuSecondsBetween(idleBefore, cpuTicks(broker.pid)).total / 5 * 100, '% of a core')

      // The publisher is connected before the rounds, so a round times the publish alone.
      const publisher = new Device(devices)
      if (await publisher.open(port, { clean: true, subscribe: false, timeoutMs: 30_000 }) !== 0) throw new Error('the publisher could not connect')
      const sampler = new RssSampler([broker.pid], 50)
      const latencies: number[] = []
      let slowestMs = 0
      let missing = 0
      for (let round = 1; round <= ROUNDS; round++) {
        const t0 = performance.timeOrigin + performance.now()
        for (const w of workers) w.server.child.stdin?.write(`round ${round} ${t0}\n`)
        publisher.socket!.write(publishPacket(BROADCAST, 1, round, Buffer.alloc(64, 0x63)))
        let received = 0
        let roundMax = 0
        for (const w of workers) {
          const line = await nextLine(w, `got ${round} `, ROUND_TIMEOUT_MS)
          if (line === null) continue
          const [, , n, times] = line.split(' ')
          received += Number(n)
          for (const t of (times ?? '').split(',')) {
            if (t === '') continue
            const ms = Number(t)
            latencies.push(ms)
            if (ms > roundMax) roundMax = ms
          }
        }
        missing += connected - received
        slowestMs = Math.max(slowestMs, roundMax)
        await sleep(1000)
      }
      const peak = sampler.stop().get(broker.pid) ?? NaN
      await publisher.disconnect()
      latencies.sort((a, b) => a - b)
      add('time to every device (slowest publish)', slowestMs / 1000, 's')
      add('publish → device, p50', percentile(latencies, 0.5), 'ms')
      add('publish → device, p99', percentile(latencies, 0.99), 'ms')
      add('broker peak RSS during the publishes', peak / 1e6, 'MB')
      if (missing > 0) add('deliveries missing (connected devices × rounds)', missing, 'msg')
    } finally {
      for (const w of workers) w.server.child.stdin?.end('exit\n')
      await Promise.all(workers.map(w => w.server.stop()))
      await broker.stop()
    }
    rec.finish(args.json)
  })
}

// Last: everything above is defined by now.
if (!await raiseFdLimit(import.meta.url)) await main()
