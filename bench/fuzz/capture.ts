/**
 * Frames of real clients, captured on the wire: the Spool SDK (native protocol over TCP) and
 * mqtt.js (MQTT 3.1.1 and 5) run a short flow each through a recording TCP proxy in front of
 * a broker; the proxy cuts each direction into whole frames with the protocol's own header
 * reader. The fuzzers mutate these (bench/fuzz/codecs/, bench/fuzz/listeners.ts), so the
 * mutations start from what real clients send, every field set the way they set it.
 *
 *   node dist/bench/fuzz/capture.js [--out <repo>/tests/fixtures]
 *
 * writes `native/sdk-frames.json` and `mqtt/mqttjs-frames.json` (an embedded broker on free
 * ports serves the flows). The listener fuzzer runs the same flows against the broker it
 * fuzzes, so the frames it mutates are fresh from the code under test.
 */

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { Client } from '../../client/index.js'
import { FrameAssembler, type FrameSizeReader } from '../../protocol/bytes/frame-assembler.js'
import { lengthPrefixReader } from '../../protocol/native/frame.js'
import { MQTT_MAX_HEADER_BYTES, mqttHeaderReader } from '../../broker/protocols/mqtt/framer.js'

export interface CapturedFrame {
  /** Which flow sent it (`sdk`, `mqtt-v4`, `mqtt-v5`). */
  flow: string
  direction: 'request' | 'response'
  /** Native: the api key; MQTT: the packet type (first byte >> 4). */
  kind: number
  /** The whole frame, length prefix or fixed header included. */
  bytes: Uint8Array
}

/** A TCP proxy that records both directions of every connection as whole frames. */
export class RecordingProxy {
  readonly frames: CapturedFrame[] = []
  flow = 'unnamed'
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  readonly #frameSize: () => FrameSizeReader
  readonly #maxHeader: number
  readonly #kind: (frame: Uint8Array, direction: 'request' | 'response') => number

  private constructor (server: Server, frameSize: () => FrameSizeReader, maxHeader: number, kind: (frame: Uint8Array, direction: 'request' | 'response') => number) {
    this.#server = server
    this.#frameSize = frameSize
    this.#maxHeader = maxHeader
    this.#kind = kind
  }

  get port (): number { return (this.#server.address() as { port: number }).port }

  static async start (targetPort: number, protocol: 'native' | 'mqtt'): Promise<RecordingProxy> {
    const server = createServer()
    const proxy = protocol === 'native'
      ? new RecordingProxy(server, () => lengthPrefixReader(64 * 1024 * 1024, 8), 4, (f, d) => d === 'request' ? (f[4]! << 8) | f[5]! : -1)
      : new RecordingProxy(server, () => mqttHeaderReader(64 * 1024 * 1024), MQTT_MAX_HEADER_BYTES, f => f[0]! >> 4)
    server.on('connection', client => proxy.#pipe(client, targetPort))
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    return proxy
  }

  #pipe (client: Socket, targetPort: number): void {
    const upstream = connect({ host: '127.0.0.1', port: targetPort })
    this.#sockets.add(client)
    this.#sockets.add(upstream)
    const record = (direction: 'request' | 'response'): ((chunk: Buffer) => void) => {
      const assembler = new FrameAssembler(this.#frameSize(), this.#maxHeader)
      const flow = this.flow
      return chunk => {
        try {
          assembler.push(chunk, frame => {
            this.frames.push({ flow, direction, kind: this.#kind(frame, direction), bytes: new Uint8Array(frame) })
            return true
          })
        } catch {
          // Not this protocol's framing: keep relaying, stop recording this direction.
        }
      }
    }
    const toBroker = record('request')
    const toClient = record('response')
    client.on('data', chunk => { toBroker(chunk); upstream.write(chunk) })
    upstream.on('data', chunk => { toClient(chunk); client.write(chunk) })
    const close = (): void => { client.destroy(); upstream.destroy() }
    client.on('close', close)
    upstream.on('close', close)
    client.on('error', close)
    upstream.on('error', close)
  }

  async close (): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>(resolve => this.#server.close(() => resolve()))
  }
}

function deadline<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms) }),
  ])
}

/**
 * The SDK flow: admin (create, describe, list, offsets), producers (acks 1, all, 0;
 * idempotent; gzip; keys and headers), a consumer group that reads and commits, a plain
 * consumer, then group and topic deletion. Frames of every native api the SDK sends.
 */
