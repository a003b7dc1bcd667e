/**
 * Retained messages [MQTT-3.3.1-5]: the latest retained PUBLISH per topic, kept in memory
 * for matching new subscriptions and persisted in the internal compacted topic
 * `__mqtt_retained` (1 partition), so they survive restarts, clean or not.
 *
 * Record format (compaction keeps the latest per key):
 *   key      the MQTT topic name, UTF-8
 *   value    the payload; null (a tombstone) when a zero-byte retained PUBLISH removed it
 *            [MQTT-3.3.1-10, MQTT-3.3.1-11]
 *   timestamp, headers  as for ordinary MQTT records (mapping.ts), so message expiry
 *            still counts from the original publish after a restart.
 * The log is the source of truth: on start the map is rebuilt by replaying the topic.
 */

import type { TopicLimits } from './topics.js'
import { topicMatches } from './topics.js'
import { RecordBatchBuilder } from '../../../protocol/record-batch/records.js'
import { append, ensureTopic, replayTopic, type LogAccess } from './log-access.js'
import { messageHeaders, recordToMessage, remainingExpirySec, type MqttMessage } from './mapping.js'

export const RETAINED_TOPIC = '__mqtt_retained'

export class RetainedStore {
  readonly #log: LogAccess
  readonly #limits: TopicLimits
  readonly #messages = new Map<string, MqttMessage>()

  constructor (log: LogAccess, limits: TopicLimits) {
    this.#log = log
    this.#limits = limits
  }

  get size (): number { return this.#messages.size }

  /** Creates the topic if needed and loads every retained message from it. */
  async open (): Promise<number> {
    await ensureTopic(this.#log, RETAINED_TOPIC, 1, true)
    await replayTopic(this.#log, RETAINED_TOPIC, r => {
      if (r.key === null) return
      const m = recordToMessage(r, this.#limits)
      if (m === null) return
      if (r.value === null) this.#messages.delete(m.topic)
      else this.#messages.set(m.topic, { ...m, retain: true })
    })
    return this.#messages.size
  }

  /** Stores (or, for an empty payload, removes) the retained message of a topic. */
  set (message: MqttMessage): void {
    const builder = new RecordBatchBuilder(256 + message.topicBytes.length + message.payload.length)
    if (message.payload.length === 0) {
      if (!this.#messages.delete(message.topic)) return
      builder.append({ key: message.topicBytes, value: null, timestamp: message.timestampMs })
    } else {
      // Copies: the message's bytes may be views into a socket chunk.
      const kept: MqttMessage = { ...message, topicBytes: message.topicBytes.slice(), payload: message.payload.slice(), retain: true }
      this.#messages.set(message.topic, kept)
      builder.append({ key: kept.topicBytes, value: kept.payload, headers: messageHeaders(kept), timestamp: kept.timestampMs })
    }
    append(this.#log, RETAINED_TOPIC, 0, builder.build())
  }

  /** Retained messages matching a filter, skipping (and forgetting) expired ones. */
  match (filter: string, nowMs: number): MqttMessage[] {
    const out: MqttMessage[] = []
    for (const m of this.#messages.values()) {
      if (!topicMatches(filter, m.topic)) continue
      if (remainingExpirySec(m, nowMs) === -1) continue
      out.push(m)
    }
    return out
  }
}
