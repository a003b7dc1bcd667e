/**
 * The torture campaign's workload and its checks, through the public SDK only (also used by
 * tests/integration/disk-full.test.ts):
 *
 *   ProducerFleet  long-lived idempotent producers (acks=1 and acks=all, gzip on some), keyed
 *                  records on several partitions; every acknowledged record goes into the
 *                  Ledger with the partition and offset the broker answered
 *   GroupReaders   a consumer group (several members) reading everything with auto-commit,
 *                  noting the highest offset delivered per partition
 *   readLog        reads every partition from the start (no group) once the load stopped
 *   verify         compares the log with the Ledger
 *
 * Records are reproducible from (seed, producer, counter): key `k<counter % keys>` (so a key
 * stays on one partition and one producer writes it in order), value `P<producer>:<counter>:`
 * followed by pseudo-random bytes (not UTF-8), one header `src`. The Ledger keeps only
 * numbers (partition and offset per acknowledged counter), so millions of records fit.
 *
 * What verify counts:
 *   checked      acknowledged records looked for
 *   lost         acknowledged, but not in the log at the acknowledged partition and offset
 *   duplicated   a record (acknowledged or not) found more than once in the log
 *   reordered    two acknowledged records of one producer and key whose log offsets are in
 *                the other order than their sends
 *   corrupted    a record whose key, value bytes or header differ from what was sent, or
 *                one nobody sent
 *   unacked      records in the log whose send failed or was never answered (allowed: the
 *                broker may write a batch whose answer is lost)
 *   commitsAhead partitions whose committed group offset is past what the group was handed
 */

import { Client, type Consumer, type Producer, type ProducerOptions } from '../../client/index.js'

export interface ProducerSpec {
  acks: 1 | 'all'
  compression: 'none' | 'gzip'
}

/** The four producer kinds the campaign runs. */
export const PRODUCER_SPECS: readonly ProducerSpec[] = [
  { acks: 1, compression: 'none' },
  { acks: 'all', compression: 'none' },
  { acks: 1, compression: 'gzip' },
  { acks: 'all', compression: 'gzip' },
]

/** A small deterministic generator (xorshift32). */
export function rng (seed: number): () => number {
  let x = (seed >>> 0) || 0x9e3779b9
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 0x100000000
  }
}

function mix (a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x85ebca6b, 0xc2b2ae35) ^ Math.imul(b + 0x27d4eb2f, 0x165667b1) ^ Math.imul(c + 0x9e3779b9, 0x85ebca77)
  h ^= h >>> 15
  h = Math.imul(h, 0x2c1b3c6d)
  h ^= h >>> 12
  return h >>> 0
}

export interface RecordId { producer: number, counter: number }

export class RecordShape {
  constructor (readonly seed: number, readonly keys: number) {}

  key (id: RecordId): string {
    return `p${id.producer}-k${id.counter % this.keys}`
  }

  value (id: RecordId): Uint8Array {
    const prefix = Buffer.from(`P${id.producer}:${id.counter}:`)
    const next = rng(mix(this.seed, id.producer, id.counter))
    const tail = 8 + Math.floor(next() * 160)
    const out = Buffer.alloc(prefix.length + tail)
    prefix.copy(out, 0)
    for (let i = prefix.length; i < out.length; i++) out[i] = Math.floor(next() * 256)
    return out
  }

  header (id: RecordId): string {
    return `src-${id.producer}`
  }

  /** The id a value claims to be, or null when it does not parse. */
  parse (value: Uint8Array | null): RecordId | null {
    if (value === null) return null
    const head = Buffer.from(value.subarray(0, Math.min(value.length, 32))).toString('latin1')
    const m = /^P(\d+):(\d+):/.exec(head)
    return m === null ? null : { producer: Number(m[1]), counter: Number(m[2]) }
  }
}

/** Growable numeric columns per producer: partition and offset of each acknowledged counter (-1 = not acknowledged). */
export class Ledger {
  readonly #partitions: Int16Array[] = []
  readonly #offsets: Float64Array[] = []
  readonly #sent: number[] = []
  acked = 0
  readonly failures = new Map<string, number>()

  #grow (producer: number, counter: number): void {
    let parts = this.#partitions[producer]
    if (parts === undefined || counter >= parts.length) {
      const size = Math.max(1024, (parts?.length ?? 0) * 2, counter + 1)
      const nextParts = new Int16Array(size).fill(-1)
      const nextOffsets = new Float64Array(size).fill(-1)
      if (parts !== undefined) {
        nextParts.set(parts)
        nextOffsets.set(this.#offsets[producer]!)
      }
      this.#partitions[producer] = parts = nextParts
      this.#offsets[producer] = nextOffsets
    }
  }

  sent (id: RecordId): void {
    this.#grow(id.producer, id.counter)
    this.#sent[id.producer] = Math.max(this.#sent[id.producer] ?? 0, id.counter + 1)
  }

  ack (id: RecordId, partition: number, offset: number): void {
    this.#grow(id.producer, id.counter)
    this.#partitions[id.producer]![id.counter] = partition
    this.#offsets[id.producer]![id.counter] = offset
    this.acked++
  }

