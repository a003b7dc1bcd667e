/**
 * The producer's record accumulator: one queue per topic-partition holding the batch being
 * filled ("open") and the closed batches waiting to be sent ("ready", oldest first). Pure
 * bookkeeping, no I/O and no timers (the Producer owns those), so its limits are unit-tested.
 *
 * Rules:
 * - A batch closes when its next record would take it past `batchBytes` (a record larger
 *   than that gets a batch of its own), when it reaches `batchBytes`, or when the producer
 *   closes every open batch (linger expired, flush, close).
 * - Closing encodes the batch header once (RecordBatchBuilder.build: the records are
 *   already in place behind a reserved header) or starts its compression; a compressing
 *   batch holds its queue until it is done, so batches leave a partition in order.
 * - `take` builds one Produce request: for one leader, every queue's ready batches in order,
 *   up to `maxRequestBytes` (but always at least one batch). Queues are visited round-robin
 *   so a busy partition cannot starve the others.
 * - A retried batch goes back to the front of its queue, ahead of batches not sent yet
 *   (in creation order when several come back). Without idempotence, batches of the same
 *   partition already in flight can still be written before it: see the ordering note in
 *   producer.ts. With idempotence the producer passes `admit` and `onePerPartition` to
 *   `take` (idempotence.ts decides when a partition may send and stamps sequences).
 */

import type { BuildOptions, RecordInput } from '../protocol/record-batch/records.js'
import type { CompressionCode } from '../protocol/record-batch/header.js'
import { BATCH_HEADER_SIZE } from '../protocol/record-batch/header.js'
import { ProducerBatch, type ProducerIdentity, type SendRequest } from './producer-batch.js'

export interface AccumulatorOptions {
  batchBytes: number
  compression: CompressionCode
  /** A batch of this partition was closed (the sticky partitioner moves on). */
  onBatchClosed (topic: string, partition: number): void
  /**
   * Header fields for a batch being closed: where issue 4's idempotent producer sets
   * producerId, producerEpoch and the partition's next baseSequence.
   */
  buildOptions (queue: PartitionQueue, batch: ProducerBatch): BuildOptions
  /** A compressed batch is ready (or failed: it was failed and removed from its queue). */
  onCompressed (): void
  /** The timestamp of records appended without one. Default Date.now. */
  now?: () => number
}

export class PartitionQueue {
  readonly topic: string
  readonly partition: number
  open: ProducerBatch | null = null
  /** Closed batches not yet sent or back for a retry, in creation (`order`) order. */
  readonly ready: ProducerBatch[] = []
  /** Do not send before this time (backoff after a retriable error). */
  retryAtMs = 0
  /** Size of the last closed batch: sizes the next builder's first buffer. */
  lastBatchBytes = 0
  /** The `order` of the next batch created for this partition. */
  nextOrder = 0
  // Idempotent producer state (idempotence.ts); untouched while idempotence is off.
  /** Producer id and epoch this partition's batches are stamped with; null until chosen, or while a fresh one is awaited. */
  identity: ProducerIdentity | null = null
  /** baseSequence of the next batch stamped. */
  nextSequence = 0
  /** Batches sent and not yet answered, in `order`. */
  readonly inFlight: ProducerBatch[] = []
  /** The partition restarts its sequence under a fresh producer id once nothing is in flight. */
  restamp = false

  constructor (topic: string, partition: number) {
    this.topic = topic
    this.partition = partition
  }
}

export interface RequestEntry {
  queue: PartitionQueue
  batches: ProducerBatch[]
}

export interface TakenRequest {
  nodeId: number
  entries: RequestEntry[]
  bytes: number
}

/** append() result bits. */
export const OPENED_BATCH = 1
export const CLOSED_BATCH = 2

/** Per-record bytes besides key, value and headers (Kafka's MAX_RECORD_OVERHEAD). */
export const RECORD_OVERHEAD_BYTES = 21
const MIN_CAPACITY = 1024
/**
 * Buffers of acknowledged batches kept for the next batches (acks 1/all, uncompressed): a
 * busy producer would otherwise allocate (and zero) a fresh batchBytes buffer per batch.
 * Small, so an idle producer holds at most this many batches' worth of memory.
 */
export const BUFFER_POOL_SIZE = 8

