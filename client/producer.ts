/**
 * Producer: `send()` appends each message to its partition's batch in the accumulator and
 * resolves with one { topic, partition, offset } per message once the broker has written
 * it (acks 1 or all) or the request is on the wire (acks 0).
 *
 *   send -> choose partition (explicit | murmur2(key) | sticky) -> RecordAccumulator.append
 *        -> batch closes (batchBytes reached | lingerMs expired | flush) -> drain:
 *           one Produce request per leader with every ready partition's batches, at most
 *           maxInFlight requests per connection -> response: offsets into the sends, or
 *           retry (retriable errors, with backoff; metadata refreshed when the leader may
 *           have moved: UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE,
 *           a closed or unreachable broker), or fail the sends (any other error).
 *
 * Idempotence (default on; idempotence.ts): the producer asks the broker for a producer id
 * once (InitProducerId) and numbers each partition's batches, so a retry of a batch whose
 * answer was lost (a timeout, a dropped connection) is answered by the broker with the
 * original offsets instead of being written twice, and a retried batch is never overtaken
 * by a later batch of its partition (at most 5 in flight per partition, one batch per
 * partition per request; the failed batch and the ones after it are resent in order).
 *
 * Without idempotence (`idempotent: false`, or acks=0, which has no answers to number) the
 * trade-off is Kafka's max.in.flight.requests.per.connection: batches of a partition leave
 * in order and a retried batch goes back ahead of any batch not yet sent, but with
 * maxInFlight > 1 a later batch already in flight may land first, and a retried request
 * whose first attempt was written but not acknowledged is written twice. Set
 * `maxInFlight: 1` for strict per-partition order under retries.
 *
 * Memory: at most `maxBufferedBytes` of records wait in the accumulator or in flight;
 * `send()` waits for room beyond that (backpressure instead of unbounded growth).
 */

import {
  ClientClosedError, ERROR_TABLE, InvalidArgumentError, MessageTooLargeError, SpoolError, UnknownServerError,
  UnknownTopicOrPartitionError, UnsupportedApiError, UnsupportedVersionError, errorFromCode,
} from '../protocol/errors.js'
import type { RequestOf } from '../protocol/native/api-keys.js'
import type { BuildOptions, RecordInput } from '../protocol/record-batch/records.js'
import {
  CLOSED_BATCH, OPENED_BATCH, RecordAccumulator, type PartitionQueue, type RequestEntry, type TakenRequest,
} from './accumulator.js'
import { isRetriable, isStaleMetadataError, type Cluster } from './cluster.js'
import { Idempotence, MAX_IN_FLIGHT_PER_PARTITION, type ProducerIdentity } from './idempotence.js'
import { choosePartition, StickyPartitioner } from './partitioner.js'
import { SendRequest, type ProducerBatch, type RecordMetadata } from './producer-batch.js'
import { resolveOptions, type ProducerOptions, type ResolvedProducerOptions } from './producer-options.js'
import { backoffMs } from './retry.js'
import { recordSize, toRecordInput, type ProducerMessage, type ProducerRecord } from './producer-message.js'

export type { RecordMetadata } from './producer-batch.js'
export type { Acks, ProducerOptions } from './producer-options.js'
export type { HeaderValue, MessageHeaders, ProducerMessage, ProducerRecord } from './producer-message.js'

export class Producer {
  readonly #cluster: Cluster
  readonly #options: ResolvedProducerOptions
  readonly #accumulator: RecordAccumulator
  readonly #sticky = new StickyPartitioner()
  readonly #inFlight = new Map<number, number>()
  /** Sends waiting for metadata or buffer room before they could append. */
  readonly #waitingSends = new Set<Promise<unknown>>()
  /** Sends on the slow path not yet appended, and the turn of the last of them (#sendLater). */
  #sendsWaiting = 0
  #lastSendWaiting: Promise<void> = Promise.resolve()
  #spaceWaiters: Array<() => void> = []
  #lingerTimer: ReturnType<typeof setTimeout> | null = null
  #lingerArmed = false
  #retryTimer: ReturnType<typeof setTimeout> | null = null
  #retryTimerAtMs = Infinity
  #drainScheduled = false
  /** The clock the batch builders read: set once per send() call. */
  #nowMs = 0
  #closing = false
  #closed = false
  readonly #removeCloseHook: () => void
  /** Null when not idempotent. */
  #idempotence: Idempotence | null = null

