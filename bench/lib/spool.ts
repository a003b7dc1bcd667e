/**
 * Spool in benchmarks: the broker as a separate process (`spool broker start` on free
 * ports, temp data dir) and the SDK drivers every scenario uses to load it.
 *
 * Profiling the broker: SPOOL_BENCH_BROKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"
 * adds Node flags to every broker a benchmark starts (see bench/tools/cpuprofile.ts).
 */

import { fileURLToPath } from 'node:url'
import { WebSocket } from 'ws'
import { Client, type ClientOptions, type Producer, type ProducerOptions, type RecordMetadata } from '../../client/index.js'
import { spawnServer, waitForLine, type ServerProcess } from './procs.js'

const SPOOL_CLI = fileURLToPath(new URL('../../cli/spool.js', import.meta.url))

export interface SpoolBroker extends ServerProcess {
  readonly dataDir: string
  readonly ports: { native: number, http: number, mqtt: number | null, kafka: number | null, nativeTls: number | null, kafkaTls: number | null }
  /** host:port of the native protocol. */
  readonly address: string
  /** The native protocol over WebSocket. */
  readonly wsUrl: string
  /** Seconds from spawn until the 'broker started' line. */
  readonly startSeconds: number
}

export interface StartSpoolOptions {
  dataDir: string
  /** Serve MQTT on a free port (default off). */
  mqtt?: boolean
  /** Serve the Kafka protocol on a free port (default off). */
  kafka?: boolean
  /** More `spool broker start` flags, e.g. ['--segment-bytes', '1048576']. */
  args?: string[]
  /** Node flags for the broker process (added to SPOOL_BENCH_BROKER_NODE_ARGS). */
  nodeArgs?: string[]
}

export async function startSpool (options: StartSpoolOptions): Promise<SpoolBroker> {
  const envNodeArgs = (process.env.SPOOL_BENCH_BROKER_NODE_ARGS ?? '').split(' ').filter(a => a.length > 0)
  const args = [
    ...envNodeArgs, ...(options.nodeArgs ?? []), SPOOL_CLI, 'broker', 'start',
    '--data-dir', options.dataDir, '--port', '0', '--http-port', '0',
    '--mqtt-port', options.mqtt === true ? '0' : 'off', '--kafka-port', options.kafka === true ? '0' : 'off', '--log-level', 'info',
    ...(options.args ?? []),
  ]
  const started = performance.now()
  const server = spawnServer('spool', process.execPath, args)
  const line = await waitForLine(server, l => l.includes('"broker started"'), 60_000)
  const startSeconds = (performance.now() - started) / 1000
  const ports = (JSON.parse(line) as { ports: { native: number, http: number, mqtt?: number, kafka?: number, nativeTls?: number | null, kafkaTls?: number | null } }).ports
  return {
    ...server,
    dataDir: options.dataDir,
    ports: { native: ports.native, http: ports.http, mqtt: ports.mqtt ?? null, kafka: ports.kafka ?? null, nativeTls: ports.nativeTls ?? null, kafkaTls: ports.kafkaTls ?? null },
    address: `127.0.0.1:${ports.native}`,
    wsUrl: `ws://127.0.0.1:${ports.http}/ws`,
    startSeconds,
  }
}

/** A client for the broker over TCP, or over WebSocket with `ws` when `webSocket`. */
export function spoolClient (broker: SpoolBroker, clientId: string, options: { webSocket?: boolean } & ClientOptions = {}): Client {
  const { webSocket, ...rest } = options
  return webSocket === true
    ? new Client({ url: broker.wsUrl, WebSocket: WebSocket as never, clientId, ...rest })
    : new Client({ brokers: [broker.address], clientId, ...rest })
}

export async function createTopic (broker: SpoolBroker, topic: string, partitions: number, config: Record<string, unknown> = {}, options: ClientOptions = {}): Promise<void> {
  const client = spoolClient(broker, 'bench-admin', options)
  try {
    await client.admin().createTopics([{ topic, partitions, config: config as never }])
  } finally {
    await client.close()
  }
}

