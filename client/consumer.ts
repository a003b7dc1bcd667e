/**
 * Consumer: read partitions you `assign()` yourself, or join a consumer group
 * (`groupId` + `subscribe()`) and read the partitions the group coordinator gives this
 * member (group.ts). Either way: `for await (const m of consumer)` or `run({ eachMessage })`
 * / `run({ eachBatch })` (one of the two per consumer), `seek*`, `pause`/`resume`, `close()`.
 *
 * Pipelining with bounded memory: a fetch response is decoded as soon as it arrives and the
 * next fetch is sent when the application starts on the current one, so the broker's long
 * poll overlaps the application's work. At most one response waits decoded beyond the one
 * being handed out.
 *
 *   assign / group assignment -> positions (committed offset in a group; else ListOffsets:
 *          latest, or earliest with fromBeginning)
 *          -> Fetch (long poll) -> decode into chunks -> [next Fetch sent] -> hand messages
 *             to the application, chunk by chunk; stale chunks (seek, pause, revoke) dropped
 *
 * Processed (what a group commits, as "last processed + 1"):
 *   run({ eachMessage })  a message once its callback resolved
 *   run({ eachBatch })    the batch once its callback resolved (or up to resolveOffset(o),
 *                         with eachBatchAutoResolve: false)
 *   for await             a message once the iterator is asked for the NEXT one; leaving the
 *                         loop (break, throw) does not count the last message as processed
 *                         (commit it yourself if it was)
 * A group consumer commits processed offsets every autoCommitIntervalMs, when a partition
 * is revoked and on close() (autoCommit, default true), or when you call commit().
 *
 * close(): stops fetching, waits for a running run() callback (unless called from inside
 * one: then run() resolves once the close is done), and in a group commits, calls
 * onRevoked and leaves; then for await loops end and run() resolves. "Inside" is told by
 * async context in Node (a SIGTERM handler that calls close() while a callback awaits I/O
 * waits for the commit and leave); in browsers, by whether any callback is running.
 */

import { ClientClosedError, InvalidArgumentError, OffsetOutOfRangeError } from '../protocol/errors.js'
import { Assignment, partitionKey, type PartitionState, type TopicPartition } from './assignment.js'
import type { Cluster } from './cluster.js'
import { Fetcher, type AutoOffsetReset, type Chunk, type FetchRound } from './fetcher.js'
import type { AssignTarget, ConsumerOptions, RunOptions, SubscribeOptions } from './consumer-options.js'
import { GroupMember, type CommitOffset, type GroupHost } from './group.js'
import type { Message } from './message.js'
import { EARLIEST, LATEST, listOffsets } from './offsets.js'

/** Tells whether code runs inside a given consumer's run() callbacks (async context). */
export interface CallbackScope {
  run<T> (owner: object, fn: () => T): T
  current (): object | undefined
}

let callbackScope: CallbackScope | null = null

/** Installed by the Node entry (AsyncLocalStorage); browsers fall back to a flag. */
export function setCallbackScope (scope: CallbackScope): void {
  callbackScope = scope
}

export type { TopicPartition } from './assignment.js'
export type { AutoOffsetReset } from './fetcher.js'
export type { CommitOffset, RevokedInfo } from './group.js'
export type {
  AssignTarget, Batch, ConsumerOptions, EachBatchPayload, EachMessagePayload, RunOptions, SubscribeOptions,
} from './consumer-options.js'

/**
 * The long poll of a caught-up consumer that did not set maxWaitMs: an append answers a
 * parked fetch at once, so this only spaces out the empty answers an idle consumer gets
 * (and what they cost the broker: 1,000 idle consumers at 500 ms make 2,000 a second, at
 * 10 s 100). The same long poll as the CLI's `tail`.
 */
const IDLE_MAX_WAIT_MS = 10_000

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined })

