/**
 * Partitions: append, read, offsets — the only code that writes to a partition log, for
 * every protocol (native and Kafka produce, MQTT publishes, the group coordinator's offset
 * commits, the MQTT gateway's internal topics). Every call takes the Caller and passes the
 * one AccessPolicy; appends count traffic and wake the fetches waiting for that partition,
 * whichever protocol produced and whichever waits.
 *
 * Cluster mode (docs/cluster.md): with a ReplicaGate (replication.ts) a client write or read
 * of a partition this broker does not lead is NOT_LEADER_OR_FOLLOWER, acks=all waits for
 * every in-sync replica (`sync`), and waiting fetches wake when the high watermark moves
 * (`notifyReadable`, called by the replica manager) rather than on append. The broker's own
 * readers (INTERNAL_CALLER: the group coordinator, the MQTT gateway) read any local replica
 * up to its high watermark, and their appends to a partition led elsewhere are forwarded to
 * its leader (an AppendForwarder: answered with baseOffset -1, `sync` waits for the leader).
 * Without a gate (one broker) nothing of this applies.
 *
 * Hot path: append hands the payload (whole batches, validated and re-offset in place by
 * storage) to the log without copying or decoding records; read returns whole batches as
 * they lie on disk. The traffic counters are plain numbers (observability/metrics.ts).
 */

import { InvalidTimestampError } from '../../protocol/errors.js'
import { OFFSET_RECORDS_COUNT } from '../../protocol/record-batch/header.js'
import { forEachBatch } from '../../protocol/record-batch/records.js'
import type { BrokerMetrics } from '../observability/metrics.js'
import { INTERNAL_CALLER, type Caller } from '../security/principal.js'
import type { LogManager } from '../storage/log-manager.js'
import type { AppendResult, ReadResult } from '../storage/partition-log.js'
import type { AccessPolicy } from './access.js'
import type { AppendForwarder, ReplicaGate, RequiredAcks } from './replication.js'

export type { AppendResult, ReadResult }

export interface PartitionAppendOptions {
  /** The producer's acks (default 1): acks=all checks minInsyncReplicas before writing (cluster mode). */
  acks?: RequiredAcks
}

export interface PartitionReadOptions {
  /** A rack-aware consumer (KIP-392) may read a follower replica (cluster mode). */
  followerRead?: boolean
}

