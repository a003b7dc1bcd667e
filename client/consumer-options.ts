/**
 * The Consumer's options and the shapes its readers hand to the application (consumer.ts
 * says what they mean together: positions, groups, what counts as processed).
 */

import type { TopicPartition } from './assignment.js'
import type { AutoOffsetReset } from './fetcher.js'
import type { RevokedInfo } from './group.js'
import type { Message } from './message.js'
import type { RetryOptions } from './retry.js'

export interface ConsumerOptions {
  /** Join this consumer group: use subscribe() (not assign()); offsets are committed for the group. */
  groupId?: string
  /** Group: the coordinator evicts a member that has not heartbeaten for this long. Default 45000. */
  sessionTimeoutMs?: number
  /** Group: how long a revocation (onRevoked included) may take before the member is evicted. Default 60000. */
  rebalanceTimeoutMs?: number
  /**
   * Group: static membership. A member that comes back with the same instanceId within its
   * session timeout gets its partitions back and nothing moves; close() then leaves only
   * "temporarily" (the partitions wait for it until the session times out).
   */
  instanceId?: string
  /** Group: commit processed offsets every autoCommitIntervalMs, on revocation and on close(). Default true. */
  autoCommit?: boolean
  /** Group: default 5000. */
  autoCommitIntervalMs?: number
  /**
   * Where to start a partition without a position: newly assigned partitions (assign()), and
   * in a group partitions without a committed offset. Default latest.
   */
  fromBeginning?: boolean
  /**
   * Where to go when the position is outside the log (e.g. deleted by retention) and, in a
   * group, where a partition without a committed offset starts ('none': fail instead).
   * Default: earliest with fromBeginning, else latest.
   */
  autoOffsetReset?: AutoOffsetReset
  /**
   * The rack (or zone) this consumer runs in. In a cluster whose brokers name their racks,
   * the leader may send it to a replica in the same rack and it reads from there (KIP-392:
   * follower fetching, up to that replica's high watermark). Default none: read from leaders.
   */
  rackId?: string
  /**
   * Long-poll: how long the broker may hold a fetch with no data. Default 500, and 10,000 once
   * the consumer is caught up (a record that arrives answers the fetch at once either way);
   * a value set here is used throughout.
   */
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
  /** Called after partitions are added to the assignment (by assign() or by the group). */
  onAssigned?: (partitions: TopicPartition[]) => void | Promise<void>
  /**
   * Called when partitions leave the assignment: by assign(), or in a group after they were
   * no longer fetched and their processed offsets were committed (autoCommit) — the place to
   * commit your own progress. `lost: true` when the member was evicted: nothing was committed
   * and commits are refused (another member may own the partitions already).
   */
  onRevoked?: (partitions: TopicPartition[], info: RevokedInfo) => void | Promise<void>
}

export interface SubscribeOptions {
  /** Topic names (created when the broker auto-creates topics), or a RegExp matched against the topics that exist now. */
  topics: string | string[] | RegExp
  /** Overrides the consumer's fromBeginning for partitions without a committed offset. */
  fromBeginning?: boolean
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
  /** Marks the batch's messages up to `offset` processed (for eachBatchAutoResolve: false). */
  resolveOffset (offset: number): void
}

export interface RunOptions {
  eachMessage?: (payload: EachMessagePayload) => void | Promise<void>
  eachBatch?: (payload: EachBatchPayload) => void | Promise<void>
  /** eachBatch: the whole batch counts as processed when the callback resolves. Default true. */
  eachBatchAutoResolve?: boolean
}
