/**
 * Scenario "mqtt-devices": MQTT at device scale, Spool's gateway next to Mosquitto (Debian,
 * persistence off) in the same run, driven by the same lean 3.1.1 fleet (mqtt-fleet.ts).
 *
 *   node dist/bench/scenarios/mqtt-devices.js [--quick|--tiny] [--no-peers] [--json out.json]
 *        [--storms 5000,50000] [--devices 9000] [--only Spool|Mosquitto] [--parts storm,fanout,idle]
 *
 *   reconnect storm of N   N persistent sessions (clean=false, QoS 1 subscription to
 *                          dev/<i>/cfg) disconnect; one QoS 1 publish per device while they
 *                          are offline; then every device reconnects at once. Timed: start of
 *                          the storm → every CONNACK, → every queued message delivered.
 *                          Peak RSS growth = peak during the storm − RSS before it. Spool
 *                          also: a native produce round trip every 50 ms during the storm,
 *                          its p50 and max next to the same measured while idle.
 *   idle memory            (RSS with D connected, subscribed, idle clients − RSS before) / D,
 *                          on the fresh server and again after those D clients left (what a
 *                          connection holds, without the one-time growth of the heap); also
 *                          for "Node.js net (floor)", a Node server that only answers CONNECT
 *                          and SUBSCRIBE — the floor under any broker written for Node
 *   fan-out to D topics    D clean sessions each subscribed to its own topic, one publish per
 *                          device: time to all delivered — first on a fresh broker (for
 *                          Spool the first publish creates the MQTT log topic), then again
 *                          with the log topic there.
 *
 * File descriptors: the program raises its soft limit to the hard limit (re-running itself
 * under `ulimit -n`), which the brokers it spawns inherit. Where the hard limit is below what
 * a storm needs (one socket per device on each side), at most `limit − 2,000` devices are
 * connected at once: a device that got its message disconnects and frees its slot (said in
 * the notes). Not a test: it never fails on a number.
 */

import { performance } from 'node:perf_hooks'
import { bySize, parseArgs } from '../lib/cli.js'
import { raiseFdLimit, shellLimit } from '../lib/fd-limit.js'
import { runMain, tempDir } from '../lib/cleanup.js'
import { cpuSecondsBetween, cpuTicks, rssBytes, RssSampler, sleep, spawnServer, waitForLine } from '../lib/procs.js'
import { Recorder, SPOOL } from '../lib/result.js'
import { startSpool, type SpoolBroker } from '../lib/spool.js'
import { MOSQUITTO, mosquittoPath, startMosquitto } from '../peers/mqtt.js'
import { Device, deviceTopic, eachLimited, publishEach, until } from './mqtt-fleet.js'

const NODE_FLOOR = 'Node.js net (floor)'
/** Answers CONNECT with CONNACK and SUBSCRIBE with SUBACK (whole small packets per read), nothing else. */
const NODE_FLOOR_SERVER = `
const net = require('node:net')
const server = net.createServer({ noDelay: true }, socket => {
  socket.on('error', () => {})
  socket.on('data', d => {
    for (let i = 0; i < d.length;) {
      const type = d[i] >> 4
      let len = 0, m = 1, j = i + 1
      do { len += (d[j] & 127) * m; m *= 128 } while (d[j++] & 128)
      if (type === 1) socket.write(Buffer.from([0x20, 2, 0, 0]))
      else if (type === 8) socket.write(Buffer.from([0x90, 3, d[j], d[j + 1], 1]))
      else if (type === 14) socket.end()
      i = j + len
    }
  })
})
server.listen(0, '127.0.0.1', () => console.log('ready ' + server.address().port))
`

interface System {
  name: string
  port: number
  pid: number
  /** Native round trips from another process (Spool only). */
  prober: Prober | null
  /** The server's recent output (for notes when something went wrong). */
  output (): string
  stop (): Promise<void>
}