/** How long sync() waits for the in-sync replicas when the caller names no timeout. */
const DEFAULT_COMMIT_TIMEOUT_MS = 30_000

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
  readonly #replication: ReplicaGate | null
  readonly #forwarder: AppendForwarder | null
  /** Partitions with forwarded appends not yet flushed. */
  readonly #forwarded = new Set<string>()

  constructor (options: { logs: LogManager, metrics: BrokerMetrics, access: AccessPolicy, replication?: ReplicaGate | null, forwarder?: AppendForwarder | null }) {
    this.#logs = options.logs
    this.#metrics = options.metrics
    this.#access = options.access
    this.#replication = options.replication ?? null
    this.#forwarder = options.forwarder ?? null
  }

  /** True in cluster mode (partitions have leaders elsewhere). */
  get replicated (): boolean { return this.#replication !== null }

  /**
   * Appends a payload of one or more whole batches to a partition; throws the storage's
   * named errors with the log unchanged. Synchronous: when it returns, the bytes are in the
   * log file (acks=1).
   */
  append (caller: Caller, topic: string, partition: number, payload: Uint8Array, options: PartitionAppendOptions = {}): AppendResult {
    this.#access.check(caller, 'write', 'topic', topic)
    const log = this.#logs.partition(topic, partition)
    const replication = this.#replication
    if (replication !== null && caller === INTERNAL_CALLER && this.#forwarder !== null && !replication.leads(topic, partition)) {
      this.#forwarder.forward(topic, partition, payload)
      this.#forwarded.add(`${topic}\u0000${partition}`)
      return { baseOffset: -1, lastOffset: -1, logAppendTimeMs: -1, logStartOffset: -1, duplicate: false, recordCount: countRecords(payload), bytes: payload.length }
    }
    replication?.checkWrite(topic, partition, options.acks ?? 1)
    const result = log.append(payload)
    if (!result.duplicate) {
      const traffic = this.#metrics.topic(topic)
      traffic.bytesIn += payload.length
      traffic.recordsIn += result.recordCount
      if (replication === null) this.#wake(topic, partition)
      else replication.appended(topic, partition)
    }
    return result
  }

  /**
   * acks=all: resolves when every batch appended to the partition so far is fsynced (group
   * commit) and, in cluster mode, held by every in-sync replica (at most `timeoutMs`).
   */
  sync (topic: string, partition: number, timeoutMs = DEFAULT_COMMIT_TIMEOUT_MS): Promise<void> {
    const log = this.#logs.partition(topic, partition)
    if (this.#replication === null) return log.sync()
    const key = `${topic}\u0000${partition}`
    if (this.#forwarder !== null && this.#forwarded.has(key)) {
      this.#forwarded.delete(key)
      const flushed = this.#forwarder.flush(topic, partition)
      if (!this.#replication.leads(topic, partition)) return flushed
      return flushed.then(() => this.sync(topic, partition, timeoutMs))
    }
    const committed = this.#replication.waitCommitted(topic, partition, log.logEndOffset, timeoutMs)
    return Promise.all([log.sync(), committed]).then(() => {})
  }

  /**
   * Reads whole batches from `offset` (below the high watermark), counting what goes out.
   * Cluster mode: only on the leader (or a follower for `followerRead`), except for the
   * broker's own readers.
   */
  async read (caller: Caller, topic: string, partition: number, offset: number, maxBytes: number, minOneBatch: boolean, options: PartitionReadOptions = {}): Promise<ReadResult> {
    this.#access.check(caller, 'read', 'topic', topic)
    const log = this.#logs.partition(topic, partition)
    if (this.#replication !== null && caller !== INTERNAL_CALLER) this.#replication.checkRead(topic, partition, options.followerRead ?? false)
    const result = await log.read(offset, maxBytes, { minOneBatch })
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
    // Cluster mode: on the leader only (NOT_LEADER_OR_FOLLOWER elsewhere); followers follow.
    this.#replication?.checkWrite(topic, partition, 1)
    log.deleteRecordsBefore(offset === -1 ? log.highWatermark : offset)
    return log.logStartOffset
  }

  /**
   * Cluster mode, on a follower: appends the leader's batches exactly as they are (its
   * offsets, epochs and producer fields; PartitionLog.appendAsFollower). Called by the
   * replica fetcher only, which is the broker itself (no access check); readers wake when
   * the replica manager moves the high watermark.
   */
  appendReplica (topic: string, partition: number, payload: Uint8Array): AppendResult {
    return this.#logs.partition(topic, partition).appendAsFollower(payload)
  }

  /**
   * Cluster mode, on the leader: whole batches from `offset` up to the log end (past the
   * high watermark), for a follower's fetch.
   */
  readReplica (topic: string, partition: number, offset: number, maxBytes: number): Promise<ReadResult> {
    const log = this.#logs.partition(topic, partition)
    return log.read(offset, maxBytes, { maxOffset: log.logEndOffset, minOneBatch: true })
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
    if (this.#replication !== null && caller !== INTERNAL_CALLER) this.#replication.checkRead(topic, partition, false)
    if (timestamp === -1) return { offset: log.highWatermark, timestamp: -1 }
    if (timestamp === -2) return { offset: log.logStartOffset, timestamp: -1 }
    if (timestamp < 0) throw new InvalidTimestampError(`timestamp ${timestamp} is not -1 (latest), -2 (earliest) or a time`)
    return log.offsetForTimestamp(timestamp)
  }

  /**
   * Calls `fn` once when any of the partitions next has new records to read — an append on
   * one broker, the high watermark moving in a cluster — (or never); returns a function that
   * cancels the subscription.
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

  /** KIP-392: the replica a consumer in `rack` should fetch from (-1: the leader; always -1 on one broker). */
  preferredReadReplica (topic: string, partition: number, rack: string): number {
    return this.#replication === null || rack === '' ? -1 : this.#replication.preferredReadReplica(topic, partition, rack)
  }

  /**
   * Cluster mode: the partition's high watermark moved (the replica manager calls this), so
   * readers waiting for it (onNextAppend) go on.
   */
  notifyReadable (topic: string, partition: number): void {
    this.#wake(topic, partition)
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
