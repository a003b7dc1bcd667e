/**
 * The producer's unit of work and its bookkeeping, without per-record objects:
 *
 * - SendRequest: one per `producer.send()` call. Holds the promise callbacks and the
 *   result array (one RecordMetadata per message, filled as batches complete).
 * - ProducerBatch: the records of one partition being accumulated in a RecordBatchBuilder
 *   (bytes only; the message objects are not retained after append). Which send each record
 *   came from is kept as run-length segments in three parallel arrays (send, index of the
 *   first message in that send, count): a send whose messages go to one partition is one
 *   segment however many messages it has.
 *
 * When the broker answers, the batch's baseOffset plus each record's position in the batch
 * is that record's offset, written into its send's results.
 */

import type { SpoolError } from '../protocol/errors.js'
import { RecordBatchBuilder } from '../protocol/record-batch/records.js'

/** The producer id and epoch an idempotent producer stamps on its batches (idempotence.ts). */
export interface ProducerIdentity {
  readonly producerId: number
  readonly producerEpoch: number
}

export interface RecordMetadata {
  topic: string
  partition: number
  /** The offset the broker assigned; -1 with acks=0 (the broker does not answer). */
  offset: number
}

export class SendRequest {
  readonly topic: string
  readonly results: RecordMetadata[]
  #remaining: number
  #settled = false
  readonly #resolve: (results: RecordMetadata[]) => void
  readonly #reject: (error: Error) => void

  constructor (topic: string, count: number, resolve: (results: RecordMetadata[]) => void, reject: (error: Error) => void) {
    this.topic = topic
    this.results = new Array<RecordMetadata>(count)
    this.#remaining = count
    this.#resolve = resolve
    this.#reject = reject
    if (count === 0) this.#finish()
  }

  get settled (): boolean { return this.#settled }

  /** Records `count` messages from `start` landed at consecutive offsets from `baseOffset`. */
  fill (start: number, count: number, partition: number, baseOffset: number): void {
    if (this.#settled) return
    const results = this.results
    const topic = this.topic
    for (let i = 0; i < count; i++) {
      results[start + i] = { topic, partition, offset: baseOffset < 0 ? -1 : baseOffset + i }
    }
    this.#remaining -= count
    if (this.#remaining === 0) this.#finish()
  }

  fail (error: Error): void {
    if (this.#settled) return
    this.#settled = true
    this.#reject(error)
  }

  #finish (): void {
    this.#settled = true
    this.#resolve(this.results)
  }
}

export class ProducerBatch {
  readonly topic: string
  readonly partition: number
  /** Null once built (the builder's buffer now belongs to `bytes`). */
  builder: RecordBatchBuilder | null
  /** The encoded (maybe compressed) batch; null while open or while compressing. */
  bytes: Uint8Array | null = null
  count = 0
  /** Bytes counted against the producer's buffer limit (uncompressed size). */
  bufferedBytes = 0
  attempts = 0
  /** Creation order within its partition (retries keep batches in this order). */
  order = 0
  /** Idempotent stamp (idempotence.ts): the identity and baseSequence in `bytes`; null when not stamped. */
  stamp: { producerId: number, producerEpoch: number, baseSequence: number } | null = null
  /** Retries after OUT_OF_ORDER_SEQUENCE_NUMBER caused by an earlier batch (not counted in `attempts`). */
  sequenceRetries = 0
  readonly #sends: SendRequest[] = []
  readonly #starts: number[] = []
  readonly #counts: number[] = []
  #done: Promise<void> | null = null
  #markDone: (() => void) | null = null
  #settled = false

  /** `buffer`: an acknowledged batch's buffer to build into (the accumulator's pool). */
  constructor (topic: string, partition: number, capacity: number, now?: () => number, buffer?: Uint8Array) {
    this.topic = topic
    this.partition = partition
    this.builder = new RecordBatchBuilder(capacity, now, buffer)
  }

  get settled (): boolean { return this.#settled }

  /** Notes that the record just appended is message `index` of `send`. */
  track (send: SendRequest, index: number): void {
    const last = this.#sends.length - 1
    if (last >= 0 && this.#sends[last] === send && this.#starts[last]! + this.#counts[last]! === index) {
      this.#counts[last]!++
    } else {
      this.#sends.push(send)
      this.#starts.push(index)
      this.#counts.push(1)
    }
    this.count++
  }

  /** The broker wrote the batch at `baseOffset` (-1: acks=0, no offsets). */
  complete (baseOffset: number): void {
    if (this.#settled) return
    let delta = 0
    for (let i = 0; i < this.#sends.length; i++) {
      const count = this.#counts[i]!
      this.#sends[i]!.fill(this.#starts[i]!, count, this.partition, baseOffset < 0 ? -1 : baseOffset + delta)
      delta += count
    }
    this.#settle()
  }

  /** The batch will not be written: every send with a record in it fails with `error`. */
  fail (error: SpoolError | Error): void {
    if (this.#settled) return
    for (const send of this.#sends) send.fail(error)
    this.#settle()
  }

  /** Resolves when the batch completes or fails (for flush). */
  done (): Promise<void> {
    if (this.#settled) return Promise.resolve()
    this.#done ??= new Promise(resolve => { this.#markDone = resolve })
    return this.#done
  }

  #settle (): void {
    this.#settled = true
    this.builder = null
    this.bytes = null
    this.#markDone?.()
  }
}