async function main (): Promise<void> {
  const args = parseArgs()
  const storms = (args.values.get('storms') ?? bySize(args.mode, { full: '5000,50000', quick: '5000', tiny: '200' })).split(',').map(Number)
  const devices = Number(args.values.get('devices') ?? bySize(args.mode, { full: 9000, quick: 9000, tiny: 300 }))
  const parts = new Set((args.values.get('parts') ?? 'storm,fanout,idle').split(','))
  const only = args.values.get('only')
  const fdLimit = shellLimit('-n')
  const maxOpen = Math.max(100, fdLimit - 2000)
  await runMain(async () => {
    const rec = new Recorder('mqtt-devices', 'MQTT at device scale: reconnect storms, fan-out to distinct topics, idle memory (Spool gateway vs Mosquitto)',
      `Lean raw-socket 3.1.1 devices spread over 64 loopback source addresses. Storms of ${storms.map(n => n.toLocaleString('en-US')).join(' and ')} persistent sessions with one queued QoS 1 message each; fan-out and idle memory with ${devices.toLocaleString('en-US')} clean sessions.`)
    rec.config({ storms, devices, fdLimit, maxOpen })
    rec.note('Spool writes every message to its log (acks=1); Mosquitto runs with persistence off (sessions and queued messages in memory only).')
    if (storms.some(n => n > maxOpen)) {
      rec.note(`The fd limit here is ${fdLimit} per process and cannot be raised: in storms above ${maxOpen.toLocaleString('en-US')} devices at most that many are connected at once; a device disconnects once its message came, freeing its slot.`)
    }
    const dir = tempDir('mqtt-devices', args.tmp)
    const bigger = Math.max(...storms, devices) + 10_000
    const spoolArgs = ['--max-connections', String(bigger), '--mqtt-max-connections', String(bigger), '--mqtt-max-sessions', String(bigger), '--mqtt-session-create-rate', '1000000']
    const starters: Array<[string, () => Promise<System>]> = [[SPOOL, async () => {
      const broker = await startSpool({ dataDir: tempDir('spool', dir), mqtt: true, args: spoolArgs })
      const prober = await Prober.start(broker)
      return { name: SPOOL, port: broker.ports.mqtt!, pid: broker.pid, prober, output: () => broker.output(), stop: async () => { await prober.stop(); await broker.stop() } }
    }]]
    if (args.noPeers) rec.skip('peers (--no-peers)')
    else if (mosquittoPath() === null) rec.skip(`${MOSQUITTO}: mosquitto is not installed (bench/setup)`)
    else {
      starters.push([MOSQUITTO, async () => {
        const server = await startMosquitto(tempDir('mosquitto', dir))
        return { name: MOSQUITTO, port: server.port, pid: server.pid, prober: null, output: () => server.output(), stop: () => server.stop() }
      }])
    }
    // The floor under any Node.js broker: a net server that only answers CONNECT and
    // SUBSCRIBE, holding nothing per connection but Node's own socket (idle memory only).
    if (parts.has('idle')) {
      starters.push([NODE_FLOOR, async () => {
        const server = spawnServer('node-floor', process.execPath, ['-e', NODE_FLOOR_SERVER])
        const line = await waitForLine(server, l => l.startsWith('ready '))
        return { name: NODE_FLOOR, port: Number(line.split(' ')[1]), pid: server.pid, prober: null, output: () => server.output(), stop: () => server.stop() }
      }])
    }
    for (const [name, start] of starters) {
      if (only !== undefined && only !== name) continue
      if (name === NODE_FLOOR) {
        const system = await start()
        try {
          await idleAndFanOut(rec, system, devices, new Set(['idle']))
        } finally {
          await system.stop()
        }
        continue
      }
      if (parts.has('storm')) {
        for (const n of storms) {
          process.stderr.write(`${name}: storm of ${n}\n`)
          const system = await start()
          try {
            await storm(rec, system, n, maxOpen)
          } finally {
            await system.stop()
          }
        }
      }
      if (parts.has('idle') || parts.has('fanout')) {
        process.stderr.write(`${name}: ${devices} devices, idle and fan-out\n`)
        const system = await start()
        try {
          await idleAndFanOut(rec, system, devices, parts)
        } finally {
          await system.stop()
        }
      }
    }
    rec.finish(args.json)
  })
}

