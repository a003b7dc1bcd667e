/**
 * Canaries: well-behaved clients that keep making round trips through the broker while it is
 * being fuzzed or soaked, so "the broker stays up" also means "the broker keeps serving
 * everyone else". The SDK canary sends one record at a time (acks=1) and waits until its own
 * consumer has read it back; the MQTT canary publishes QoS 1 to a topic it subscribes to. Each
 * records every round trip's time and the longest gap between two completed round trips.
 */

import mqtt, { type MqttClient } from 'mqtt'
import { Client, type Consumer, type Producer } from '../../client/index.js'
import { sleep } from '../lib/procs.js'

export interface CanaryStats {
  name: string
  roundTrips: number
  failures: number
  /** Records sent and acknowledged, and how many of those were read back. */
  acknowledged: number
  consumed: number
  maxRoundTripMs: number
  /** Longest time without a completed round trip (from the first one on). */
  maxGapMs: number
  lastError: string | null
}

function newStats (name: string): CanaryStats {
  return { name, roundTrips: 0, failures: 0, acknowledged: 0, consumed: 0, maxRoundTripMs: 0, maxGapMs: 0, lastError: null }
}


function within<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms) }),
  ])
}

/** One record at a time through the native protocol: produce (acks=1), read back by a consumer. */
/**
 * A canary's loop: every `intervalMs` one record goes out (`send` resolves when the broker
 * acknowledged it) and must come back (`arrived` resolves when it was read), each within
 * `timeoutMs`; round trips, the longest one, the longest gap between them and failures go
 * into `stats`. `waiting` maps a record's key to what its arrival resolves.
 */
async function roundTrips<K> (o: {
  stats: CanaryStats, intervalMs: number, timeoutMs: number, what: string, stopped: () => boolean,
  waiting: Map<K, () => void>, key: (n: number) => K, send: (key: K) => Promise<unknown>,
}): Promise<void> {
  let seq = 0
  let lastDone = -1
  const stats = o.stats
  while (!o.stopped()) {
    const key = o.key(seq++)
    const started = performance.now()
    const arrived = new Promise<void>(resolve => o.waiting.set(key, resolve))
    try {
      await within(o.send(key), o.timeoutMs, `a ${o.what} send`)
      stats.acknowledged++
      await within(arrived, o.timeoutMs, `reading a ${o.what} record back`)
      const now = performance.now()
      stats.roundTrips++
      stats.maxRoundTripMs = Math.max(stats.maxRoundTripMs, now - started)
      if (lastDone >= 0) stats.maxGapMs = Math.max(stats.maxGapMs, now - lastDone)
      lastDone = now
    } catch (err) {
      stats.failures++
      stats.lastError = (err as Error).message
    } finally {
      o.waiting.delete(key)
    }
    await sleep(o.intervalMs)
  }
}

export class SdkCanary {
  readonly stats: CanaryStats
  readonly #client: Client
  readonly #topic: string
  #producer: Producer | null = null
  #consumer: Consumer | null = null
  #stopped = false
  #loop: Promise<void> | null = null
  #reader: Promise<void> | null = null
  readonly #waiting = new Map<number, () => void>()
  readonly #seen = new Set<number>()

  constructor (nativePort: number, topic: string, readonly intervalMs = 100, readonly timeoutMs = 15_000) {
    this.#client = new Client({ brokers: [`127.0.0.1:${nativePort}`], clientId: `canary-${topic}` })
    this.#topic = topic
    this.stats = newStats(`sdk ${topic}`)
  }

  async start (): Promise<void> {
    await this.#client.admin().createTopics([{ topic: this.#topic, partitions: 1 }])
    this.#producer = this.#client.producer({ acks: 1, lingerMs: 0 })
    const consumer = this.#consumer = this.#client.consumer({ fromBeginning: true, maxWaitMs: 100 })
    await consumer.assign({ topic: this.#topic })
    this.#reader = (async () => {
      for await (const m of consumer) {
        const seq = Number(Buffer.from(m.value ?? new Uint8Array(0)).toString())
        if (!this.#seen.has(seq)) {
          this.#seen.add(seq)
          this.stats.consumed++
        }
        this.#waiting.get(seq)?.()
        if (this.#stopped) break
      }
    })().catch(err => { if (!this.#stopped) this.stats.lastError = `consumer: ${(err as Error).message}` })
    this.#loop = this.#run()
  }

  #run (): Promise<void> {
    return roundTrips({
      stats: this.stats, intervalMs: this.intervalMs, timeoutMs: this.timeoutMs, what: 'canary', stopped: () => this.#stopped,
      waiting: this.#waiting, key: n => n, send: n => this.#producer!.send({ topic: this.#topic, messages: [{ key: 'canary', value: String(n) }] }),
    })
  }

  /** Waits (bounded) until every acknowledged record was read back, then stops. */
  async stop (): Promise<CanaryStats> {
    this.#stopped = true
    await this.#loop
    const deadline = Date.now() + this.timeoutMs
    while (this.stats.consumed < this.stats.acknowledged && Date.now() < deadline) await sleep(50)
    await this.#producer?.close().catch(() => {})
    await this.#consumer?.close().catch(() => {})
    await this.#reader
    await this.#client.close()
    return this.stats
  }
}

/** QoS 1 publishes to a topic the same mqtt.js client subscribes to. */
export class MqttCanary {
  readonly stats: CanaryStats
  #client: MqttClient | null = null
  #stopped = false
  #loop: Promise<void> | null = null
  readonly #waiting = new Map<string, () => void>()

  constructor (readonly mqttPort: number, readonly topic: string, readonly intervalMs = 150, readonly timeoutMs = 15_000) {
    this.stats = newStats(`mqtt ${topic}`)
  }

  async start (): Promise<void> {
    const c = this.#client = mqtt.connect(`mqtt://127.0.0.1:${this.mqttPort}`, { clientId: `canary-${process.pid}-${this.topic.replace(/\W/g, '')}`, clean: true, reconnectPeriod: 500, connectTimeout: 5000, protocolVersion: 5 })
    await within(new Promise<void>((resolve, reject) => { c.once('connect', () => resolve()); c.once('error', reject) }), this.timeoutMs, 'the MQTT canary connect')
    c.on('message', (_topic, payload) => {
      const key = payload.toString()
      this.stats.consumed++
      this.#waiting.get(key)?.()
    })
    c.on('error', err => { this.stats.lastError = err.message })
    await within(c.subscribeAsync(this.topic, { qos: 1 }), this.timeoutMs, 'the MQTT canary subscribe')
    this.#loop = this.#run()
  }

  #run (): Promise<void> {
    return roundTrips({
      stats: this.stats, intervalMs: this.intervalMs, timeoutMs: this.timeoutMs, what: 'MQTT canary', stopped: () => this.#stopped,
      waiting: this.#waiting, key: n => String(n), send: key => this.#client!.publishAsync(this.topic, key, { qos: 1 }),
    })
  }

  async stop (): Promise<CanaryStats> {
    this.#stopped = true
    await this.#loop
    await this.#client?.endAsync().catch(() => {})
    return this.stats
  }
}