  fail (code: string): void {
    this.failures.set(code, (this.failures.get(code) ?? 0) + 1)
  }

  get producers (): number { return this.#partitions.length }
  sentCount (producer: number): number { return this.#sent[producer] ?? 0 }
  partitionOf (id: RecordId): number { return this.#partitions[id.producer]?.[id.counter] ?? -1 }
  offsetOf (id: RecordId): number { return this.#offsets[id.producer]?.[id.counter] ?? -1 }
}

export interface FleetOptions {
  topic: string
  shape: RecordShape
  ledger: Ledger
  /** send() calls each producer keeps waiting for their answer. */
  outstanding?: number
  retry?: ProducerOptions['retry']
  specs?: readonly ProducerSpec[]
}

/** Idempotent producers sending until stop(); each acknowledged record lands in the ledger. */
export class ProducerFleet {
  readonly #client: Client
  readonly #o: Required<Omit<FleetOptions, 'retry'>> & { retry: ProducerOptions['retry'] }
  readonly #producers: Producer[] = []
  readonly #loops: Array<Promise<void>> = []
  #stopped = false
  /** Called for every failed send (its error). */
  onFailure: (err: Error & { code?: string }) => void = () => {}

  constructor (client: Client, options: FleetOptions) {
    this.#client = client
    this.#o = { outstanding: 64, specs: PRODUCER_SPECS, retry: undefined, ...options }
  }

  start (): void {
    this.#o.specs.forEach((spec, producer) => {
      const p = this.#client.producer({ acks: spec.acks, compression: spec.compression, idempotent: true, lingerMs: 2, ...(this.#o.retry === undefined ? {} : { retry: this.#o.retry }) })
      this.#producers.push(p)
      this.#loops.push(this.#run(p, producer))
    })
  }

  async #run (producer: Producer, id: number): Promise<void> {
    const { topic, shape, ledger } = this.#o
    let counter = 0
    const inFlight = new Set<Promise<void>>()
    while (!this.#stopped) {
      while (inFlight.size < this.#o.outstanding && !this.#stopped) {
        const rid = { producer: id, counter: counter++ }
        ledger.sent(rid)
        const done: Promise<void> = producer.send({
          topic, messages: [{ key: shape.key(rid), value: shape.value(rid), headers: { src: shape.header(rid) } }],
        }).then(meta => {
          ledger.ack(rid, meta[0]!.partition, meta[0]!.offset)
        }, (err: Error & { code?: string }) => {
          ledger.fail(err.code ?? err.name)
          this.onFailure(err)
        }).finally(() => { inFlight.delete(done) })
        inFlight.add(done)
      }
      await Promise.race(inFlight)
    }
    await Promise.allSettled([...inFlight])
  }

  /** Stops sending and waits until every send is answered (or failed). */
  async stop (): Promise<void> {
    this.#stopped = true
    await Promise.all(this.#loops)
    await Promise.allSettled(this.#producers.map(p => p.close()))
  }
}

/** A consumer group whose members read everything, committing as they go. */
export class GroupReaders {
  readonly #members: Array<{ client: Client, consumer: Consumer | null, running: Promise<void> | null }> = []
  readonly #topic: string
  readonly #groupId: string
  #stopped = false
  /** Highest offset handed to the group, per partition. */
  readonly delivered = new Map<number, number>()
  deliveredCount = 0
  restarts = 0

  constructor (brokers: string[], topic: string, groupId: string, members = 2) {
    this.#topic = topic
    this.#groupId = groupId
    for (let i = 0; i < members; i++) this.#members.push({ client: new Client({ brokers, clientId: `torture-reader-${i}` }), consumer: null, running: null })
  }

  get groupId (): string { return this.#groupId }

  start (): void {
    for (const m of this.#members) this.#launch(m)
  }

  #launch (m: { client: Client, consumer: Consumer | null, running: Promise<void> | null }): void {
    if (this.#stopped) return
    const consumer = m.client.consumer({ groupId: this.#groupId, fromBeginning: true, autoCommitIntervalMs: 200, maxWaitMs: 200, sessionTimeoutMs: 6000 })
    m.consumer = consumer
    m.running = (async () => {
      await consumer.subscribe({ topics: [this.#topic] })
      await consumer.run({
        eachMessage: async ({ message }) => {
          this.deliveredCount++
          if (message.offset > (this.delivered.get(message.partition) ?? -1)) this.delivered.set(message.partition, message.offset)
        },
      })
    })().catch(() => {
      // The broker was gone too long for the member's retries: start it again.
      if (this.#stopped) return
      this.restarts++
      void consumer.close().catch(() => {})
      setTimeout(() => this.#launch(m), 300).unref()
    })
  }

  async stop (): Promise<void> {
    this.#stopped = true
    await Promise.allSettled(this.#members.map(async m => {
      await m.consumer?.close().catch(() => {})
      await m.running?.catch(() => {})
      await m.client.close()
    }))
  }
}

export interface LogRecord { partition: number, offset: number, key: string | null, value: Uint8Array | null, header: string | null }

/** Every record of every partition from the start to the end offsets (a consumer without a group). */
export async function readLog (brokers: string[], topic: string, onRecord: (r: LogRecord) => void, timeoutMs = 120_000): Promise<number> {
  const client = new Client({ brokers, clientId: 'torture-verifier' })
  try {
    const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 100 })
    await consumer.assign({ topic })
    const ends = await consumer.endOffsets()
    const remaining = new Map(ends.map(e => [e.partition, e.offset]))
    for (const [p, end] of remaining) if (end === 0) remaining.delete(p)
    let count = 0
    const deadline = Date.now() + timeoutMs
    if (remaining.size > 0) {
      for await (const m of consumer) {
        const src = m.headers.length === 1 && m.headers[0]!.key === 'src' ? m.headers[0]!.value : null
        onRecord({
          partition: m.partition, offset: m.offset, key: m.key === null ? null : Buffer.from(m.key).toString('utf8'), value: m.value,
          header: src === null ? null : Buffer.from(src).toString('utf8'),
        })
        count++
        const end = remaining.get(m.partition)
        if (end !== undefined && m.offset + 1 >= end) remaining.delete(m.partition)
        if (remaining.size === 0) break
        if (Date.now() > deadline) throw new Error(`reading the log took more than ${timeoutMs} ms`)
      }
    }
    await consumer.close()
    return count
  } finally {
    await client.close()
  }
}

export interface Verdict {
  checked: number
  lost: number
  duplicated: number
  reordered: number
  corrupted: number
  unacked: number
  commitsAhead: number
  /** A few examples of each anomaly, for the report. */
  examples: string[]
}

/** Compares the log with the ledger (see the header); `committed` are the group's committed offsets. */
export async function verify (
  brokers: string[], topic: string, shape: RecordShape, ledger: Ledger,
  committed: Array<{ partition: number, offset: number }> = [], delivered: Map<number, number> = new Map(),
): Promise<Verdict> {
  const v: Verdict = { checked: 0, lost: 0, duplicated: 0, reordered: 0, corrupted: 0, unacked: 0, commitsAhead: 0, examples: [] }
  const note = (what: string): void => { if (v.examples.length < 20) v.examples.push(what) }
  const seen: Uint8Array[] = []
  await readLog(brokers, topic, r => {
    const id = shape.parse(r.value)
    if (id === null || id.producer >= ledger.producers || id.counter >= ledger.sentCount(id.producer)) {
      v.corrupted++
      note(`${r.partition}@${r.offset}: a record nobody sent`)
      return
    }
    const value = shape.value(id)
    if (r.key !== shape.key(id) || r.header !== shape.header(id) || r.value === null || Buffer.compare(Buffer.from(r.value), Buffer.from(value)) !== 0) {
      v.corrupted++
      note(`${r.partition}@${r.offset}: P${id.producer}:${id.counter} differs from what was sent`)
      return
    }
    const marks = (seen[id.producer] ??= new Uint8Array(ledger.sentCount(id.producer)))
    if (marks[id.counter]! > 0) {
      v.duplicated++
      note(`P${id.producer}:${id.counter} is in the log twice (again at ${r.partition}@${r.offset})`)
    }
    marks[id.counter] = Math.min(255, marks[id.counter]! + 1)
    const ackedAt = ledger.offsetOf(id)
    if (ackedAt < 0) {
      v.unacked++
    } else if (ledger.partitionOf(id) !== r.partition || ackedAt !== r.offset) {
      // Found elsewhere than acknowledged: counted as lost below (it is not where it was promised).
      note(`P${id.producer}:${id.counter} acknowledged at ${ledger.partitionOf(id)}@${ackedAt}, found at ${r.partition}@${r.offset}`)
      marks[id.counter] = 200
    }
  })
  for (let producer = 0; producer < ledger.producers; producer++) {
    const marks = seen[producer]
    const lastOffsetByKey = new Map<number, number>()
    for (let counter = 0; counter < ledger.sentCount(producer); counter++) {
      const id = { producer, counter }
      const offset = ledger.offsetOf(id)
      if (offset < 0) continue
      v.checked++
      const mark = marks?.[counter] ?? 0
      if (mark === 0 || mark === 200) {
        v.lost++
        if (mark === 0) note(`P${producer}:${counter} acknowledged at ${ledger.partitionOf(id)}@${offset} is not in the log`)
        continue
      }
      const key = counter % shape.keys
      const previous = lastOffsetByKey.get(key)
      if (previous !== undefined && previous >= offset) {
        v.reordered++
        note(`P${producer} key ${key}: counter ${counter} at ${offset} is not after the previous acknowledged one at ${previous}`)
      }
      lastOffsetByKey.set(key, offset)
    }
  }
  for (const c of committed) {
    if (c.offset < 0) continue
    const handed = delivered.get(c.partition) ?? -1
    if (c.offset > handed + 1) {
      v.commitsAhead++
      note(`partition ${c.partition}: committed ${c.offset}, but the group was handed up to ${handed}`)
    }
  }
  return v
}

/** Anomalies (everything that must be zero). */
export function anomalies (v: Verdict): number {
  return v.lost + v.duplicated + v.reordered + v.corrupted + v.commitsAhead
}