export class RecordAccumulator {
  readonly #options: AccumulatorOptions
  readonly #queues = new Map<string, PartitionQueue[]>()
  /** Queues with an open batch (closed all at once when linger expires). */
  readonly #open = new Set<PartitionQueue>()
  /** Queues with ready batches, in round-robin order. */
  readonly #withReady = new Set<PartitionQueue>()
  /** Uncompressed bytes of every batch not yet completed (open, ready and in flight). */
  bufferedBytes = 0
  readonly #batches = new Set<ProducerBatch>()
  readonly #pool: Uint8Array[] = []

  constructor (options: AccumulatorOptions) {
    this.#options = options
  }

  queue (topic: string, partition: number): PartitionQueue {
    let queues = this.#queues.get(topic)
    if (queues === undefined) {
      queues = []
      this.#queues.set(topic, queues)
    }
    let queue = queues[partition]
    if (queue === undefined) {
      queue = new PartitionQueue(topic, partition)
      queues[partition] = queue
    }
    return queue
  }

  /** Whether appending a record of about `sizeBytes` would close the queue's open batch. */
  wouldClose (queue: PartitionQueue, sizeBytes: number): boolean {
    const open = queue.open
    return open !== null && open.count > 0 && open.builder!.sizeBytes + sizeBytes > this.#options.batchBytes
  }

  /**
   * Appends one record (encoded at once; `record` is not retained) as message `index` of
   * `send`. Returns OPENED_BATCH and/or CLOSED_BATCH bits.
   */
  append (queue: PartitionQueue, record: RecordInput, sizeBytes: number, send: SendRequest, index: number): number {
    let result = 0
    if (this.wouldClose(queue, sizeBytes)) {
      this.close(queue)
      result |= CLOSED_BATCH
    }
    let batch = queue.open
    if (batch === null) {
      const capacity = this.#capacity(queue, sizeBytes)
      let buffer = this.#pool.pop()
      if (buffer !== undefined && buffer.length < capacity) buffer = undefined
      batch = new ProducerBatch(queue.topic, queue.partition, capacity, this.#options.now, buffer)
      batch.order = queue.nextOrder++
      queue.open = batch
      this.#open.add(queue)
      this.#batches.add(batch)
      result |= OPENED_BATCH
    }
    const builder = batch.builder!
    const before = builder.sizeBytes
    builder.append(record)
    batch.track(send, index)
    const added = builder.sizeBytes - before
    batch.bufferedBytes += added
    this.bufferedBytes += added
    if (builder.sizeBytes >= this.#options.batchBytes) {
      this.close(queue)
      result |= CLOSED_BATCH
    }
    return result
  }

  #capacity (queue: PartitionQueue, sizeBytes: number): number {
    const wanted = Math.max(queue.lastBatchBytes + (queue.lastBatchBytes >> 2), sizeBytes + BATCH_HEADER_SIZE, MIN_CAPACITY)
    return Math.min(wanted, this.#options.batchBytes + BATCH_HEADER_SIZE)
  }

  /** Closes the queue's open batch, if any, and makes it ready. */
  close (queue: PartitionQueue): void {
    const batch = queue.open
    if (batch === null) return
    queue.open = null
    this.#open.delete(queue)
    const builder = batch.builder!
    queue.lastBatchBytes = builder.sizeBytes
    queue.ready.push(batch)
    this.#withReady.add(queue)
    const buildOptions = this.#options.buildOptions(queue, batch)
    if (this.#options.compression === 0) {
      batch.bytes = builder.build(buildOptions)
      batch.builder = null
    } else {
      builder.buildCompressed(this.#options.compression, buildOptions).then(bytes => {
        batch.bytes = bytes
        batch.builder = null
        this.#options.onCompressed()
      }, (err: unknown) => {
        const index = queue.ready.indexOf(batch)
        if (index >= 0) queue.ready.splice(index, 1)
        this.release(batch)
        batch.fail(err instanceof Error ? err : new Error(String(err)))
        this.#options.onCompressed()
      })
    }
    this.#options.onBatchClosed(queue.topic, queue.partition)
  }

