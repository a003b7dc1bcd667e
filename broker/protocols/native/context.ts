/** What every api handler may use; built once by broker.ts. */

import type { Logger } from 'pino'
import { SpoolError } from '../../../protocol/errors.js'
import type { BrokerConfig } from '../../config/settings.js'
import type { BrokerMetrics } from '../../observability/metrics.js'
import type { PartitionService } from '../../services/partitions.js'
import type { LogManager } from '../../storage/log-manager.js'

export interface BrokerContext {
  readonly config: BrokerConfig
  readonly logs: LogManager
  readonly partitions: PartitionService
  readonly logger: Logger
  readonly metrics: BrokerMetrics
  /** host:port clients should use for the native protocol (metadata). */
  readonly advertised: { host: string, port: number }
  /** Creates a topic if it does not exist (shared by auto-create paths; concurrent calls share one creation). */
  ensureTopic (name: string): Promise<void>
  readonly now: () => number
}

/** The error fields of a per-item result: 0/null for success, the named error otherwise. */
export function errorFields (err: unknown): { errorCode: number, errorMessage: string | null } {
  if (err === null || err === undefined) return { errorCode: 0, errorMessage: null }
  if (err instanceof SpoolError) return { errorCode: err.errorCode, errorMessage: err.message }
  return { errorCode: -1, errorMessage: 'internal error' }
}
