/**
 * The Kafka front-end as broker.ts wires it: a dispatcher with every handler registered
 * (the SASL and ACL apis included when the security layer supplies them) and one
 * WireProtocol per Kafka listener — plain (`kafkaPort`) and TLS (`kafkaTlsPort`) — over it.
 * Each listener tells clients its own address (config/listeners.ts), known only once it is
 * bound: `bound(port)` fills it in before the first client can connect.
 */

import type { Logger } from 'pino'
import { kafkaAdvertisedAddress } from '../../config/listeners.js'
import type { BrokerConfig } from '../../config/settings.js'
import type { GroupAccess } from '../../groups/group-access.js'
import type { WireProtocol } from '../../network/connection.js'
import type { BrokerMetrics } from '../../observability/metrics.js'
import type { QuotaManager } from '../../quotas/quota-manager.js'
import type { Authenticator } from '../../security/authenticator.js'
import type { AccessPolicy } from '../../services/access.js'
import type { ClusterView } from '../../services/cluster-view.js'
import type { PartitionService } from '../../services/partitions.js'
import type { ProducerIdService } from '../../services/producer-ids.js'
import type { TopicService } from '../../services/topics.js'
import { registerAclHandlers, type AclAdmin } from './acls.js'
import type { KafkaAdvertised, KafkaContext } from './context.js'
import { KafkaDispatcher } from './dispatcher.js'
import { registerKafkaQuotaHandlers } from './quotas.js'
import { registerKafkaHandlers } from './register.js'
import { registerSaslHandlers } from './sasl.js'
import { kafkaProtocol, type KafkaAuthentication } from './wire.js'

export interface KafkaFrontEndOptions {
  /** Its clusterId already resolved (config/cluster-id.ts). */
  config: BrokerConfig
  topics: TopicService
  partitions: PartitionService
  producerIds: ProducerIdService
  /** The group coordinator behind its access checks. */
  groups: GroupAccess
  /** The policy every service call passes (for the cluster-level checks of the Kafka apis). */
  access: AccessPolicy
  /** Cluster mode: the cluster Metadata and FindCoordinator describe (absent: a single broker). */
  cluster?: ClusterView | null
  logger: Logger
  metrics: BrokerMetrics
  now: () => number
  /** The security layer's authentication stage; null (default) while authentication is off. */
  authentication?: KafkaAuthentication | null
  /** SaslHandshake and SaslAuthenticate are served with this authenticator (absent: not served). */
  authenticator?: Authenticator | null
  /** CreateAcls, DescribeAcls and DeleteAcls change and read these ACLs (null: SECURITY_DISABLED). */
  acls?: AclAdmin | null
  /** DescribeClientQuotas and AlterClientQuotas read and change these quotas (absent: not served). */
  quotas?: QuotaManager | null
}

/** One Kafka listener's protocol and its advertised address. */
export interface KafkaListenerWire {
  readonly wire: WireProtocol
  /** The listener bound `port`: sets the host:port its clients are told to use. */
  bound (port: number): void
}

export interface KafkaFrontEnd {
  readonly dispatcher: KafkaDispatcher
  /** The protocol of the plain (`tls` false) or the TLS Kafka listener. */
  listener (tls: boolean): KafkaListenerWire
}

export function kafkaFrontEnd (o: KafkaFrontEndOptions): KafkaFrontEnd {
  const logger = o.logger.child({ component: 'kafka' })
  const ctx: KafkaContext = {
    config: o.config,
    topics: o.topics,
    partitions: o.partitions,
    producerIds: o.producerIds,
    groups: o.groups.coordinator,
    groupAccess: o.groups,
    access: o.access,
    logger,
    metrics: o.metrics,
    clusterId: o.config.clusterId,
    nodeId: o.config.nodeId,
    cluster: o.cluster?.clustered === true ? o.cluster : null,
    now: o.now,
  }
  const dispatcher = new KafkaDispatcher(o.metrics)
  registerKafkaHandlers(dispatcher, ctx)
  if (o.authenticator != null) registerSaslHandlers(dispatcher, { authenticator: o.authenticator, logger, now: o.now })
  registerAclHandlers(dispatcher, ctx, o.acls ?? null)
  if (o.quotas != null) registerKafkaQuotaHandlers(dispatcher, ctx, o.quotas)
  const wires = new Map<boolean, KafkaListenerWire>()
  return {
    dispatcher,
    listener (tls) {
      let l = wires.get(tls)
      if (l === undefined) {
        const advertised: KafkaAdvertised = { host: '127.0.0.1', port: 0, listener: tls ? 'kafkaTls' : 'kafka' }
        l = {
          wire: kafkaProtocol(o.config, dispatcher, o.authentication ?? null, advertised),
          bound (port) { Object.assign(advertised, kafkaAdvertisedAddress(o.config, port, tls)) },
        }
        wires.set(tls, l)
      }
      return l
    },
  }
}