export class Consumer implements AsyncIterable<Message> {
  readonly #cluster: Cluster
  readonly #options: ConsumerOptions
  #startAt: number
  readonly #autoOffsetReset: AutoOffsetReset
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
  /** run()'s promise: the loop, then the close if the loop ended because of it. */
  #running: Promise<void> | null = null
  /** The run loop alone (close() waits for it). */
  #loop: Promise<void> | null = null
  #inCallback = false
  /** The run() callback in progress: revocations wait for it when it handles their partition. */
  #callback: { state: PartitionState, done: Promise<unknown> } | null = null
  readonly #group: GroupMember | null = null
  /** The group membership ended with this error: the reader throws it. */
  #failure: Error | null = null
  #closing: Promise<void> | null = null

  /** @internal Created by `client.consumer()`. */
  constructor (cluster: Cluster, options: ConsumerOptions = {}) {
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
    this.#autoOffsetReset = autoOffsetReset
    this.#startAt = options.fromBeginning === true || (options.groupId !== undefined && options.autoOffsetReset === 'earliest') ? EARLIEST : LATEST
    this.#maxBytesPerPartition = int('maxBytesPerPartition', options.maxBytesPerPartition, 1024 * 1024, 1)
    const maxBytes = int('maxBytes', options.maxBytes, 16 * 1024 * 1024, 1)
    // A response must fit in a frame the client accepts (the broker may exceed maxBytes by
    // one batch, so leave room for one).
    const maxFrameBytes = cluster.options.maxFrameBytes
    if (maxBytes > maxFrameBytes / 2) {
      throw new InvalidArgumentError(`maxBytes ${maxBytes} must be at most half the client's maxFrameBytes (${maxFrameBytes})`)
    }
    const maxWaitMs = int('maxWaitMs', options.maxWaitMs, 500, 0)
    this.#fetcher = new Fetcher(cluster, this.#assignment, {
      rackId: options.rackId ?? '',
      maxWaitMs,
      idleMaxWaitMs: options.maxWaitMs === undefined ? IDLE_MAX_WAIT_MS : maxWaitMs,
      minBytes: int('minBytes', options.minBytes, 1, 0),
      maxBytes,
      maxBytesPerPartition: this.#maxBytesPerPartition,
      checkCrcs: options.checkCrcs ?? true,
      autoOffsetReset,
      // A consumer rides out a broker restart, as Kafka's do: its fetches retry retriable
      // errors with backoff for as long as it lives, unless the consumer's own
      // `retry.retries` says otherwise (the client's bound applies to one-off requests).
      retry: { ...cluster.options.retry, retries: Number.MAX_SAFE_INTEGER, ...options.retry },
    })
    if (options.groupId !== undefined) {
      if (typeof options.groupId !== 'string' || options.groupId === '' || options.groupId.length > 255) {
        throw new InvalidArgumentError(`groupId must be a non-empty string of at most 255 characters, got ${JSON.stringify(options.groupId)}`)
      }
      if (options.instanceId !== undefined && (typeof options.instanceId !== 'string' || options.instanceId === '')) {
        throw new InvalidArgumentError('instanceId must be a non-empty string')
      }
      this.#group = new GroupMember(cluster, {
        groupId: options.groupId,
        instanceId: options.instanceId ?? null,
        sessionTimeoutMs: int('sessionTimeoutMs', options.sessionTimeoutMs, 45_000, 1),
        rebalanceTimeoutMs: int('rebalanceTimeoutMs', options.rebalanceTimeoutMs, 60_000, 1),
        autoCommit: options.autoCommit ?? true,
        autoCommitIntervalMs: int('autoCommitIntervalMs', options.autoCommitIntervalMs, 5_000, 1),
        onAssigned: options.onAssigned,
        onRevoked: options.onRevoked,
      }, this.#groupHost())
    }
    this.#removeCloseHook = cluster.onClose(() => { this.close().catch(noop) })
  }

  /**
   * Group: subscribes to topics and joins the group (the first time); resolves once the
   * coordinator answered the join. Partitions then arrive (and leave) as the coordinator
   * decides; onAssigned/onRevoked tell you. Calling it again changes the subscription.
   */
  async subscribe (options: SubscribeOptions): Promise<void> {
    this.#assertOpen()
    const group = this.#group
    if (group === null) throw new InvalidArgumentError('subscribe() needs a groupId; a consumer without a group uses assign()')
    const spec = options.topics
    let topics: string[]
    if (spec instanceof RegExp) {
      const body = await this.#cluster.metadata.refresh(null)
      topics = body.topics.filter(t => t.errorCode === 0 && !t.internal && spec.test(t.topic)).map(t => t.topic).sort()
    } else {
      topics = typeof spec === 'string' ? [spec] : [...spec]
      if (topics.length === 0 || topics.some(t => typeof t !== 'string' || t === '')) throw new InvalidArgumentError('topics must be a topic name, a non-empty list of names, or a RegExp')
      for (const topic of topics) await this.#cluster.metadata.topic(topic, { allowAutoCreate: true })
    }
    if (options.fromBeginning !== undefined) this.#startAt = options.fromBeginning ? EARLIEST : LATEST
    await group.subscribe(topics)
  }

  /**
   * Group: commits `offsets` (each the next offset to read), or with no argument everything
   * processed so far (see the header) that is not committed yet. A commit by a member that
   * was evicted is refused (UnknownMemberIdError / FencedMemberEpochError) and the member
   * rejoins.
   */
  commit (offsets?: CommitOffset[]): Promise<void> {
    if (this.#group === null) return Promise.reject(new InvalidArgumentError('commit() needs a groupId'))
    return this.#group.commit(offsets)
  }

  /** Group: this member's id (made by the client) and current epoch; null without a group. */
  get member (): { memberId: string, memberEpoch: number } | null {
    return this.#group === null ? null : { memberId: this.#group.memberId, memberEpoch: this.#group.memberEpoch }
  }

  /** How the group membership drives this consumer's assignment. */
  #groupHost (): GroupHost {
    return {
      add: partitions => {
        const noOffset = partitions.find(p => p.offset === null)
        if (noOffset !== undefined && this.#autoOffsetReset === 'none') {
          this.#fail(new OffsetOutOfRangeError(`no committed offset for topic "${noOffset.topic}" partition ${noOffset.partition} in group "${this.#options.groupId}" and autoOffsetReset is 'none'`))
          return []
        }
        const added = this.#assignment.add(partitions, this.#startAt, this.#maxBytesPerPartition)
        const offsets = new Map(partitions.map(p => [partitionKey(p.topic, p.partition), p.offset]))
        for (const state of added) {
          const offset = offsets.get(partitionKey(state.topic, state.partition))
          if (offset !== undefined && offset !== null) state.seek(offset)
        }
        if (added.length > 0) this.#refetch()
        return added
      },
      remove: partitions => {
        if (this.#assignment.remove(partitions).length > 0) this.#refetch()
      },
      idle: async states => {
        const callback = this.#callback
        if (callback !== null && states.includes(callback.state)) await callback.done
      },
      fail: error => this.#fail(error),
    }
  }

  #fail (error: Error): void {
    this.#failure ??= error
    this.#stopWaiting?.([])
  }

  /**
   * Sets the assignment to exactly these partitions (topics given without partitions mean
   * all of them). Partitions kept keep their position; new ones start at the latest offset
   * (earliest with fromBeginning) unless seeked. Unknown topics throw
   * UnknownTopicOrPartitionError.
   */
  async assign (targets: AssignTarget | AssignTarget[]): Promise<void> {
    this.#assertOpen()
    if (this.#group !== null) throw new InvalidArgumentError('a group consumer gets its partitions from the group: use subscribe()')
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
      await this.#options.onRevoked?.(revoked, { lost: false })
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
      if (this.#failure !== null && !this.#closed) throw this.#failure
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
        // Leaving a loop does not throw a failed final commit (close() rejects with it).
        await this.close().catch(noop)
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
    if (chunk !== null) return this.#hand(chunk)
    // Closed: the loop ends once the close (a group's commit and leave) is done.
    await this.#closing?.catch(() => {})
    return DONE
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
   * back to the message (or batch) that failed and run() rejects with the error; in a
   * group, after the consumer closed (committed what was processed and left the group).
   */
  run (options: RunOptions): Promise<void> {
    const { eachMessage, eachBatch, eachBatchAutoResolve = true } = options
    if ((eachMessage === undefined) === (eachBatch === undefined)) {
      return Promise.reject(new InvalidArgumentError('run() takes exactly one of eachMessage and eachBatch'))
    }
    try {
      this.#assertOpen()
      this.#claim('run')
    } catch (err) {
      return Promise.reject(err)
    }
    const loop = callbackScope === null
      ? this.#runLoop(eachMessage, eachBatch, eachBatchAutoResolve)
      : callbackScope.run(this, () => this.#runLoop(eachMessage, eachBatch, eachBatchAutoResolve))
    this.#loop = loop
    this.#running = loop.then(() => this.#closing?.catch(() => {}), async (err: unknown) => {
      // A group member whose callback failed stops: it commits what was processed (not the
      // failed message), leaves, and its partitions go to the other members — instead of
      // heartbeating on while holding partitions nobody reads.
      if (this.#group !== null) await this.close().catch(noop)
      throw err
    }).finally(() => {
      this.#running = null
      this.#loop = null
    })
    return this.#running
  }

  /** Runs a callback, noting which partition it works on (revocations wait for it). */
  #call (state: PartitionState, result: void | Promise<void>): void | Promise<void> {
    if (result === undefined || typeof (result as Promise<void>).then !== 'function') return result
    this.#callback = { state, done: (result as Promise<void>).then(noop, noop) }
    return result
  }

  async #runLoop (eachMessage: RunOptions['eachMessage'], eachBatch: RunOptions['eachBatch'], autoResolve: boolean): Promise<void> {
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
        // Progress counts unless the application sought elsewhere meanwhile; a paused or
        // revoked partition's does (a revoked one is committed after this callback).
        const seeks = state.seeks
        const resolveOffset = (offset: number): void => {
          if (state.seeks === seeks && offset + 1 > state.processedOffset && offset + 1 <= last) state.processedOffset = offset + 1
        }
        this.#inCallback = true
        try {
          await this.#call(state, eachBatch({ batch: { topic: state.topic, partition: state.partition, highWatermark: chunk.highWatermark, messages: handed }, resolveOffset }))
        } catch (err) {
          if (state.seeks === seeks && state.assigned) state.seek(Math.max(handed[0]!.offset, state.processedOffset))
          throw err
        } finally {
          this.#inCallback = false
          this.#callback = null
        }
        if (autoResolve) resolveOffset(last - 1)
        continue
      }
      while (this.#messageIndex < messages.length && isCurrent(chunk) && !this.#closed) {
        const message = messages[this.#messageIndex++]!
        state.position = message.offset + 1
        const seeks = state.seeks
        this.#inCallback = true
        try {
          const result = this.#call(state, eachMessage!({ topic: message.topic, partition: message.partition, message }))
          if (result !== undefined) await result
        } catch (err) {
          if (state.seeks === seeks && state.assigned) state.seek(message.offset)
          throw err
        } finally {
          this.#inCallback = false
          this.#callback = null
        }
        if (state.seeks === seeks) state.processedOffset = message.offset + 1
      }
    }
  }

  /**
   * Stops fetching, waits for a running run() callback (unless called from inside one), and
   * in a group commits what was processed (autoCommit), calls onRevoked and leaves the group;
   * then for await loops end and run() resolves. Rejects with the error of that last commit
   * if it failed (the consumer is closed all the same). Idempotent (the same promise).
   */
  close (): Promise<void> {
    if (this.#closing === null) {
      this.#closed = true
      this.#removeCloseHook()
      this.#fetcher.stop()
      this.#stopWaiting?.(null)
      this.#chunks = []
      this.#closing = this.#shutdown()
    }
    // From inside a callback: the loop cannot end before the callback returns (awaiting the
    // close there would wait for itself); run() resolves once the close is done.
    const inside = this.#inCallback && (callbackScope === null || callbackScope.current() === this)
    if (inside) return Promise.resolve()
    return this.#closing
  }

  async #shutdown (): Promise<void> {
    if (this.#loop !== null) await this.#loop.catch(noop)
    await this.#group?.leave()
  }
}

function noop (): void {}

function isCurrent (chunk: Chunk): boolean {
  const state = chunk.state
  return chunk.epoch === state.epoch && state.assigned && !state.paused
}
