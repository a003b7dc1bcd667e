/**
 * ListOffsets for the consumer (start positions, seeks) and the admin: timestamp -2 is the
 * earliest offset (log start), -1 the latest (the high watermark: the next offset to be
 * written), T >= 0 the first offset whose record timestamp is >= T (-1 when none). Asked of
 * each partition's leader.
 */

import { ERROR_TABLE, UnknownTopicOrPartitionError, errorFromCode } from '../protocol/errors.js'
import type { RequestOf } from '../protocol/native/api-keys.js'
import { isRetriable, isStaleMetadataError, type Cluster } from './cluster.js'

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

/**
 * One ListOffsets round (each partition at most once), one request per partition leader,
 * sent together; a leader that moved (NOT_LEADER_OR_FOLLOWER, an unreachable broker) makes
 * the round start again on fresh metadata (retried with backoff). Offsets by "topic\0partition".
 */
function listOffsetsOnce (cluster: Cluster, queries: readonly OffsetQuery[]): Promise<Map<string, number>> {
  return cluster.retry(async () => {
    const found = new Map<string, number>()
    const byLeader = await cluster.byLeader(queries)
    await Promise.all([...byLeader].map(async ([leader, list]) => {
      try {
        for (const [key, offset] of await listOffsetsAt(cluster, leader, list)) found.set(key, offset)
      } catch (err) {
        if (isStaleMetadataError(err)) for (const q of list) cluster.metadata.invalidate(q.topic)
        throw err
      }
    }))
    return found
  }, { retryIf: err => isRetriable(err) && !(err instanceof UnknownTopicOrPartitionError) })
}

async function listOffsetsAt (cluster: Cluster, leader: number, queries: readonly OffsetQuery[]): Promise<Map<string, number>> {
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
  const { body: response } = await (await cluster.nodeConnection(leader)).request('ListOffsets', body)
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