/** The prober: one native produce (acks=1) every 20 ms, printing when it ended and how long it took. */
const PROBER_SCRIPT = `
const { Client } = await import(process.argv[1])
const client = new Client({ brokers: [process.argv[2]], clientId: 'bench-prober' })
const producer = client.producer({ acks: 1, lingerMs: 0 })
const value = new Uint8Array(8)
await producer.send({ topic: 'round-trip', messages: [{ value }] })
console.log('ready')
for (;;) {
  const t0 = performance.now()
  await producer.send({ topic: 'round-trip', messages: [{ value }] })
  console.log(Date.now() + ' ' + (performance.now() - t0).toFixed(3))
  await new Promise(resolve => setTimeout(resolve, 20))
}
`

/**
 * Native round trips measured from a process of their own, so the device fleet's work in
 * this process is not counted as the broker's: samples of [end time (ms since the epoch,
 * one clock for the machine), milliseconds].
 */
class Prober {
  readonly samples: Array<[number, number]> = []
  readonly #server: ReturnType<typeof spawnServer>

  private constructor (server: ReturnType<typeof spawnServer>) {
    this.#server = server
    let buffered = ''
    server.child.stdout?.on('data', (d: Buffer) => {
      buffered += d.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) {
        const [at, ms] = line.split(' ').map(Number)
        if (Number.isFinite(at) && Number.isFinite(ms)) this.samples.push([at!, ms!])
      }
    })
  }

  static async start (broker: SpoolBroker): Promise<Prober> {
    const client = new URL('../../client/index.js', import.meta.url).href
    const server = spawnServer('prober', process.execPath, ['--input-type=module', '-e', PROBER_SCRIPT, client, broker.address])
    await waitForLine(server, l => l.startsWith('ready'), 30_000)
    return new Prober(server)
  }

  /** Round trips that ended between two times (ms since the epoch), sorted. */
  between (fromMs: number, toMs: number): number[] {
    return this.samples.filter(([at]) => at >= fromMs && at <= toMs).map(([, ms]) => ms).sort((a, b) => a - b)
  }

  stop (): Promise<void> { return this.#server.stop() }
}

function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
}

/** How the devices that got no CONNACK ended, counted by cause ("ECONNRESET: 12, timed out: 3"). */
function failureCauses (fleet: readonly Device[]): string {
  const counts = new Map<string, number>()
  for (const d of fleet) {
    if (d.returnCode === 0) continue
    const cause = d.failure ?? (d.returnCode > 0 ? `CONNACK return code ${d.returnCode}` : 'timed out')
    counts.set(cause, (counts.get(cause) ?? 0) + 1)
  }
  return [...counts].sort((a, b) => b[1] - a[1]).map(([cause, count]) => `${cause}: ${count}`).join(', ')
}

