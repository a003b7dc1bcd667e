/**
 * The idempotent producer's bookkeeping (docs/architecture.md §3, docs/formats.md §4.5).
 * Every batch carries (producerId, producerEpoch, baseSequence) and each partition's
 * sequence runs on without holes, so the broker answers a batch it already wrote with the
 * original offsets instead of writing it twice, and refuses a gap.
 *
 * A partition's batches with idempotence on:
 *   InitProducerId  once per producer, before its first batch is built (send() waits)
 *   build   stamp(): the partition's identity and nextSequence; nextSequence += record
 *           count (INT32_MAX wraps to 0)
 *   take    gate(): at most 5 of the partition's batches in flight and one per request; a
 *           batch back for a retry goes out only when no later batch of the partition is in
 *           flight, so it is never overtaken. A retry resends the same bytes (same sequence).
 *           Until the broker has acknowledged one batch of the partition under its current
 *           identity, that batch is the only one in flight (see "first contact" below).
 *   answer  classify():
 *             ok                          done
 *             retriable error             'retry': back into the queue in creation order
 *                                         (counts against retries)
 *             OUT_OF_ORDER_SEQUENCE_NUMBER while an earlier batch of the partition is still
 *                                         unanswered or queued again: the broker misses that
 *                                         earlier batch, so this one follows it ('requeue',
 *                                         not counted against retries; it goes out again only
 *                                         once every earlier batch in flight is answered; at
 *                                         most MAX_SEQUENCE_RETRIES times)
 *             anything else               'fail': the batch fails, and restart() is called
 *
 * restart(): a batch that failed for good (a non-retriable error such as INVALID_RECORD,
 * retries used up, a sequence error with nothing earlier pending, INVALID_PRODUCER_EPOCH,
 * UNKNOWN_PRODUCER_ID) leaves a hole in the partition's sequence that the broker would refuse
 * forever. The partition therefore restarts, as Kafka's producer bumps its epoch (KIP-360):
 * once nothing of it is in flight, its remaining batches are re-stamped in order (header
 * rewritten, CRC recomputed) under a fresh producer id from InitProducerId, from sequence 0.
 * A fresh id rather than epoch + 1 because this broker hands out ids with epoch 0 and fences
 * nothing by epoch. Other partitions keep their id. Caveat, as in Kafka: a batch that failed
 * because its retries ran out may have been written all the same (its answers were lost).
 *
 * First contact: a broker that holds no state for a producer id on a partition (a new id,
 * or one whose batches retention removed) accepts ANY sequence from it, as Kafka's broker
 * does (KIP-360). If the partition's first batch under an identity failed (a full disk) while
 * the second was in flight, the second would be written first and the broker would expect
 * the sequence after it: the retried first batch then fails with OUT_OF_ORDER_SEQUENCE_NUMBER
 * although it was never written, and the partition's order is broken. So the first batch
 * goes alone; once it is acknowledged the broker holds the producer's state and checks every
 * later sequence, and batches are pipelined again (`acknowledged()`).
 *
 * Not safe for concurrent use; the Producer calls it from the event loop only.
 */

import { ERROR_TABLE, SpoolError } from '../protocol/errors.js'
import { writeInt64 } from '../protocol/bytes/int64.js'
import { OFFSET_BASE_SEQUENCE, OFFSET_PRODUCER_EPOCH, OFFSET_PRODUCER_ID, updateCrc } from '../protocol/record-batch/header.js'
import type { BuildOptions } from '../protocol/record-batch/records.js'
import type { PartitionQueue } from './accumulator.js'
import type { ProducerBatch, ProducerIdentity } from './producer-batch.js'

export type { ProducerIdentity }

/** The broker remembers a producer's last 5 batches per partition (Kafka's NUM_BATCHES_TO_RETAIN). */
export const MAX_IN_FLIGHT_PER_PARTITION = 5
/** Bounds 'requeue' loops should the broker keep refusing a sequence. */
const MAX_SEQUENCE_RETRIES = 10
const INT32_MAX = 0x7fffffff

