/**
 * The soak's clients, each a loop that runs until stopped and counts what it did:
 *
 *   RateProducers     SDK producers (acks=1; acks=all idempotent; gzip) at a fixed rate,
 *                     keyed records on the soak topic, every acknowledgement in a Ledger
 *   GroupReaders      (bench/torture/workload.ts) the consumer group that must read every
 *                     acknowledged record
 *   SlowReaders       raw native connections that ask for large fetches and then stop
 *                     reading (socket paused) for seconds at a time, then drain and leave
 *   VanishingMembers  group consumers in child processes, killed with SIGKILL while they
 *                     fetch, replaced, over and over (a group of their own)
 *   MqttSessions      mqtt.js sessions coming and going: persistent (a fixed pool of client
 *                     ids) and clean, 3.1.1 and 5, subscribing and publishing at QoS 0/1/2,
 *                     leaving with DISCONNECT or by dropping the socket (wills)
 *   WsClients         the SDK over WebSocket (/ws), producing and reading back, reconnecting;
 *                     mqtt.js over WebSocket (/mqtt)
 *   ApiPoller         GET /api/overview, /api/topics, /api/groups, /api/traffic, /healthz
 */

import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import mqtt, { type MqttClient } from 'mqtt'
import { WebSocket } from 'ws'
import { Client, type Producer } from '../../client/index.js'
import { concatParts, encodeClientId, encodeRequestFrame } from '../../protocol/native/frame.js'
import { Ledger, RecordShape, rng as xorshift } from '../torture/workload.js'
import { RawConn } from '../fuzz/wire.js'