async function storm (rec: Recorder, system: System, n: number, maxOpen: number): Promise<void> {
  const name = `reconnect storm, ${n.toLocaleString('en-US')} persistent sessions, 1 queued QoS 1 message each`
  const fleet = Array.from({ length: n }, (_, i) => new Device(i))
  // Set-up (not timed): every session subscribed, then offline.
  let failed = 0
  await eachLimited(fleet, Math.min(1000, maxOpen), async d => {
    if (await d.open(system.port, { clean: false, subscribe: true, timeoutMs: 60_000 }) !== 0) failed++
    await d.disconnect()
  })
  if (failed > 0) rec.note(`${system.name}: ${failed} of ${n} sessions could not be set up for the storm of ${n}`)
  const published = await publishEach(system.port, `storm-publisher-${n}`, fleet.map(d => deviceTopic(d.index)), Buffer.alloc(64, 0x61), 300_000)
  if (published < n) rec.note(`${system.name}: only ${published} of ${n} queued messages were acknowledged before the storm`)
  const idleFrom = Date.now()
  await sleep(1500)
  const idleTo = Date.now()
  const rssBefore = rssBytes(system.pid)
  const sampler = new RssSampler([system.pid], 50)
  const cpuBefore = cpuTicks(system.pid)
  const t0 = performance.now()
  let delivered = 0
  let connacks = 0
  let lastConnackMs = 0
  const connackMs: number[] = []
  const stormFrom = Date.now()
  const keepOpen = n <= maxOpen
  await eachLimited(fleet, maxOpen, async d => {
    const started = performance.now()
    let gotIt: () => void = () => {}
    const got = new Promise<void>(resolve => { gotIt = resolve })
    const code = await d.open(system.port, {
      clean: false,
      subscribe: false,
      timeoutMs: 120_000,
      onPublish: dev => { if (dev.received === 1) { delivered++; gotIt() } },
    })
    if (code === 0) {
      connacks++
      connackMs.push(d.connackAtMs - started)
      lastConnackMs = Math.max(lastConnackMs, d.connackAtMs - t0)
      if (d.received === 0) await Promise.race([got, d.closedPromise(), sleep(120_000)])
    }
    if (!keepOpen) await d.disconnect()
  })
  const allMs = performance.now() - t0
  const cpu = cpuSecondsBetween(cpuBefore, cpuTicks(system.pid)).total
  const stormTo = Date.now()
  const peak = sampler.stop().get(system.pid) ?? NaN
  const idle = system.prober?.between(idleFrom, idleTo) ?? []
  const during = system.prober?.between(stormFrom, stormTo) ?? []
  rec.add({ name, system: system.name, metric: 'time to every message delivered', value: allMs / 1000, unit: 's', better: 'lower', aim: `mqtt-storm-${n}` })
  rec.add({ name, system: system.name, metric: 'time to every CONNACK', value: lastConnackMs / 1000, unit: 's', better: 'lower', aim: `mqtt-storm-${n}` })
  connackMs.sort((a, b) => a - b)
  rec.add({ name, system: system.name, metric: 'CONNACK p99 (from its connect)', value: percentile(connackMs, 0.99), unit: 'ms', better: 'lower', aim: `mqtt-storm-${n}` })
  rec.add({ name, system: system.name, metric: 'server CPU per session', value: cpu / n * 1000, unit: 'ms', better: 'lower', aim: `mqtt-storm-${n}` })
  rec.add({ name, system: system.name, metric: 'peak RSS growth', value: (peak - rssBefore) / 1e6, unit: 'MB', better: 'lower', aim: `mqtt-storm-${n}` })
  rec.add({ name, system: system.name, metric: 'peak RSS', value: peak / 1e6, unit: 'MB', better: 'lower', aim: `mqtt-storm-${n}` })
  if (delivered < n) rec.add({ name, system: system.name, metric: 'messages not delivered', value: n - delivered, unit: 'msg', better: 'lower', aim: `mqtt-storm-${n}` })
  if (connacks < n) {
    rec.add({ name, system: system.name, metric: 'CONNACKs missing', value: n - connacks, unit: 'conn', better: 'lower', aim: `mqtt-storm-${n}` })
    rec.note(`${system.name}, storm of ${n}: why CONNACKs were missing: ${failureCauses(fleet)}`)
    const lines = system.output().split('\n').filter(l => /warn|error|clos|refus/i.test(l)).slice(-3)
    if (lines.length > 0) rec.note(`${system.name}, storm of ${n}: ${n - connacks} CONNACKs missing; the server's last words: ${lines.join(' | ').slice(0, 600)}`)
  }
  if (system.prober !== null) {
    rec.add({ name, system: system.name, metric: 'native round trip p50, idle', value: percentile(idle, 0.5), unit: 'ms', better: 'lower', aim: `mqtt-storm-${n}` })
    rec.add({ name, system: system.name, metric: 'native round trip p50 during the storm', value: percentile(during, 0.5), unit: 'ms', better: 'lower', aim: `mqtt-storm-${n}` })
    rec.add({ name, system: system.name, metric: 'native round trip p99 during the storm', value: percentile(during, 0.99), unit: 'ms', better: 'lower', aim: `mqtt-storm-${n}` })
    rec.add({ name, system: system.name, metric: 'native round trip max during the storm', value: during[during.length - 1] ?? NaN, unit: 'ms', better: 'lower', aim: `mqtt-storm-${n}` })
  }
  for (const d of fleet) d.destroy()
}

