/**
 * The producer's options as `client.producer()` takes them, and their validation into the
 * resolved values the Producer runs with (defaults filled in, every field checked).
 */

import { InvalidArgumentError, UnsupportedCompressionTypeError } from '../protocol/errors.js'
import { canCompress } from '../protocol/record-batch/compression.js'
import { Compression, type CompressionCode, type CompressionName } from '../protocol/record-batch/header.js'
import type { Cluster } from './cluster.js'
import type { RetryOptions } from './retry.js'

export type Acks = 0 | 1 | -1 | 'all'

export interface ProducerOptions {
  /** 0: no answer; 1 (default): written to the log file; 'all' / -1: fsynced (docs/architecture.md §3). */
  acks?: Acks
  /** How long a batch waits for more records before it is sent. Default 5. */
  lingerMs?: number
  /** A partition's batch is sent once it reaches this size. Default 64 KiB. */
  batchBytes?: number
  /**
   * Produce requests in flight per connection. Default 5. With idempotence a partition also
   * has at most min(maxInFlight, 5) batches in flight (see the ordering note).
   */
  maxInFlight?: number
  /** Largest Produce request (a single larger record is refused). Default 1 MiB. */
  maxRequestBytes?: number
  /** Records buffered or in flight before send() waits. Default 32 MiB. */
  maxBufferedBytes?: number
  /**
   * Batch compression, as Kafka producers offer it. Default 'none'. Every codec is read
   * everywhere; writing zstd needs Node >= 22.15 (zlib) or the optional `zstd-napi` package,
   * and the browser SDK writes none, gzip, snappy and lz4 (UnsupportedCompressionTypeError
   * from `producer()` otherwise). snappy is written xerial-framed, as Kafka's Java client does.
   */
  compression?: CompressionName
  /**
   * Idempotent delivery: a producer id and per-partition sequence numbers make retries safe
   * (no duplicates, no reordering). Default true, except with acks=0 (no answers to number;
   * `idempotent: true` with acks=0 is an InvalidArgumentError). Against a broker that does not
   * serve InitProducerId the default falls back to a non-idempotent producer (an explicit
   * `true` then fails the sends with UnsupportedApiError).
   */
  idempotent?: boolean
  /** How long the broker may take to satisfy acks. Default the client's requestTimeoutMs. */
  timeoutMs?: number
  retry?: Partial<RetryOptions>
  /**
   * Let the broker create a topic this producer sends to and that does not exist (its
   * autoCreateTopics setting decides). Default true; false: such sends fail with
   * UnknownTopicOrPartitionError.
   */
  allowAutoTopicCreation?: boolean
}

export interface ResolvedProducerOptions {
  acks: -1 | 0 | 1
  idempotent: boolean
  /** The user asked for idempotence explicitly (no silent fallback). */
  idempotentExplicit: boolean
  lingerMs: number
  batchBytes: number
  maxInFlight: number
  maxRequestBytes: number
  maxBufferedBytes: number
  compression: CompressionCode
  timeoutMs: number
  retry: RetryOptions
  allowAutoTopicCreation: boolean
}

export function resolveOptions (options: ProducerOptions, cluster: Cluster): ResolvedProducerOptions {
  const acks = options.acks === 'all' ? -1 : options.acks ?? 1
  if (acks !== 0 && acks !== 1 && acks !== -1) throw new InvalidArgumentError(`acks must be 0, 1, -1 or 'all', got ${String(options.acks)}`)
  const positive = (name: string, value: number | undefined, fallback: number, min = 1): number => {
    const v = value ?? fallback
    if (!Number.isInteger(v) || v < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${String(value)}`)
    return v
  }
  const compression = options.compression ?? 'none'
  if (!Object.hasOwn(Compression, compression)) {
    throw new InvalidArgumentError(`compression must be one of ${Object.keys(Compression).join(', ')}, got ${String(compression)}`)
  }
  if (!canCompress(Compression[compression])) {
    throw new UnsupportedCompressionTypeError(`this host cannot write ${compression} batches (it reads them)`)
  }
  if (options.idempotent !== undefined && typeof options.idempotent !== 'boolean') {
    throw new InvalidArgumentError(`idempotent must be a boolean, got ${String(options.idempotent)}`)
  }
  if (options.idempotent === true && acks === 0) {
    throw new InvalidArgumentError('idempotent: true needs acks 1 or all (acks=0 gets no answers to number)')
  }
  return {
    acks,
    idempotent: options.idempotent ?? acks !== 0,
    idempotentExplicit: options.idempotent === true,
    lingerMs: positive('lingerMs', options.lingerMs, 5, 0),
    batchBytes: positive('batchBytes', options.batchBytes, 64 * 1024, 128),
    maxInFlight: positive('maxInFlight', options.maxInFlight, 5),
    maxRequestBytes: positive('maxRequestBytes', options.maxRequestBytes, 1024 * 1024, 1024),
    maxBufferedBytes: positive('maxBufferedBytes', options.maxBufferedBytes, 32 * 1024 * 1024, 1024),
    compression: Compression[compression],
    timeoutMs: positive('timeoutMs', options.timeoutMs, cluster.options.requestTimeoutMs),
    retry: { ...cluster.options.retry, ...options.retry },
    allowAutoTopicCreation: options.allowAutoTopicCreation ?? true,
  }
}