export async function captureSdkFrames (nativePort: number, topicPrefix = 'capture'): Promise<CapturedFrame[]> {
  const proxy = await RecordingProxy.start(nativePort, 'native')
  proxy.flow = 'sdk'
  const brokers = [`127.0.0.1:${proxy.port}`]
  const topic = `${topicPrefix}-${process.pid}-${Date.now()}`
  const group = `${topic}-group`
  const client = new Client({ brokers, clientId: 'capture-sdk' })
  try {
    await deadline((async () => {
      const admin = client.admin()
      await admin.createTopics([{ topic, partitions: 2, config: { retentionMs: 3_600_000 } }])
      await admin.describeTopics([topic])
      await admin.listTopics()
      const plain = client.producer({ acks: 1, lingerMs: 0 })
      await plain.send({ topic, messages: [{ key: 'k1', value: 'v1', headers: { h: 'x' } }, { value: null }] })
      await plain.close()
      const idempotent = client.producer({ acks: 'all', idempotent: true, compression: 'gzip', lingerMs: 0 })
      await idempotent.send({ topic, messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `value-${i}`.repeat(5) })) })
      await idempotent.close()
      const fireAndForget = client.producer({ acks: 0, lingerMs: 0 })
      await fireAndForget.send({ topic, messages: [{ key: 'acks0', value: 'no answer' }] })
      await fireAndForget.close()
      await admin.fetchTopicOffsets(topic)
      await admin.fetchTopicOffsetsByTimestamp(topic, Date.now() - 60_000)
      const consumer = client.consumer({ groupId: group, fromBeginning: true, maxWaitMs: 50, autoCommitIntervalMs: 100, sessionTimeoutMs: 6000 })
      await consumer.subscribe({ topics: [topic] })
      let seen = 0
      await new Promise<void>((resolve, reject) => {
        consumer.run({ eachMessage: async () => { if (++seen >= 23) resolve() } }).catch(reject)
      })
      await consumer.commit()
      await admin.listGroups()
      await admin.describeGroups([group])
      await admin.fetchOffsets(group, [topic])
      await consumer.close()
      const reader = client.consumer({ fromBeginning: true, maxWaitMs: 50 })
      await reader.assign({ topic, partitions: [0] })
      await reader.endOffsets()
      await reader.close()
      await admin.setOffsets(group, [{ topic, partition: 0, offset: 1 }])
      await admin.deleteGroups([group])
      await admin.deleteTopics([topic])
    })(), 60_000, 'the SDK capture flow')
  } finally {
    await client.close()
    await proxy.close()
  }
  return proxy.frames
}

async function mqttClient (port: number, options: IClientOptions): Promise<MqttClient> {
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000, ...options })
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve())
    c.once('error', reject)
    c.once('close', () => reject(new Error('closed before CONNACK')))
  })
  return c
}

/**
 * The mqtt.js flow, once per protocol version: a persistent session with a will, a clean
 * one, subscriptions at QoS 0/1/2 (a shared one too), publishes at QoS 0/1/2 (retained, and
 * with MQTT 5 properties), unsubscribe, disconnect.
 */
