/**
 * A broker's part in a cluster (docs/cluster.md): built by broker.ts when `etcdEndpoints` is
 * set, in two steps because the services need its hooks before the listeners bind, and it
 * needs the bound ports before it can register:
 *
 *   const node = ClusterNode.prepare(config, logs, logger)    // hooks, nothing running
 *   new PartitionService({ ..., replication: node.replicas })  // ReplicaGate
 *   new TopicService({ ..., authority: node.topics })          // TopicAuthority
 *   new ProducerIdService({ source: node.producerIds })        // BlockSource
 *   node.bindGroups(coordinator)                               // groups follow offsets leadership
 *   ... listeners bind ...
 *   await node.start(advertised)   // agent joins, topics reconciled, roles applied, fetchers run
 *   ...
 *   await node.close()             // fetchers stop, the agent leaves (its partitions move at once)
 *
 * Until start() the broker leads nothing: client writes and reads are NOT_LEADER_OR_FOLLOWER
 * (retriable), Metadata lists no broker.
 */

import type { Logger } from 'pino'
import { InvalidConfigError, MetadataUnavailableError } from '../../protocol/errors.js'
import type { BrokerConfig } from '../config/settings.js'
import type { ClusterAdmin, ClusterView } from '../services/cluster-view.js'
import type { BlockSource } from '../services/producer-ids.js'
import type { AppendForwarder, ReplicaEndpoints } from '../services/replication.js'
import type { LogManager } from '../storage/log-manager.js'
import { ClusterAgent } from './cluster-agent.js'
import { ClusterAppendForwarder } from './append-forwarder.js'
import { AgentClusterView } from './cluster-view.js'
import { GroupLeadership } from './group-leadership.js'
import type { GroupCoordinator } from '../groups/coordinator.js'
import { authenticatePeer, loadInterBrokerCredentials, type InterBrokerCredentials } from './peer-auth.js'
import { PeerPool } from './peer-client.js'
import { loadPeerTls } from './peer-tls.js'
import { ReplicaManager } from './replica-manager.js'
import { serveOffsetForLeaderEpoch, serveReplicaFetch } from './replica-serving.js'
import { LISTENER_PROTOCOLS, parseHostPort, type ClusterSettingsInput, type HostPort, type ListenerProtocol } from './settings.js'
import { TopicSync } from './topic-sync.js'

/** How long a follower's fetch waits at the leader for new records. */
const REPLICA_FETCH_WAIT_MS = 500
const REPLICA_FETCH_MAX_BYTES = 16 * 1024 * 1024
const PEER_CONNECT_TIMEOUT_MS = 3000
/** How long a starting broker keeps trying when etcd does not answer. */
const JOIN_ATTEMPTS_MS = 60_000

export class ClusterNode {
  readonly replicas: ReplicaManager
  readonly topics: TopicSync
  readonly view: ClusterView
  readonly producerIds: BlockSource
  readonly endpoints: ReplicaEndpoints
  /** Reassignments and decommissions, sent to the controller. */
  readonly admin: ClusterAdmin
  /** The broker's own appends to partitions led elsewhere (the MQTT gateway's). */
  readonly forwarder: AppendForwarder
  /** Which offsets partitions (so which groups) this broker coordinates. */
  readonly groups: GroupLeadership
  /** --auth: who this broker is to the other brokers (null without --auth). */
  readonly interBroker: InterBrokerCredentials | null
  readonly #config: BrokerConfig
  readonly #logger: Logger
  readonly #peers: PeerPool
  #agent: ClusterAgent | null = null
  #closed = false
  #controllerChanges = 0

