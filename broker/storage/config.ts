/**
 * Per-partition log configuration (docs/architecture.md §2, docs/formats.md §2.4-2.7).
 *
 * Names follow Kafka's topic configs with units in the name (`segment.bytes` →
 * `segmentBytes`). A topic stores only its overrides; the effective config is
 * `{ ...DEFAULT_LOG_CONFIG, ...brokerDefaults, ...topicOverrides }`.
 */

import { InvalidConfigError } from '../../protocol/errors.js'

export interface LogConfig {
  /** Roll when the active segment would exceed this many bytes. */
  segmentBytes: number
  /** Roll on age: incoming max timestamp minus the segment's first batch max timestamp. */
  segmentMs: number
  /** Bytes of .log between two sparse index entries. */
  indexIntervalBytes: number
  /** Delete closed segments whose largest timestamp is older than this; -1 = forever. */
  retentionMs: number
  /** Per partition: delete oldest closed segments while the log is larger; -1 = off. */
  retentionBytes: number
  cleanupPolicy: 'delete' | 'compact'
  /** How long a tombstone survives on a compacted topic after the cleaner first sees it. */
  deleteRetentionMs: number
  /** Compact when dirty bytes / cleanable bytes reach this ratio. */
  minCleanableDirtyRatio: number
  /** Largest batch accepted on append (batchLength + 12). */
  maxBatchBytes: number
}

export const DEFAULT_LOG_CONFIG: LogConfig = Object.freeze({
  segmentBytes: 1073741824,
  segmentMs: 7 * 24 * 3600 * 1000,
  indexIntervalBytes: 4096,
  retentionMs: 7 * 24 * 3600 * 1000,
  retentionBytes: -1,
  cleanupPolicy: 'delete',
  deleteRetentionMs: 24 * 3600 * 1000,
  minCleanableDirtyRatio: 0.5,
  maxBatchBytes: 1048576,
})

/**
 * Hard bounds applied by validation. segmentBytes and maxBatchBytes stay below 2^31 so a
 * position in a segment always fits the index's int32 (docs/formats.md §2.3), and a
 * segment is never smaller than one header so a roll always makes progress.
 */
export const MAX_SEGMENT_BYTES = 0x7fffffff
export const MIN_SEGMENT_BYTES = 1024
export const MAX_BATCH_BYTES_LIMIT = 1 << 30

type IntegerRule = { min: number, max: number, allowMinusOne?: boolean }

const INTEGER_RULES: Record<Exclude<keyof LogConfig, 'cleanupPolicy' | 'minCleanableDirtyRatio'>, IntegerRule> = {
  segmentBytes: { min: MIN_SEGMENT_BYTES, max: MAX_SEGMENT_BYTES },
  segmentMs: { min: 1, max: Number.MAX_SAFE_INTEGER },
  indexIntervalBytes: { min: 0, max: MAX_SEGMENT_BYTES },
  retentionMs: { min: 0, max: Number.MAX_SAFE_INTEGER, allowMinusOne: true },
  retentionBytes: { min: 0, max: Number.MAX_SAFE_INTEGER, allowMinusOne: true },
  deleteRetentionMs: { min: 0, max: Number.MAX_SAFE_INTEGER },
  maxBatchBytes: { min: 61, max: MAX_BATCH_BYTES_LIMIT },
}

const KNOWN_KEYS = new Set<string>(Object.keys(DEFAULT_LOG_CONFIG))

function describe (value: unknown): string {
  try {
    const s = typeof value === 'string' ? JSON.stringify(value) : String(value)
    return s.length > 64 ? `${s.slice(0, 64)}…` : s
  } catch {
    return typeof value
  }
}

/**
 * Checks a partial config (topic overrides or broker defaults) and returns a copy holding
 * only its keys. Throws InvalidConfigError naming the key and the value for unknown keys,
 * non-integers, out-of-range numbers and unknown policies.
 */
export function validateLogConfig (partial: Partial<LogConfig>): Partial<LogConfig> {
  if (partial === null || typeof partial !== 'object' || Array.isArray(partial)) {
    throw new InvalidConfigError(`log config must be an object, got ${describe(partial)}`)
  }
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(partial)) {
    if (!KNOWN_KEYS.has(key)) throw new InvalidConfigError(`unknown log config key ${describe(key)}`)
    if (value === undefined) continue
    if (key === 'cleanupPolicy') {
      if (value !== 'delete' && value !== 'compact') {
        throw new InvalidConfigError(`cleanupPolicy must be 'delete' or 'compact', got ${describe(value)}`)
      }
    } else if (key === 'minCleanableDirtyRatio') {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
        throw new InvalidConfigError(`minCleanableDirtyRatio must be a number in [0, 1], got ${describe(value)}`)
      }
    } else {
      const rule = INTEGER_RULES[key as keyof typeof INTEGER_RULES]
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
        throw new InvalidConfigError(`${key} must be an integer, got ${describe(value)}`)
      }
      const ok = (value >= rule.min && value <= rule.max) || (rule.allowMinusOne === true && value === -1)
      if (!ok) {
        const range = `${rule.allowMinusOne === true ? '-1 or ' : ''}${rule.min}..${rule.max}`
        throw new InvalidConfigError(`${key} must be ${range}, got ${describe(value)}`)
      }
    }
    out[key] = value
  }
  return out as Partial<LogConfig>
}

/** The effective config: defaults overlaid by each validated partial in order. */
export function resolveLogConfig (...partials: Array<Partial<LogConfig> | undefined>): LogConfig {
  const config: LogConfig = { ...DEFAULT_LOG_CONFIG }
  for (const p of partials) if (p !== undefined) Object.assign(config, validateLogConfig(p))
  return config
}
