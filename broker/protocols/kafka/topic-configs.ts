/**
 * Kafka's topic config names and Spool's log config (storage/config.ts names the same
 * settings with units in the name), for CreateTopics, DescribeConfigs, AlterConfigs and
 * IncrementalAlterConfigs. Kafka carries every value as a string.
 *
 * Topic configs Spool does not have are refused with INVALID_CONFIG naming them, rather than
 * accepted and ignored: a client that sets `min.insync.replicas` or `compression.type` would
 * otherwise believe it got a guarantee or a behaviour it does not get.
 *
 * DescribeConfigs sources (Kafka's ConfigSource): 1 DYNAMIC_TOPIC_CONFIG for a value that
 * differs from the broker's default, 5 DEFAULT_CONFIG otherwise; broker entries are 4
 * STATIC_BROKER_CONFIG and read-only (they come from flags, environment or the config file).
 */

import { InvalidConfigError } from '../../../protocol/errors.js'
import type { BrokerConfig } from '../../config/settings.js'
import type { LogConfig } from '../../storage/config.js'

type Key = keyof LogConfig

/** Kafka name → log config key. */
export const TOPIC_CONFIGS: ReadonlyArray<readonly [string, Key]> = [
  ['cleanup.policy', 'cleanupPolicy'],
  ['retention.ms', 'retentionMs'],
  ['retention.bytes', 'retentionBytes'],
  ['segment.bytes', 'segmentBytes'],
  ['segment.ms', 'segmentMs'],
  ['index.interval.bytes', 'indexIntervalBytes'],
  ['delete.retention.ms', 'deleteRetentionMs'],
  ['min.cleanable.dirty.ratio', 'minCleanableDirtyRatio'],
  ['max.message.bytes', 'maxBatchBytes'],
]

const BY_NAME = new Map<string, Key>(TOPIC_CONFIGS)

export const CONFIG_SOURCE = { dynamicTopic: 1, staticBroker: 4, default: 5 } as const

/**
 * The value every topic starts with: the broker's settings where it has one, Kafka's (and
 * storage's) defaults for the rest.
 */
export function brokerLogDefaults (config: BrokerConfig): LogConfig {
  return {
    segmentBytes: config.segmentBytes,
    segmentMs: config.segmentMs,
    retentionMs: config.retentionMs,
    retentionBytes: config.retentionBytes,
    maxBatchBytes: config.maxBatchBytes,
    indexIntervalBytes: 4096,
    cleanupPolicy: 'delete',
    deleteRetentionMs: 24 * 3600 * 1000,
    minCleanableDirtyRatio: 0.5,
  }
}

/** Parses one Kafka config entry into a partial log config (throws INVALID_CONFIG). */
export function parseTopicConfig (name: string, value: string | null, into: Partial<LogConfig>): void {
  const key = BY_NAME.get(name)
  if (key === undefined) throw new InvalidConfigError(`topic config ${JSON.stringify(name)} is not supported by Spool (supported: ${TOPIC_CONFIGS.map(c => c[0]).join(', ')})`)
  if (value === null) throw new InvalidConfigError(`topic config ${name} needs a value`)
  if (key === 'cleanupPolicy') {
    if (value !== 'delete' && value !== 'compact') throw new InvalidConfigError(`cleanup.policy must be delete or compact (got ${JSON.stringify(value)}; compact,delete is not supported)`)
    into.cleanupPolicy = value
    return
  }
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidConfigError(`topic config ${name} must be a number (got ${JSON.stringify(value)})`)
  ;(into as Record<string, number>)[key] = n
}

/** The configs of a topic as DescribeConfigs lists them (all, or the names asked for). */
export function describeTopicConfig (effective: LogConfig, defaults: LogConfig, names: readonly string[] | null): Array<{ name: string, value: string, source: number, isDefault: boolean }> {
  const out = []
  for (const [name, key] of TOPIC_CONFIGS) {
    if (names !== null && !names.includes(name)) continue
    const isDefault = effective[key] === defaults[key]
    out.push({ name, value: String(effective[key]), source: isDefault ? CONFIG_SOURCE.default : CONFIG_SOURCE.dynamicTopic, isDefault })
  }
  return out
}

/** The broker's own settings under Kafka's broker config names (read-only here). */
export function describeBrokerConfig (config: BrokerConfig, names: readonly string[] | null): Array<{ name: string, value: string }> {
  const all: Array<[string, string]> = [
    ['broker.id', String(config.nodeId)],
    ['num.partitions', String(config.defaultPartitions)],
    ['auto.create.topics.enable', String(config.autoCreateTopics)],
    ['log.retention.ms', String(config.retentionMs)],
    ['log.retention.bytes', String(config.retentionBytes)],
    ['log.segment.bytes', String(config.segmentBytes)],
    ['log.roll.ms', String(config.segmentMs)],
    ['message.max.bytes', String(config.maxBatchBytes)],
    ['socket.request.max.bytes', String(config.maxFrameBytes)],
    ['offsets.topic.num.partitions', String(config.offsetsTopicPartitions)],
    ['group.min.session.timeout.ms', String(config.groupMinSessionTimeoutMs)],
    ['group.max.session.timeout.ms', String(config.groupMaxSessionTimeoutMs)],
    ['group.max.size', String(config.groupMaxSize)],
    ['group.initial.rebalance.delay.ms', String(config.groupInitialRebalanceDelayMs)],
    ['default.replication.factor', '1'],
    ['min.insync.replicas', '1'],
  ]
  return all.filter(([name]) => names === null || names.includes(name)).map(([name, value]) => ({ name, value }))
}
