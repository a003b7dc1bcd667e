/**
 * Scenario "mqtt": Spool's MQTT gateway side by side with Mosquitto (Debian, persistence
 * off) and Aedes (npm, in-memory), each in its own process on 127.0.0.1, measured in the
 * same run by the same lean clients (raw sockets, noDelay, pre-encoded 3.1.1 packets, so
 * the client is not what is measured).
 *
 *   node dist/bench/scenarios/mqtt.js [--quick|--tiny] [--no-peers] [--json out.json]
 *        [--messages 200000] [--rate 5000] [--seconds 3] [--only Spool|Mosquitto|Aedes]
 *
 * Scenarios, one publisher and one subscriber on one topic, 100-byte payloads:
 *   throughput QoS 0 / QoS 1: as fast as the broker goes; the publisher keeps at most 5,000
 *     messages not yet received (closed loop, so no broker needs to drop), and for QoS 1 at
 *     most 1,000 unacknowledged publishes. msg/s = messages / (last received − first sent).
 *   latency QoS 0 / QoS 1 at --rate msg/s: p50 and p99 of send → receive (same clock).
 * Spool writes every message to its log (acks=1: page cache, as mqttFsyncAcks=false).
 * Not a test: it never fails on a number. Caveats: one machine, loopback, 2 cores shared by
 * broker and clients; run it several times and compare medians.
 */

import { connect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { MQTT_MAX_HEADER_BYTES, bodyStart, mqttHeaderReader } from '../../broker/protocols/mqtt/framer.js'
import { FrameAssembler } from '../../protocol/bytes/frame-assembler.js'
import { bySize, numberArg, parseArgs } from '../lib/cli.js'
import { runMain, tempDir } from '../lib/cleanup.js'
import { measure, type Measured } from '../lib/measure.js'
import { Recorder, SPOOL, type Row } from '../lib/result.js'
import { startSpool } from '../lib/spool.js'
import { connectPacket, publishPacket, subscribePacket } from './mqtt-fleet.js'
import { AEDES, MOSQUITTO, mosquittoPath, startAedes, startMosquitto, type MqttServer } from '../peers/mqtt.js'

const args = parseArgs()
const MESSAGES = numberArg(args, 'messages', bySize(args.mode, { full: 200_000, quick: 30_000, tiny: 2_000 }))
const RATE = numberArg(args, 'rate', 5000)
const SECONDS = numberArg(args, 'seconds', bySize(args.mode, { full: 3, quick: 0.8, tiny: 0.4 }))
const PAYLOAD_BYTES = 100
const TOPIC = 'bench/topic'

// ----- a lean MQTT 3.1.1 client (the packets of mqtt-fleet.ts) -----

class BenchClient {
  readonly socket: Socket
  readonly #framer = new FrameAssembler(mqttHeaderReader(1 << 20), MQTT_MAX_HEADER_BYTES)
  onPublish: (qos: number, packetId: number, payload: Uint8Array) => void = () => {}
  onAck: (packetId: number) => void = () => {}
  #waiting: ((first: number) => void) | null = null

  private constructor (socket: Socket) {
    this.socket = socket
    socket.on('data', chunk => {
      this.#framer.push(chunk, whole => {
        const first = whole[0]!
        const body = whole.subarray(bodyStart(whole))
        const type = first >> 4
        if (type === 3) {
          const qos = (first >> 1) & 3
          const topicLength = (body[0]! << 8) | body[1]!
          let pos = 2 + topicLength
          let packetId = 0
          if (qos > 0) {
            packetId = (body[pos]! << 8) | body[pos + 1]!
            pos += 2
          }
          this.onPublish(qos, packetId, body.subarray(pos))
        } else if (type === 4) {
          this.onAck((body[0]! << 8) | body[1]!)
        } else if (this.#waiting !== null) {
          const w = this.#waiting
          this.#waiting = null
          w(first)
        }
        return true
      })
    })
    socket.on('error', () => {})
  }

  static async open (port: number, clientId: string): Promise<BenchClient> {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true })
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    const c = new BenchClient(socket)
    await c.#request(connectPacket(clientId, true, 0))
    return c
  }

  #request (bytes: Buffer): Promise<number> {
    return new Promise(resolve => {
      this.#waiting = resolve
      this.socket.write(bytes)
    })
  }

  async subscribe (qos: 0 | 1): Promise<void> {
    await this.#request(subscribePacket(1, TOPIC, qos))
  }

  close (): void { this.socket.destroy() }
}

