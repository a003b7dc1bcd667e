/**
 * The Kafka front-end as broker.ts wires it: a dispatcher with every handler registered and
 * the WireProtocol over it. The advertised address (config/listeners.ts) is known only once
 * the listener is bound: `bound(port)` fills it in before the first client can connect.
 */

import type { Logger } from 'pino'
import { kafkaAdvertisedAddress } from '../../config/listeners.js'
import type { BrokerConfig } from '../../config/settings.js'
import type { GroupCoordinator } from '../../groups/coordinator.js'
import type { WireProtocol } from '../../network/connection.js'
import type { BrokerMetrics } from '../../observability/metrics.js'
import type { PartitionService } from '../../services/partitions.js'
import type { ProducerIdService } from '../../services/producer-ids.js'
import type { TopicService } from '../../services/topics.js'
import type { KafkaContext } from './context.js'
import { KafkaDispatcher } from './dispatcher.js'
import { registerKafkaHandlers } from './register.js'
import { kafkaProtocol, type KafkaAuthentication } from './wire.js'

export interface KafkaFrontEndOptions {
  /** Its clusterId already resolved (config/cluster-id.ts). */
  config: BrokerConfig
  topics: TopicService
  partitions: PartitionService
  producerIds: ProducerIdService
  groups: GroupCoordinator
  logger: Logger
  metrics: BrokerMetrics
  now: () => number
  /** The security layer's authentication stage; null (default) while authentication is off. */
  authentication?: KafkaAuthentication | null
}

export interface KafkaFrontEnd {
  readonly wire: WireProtocol
  readonly dispatcher: KafkaDispatcher
  /** The listener bound `port`: sets the host:port clients are told to use. */
  bound (port: number): void
}

export function kafkaFrontEnd (o: KafkaFrontEndOptions): KafkaFrontEnd {
  const advertised = { host: '127.0.0.1', port: 0 }
  const ctx: KafkaContext = {
    config: o.config,
    topics: o.topics,
    partitions: o.partitions,
    producerIds: o.producerIds,
    groups: o.groups,
    logger: o.logger.child({ component: 'kafka' }),
    metrics: o.metrics,
    clusterId: o.config.clusterId,
    nodeId: o.config.nodeId,
    advertised,
    now: o.now,
  }
  const dispatcher = new KafkaDispatcher(o.metrics)
  registerKafkaHandlers(dispatcher, ctx)
  return {
    wire: kafkaProtocol(o.config, dispatcher, o.authentication ?? null),
    dispatcher,
    bound (port) { Object.assign(advertised, kafkaAdvertisedAddress(o.config, port)) },
  }
}
