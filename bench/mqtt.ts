/**
 * MQTT benchmark: Spool's gateway side by side with Mosquitto (Debian, persistence off) and
 * Aedes (npm, in-memory), each in its own process on 127.0.0.1, measured in the same run by
 * the same lean clients (raw sockets, noDelay, pre-encoded 3.1.1 packets, so the client is
 * not what is measured).
 *
 *   node dist/bench/mqtt.js [--messages 200000] [--rate 5000] [--seconds 3] [--only Spool|Mosquitto|Aedes]
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

import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { PacketFramer } from '../broker/listeners/mqtt/framer.js'

const args = new Map<string, string>()
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '')
const MESSAGES = Number(args.get('messages') ?? 200_000)
const RATE = Number(args.get('rate') ?? 5000)
const SECONDS = Number(args.get('seconds') ?? 3)
const PAYLOAD_BYTES = 100
const TOPIC = 'bench/topic'

// ----- a lean MQTT 3.1.1 client -----

function str (s: string): Buffer {
  const b = Buffer.from(s)
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
}

function packet (first: number, body: Buffer): Buffer {
  const len: number[] = []
  let n = body.length
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    len.push(b)
  } while (n > 0)
  return Buffer.concat([Buffer.from([first, ...len]), body])
}

function publishPacket (qos: 0 | 1, packetId: number, payload: Buffer): Buffer {
  const id = qos > 0 ? Buffer.from([packetId >> 8, packetId & 0xff]) : Buffer.alloc(0)
  return packet(0x30 | (qos << 1), Buffer.concat([str(TOPIC), id, payload]))
}

class BenchClient {
  readonly socket: Socket
  readonly #framer = new PacketFramer(1 << 20)
  onPublish: (qos: number, packetId: number, payload: Uint8Array) => void = () => {}
  onAck: (packetId: number) => void = () => {}
  #waiting: ((first: number) => void) | null = null

  private constructor (socket: Socket) {
    this.socket = socket
    socket.on('data', chunk => {
      this.#framer.push(chunk, (first, body) => {
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
    const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0x02, 0, 0]), str(clientId)])
    await c.#request(packet(0x10, body))
    return c
  }

  #request (bytes: Buffer): Promise<number> {
    return new Promise(resolve => {
      this.#waiting = resolve
      this.socket.write(bytes)
    })
  }

  async subscribe (qos: 0 | 1): Promise<void> {
    await this.#request(packet(0x82, Buffer.concat([Buffer.from([0, 1]), str(TOPIC), Buffer.from([qos])])))
  }

  close (): void { this.socket.destroy() }
}

// ----- scenarios -----

interface Result { msgPerSec?: number, p50Ms?: number, p99Ms?: number, received: number }

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
        chunk.push(publishPacket(qos, (sent % 65535) + 1, payload))
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
  const warmup = Math.floor(RATE / 4)
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
        chunk.push(publishPacket(qos, (sent % 65535) + 1, payload))
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
  return { p50Ms: pct(0.5), p99Ms: pct(0.99), received }
}

// ----- brokers -----

interface Running { name: string, port: number, stop (): Promise<void> }

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}

function waitForLine (child: ChildProcess, match: (line: string) => boolean, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = ''
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${buffered.slice(-500)}`)), 15_000)
    const on = (d: Buffer): void => {
      buffered += d.toString()
      const line = buffered.split('\n').find(match)
      if (line !== undefined) {
        clearTimeout(timer)
        resolve(line)
      }
    }
    child.stdout?.on('data', on)
    child.stderr?.on('data', on)
    child.once('exit', code => reject(new Error(`${what} exited ${code}: ${buffered.slice(-500)}`)))
  })
}

function stopper (child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null) return
    child.kill('SIGTERM')
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await new Promise(resolve => child.once('exit', resolve))
    clearTimeout(killer)
  }
}

async function startSpool (dir: string): Promise<Running> {
  const spool = new URL('../cli/spool.js', import.meta.url).pathname
  // SPOOL_BENCH_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", to profile the broker.
  const nodeArgs = (process.env.SPOOL_BENCH_NODE_ARGS ?? '').split(' ').filter(x => x.length > 0)
  const child = spawn(process.execPath, [...nodeArgs, spool, 'broker', 'start', '--data-dir', join(dir, 'spool'), '--port', '0', '--http-port', '0', '--mqtt-port', '0', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const line = await waitForLine(child, l => l.includes('"broker started"'), 'spool')
  child.stdout!.resume()
  return { name: 'Spool', port: (JSON.parse(line) as { ports: { mqtt: number } }).ports.mqtt, stop: stopper(child) }
}

async function startMosquitto (dir: string): Promise<Running> {
  const port = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\nmax_inflight_messages 1000\nset_tcp_nodelay true\nlog_dest file ${join(dir, 'mosquitto.log')}\nlog_type ${process.env.MOSQUITTO_LOG ?? 'error'}\n`)
  const child = spawn('mosquitto', ['-c', conf, '-v'], { stdio: ['ignore', 'pipe', 'pipe'] })
  await waitUntilListening(port, child, 'mosquitto')
  return { name: 'Mosquitto', port, stop: stopper(child) }
}

async function startAedes (): Promise<Running> {
  const server = new URL('./mqtt-aedes-server.js', import.meta.url).pathname
  const child = spawn(process.execPath, [server, '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const line = await waitForLine(child, l => l.startsWith('ready '), 'aedes')
  return { name: 'Aedes', port: Number(line.split(' ')[1]), stop: stopper(child) }
}

async function waitUntilListening (port: number, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited ${child.exitCode}`)
    const ok = await new Promise<boolean>(resolve => {
      const s = connect({ host: '127.0.0.1', port })
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`${what} did not listen on ${port}`)
}

// ----- run -----

const dir = mkdtempSync(join(tmpdir(), 'spool-bench-mqtt-'))
const results = new Map<string, Map<string, Result>>()
const scenarios: Array<[string, (port: number) => Promise<Result>]> = [
  ['throughput QoS 0 (msg/s)', p => throughput(p, 0)],
  ['throughput QoS 1 (msg/s)', p => throughput(p, 1)],
  [`latency QoS 0 at ${RATE}/s p50 / p99 (ms)`, p => latency(p, 0)],
  [`latency QoS 1 at ${RATE}/s p50 / p99 (ms)`, p => latency(p, 1)],
]
try {
  const only = args.get('only')
  const starters: Array<[string, () => Promise<Running>]> = [['Spool', () => startSpool(dir)], ['Mosquitto', () => startMosquitto(dir)], ['Aedes', () => startAedes()]]
  for (const [name, start] of starters) {
    if (only !== undefined && only !== name) continue
    const broker = await start()
    const byScenario = new Map<string, Result>()
    try {
      for (const [name, run] of scenarios) {
        byScenario.set(name, await run(broker.port))
        process.stderr.write(`${broker.name}: ${name}: ${JSON.stringify(byScenario.get(name))}\n`)
      }
    } finally {
      await broker.stop()
    }
    results.set(broker.name, byScenario)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}

const fmt = (r: Result | undefined): string => {
  if (r === undefined) return 'n/a'
  if (r.msgPerSec !== undefined) {
    const dropped = MESSAGES - r.received
    return Math.round(r.msgPerSec).toLocaleString('en-US') + (dropped > 0 ? ` (${dropped.toLocaleString('en-US')} dropped)` : '')
  }
  return `${r.p50Ms!.toFixed(2)} / ${r.p99Ms!.toFixed(2)}`
}
const ratio = (a: Result | undefined, b: Result | undefined): string => {
  if (a === undefined || b === undefined) return 'n/a'
  if (a.msgPerSec !== undefined && b.msgPerSec !== undefined) return `${(a.msgPerSec / b.msgPerSec).toFixed(2)}×`
  return `${(a.p99Ms! / b.p99Ms!).toFixed(2)}× (p99)`
}
const lines = [
  `MQTT, one publisher → one subscriber, ${PAYLOAD_BYTES}-byte payloads, ${MESSAGES.toLocaleString('en-US')} messages per throughput run; node ${process.version}; ${new Date().toISOString()}`,
  '',
  '| scenario | Spool | Mosquitto | Aedes | Spool / Mosquitto | Spool / Aedes |',
  '| --- | ---: | ---: | ---: | ---: | ---: |',
]
for (const [name] of scenarios) {
  const s = results.get('Spool')?.get(name)
  const m = results.get('Mosquitto')?.get(name)
  const a = results.get('Aedes')?.get(name)
  lines.push(`| ${name} | ${fmt(s)} | ${fmt(m)} | ${fmt(a)} | ${ratio(s, m)} | ${ratio(s, a)} |`)
}
process.stdout.write(lines.join('\n') + '\n')