// ----- scenarios -----

interface Result { msgPerSec?: number, p50Ms?: number, p99Ms?: number, p999Ms?: number, received: number }

async function throughput (port: number, qos: 0 | 1): Promise<Result> {
  const sub = await BenchClient.open(port, `sub-${qos}-${Date.now()}`)
  await sub.subscribe(qos)
  const pub = await BenchClient.open(port, `pub-${qos}-${Date.now()}`)
  let received = 0
  let acked = 0
  let sent = 0
  let t0 = 0
  let t1 = 0
  const payload = Buffer.alloc(PAYLOAD_BYTES, 0x61)
  let kick: () => void = () => {}
  const acks: Buffer[] = []
  sub.onPublish = (q, packetId) => {
    received++
    if (q === 1) {
      acks.push(Buffer.from([0x40, 2, packetId >> 8, packetId & 0xff]))
      if (acks.length >= 64 || received === MESSAGES) sub.socket.write(Buffer.concat(acks.splice(0)))
    }
    t1 = performance.now()
    kick()
  }
  pub.onAck = () => { acked++; kick() }
  // A broker that drops QoS 0 (Mosquitto past its queue limits) must not stall the closed
  // loop: when nothing arrives for 100 ms, what is outstanding counts as lost.
  let lost = 0
  let lastReceived = -1
  let lastProgressMs = performance.now()
  const done = new Promise<void>(resolve => {
    const watchdog = setInterval(() => {
      const now = performance.now()
      if (received !== lastReceived) {
        lastReceived = received
        lastProgressMs = now
        return
      }
      if (sent >= MESSAGES && now - lastProgressMs > 1000) {
        clearInterval(watchdog)
        resolve()
        return
      }
      if (now - lastProgressMs > 100) {
        lost = sent - received
        if (qos === 1) acked = sent
        kick()
      }
    }, 50)
    const step = (): void => {
      if (received >= MESSAGES || sub.socket.destroyed || pub.socket.destroyed) {
        clearInterval(watchdog)
        resolve()
        return
      }
      const chunk: Buffer[] = []
      while (sent < MESSAGES && sent - received - lost < 5000 && (qos === 0 || sent - acked < 1000) && chunk.length < 256) {
        sent++
        chunk.push(publishPacket(TOPIC, qos, (sent % 65535) + 1, payload))
      }
      if (acks.length > 0) sub.socket.write(Buffer.concat(acks.splice(0)))
      if (chunk.length > 0) pub.socket.write(Buffer.concat(chunk))
    }
    let scheduled = false
    kick = () => {
      if (scheduled) return
      scheduled = true
      setImmediate(() => { scheduled = false; step() })
    }
    t0 = performance.now()
    step()
  })
  const timeout = new Promise<void>(resolve => setTimeout(resolve, 60_000).unref())
  await Promise.race([done, timeout])
  sub.close()
  pub.close()
  return { msgPerSec: received / ((t1 - t0) / 1000), received }
}

async function latency (port: number, qos: 0 | 1): Promise<Result> {
  const sub = await BenchClient.open(port, `lsub-${qos}-${Date.now()}`)
  await sub.subscribe(qos)
  const pub = await BenchClient.open(port, `lpub-${qos}-${Date.now()}`)
  const samples: number[] = []
  const total = RATE * SECONDS
  const warmup = Math.min(Math.floor(RATE / 4), Math.floor(total / 4))
  let received = 0
  sub.onPublish = (q, packetId, payload) => {
    const sentAt = Buffer.from(payload.buffer, payload.byteOffset, 8).readDoubleLE(0)
    if (received++ >= warmup) samples.push(performance.now() - sentAt)
    if (q === 1) sub.socket.write(Buffer.from([0x40, 2, packetId >> 8, packetId & 0xff]))
  }
  const start = performance.now()
  let sent = 0
  await new Promise<void>(resolve => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor((performance.now() - start) * RATE / 1000))
      const chunk: Buffer[] = []
      while (sent < due) {
        sent++
        const payload = Buffer.alloc(PAYLOAD_BYTES)
        payload.writeDoubleLE(performance.now(), 0)
        chunk.push(publishPacket(TOPIC, qos, (sent % 65535) + 1, payload))
      }
      if (chunk.length > 0) pub.socket.write(chunk.length === 1 ? chunk[0]! : Buffer.concat(chunk))
      if (sent >= total) resolve()
      else setTimeout(tick, 1)
    }
    tick()
  })
  const deadline = performance.now() + 5000
  while (received < total && performance.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
  sub.close()
  pub.close()
  samples.sort((a, b) => a - b)
  const pct = (p: number): number => samples[Math.min(samples.length - 1, Math.floor(samples.length * p))] ?? NaN
  return { p50Ms: pct(0.5), p99Ms: pct(0.99), p999Ms: pct(0.999), received }
}

