/**
 * What the Kafka front-end's handlers may use: the services, the group coordinator behind
 * its access checks and the AccessPolicy (built once by broker.ts), and per request the
 * connection, its response room, the listener's advertised address and the session's
 * authentication stage.
 */

import type { Logger } from 'pino'
import { SpoolError, UnknownServerError } from '../../../protocol/errors.js'
import { kafkaErrorCodeOf } from '../../../protocol/kafka/error-codes.js'
import type { BrokerConfig } from '../../config/settings.js'
import type { GroupCoordinator } from '../../groups/coordinator.js'
import type { GroupAccess } from '../../groups/group-access.js'
import type { Connection } from '../../network/connection.js'
import type { BrokerMetrics } from '../../observability/metrics.js'
import type { AuthExchange } from '../../security/authenticator.js'
import type { Principal } from '../../security/principal.js'
import type { AccessPolicy } from '../../services/access.js'
import type { ClusterView } from '../../services/cluster-view.js'
import type { ResponseRoom } from '../../services/response-room.js'
import type { PartitionService } from '../../services/partitions.js'
import type { ProducerIdService } from '../../services/producer-ids.js'
import type { TopicService } from '../../services/topics.js'

export interface KafkaContext {
  readonly config: BrokerConfig
  readonly topics: TopicService
  readonly partitions: PartitionService
  readonly producerIds: ProducerIdService
  /** The coordinator's state, read-only here: every group operation goes through `groupAccess`. */
  readonly groups: GroupCoordinator
  /** The group operations, authorized as Kafka's broker does (groups/group-access.ts). */
  readonly groupAccess: GroupAccess
  /** The policy behind every service call; handlers ask it directly only for the cluster resource. */
  readonly access: AccessPolicy
  readonly logger: Logger
  readonly metrics: BrokerMetrics
  /** The cluster id (config/cluster-id.ts). */
  readonly clusterId: string
  /** This broker's node id: on a single broker every broker id, leader and controller id Kafka clients see. */
  readonly nodeId: number
  /** In cluster mode the brokers, leaders, replicas and ISR Metadata describes; null on a single broker. */
  readonly cluster: ClusterView | null
  readonly now: () => number
}

/** host:port a Kafka listener tells clients to use; the port is filled in once the listener is bound. */
export interface KafkaAdvertised {
  host: string
  port: number
  /** Which of a broker's Kafka listeners this is: in a cluster, Metadata names the other brokers' same one. */
  listener: 'kafka' | 'kafkaTls'
}

/** Where a session's SASL exchange stands (sasl.ts reads and writes it). */
export interface KafkaSaslState {
  /** The exchange SaslHandshake opened; null before the first handshake. */
  exchange: AuthExchange | null
  /** A step of the exchange is running: another SASL message meanwhile is ILLEGAL_SASL_STATE. */
  stepping: boolean
  /** The principal of the last exchange that succeeded (a re-authentication must keep it). */
  principal: Principal | null
}

/** The answer to one raw SASL token (after SaslHandshake v0). */
export type RawTokenAnswer =
  | { readonly kind: 'continue' | 'done', readonly response: Uint8Array }
  /** The exchange failed: no answer, the connection closes. */
  | { readonly kind: 'failed' }

export type RawTokenHandler = (token: Uint8Array) => Promise<RawTokenAnswer>

/** The session's authentication stage, as handlers see it (SASL handlers complete it). */
export interface KafkaSessionControl {
  /** False while the connection is in its pre-authentication stage. */
  readonly authenticated: boolean
  readonly sasl: KafkaSaslState
  /**
   * An authenticator proved who the peer is: the connection takes the principal (until
   * `expiresAtMs`, a token's expiry) and leaves the pre-authentication stage.
   */
  completeAuthentication (principal: Principal, expiresAtMs?: number | null): void
  /**
   * After SaslHandshake v0: the frames that follow are SASL tokens without a request header,
   * each handed to `onToken` and answered with its size-prefixed response, until `onToken`
   * says the exchange is done (or failed: the connection closes).
   */
  readRawTokens (onToken: RawTokenHandler): void
  /** Closes the connection once the answer being prepared now is written (a failed exchange). */
  closeAfterAnswer (): void
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
  /** The address of the listener this connection came through (plain or TLS). */
  readonly advertised: KafkaAdvertised
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