export function sleep (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** A loop that runs `step` until stopped; errors are counted, never thrown. */
abstract class Loop {
  protected stopped = false
  #running: Promise<void> | null = null
  errors = 0
  lastError: string | null = null

  start (): void { this.#running = this.run().catch(err => { this.note(err) }) }
  protected abstract run (): Promise<void>
  protected note (err: unknown): void {
    this.errors++
    this.lastError = (err as Error)?.message ?? String(err)
  }

  async stop (): Promise<void> {
    this.stopped = true
    await this.#running
    await this.close()
  }

  protected async close (): Promise<void> {}
}

export interface ProducerSpec { acks: 1 | 'all', idempotent: boolean, compression: 'none' | 'gzip' }

/** Producers at `recordsPerSecond` each, in small batches; acknowledgements go to the ledger. */
export class RateProducers extends Loop {
  readonly ledger = new Ledger()
  readonly #client: Client
  readonly #producers: Producer[] = []
  readonly #inFlight = new Set<Promise<void>>()

  constructor (brokers: string[], readonly topic: string, readonly shape: RecordShape, readonly specs: readonly ProducerSpec[], readonly recordsPerSecond: number) {
    super()
    this.#client = new Client({ brokers, clientId: 'soak-producers' })
  }

  protected async run (): Promise<void> {
    const loops = this.specs.map((spec, id) => this.#one(spec, id))
    await Promise.all(loops)
  }

  async #one (spec: ProducerSpec, id: number): Promise<void> {
    const p = this.#client.producer({ acks: spec.acks, idempotent: spec.idempotent, compression: spec.compression, lingerMs: 5 })
    this.#producers.push(p)
    let counter = 0
    const tickMs = 50
    const perTick = Math.max(1, Math.round(this.recordsPerSecond * tickMs / 1000))
    let next = performance.now()
    while (!this.stopped) {
      for (let i = 0; i < perTick; i++) {
        const rid = { producer: id, counter: counter++ }
        this.ledger.sent(rid)
        const done: Promise<void> = p.send({ topic: this.topic, messages: [{ key: this.shape.key(rid), value: this.shape.value(rid), headers: { src: this.shape.header(rid) } }] })
          .then(meta => { this.ledger.ack(rid, meta[0]!.partition, meta[0]!.offset) }, (err: Error & { code?: string }) => { this.ledger.fail(err.code ?? err.name); this.note(err) })
          .finally(() => { this.#inFlight.delete(done) })
        this.#inFlight.add(done)
      }
      next += tickMs
      await sleep(Math.max(0, next - performance.now()))
    }
  }

  protected override async close (): Promise<void> {
    await Promise.allSettled([...this.#inFlight])
    await Promise.allSettled(this.#producers.map(p => p.close()))
    await this.#client.close()
  }
}

/**
 * Raw native connections that fetch a lot and then do not read: the broker stops reading
 * them once their answers pile up (and closes them past maxQueuedBytes); they drain, leave
 * and come back.
 */
export class SlowReaders extends Loop {
  cycles = 0
  closedByBroker = 0
  readonly #conns = new Set<RawConn>()

  constructor (readonly port: number, readonly topic: string, readonly count: number, readonly random: () => number) { super() }

  protected async run (): Promise<void> {
    await Promise.all(Array.from({ length: this.count }, (_, i) => this.#one(i)))
  }

  async #one (i: number): Promise<void> {
    const id = encodeClientId(`soak-slow-${i}`)
    while (!this.stopped) {
      let conn: RawConn
      try {
        conn = await RawConn.open(this.port)
      } catch (err) {
        this.note(err)
        await sleep(1000)
        continue
      }
      this.#conns.add(conn)
      conn.socket.pause()
      const fetches: Uint8Array[] = []
      for (let n = 1; n <= 20; n++) {
        fetches.push(concatParts(encodeRequestFrame(1, 0, n, id, {
          maxWaitMs: 100, minBytes: 1, maxBytes: 8 * 1024 * 1024,
          topics: [{ topic: this.topic, partitions: [0, 1, 2, 3].map(p => ({ partition: p, fetchOffset: Math.floor(this.random() * 2000), maxBytes: 2 * 1024 * 1024 })) }],
        })))
      }
      conn.write(concatParts(fetches))
      // Not reading for a while, then reading everything, then leaving.
      const pauseMs = 3000 + Math.floor(this.random() * 12_000)
      const until = performance.now() + pauseMs
      while (!this.stopped && performance.now() < until && !conn.closed) await sleep(200)
      conn.socket.resume()
      await conn.until(() => conn.closed, 1500)
      if (conn.closed) this.closedByBroker++
      conn.destroy()
      this.#conns.delete(conn)
      this.cycles++
    }
  }

  protected override async close (): Promise<void> {
    for (const c of this.#conns) c.destroy()
  }
}

const SOAK = fileURLToPath(new URL('./soak.js', import.meta.url))

/** Group members in child processes (`soak.js --member`), each killed with SIGKILL after a few seconds. */
export class VanishingMembers extends Loop {
  spawned = 0
  killed = 0
  readonly #children = new Set<ChildProcess>()

  constructor (readonly port: number, readonly topic: string, readonly group: string, readonly count: number, readonly random: () => number) { super() }

  protected async run (): Promise<void> {
    await Promise.all(Array.from({ length: this.count }, () => this.#one()))
  }

  async #one (): Promise<void> {
    while (!this.stopped) {
      const child = spawn(process.execPath, [SOAK, '--member', '--port', String(this.port), '--topic', this.topic, '--group', this.group], { stdio: ['ignore', 'ignore', 'pipe'] })
      this.#children.add(child)
      this.spawned++
      const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
      // Long enough to join and fetch (the member reads with a slow handler, so it is mid-fetch or mid-batch).
      const lifeMs = 2500 + Math.floor(this.random() * 6000)
      const until = performance.now() + lifeMs
      while (!this.stopped && performance.now() < until && child.exitCode === null) await sleep(100)
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL')
        this.killed++
      }
      await exited
      this.#children.delete(child)
      await sleep(300 + Math.floor(this.random() * 1000))
    }
  }

  protected override async close (): Promise<void> {
    for (const c of this.#children) if (c.exitCode === null) c.kill('SIGKILL')
  }
}

/** The body of a vanishing member (run in a child process by VanishingMembers). */
export async function memberMain (port: number, topic: string, group: string): Promise<void> {
  const client = new Client({ brokers: [`127.0.0.1:${port}`], clientId: `soak-vanishing-${process.pid}` })
  const consumer = client.consumer({ groupId: group, fromBeginning: true, sessionTimeoutMs: 4000, autoCommitIntervalMs: 500, maxWaitMs: 500 })
  await consumer.subscribe({ topics: [topic] })
  await consumer.run({ eachMessage: async () => { await sleep(1) } })
}

export interface MqttCounts { sessions: number, published: number, received: number, dropped: number, persistentResumes: number }

/** mqtt.js sessions that come and go (TCP or /mqtt over WebSocket). */
export class MqttSessions extends Loop {
  readonly counts: MqttCounts = { sessions: 0, published: 0, received: 0, dropped: 0, persistentResumes: 0 }
  readonly #clients = new Set<MqttClient>()

  constructor (readonly url: string, readonly prefix: string, readonly parallel: number, readonly random: () => number, readonly wsOptions: Record<string, unknown> = {}) { super() }

  protected async run (): Promise<void> {
    await Promise.all(Array.from({ length: this.parallel }, (_, i) => this.#one(i)))
  }

  async #one (slot: number): Promise<void> {
    while (!this.stopped) {
      const persistent = this.random() < 0.5
      const version = this.random() < 0.5 ? 4 : 5
      const clientId = persistent ? `${this.prefix}-p${slot}-${Math.floor(this.random() * 3)}` : `${this.prefix}-c${slot}-${Math.floor(this.random() * 1e9)}`
      const qos = Math.floor(this.random() * 3) as 0 | 1 | 2
      let c: MqttClient
      try {
        c = mqtt.connect(this.url, {
          clientId, clean: !persistent, protocolVersion: version, reconnectPeriod: 0, connectTimeout: 10_000, keepalive: 10,
          ...(version === 5 && persistent ? { properties: { sessionExpiryInterval: 300 } } : {}),
          will: { topic: `${this.prefix}/will/${slot}`, payload: Buffer.from('gone'), qos: 1, retain: false },
          ...this.wsOptions,
        })
        this.#clients.add(c)
        await new Promise<void>((resolve, reject) => {
          c.once('connect', ack => { if (ack.sessionPresent) this.counts.persistentResumes++; resolve() })
          c.once('error', reject)
          c.once('close', () => reject(new Error('closed before CONNACK')))
        })
        this.counts.sessions++
        c.on('message', () => { this.counts.received++ })
        const topic = `${this.prefix}/s/${slot}`
        await c.subscribeAsync([topic, `${this.prefix}/will/#`], { qos })
        const n = 5 + Math.floor(this.random() * 40)
        for (let i = 0; i < n && !this.stopped; i++) {
          await c.publishAsync(topic, `m${i}`, { qos: Math.floor(this.random() * 3) as 0 | 1 | 2, retain: i === 0 })
          this.counts.published++
          await sleep(20 + Math.floor(this.random() * 80))
        }
        await sleep(200 + Math.floor(this.random() * 2000))
        if (this.random() < 0.3) {
          // Gone without DISCONNECT: the will is published, a persistent session stays.
          this.counts.dropped++
          c.stream.destroy()
          c.end(true)
        } else {
          await c.endAsync()
        }
      } catch (err) {
        this.note(err)
        await sleep(500)
      } finally {
        for (const x of this.#clients) if (x.options.clientId === clientId) { x.end(true); this.#clients.delete(x) }
      }
      await sleep(100 + Math.floor(this.random() * 500))
    }
  }

  protected override async close (): Promise<void> {
    for (const c of this.#clients) c.end(true)
  }
}

/** The SDK over WebSocket: a producer and a reader that reconnect every few seconds. */
export class WsClients extends Loop {
  produced = 0
  readBack = 0
  reconnects = 0

  constructor (readonly httpPort: number, readonly topic: string, readonly random: () => number) { super() }

  protected async run (): Promise<void> {
    while (!this.stopped) {
      const client = new Client({ url: `ws://127.0.0.1:${this.httpPort}/ws`, WebSocket: WebSocket as never, clientId: 'soak-ws' })
      try {
        const producer = client.producer({ acks: 1, lingerMs: 2 })
        const consumer = client.consumer({ fromBeginning: false, maxWaitMs: 200 })
        await consumer.assign({ topic: this.topic })
        await consumer.seekToEnd()
        const until = performance.now() + 3000 + Math.floor(this.random() * 5000)
        let sent = 0
        const reading = (async () => {
          for await (const _m of consumer) {
            this.readBack++
            if (this.stopped || performance.now() > until + 2000) break
          }
        })()
        while (!this.stopped && performance.now() < until) {
          await producer.send({ topic: this.topic, messages: [{ value: `ws-${sent++}` }] })
          this.produced++
          await sleep(20)
        }
        await producer.close()
        await consumer.close()
        await reading.catch(() => {})
      } catch (err) {
        this.note(err)
        await sleep(500)
      } finally {
        await client.close()
        this.reconnects++
      }
    }
  }
}

/** Polls the JSON api (not /metrics: the sampler reads that, and reading it resets the loop-lag gauges). */
export class ApiPoller extends Loop {
  requests = 0
  notOk = 0
  lastStatus: number | null = null

  constructor (readonly httpPort: number) { super() }

  protected async run (): Promise<void> {
    const paths = ['/api/overview', '/api/topics', '/api/groups', '/api/traffic', '/healthz', '/api/topics?internal=true']
    let i = 0
    while (!this.stopped) {
      const path = paths[i++ % paths.length]!
      try {
        const res = await fetch(`http://127.0.0.1:${this.httpPort}${path}`, { signal: AbortSignal.timeout(10_000) })
        await res.arrayBuffer()
        this.requests++
        this.lastStatus = res.status
        if (res.status !== 200) this.notOk++
      } catch (err) {
        this.note(err)
      }
      await sleep(250)
    }
  }
}

export { xorshift, RecordShape }