/** A value of `bytes` bytes (letters, so it is not all zeros). */
export function makeValue (bytes: number): Uint8Array {
  const v = new Uint8Array(bytes)
  for (let i = 0; i < bytes; i++) v[i] = 97 + (i % 26)
  return v
}

export interface ProduceLoad {
  topic: string
  producers: number
  /** Records in all (each producer sends its share). */
  records: number
  valueBytes: number
  /** Stop starting new sends after this long (the acknowledged count is what counts). */
  maxSeconds: number
  producer: ProducerOptions
  /** Messages per send() call. */
  perSend: number
  /** send() calls awaiting their acknowledgement, per producer. */
  outstanding: number
}

/** Clients with one producer each, connected and warmed up (metadata fetched) before timing. */
export async function openProducers (broker: SpoolBroker, load: ProduceLoad, options: ClientOptions = {}): Promise<Array<{ client: Client, producer: Producer }>> {
  const out: Array<{ client: Client, producer: Producer }> = []
  for (let i = 0; i < load.producers; i++) {
    const client = spoolClient(broker, `bench-producer-${i}`, options)
    const producer = client.producer(load.producer)
    await producer.send({ topic: load.topic, messages: [{ value: new Uint8Array(8) }] })
    out.push({ client, producer })
  }
  return out
}

/**
 * Sends `load.records` records from every producer at once, each keeping `outstanding`
 * send() calls of `perSend` messages in flight; resolves with the records acknowledged.
 * Closes the producers (flush) before resolving, so every counted record is acknowledged.
 */
export async function produceWith (producers: Array<{ client: Client, producer: Producer }>, load: ProduceLoad): Promise<number> {
  const value = makeValue(load.valueBytes)
  const messages = Array.from({ length: load.perSend }, () => ({ value }))
  const deadline = performance.now() + load.maxSeconds * 1000
  const share = Math.ceil(load.records / producers.length / load.perSend) * load.perSend
  let acknowledged = 0
  await Promise.all(producers.map(async ({ producer }) => {
    const outstanding = new Set<Promise<RecordMetadata[]>>()
    for (let sent = 0; sent < share && performance.now() < deadline; sent += load.perSend) {
      const send = producer.send({ topic: load.topic, messages })
      outstanding.add(send)
      void send.then(() => { acknowledged += load.perSend }, () => {}).finally(() => outstanding.delete(send))
      if (outstanding.size >= load.outstanding) await Promise.race(outstanding)
    }
    await Promise.all(outstanding)
    await producer.close()
  }))
  return acknowledged
}

export async function closeClients (clients: Array<{ client: Client }>): Promise<void> {
  await Promise.all(clients.map(c => c.client.close()))
}

/**
 * Reads a topic from the beginning with run({ eachBatch }) until `expected` records came
 * (or `maxSeconds` passed); resolves with the count.
 */
export async function consumeAll (client: Client, topic: string, expected: number, maxSeconds: number): Promise<number> {
  const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 100 })
  await consumer.assign({ topic })
  let count = 0
  const timer = setTimeout(() => { void consumer.close() }, maxSeconds * 1000)
  await consumer.run({
    eachBatch: ({ batch }) => {
      count += batch.messages.length
      if (count >= expected) void consumer.close()
    },
  })
  clearTimeout(timer)
  await consumer.close()
  return count
}

/**
 * Reads a topic from the beginning the way the SDK's README shows it,
 * `for await (const message of consumer)`, until `expected` records came (or `maxSeconds`
 * passed: the consumer is closed and the loop ends); resolves with the count. Leaving the
 * loop with break closes the consumer (the iterator's return()).
 */
export async function consumeAllForAwait (client: Client, topic: string, expected: number, maxSeconds: number): Promise<number> {
  const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 100 })
  await consumer.assign({ topic })
  let count = 0
  const timer = setTimeout(() => { void consumer.close() }, maxSeconds * 1000)
  try {
    for await (const _message of consumer) {
      if (++count >= expected) break
    }
  } finally {
    clearTimeout(timer)
    await consumer.close()
  }
  return count
}
