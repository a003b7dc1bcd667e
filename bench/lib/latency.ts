/**
 * Produce → consume latency helpers shared by the latency and websocket scenarios: a
 * paced sender (every millisecond it sends what is due), values stamped with their send
 * time (performance.now(), one clock: producer and consumer live in this process), and
 * Spool's measurement through the SDK.
 */

import { createTopic, spoolClient, type SpoolBroker } from './spool.js'
import { percentile } from './stats.js'
import { sleep } from './procs.js'
import type { Row } from './result.js'

export const VALUE_BYTES = 100

export interface Samples { endToEnd: number[], acks: number[], sent: number }

export function stampedValue (): Uint8Array {
  const v = new Uint8Array(VALUE_BYTES)
  new DataView(v.buffer).setFloat64(0, performance.now())
  return v
}

export function sentAt (v: Uint8Array): number {
  return new DataView(v.buffer, v.byteOffset, 8).getFloat64(0)
}

/**
 * Calls `send` for every message due at `rate` per second for `seconds`, checking every
 * millisecond; resolves when all were sent.
 */
export async function paced (rate: number, seconds: number, send: () => void): Promise<number> {
  const total = Math.round(rate * seconds)
  const started = performance.now()
  let sent = 0
  await new Promise<void>(resolve => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor((performance.now() - started) * rate / 1000))
      for (; sent < due; sent++) send()
      if (sent >= total) {
        clearInterval(timer)
        resolve()
      }
    }, 1)
  })
  return sent
}

export async function until (predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!predicate() && performance.now() < deadline) await sleep(5)
}

/** Spool through the SDK; the consumer over WebSocket when `consumerWebSocket`. */
export async function spoolLatency (broker: SpoolBroker, n: number, rate: number, seconds: number, warmupMs: number, consumerWebSocket = false): Promise<Samples> {
  const topic = `latency-${n}`
  await createTopic(broker, topic, 1)
  const producerClient = spoolClient(broker, 'bench-latency-producer')
  const consumerClient = spoolClient(broker, 'bench-latency-consumer', { webSocket: consumerWebSocket })
  const producer = producerClient.producer({ acks: 1, lingerMs: 0 })
  await producer.send({ topic, messages: [{ value: new Uint8Array(VALUE_BYTES) }] })
  const consumer = consumerClient.consumer({ maxWaitMs: 500, minBytes: 1 })
  await consumer.assign({ topic })
  await consumer.seekToEnd()
  const s: Samples = { endToEnd: [], acks: [], sent: 0 }
  let received = 0
  const startAt = performance.now() + warmupMs
  const running = consumer.run({
    eachBatch: ({ batch }) => {
      const now = performance.now()
      for (const m of batch.messages) {
        const at = sentAt(m.value!)
        if (at >= startAt) s.endToEnd.push(now - at)
      }
      received += batch.messages.length
    },
  })
  await sleep(100)
  s.sent = await paced(rate, seconds, () => {
    const value = stampedValue()
    const at = sentAt(value)
    void producer.send({ topic, messages: [{ value }] }).then(() => { if (at >= startAt) s.acks.push(performance.now() - at) }, () => {})
  })
  await until(() => received >= s.sent, 5000)
  await consumer.close()
  await running.catch(() => {})
  await producerClient.close()
  await consumerClient.close()
  return s
}

/** p50/p99/p99.9/max of produce→consume and p99 of send→ack. */
export function latencyRows (name: string, system: string, s: Samples): Row[] {
  const e = s.endToEnd.sort((a, b) => a - b)
  const a = s.acks.sort((x, y) => x - y)
  const ms = (metric: string, value: number): Row => ({ name, system, metric, value, unit: 'ms', better: 'lower' })
  return [
    ms('p50 produce→consume', percentile(e, 0.5)),
    ms('p99 produce→consume', percentile(e, 0.99)),
    ms('p99.9 produce→consume', percentile(e, 0.999)),
    ms('max produce→consume', e.at(-1) ?? NaN),
    ms('p99 send→ack', percentile(a, 0.99)),
  ]
}