  /** Closes every open batch (linger expired, flush). */
  closeAll (): void {
    for (const queue of [...this.#open]) this.close(queue)
  }

  get hasOpen (): boolean { return this.#open.size > 0 }
  get hasReady (): boolean { return this.#withReady.size > 0 }

  /**
   * Takes the next request's batches: ready queues of one leader (the first eligible
   * queue's whose leader `canSend`), each queue's ready batches in order, up to
   * `maxRequestBytes` in total. `gate` (the idempotent producer's) is asked before a queue
   * is taken from and limits it to its head batch: one batch per partition per request, so
   * a retry is always exactly one batch the broker can recognise as a duplicate.
   * Returns null when nothing can be sent now.
   */
  take (
    maxRequestBytes: number, nowMs: number,
    leaderOf: (queue: PartitionQueue) => number, canSend: (nodeId: number) => boolean,
    gate?: (queue: PartitionQueue) => boolean,
  ): TakenRequest | null {
    let nodeId = -1
    let bytes = 0
    const entries: RequestEntry[] = []
    for (const queue of this.#withReady) {
      if (queue.retryAtMs > nowMs) continue
      const head = queue.ready[0]
      if (head === undefined) {
        this.#withReady.delete(queue)
        continue
      }
      if (head.bytes === null) continue // still compressing
      if (gate !== undefined && !gate(queue)) continue
      const leader = leaderOf(queue)
      if (entries.length === 0) {
        if (!canSend(leader)) continue
        nodeId = leader
      } else if (leader !== nodeId) {
        continue
      }
      if (bytes > 0 && bytes + head.bytes.length > maxRequestBytes) break
      const batches: ProducerBatch[] = []
      while (queue.ready.length > 0) {
        const next = queue.ready[0]!
        if (next.bytes === null) break
        if (bytes > 0 && bytes + next.bytes.length > maxRequestBytes) break
        bytes += next.bytes.length
        batches.push(next)
        queue.ready.shift()
        if (gate !== undefined) break
      }
      entries.push({ queue, batches })
      // Round-robin: a queue served now goes to the back of the line (after this request,
      // so this loop does not meet it again).
      this.#withReady.delete(queue)
      if (bytes >= maxRequestBytes) break
    }
    for (const { queue } of entries) if (queue.ready.length > 0) this.#withReady.add(queue)
    return entries.length === 0 ? null : { nodeId, entries, bytes }
  }

  /**
   * Puts batches back into their queue for a retry, ahead of every later batch: the ready
   * list stays in creation order (a batch that failed after a later one was requeued still
   * goes first).
   */
  requeue (queue: PartitionQueue, batches: ProducerBatch[]): void {
    const ready = queue.ready
    if (ready.length === 0 || batches[batches.length - 1]!.order < ready[0]!.order) {
      ready.unshift(...batches)
    } else {
      for (const batch of batches) {
        let i = 0
        while (i < ready.length && ready[i]!.order < batch.order) i++
        ready.splice(i, 0, batch)
      }
    }
    this.#withReady.add(queue)
  }

  /**
   * Keeps the buffer of a batch the broker acknowledged on its first attempt for a later
   * batch. Only then: its bytes were written and answered, so no socket still reads them
   * (a retried batch might still sit in a dropped connection's write queue). Call before
   * the batch settles (settling drops `bytes`).
   */
  recycle (batch: ProducerBatch): void {
    const bytes = batch.bytes
    if (bytes === null || this.#options.compression !== 0 || batch.attempts !== 0 || batch.sequenceRetries !== 0 ||
        this.#pool.length >= BUFFER_POOL_SIZE || bytes.byteOffset !== 0) return
    const buffer = new Uint8Array(bytes.buffer)
    if (buffer.length > this.#options.batchBytes + BATCH_HEADER_SIZE) return // grown for one large record
    this.#pool.push(buffer)
  }

  /** The batch completed or failed: its bytes no longer count against the buffer. */
  release (batch: ProducerBatch): void {
    if (!this.#batches.delete(batch)) return
    this.bufferedBytes -= batch.bufferedBytes
  }

  /** Earliest retryAtMs among queues in backoff with ready batches, or Infinity. */
  nextRetryAtMs (nowMs: number): number {
    let next = Infinity
    for (const queue of this.#withReady) {
      if (queue.retryAtMs > nowMs && queue.retryAtMs < next) next = queue.retryAtMs
    }
    return next
  }

  /** Every batch not yet completed (open, ready, compressing or in flight). */
  pending (): ProducerBatch[] {
    return [...this.#batches]
  }

  /** Fails every batch not yet sent (open and ready) with `error`. */
  failUnsent (error: Error): void {
    for (const queue of [...this.#open]) {
      const batch = queue.open!
      queue.open = null
      this.release(batch)
      batch.fail(error)
    }
    this.#open.clear()
    for (const queue of this.#withReady) {
      for (const batch of queue.ready) {
        this.release(batch)
        batch.fail(error)
      }
      queue.ready.length = 0
    }
    this.#withReady.clear()
  }
}
