/**
 * The broker's single door to partition data, shared by every protocol (native handlers
 * now; MQTT and Kafka listeners later): append with metrics and wake-ups for waiting
 * fetches, read with metrics. Handlers never call PartitionLog.append directly, so a
 * long-polling fetch is woken whichever listener produced the data.
 */

import { OFFSET_RECORDS_COUNT } from '../../protocol/record-batch/header.js'
import { forEachBatch } from '../../protocol/record-batch/records.js'
import type { BrokerMetrics } from '../observability/metrics.js'
import type { LogManager } from '../storage/log-manager.js'
import type { AppendResult, ReadResult } from '../storage/partition-log.js'

type Waiter = () => void

export class PartitionService {
  readonly logs: LogManager
  readonly #metrics: BrokerMetrics
  readonly #waiters = new Map<string, Set<Waiter>>()

  constructor (logs: LogManager, metrics: BrokerMetrics) {
    this.logs = logs
    this.#metrics = metrics
  }

  /**
   * Appends a validated-on-arrival payload (one or more batches) to a partition; throws the
   * storage's named errors with the log unchanged. Synchronous: when it returns, the bytes
   * are in the log file (acks=1).
   */
  append (topic: string, partition: number, payload: Uint8Array): AppendResult {
    const log = this.logs.partition(topic, partition)
    const result = log.append(payload)
    if (!result.duplicate) {
      this.#metrics.topicBytesIn.labels(topic).inc(payload.length)
      this.#metrics.topicRecordsIn.labels(topic).inc(result.recordCount)
      this.#wake(topic, partition)
    }
    return result
  }

  /** Resolves when every batch appended to the partition so far is fsynced (acks=all; group commit). */
  sync (topic: string, partition: number): Promise<void> {
    return this.logs.partition(topic, partition).sync()
  }

  /** Reads whole batches from `offset`, counting what goes out. */
  async read (topic: string, partition: number, offset: number, maxBytes: number, minOneBatch: boolean): Promise<ReadResult> {
    const result = await this.logs.partition(topic, partition).read(offset, maxBytes, { minOneBatch })
    if (result.bytes.length > 0) {
      this.#metrics.topicBytesOut.labels(topic).inc(result.bytes.length)
      this.#metrics.topicRecordsOut.labels(topic).inc(countRecords(result.bytes))
    }
    return result
  }

  /**
   * Calls `fn` once on the next append to any of the partitions (or never); returns a
   * function that cancels the subscription.
   */
  onNextAppend (partitions: ReadonlyArray<readonly [string, number]>, fn: () => void): () => void {
    let fired = false
    const once: Waiter = () => {
      if (fired) return
      fired = true
      cancel()
      fn()
    }
    const keys = partitions.map(([t, p]) => `${t}\u0000${p}`)
    for (const key of keys) {
      let set = this.#waiters.get(key)
      if (set === undefined) this.#waiters.set(key, (set = new Set()))
      set.add(once)
    }
    const cancel = (): void => {
      for (const key of keys) {
        const set = this.#waiters.get(key)
        if (set === undefined) continue
        set.delete(once)
        if (set.size === 0) this.#waiters.delete(key)
      }
    }
    return cancel
  }

  #wake (topic: string, partition: number): void {
    const set = this.#waiters.get(`${topic}\u0000${partition}`)
    if (set === undefined) return
    for (const w of [...set]) w()
  }
}

/** Records in whole batches, from their headers (no decoding). */
export function countRecords (bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let count = 0
  forEachBatch(bytes, pos => { count += view.getInt32(pos + OFFSET_RECORDS_COUNT) })
  return count
}
