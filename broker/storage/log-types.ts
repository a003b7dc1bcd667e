/** The shapes PartitionLog's methods take and return (partition-log.ts has the behaviour). */

/** How close() went: whether the data reached the disk, and what could not be written. */
export interface CloseOutcome {
  /** Every appended batch was fsynced. */
  dataDurable: boolean
  /** Steps that failed ("producer snapshot: ENOSPC ..."); empty after a clean close. */
  problems: string[]
}

export interface AppendOptions {
  /** Written into every batch's partitionLeaderEpoch (single node: 0). */
  leaderEpoch?: number
}

export interface AppendResult {
  baseOffset: number
  lastOffset: number
  /** -1: CreateTime (LogAppendTime is not supported). */
  logAppendTimeMs: number
  logStartOffset: number
  /** The batch was already written by this producer; offsets are the original ones. */
  duplicate: boolean
  recordCount: number
  /** Bytes written (0 for a duplicate). */
  bytes: number
}

export interface ReadOptions {
  /** Batches whose last offset is at or above this are not returned (default: high watermark). */
  maxOffset?: number
  /** KIP-74: return the first batch even if it is larger than maxBytes (default true). */
  minOneBatch?: boolean
}

export interface ReadResult {
  /** Whole batches as on disk (the first one contains the requested offset); may be empty. */
  bytes: Buffer
  /** baseOffset of the first returned batch (the requested offset when empty). */
  firstOffset: number
  /** The offset to read next: after the last returned batch (or past a gap). */
  nextOffset: number
  highWatermark: number
  logStartOffset: number
  logEndOffset: number
}
