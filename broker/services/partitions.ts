/**
 * Partitions: append, read, offsets — the only code that writes to a partition log, for
 * every protocol (native and Kafka produce, MQTT publishes, the group coordinator's offset
 * commits, the MQTT gateway's internal topics). Every call takes the Caller and passes the
 * one AccessPolicy; appends count traffic and wake the fetches waiting for that partition,
 * whichever protocol produced and whichever waits.
 *
 * Hot path: append hands the payload (whole batches, validated and re-offset in place by
 * storage) to the log without copying or decoding records; read returns whole batches as
 * they lie on disk. The traffic counters are plain numbers (observability/metrics.ts).
 */

import { InvalidTimestampError } from '../../protocol/errors.js'
import { OFFSET_RECORDS_COUNT } from '../../protocol/record-batch/header.js'
import { forEachBatch } from '../../protocol/record-batch/records.js'
import type { BrokerMetrics } from '../observability/metrics.js'
import type { Caller } from '../security/principal.js'
import type { LogManager } from '../storage/log-manager.js'
import type { AppendResult, ReadResult } from '../storage/partition-log.js'
import type { AccessPolicy } from './access.js'

export type { AppendResult, ReadResult }

type Waiter = () => void

/** A partition's offsets, read live (no copy). */
export interface PartitionOffsets {
  readonly logStartOffset: number
  /** The next offset to be written. */
  readonly logEndOffset: number
  /** Consumers read below it (single node: the log end offset once written). */
  readonly highWatermark: number
}

export class PartitionService {
  readonly #logs: LogManager
  readonly #metrics: BrokerMetrics
  readonly #access: AccessPolicy
  readonly #waiters = new Map<string, Set<Waiter>>()

  constructor (options: { logs: LogManager, metrics: BrokerMetrics, access: AccessPolicy }) {
    this.#logs = options.logs
    this.#metrics = options.metrics
    this.#access = options.access
  }

  /**
   * Appends a payload of one or more whole batches to a partition; throws the storage's
   * named errors with the log unchanged. Synchronous: when it returns, the bytes are in the
   * log file (acks=1).
   */
  append (caller: Caller, topic: string, partition: number, payload: Uint8Array): AppendResult {
    this.#access.check(caller, 'write', 'topic', topic)
    const result = this.#logs.partition(topic, partition).append(payload)
    if (!result.duplicate) {
      const traffic = this.#metrics.topic(topic)
      traffic.bytesIn += payload.length
      traffic.recordsIn += result.recordCount
      this.#wake(topic, partition)
    }
    return result
  }

  /** Resolves when every batch appended to the partition so far is fsynced (acks=all; group commit). */
  sync (topic: string, partition: number): Promise<void> {
    return this.#logs.partition(topic, partition).sync()
  }

  /** Reads whole batches from `offset` (below the high watermark), counting what goes out. */
  async read (caller: Caller, topic: string, partition: number, offset: number, maxBytes: number, minOneBatch: boolean): Promise<ReadResult> {
    this.#access.check(caller, 'read', 'topic', topic)
    const result = await this.#logs.partition(topic, partition).read(offset, maxBytes, { minOneBatch })
    if (result.bytes.length > 0) {
      const traffic = this.#metrics.topic(topic)
      traffic.bytesOut += result.bytes.length
      traffic.recordsOut += countRecords(result.bytes)
    }
    return result
  }

  /**
   * Moves the partition's log start offset up to `offset` (Kafka's DeleteRecords; -1: the
   * high watermark), deleting whole segments below it; the new log start offset.
   */
  deleteRecordsBefore (caller: Caller, topic: string, partition: number, offset: number): number {
    this.#access.check(caller, 'delete', 'topic', topic)
    const log = this.#logs.partition(topic, partition)
    log.deleteRecordsBefore(offset === -1 ? log.highWatermark : offset)
    return log.logStartOffset
  }

  /** A partition's offsets; UNKNOWN_TOPIC_OR_PARTITION when there is no such partition. */
  offsets (topic: string, partition: number): PartitionOffsets {
    return this.#logs.partition(topic, partition)
  }

  /** Whether the partition exists. */
  has (topic: string, partition: number): boolean {
    const info = this.#logs.topic(topic)
    return info !== undefined && Number.isInteger(partition) && partition >= 0 && partition < info.partitions
  }

  /**
   * The offset for a ListOffsets timestamp: -1 latest (high watermark), -2 earliest (log
   * start), T ≥ 0 the first offset whose record timestamp is ≥ T (null when none).
   */
  async offsetFor (caller: Caller, topic: string, partition: number, timestamp: number): Promise<{ offset: number, timestamp: number } | null> {
    this.#access.check(caller, 'describe', 'topic', topic)
    const log = this.#logs.partition(topic, partition)
    if (timestamp === -1) return { offset: log.highWatermark, timestamp: -1 }
    if (timestamp === -2) return { offset: log.logStartOffset, timestamp: -1 }
    if (timestamp < 0) throw new InvalidTimestampError(`timestamp ${timestamp} is not -1 (latest), -2 (earliest) or a time`)
    return log.offsetForTimestamp(timestamp)
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
