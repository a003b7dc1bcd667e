/**
 * ListOffsets for the consumer (start positions, seeks) and the admin: timestamp -2 is the
 * earliest offset (log start), -1 the latest (the high watermark: the next offset to be
 * written), T >= 0 the first offset whose record timestamp is >= T (-1 when none).
 */

import { ERROR_TABLE, UnknownTopicOrPartitionError, errorFromCode } from '../protocol/errors.js'
import type { RequestOf } from '../protocol/native/api-keys.js'
import type { Cluster } from './cluster.js'

export const EARLIEST = -2
export const LATEST = -1

export interface OffsetQuery {
  topic: string
  partition: number
  /** -2 earliest, -1 latest, or a timestamp in ms. */
  timestamp: number
}

export interface OffsetAnswer extends OffsetQuery {
  /** The offset found; -1 for a timestamp with no record at or after it. */
  offset: number
}

/**
 * Looks up offsets; a per-partition error throws its typed error. A partition asked for
 * twice (earliest and latest) goes into separate requests, sent together.
 */
export async function listOffsets (cluster: Cluster, queries: readonly OffsetQuery[]): Promise<OffsetAnswer[]> {
  const rounds: Array<Map<string, OffsetQuery>> = []
  for (const q of queries) {
    const key = `${q.topic}\u0000${q.partition}`
    let round = rounds.find(r => !r.has(key))
    if (round === undefined) {
      round = new Map()
      rounds.push(round)
    }
    round.set(key, q)
  }
  const found = await Promise.all(rounds.map(round => listOffsetsOnce(cluster, [...round.values()])))
  return queries.map(q => {
    const key = `${q.topic}\u0000${q.partition}`
    const offset = found[rounds.findIndex(r => r.get(key) === q)]!.get(key)
    if (offset === undefined) throw new UnknownTopicOrPartitionError(`no offset returned for topic "${q.topic}" partition ${q.partition}`)
    return { topic: q.topic, partition: q.partition, timestamp: q.timestamp, offset }
  })
}

/** One ListOffsets request (each partition at most once); offsets by "topic\0partition". */
async function listOffsetsOnce (cluster: Cluster, queries: readonly OffsetQuery[]): Promise<Map<string, number>> {
  const byTopic = new Map<string, Array<{ partition: number, timestamp: number }>>()
  for (const q of queries) {
    let partitions = byTopic.get(q.topic)
    if (partitions === undefined) {
      partitions = []
      byTopic.set(q.topic, partitions)
    }
    partitions.push({ partition: q.partition, timestamp: q.timestamp })
  }
  const body: RequestOf<'ListOffsets'> = { isolationLevel: 0, topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) }
  const { body: response } = await cluster.request('ListOffsets', body)
  const found = new Map<string, number>()
  for (const t of response.topics) {
    for (const p of t.partitions) {
      if (p.errorCode === ERROR_TABLE.UNKNOWN_TOPIC_OR_PARTITION.code) {
        throw new UnknownTopicOrPartitionError(`topic "${t.topic}" partition ${p.partition} does not exist`)
      }
      if (p.errorCode !== 0) throw errorFromCode(p.errorCode, p.errorMessage ?? undefined)
      found.set(`${t.topic}\u0000${p.partition}`, p.offset)
    }
  }
  return found
}
