/**
 * The incident's cast, for the quota and `spool top` tests: a topic filled with records, a
 * consumer stuck re-reading it from the beginning over and over (the SDK, in a group), and
 * the broker-side view of a client id's connection (its byte counters and throttling).
 * Each re-reader checks that every pass sees every offset in order (nothing lost).
 */

import type { Broker } from '../../broker/broker.js'
import type { Connection } from '../../broker/network/connection.js'
import { Client, type ThrottleEvent } from '../../client/index.js'
import type { TestLike } from './temp.js'
import { sleep, waitFor } from './wait.js'

/** Fills `partitions` partitions of `topic` with `perPartition` records of `bytes` bytes each. */
export async function fill (port: number, topic: string, partitions: number, perPartition: number, bytes: number): Promise<void> {
  const client = new Client({ brokers: [`127.0.0.1:${port}`], clientId: 'filler' })
  try {
    await client.admin().createTopics([{ topic, partitions }])
    const producer = client.producer({ acks: 1, lingerMs: 0 })
    const value = 'x'.repeat(bytes)
    for (let p = 0; p < partitions; p++) {
      for (let i = 0; i < perPartition; i += 200) {
        await producer.send({ topic, messages: Array.from({ length: Math.min(200, perPartition - i) }, () => ({ value, partition: p })) })
      }
    }
    await producer.close()
  } finally {
    await client.close()
  }
}

export interface Rereader {
  readonly client: Client
  /** Whole passes over the topic so far (every partition it owns back to offset 0). */
  passes (): number
  /** Responses that carried a throttle time, and the last such time. */
  readonly throttles: ThrottleEvent[]
  /** Offsets seen out of order (must stay empty: nothing skipped, nothing lost). */
  readonly gaps: string[]
  stop (): Promise<void>
}

/**
 * A consumer (client id `clientId`, group `group`) that reads `topic` from the beginning
 * and seeks back to 0 whenever a partition reaches `perPartition` records.
 */
export async function startRereader (t: TestLike, port: number, topic: string, perPartition: number, clientId: string, group: string): Promise<Rereader> {
  const throttles: ThrottleEvent[] = []
  const client = new Client({ brokers: [`127.0.0.1:${port}`], clientId, onThrottle: e => throttles.push(e) })
  const consumer = client.consumer({ groupId: group, fromBeginning: true, maxBytesPerPartition: 256 * 1024 })
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const expected = new Map<number, number>()
  const gaps: string[] = []
  let passes = 0
  const running = consumer.run({
    eachMessage: async ({ message }) => {
      const want = expected.get(message.partition) ?? message.offset
      if (message.offset !== want && gaps.length < 10) gaps.push(`partition ${message.partition}: offset ${message.offset} after ${want - 1}`)
      expected.set(message.partition, message.offset + 1)
      if (message.offset === perPartition - 1) {
        passes++
        expected.set(message.partition, 0)
        consumer.seek({ topic, partition: message.partition, offset: 0 })
      }
    },
  })
  running.catch(() => { /* closed at the end */ })
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    await client.close()
  }
  t.teardown(stop)
  return { client, passes: () => passes, throttles, gaps, stop }
}

/** The broker's connection of a client id (waits, bounded, for it to appear). */
export async function connectionOf (broker: Broker, clientId: string, filter: (c: Connection) => boolean = () => true): Promise<Connection> {
  let found: Connection | undefined
  await waitFor(() => (found = broker.connections.list().find(c => c.clientId === clientId && filter(c))) !== undefined, 10_000, `a connection of ${clientId}`)
  return found!
}

/** Bytes per second a connection moved over `ms` (its wire counters), sent or received. */
export async function measuredRate (connection: Connection, direction: 'out' | 'in', ms: number): Promise<number> {
  const read = (): number => direction === 'out' ? connection.bytesOut : connection.bytesIn
  const before = read()
  const started = Date.now()
  await sleep(ms)
  return (read() - before) / ((Date.now() - started) / 1000)
}
