/**
 * Consumer without a group (issue 4 adds groups): `assign()` partitions, position them
 * (`seek*`), read them with `for await (const m of consumer)` or `run({ eachMessage })` /
 * `run({ eachBatch })` (one of the two per consumer), `pause`/`resume`, `close()`.
 *
 * Pipelining with bounded memory: a fetch response is decoded as soon as it arrives and the
 * next fetch is sent when the application starts on the current one, so the broker's long
 * poll overlaps the application's work. At most one response waits decoded beyond the one
 * being handed out.
 *
 *   assign -> positions (ListOffsets: latest, or earliest with fromBeginning)
 *          -> Fetch (long poll) -> decode into chunks -> [next Fetch sent] -> hand messages
 *             to the application, chunk by chunk; stale chunks (seek, pause, revoke) dropped
 */

import { ClientClosedError, InvalidArgumentError } from '../protocol/errors.js'
import { Assignment, type PartitionState, type TopicPartition } from './assignment.js'
import type { Cluster } from './cluster.js'
import { Fetcher, type AutoOffsetReset, type Chunk, type FetchRound } from './fetcher.js'
import type { Message } from './message.js'
import { EARLIEST, LATEST, listOffsets } from './offsets.js'
import type { RetryOptions } from './retry.js'

export type { TopicPartition } from './assignment.js'
export type { AutoOffsetReset } from './fetcher.js'

export interface ConsumerOptions {
  /** Consumer groups arrive with issue 4; a groupId is refused until then. */
  groupId?: string
  /** Start newly assigned partitions at the earliest offset instead of the latest. */
  fromBeginning?: boolean
  /** What to do when the position is outside the log (e.g. deleted by retention). Default: earliest with fromBeginning, else latest. */
  autoOffsetReset?: AutoOffsetReset
  /** Long-poll: how long the broker may hold a fetch with no data. Default 500. */
  maxWaitMs?: number
  /** Long-poll: bytes the broker waits for before answering. Default 1. */
  minBytes?: number
  /** Per fetch response. Default 16 MiB. */
  maxBytes?: number
  /** Per partition in a fetch response. Default 1 MiB. */
  maxBytesPerPartition?: number
  /** Verify each fetched batch's CRC32C. Default true. */
  checkCrcs?: boolean
  retry?: Partial<RetryOptions>
  /** Called after partitions are added to the assignment (issue 4's group calls it too). */
  onAssigned?: (partitions: TopicPartition[]) => void | Promise<void>
  /** Called before partitions leave the assignment: the place to commit (issue 4). */
  onRevoked?: (partitions: TopicPartition[]) => void | Promise<void>
}

/** `assign()` takes partitions, or whole topics (all their partitions). */
export type AssignTarget = TopicPartition | { topic: string, partitions?: number[] }

export interface Batch {
  topic: string
  partition: number
  highWatermark: number
  messages: Message[]
}

export interface EachMessagePayload {
  topic: string
  partition: number
  message: Message
}

export interface EachBatchPayload {
  batch: Batch
}

export interface RunOptions {
  eachMessage?: (payload: EachMessagePayload) => void | Promise<void>
  eachBatch?: (payload: EachBatchPayload) => void | Promise<void>
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined })

export class Consumer implements AsyncIterable<Message> {
  readonly #cluster: Cluster
  readonly #options: ConsumerOptions
  readonly #startAt: number
  readonly #maxBytesPerPartition: number
  readonly #assignment = new Assignment()
  readonly #fetcher: Fetcher
  readonly #removeCloseHook: () => void
  #mode: 'iterator' | 'run' | null = null
  #closed = false
  /** Ends the wait for the in-flight fetch: with null (close) or [] (a fresh fetch is needed). */
  #stopWaiting: ((value: Chunk[] | null) => void) | null = null
  #round: FetchRound | null = null
  /** The pipelined fetch: sent when the application starts on the current chunks. */
  #inFlight: Promise<Chunk[]> | null = null
  #chunks: Chunk[] = []
  #chunkIndex = 0
  #messageIndex = 0
  /** The iterator's last handed message: processed once the next one is asked for. */
  #lastState: PartitionState | null = null
  #lastOffset = -1
  #running: Promise<void> | null = null
  #inCallback = false

