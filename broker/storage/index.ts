/**
 * The storage engine (docs/architecture.md §2-3): what the rest of the broker uses.
 *
 *   LogManager     topics and their partitions under one data directory
 *   PartitionLog   one partition: append, read, sync (group commit), timestamps, retention,
 *                  DeleteRecords, compaction, idempotent-producer state
 *   LogConfig      per-topic settings; DEFAULT_LOG_CONFIG; validateLogConfig
 *   DiskSpace      read-only mode while the disk is full (LogManager.readOnly, onReadOnlyChange)
 *
 * Request path: a produce handler calls `PartitionLog.append` (which validates the whole
 * payload before writing a byte, so nothing bad reaches the file) and, for acks=all,
 * `sync()`; a fetch handler calls `read` and sends `bytes` as they are.
 */
export { DEFAULT_LOG_CONFIG, validateLogConfig, resolveLogConfig, type LogConfig } from './config.js'
export { FileHandleCache } from './file-handle-cache.js'
export {
  PartitionLog, type AppendOptions, type AppendResult, type ReadOptions, type ReadResult, type PartitionLogOptions,
  type CompactionResult, type CloseOutcome,
} from './partition-log.js'
export { LogManager, validateTopicName, type TopicInfo, type LogManagerOptions } from './log-manager.js'
export { DiskSpace, isNoSpaceError, type DiskState } from './disk-space.js'
export type { ProducerStateEntry, ProducerBatchMeta } from './producer-state.js'
