/**
 * NATS JetStream as a peer: Debian's `nats-server -js` on a free port with file storage in
 * a temp dir, and the npm `nats` client.
 *
 * Publishing: the lean pipelined form of JetStream publish (what Go's PublishAsync does):
 * each message is a core publish to the stream's subject with a reply subject under one
 * inbox prefix, and one wildcard subscription counts the acknowledgements (a PubAck JSON,
 * or an error). Up to `window` messages are unacknowledged at once. nats.js's own
 * `js.publish()` awaits a request per message with a timer each, which in this Node
 * process ran at ~20k msg/s, about a ninth of this form, and would measure the client.
 * Note for acks: nats-server 2.9 acknowledges once the message is written to its file
 * store, without an fsync (sync_always arrived in 2.10), like Spool's acks=1.
 */

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  connect, createInbox, DeliverPolicy, StorageType, type JsMsg, type NatsConnection, type Subscription,
} from 'nats'
import { commandOutput, findExecutable, freePort, spawnServer, waitForLine, type ServerProcess } from '../lib/procs.js'

export const NATS = 'NATS JetStream'

export interface NatsServer extends ServerProcess {
  readonly port: number
}

export function natsServerPath (): string | null {
  return findExecutable('nats-server')
}

export function natsVersion (): string | null {
  const bin = natsServerPath()
  return bin === null ? null : (commandOutput(bin, ['--version'])?.replace(/^nats-server:\s*/, '') ?? null)
}

export async function startNats (dir: string): Promise<NatsServer> {
  const bin = natsServerPath()
  if (bin === null) throw new Error('nats-server is not installed (run bench/setup)')
  const port = await freePort()
  const conf = join(dir, 'nats.conf')
  writeFileSync(conf, [
    `listen: 127.0.0.1:${port}`,
    'max_payload: 1MB',
    `jetstream { store_dir: "${join(dir, 'js')}", max_file_store: 64GB, max_memory_store: 256MB }`,
    '',
  ].join('\n'))
  const server = spawnServer('nats-server', bin, ['-c', conf])
  await waitForLine(server, l => l.includes('Server is ready'))
  return { ...server, port }
}

export async function natsConnect (server: NatsServer, name: string): Promise<NatsConnection> {
  return connect({ servers: `127.0.0.1:${server.port}`, name, noEcho: true, maxReconnectAttempts: 0 })
}

/** One file-storage stream per "partition": stream `${prefix}${i}` on subject `${prefix}.${i}`. */
export async function createStreams (nc: NatsConnection, prefix: string, count: number): Promise<string[]> {
  const jsm = await nc.jetstreamManager()
  const subjects: string[] = []
  for (let i = 0; i < count; i++) {
    await jsm.streams.add({ name: `${prefix}${i}`, subjects: [`${prefix}.${i}`], storage: StorageType.File })
    subjects.push(`${prefix}.${i}`)
  }
  return subjects
}

/** A pipelined JetStream publisher on one connection (see the file comment). */
export class NatsPublisher {
  readonly #nc: NatsConnection
  readonly #prefix: string
  readonly #sub: Subscription
  #next = 0
  acked = 0
  errors = 0
  #wake: (() => void) | null = null
  /** Called with the time an acknowledgement arrived and the message number. */
  onAck: ((seq: number) => void) | null = null

  constructor (nc: NatsConnection) {
    this.#nc = nc
    this.#prefix = createInbox()
    const prefixLength = this.#prefix.length + 1
    this.#sub = nc.subscribe(`${this.#prefix}.>`, {
      callback: (_err, m) => {
        this.acked++
        // A PubAck is {"stream":..,"seq":..}; an error reply is {"error":{..}}.
        if (m.data.length > 2 && m.data[2] === 0x65 /* e */) this.errors++
        if (this.onAck !== null) this.onAck(Number(m.subject.slice(prefixLength)))
        const w = this.#wake
        if (w !== null) {
          this.#wake = null
          w()
        }
      },
    })
  }

  get sent (): number { return this.#next }

  publish (subject: string, payload: Uint8Array): number {
    const seq = this.#next++
    this.#nc.publish(subject, payload, { reply: `${this.#prefix}.${seq}` })
    return seq
  }

  /** Resolves at the next acknowledgement. */
  nextAck (): Promise<void> {
    return new Promise(resolve => { this.#wake = resolve })
  }

  /**
   * Publishes up to `count` messages (round robin over `subjects`) keeping at most `window`
   * unacknowledged, until `count` or `maxSeconds`; resolves when all sent are acknowledged.
   */
  async pipeline (subjects: string[], payload: Uint8Array, count: number, maxSeconds: number, window: number): Promise<number> {
    const deadline = performance.now() + maxSeconds * 1000
    const start = this.#next
    const startAcked = this.acked
    let i = 0
    while (this.#next - start < count && performance.now() < deadline) {
      while (this.#next - start < count && this.#next - start - (this.acked - startAcked) < window) {
        this.publish(subjects[i++ % subjects.length]!, payload)
      }
      await this.nextAck()
    }
    const sent = this.#next - start
    while (this.acked - startAcked < sent) await this.nextAck()
    return sent
  }

  close (): void {
    this.#sub.unsubscribe()
  }
}

/**
 * Reads `expected` messages from the start of each stream with ordered pull consumers
 * (callback form); resolves with the count (less when `maxSeconds` passed first).
 */
export async function natsConsumeAll (nc: NatsConnection, streams: string[], expected: number, maxSeconds: number): Promise<number> {
  const js = nc.jetstream()
  let count = 0
  let done: () => void = () => {}
  const finished = new Promise<void>(resolve => { done = resolve })
  const timer = setTimeout(() => done(), maxSeconds * 1000)
  const running = []
  for (const stream of streams) {
    const consumer = await js.consumers.get(stream)
    running.push(await consumer.consume({
      max_messages: 10_000,
      callback: (_m: JsMsg) => {
        if (++count >= expected) done()
      },
    }))
  }
  await finished
  clearTimeout(timer)
  for (const r of running) await r.close()
  return count
}

/** An ordered consumer of new messages on one stream, calling `fn` per message. */
export async function natsTail (nc: NatsConnection, stream: string, fn: (m: JsMsg) => void): Promise<{ close (): Promise<void> }> {
  const consumer = await nc.jetstream().consumers.get(stream, { deliver_policy: DeliverPolicy.New })
  const messages = await consumer.consume({ max_messages: 1000, callback: fn })
  return { close: async () => { await messages.close() } }
}