  /** @internal Created by `client.consumer()`. */
  constructor (cluster: Cluster, options: ConsumerOptions = {}) {
    if (options.groupId !== undefined) {
      throw new InvalidArgumentError('consumer groups are not available yet: use a consumer without groupId and assign()')
    }
    const autoOffsetReset = options.autoOffsetReset ?? (options.fromBeginning === true ? 'earliest' : 'latest')
    if (!['earliest', 'latest', 'none'].includes(autoOffsetReset)) {
      throw new InvalidArgumentError(`autoOffsetReset must be 'earliest', 'latest' or 'none', got ${String(autoOffsetReset)}`)
    }
    const int = (name: string, value: number | undefined, fallback: number, min: number): number => {
      const v = value ?? fallback
      if (!Number.isInteger(v) || v < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${String(value)}`)
      return v
    }
    this.#cluster = cluster
    this.#options = options
    this.#startAt = options.fromBeginning === true ? EARLIEST : LATEST
    this.#maxBytesPerPartition = int('maxBytesPerPartition', options.maxBytesPerPartition, 1024 * 1024, 1)
    const maxBytes = int('maxBytes', options.maxBytes, 16 * 1024 * 1024, 1)
    // A response must fit in a frame the client accepts (the broker may exceed maxBytes by
    // one batch, so leave room for one).
    const maxFrameBytes = cluster.options.maxFrameBytes
    if (maxBytes > maxFrameBytes / 2) {
      throw new InvalidArgumentError(`maxBytes ${maxBytes} must be at most half the client's maxFrameBytes (${maxFrameBytes})`)
    }
    this.#fetcher = new Fetcher(cluster, this.#assignment, {
      maxWaitMs: int('maxWaitMs', options.maxWaitMs, 500, 0),
      minBytes: int('minBytes', options.minBytes, 1, 0),
      maxBytes,
      maxBytesPerPartition: this.#maxBytesPerPartition,
      checkCrcs: options.checkCrcs ?? true,
      autoOffsetReset,
      retry: { ...cluster.options.retry, ...options.retry },
    })
    this.#removeCloseHook = cluster.onClose(() => { void this.close() })
  }

  /**
   * Sets the assignment to exactly these partitions (topics given without partitions mean
   * all of them). Partitions kept keep their position; new ones start at the latest offset
   * (earliest with fromBeginning) unless seeked. Unknown topics throw
   * UnknownTopicOrPartitionError.
   */
  async assign (targets: AssignTarget | AssignTarget[]): Promise<void> {
    this.#assertOpen()
    const list = Array.isArray(targets) ? targets : [targets]
    const wanted: TopicPartition[] = []
    for (const target of list) {
      const info = await this.#cluster.metadata.topic(target.topic)
      const partitions = 'partition' in target && typeof target.partition === 'number'
        ? [target.partition]
        : ('partitions' in target && target.partitions !== undefined ? target.partitions : [...Array(info.partitions).keys()])
      for (const partition of partitions) {
        if (!Number.isInteger(partition) || partition < 0 || partition >= info.partitions) {
          throw new InvalidArgumentError(`topic "${target.topic}" has no partition ${partition} (it has ${info.partitions})`)
        }
        wanted.push({ topic: target.topic, partition })
      }
    }
    const keep = new Set(wanted.map(tp => `${tp.topic}\u0000${tp.partition}`))
    const revoked = this.#assignment.list().filter(tp => !keep.has(`${tp.topic}\u0000${tp.partition}`))
    if (revoked.length > 0) {
      await this.#options.onRevoked?.(revoked)
      this.#assignment.remove(revoked)
    }
    const added = this.#assignment.add(wanted, this.#startAt, this.#maxBytesPerPartition)
    if (added.length > 0) await this.#options.onAssigned?.(added.map(s => ({ topic: s.topic, partition: s.partition })))
    if (added.length > 0 || revoked.length > 0) this.#refetch()
  }

  /** The assigned partitions. */
  assignment (): TopicPartition[] {
    return this.#assignment.list()
  }

  /** Continue the partition at `offset` (the next message handed out has this offset). */
  seek ({ topic, partition, offset }: TopicPartition & { offset: number }): void {
    if (!Number.isInteger(offset) || offset < 0) throw new InvalidArgumentError(`offset must be an integer >= 0, got ${String(offset)}`)
    this.#state(topic, partition).seek(offset)
    this.#refetch()
  }

  /** Moves the partitions (default: all assigned) to their earliest offset. */
  seekToBeginning (partitions?: TopicPartition[]): Promise<void> {
    return this.#reset(EARLIEST, partitions)
  }

  /** Moves the partitions (default: all assigned) to their end: only new messages follow. */
  seekToEnd (partitions?: TopicPartition[]): Promise<void> {
    return this.#reset(LATEST, partitions)
  }

  /** Moves to the first offset with timestamp >= `timestamp` (the end when there is none). */
  seekToTimestamp (timestamp: number, partitions?: TopicPartition[]): Promise<void> {
    if (!Number.isInteger(timestamp) || timestamp < 0) throw new InvalidArgumentError(`timestamp must be ms since the epoch, got ${String(timestamp)}`)
    return this.#reset(timestamp, partitions)
  }

  async #reset (reset: number, partitions?: TopicPartition[]): Promise<void> {
    this.#assertOpen()
    const states = partitions === undefined ? [...this.#assignment.states()] : partitions.map(tp => this.#state(tp.topic, tp.partition))
    for (const state of states) state.requestReset(reset)
    await this.#fetcher.resolvePositions()
    this.#refetch()
  }

  /** The offset of the next message this consumer hands out for the partition (-1 if unknown yet). */
  position ({ topic, partition }: TopicPartition): number {
    return this.#state(topic, partition).position
  }

  /** Stops fetching the partitions; buffered messages are dropped and fetched again on resume. */
  pause (partitions: TopicPartition[]): void {
    let changed = false
    for (const { topic, partition } of partitions) {
      const state = this.#state(topic, partition)
      if (state.paused) continue
      state.paused = true
      state.rewind()
      changed = true
    }
    if (changed) this.#refetch()
  }

  resume (partitions: TopicPartition[]): void {
    let changed = false
    for (const { topic, partition } of partitions) {
      const state = this.#state(topic, partition)
      if (!state.paused) continue
      state.paused = false
      changed = true
    }
    if (changed) this.#refetch()
  }

  paused (): TopicPartition[] {
    return [...this.#assignment.states()].filter(s => s.paused).map(s => ({ topic: s.topic, partition: s.partition }))
  }

  /** Latest offsets of the assigned partitions right now (one ListOffsets). */
  async endOffsets (): Promise<Array<TopicPartition & { offset: number }>> {
    const answers = await listOffsets(this.#cluster, this.assignment().map(tp => ({ ...tp, timestamp: LATEST })))
    return answers.map(a => ({ topic: a.topic, partition: a.partition, offset: a.offset }))
  }

  #state (topic: string, partition: number): PartitionState {
    const state = this.#assignment.get(topic, partition)
    if (state === undefined) throw new InvalidArgumentError(`topic "${topic}" partition ${partition} is not assigned to this consumer`)
    return state
  }

  #assertOpen (): void {
    if (this.#closed) throw new ClientClosedError('the consumer is closed')
  }

  #claim (mode: 'iterator' | 'run'): void {
    if (this.#mode !== null && this.#mode !== mode) {
      throw new InvalidArgumentError('a consumer is read either with for await or with run(), not both')
    }
    if (mode === 'run' && this.#running !== null) throw new InvalidArgumentError('run() is already running')
    this.#mode = mode
  }

  /**
   * The next chunk with messages left to hand out, fetching when the buffered ones are used
   * up; null once the consumer is closed.
   */
  async #nextChunk (): Promise<Chunk | null> {
    for (;;) {
      while (this.#chunkIndex < this.#chunks.length) {
        const chunk = this.#chunks[this.#chunkIndex]!
        if (this.#messageIndex < chunk.messages.length && isCurrent(chunk)) return chunk
        this.#chunkIndex++
        this.#messageIndex = 0
      }
      this.#chunks = []
      this.#chunkIndex = 0
      if (this.#closed) return null
      const inFlight = this.#inFlight ??= this.#startFetch()
      let chunks: Chunk[] | null
      try {
        // Not Promise.race with a long-lived "closed" promise: every race would leave a
        // reaction on it holding this response's messages until the consumer closes.
        chunks = await new Promise<Chunk[] | null>((resolve, reject) => {
          this.#stopWaiting = resolve
          inFlight.then(resolve, reject)
        })
      } catch (err) {
        this.#inFlight = null
        if (this.#closed) return null
        throw err
      } finally {
        this.#stopWaiting = null
      }
      if (chunks === null || this.#closed) return null
      // Pipelining: the next fetch goes out now, while the application handles these.
      this.#inFlight = this.#startFetch()
      this.#chunks = chunks
      this.#messageIndex = 0
    }
  }

  #startFetch (): Promise<Chunk[]> {
    const round: FetchRound = { abandoned: false, completed: false }
    this.#round = round
    const fetch = this.#fetcher.fetch(round)
    fetch.catch(() => {}) // observed by #nextChunk; never an unhandled rejection
    return fetch
  }

  /**
   * The assignment or a position changed: the fetch in flight (parked in the broker's long
   * poll, perhaps for maxWaitMs) asked for the old state. Abandon it, unless its response
   * is already decoded, and have the reader send a fresh one now.
   */
  #refetch (): void {
    this.#fetcher.wake()
    const round = this.#round
    if (this.#inFlight === null || round === null || round.completed) return
    round.abandoned = true
    this.#inFlight = null
    this.#round = null
    this.#stopWaiting?.([])
  }

  [Symbol.asyncIterator] (): AsyncIterator<Message, undefined> {
    this.#claim('iterator')
    return {
      next: () => this.#next(),
      return: async () => {
        await this.close()
        return DONE
      },
    }
  }

  #next (): Promise<IteratorResult<Message, undefined>> {
    if (this.#lastState !== null && this.#lastState.position === this.#lastOffset + 1) {
      this.#lastState.processedOffset = this.#lastOffset + 1
    }
    const chunk = this.#chunks[this.#chunkIndex]
    if (chunk !== undefined && this.#messageIndex < chunk.messages.length && isCurrent(chunk)) {
      return Promise.resolve(this.#hand(chunk))
    }
    return this.#nextSlow()
  }

  async #nextSlow (): Promise<IteratorResult<Message, undefined>> {
    const chunk = await this.#nextChunk()
    return chunk === null ? DONE : this.#hand(chunk)
  }

  #hand (chunk: Chunk): IteratorYieldResult<Message> {
    const message = chunk.messages[this.#messageIndex++]!
    chunk.state.position = message.offset + 1
    this.#lastState = chunk.state
    this.#lastOffset = message.offset
    return { done: false, value: message }
  }

  /**
   * Hands messages to `eachMessage` one at a time, or to `eachBatch` a partition's chunk at
   * a time, until the consumer is closed. If a callback throws, the partition is sought
   * back to the message (or batch) that failed and run() rejects with the error.
   */
  run (options: RunOptions): Promise<void> {
    const { eachMessage, eachBatch } = options
    if ((eachMessage === undefined) === (eachBatch === undefined)) {
      return Promise.reject(new InvalidArgumentError('run() takes exactly one of eachMessage and eachBatch'))
    }
    try {
      this.#assertOpen()
      this.#claim('run')
    } catch (err) {
      return Promise.reject(err)
    }
    this.#running = this.#runLoop(eachMessage, eachBatch).finally(() => { this.#running = null })
    return this.#running
  }

  async #runLoop (eachMessage: RunOptions['eachMessage'], eachBatch: RunOptions['eachBatch']): Promise<void> {
    for (;;) {
      const chunk = await this.#nextChunk()
      if (chunk === null) return
      const state = chunk.state
      const messages = chunk.messages
      if (eachBatch !== undefined) {
        const start = this.#messageIndex
        const handed = start === 0 ? messages : messages.slice(start)
        this.#messageIndex = messages.length
        const last = messages[messages.length - 1]!.offset + 1
        state.position = last
        this.#inCallback = true
        try {
          await eachBatch({ batch: { topic: state.topic, partition: state.partition, highWatermark: chunk.highWatermark, messages: handed } })
        } catch (err) {
          if (chunk.epoch === state.epoch) state.seek(handed[0]!.offset)
          throw err
        } finally {
          this.#inCallback = false
        }
        if (chunk.epoch === state.epoch) state.processedOffset = last
        continue
      }
      while (this.#messageIndex < messages.length && isCurrent(chunk) && !this.#closed) {
        const message = messages[this.#messageIndex++]!
        state.position = message.offset + 1
        this.#inCallback = true
        try {
          const result = eachMessage!({ topic: message.topic, partition: message.partition, message })
          if (result !== undefined) await result
        } catch (err) {
          if (chunk.epoch === state.epoch) state.seek(message.offset)
          throw err
        } finally {
          this.#inCallback = false
        }
        if (chunk.epoch === state.epoch) state.processedOffset = message.offset + 1
      }
    }
  }

  /**
   * Stops fetching and ends iteration (for await loops finish, run() resolves). Waits for a
   * running eachMessage/eachBatch callback to finish, unless called from inside one.
   */
  async close (): Promise<void> {
    if (!this.#closed) {
      this.#closed = true
      this.#removeCloseHook()
      this.#fetcher.stop()
      this.#stopWaiting?.(null)
      this.#chunks = []
    }
    if (this.#running !== null && !this.#inCallback) await this.#running.catch(() => {})
  }
}

function isCurrent (chunk: Chunk): boolean {
  const state = chunk.state
  return chunk.epoch === state.epoch && state.assigned && !state.paused
}
