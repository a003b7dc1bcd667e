/**
 * Topic metadata cache: partition count and leader per partition, and the brokers'
 * addresses by node id. Loaded on demand (a producer's first send to a topic, a consumer's
 * assign) and refreshed when a request reports UNKNOWN_TOPIC_OR_PARTITION; concurrent
 * loads of the same topic share one request.
 */

import { ERROR_TABLE, UnknownTopicOrPartitionError, errorFromCode } from '../protocol/errors.js'
import type { RequestOf, ResponseOf } from '../protocol/native/api-keys.js'

/** What the cache needs of the cluster connection (cluster.ts): a Metadata request, and retries. */
export interface MetadataSource {
  request (api: 'Metadata', body: RequestOf<'Metadata'>): Promise<{ body: ResponseOf<'Metadata'> }>
  retry<T> (fn: (attempt: number) => Promise<T>, options?: { retries?: number, retryIf?: (err: unknown) => boolean }): Promise<T>
}

const UNKNOWN_TOPIC = ERROR_TABLE.UNKNOWN_TOPIC_OR_PARTITION.code

export interface TopicInfo {
  topic: string
  partitions: number
  /** Leader node id per partition (index = partition). */
  leaders: number[]
}

export interface LoadOptions {
  /** Let the broker create unknown topics (its autoCreateTopics setting decides). */
  allowAutoCreate: boolean
}

export class MetadataCache {
  readonly #cluster: MetadataSource
  readonly #topics = new Map<string, TopicInfo>()
  readonly #loading = new Map<string, Promise<TopicInfo>>()
  /** nodeId -> "host:port" as the broker advertises it. */
  readonly brokers = new Map<number, string>()

  constructor (cluster: MetadataSource) {
    this.#cluster = cluster
  }

  /** The cached topic, or undefined (synchronous: the producer's hot path). */
  get (topic: string): TopicInfo | undefined {
    return this.#topics.get(topic)
  }

  /** Forgets a topic so the next `topic()` asks the broker again. */
  invalidate (topic: string): void {
    this.#topics.delete(topic)
  }

  /**
   * The topic's metadata, from the cache or the broker. An unknown topic is an
   * UnknownTopicOrPartitionError "topic "x" does not exist" (retried a few times when
   * auto-creation is allowed, since creation may be racing).
   */
  topic (topic: string, options: LoadOptions = { allowAutoCreate: false }): Promise<TopicInfo> {
    const cached = this.#topics.get(topic)
    if (cached !== undefined) return Promise.resolve(cached)
    let loading = this.#loading.get(topic)
    if (loading === undefined) {
      loading = this.#load(topic, options).finally(() => this.#loading.delete(topic))
      this.#loading.set(topic, loading)
    }
    return loading
  }

  /** Fetches and caches every listed topic (all topics when null); returns the response. */
  async refresh (topics: string[] | null, allowAutoCreate = false): Promise<ResponseOf<'Metadata'>> {
    const { body } = await this.#cluster.request('Metadata', { topics, allowAutoCreate })
    this.brokers.clear()
    for (const b of body.brokers) this.brokers.set(b.nodeId, `${b.host}:${b.port}`)
    for (const t of body.topics) {
      if (t.errorCode !== 0) {
        this.#topics.delete(t.topic)
        continue
      }
      const leaders = new Array<number>(t.partitions.length).fill(-1)
      for (const p of t.partitions) leaders[p.partition] = p.leader
      this.#topics.set(t.topic, { topic: t.topic, partitions: t.partitions.length, leaders })
    }
    return body
  }

  async #load (topic: string, options: LoadOptions): Promise<TopicInfo> {
    // cluster.request already retries the request itself; retrying the topic's own error
    // only makes sense while auto-creation may be in progress.
    return this.#cluster.retry(async () => {
      const body = await this.refresh([topic], options.allowAutoCreate)
      const entry = body.topics.find(t => t.topic === topic)
      const info = this.#topics.get(topic)
      if (entry !== undefined && entry.errorCode === 0 && info !== undefined && info.partitions > 0) return info
      const code = entry?.errorCode ?? UNKNOWN_TOPIC
      if (code === UNKNOWN_TOPIC) throw new UnknownTopicOrPartitionError(`topic "${topic}" does not exist`)
      throw errorFromCode(code, entry?.errorMessage ?? undefined)
    }, { retries: options.allowAutoCreate ? undefined : 0, retryIf: err => err instanceof UnknownTopicOrPartitionError })
  }
}