// ----- run -----

interface Running { name: string, port: number, pid: number, stop (): Promise<void> }

function rowsOf (system: string, qos: 0 | 1, m: Measured<Result>): Row[] {
  const r = m.value
  if (r.msgPerSec !== undefined) {
    const name = `MQTT QoS ${qos} throughput, 1 publisher → 1 subscriber`
    const rows: Row[] = [
      { name, system, metric: 'msg/s', value: r.msgPerSec, unit: 'msg/s', aim: `mqtt-qos${qos}-throughput` },
      { name, system, metric: 'server CPU s per 1M messages', value: m.serverCpuSeconds / r.received * 1e6, unit: 's', better: 'lower' },
      { name, system, metric: 'server peak RSS', value: m.serverPeakRssBytes / 1e6, unit: 'MB', better: 'lower' },
    ]
    if (r.received < MESSAGES) rows.push({ name, system, metric: 'messages lost', value: MESSAGES - r.received, unit: 'msg', better: 'lower' })
    return rows
  }
  const name = `MQTT QoS ${qos} latency at ${RATE.toLocaleString('en-US')} msg/s`
  return [
    { name, system, metric: 'p50 publish→receive', value: r.p50Ms!, unit: 'ms', better: 'lower' },
    { name, system, metric: 'p99 publish→receive', value: r.p99Ms!, unit: 'ms', better: 'lower', ...(RATE === 5000 ? { aim: `mqtt-qos${qos}-latency-5000` } : {}) },
    { name, system, metric: 'p99.9 publish→receive', value: r.p999Ms!, unit: 'ms', better: 'lower' },
  ]
}

await runMain(async () => {
  const rec = new Recorder('mqtt', 'MQTT: one publisher → one subscriber, 100-byte payloads (Spool gateway vs Mosquitto vs Aedes)',
    `Throughput with ${MESSAGES.toLocaleString('en-US')} messages per run (closed loop: at most 5,000 not yet received, 1,000 unacknowledged for QoS 1); latency at ${RATE.toLocaleString('en-US')} msg/s for ${SECONDS} s. Lean raw-socket 3.1.1 clients, noDelay.`)
  rec.config({ messages: MESSAGES, rate: RATE, seconds: SECONDS })
  rec.note('Spool writes every MQTT message to its log (acks=1: page cache, mqttFsyncAcks=false); Mosquitto runs with persistence off and Aedes in memory.')
  const dir = tempDir('mqtt', args.tmp)
  const only = args.values.get('only')
  const starters: Array<[string, () => Promise<Running>]> = [[SPOOL, async () => {
    const broker = await startSpool({ dataDir: `${dir}/spool`, mqtt: true })
    return { name: SPOOL, port: broker.ports.mqtt!, pid: broker.pid, stop: () => broker.stop() }
  }]]
  const peer = (server: MqttServer, name: string): Running => ({ name, port: server.port, pid: server.pid, stop: () => server.stop() })
  if (args.noPeers) rec.skip('peers (--no-peers)')
  else {
    if (mosquittoPath() === null) rec.skip(`${MOSQUITTO}: mosquitto is not installed (bench/setup)`)
    else starters.push([MOSQUITTO, async () => peer(await startMosquitto(tempDir('mosquitto', dir)), MOSQUITTO)])
    starters.push([AEDES, async () => peer(await startAedes(), AEDES)])
  }
  const scenarios: Array<[0 | 1, (port: number) => Promise<Result>]> = [
    [0, p => throughput(p, 0)],
    [1, p => throughput(p, 1)],
    [0, p => latency(p, 0)],
    [1, p => latency(p, 1)],
  ]
  for (const [name, start] of starters) {
    if (only !== undefined && only !== name) continue
    process.stderr.write(`${name}\n`)
    const broker = await start()
    try {
      for (const [qos, run] of scenarios) {
        const m = await measure(broker.pid, () => run(broker.port))
        for (const row of rowsOf(broker.name, qos, m)) rec.add(row)
      }
    } finally {
      await broker.stop()
    }
  }
  rec.finish(args.json)
})
