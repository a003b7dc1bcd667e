/**
 * What the Kafka front-end's handlers may use: the services and the group coordinator
 * (built once by broker.ts), and per request the connection, its response room and the
 * session's authentication stage.
 */

import type { Logger } from 'pino'
import { SpoolError, UnknownServerError } from '../../../protocol/errors.js'
import { kafkaErrorCodeOf } from '../../../protocol/kafka/error-codes.js'
import type { BrokerConfig } from '../../config/settings.js'
import type { GroupCoordinator } from '../../groups/coordinator.js'
import type { Connection } from '../../network/connection.js'
import type { BrokerMetrics } from '../../observability/metrics.js'
import type { Principal } from '../../security/principal.js'
import type { ResponseRoom } from '../../services/fetch.js'
import type { PartitionService } from '../../services/partitions.js'
import type { ProducerIdService } from '../../services/producer-ids.js'
import type { TopicService } from '../../services/topics.js'

export interface KafkaContext {
  readonly config: BrokerConfig
  readonly topics: TopicService
  readonly partitions: PartitionService
  readonly producerIds: ProducerIdService
  readonly groups: GroupCoordinator
  readonly logger: Logger
  readonly metrics: BrokerMetrics
  /** The cluster id (config/cluster-id.ts). */
  readonly clusterId: string
  /** This broker's node id: every broker id, leader and controller id Kafka clients see. */
  readonly nodeId: number
  /** host:port Kafka clients are told to use; the port is filled in once the listener is bound. */
  readonly advertised: { host: string, port: number }
  readonly now: () => number
}

/** The session's authentication stage, as handlers see it (SASL handlers complete it). */
export interface KafkaSessionControl {
  /** False while the connection is in its pre-authentication stage. */
  readonly authenticated: boolean
  /** An authenticator proved who the peer is: the connection leaves the pre-authentication stage. */
  completeAuthentication (principal: Principal): void
}

export interface KafkaRequestContext {
  readonly connection: Connection
  readonly apiVersion: number
  readonly correlationId: number
  /** Aborted when the connection closes, so long polls stop waiting. */
  readonly signal: AbortSignal
  /** This connection's response memory: what a fetch may still read. */
  readonly room: ResponseRoom
  readonly session: KafkaSessionControl
}

/** The Kafka error code and message for an item's failure; unexpected errors are logged once. */
export function kafkaError (ctx: KafkaContext, err: unknown, what: string): { errorCode: number, errorMessage: string } {
  if (!(err instanceof SpoolError) || err instanceof UnknownServerError) {
    ctx.logger.error({ err }, `${what} failed`)
    return { errorCode: kafkaErrorCodeOf(err), errorMessage: 'internal error' }
  }
  return { errorCode: kafkaErrorCodeOf(err), errorMessage: err.message }
}

/** The element type of an (optional, readonly) array field of a response body. */
export type ItemOf<T> = NonNullable<T> extends ReadonlyArray<infer E> ? E : never
