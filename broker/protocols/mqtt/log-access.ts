/**
 * What the gateway needs from the broker's PartitionService (broker/services/partitions.ts), as a
 * narrow structural interface, so the gateway depends on nothing else of the broker (tests
 * run it over the real storage engine without the rest: tests/helpers/disk-log.ts).
 */

import { OffsetOutOfRangeError } from '../../../protocol/errors.js'
import { decodeBatchAsync, forEachBatch, isControlBatch, type DecodedRecord } from '../../../protocol/record-batch/records.js'

export interface LogAccess {
  /** Appends whole batches synchronously (acks=1 when it returns); throws named errors. */
  append (topic: string, partition: number, payload: Uint8Array): { baseOffset: number, lastOffset: number }
  /** Resolves once everything appended so far is fsynced. */
  sync (topic: string, partition: number): Promise<void>
  /** Whole batches from the one containing `offset`. */
  read (topic: string, partition: number, offset: number, maxBytes: number, minOneBatch: boolean): Promise<{ bytes: Uint8Array, nextOffset: number }>
  /** Calls `fn` once on the next append to any of the partitions; returns a cancel function. */
  onNextAppend (partitions: ReadonlyArray<readonly [string, number]>, fn: () => void): () => void
  readonly logs: {
    hasTopic (name: string): boolean
    topic (name: string): { partitions: number } | undefined
    createTopic (name: string, options: { partitions: number, config?: { cleanupPolicy: 'compact' }, internal?: boolean }): Promise<unknown>
    partition (topic: string, partition: number): { readonly logStartOffset: number, readonly logEndOffset: number, readonly highWatermark: number }
  }
}

/** Creates a topic unless it exists; returns its partition count. */
export async function ensureTopic (log: LogAccess, name: string, partitions: number, compact: boolean): Promise<number> {
  if (!log.logs.hasTopic(name)) {
    await log.logs.createTopic(name, compact ? { partitions, config: { cleanupPolicy: 'compact' }, internal: name.startsWith('__') } : { partitions })
  }
  return log.logs.topic(name)?.partitions ?? partitions
}

export interface RecordsRead {
  /** Records at or after the requested offset (control batches skipped). */
  records: DecodedRecord[]
  /** Where to read next. */
  nextOffset: number
}

/**
 * Reads and decodes records from `offset` (skipping the records below it in the first
 * batch). An offset below the log start is moved up to it.
 */
export async function readRecords (log: LogAccess, topic: string, partition: number, offset: number, maxBytes: number): Promise<RecordsRead> {
  let from = offset
  let read: { bytes: Uint8Array, nextOffset: number }
  try {
    read = await log.read(topic, partition, from, maxBytes, true)
  } catch (err) {
    if (!(err instanceof OffsetOutOfRangeError)) throw err
    const start = log.logs.partition(topic, partition).logStartOffset
    if (from >= start) throw err
    from = start
    read = await log.read(topic, partition, from, maxBytes, true)
  }
  const records: DecodedRecord[] = []
  const positions: number[] = []
  forEachBatch(read.bytes, pos => { positions.push(pos) })
  for (const pos of positions) {
    const batch = await decodeBatchAsync(read.bytes, pos)
    if (isControlBatch(batch.header)) continue
    for (const r of batch.records) if (r.offset >= from) records.push(r)
  }
  return { records, nextOffset: Math.max(read.nextOffset, from) }
}

/** Replays a whole (compacted) topic from its start into `apply`, partition by partition. */
export async function replayTopic (log: LogAccess, topic: string, apply: (r: DecodedRecord) => void): Promise<number> {
  const partitions = log.logs.topic(topic)?.partitions ?? 0
  let count = 0
  for (let p = 0; p < partitions; p++) {
    const end = log.logs.partition(topic, p).highWatermark
    let offset = log.logs.partition(topic, p).logStartOffset
    while (offset < end) {
      const { records, nextOffset } = await readRecords(log, topic, p, offset, 1024 * 1024)
      for (const r of records) {
        apply(r)
        count++
      }
      if (nextOffset <= offset) break
      offset = nextOffset
    }
  }
  return count
}
