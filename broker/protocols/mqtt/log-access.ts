/**
 * What the gateway uses of the broker's services: the topic service (its log topics and
 * internal topics) and the partition service (appends, reads, wake-ups), with the
 * gateway's own caller for its internal writes. Every change the gateway makes to storage
 * goes through these.
 */

import { INTERNAL_CALLER } from '../../security/principal.js'
import type { PartitionService } from '../../services/partitions.js'
import { readRecords as readServiceRecords, replayTopic as replayServiceTopic, type RecordsRead } from '../../services/records.js'
import type { TopicService } from '../../services/topics.js'
import type { DecodedRecord } from '../../../protocol/record-batch/records.js'

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
