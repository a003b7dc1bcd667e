/**
 * Load and checking for cluster failure tests: an idempotent acks=all producer that keeps a
 * window of sends in flight to every partition and records each acknowledged record, and a
 * checker that reads every partition back from the leaders and compares: every acknowledged
 * record at its offset with its value, no value twice, offsets increasing, and each
 * partition's values in the order they were sent. The values are `<partition>:<seq>`, seq
 * increasing per partition, so order and duplicates can be read off the log.
 */

import type { Client } from '../../client/index.js'
import type { Producer } from '../../client/producer.js'
import { RawClient } from './raw-client.js'

/** An acknowledged record: atMs when the acknowledgement came, sentMs when its send was made. */
export interface Acked { partition: number, offset: number, seq: number, atMs: number, sentMs: number }

export interface LoadOptions {
  topic: string
  partitions: number
  /** Sends in flight at once, over all partitions. */
  window?: number
  acks?: 1 | 'all'
  /** How long the broker may take to satisfy acks (the request waits 5 s longer). Default 10000. */
  timeoutMs?: number
}

export class Load {
  readonly acked: Acked[] = []
  readonly failures: Array<{ partition: number, seq: number, code: string, message: string }> = []
  readonly producer: Producer
  readonly #o: Required<LoadOptions>
  readonly #next: number[]
  #running = false
  #inFlight = 0
  #loop: Promise<void> | null = null
  #wake: (() => void) | null = null

  constructor (client: Client, options: LoadOptions) {
    this.#o = { window: 24, acks: 'all', timeoutMs: 10_000, ...options }
    this.#next = new Array<number>(options.partitions).fill(0)
    this.producer = client.producer({
      acks: this.#o.acks, lingerMs: 2, idempotent: true, timeoutMs: this.#o.timeoutMs,
      retry: { retries: 10_000, initialRetryTimeMs: 50, maxRetryTimeMs: 400 },
    })
  }

  start (): void {
    this.#running = true
    this.#loop = this.#run()
  }

  /** Stops sending and waits (bounded) for what is in flight. */
  async stop (timeoutMs = 60_000): Promise<void> {
    this.#running = false
    this.#wake?.()
    await this.#loop
    const deadline = Date.now() + timeoutMs
    while (this.#inFlight > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    if (this.#inFlight > 0) throw new Error(`${this.#inFlight} sends still unanswered after ${timeoutMs} ms`)
    await this.producer.close()
  }

  /** The first acknowledgement of `partition` for a send made after `sinceMs` (null until there is one). */
  firstAckAfter (partition: number, sinceMs: number): Acked | null {
    return this.acked.find(a => a.partition === partition && a.atMs > sinceMs) ?? null
  }

  async #run (): Promise<void> {
    let p = 0
    while (this.#running) {
      if (this.#inFlight >= this.#o.window) {
        await new Promise<void>(resolve => { this.#wake = resolve })
        continue
      }
      const partition = p
      p = (p + 1) % this.#o.partitions
      const seq = this.#next[partition]!++
      this.#inFlight++
      const sentMs = Date.now()
      this.producer.send({ topic: this.#o.topic, messages: [{ value: `${partition}:${seq}`, partition }] }).then(([meta]) => {
        this.acked.push({ partition, offset: meta!.offset, seq, atMs: Date.now(), sentMs })
      }, (err: Error & { code?: string }) => {
        this.failures.push({ partition, seq, code: err.code ?? 'unknown', message: err.message })
      }).finally(() => {
        this.#inFlight--
        const w = this.#wake
        this.#wake = null
        w?.()
      })
      // Keep the event loop turning (timers, sockets) under a full window.
      if (seq % 8 === 0) await new Promise(resolve => setImmediate(resolve))
    }
  }
}

export interface CheckResult {
  /** Records read back, all partitions. */
  records: number
  acked: number
  lost: Acked[]
  duplicates: number
  /** Offsets not increasing, or a partition's values out of send order. */
  misordered: number
  /** Records at an acknowledged offset with another value. */
  wrong: number
  /** The first anomalies, described (for the test's diagnostics). */
  details: string[]
}

/** Reads every partition of `topic` from its leader (raw Fetch) and checks the acknowledged records. */
export async function checkRecords (client: Client, topic: string, partitions: number, acked: readonly Acked[]): Promise<CheckResult> {
  const { collect } = await import('./conformance.js')
  const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 100 })
  await consumer.assign({ topic })
  const latest = await client.admin().listOffsets(Array.from({ length: partitions }, (_, partition) => ({ topic, partition, timestamp: -1 })))
  const total = latest.reduce((n, o) => n + o.offset, 0)
  const messages = await collect(consumer, total, 60_000)
  await consumer.close()
  const byPartition = new Map<number, Array<{ offset: number, value: string }>>()
  for (const m of messages) {
    const list = byPartition.get(m.partition) ?? []
    list.push({ offset: m.offset, value: Buffer.from(m.value!).toString() })
    byPartition.set(m.partition, list)
  }
  let duplicates = 0
  let misordered = 0
  let wrong = 0
  const details: string[] = []
  const note = (what: string): void => { if (details.length < 20) details.push(what) }
  const at = new Map<string, string>()
  for (const [partition, list] of byPartition) {
    const seen = new Set<string>()
    let lastOffset = -1
    let lastSeq = -1
    for (const r of list) {
      if (seen.has(r.value)) {
        duplicates++
        note(`duplicate ${r.value} at ${partition}:${r.offset}`)
      }
      seen.add(r.value)
      if (r.offset <= lastOffset) {
        misordered++
        note(`offset ${r.offset} after ${lastOffset} in partition ${partition}`)
      }
      lastOffset = r.offset
      const seq = Number(r.value.split(':')[1])
      if (!r.value.startsWith(`${partition}:`) || seq <= lastSeq) {
        misordered++
        note(`${r.value} at ${partition}:${r.offset} after seq ${lastSeq}`)
      }
      lastSeq = Math.max(lastSeq, seq)
      at.set(`${partition}:${r.offset}`, r.value)
    }
  }
  const lost: Acked[] = []
  for (const a of acked) {
    const value = at.get(`${a.partition}:${a.offset}`)
    if (value === undefined) lost.push(a)
    else if (value !== `${a.partition}:${a.seq}`) {
      wrong++
      note(`acknowledged ${a.partition}:${a.seq} at offset ${a.offset}, which holds ${value}`)
    }
  }
  return { records: messages.length, acked: acked.length, lost, duplicates, misordered, wrong, details }
}

