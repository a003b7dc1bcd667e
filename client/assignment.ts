/**
 * The partitions a consumer reads and where it is in each. `consumer.assign()` drives it
 * today; issue 4's group coordinator will drive the same two calls (`add` what it assigns,
 * `remove` what it revokes) and commit each partition's `processedOffset`.
 *
 * Offsets kept per partition (each the offset of the NEXT record, as Kafka commits):
 *   fetchOffset      the next offset to fetch (ahead of `position` by whatever is fetched
 *                    but not yet handed to the application: at most one prefetched response)
 *   position         after the last message handed to the application
 *   processedOffset  after the last message whose handling finished (run(): the callback
 *                    resolved; the iterator: the application asked for the next message)
 *
 * `epoch` increases whenever buffered or in-flight data of the partition becomes invalid
 * (seek, pause, reset, revoke); fetched data carries the epoch it was requested at and is
 * dropped when they differ.
 */

export interface TopicPartition {
  topic: string
  partition: number
}

export class PartitionState implements TopicPartition {
  readonly topic: string
  readonly partition: number
  fetchOffset = -1
  position = -1
  processedOffset = -1
  /** A pending start-position lookup: -2 earliest, -1 latest, T >= 0 a timestamp; null when known. */
  reset: number | null
  highWatermark = -1
  logStartOffset = -1
  paused = false
  assigned = true
  epoch = 0
  /** Rises on seek and reset only: progress made before one is not "processed" any more. */
  seeks = 0
  /** Backoff after a retriable partition error. */
  retryAtMs = 0
  failures = 0
  /** Per-partition fetch size; doubled when a first batch does not fit (up to the request's maxBytes). */
  maxBytes: number
  /** Cluster mode, KIP-392: the replica the leader sent this consumer to (-1: the leader). */
  readReplica = -1

  constructor (topic: string, partition: number, reset: number, maxBytes: number) {
    this.topic = topic
    this.partition = partition
    this.reset = reset
    this.maxBytes = maxBytes
  }

  /** Continue from `offset`: buffered and in-flight data is dropped. */
  seek (offset: number): void {
    this.epoch++
    this.seeks++
    this.fetchOffset = offset
    this.position = offset
    this.reset = null
    this.retryAtMs = 0
  }

  /** Look the position up again (earliest, latest or a timestamp) before the next fetch. */
  requestReset (reset: number): void {
    this.epoch++
    this.seeks++
    this.fetchOffset = -1
    this.reset = reset
    this.retryAtMs = 0
  }

  /** Drops what was fetched but not handed out; fetching resumes at `position`. */
  rewind (): void {
    this.epoch++
    if (this.position >= 0) this.fetchOffset = this.position
  }

  /** Ready to be included in a fetch now. */
  fetchable (nowMs: number): boolean {
    return this.assigned && !this.paused && this.reset === null && this.fetchOffset >= 0 && this.retryAtMs <= nowMs
  }
}

export function partitionKey (topic: string, partition: number): string {
  return `${topic}\u0000${partition}`
}

export class Assignment {
  readonly #states = new Map<string, PartitionState>()

  get size (): number { return this.#states.size }

  get (topic: string, partition: number): PartitionState | undefined {
    return this.#states.get(partitionKey(topic, partition))
  }

  states (): IterableIterator<PartitionState> {
    return this.#states.values()
  }

  list (): TopicPartition[] {
    return [...this.#states.values()].map(s => ({ topic: s.topic, partition: s.partition }))
  }

  /** Adds partitions not assigned yet (starting with a `reset` lookup); returns the new ones. */
  add (partitions: readonly TopicPartition[], reset: number, maxBytes: number): PartitionState[] {
    const added: PartitionState[] = []
    for (const { topic, partition } of partitions) {
      const key = partitionKey(topic, partition)
      if (this.#states.has(key)) continue
      const state = new PartitionState(topic, partition, reset, maxBytes)
      this.#states.set(key, state)
      added.push(state)
    }
    return added
  }

  /** Removes partitions; their buffered and in-flight data is dropped. Returns the removed ones. */
  remove (partitions: readonly TopicPartition[]): PartitionState[] {
    const removed: PartitionState[] = []
    for (const { topic, partition } of partitions) {
      const key = partitionKey(topic, partition)
      const state = this.#states.get(key)
      if (state === undefined) continue
      this.#states.delete(key)
      state.assigned = false
      state.epoch++
      removed.push(state)
    }
    return removed
  }
}