  private constructor (config: BrokerConfig, logs: LogManager, logger: Logger) {
    this.#config = config
    this.#logger = logger
    const interBroker = config.auth ? loadInterBrokerCredentials(config) : null
    this.interBroker = interBroker
    // With inter-broker TLS, peers are reached on their native TLS listeners only (peer-tls.ts).
    const peerTls = loadPeerTls(config)
    this.#peers = new PeerPool({
      addressOf: id => {
        const listeners = this.#agent?.metadata.brokers.get(id)?.listeners
        return peerTls === null ? listeners?.native : listeners?.nativeTls
      },
      tls: peerTls,
      clientId: `spool-broker-${config.nodeId}`,
      connectTimeoutMs: PEER_CONNECT_TIMEOUT_MS,
      logger,
      ...(interBroker === null ? {} : { authenticate: c => authenticatePeer(c, interBroker, PEER_CONNECT_TIMEOUT_MS) }),
    })
    this.topics = new TopicSync({ logs, logger, defaultReplicationFactor: config.defaultReplicationFactor, waitMs: 15_000 })
    this.replicas = new ReplicaManager({
      nodeId: config.nodeId,
      logs,
      peers: this.#peers,
      topicReady: topic => this.topics.topicReady(topic),
      logger,
      settings: {
        replicaLagTimeMs: config.replicaLagTimeMs,
        minInsyncReplicas: config.minInsyncReplicas,
        replicaFetchWaitMs: REPLICA_FETCH_WAIT_MS,
        replicaFetchMaxBytes: REPLICA_FETCH_MAX_BYTES,
        reassignmentThrottleBytesPerSec: config.reassignmentThrottleBytesPerSec,
      },
    })
    this.groups = new GroupLeadership(this.replicas, logger)
    this.forwarder = new ClusterAppendForwarder({
      peers: this.#peers, logger, leaderOf: (topic, partition) => this.#agent?.metadata.partition(topic, partition)?.leader ?? -1,
    })
    this.topics.onBeforeDelete((topic, partitions) => {
      for (let p = 0; p < partitions; p++) this.replicas.forget(topic, p)
    })
    this.view = new AgentClusterView({ clusterId: config.clusterId, nodeId: config.nodeId, agent: () => this.#agent })
    this.producerIds = {
      reserve: size => {
        const agent = this.#agent
        if (agent === null) throw new MetadataUnavailableError('the broker is still joining the cluster; retry')
        return agent.reserveProducerIds(size)
      },
    }
    this.admin = {
      reassign: moves => this.#requireAgent().reassignPartitions(moves),
      decommission: async (nodeId, recommission) => {
        const agent = this.#requireAgent()
        if (recommission) {
          await agent.recommissionBroker(nodeId)
          return { moved: 0 }
        }
        return agent.decommissionBroker(nodeId)
      },
    }
    const replicas = this.replicas
    this.endpoints = {
      replicaFetch: (req, signal) => serveReplicaFetch(replicas, req, signal),
      offsetForLeaderEpoch: req => serveOffsetForLeaderEpoch(replicas, req),
    }
  }

  /** The hooks for the services; nothing runs until start(). */
  static prepare (config: BrokerConfig, logs: LogManager, logger: Logger): ClusterNode {
    if (config.etcdEndpoints === null || config.etcdEndpoints.length === 0) throw new InvalidConfigError('cluster mode needs etcdEndpoints')
    return new ClusterNode(config, logs, logger)
  }

  /** The group coordinator serves the groups of the offsets partitions this broker leads (before start). */
  bindGroups (coordinator: GroupCoordinator): void {
    this.groups.bind(coordinator)
  }

  #requireAgent (): ClusterAgent {
    if (this.#agent === null) throw new MetadataUnavailableError('the broker is still joining the cluster; retry')
    return this.#agent
  }

  /** Controller changes this broker has seen since it joined. */
  get controllerChanges (): number { return this.#controllerChanges }

  /** The agent once joined (null before start and after close). */
  get agent (): ClusterAgent | null { return this.#agent }

  /**
   * Joins the cluster under the listeners as bound (`bound`: protocol → host:port, the
   * advertisedListeners setting overriding them), reconciles the topics, then applies every
   * partition role (`onJoined` runs first, once the agent is in). Rejects (DuplicateBrokerIdError, MetadataUnavailableError, ...) with
   * nothing left running.
   */
  async start (bound: Partial<Record<ListenerProtocol, HostPort>>, onJoined?: (agent: ClusterAgent) => Promise<void>): Promise<void> {
    const c = this.#config
    const input: ClusterSettingsInput = {
      nodeId: c.nodeId,
      clusterId: c.clusterId,
      rack: c.rack,
      advertisedListeners: { ...bound, ...advertised(c.advertisedListeners) },
      etcdEndpoints: c.etcdEndpoints ?? [],
      etcdTls: c.etcdCaFile === null ? null : { caFile: c.etcdCaFile, certFile: c.etcdCertFile, keyFile: c.etcdKeyFile },
      etcdUsername: c.etcdUsername,
      etcdPassword: c.etcdPassword,
      leaseTtlMs: c.leaseTtlMs,
      uncleanLeaderElection: c.uncleanLeaderElection,
      ...(c.clusterKeyPrefix === null ? {} : { keyPrefix: c.clusterKeyPrefix }),
    }
    const agent = await this.#join(input)
    this.#agent = agent
    try {
      agent.on('fenced', err => this.#logger.error({ err }, 'this broker was fenced from the cluster'))
      agent.on('controllerChanged', controller => {
        this.#controllerChanges++
        this.#logger.info({ controller: controller?.nodeId ?? null, epoch: controller?.epoch ?? null }, 'controller changed')
      })
      // Before any replica fetch: the security stores bind to the cluster's documents here.
      await onJoined?.(agent)
      await this.topics.start(agent)
      this.replicas.start(agent)
    } catch (err) {
      await this.close()
      throw err
    }
  }

  /**
   * ClusterAgent.start, tried again while etcd does not answer (MetadataUnavailableError: a
   * busy or restarting etcd) for up to JOIN_ATTEMPTS_MS; any other error (a node id in use)
   * fails at once.
   */
  async #join (input: ClusterSettingsInput): Promise<ClusterAgent> {
    const deadline = Date.now() + JOIN_ATTEMPTS_MS
    for (let attempt = 0; ; attempt++) {
      try {
        return await ClusterAgent.start(input, { logger: this.#logger })
      } catch (err) {
        if (!(err instanceof MetadataUnavailableError) || Date.now() > deadline || this.#closed) throw err
        this.#logger.warn({ attempt, err: err.message }, 'etcd did not answer while joining the cluster; trying again')
        await new Promise(resolve => setTimeout(resolve, Math.min(2000, 200 * 2 ** attempt)))
      }
    }
  }

  /** Stops replication and leaves the cluster (the controller moves this broker's leaderships). */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.replicas.close()
    this.#peers.close()
    const agent = this.#agent
    if (agent !== null) await agent.close().catch(err => this.#logger.warn({ err }, 'leaving the cluster failed'))
  }
}

/** The advertisedListeners setting (`protocol=host:port` entries) as a map. */
function advertised (entries: string[] | null): Partial<Record<ListenerProtocol, HostPort>> {
  const out: Partial<Record<ListenerProtocol, HostPort>> = {}
  for (const entry of entries ?? []) {
    const at = entry.indexOf('=')
    const protocol = entry.slice(0, at) as ListenerProtocol
    if (!LISTENER_PROTOCOLS.includes(protocol)) throw new InvalidConfigError(`advertisedListeners: unknown protocol in ${JSON.stringify(entry)}`)
    out[protocol] = parseHostPort(`advertisedListeners.${protocol}`, entry.slice(at + 1))
  }
  return out
}