/** The partitions' leaders, ISRs and epochs as a broker at `address` describes them (raw Metadata). */
export async function describePartitions (address: string, topic: string): Promise<Array<{ partition: number, leader: number, isr: number[], leaderEpoch: number }>> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))]
  const raw = await RawClient.connect(port, host)
  try {
    const body = await raw.call('Metadata', { topics: [topic], allowAutoCreate: false })
    return (body.topics[0]?.partitions ?? []).map(p => ({ partition: p.partition, leader: p.leader, isr: p.isr, leaderEpoch: p.leaderEpoch }))
  } finally {
    raw.close()
  }
}

/** Polls (bounded) until `predicate` holds for the partitions as any reachable broker describes them. */
export async function waitForPartitions (
  addresses: () => string[], topic: string, predicate: (ps: Array<{ partition: number, leader: number, isr: number[], leaderEpoch: number }>) => boolean,
  what: string, timeoutMs = 30_000,
): Promise<Array<{ partition: number, leader: number, isr: number[], leaderEpoch: number }>> {
  const deadline = Date.now() + timeoutMs
  let last: unknown = null
  for (;;) {
    for (const address of addresses()) {
      try {
        const ps = await describePartitions(address, topic)
        last = ps
        if (ps.length > 0 && predicate(ps)) return ps
        break
      } catch (err) {
        last = err
      }
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/**
 * Polls (bounded) until every broker at `addresses()` answers, all describe the partitions
 * alike (leader, epoch, ISR) and `predicate` holds: no broker is left with a stale view (one
 * just back from a partition still shows the state from before it).
 */
export async function waitForAgreement (
  addresses: () => string[], topic: string, predicate: (ps: Array<{ partition: number, leader: number, isr: number[], leaderEpoch: number }>) => boolean,
  what: string, timeoutMs = 30_000,
): Promise<Array<{ partition: number, leader: number, isr: number[], leaderEpoch: number }>> {
  const deadline = Date.now() + timeoutMs
  let last: unknown = null
  const key = (ps: Array<{ partition: number, leader: number, isr: number[], leaderEpoch: number }>): string =>
    JSON.stringify(ps.map(p => [p.partition, p.leader, p.leaderEpoch, [...p.isr].sort()]))
  for (;;) {
    try {
      const views = await Promise.all(addresses().map(a => describePartitions(a, topic)))
      last = views
      const first = views[0]
      if (first !== undefined && first.length > 0 && views.every(v => key(v) === key(first)) && predicate(first)) return first
    } catch (err) {
      last = err instanceof Error ? err.message : err
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (every broker agreeing); last: ${JSON.stringify(last)}`)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}
