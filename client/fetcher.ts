/**
 * The consumer's fetch round: resolve pending start positions (ListOffsets), send one
 * long-polling Fetch for every fetchable partition, and decode the answer into chunks
 * (one per partition with messages). Fetch positions advance as soon as a response is
 * decoded, so the next round can be sent while the application still handles this one.
 *
 * Errors per partition (protocol/native/apis/fetch.ts):
 *   OFFSET_OUT_OF_RANGE  reset to earliest/latest per autoOffsetReset; 'none' throws
 *   retriable            that partition backs off (metadata refreshed on UNKNOWN_TOPIC_OR_PARTITION),
 *                        and throws after `retries` failures in a row
 *   anything else        throws its typed error
 * Request-level retriable errors (a dropped connection, a broker restarting) back off and
 * retry, up to `retries` failures in a row.
 *
 * Cluster mode: partitions are grouped by the broker to read them from — the leader, or the
 * replica the leader named for this consumer's rack (KIP-392, `preferredReadReplica`) — and
 * one long-polling Fetch goes to each, all at once. A round returns as soon as any of them
 * answers; the others stay in flight and are decoded by a later round (their partitions are
 * not asked for again meanwhile). An error that says the leader moved (NOT_LEADER_OR_FOLLOWER,
 * a leader epoch mismatch, an unreachable broker) drops the topic's metadata and backs the
 * partitions off, so the next round asks the new leader.
 */

import {
  ERROR_TABLE, OffsetOutOfRangeError, UnknownTopicOrPartitionError, errorFromCode, type SpoolError,
} from '../protocol/errors.js'
import type { RequestOf, ResponseOf } from '../protocol/native/api-keys.js'
import { DEFAULT_MAX_DECOMPRESSED_BYTES } from '../protocol/record-batch/compression.js'
import type { Assignment, PartitionState } from './assignment.js'
import { partitionKey } from './assignment.js'
import { isRetriable, isStaleMetadataError, type Cluster } from './cluster.js'
import { decodeCompressedInto, decodeRecordsSection, type Message } from './message.js'
import { EARLIEST, LATEST, listOffsets } from './offsets.js'
import { backoffMs, type RetryOptions } from './retry.js'

export type AutoOffsetReset = 'earliest' | 'latest' | 'none'

export interface FetcherOptions {
  /** The consumer's rack: the leader may send it to a replica in that rack ('' = none). */
  rackId: string
  maxWaitMs: number
  /**
   * The long poll of a consumer that is caught up (its last round came back empty): the
   * broker answers the moment a record arrives however long the wait, so a longer one only
   * saves the empty answers of idle consumers. Equal to maxWaitMs when the user set that.
   */
  idleMaxWaitMs: number
  minBytes: number
  maxBytes: number
  maxBytesPerPartition: number
  checkCrcs: boolean
  autoOffsetReset: AutoOffsetReset
  retry: RetryOptions
}

/** Messages of one partition from one fetch. */
export interface Chunk {
  state: PartitionState
  /** The partition's epoch when decoded: the chunk is stale once they differ. */
  epoch: number
  messages: Message[]
  highWatermark: number
}

/**
 * One fetch round's handle: the consumer marks it `abandoned` when a seek, pause, resume
 * or assignment change makes the round's request stale while it is still waiting in the
 * broker's long poll. An abandoned round decodes nothing and moves no position, so the
 * consumer can send a fresh fetch at once instead of waiting out maxWaitMs. `completed` is
 * set (synchronously with applying its positions) once the round can no longer be abandoned.
 */
export interface FetchRound {
  abandoned: boolean
  completed: boolean
}

interface Requested {
  state: PartitionState
  epoch: number
  fetchOffset: number
}

/** A Fetch to one broker, in flight or answered (`error` set when it failed). */
interface NodeFetch {
  node: number
  /** The round that sent it: a later round does not wait for one whose round was abandoned. */
  round: FetchRound
  list: Requested[]
  done: boolean
  response: { body: ResponseOf<'Fetch'>, records: Uint8Array } | null
  error: unknown
  settled: Promise<void>
}

