/**
 * Mapping between MQTT messages and log records.
 *
 * Routing: `mqttMap` rules `filter=logTopic` are tried in the order given and the FIRST
 * matching rule wins; an MQTT topic no rule matches goes to `mqttLogTopic` (default `mqtt`).
 * The partition is Kafka's default partitioner over the key (murmur2(key) % partitions), so
 * an MQTT topic always lands on one partition (ordering per MQTT topic is kept) and on the
 * same partition as SDK records with the same key.
 *
 * Record format (one MQTT PUBLISH = one record):
 *   key       the MQTT topic name, UTF-8
 *   value     the payload (possibly empty)
 *   timestamp when the broker received it (message expiry counts from here)
 *   headers   mqtt.qos            "0" | "1" | "2"         (absent: read as QoS 1)
 *             mqtt.retain         "1" when the PUBLISH had RETAIN set (absent otherwise)
 *             mqtt.payload-format "1" UTF-8 / "0"          (v5 Payload Format Indicator)
 *             mqtt.message-expiry seconds, decimal         (v5 Message Expiry Interval)
 *             mqtt.content-type   string                  (v5 Content Type)
 *             mqtt.response-topic string                  (v5 Response Topic)
 *             mqtt.correlation-data bytes                 (v5 Correlation Data)
 *             <name>              value, for each v5 User Property (in order, repeats kept)
 * Header names starting with `mqtt.` are reserved: a user property with such a name is not
 * stored, and on the way out only headers outside that prefix become user properties
 * (those whose value is not UTF-8 are skipped). Records with a null key, or a key that is
 * not a valid MQTT topic name, are never delivered to MQTT subscribers.
 */

import { partitionForKey } from '../../../protocol/bytes/murmur2.js'
import { InvalidConfigError } from '../../../protocol/errors.js'
import type { DecodedRecord, RecordHeader } from '../../../protocol/record-batch/records.js'
import { decodeMqttString, type PublishProperties, type QoS, type UserProperty } from './codec.js'
import { parseSubscriptionFilter, topicMatches, topicNameError, type TopicLimits } from './topics.js'
import { validateTopicName } from '../../../protocol/topic-name.js'

export interface MapRule {
  filter: string
  logTopic: string
}

/** Parses `filter=logTopic` entries; throws InvalidConfigError naming the bad entry. */
export function parseMapRules (entries: readonly string[], limits: TopicLimits): MapRule[] {
  return entries.map(entry => {
    const eq = entry.lastIndexOf('=')
    if (eq <= 0 || eq === entry.length - 1) throw new InvalidConfigError(`mqttMap entry "${entry}" is not filter=logTopic`)
    const filter = entry.slice(0, eq).trim()
    const logTopic = entry.slice(eq + 1).trim()
    const parsed = parseSubscriptionFilter(filter, limits)
    if (typeof parsed === 'string' || parsed.shareGroup !== null) {
      throw new InvalidConfigError(`mqttMap entry "${entry}": invalid filter (${typeof parsed === 'string' ? parsed : 'shared filters cannot be mapped'})`)
    }
    checkLogTopicName(logTopic, `mqttMap entry "${entry}"`)
    return { filter, logTopic }
  })
}

/** The one topic-name rule (protocol/topic-name.ts), as a configuration error naming where. */
export function checkLogTopicName (name: string, where: string): void {
  try {
    validateTopicName(name)
  } catch (err) {
    throw new InvalidConfigError(`${where}: "${name}" is not a valid log topic name: ${(err as Error).message}`, { cause: err })
  }
}

export interface Route {
  logTopic: string
  partition: number
}

/** Picks the log topic and partition for an MQTT topic; routes are cached (bounded). */
export class TopicMapper {
  readonly rules: readonly MapRule[]
  readonly defaultLogTopic: string
  readonly #partitions = new Map<string, number>()
  readonly #cache = new Map<string, Route>()
  static readonly CACHE_LIMIT = 10_000

  /** Partitions assumed for a log topic that does not exist yet (it is created with as many). */
  readonly #newTopicPartitions: number

  constructor (rules: readonly MapRule[], defaultLogTopic: string, newTopicPartitions = 1) {
    this.rules = rules
    this.defaultLogTopic = defaultLogTopic
    this.#newTopicPartitions = newTopicPartitions
  }

  /** Every log topic MQTT writes to or reads from: the default, then each rule's, once. */
  logTopics (): string[] {
    return [...new Set([this.defaultLogTopic, ...this.rules.map(r => r.logTopic)])]
  }

  /** Sets the partition count of a log topic (known once it exists). */
  setPartitions (logTopic: string, partitions: number): void {
    this.#partitions.set(logTopic, partitions)
    this.#cache.clear()
  }

  logTopicFor (mqttTopic: string): string {
    for (const rule of this.rules) if (topicMatches(rule.filter, mqttTopic)) return rule.logTopic
    return this.defaultLogTopic
  }

