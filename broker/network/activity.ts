/**
 * What one connection did, whatever its protocol: requests, fetches and produces, records
 * and MQTT messages each way, bytes per topic, where its fetches read compared with the log
 * end, and how long it was throttled. The hot path only adds to plain numbers here; the
 * stats sampler (observability/stats.ts) turns them into per-second rates once a second for
 * `spool top`, `/api/connections` and the console.
 *
 * Fetch positions: for each partition a connection fetches, the offset it asked for and the
 * partition's high watermark at that moment. Their difference, summed, is how far behind the
 * log end the connection reads — a consumer re-reading a topic from the beginning shows as
 * far behind even when its group has committed nothing. A partition it stopped fetching is
 * forgotten after POSITION_TTL_MS.
 */

/** Traffic of one connection on one topic. */
export interface TopicActivity {
  bytesIn: number
  bytesOut: number
  recordsIn: number
  recordsOut: number
}

interface Position {
  readonly topic: string
  offset: number
  end: number
  atMs: number
}

/** A partition not fetched for this long no longer counts in the connection's lag. */
export const POSITION_TTL_MS = 30_000

const NO_TOPICS: ReadonlyMap<string, TopicActivity> = new Map()
const NO_LAG: { total: number, byTopic: ReadonlyMap<string, number> } = Object.freeze({ total: 0, byTopic: new Map() })

export class ConnectionActivity {
  /** Requests dispatched (request/response protocols). */
  requests = 0
  /** Fetch requests answered. */
  fetches = 0
  /** Produce requests handled (MQTT: reads with publishes). */
  produces = 0
  recordsIn = 0
  recordsOut = 0
  /** MQTT PUBLISH packets received and sent. */
  messagesIn = 0
  messagesOut = 0
  /** Times a quota throttled the connection, and the milliseconds it was made to wait in all. */
  throttles = 0
  throttledMs = 0
  // Both maps are made on first use: most connections of a device fleet never fetch, and an
  // empty Map costs ~250 bytes each.
  #topics: Map<string, TopicActivity> | null = null
  #positions: Map<string, Position> | null = null

  /** Traffic per topic so far (a shared empty map before the first). */
  get topics (): ReadonlyMap<string, TopicActivity> {
    return this.#topics ?? NO_TOPICS
  }

  /** The traffic row of a topic (created on first use). */
  topic (name: string): TopicActivity {
    const topics = this.#topics ??= new Map()
    let t = topics.get(name)
    if (t === undefined) topics.set(name, (t = { bytesIn: 0, bytesOut: 0, recordsIn: 0, recordsOut: 0 }))
    return t
  }

  /** Record bytes written to a topic for this connection. */
  produced (topic: string, bytes: number, records: number): void {
    const t = this.topic(topic)
    t.bytesIn += bytes
    t.recordsIn += records
    this.recordsIn += records
  }

  /** Record bytes sent from a topic to this connection. */
  fetched (topic: string, bytes: number, records: number): void {
    const t = this.topic(topic)
    t.bytesOut += bytes
    t.recordsOut += records
    this.recordsOut += records
  }

  /** A fetch asks for a partition from `fetchOffset` while its log end is `logEnd`. */
  position (topic: string, partition: number, fetchOffset: number, logEnd: number, nowMs: number): void {
    const key = `${topic}\u0000${partition}`
    const positions = this.#positions ??= new Map()
    const p = positions.get(key)
    if (p === undefined) {
      positions.set(key, { topic, offset: fetchOffset, end: logEnd, atMs: nowMs })
    } else {
      p.offset = fetchOffset
      p.end = logEnd
      p.atMs = nowMs
    }
  }

  /** Whether the connection fetched any partition in the last POSITION_TTL_MS. */
  fetching (nowMs: number): boolean {
    if (this.#positions === null) return false
    for (const p of this.#positions.values()) if (nowMs - p.atMs <= POSITION_TTL_MS) return true
    return false
  }

  /**
   * Records between the offsets the connection fetches from and the log end, summed over the
   * partitions it fetched lately, in total and per topic (partitions gone stale are dropped).
   */
  lag (nowMs: number): { total: number, byTopic: ReadonlyMap<string, number> } {
    const positions = this.#positions
    if (positions === null) return NO_LAG
    let total = 0
    const byTopic = new Map<string, number>()
    for (const [key, p] of positions) {
      if (nowMs - p.atMs > POSITION_TTL_MS) {
        positions.delete(key)
        continue
      }
      const behind = Math.max(0, p.end - p.offset)
      total += behind
      byTopic.set(p.topic, (byTopic.get(p.topic) ?? 0) + behind)
    }
    return { total, byTopic }
  }
}