const SEQUENCE_ERRORS = new Set<number>([
  ERROR_TABLE.OUT_OF_ORDER_SEQUENCE_NUMBER.code,
  ERROR_TABLE.INVALID_PRODUCER_EPOCH.code,
  ERROR_TABLE.UNKNOWN_PRODUCER_ID.code,
])

/** sequence + delta with Kafka's INT32_MAX → 0 wrap. */
export function incrementSequence (sequence: number, delta: number): number {
  return sequence > INT32_MAX - delta ? delta - (INT32_MAX - sequence) - 1 : sequence + delta
}

export type FailureAction = 'retry' | 'requeue' | 'fail'

export interface IdempotenceOptions {
  /** InitProducerId (retried by the caller as it sees fit). */
  init: () => Promise<ProducerIdentity>
  /** A fresh identity arrived for restarted partitions (drain again), or could not be had. */
  onRenewed: (error: Error | null, queues: PartitionQueue[]) => void
  /** Batches of one partition in flight at once (≤ MAX_IN_FLIGHT_PER_PARTITION). */
  maxInFlightPerPartition: number
}

export class Idempotence {
  readonly #options: IdempotenceOptions
  #identity: ProducerIdentity | null = null
  #loading: Promise<ProducerIdentity> | null = null
  /** Partitions waiting for a fresh identity (restart()). */
  readonly #waiting = new Set<PartitionQueue>()
  #renewing = false
  /** The identity each partition last had a batch acknowledged under (the broker knows it there). */
  readonly #known = new WeakMap<PartitionQueue, ProducerIdentity>()

  constructor (options: IdempotenceOptions) {
    this.#options = { ...options, maxInFlightPerPartition: Math.min(options.maxInFlightPerPartition, MAX_IN_FLIGHT_PER_PARTITION) }
  }