  route (mqttTopic: string, topicBytes: Uint8Array): Route {
    let route = this.#cache.get(mqttTopic)
    if (route !== undefined) return route
    const logTopic = this.logTopicFor(mqttTopic)
    route = { logTopic, partition: partitionForKey(topicBytes, this.#partitions.get(logTopic) ?? this.#newTopicPartitions) }
    if (this.#cache.size >= TopicMapper.CACHE_LIMIT) this.#cache.clear()
    this.#cache.set(mqttTopic, route)
    return route
  }
}

/** A message as the gateway moves it: from a PUBLISH, a will, a retained entry or a record. */
export interface MqttMessage {
  topic: string
  topicBytes: Uint8Array
  payload: Uint8Array
  qos: QoS
  retain: boolean
  properties: PublishProperties | null
  /** When the broker received it (ms since the epoch). */
  timestampMs: number
}

const utf8 = new TextEncoder()
const latin = new TextDecoder('latin1')
const QOS_VALUES = [utf8.encode('0'), utf8.encode('1'), utf8.encode('2')]
const ONE = utf8.encode('1')
const ZERO = utf8.encode('0')

export const Header = {
  qos: 'mqtt.qos',
  retain: 'mqtt.retain',
  payloadFormat: 'mqtt.payload-format',
  messageExpiry: 'mqtt.message-expiry',
  contentType: 'mqtt.content-type',
  responseTopic: 'mqtt.response-topic',
  correlationData: 'mqtt.correlation-data',
} as const

const QOS_ONLY: RecordHeader[][] = [[{ key: Header.qos, value: QOS_VALUES[0]! }], [{ key: Header.qos, value: QOS_VALUES[1]! }], [{ key: Header.qos, value: QOS_VALUES[2]! }]]

/** The record headers of a message (shared constant arrays in the common case). */
export function messageHeaders (m: MqttMessage): RecordHeader[] {
  if (!m.retain && m.properties === null) return QOS_ONLY[m.qos]!
  const headers: RecordHeader[] = [{ key: Header.qos, value: QOS_VALUES[m.qos]! }]
  if (m.retain) headers.push({ key: Header.retain, value: ONE })
  const p = m.properties
  if (p !== null) {
    if (p.payloadFormatIndicator !== undefined) headers.push({ key: Header.payloadFormat, value: p.payloadFormatIndicator ? ONE : ZERO })
    if (p.messageExpiryInterval !== undefined) headers.push({ key: Header.messageExpiry, value: utf8.encode(String(p.messageExpiryInterval)) })
    if (p.contentType !== undefined) headers.push({ key: Header.contentType, value: utf8.encode(p.contentType) })
    if (p.responseTopic !== undefined) headers.push({ key: Header.responseTopic, value: utf8.encode(p.responseTopic) })
    if (p.correlationData !== undefined) headers.push({ key: Header.correlationData, value: p.correlationData })
    for (const [k, v] of p.userProperties ?? []) {
      if (!k.startsWith('mqtt.')) headers.push({ key: k, value: utf8.encode(v) })
    }
  }
  return headers
}

function ascii (v: Uint8Array | null): string {
  return v === null ? '' : latin.decode(v)
}

/**
 * The message a record carries, or null when it cannot be delivered over MQTT (null key,
 * key not a valid topic name). A record without `mqtt.qos` counts as QoS 1.
 */
export function recordToMessage (r: DecodedRecord, limits: TopicLimits): MqttMessage | null {
  if (r.key === null) return null
  const topic = decodeMqttString(r.key)
  if (topic === null || topicNameError(topic, limits) !== null) return null
  let qos: QoS = 1
  let retain = false
  let properties: PublishProperties | null = null
  for (const h of r.headers) {
    switch (h.key) {
      case Header.qos: {
        const q = ascii(h.value)
        qos = q === '0' ? 0 : q === '2' ? 2 : 1
        break
      }
      case Header.retain: retain = ascii(h.value) === '1'; break
      case Header.payloadFormat: (properties ??= {}).payloadFormatIndicator = ascii(h.value) === '1'; break
      case Header.messageExpiry: {
        const n = Number(ascii(h.value))
        if (Number.isInteger(n) && n >= 0 && n <= 0xffffffff) (properties ??= {}).messageExpiryInterval = n
        break
      }
      case Header.contentType: {
        const s = h.value === null ? null : decodeMqttString(h.value)
        if (s !== null) (properties ??= {}).contentType = s
        break
      }
      case Header.responseTopic: {
        const s = h.value === null ? null : decodeMqttString(h.value)
        if (s !== null) (properties ??= {}).responseTopic = s
        break
      }
      case Header.correlationData: if (h.value !== null) (properties ??= {}).correlationData = h.value; break
      default: {
        if (h.key.startsWith('mqtt.') || h.value === null || decodeMqttString(utf8.encode(h.key)) === null) break
        const v = decodeMqttString(h.value)
        if (v !== null) ((properties ??= {}).userProperties ??= []).push([h.key, v] as UserProperty)
      }
    }
  }
  return { topic, topicBytes: r.key, payload: r.value ?? new Uint8Array(0), qos, retain, properties, timestampMs: r.timestamp }
}

/**
 * Remaining message expiry in whole seconds at `nowMs`, null when the message has none, or
 * -1 when it has expired and must not be delivered [MQTT-3.3.2-5].
 */
export function remainingExpirySec (m: MqttMessage, nowMs: number): number | null {
  const expiry = m.properties?.messageExpiryInterval
  if (expiry === undefined) return null
  const left = expiry - Math.floor((nowMs - m.timestampMs) / 1000)
  return left > 0 ? left : -1
}