const OFFSET_OUT_OF_RANGE = ERROR_TABLE.OFFSET_OUT_OF_RANGE.code
const UNKNOWN_TOPIC = ERROR_TABLE.UNKNOWN_TOPIC_OR_PARTITION.code

export class Fetcher {
  readonly #cluster: Cluster
  readonly #assignment: Assignment
  readonly #options: FetcherOptions
  #failures = 0
  /** The last round came back with no records and no error: fetches wait idleMaxWaitMs. */
  #caughtUp = false
  #wake: (() => void) | null = null
  #stopped = false
  readonly #inFlight = new Map<number, NodeFetch>()

  constructor (cluster: Cluster, assignment: Assignment, options: FetcherOptions) {
    this.#cluster = cluster
    this.#assignment = assignment
    this.#options = options
  }

  /** Something changed (assign, resume, seek, close): a round waiting for work goes on. */
  wake (): void {
    this.#caughtUp = false
    const wake = this.#wake
    this.#wake = null
    wake?.()
  }

  stop (): void {
    this.#stopped = true
    this.wake()
  }

  /** Resolves every partition whose position is pending (earliest, latest, timestamp). */
  async resolvePositions (): Promise<void> {
    for (let round = 0; round < 3; round++) {
      const pending: PartitionState[] = []
      for (const state of this.#assignment.states()) if (state.reset !== null) pending.push(state)
      if (pending.length === 0 || this.#stopped) return
      const epochs = pending.map(s => s.epoch)
      const answers = await listOffsets(this.#cluster, pending.map(s => ({ topic: s.topic, partition: s.partition, timestamp: s.reset! })))
      for (let i = 0; i < pending.length; i++) {
        const state = pending[i]!
        if (state.epoch !== epochs[i] || !state.assigned) continue
        const offset = answers[i]!.offset
        // No record at or after the timestamp: start at the end, like Kafka's offsetsForTimes + seekToEnd.
        if (offset < 0) state.requestReset(LATEST)
        else {
          state.seek(offset)
          // Nothing before the start position waits to be processed: a group commits it
          // even before the first message, so it keeps its place (Kafka commits the position).
          if (state.processedOffset < 0) state.processedOffset = offset
        }
      }
    }
  }

  /** One fetch round; [] when the long poll expired empty, or nothing to fetch, or abandoned. */
  async fetch (round: FetchRound): Promise<Chunk[]> {
    await this.resolvePositions()
    if (round.abandoned) return []
    const now = Date.now()
    const requested: Requested[] = []
    let nextRetryAtMs = Infinity
    for (const state of this.#assignment.states()) {
      if (state.fetchable(now)) requested.push({ state, epoch: state.epoch, fetchOffset: state.fetchOffset })
      else if (state.assigned && !state.paused && state.retryAtMs > now) nextRetryAtMs = Math.min(nextRetryAtMs, state.retryAtMs)
    }
    if (requested.length === 0) {
      await this.#idle(Math.min(nextRetryAtMs - now, this.#options.maxWaitMs))
      return []
    }
    // A fetch sent for an abandoned round may stay parked in the broker for its whole wait;
    // its answer will be dropped, so nothing waits for it.
    for (const [node, f] of this.#inFlight) if (f.round.abandoned) this.#inFlight.delete(node)
    const busy = new Set<PartitionState>()
    for (const f of this.#inFlight.values()) for (const r of f.list) busy.add(r.state)
    let groups: Map<number, Requested[]>
    try {
      groups = await this.#byReplica(requested.filter(r => !busy.has(r.state)))
    } catch (err) {
      await this.#requestFailed(err)
      return []
    }
    for (const [node, list] of groups) if (!this.#inFlight.has(node)) this.#inFlight.set(node, this.#send(round, node, list))
    if (this.#inFlight.size === 0) return []
    await Promise.race([...this.#inFlight.values()].map(f => f.settled))
    if (round.abandoned) {
      // A seek or an assignment change: what this round sent asked for the old state (a
      // later round may have sent its own fetches meanwhile; those stay).
      for (const [node, f] of this.#inFlight) if (f.round === round) this.#inFlight.delete(node)
      return []
    }
    const answered = [...this.#inFlight.values()].filter(f => f.done)
    for (const f of answered) this.#inFlight.delete(f.node)
    const ok = answered.filter(f => f.response !== null)
    const failed = answered.filter(f => f.response === null)
    for (const f of failed) this.#nodeFailed(f)
    if (ok.length === 0) {
      this.#caughtUp = false
      if (failed.length > 0) await this.#requestFailed(failed[0]!.error)
      return []
    }
    this.#failures = 0
    const chunks: Chunk[] = []
    const advances: Array<{ r: Requested, nextOffset: number }> = []
    for (const f of ok) await this.#decode(round, f.list, f.response!.body, f.response!.records, chunks, advances)
    if (round.abandoned) return []
    for (const { r, nextOffset } of advances) {
      if (r.state.epoch === r.epoch && r.state.assigned) r.state.fetchOffset = nextOffset
    }
    round.completed = true
    this.#caughtUp = chunks.length === 0 && failed.length === 0
    return chunks
  }

  /** Groups partitions by the broker to read them from (the leader, or the rack replica it named). */
  async #byReplica (requested: Requested[]): Promise<Map<number, Requested[]>> {
    const out = new Map<number, Requested[]>()
    const viaLeader: Array<Requested & { topic: string, partition: number }> = []
    for (const r of requested) {
      if (r.state.readReplica >= 0 && this.#cluster.metadata.brokers.has(r.state.readReplica)) {
        const list = out.get(r.state.readReplica) ?? []
        list.push(r)
        out.set(r.state.readReplica, list)
      } else {
        r.state.readReplica = -1
        viaLeader.push({ ...r, topic: r.state.topic, partition: r.state.partition })
      }
    }
    for (const [leader, list] of await this.#cluster.byLeader(viaLeader)) {
      const into = out.get(leader) ?? []
      for (const r of list) into.push({ state: r.state, epoch: r.epoch, fetchOffset: r.fetchOffset })
      out.set(leader, into)
    }
    return out
  }

  #send (round: FetchRound, node: number, list: Requested[]): NodeFetch {
    const f: NodeFetch = { node, round, list, done: false, response: null, error: null, settled: Promise.resolve() }
    const waitMs = this.#caughtUp ? this.#options.idleMaxWaitMs : this.#options.maxWaitMs
    f.settled = (async () => {
      try {
        const connection = await this.#cluster.nodeConnection(node)
        f.response = await connection.request('Fetch', this.#request(list, waitMs), {
          timeoutMs: this.#cluster.options.requestTimeoutMs + waitMs,
        })
      } catch (err) {
        f.error = err
      } finally {
        f.done = true
      }
    })()
    return f
  }

  /** A broker's fetch failed: its partitions read from the leader again, on fresh metadata when it moved. */
  #nodeFailed (f: NodeFetch): void {
    const stale = isStaleMetadataError(f.error)
    for (const r of f.list) {
      r.state.readReplica = -1
      if (stale) this.#cluster.metadata.invalidate(r.state.topic)
    }
  }

  /** Request-level retriable errors back off and retry, up to `retries` failures in a row. */
  async #requestFailed (err: unknown): Promise<void> {
    if (!isRetriable(err) || this.#failures >= this.#options.retry.retries || this.#stopped) throw err
    this.#cluster.logger.debug({ code: (err as SpoolError).code, failures: this.#failures }, `fetch retry: ${(err as Error).message}`)
    await this.#cluster.sleep(backoffMs(this.#failures++, this.#options.retry))
  }

  #request (requested: Requested[], maxWaitMs: number): RequestOf<'Fetch'> {
    const byTopic = new Map<string, Array<{ partition: number, fetchOffset: number, maxBytes: number }>>()
    for (const { state, fetchOffset } of requested) {
      let partitions = byTopic.get(state.topic)
      if (partitions === undefined) {
        partitions = []
        byTopic.set(state.topic, partitions)
      }
      partitions.push({ partition: state.partition, fetchOffset, maxBytes: state.maxBytes })
    }
    const o = this.#options
    return {
      maxWaitMs,
      minBytes: o.minBytes,
      maxBytes: o.maxBytes,
      isolationLevel: 0,
      rackId: o.rackId,
      topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
    }
  }

  /**
   * Decodes each partition's slice of the records section, in response order, into `chunks`
   * and `advances`. Positions move only at the end of the round, all at once, and only if it
   * was not abandoned meanwhile (a compressed batch makes decoding asynchronous).
   */
  async #decode (
    round: FetchRound, requested: Requested[], body: ResponseOf<'Fetch'>, records: Uint8Array,
    chunks: Chunk[], advances: Array<{ r: Requested, nextOffset: number }>,
  ): Promise<void> {
    if (round.abandoned) return
    const byKey = new Map<string, Requested>()
    for (const r of requested) byKey.set(partitionKey(r.state.topic, r.state.partition), r)
    let pos = 0
    for (const t of body.topics) {
      for (const p of t.partitions) {
        const slice = records.subarray(pos, pos + p.recordsBytes)
        pos += p.recordsBytes
        const r = byKey.get(partitionKey(t.topic, p.partition))
        if (r === undefined || r.state.epoch !== r.epoch || !r.state.assigned) continue
        const state = r.state
        if (p.errorCode !== 0) {
          this.#partitionError(state, p.errorCode, p.errorMessage, p.logStartOffset, p.highWatermark)
          continue
        }
        state.failures = 0
        state.highWatermark = p.highWatermark
        state.logStartOffset = p.logStartOffset
        // KIP-392: the leader named a replica in our rack; the next fetch goes there.
        if (p.preferredReadReplica >= 0) state.readReplica = p.preferredReadReplica
        if (slice.length === 0) continue
        const messages: Message[] = []
        const target = { topic: state.topic, partition: state.partition, fetchOffset: r.fetchOffset, checkCrcs: this.#options.checkCrcs }
        let result = decodeRecordsSection(slice, target, messages)
        if (result.compressedAt >= 0) {
          const rest = await decodeCompressedInto(slice, result.compressedAt, target, messages, DEFAULT_MAX_DECOMPRESSED_BYTES)
          result = { nextOffset: Math.max(result.nextOffset, rest.nextOffset), batches: result.batches + rest.batches, compressedAt: -1 }
        }
        if (result.batches === 0) {
          // The first batch did not fit in the partition's maxBytes: ask for more next time.
          state.maxBytes = Math.min(state.maxBytes * 2, Math.max(this.#options.maxBytes, state.maxBytes))
          this.#cluster.logger.warn({ topic: state.topic, partition: state.partition, maxBytes: state.maxBytes }, 'fetched a partial batch; raising maxBytes')
          continue
        }
        advances.push({ r, nextOffset: result.nextOffset })
        if (messages.length > 0) chunks.push({ state, epoch: r.epoch, messages, highWatermark: p.highWatermark })
      }
    }
  }

  #partitionError (state: PartitionState, errorCode: number, errorMessage: string | null, logStartOffset: number, highWatermark: number): void {
    const where = `topic "${state.topic}" partition ${state.partition}`
    if (errorCode === OFFSET_OUT_OF_RANGE) {
      const policy = this.#options.autoOffsetReset
      if (policy === 'none') {
        throw new OffsetOutOfRangeError(`offset ${state.fetchOffset} is out of range for ${where} (log start ${logStartOffset}, end ${highWatermark})`)
      }
      this.#cluster.logger.info({ topic: state.topic, partition: state.partition, offset: state.fetchOffset }, `offset out of range; resetting to ${policy}`)
      state.requestReset(policy === 'earliest' ? EARLIEST : LATEST)
      return
    }
    const error = errorCode === UNKNOWN_TOPIC
      ? new UnknownTopicOrPartitionError(`${where} does not exist`)
      : errorFromCode(errorCode, errorMessage ?? undefined)
    if (!error.retriable || state.failures >= this.#options.retry.retries) throw error
    if (isStaleMetadataError(error)) this.#cluster.metadata.invalidate(state.topic)
    state.readReplica = -1
    state.retryAtMs = Date.now() + backoffMs(state.failures++, this.#options.retry)
  }

  /** Waits until woken or `ms` passes (a round with nothing to fetch). */
  #idle (ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve()
    return new Promise(resolve => {
      const timer = setTimeout(done, Math.max(1, ms))
      function done (): void {
        clearTimeout(timer)
        resolve()
      }
      this.#wake = done
    })
  }
}