  /** @internal Created by `client.producer()`. */
  constructor (cluster: Cluster, options: ProducerOptions = {}) {
    this.#cluster = cluster
    this.#options = resolveOptions(options, cluster)
    if (this.#options.idempotent) {
      this.#idempotence = new Idempotence({
        init: () => this.#initProducerId(),
        onRenewed: (error, queues) => this.#renewed(error, queues),
        maxInFlightPerPartition: Math.min(this.#options.maxInFlight, MAX_IN_FLIGHT_PER_PARTITION),
      })
    }
    this.#accumulator = new RecordAccumulator({
      batchBytes: this.#options.batchBytes,
      compression: this.#options.compression,
      onBatchClosed: (topic, partition) => {
        const info = cluster.metadata.get(topic)
        if (info !== undefined) this.#sticky.batchClosed(topic, partition, info.partitions)
      },
      buildOptions: (queue, batch) => this.#buildOptions(queue, batch),
      onCompressed: () => this.#scheduleDrain(),
      now: () => this.#nowMs,
    })
    this.#removeCloseHook = cluster.onClose(() => this.#abort(new ClientClosedError('the client was closed')))
  }

  /**
   * Sends messages to one topic; resolves with each message's topic, partition and offset
   * (in message order) once all are acknowledged. Rejects with the typed error of the first
   * batch that failed for good (other messages of the same call may still be written).
   */
  send (record: ProducerRecord): Promise<RecordMetadata[]> {
    if (this.#closing) return Promise.reject(new ClientClosedError('the producer is closed'))
    const { topic, messages } = record
    if (typeof topic !== 'string' || !Array.isArray(messages)) {
      return Promise.reject(new InvalidArgumentError('send() takes { topic: string, messages: [...] }'))
    }
    const info = this.#cluster.metadata.get(topic)
    // Send order: while an earlier send waits on the slow path, later ones queue behind it.
    if (this.#sendsWaiting > 0 || info === undefined || this.#accumulator.bufferedBytes >= this.#options.maxBufferedBytes ||
        (this.#idempotence !== null && this.#idempotence.identity === null)) return this.#sendLater(record)
    return this.#appendNow(topic, messages, info.partitions)
  }

  /** Appends a send's messages now; the promise settles when they are acknowledged or fail. */
  #appendNow (topic: string, messages: ProducerMessage[], partitions: number): Promise<RecordMetadata[]> {
    return new Promise<RecordMetadata[]>((resolve, reject) => {
      const send = new SendRequest(topic, messages.length, resolve, reject)
      try {
        this.#append(send, messages, partitions)
      } catch (err) {
        send.fail(err as Error)
      }
    })
  }

  /**
   * The slow path: wait for the producer id, the topic's metadata and buffer room, then
   * append. Sends on this path append one after another in the order send() was called, and
   * send() takes it while any is waiting, so a later send never overtakes an earlier one (a
   * send that found the metadata just refreshed would otherwise append before an earlier one
   * still waiting for it, and their records would be written out of send order).
   */
  #sendLater (record: ProducerRecord): Promise<RecordMetadata[]> {
    const previous = this.#lastSendWaiting
    let appended!: () => void
    const turn = new Promise<void>(resolve => { appended = resolve })
    this.#lastSendWaiting = turn
    this.#sendsWaiting++
    // Resolves once appended (flush() waits for that), with the acknowledgement to wait for.
    const waiting = (async (): Promise<{ acknowledged: Promise<RecordMetadata[]> }> => {
      try {
        await previous
        const [, info] = await Promise.all([this.#ensureIdentity(), this.#cluster.metadata.topic(record.topic, { allowAutoCreate: this.#options.allowAutoTopicCreation })])
        while (this.#accumulator.bufferedBytes >= this.#options.maxBufferedBytes && !this.#closed) {
          await new Promise<void>(resolve => this.#spaceWaiters.push(resolve))
        }
        if (this.#closed) throw new ClientClosedError('the producer is closed')
        return { acknowledged: this.#appendNow(record.topic, record.messages, info.partitions) }
      } finally {
        // Synchronously after the append (or the failure): the next waiting send goes next.
        this.#sendsWaiting--
        if (this.#lastSendWaiting === turn) this.#lastSendWaiting = Promise.resolve()
        appended()
      }
    })()
    this.#waitingSends.add(waiting)
    const done = (): void => { this.#waitingSends.delete(waiting) }
    return waiting.then(({ acknowledged }) => {
      done()
      return acknowledged
    }, err => {
      done()
      throw err
    })
  }

  /** Appends every message; throws (before appending any) if one can never be sent. */
  #append (send: SendRequest, messages: ProducerMessage[], partitions: number): void {
    const accumulator = this.#accumulator
    const topic = send.topic
    const maxRecordBytes = this.#options.maxRequestBytes
    // Validate first, so a send is either appended whole or not at all. Strings are
    // encoded here, once: `inputs` carries them to the append loop.
    const inputs = new Array<RecordInput>(messages.length)
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i]!
      const input = toRecordInput(message)
      const size = recordSize(input)
      if (size > maxRecordBytes) {
        throw new MessageTooLargeError(`message ${i} is about ${size} bytes, more than the producer's maxRequestBytes ${maxRecordBytes}: ` +
          'raise the producer option maxRequestBytes, and the topic\'s maxBatchBytes (broker --max-batch-bytes) to match')
      }
      const partition = message.partition
      if (partition !== undefined && (!Number.isInteger(partition) || partition < 0 || partition >= partitions)) {
        throw new UnknownTopicOrPartitionError(`partition ${partition} does not exist: topic "${topic}" has ${partitions}`)
      }
      inputs[i] = input
    }
    // One timestamp for the whole call (CreateTime = when send() was called), so the
    // builder does not read the clock per record.
    this.#nowMs = Date.now()
    let result = 0
    // The sticky partition's queue, looked up once and kept until a batch closes (only a
    // closing batch moves the sticky partitioner on).
    let sticky: PartitionQueue | null = null
    for (let i = 0; i < messages.length; i++) {
      const input = inputs[i]!
      const size = recordSize(input)
      const key = input.key ?? null
      const explicit = messages[i]!.partition
      let queue: PartitionQueue
      if (key === null && explicit === undefined) {
        queue = sticky ??= accumulator.queue(topic, this.#sticky.partition(topic, partitions))
        if (accumulator.wouldClose(queue, size)) {
          // Sticky partitioning: the batch is full, so close it, move on, and start the next
          // batch on the new partition instead of leaving one record behind here.
          accumulator.close(queue)
          result |= CLOSED_BATCH
          queue = sticky = accumulator.queue(topic, this.#sticky.partition(topic, partitions))
        }
      } else {
        queue = accumulator.queue(topic, choosePartition(topic, partitions, key, explicit, this.#sticky))
      }
      const appended = accumulator.append(queue, input, size, send, i)
      if ((appended & CLOSED_BATCH) !== 0) sticky = null
      result |= appended
    }
    if ((result & CLOSED_BATCH) !== 0) this.#scheduleDrain()
    if ((result & OPENED_BATCH) !== 0) this.#armLinger()
  }

  /** Header fields for a closing batch: producerId, producerEpoch and baseSequence when idempotent. */
  #buildOptions (queue: PartitionQueue, batch: ProducerBatch): BuildOptions {
    return this.#idempotence?.stamp(queue, batch) ?? {}
  }

  /** Resolves once the producer id is known (at once when not idempotent). */
  async #ensureIdentity (): Promise<void> {
    const idempotence = this.#idempotence
    if (idempotence === null || idempotence.identity !== null) return
    try {
      await idempotence.ensure()
    } catch (err) {
      if (this.#options.idempotentExplicit || !(err instanceof UnsupportedApiError || err instanceof UnsupportedVersionError)) throw err
      // Nothing was appended yet: every batch so far waited for this answer.
      this.#cluster.logger.warn({ code: err.code }, 'the broker does not serve InitProducerId: producing without idempotence')
      this.#idempotence = null
    }
  }

  async #initProducerId (): Promise<ProducerIdentity> {
    const { body } = await this.#cluster.request('InitProducerId', {})
    if (body.producerId < 0) throw new UnknownServerError('InitProducerId returned no producer id')
    return { producerId: body.producerId, producerEpoch: body.producerEpoch }
  }

  /** Restarted partitions got a fresh producer id (send on), or could not: their queued batches fail. */
  #renewed (error: Error | null, queues: PartitionQueue[]): void {
    if (error !== null) {
      this.#cluster.logger.warn({ err: error }, 'InitProducerId failed for a restarted partition')
      for (const queue of queues) {
        for (const batch of queue.ready.splice(0)) {
          this.#accumulator.release(batch)
          batch.fail(error)
        }
      }
      this.#wakeSpaceWaiters()
    }
    this.#scheduleDrain()
  }

  #armLinger (): void {
    if (this.#lingerArmed || this.#closed) return
    this.#lingerArmed = true
    if (this.#options.lingerMs === 0) {
      // No linger: everything appended in this synchronous run goes out together.
      queueMicrotask(() => this.#lingerExpired())
      return
    }
    this.#lingerTimer = setTimeout(() => this.#lingerExpired(), this.#options.lingerMs)
  }

  #lingerExpired (): void {
    this.#lingerArmed = false
    this.#lingerTimer = null
    this.#accumulator.closeAll()
    this.#drain()
  }

  #scheduleDrain (): void {
    if (this.#drainScheduled) return
    this.#drainScheduled = true
    queueMicrotask(() => this.#drain())
  }

  /** Sends as many requests as maxInFlight allows. */
  #drain (): void {
    this.#drainScheduled = false
    if (this.#closed) return
    const accumulator = this.#accumulator
    const now = Date.now()
    const canSend = (nodeId: number): boolean => (this.#inFlight.get(nodeId) ?? 0) < this.#options.maxInFlight
    const idempotence = this.#idempotence
    const gate = idempotence === null ? undefined : (queue: PartitionQueue) => idempotence.gate(queue)
    while (accumulator.hasReady) {
      const taken = accumulator.take(this.#options.maxRequestBytes, now, this.#leaderOf, canSend, gate)
      if (taken === null) break
      if (idempotence !== null) for (const entry of taken.entries) idempotence.sent(entry.queue, entry.batches[0]!)
      this.#inFlight.set(taken.nodeId, (this.#inFlight.get(taken.nodeId) ?? 0) + 1)
      this.#produce(taken).finally(() => {
        this.#inFlight.set(taken.nodeId, (this.#inFlight.get(taken.nodeId) ?? 1) - 1)
        this.#scheduleDrain()
      })
    }
    this.#armRetryTimer(now)
  }

  readonly #leaderOf = (queue: PartitionQueue): number => this.#cluster.metadata.get(queue.topic)?.leaders[queue.partition] ?? -1

  #armRetryTimer (now: number): void {
    const next = this.#accumulator.nextRetryAtMs(now)
    if (next === Infinity || next >= this.#retryTimerAtMs) return
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer)
    this.#retryTimerAtMs = next
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null
      this.#retryTimerAtMs = Infinity
      this.#drain()
    }, next - now)
  }

  async #produce (taken: TakenRequest): Promise<void> {
    const { body, records } = produceRequest(taken, this.#options)
    try {
      const connection = await this.#cluster.nodeConnection(taken.nodeId)
      if (this.#options.acks === 0) {
        await connection.send('Produce', body, records)
        for (const entry of taken.entries) for (const batch of entry.batches) this.#complete(batch, -1)
        return
      }
      const { body: response } = await connection.request('Produce', body, { records, timeoutMs: this.#options.timeoutMs + 5_000 })
      this.#answered(taken)
      const results = new Map<string, { errorCode: number, errorMessage: string | null, baseOffset: number }>()
      for (const t of response.topics) for (const p of t.partitions) results.set(`${t.topic}\u0000${p.partition}`, p)
      for (const entry of taken.entries) {
        const { queue, batches } = entry
        const result = results.get(`${queue.topic}\u0000${queue.partition}`)
        if (result === undefined) {
          this.#failed(queue, batches, new UnknownServerError(`no Produce result for ${queue.topic}/${queue.partition}`))
        } else if (result.errorCode !== 0) {
          this.#failed(queue, batches, errorFromResult(result.errorCode, result.errorMessage, queue))
        } else {
          // The partition's batches were appended back to back: consecutive offsets.
          let offset = result.baseOffset
          for (const batch of batches) {
            this.#idempotence?.acknowledged(queue, batch)
            this.#complete(batch, offset)
            offset += batch.count
          }
        }
      }
    } catch (err) {
      this.#answered(taken)
      for (const entry of taken.entries) this.#failed(entry.queue, entry.batches, err as Error)
    }
  }

  /** Idempotence: the request's batches are no longer in flight (before their results are applied). */
  #answered (taken: TakenRequest): void {
    const idempotence = this.#idempotence
    if (idempotence === null) return
    for (const entry of taken.entries) for (const batch of entry.batches) idempotence.answered(entry.queue, batch)
  }

  #complete (batch: ProducerBatch, baseOffset: number): void {
    if (baseOffset >= 0) this.#accumulator.recycle(batch) // acks 1/all: written and answered
    this.#accumulator.release(batch)
    batch.complete(baseOffset)
    this.#wakeSpaceWaiters()
  }

  /** A request for these batches failed: retry them or fail their sends. */
  #failed (queue: PartitionQueue, batches: ProducerBatch[], error: Error): void {
    if (this.#idempotence !== null) {
      this.#failedIdempotent(queue, batches[0]!, error, this.#idempotence)
      return
    }
    const retry = this.#options.retry
    const attempts = batches[0]!.attempts + 1
    if (!this.#closed && isRetriable(error) && attempts <= retry.retries) {
      for (const batch of batches) batch.attempts = attempts
      this.#cluster.logger.debug({ topic: queue.topic, partition: queue.partition, attempts, code: (error as SpoolError).code },
        `produce retry: ${error.message}`)
      if (isStaleMetadataError(error)) this.#refreshMetadata(queue.topic)
      backOff(queue, backoffMs(attempts - 1, retry))
      this.#accumulator.requeue(queue, batches)
      return
    }
    for (const batch of batches) {
      this.#accumulator.release(batch)
      batch.fail(error)
    }
    this.#wakeSpaceWaiters()
  }

  /** One batch (idempotence sends one per partition per request): see idempotence.ts. */
  #failedIdempotent (queue: PartitionQueue, batch: ProducerBatch, error: Error, idempotence: Idempotence): void {
    const action = this.#closed ? 'fail' : idempotence.classify(queue, batch, error, this.#options.retry.retries)
    if (action !== 'fail') {
      if (action === 'retry') {
        batch.attempts++
        backOff(queue, backoffMs(batch.attempts - 1, this.#options.retry))
        if (isStaleMetadataError(error)) this.#refreshMetadata(queue.topic)
      }
      this.#cluster.logger.debug({ topic: queue.topic, partition: queue.partition, action, attempts: batch.attempts, code: (error as SpoolError).code, producerId: batch.stamp?.producerId, baseSequence: batch.stamp?.baseSequence, records: batch.count },
        `produce ${action}: ${error.message}`)
      this.#accumulator.requeue(queue, [batch])
      this.#scheduleDrain()
      return
    }
    this.#accumulator.release(batch)
    batch.fail(error)
    this.#wakeSpaceWaiters()
    if (!this.#closed) {
      this.#cluster.logger.warn({ topic: queue.topic, partition: queue.partition, code: (error as SpoolError).code },
        'a batch failed for good: the partition continues under a fresh producer id')
      idempotence.restart(queue)
      this.#scheduleDrain()
    }
  }

  #refreshMetadata (topic: string): void {
    this.#cluster.metadata.invalidate(topic)
    this.#cluster.metadata.topic(topic, { allowAutoCreate: this.#options.allowAutoTopicCreation }).catch(err => {
      this.#cluster.logger.debug({ topic, err }, 'metadata refresh failed')
    })
  }

  #wakeSpaceWaiters (): void {
    if (this.#spaceWaiters.length === 0 || this.#accumulator.bufferedBytes >= this.#options.maxBufferedBytes) return
    const waiters = this.#spaceWaiters
    this.#spaceWaiters = []
    for (const w of waiters) w()
  }

  /** Sends everything buffered now and resolves when all of it is acknowledged or failed. */
  async flush (): Promise<void> {
    while (this.#waitingSends.size > 0) await Promise.allSettled([...this.#waitingSends])
    const pending = this.#accumulator.pending()
    this.#accumulator.closeAll()
    this.#drain()
    await Promise.all(pending.map(batch => batch.done()))
  }

  /** Flushes, then refuses further sends. Idempotent. */
  async close (): Promise<void> {
    if (this.#closing) {
      await this.flush()
      return
    }
    this.#closing = true
    try {
      await this.flush()
    } finally {
      this.#stop()
    }
  }

  #stop (): void {
    this.#closed = true
    this.#removeCloseHook()
    if (this.#lingerTimer !== null) clearTimeout(this.#lingerTimer)
    this.#lingerArmed = false
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer)
    this.#lingerTimer = null
    this.#retryTimer = null
    this.#wakeAllSpaceWaiters()
  }

  #wakeAllSpaceWaiters (): void {
    const waiters = this.#spaceWaiters
    this.#spaceWaiters = []
    for (const w of waiters) w()
  }

  /** The client closed under us: fail what was not sent. */
  #abort (error: Error): void {
    this.#closing = true
    this.#accumulator.failUnsent(error)
    this.#stop()
  }
}