async function idleAndFanOut (rec: Recorder, system: System, n: number, parts: Set<string>): Promise<void> {
  const name = `idle memory, ${n.toLocaleString('en-US')} connected subscribed clients`
  let delivered = 0
  const connectAll = async (fleet: Device[]): Promise<void> => {
    let failed = 0
    await eachLimited(fleet, 1000, async d => {
      if (await d.open(system.port, { clean: true, subscribe: true, timeoutMs: 60_000, onPublish: () => { delivered++ } }) !== 0) failed++
    })
    if (failed > 0) rec.note(`${system.name}: ${failed} of ${n} devices could not connect and subscribe`)
  }
  if (parts.has('idle')) {
    // First on the fresh server (one-time growth included: heap young generation, tables),
    // then again after those clients left (what each connection holds).
    await sleep(1000)
    const before = rssBytes(system.pid)
    const first = Array.from({ length: n }, (_, i) => new Device(n + i))
    await connectAll(first)
    await sleep(2000)
    const after = rssBytes(system.pid)
    rec.add({ name, system: system.name, metric: 'RSS per connection, fresh server', value: (after - before) / n / 1024, unit: 'KB', better: 'lower', aim: 'mqtt-idle-memory' })
    await Promise.all(first.map(d => d.disconnect()))
    await sleep(3000)
    const again = rssBytes(system.pid)
    const second = Array.from({ length: n }, (_, i) => new Device(n + i))
    await connectAll(second)
    await sleep(2000)
    const afterAgain = rssBytes(system.pid)
    rec.add({ name, system: system.name, metric: 'RSS per connection, second round', value: (afterAgain - again) / n / 1024, unit: 'KB', better: 'lower' })
    if (parts.has('fanout')) await fanOut(rec, system, second, () => delivered)
    for (const d of second) d.destroy()
    return
  }
  const fleet = Array.from({ length: n }, (_, i) => new Device(n + i))
  await connectAll(fleet)
  await fanOut(rec, system, fleet, () => delivered)
  for (const d of fleet) d.destroy()
}

/** One publish per device, twice: the first may create the MQTT log topic (a fresh broker). */
async function fanOut (rec: Recorder, system: System, fleet: Device[], delivered: () => number): Promise<void> {
  const n = fleet.length
  const start = delivered()
  for (const [round, label] of [[1, 'fresh broker (the first publish creates the log topic)'], [2, 'log topic there']] as const) {
    const topics = fleet.map(d => deviceTopic(d.index))
    const target = start + n * round
    const t0 = performance.now()
    const sampler = new RssSampler([system.pid], 50)
    const acked = await publishEach(system.port, `fanout-publisher-${round}`, topics, Buffer.alloc(64, 0x62), 120_000)
    await until(() => delivered() >= target, 60_000)
    const ms = performance.now() - t0
    const peak = sampler.stop().get(system.pid) ?? NaN
    const name = `fan-out to ${n.toLocaleString('en-US')} distinct topics, ${label}`
    rec.add({ name, system: system.name, metric: 'time to every message delivered', value: ms / 1000, unit: 's', better: 'lower' })
    rec.add({ name, system: system.name, metric: 'peak RSS', value: peak / 1e6, unit: 'MB', better: 'lower' })
    if (acked < n) rec.add({ name, system: system.name, metric: 'publishes not acknowledged', value: n - acked, unit: 'msg', better: 'lower' })
    if (delivered() < target) rec.add({ name, system: system.name, metric: 'messages not delivered', value: target - delivered(), unit: 'msg', better: 'lower' })
  }
}

// Last: everything above (classes included) is defined by now.
if (!await raiseFdLimit(import.meta.url)) await main()