  /** The producer's identity for partitions it starts on; null until InitProducerId answered. */
  get identity (): ProducerIdentity | null { return this.#identity }

  /** Asks the broker for the identity once; concurrent callers share the request. */
  ensure (): Promise<ProducerIdentity> {
    if (this.#identity !== null) return Promise.resolve(this.#identity)
    this.#loading ??= this.#options.init().then(identity => {
      this.#identity ??= identity
      return this.#identity
    }).finally(() => { this.#loading = null })
    return this.#loading
  }

  /**
   * Header fields for a batch being closed (build time): the partition's identity and next
   * sequence. A partition waiting for a fresh identity builds unstamped batches; the restart
   * stamps them in order.
   */
  stamp (queue: PartitionQueue, batch: ProducerBatch): BuildOptions {
    if (queue.identity === null && !queue.restamp) queue.identity = this.#identity
    const identity = queue.identity
    if (identity === null || queue.restamp) return {}
    const baseSequence = queue.nextSequence
    queue.nextSequence = incrementSequence(baseSequence, batch.count)
    batch.stamp = { producerId: identity.producerId, producerEpoch: identity.producerEpoch, baseSequence }
    return batch.stamp
  }

  /**
   * Whether the partition's head batch may be sent now (the accumulator then takes only that
   * one). Runs a pending restart's re-stamping first, once nothing is in flight.
   */
  gate (queue: PartitionQueue): boolean {
    if (queue.restamp && !this.#restamp(queue)) return false
    const head = queue.ready[0]!
    if (head.stamp === null) {
      // Cannot happen after #restamp; never send an unnumbered batch.
      this.restart(queue)
      return false
    }
    const inFlight = queue.inFlight
    if (inFlight.length >= this.#options.maxInFlightPerPartition) return false
    // First contact: nothing pipelined behind a batch the broker may accept out of order.
    if (inFlight.length > 0 && !sameIdentity(this.#known.get(queue), queue.identity)) return false
    // Refused for its sequence while an earlier batch was in flight (that one went to another
    // broker, or is still being written): it waits for that batch's answer. Sent again at
    // once it would only be refused again, and its sequence retries would run out in a few
    // milliseconds while the earlier batch is still on its way (a leader change).
    if (head.sequenceRetries > 0 && inFlight.some(b => b.order < head.order)) return false
    // Never overtaken: a batch back for a retry waits for later ones still in flight.
    return inFlight.length === 0 || inFlight[inFlight.length - 1]!.order < head.order
  }

  /** The batch was put on the wire. */
  sent (queue: PartitionQueue, batch: ProducerBatch): void {
    queue.inFlight.push(batch)
  }

  /** The broker wrote the batch (or answered it as a duplicate): it knows the batch's identity on this partition. */
  acknowledged (queue: PartitionQueue, batch: ProducerBatch): void {
    const stamp = batch.stamp
    const identity = queue.identity
    if (stamp !== null && identity !== null && stamp.producerId === identity.producerId && stamp.producerEpoch === identity.producerEpoch) {
      this.#known.set(queue, identity)
    }
  }

  /** The batch's request was answered (or failed): it is no longer in flight. */
  answered (queue: PartitionQueue, batch: ProducerBatch): void {
    const i = queue.inFlight.indexOf(batch)
    if (i >= 0) queue.inFlight.splice(i, 1)
  }

  /** What to do with a batch whose produce failed (see the header). Call after answered(). */
  classify (queue: PartitionQueue, batch: ProducerBatch, error: Error, retries: number): FailureAction {
    const code = error instanceof SpoolError ? error.errorCode : null
    if (code !== null && SEQUENCE_ERRORS.has(code)) {
      const stale = batch.stamp === null || queue.restamp || batch.stamp.producerId !== queue.identity?.producerId
      const earlier = (queue.inFlight.length > 0 && queue.inFlight[0]!.order < batch.order) ||
        (queue.ready.length > 0 && queue.ready[0]!.order < batch.order)
      if ((stale || earlier) && batch.sequenceRetries < MAX_SEQUENCE_RETRIES) {
        batch.sequenceRetries++
        return 'requeue'
      }
      return 'fail'
    }
    if (error instanceof SpoolError && error.retriable && batch.attempts < retries) return 'retry'
    return 'fail'
  }

  /** The partition's sequence has a hole: continue it under a fresh identity (see the header). */
  restart (queue: PartitionQueue): void {
    queue.restamp = true
    queue.identity = null
    this.#waiting.add(queue)
    this.#renew()
  }

  /** Re-stamps every queued batch of a restarting partition, in order, from sequence 0. */
  #restamp (queue: PartitionQueue): boolean {
    if (queue.identity === null) {
      this.#renew()
      return false
    }
    if (queue.inFlight.length > 0) return false
    for (const batch of queue.ready) if (batch.bytes === null) return false // still compressing
    let sequence = 0
    for (const batch of queue.ready) {
      writeStamp(batch, queue.identity, sequence)
      sequence = incrementSequence(sequence, batch.count)
    }
    queue.nextSequence = sequence
    queue.restamp = false
    return true
  }

  #renew (): void {
    if (this.#renewing || this.#waiting.size === 0) return
    this.#renewing = true
    this.#options.init().then(identity => {
      this.#identity = identity
      const queues = [...this.#waiting]
      this.#waiting.clear()
      for (const queue of queues) queue.identity = identity
      this.#renewing = false
      this.#options.onRenewed(null, queues)
    }, (err: unknown) => {
      this.#renewing = false
      this.#options.onRenewed(err instanceof Error ? err : new Error(String(err)), [...this.#waiting])
    })
  }
}

function sameIdentity (a: ProducerIdentity | null | undefined, b: ProducerIdentity | null): boolean {
  return a !== undefined && a !== null && b !== null && a.producerId === b.producerId && a.producerEpoch === b.producerEpoch
}

/** Rewrites the batch's producer fields in place and recomputes its CRC (they lie inside it). */
function writeStamp (batch: ProducerBatch, identity: ProducerIdentity, baseSequence: number): void {
  const bytes = batch.bytes!
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  writeInt64(view, OFFSET_PRODUCER_ID, identity.producerId)
  view.setInt16(OFFSET_PRODUCER_EPOCH, identity.producerEpoch)
  view.setInt32(OFFSET_BASE_SEQUENCE, baseSequence)
  updateCrc(bytes, 0, bytes.length)
  batch.stamp = { producerId: identity.producerId, producerEpoch: identity.producerEpoch, baseSequence }
}