/**
 * The Produce request for taken batches: the body lists topics and their partitions with
 * each partition's byte count; the records section holds the batches in exactly that order.
 */
function produceRequest (taken: TakenRequest, options: ResolvedProducerOptions): { body: RequestOf<'Produce'>, records: Uint8Array[] } {
  const byTopic = new Map<string, RequestEntry[]>()
  for (const entry of taken.entries) {
    const list = byTopic.get(entry.queue.topic)
    if (list === undefined) byTopic.set(entry.queue.topic, [entry])
    else list.push(entry)
  }
  const topics: RequestOf<'Produce'>['topics'] = []
  const records: Uint8Array[] = []
  for (const [topic, entries] of byTopic) {
    const partitions = new Array<{ partition: number, recordsBytes: number }>(entries.length)
    for (let i = 0; i < entries.length; i++) {
      let recordsBytes = 0
      for (const batch of entries[i]!.batches) {
        records.push(batch.bytes!)
        recordsBytes += batch.bytes!.length
      }
      partitions[i] = { partition: entries[i]!.queue.partition, recordsBytes }
    }
    topics.push({ topic, partitions })
  }
  return { body: { acks: options.acks, timeoutMs: options.timeoutMs, topics }, records }
}

function errorFromResult (errorCode: number, errorMessage: string | null, queue: PartitionQueue): SpoolError {
  if (errorCode === ERROR_TABLE.UNKNOWN_TOPIC_OR_PARTITION.code) {
    return new UnknownTopicOrPartitionError(errorMessage ?? `topic "${queue.topic}" partition ${queue.partition} does not exist`)
  }
  return errorFromCode(errorCode, errorMessage ?? undefined)
}

/**
 * Holds a partition back for `ms`, never shortening a backoff already running: when several
 * requests of a partition fail together, a later batch's first (short) backoff must not
 * cut short an earlier batch's longer one, or the earlier batch spends its retries in a
 * second and a broker restart of a few seconds fails its send.
 */
function backOff (queue: PartitionQueue, ms: number): void {
  queue.retryAtMs = Math.max(queue.retryAtMs, Date.now() + ms)
}
