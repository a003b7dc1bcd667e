/**
 * The listener fuzzer's produce mode writes the RecordBatch fuzzer's batches through the
 * native Produce api into two topics with tiny segments: one with retention by bytes, one
 * compacted (the cleaner rewrites what it accepted, every second). At the end what the
 * broker accepted must be readable by the SDK from the log start to the end, before and
 * after the broker is restarted on the same data directory (recovery scans those segments).
 */

import { Client, type NewTopic } from '../../client/index.js'

export const PRODUCE_TOPICS: NewTopic[] = [
  { topic: 'fuzz-produce', partitions: 2, config: { segmentBytes: 8192, retentionBytes: 131_072 } },
  { topic: 'fuzz-produce-compact', partitions: 2, config: { cleanupPolicy: 'compact', segmentBytes: 4096, minCleanableDirtyRatio: 0.01, deleteRetentionMs: 0 } },
]

export async function createProduceTopics (nativePort: number): Promise<string[]> {
  const client = new Client({ brokers: [`127.0.0.1:${nativePort}`], clientId: 'fuzz-setup' })
  try {
    await client.admin().createTopics(PRODUCE_TOPICS)
  } finally {
    await client.close()
  }
  return PRODUCE_TOPICS.map(t => t.topic)
}

export interface ReadBack { records: number, error: string | null }

/** Reads every partition of the produce topics from the start to its end offset (bounded). */
export async function readBack (nativePort: number, timeoutMs = 30_000): Promise<ReadBack> {
  const client = new Client({ brokers: [`127.0.0.1:${nativePort}`], clientId: 'fuzz-read-back' })
  let records = 0
  try {
    for (const { topic } of PRODUCE_TOPICS) {
      const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 100 })
      await consumer.assign({ topic })
      // Partitions retention emptied (log start = log end) have nothing to read.
      const spans = await client.admin().fetchTopicOffsets(topic)
      const remaining = new Map(spans.filter(e => e.high > e.low).map(e => [e.partition, e.high]))
      const last = new Map<number, number>()
      if (remaining.size > 0) {
        const reading = (async () => {
          for await (const m of consumer) {
            records++
            last.set(m.partition, m.offset)
            const end = remaining.get(m.partition)
            if (end !== undefined && m.offset + 1 >= end) remaining.delete(m.partition)
            if (remaining.size === 0) break
          }
        })()
        let timer: ReturnType<typeof setTimeout> | undefined
        const timedOut = await Promise.race([
          reading.then(() => false),
          new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(true), timeoutMs) }),
        ]).finally(() => clearTimeout(timer))
        if (timedOut) {
          await consumer.close().catch(() => {})
          const where = [...remaining].map(([p, end]) => `partition ${p}: last record read ${last.get(p) ?? 'none'}, end offset ${end}`).join('; ')
          throw new Error(`reading ${topic} back did not reach the end offsets within ${timeoutMs} ms (${where})`)
        }
      }
      await consumer.close()
    }
    return { records, error: null }
  } catch (err) {
    return { records, error: (err as Error)?.stack ?? String(err) }
  } finally {
    await client.close()
  }
}
