/**
 * What the gateway uses of the broker's services: the topic service (its log topics and
 * internal topics) and the partition service (appends, reads, wake-ups), with the
 * gateway's own caller for its internal writes. Every change the gateway makes to storage
 * goes through these.
 */

import { OffsetOutOfRangeError } from '../../../protocol/errors.js'
import { decodeBatchAsync, forEachBatch, isControlBatch, type DecodedRecord } from '../../../protocol/record-batch/records.js'
import { INTERNAL_CALLER } from '../../security/principal.js'
import type { PartitionService } from '../../services/partitions.js'
import { readRecords as readServiceRecords, replayTopic as replayServiceTopic, type RecordsRead } from '../../services/records.js'
import type { TopicService } from '../../services/topics.js'
import type { ReadBudget } from './read-budget.js'

export interface LogAccess {
  readonly topics: TopicService
  readonly partitions: PartitionService
}

export type { RecordsRead }

/** Creates one of the gateway's topics unless it exists; returns its partition count. */
export async function ensureTopic (log: LogAccess, name: string, partitions: number, compact: boolean): Promise<number> {
  return (await log.topics.createInternal(name, { partitions, compact })).partitions
}

/** Appends whole batches synchronously (acks=1 when it returns); throws named errors. */
export function append (log: LogAccess, topic: string, partition: number, payload: Uint8Array): { baseOffset: number, lastOffset: number } {
  return log.partitions.append(INTERNAL_CALLER, topic, partition, payload)
}

/** Reads and decodes records from `offset` (an offset below the log start moves up to it). */
export function readRecords (log: LogAccess, topic: string, partition: number, offset: number, maxBytes: number): Promise<RecordsRead> {
  return readServiceRecords(log.partitions, INTERNAL_CALLER, topic, partition, offset, maxBytes)
}

/** Replays a whole (compacted) topic from its start into `apply`, partition by partition. */
export function replayTopic (log: LogAccess, topic: string, apply: (r: DecodedRecord) => void): Promise<number> {
  return replayServiceTopic(log.topics, log.partitions, topic, r => apply(r))
}

/** Records read back under the read budget (read-budget.ts): give `heldBytes` back when done with them. */
export interface BudgetedRead {
  records: DecodedRecord[]
  /** Where to read next. */
  nextOffset: number
  /** Bytes taken from the budget for this read (the buffer and the decoded records). */
  heldBytes: number
}

/**
 * What a decoded record costs in memory beyond its bytes (the record, its key and value views,
 * its header objects, keys and views), for the budget: measured with `--expose-gc` over 100,000
 * decoded MQTT records of 100-byte payloads (two headers each), 621 bytes of heap per record.
 */
export const DECODED_RECORD_BYTES = 640

/**
 * Reads and decodes whole batches from `offset` with at most the bytes the budget grants
 * (the first batch is returned whole even when larger; the account then holds its real size).
 * An offset below the log start moves up to it. `perRecordBytes` is what the caller keeps of a
 * record while it holds the read (less when it keeps a leaner form). The storage sizes its read buffer to what the
 * segment holds past `offset`, never to more than the grant plus one index interval.
 */
export async function readBudgeted (log: LogAccess, budget: ReadBudget, topic: string, partition: number, offset: number, maxBytes: number, perRecordBytes = DECODED_RECORD_BYTES): Promise<BudgetedRead> {
  const granted = await budget.take(maxBytes)
  let held = granted
  try {
    let from = offset
    let read: { bytes: Uint8Array, nextOffset: number }
    try {
      read = await log.partitions.read(INTERNAL_CALLER, topic, partition, from, granted, true)
    } catch (err) {
      if (!(err instanceof OffsetOutOfRangeError)) throw err
      const start = log.partitions.offsets(topic, partition).logStartOffset
      if (from >= start) throw err
      from = start
      read = await log.partitions.read(INTERNAL_CALLER, topic, partition, from, granted, true)
    }
    const records: DecodedRecord[] = []
    const positions: number[] = []
    forEachBatch(read.bytes, pos => { positions.push(pos) })
    for (const pos of positions) {
      const batch = await decodeBatchAsync(read.bytes, pos)
      if (isControlBatch(batch.header)) continue
      for (const r of batch.records) if (r.offset >= from) records.push(r)
    }
    held = budget.adjust(granted, read.bytes.length + records.length * perRecordBytes)
    return { records, nextOffset: Math.max(read.nextOffset, from), heldBytes: held }
  } catch (err) {
    budget.give(held)
    throw err
  }
}