export async function captureMqttFrames (mqttPort: number, topicPrefix = 'capture'): Promise<CapturedFrame[]> {
  const proxy = await RecordingProxy.start(mqttPort, 'mqtt')
  try {
    for (const version of [4, 5] as const) {
      proxy.flow = `mqtt-v${version}`
      const base = `${topicPrefix}/${process.pid}/v${version}`
      await deadline((async () => {
        const v5 = version === 5
        const sub = await mqttClient(proxy.port, {
          protocolVersion: version, clientId: `cap-sub-${version}-${process.pid}`, clean: false,
          will: { topic: `${base}/will`, payload: Buffer.from('gone'), qos: 1, retain: false, ...(v5 ? { properties: { willDelayInterval: 0, contentType: 'text/plain' } } : {}) },
          ...(v5 ? { properties: { sessionExpiryInterval: 30, receiveMaximum: 20, userProperties: { who: 'capture' } } } : {}),
        })
        await sub.subscribeAsync([`${base}/q0`], { qos: 0 })
        await sub.subscribeAsync({ [`${base}/q1/+`]: { qos: 1 }, [`${base}/q2/#`]: { qos: 2 } })
        if (v5) await sub.subscribeAsync(`$share/g/${base}/shared`, { qos: 1, rap: true, rh: 1 })
        const got = new Promise<void>(resolve => {
          let n = 0
          sub.on('message', () => { if (++n >= 3) resolve() })
        })
        const pub = await mqttClient(proxy.port, { protocolVersion: version, clientId: `cap-pub-${version}-${process.pid}`, clean: true })
        await pub.publishAsync(`${base}/q0`, 'zero', { qos: 0 })
        await pub.publishAsync(`${base}/q1/a`, 'one', { qos: 1, retain: true })
        await pub.publishAsync(`${base}/q2/b/c`, Buffer.from([0, 1, 2, 255]), {
          qos: 2,
          ...(v5 ? { properties: { payloadFormatIndicator: false, messageExpiryInterval: 60, responseTopic: `${base}/reply`, correlationData: Buffer.from('cid'), userProperties: { a: '1', b: ['2', '3'] }, contentType: 'application/octet-stream' } } : {}),
        })
        if (v5) await pub.publishAsync(`${base}/shared`, 'shared', { qos: 1, properties: { topicAlias: 3 } })
        await deadline(got, 10_000, 'the capture subscriber')
        await sub.unsubscribeAsync([`${base}/q0`])
        await pub.publishAsync(`${base}/q1/a`, '', { qos: 1, retain: true })
        await pub.endAsync()
        await sub.endAsync()
      })(), 30_000, `the mqtt.js v${version} capture flow`)
    }
  } finally {
    await proxy.close()
  }
  return proxy.frames
}

/** JSON form of captured frames (hex bytes). */
export function framesToJson (client: string, frames: readonly CapturedFrame[]): string {
  return JSON.stringify({
    client,
    frames: frames.map(f => ({ flow: f.flow, direction: f.direction, kind: f.kind, hex: Buffer.from(f.bytes).toString('hex') })),
  }, null, 1) + '\n'
}

export function framesFromJson (text: string): CapturedFrame[] {
  const parsed = JSON.parse(text) as { frames: Array<{ flow: string, direction: 'request' | 'response', kind: number, hex: string }> }
  return parsed.frames.map(f => ({ flow: f.flow, direction: f.direction, kind: f.kind, bytes: Uint8Array.from(Buffer.from(f.hex, 'hex')) }))
}

/** Keeps at most `perKind` distinct frames of each flow, direction and kind (fetch polls repeat). */
export function distinct (frames: readonly CapturedFrame[], perKind = 4): CapturedFrame[] {
  const counts = new Map<string, number>()
  const seen = new Set<string>()
  const out: CapturedFrame[] = []
  for (const f of frames) {
    const h = Buffer.from(f.bytes).toString('base64')
    if (seen.has(h)) continue
    seen.add(h)
    const key = `${f.flow}/${f.direction}/${f.kind}`
    const n = counts.get(key) ?? 0
    if (n >= perKind) continue
    counts.set(key, n + 1)
    out.push(f)
  }
  return out
}

async function main (): Promise<void> {
  const out = process.argv.includes('--out') ? process.argv[process.argv.indexOf('--out') + 1]! : fileURLToPath(new URL('../../../tests/fixtures', import.meta.url))
  const { Broker } = await import('../../broker/broker.js')
  const dataDir = mkdtempSync(join(tmpdir(), 'spool-capture-'))
  const broker = await Broker.start({ dataDir, host: '127.0.0.1', port: 0, httpPort: null, mqttPort: 0, kafkaPort: null, logLevel: process.env.CAPTURE_LOG ?? 'silent' })
  try {
    const native = distinct(await captureSdkFrames(broker.ports.native!), 16)
    const mqttFrames = distinct(await captureMqttFrames(broker.ports.mqtt!))
    mkdirSync(join(out, 'native'), { recursive: true })
    mkdirSync(join(out, 'mqtt'), { recursive: true })
    writeFileSync(join(out, 'native', 'sdk-frames.json'), framesToJson('spool SDK (client/) over TCP', native))
    writeFileSync(join(out, 'mqtt', 'mqttjs-frames.json'), framesToJson('mqtt.js 5.16.0, protocol versions 4 and 5', mqttFrames))
    process.stdout.write(`native: ${native.length} frames, mqtt: ${mqttFrames.length} frames → ${out}\n`)
  } finally {
    await broker.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main()
