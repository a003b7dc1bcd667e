/**
 * Reading records decoded, for the broker's own consumers of its logs (the group
 * coordinator's offsets, the MQTT gateway's sessions, retained messages and deliveries):
 * whole batches through the partition service, decoded with the one RecordBatch decoder
 * (protocol/record-batch/records.ts), control batches skipped, the records below the
 * requested offset in the first batch dropped. Also the replay of a compacted internal
 * topic from its start, which rebuilds state on start-up, and (cluster mode) of one
 * partition up to its log end, which a new leader of the partition rebuilds its state from.
 */

import { OffsetOutOfRangeError } from '../../protocol/errors.js'
import { decodeBatchAsync, forEachBatch, isControlBatch, type DecodedRecord } from '../../protocol/record-batch/records.js'
import { INTERNAL_CALLER, type Caller } from '../security/principal.js'
import type { PartitionService } from './partitions.js'
import type { TopicService } from './topics.js'

export interface RecordsRead {
  /** Records at or after the requested offset (control batches skipped). */
  records: DecodedRecord[]
  /** Where to read next. */
  nextOffset: number
}

/**
 * Reads and decodes records from `offset`. An offset below the log start is moved up to it
 * (retention or compaction removed what was there).
 */
export async function readRecords (partitions: PartitionService, caller: Caller, topic: string, partition: number, offset: number, maxBytes: number): Promise<RecordsRead> {
  let from = offset
  let read: { bytes: Uint8Array, nextOffset: number }
  try {
    read = await partitions.read(caller, topic, partition, from, maxBytes, true)
  } catch (err) {
    if (!(err instanceof OffsetOutOfRangeError)) throw err
    const start = partitions.offsets(topic, partition).logStartOffset
    if (from >= start) throw err
    from = start
    read = await partitions.read(caller, topic, partition, from, maxBytes, true)
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

/**
 * Replays a whole (compacted) topic from its start into `apply`, partition by partition, up
 * to each partition's high watermark at the time it is reached. Returns the records applied.
 */
export async function replayTopic (topics: TopicService, partitions: PartitionService, topic: string, apply: (r: DecodedRecord, partition: number) => void): Promise<number> {
  const count = topics.partitionCount(topic)
  let applied = 0
  for (let p = 0; p < count; p++) {
    const offsets = partitions.offsets(topic, p)
    const end = offsets.highWatermark
    let offset = offsets.logStartOffset
    while (offset < end) {
      const { records, nextOffset } = await readRecords(partitions, INTERNAL_CALLER, topic, p, offset, 1024 * 1024)
      for (const r of records) {
        if (r.offset >= end) break
        apply(r, p)
        applied++
      }
      if (nextOffset <= offset) break
      offset = nextOffset
    }
  }
  return applied
}

/**
 * Replays one partition from its start up to its log end offset (past the high watermark:
 * a broker that just became the partition's leader holds every committed record and its log
 * is the one that will be committed) into `apply`. Returns the records applied.
 */
export async function replayPartitionToEnd (partitions: PartitionService, topic: string, partition: number, apply: (r: DecodedRecord) => void): Promise<number> {
  const { logStartOffset, logEndOffset: end } = partitions.offsets(topic, partition)
  let applied = 0
  let offset = logStartOffset
  while (offset < end) {
    const read = await partitions.readReplica(topic, partition, offset, 1024 * 1024)
    const positions: number[] = []
    forEachBatch(read.bytes, pos => { positions.push(pos) })
    for (const pos of positions) {
      const batch = await decodeBatchAsync(read.bytes, pos)
      if (isControlBatch(batch.header)) continue
      for (const r of batch.records) {
        if (r.offset < offset || r.offset >= end) continue
        apply(r)
        applied++
      }
    }
    if (read.nextOffset <= offset) break
    offset = read.nextOffset
  }
  return applied
}
