/**
 * Admin: topics and offsets. Every call is one request to the bootstrap broker, retried on
 * retriable errors; a per-topic error is thrown as its typed error, naming the topic.
 */

import { ERROR_TABLE, UnknownTopicOrPartitionError, errorFromCode, type SpoolError } from '../protocol/errors.js'
import type { Cluster } from './cluster.js'
import { EARLIEST, LATEST, listOffsets, type OffsetAnswer, type OffsetQuery } from './offsets.js'

export type TopicConfig = Record<string, number | string>

export interface NewTopic {
  topic: string
  /** Default: the broker's default partition count. */
  partitions?: number
  /** Broker topic config names: retentionMs, retentionBytes, cleanupPolicy, segmentBytes, ... */
  config?: TopicConfig
}

export interface PartitionDescription {
  partition: number
  logStartOffset: number
  logEndOffset: number
  highWatermark: number
  sizeBytes: number
}

export interface TopicDescription {
  topic: string
  internal: boolean
  config: TopicConfig
  partitions: PartitionDescription[]
}

export interface TopicOffsets {
  partition: number
  /** The earliest offset (log start). */
  low: number
  /** The latest offset (high watermark: the next offset to be written). */
  high: number
}

const UNKNOWN_TOPIC = ERROR_TABLE.UNKNOWN_TOPIC_OR_PARTITION.code

function topicError (topic: string, errorCode: number, errorMessage: string | null): SpoolError {
  if (errorCode === UNKNOWN_TOPIC) return new UnknownTopicOrPartitionError(`topic "${topic}" does not exist`)
  const error = errorFromCode(errorCode, errorMessage ?? undefined)
  return errorMessage === null || errorMessage.includes(topic) ? error : errorFromCode(errorCode, `topic "${topic}": ${error.message}`)
}

export class Admin {
  readonly #cluster: Cluster

  /** @internal Created by `client.admin()`. */
  constructor (cluster: Cluster) {
    this.#cluster = cluster
  }

  /**
   * Creates topics; resolves with each topic's partition count, or throws the first topic's
   * error (e.g. TopicAlreadyExistsError).
   */
  async createTopics (topics: NewTopic[], options: { validateOnly?: boolean } = {}): Promise<Array<{ topic: string, partitions: number }>> {
    const { body } = await this.#cluster.request('CreateTopics', {
      topics: topics.map(t => ({ topic: t.topic, partitions: t.partitions ?? -1, config: t.config ?? {} })),
      validateOnly: options.validateOnly ?? false,
    })
    for (const t of body.topics) {
      if (t.errorCode !== 0) throw topicError(t.topic, t.errorCode, t.errorMessage)
      this.#cluster.metadata.invalidate(t.topic)
    }
    return body.topics.map(t => ({ topic: t.topic, partitions: t.partitions }))
  }

  /** Deletes topics and their data; throws the first topic's error (e.g. unknown topic). */
  async deleteTopics (topics: string[]): Promise<void> {
    const { body } = await this.#cluster.request('DeleteTopics', { topics })
    for (const t of body.topics) {
      this.#cluster.metadata.invalidate(t.topic)
      if (t.errorCode !== 0) throw topicError(t.topic, t.errorCode, t.errorMessage)
    }
  }

  /** Names of all topics (internal ones only with includeInternal), sorted. */
  async listTopics (options: { includeInternal?: boolean } = {}): Promise<string[]> {
    const body = await this.#cluster.metadata.refresh(null)
    return body.topics
      .filter(t => t.errorCode === 0 && (options.includeInternal === true || !t.internal))
      .map(t => t.topic)
      .sort()
  }

  /** Config and per-partition offsets and sizes; all topics when none are named. */
  async describeTopics (topics?: string[], options: { includeInternal?: boolean } = {}): Promise<TopicDescription[]> {
    const { body } = await this.#cluster.request('DescribeTopics', {
      topics: topics ?? null,
      includeInternal: options.includeInternal ?? false,
    })
    return body.topics.map(t => {
      if (t.errorCode !== 0) throw topicError(t.topic, t.errorCode, t.errorMessage)
      return {
        topic: t.topic,
        internal: t.internal,
        config: t.config,
        partitions: [...t.partitions].sort((a, b) => a.partition - b.partition),
      }
    })
  }

  /** Offsets by timestamp: -2 earliest, -1 latest, T >= 0 the first offset at or after T (-1: none). */
  listOffsets (queries: OffsetQuery[]): Promise<OffsetAnswer[]> {
    return listOffsets(this.#cluster, queries)
  }

  /** Earliest and latest offset of every partition of a topic. */
  async fetchTopicOffsets (topic: string): Promise<TopicOffsets[]> {
    const info = await this.#cluster.metadata.topic(topic)
    const queries: OffsetQuery[] = []
    for (let partition = 0; partition < info.partitions; partition++) {
      queries.push({ topic, partition, timestamp: EARLIEST }, { topic, partition, timestamp: LATEST })
    }
    const answers = await listOffsets(this.#cluster, queries)
    const result: TopicOffsets[] = []
    for (let i = 0; i < answers.length; i += 2) {
      result.push({ partition: answers[i]!.partition, low: answers[i]!.offset, high: answers[i + 1]!.offset })
    }
    return result
  }

  /** For each partition of a topic, the first offset with timestamp >= `timestamp` (-1: none). */
  async fetchTopicOffsetsByTimestamp (topic: string, timestamp: number): Promise<Array<{ partition: number, offset: number }>> {
    const info = await this.#cluster.metadata.topic(topic)
    const queries: OffsetQuery[] = []
    for (let partition = 0; partition < info.partitions; partition++) queries.push({ topic, partition, timestamp })
    return (await listOffsets(this.#cluster, queries)).map(a => ({ partition: a.partition, offset: a.offset }))
  }
}
