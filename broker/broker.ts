/**
 * The broker: wiring only. `Broker.start(config)` opens the logs, builds the services and
 * the protocol front-ends, and starts the listeners of the listener table
 * (config/listeners.ts); `broker.close()` stops them and closes the logs cleanly (fsync,
 * clean-shutdown marker). docs/architecture.md describes the layers.
 *
 * The data flow, top-down as the folders go:
 *   network/    listener (server.ts) → channel (TCP or WebSocket, with its Peer) →
 *               connection (framing memory, limits, idle, metering, the failure rule) in the
 *               one registry of every connection
 *   protocols/  the front-end of the connection's protocol: native (request pipeline →
 *               dispatcher → handlers), kafka (the same, answers in request order), mqtt
 *               (gateway), http (api, console, /ws and /mqtt)
 *   services/   topics, partitions, fetch, producer ids — the only code that changes
 *               topics or appends; every call takes the Caller and passes the AccessPolicy
 *   storage/    partition logs on disk; groups/ keeps its offsets through the services
 *
 * Produce, end to end: network/server.ts → network/channel.ts → network/connection.ts
 * (length prefix checked against maxFrameBytes before buffering, partial frames drawn from
 * the maxPendingRequestBytes budget) → protocols/native/wire.ts (request pipeline, answers in
 * any order) → dispatcher.ts (api key + version, body schema) → produce.ts →
 * services/partitions.ts → storage/partition-log.ts (validate size, magic, CRC32C, counts;
 * rewrite baseOffset; write) → group commit for acks=all → response frame → connection write.
 * Fetch: protocols/native/fetch.ts → services/fetch.ts reads whole batches from storage (no
 * decoding) and the connection writes header + body + file buffers; a waiting fetch is woken
 * by the partition service on append, whichever protocol appended.
 *
 * Cluster mode (etcdEndpoints set; docs/cluster.md): cluster/cluster-node.ts gives the services
 * their hooks before the listeners bind (the replica manager as the partition service's gate,
 * the topic sync as the topic service's authority, producer-id blocks from etcd) and joins
 * the cluster once the ports are known; the group coordinator and the MQTT gateway open after
 * that (their internal topics belong to the cluster), and the MQTT listener takes connections
 * from then on. Without etcdEndpoints none of this exists and the start is as it always was.
 */

import type { Logger } from 'pino'
import { fileURLToPath } from 'node:url'
import { installNodeCodecs } from '../platform/node-codecs.js'
import { clusterIdOfCluster, resolveClusterId } from './config/cluster-id.js'
import { kafkaAdvertisedAddress, listenerTable, type BrokerPorts, type ListenerConfig } from './config/listeners.js'
import { resolveConfig, type BrokerConfig } from './config/settings.js'
import { registerClusterMetrics } from './cluster/cluster-metrics.js'
import { ClusterNode } from './cluster/cluster-node.js'
import type { ListenerProtocol } from './cluster/settings.js'
import { GroupCoordinator } from './groups/coordinator.js'
import { ByteBudget } from './network/budget.js'
import { tcpChannel } from './network/channel.js'
import type { WireProtocol } from './network/connection.js'
import { ConnectionRegistry } from './network/registry.js'
import { startTcpServer, startTlsServer, type Listener } from './network/server.js'
import { webSocketAcceptor, type WebSocketAcceptor } from './network/websocket.js'
import { createLogger, type LogFormat } from './observability/logger.js'
import { BrokerMetrics } from './observability/metrics.js'
import { registrySource } from './observability/connections.js'
import { StatsSampler } from './observability/stats.js'
import { newRoutes, startHttpListener, type HttpRoutes } from './protocols/http/server.js'
import { registerHttpRoutes } from './protocols/http/routes.js'
import { webSocketEndpoint } from './protocols/http/upgrade.js'
import { HttpAuth } from './protocols/http/auth.js'
import { MqttGateway } from './protocols/mqtt/gateway.js'
import { parseMapRules } from './protocols/mqtt/mapping.js'
import { MqttAccess, mqttAuthenticator } from './security/mqtt-access.js'
import { mqttProtocol } from './protocols/mqtt/listener.js'
import { registerGatewayMetrics } from './protocols/mqtt/metrics.js'
import { kafkaFrontEnd } from './protocols/kafka/listener.js'
import { Dispatcher } from './protocols/native/dispatcher.js'
import { registerGroupHandlers } from './protocols/native/groups.js'
import { registerQuotaHandlers } from './protocols/native/quotas.js'
import { registerHandlers } from './protocols/native/register.js'
import { registerSaslHandlers } from './protocols/native/sasl.js'
import { kafkaAuthentication } from './protocols/kafka/sasl.js'
import { nativeProtocol, type NativeAuth } from './protocols/native/wire.js'
import type { AuthThrottleOptions } from './security/auth-throttle.js'
import { BrokerSecurity, checkExposure } from './security/broker-security.js'
import { parseAclDocument } from './security/cluster-acls.js'
import { rawTokenKeyDocument } from './security/cluster-token-keys.js'
import { parseUserDocument } from './security/cluster-users.js'
import { AclAuthorizer } from './security/authorizer.js'
import { INTERNAL_CALLER, type Principal } from './security/principal.js'
import { GroupAccess } from './groups/group-access.js'
import { EgressWatch } from './quotas/egress.js'
import { ClusterQuotaStore, rawQuotaDocument } from './quotas/cluster-quotas.js'
import { QuotaManager } from './quotas/quota-manager.js'
import { QuotaStore } from './quotas/quota-store.js'
import { singleBrokerView, type HostPort } from './services/cluster-view.js'
import { PartitionService } from './services/partitions.js'
import { FileBlockSource, ProducerIdService } from './services/producer-ids.js'
import { TopicService } from './services/topics.js'
import { LogManager } from './storage/log-manager.js'

export interface BrokerOptions extends Partial<BrokerConfig> {
  /** A logger to use instead of one built from logLevel. */
  logger?: Logger
  /** Clock for the storage engine and timeouts (tests). */
  now?: () => number
  /**
   * Directory holding what scripts/build-web.mjs built (`browser/spool.js`, `console/`,
   * `examples/browser/`); default this package's `dist/`.
   */
  webRoot?: string
  /** Failed-login throttle tuning (tests shorten the delays). */
  authThrottle?: AuthThrottleOptions
  /** The bootstrap admin's password (`spool broker start` passes SPOOL_ADMIN_PASSWORD); generated when absent. */
  bootstrapPassword?: string
  /** Told a generated bootstrap admin password, once (never logged). */
  onBootstrapPassword?: (user: string, password: string) => void
}

/** How long a connection of an authenticating broker may take to authenticate. */
const AUTH_TIMEOUT_MS = 10_000

/** This package's dist/ (this file is dist/broker/broker.js once built). */
const DEFAULT_WEB_ROOT = fileURLToPath(new URL('..', import.meta.url))

export type { BrokerPorts }

export interface BrokerServices {
  readonly topics: TopicService
  readonly partitions: PartitionService
  readonly producerIds: ProducerIdService
  readonly groups: GroupCoordinator
}

export class Broker {
  readonly config: BrokerConfig
  readonly logger: Logger
  readonly logs: LogManager
  readonly metrics: BrokerMetrics
  readonly services: BrokerServices
  readonly security: BrokerSecurity
  readonly topics: TopicService
  readonly partitions: PartitionService
  readonly groups: GroupCoordinator
  /** Cluster mode: this broker's part in the cluster (null for a single broker). */
  readonly cluster: ClusterNode | null
  readonly stats: StatsSampler
  readonly connections: ConnectionRegistry
  /** The maxPendingRequestBytes budget every connection's framing draws from. */
  readonly pendingRequests: ByteBudget
  readonly mqtt: MqttGateway | null
  readonly routes: HttpRoutes
  readonly ports: BrokerPorts
  readonly startedAtMs: number
  readonly #listeners: Listener[]
  readonly #closers: Array<() => void>
  readonly #now: () => number
  readonly #lifecycle: { closing: boolean }
  #closing: Promise<void> | null = null

  private constructor (init: {
    config: BrokerConfig, logger: Logger, logs: LogManager, metrics: BrokerMetrics, services: BrokerServices, security: BrokerSecurity, cluster: ClusterNode | null, stats: StatsSampler,
    connections: ConnectionRegistry, pendingRequests: ByteBudget, mqtt: MqttGateway | null, routes: HttpRoutes, listeners: Listener[], closers: Array<() => void>, ports: BrokerPorts,
    startedAtMs: number, now: () => number, lifecycle: { closing: boolean }
  }) {
    this.config = init.config
    this.logger = init.logger
    this.logs = init.logs
    this.metrics = init.metrics
    this.services = init.services
    this.security = init.security
    this.topics = init.services.topics
    this.partitions = init.services.partitions
    this.groups = init.services.groups
    this.cluster = init.cluster
    this.stats = init.stats
    this.connections = init.connections
    this.pendingRequests = init.pendingRequests
    this.mqtt = init.mqtt
    this.routes = init.routes
    this.#listeners = init.listeners
    this.#closers = init.closers
    this.ports = init.ports
    this.startedAtMs = init.startedAtMs
    this.#now = init.now
    this.#lifecycle = init.lifecycle
  }

  /**
   * Starts a broker. Options override environment and defaults (config/settings.ts); pass
   * `port: 0` / `httpPort: 0` / `mqttPort: 0` for free ports (tests) and read them from
   * `broker.ports`. A listener that cannot bind fails the start (ListenFailedError naming the
   * listener and its flag) and everything started before it is closed again.
   */
  static async start (options: BrokerOptions = {}): Promise<Broker> {
    const { logger: givenLogger, now = Date.now, webRoot = DEFAULT_WEB_ROOT, authThrottle, bootstrapPassword, onBootstrapPassword, ...overrides } = options
    const config = resolveConfig({ overrides })
    checkExposure(config) // before anything is opened, let alone listening
    const logger = givenLogger ?? createLogger(config.logLevel, config.logFormat as LogFormat)
    installNodeCodecs()
    const logs = await LogManager.open({
      dataDir: config.dataDir,
      defaults: {
        segmentBytes: config.segmentBytes,
        segmentMs: config.segmentMs,
        retentionMs: config.retentionMs,
        retentionBytes: config.retentionBytes,
        maxBatchBytes: config.maxBatchBytes,
      },
      logger,
      now,
      maxOpenFiles: config.maxOpenFiles,
      retentionCheckIntervalMs: config.retentionCheckIntervalMs,
      maxPartitionsPerTopic: config.maxPartitionsPerTopic,
    })
    const listeners: Listener[] = []
    const closers: Array<() => void> = []
    // `auto` becomes one id for every protocol's metadata: on a single broker the one kept in
    // its data dir; in a cluster every broker must report (and find its etcd keys under) the
    // same id, so there it is `spool` unless --cluster-id names another.
    try {
      config.clusterId = config.etcdEndpoints === null ? resolveClusterId(config.dataDir, config.clusterId) : clusterIdOfCluster(config.clusterId)
    } catch (err) {
      await logs.close()
      throw err
    }
    // Cluster mode only: the hooks the services take; null keeps the single-broker path.
    let cluster: ClusterNode | null
    try {
      cluster = config.etcdEndpoints === null ? null : ClusterNode.prepare(config, logs, logger) // reads --inter-broker-password-file
    } catch (err) {
      await logs.close()
      throw err
    }
    try {
      // Services: the only writers of topics and partitions.
      const metrics = new BrokerMetrics()
      const security = await BrokerSecurity.open({
        config, logger, now,
        ...(authThrottle === undefined ? {} : { throttle: authThrottle }),
        ...(bootstrapPassword === undefined ? {} : { bootstrapPassword }),
        ...(onBootstrapPassword === undefined ? {} : { onBootstrapPassword }),
      })
      closers.push(() => security.close())
      security.registerMetrics(metrics)
      const access = security.access
      const topics = new TopicService({ logs, access, logger, settings: config, authority: cluster?.topics ?? null })
      const partitions = new PartitionService({ logs, metrics, access, replication: cluster?.replicas ?? null, forwarder: cluster?.forwarder ?? null })
      cluster?.replicas.attach(partitions)
      const producerIds = new ProducerIdService({ source: cluster?.producerIds ?? new FileBlockSource(config.dataDir), access })
      topics.onDeleted(topic => metrics.forgetTopic(topic))
      const groups = new GroupCoordinator({ topics, partitions, config, logger, now })
      if (cluster === null) await groups.start()
      else cluster.bindGroups(groups)
      closers.push(() => groups.close())
      const groupAccess = new GroupAccess(groups, access)
      metrics.gauge('spool_group_lag', 'Log end offset minus committed offset, by group and partition', ['group', 'topic', 'partition'], () => groups.lag())
      metrics.gauge('spool_group_members', 'Members of each consumer group', ['group'], () => groups.memberCounts())
      registerStorageMetrics(metrics, logs)
      // Quotas, charged by every connection (broker/quotas/): kept in the data dir, or in
      // cluster mode the cluster's documents in etcd (bound once the broker has joined).
      const clusterQuotas = cluster === null ? null : new ClusterQuotaStore({ logger })
      if (clusterQuotas !== null && QuotaStore.exists(config.dataDir)) logger.warn({ dataDir: config.dataDir }, 'quotas.json in the data directory is not read in cluster mode (quotas are the cluster\'s documents in etcd: spool cluster import-security copies them there, or set them again with spool quota)')
      const quotas = new QuotaManager({ store: clusterQuotas ?? QuotaStore.open(config.dataDir), settings: config, access, logger, now, exempt: principal => security.isInterBroker(principal) })
      quotas.registerMetrics(metrics)
      clusterQuotas?.registerMetrics(metrics)
      closers.push(() => quotas.close())
      if (clusterQuotas !== null) closers.push(() => clusterQuotas.close())
      if (cluster !== null) registerClusterMetrics(metrics, cluster)

      // Network: one registry of every connection, one budget for partial requests.
      const budget = new ByteBudget(config.maxPendingRequestBytes)
      const connections = new ConnectionRegistry({ maxConnections: config.maxConnections, perProtocol: { mqtt: config.mqttMaxConnections }, budget, logger, now, quotas })
      connections.registerMetrics(metrics)
      closers.push(() => connections.closeAll())

      // Protocol front-ends.
      const advertised = { host: config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host, port: 0 }
      const dispatcher = new Dispatcher(metrics)
      // A single broker's Metadata names its own native listeners (filled in once bound): the TLS one to TLS clients.
      const ownListeners: { native?: HostPort, nativeTls?: HostPort } = {}
      const view = cluster?.view ?? singleBrokerView({ clusterId: config.clusterId, nodeId: config.nodeId, listeners: () => ownListeners, partitionCount: name => topics.partitionCount(name) })
      registerHandlers(dispatcher, { config, topics, partitions, producerIds, logger, metrics, advertised, access, cluster: view, replication: cluster?.endpoints ?? null, clusterAdmin: cluster?.admin ?? null, now })
      registerGroupHandlers(dispatcher, groupAccess, view)
      const nativeAuth: NativeAuth = { required: security.required, authenticator: security.authenticator, timeoutMs: AUTH_TIMEOUT_MS }
      registerSaslHandlers(dispatcher, nativeAuth, now)
      const native = nativeProtocol(config, dispatcher.dispatch, nativeAuth)
      // With --auth, a Kafka session stays in its pre-authentication stage (ApiVersions and
      // SASL) until a SASL exchange or a client certificate authenticates it.
      const kafka = config.kafkaPort === null && config.kafkaTlsPort === null ? null : kafkaFrontEnd({
        config, topics, partitions, producerIds, groups: groupAccess, access, cluster: view, logger, metrics, now,
        authentication: security.required ? kafkaAuthentication(AUTH_TIMEOUT_MS) : null,
        authenticator: security.authenticator,
        acls: security.authorizer instanceof AclAuthorizer ? security.authorizer : null,
        quotas,
      })
      let mqtt: MqttGateway | null = null
      let mqttWire: WireProtocol | null = null
      if (config.mqttPort !== null || config.mqttTlsPort !== null) {
        // In a cluster an MQTT publish is acknowledged once the partition's in-sync replicas
        // hold it (the gateway's mqttFsyncAcks path, which waits in PartitionService.sync).
        mqtt = new MqttGateway({ config: cluster === null ? config : { ...config, mqttFsyncAcks: true }, log: { topics, partitions }, logger, now, ...mqttSecurity(config, security) })
        if (cluster === null) await mqtt.open()
        registerGatewayMetrics(mqtt, metrics)
        const gateway = mqtt
        closers.push(() => gateway.close())
        mqttWire = mqttProtocol(mqtt)
      }
      const stats = new StatsSampler({ metrics, groupLag: () => groups.totalLag(), now })
      stats.addSource(registrySource(() => connections.values(), now))
      closers.push(() => stats.stop())
      registerQuotaHandlers(dispatcher, { quotas, stats, access, now })
      const egress = new EgressWatch({ stats, settings: config, logger, now })
      egress.registerMetrics(metrics)

      // The HTTP port's routes and WebSocket endpoints.
      const routes = newRoutes()
      const startedAtMs = now()
      const ports: BrokerPorts = { native: null, http: null, mqtt: null, kafka: null, nativeTls: null, https: null, mqttTls: null, kafkaTls: null }
      const acceptors: WebSocketAcceptor[] = []
      const wsNative = webSocketAcceptor({ maxPayload: config.maxFrameBytes, budget, logger })
      acceptors.push(wsNative)
      const httpAuth = new HttpAuth({ required: security.required, authenticator: security.authenticator, now })
      routes.upgrades.set('/ws', webSocketEndpoint({ acceptor: wsNative, registry: connections, protocol: native, allowedOrigins: config.httpAllowedOrigins, logger, login: req => httpAuth.session(req) }))
      if (mqttWire !== null) {
        const wsMqtt = webSocketAcceptor({ maxPayload: config.mqttMaxPacketBytes + 16, subprotocol: 'mqtt', budget, logger })
        acceptors.push(wsMqtt)
        routes.upgrades.set('/mqtt', webSocketEndpoint({ acceptor: wsMqtt, registry: connections, protocol: mqttWire, allowedOrigins: config.httpAllowedOrigins, logger }))
      }
      closers.push(() => { for (const a of acceptors) a.close() })
      const lifecycle = { closing: false }
      registerHttpRoutes(routes, {
        config,
        metrics,
        webRoot,
        logger,
        api: { config, topics, groups: groupAccess, stats, egress, ports, startedAtMs, connectionCount: () => connections.size, now, access, cluster: view },
        auth: httpAuth,
        session: { tokens: security.tokens, credentials: security.credentials, superUsers: security.superUsers },
        health: () => ({
          closing: lifecycle.closing,
          uptimeMs: now() - startedAtMs,
          topics: topics.list(INTERNAL_CALLER).length,
          connections: connections.size,
          ports,
          // Read-only while the disk is full (storage/disk-space.ts).
          storage: { readOnly: logs.diskState.readOnly, reason: logs.diskState.reason },
        }),
      })

      // Listeners, from the table; each one that binds is closed again if a later one fails.
      // In cluster mode MQTT connections are refused until the gateway has opened.
      const clusterJoined = { done: cluster === null }
      const wires: Record<Exclude<ListenerConfig['protocol'], 'http' | 'kafka'>, WireProtocol | null> = { native, mqtt: mqttWire }
      const portKey: Record<string, keyof BrokerPorts> = { native: 'native', 'native-tls': 'nativeTls', mqtt: 'mqtt', 'mqtt-tls': 'mqttTls', kafka: 'kafka', 'kafka-tls': 'kafkaTls', http: 'http', https: 'https' }
      const tls = security.tls
      for (const l of listenerTable(config)) {
        const target = { name: l.name, host: l.host, port: l.port, flag: l.flag }
        let listener: Listener
        // Each Kafka listener advertises its own address (Metadata answers).
        const kafkaListener = l.protocol === 'kafka' ? kafka!.listener(l.tls) : null
        if (l.protocol === 'http') {
          listener = await startHttpListener({ target, routes, registry: connections, logger, tls: l.tls ? tls : null })
        } else {
          const wire = kafkaListener?.wire ?? wires[l.protocol as keyof typeof wires]
          if (wire === null) continue
          const gated = l.protocol === 'mqtt'
          listener = l.tls
            // A verified client certificate authenticates the connection before its first byte.
            ? await startTlsServer(target, tls!, socket => {
              if (gated && !clusterJoined.done) socket.destroy()
              else connections.accept(tcpChannel(socket), wire, certificateLogin(tls!.peerPrincipal(socket)))
            }, logger)
            : await startTcpServer(target, socket => {
              if (gated && !clusterJoined.done) socket.destroy()
              else connections.accept(tcpChannel(socket), wire)
            }, logger)
        }
        listeners.push(listener)
        ports[portKey[l.name]!] = listener.port
        kafkaListener?.bound(listener.port)
      }
      advertised.port = ports.native ?? ports.nativeTls ?? 0
      if (ports.native !== null) ownListeners.native = { host: advertised.host, port: ports.native }
      if (ports.nativeTls !== null) ownListeners.nativeTls = { host: advertised.host, port: ports.nativeTls }
      if (cluster !== null && clusterQuotas !== null) {
        await joinCluster(cluster, config, ports, advertised.host, groups, mqtt, security, clusterQuotas)
        clusterJoined.done = true
      }
      stats.start()
      const broker = new Broker({
        config, logger, logs, metrics, services: { topics, partitions, producerIds, groups }, security, cluster, stats, connections, pendingRequests: budget, mqtt, routes, listeners, closers, ports, startedAtMs, now, lifecycle,
      })
      logger.info({ ports, dataDir: config.dataDir, recoveredUncleanly: logs.recoveredUncleanly }, 'broker started')
      return broker
    } catch (err) {
      await cluster?.close()
      for (const close of closers) close()
      await Promise.allSettled(listeners.map(l => l.close()))
      await logs.close()
      throw err
    }
  }

  /** Stops listeners, ends connections (flushing queued responses), closes the logs cleanly. Idempotent. */
  close (): Promise<void> {
    this.#closing ??= (async () => {
      this.#lifecycle.closing = true
      this.logger.info('broker stopping')
      // Leave the cluster first: the controller moves this broker's leaderships at once.
      await this.cluster?.close()
      for (const close of this.#closers) close()
      await Promise.allSettled(this.#listeners.map(l => l.close()))
      await this.logs.close()
      this.logger.info('broker stopped')
    })()
    return this.#closing
  }

  /** Uptime in ms. */
  get uptimeMs (): number { return this.#now() - this.startedAtMs }
}

/**
 * Cluster mode, once the listeners are bound: join under the bound ports, then open what
 * keeps its state in cluster topics (the group coordinator, the MQTT gateway).
 */
async function joinCluster (cluster: ClusterNode, config: BrokerConfig, ports: BrokerPorts, host: string, groups: GroupCoordinator, mqtt: MqttGateway | null, security: BrokerSecurity, quotas: ClusterQuotaStore): Promise<void> {
  const bound: Partial<Record<ListenerProtocol, { host: string, port: number }>> = {}
  for (const protocol of ['native', 'nativeTls', 'mqtt', 'http'] as const) {
    const port = ports[protocol]
    if (port !== null) bound[protocol] = { host, port }
  }
  // The Kafka listeners register what they tell their own clients (kafkaAdvertisedListener,
  // kafkaTlsAdvertisedListener), so every broker's Metadata names them the same way.
  if (ports.kafka !== null) bound.kafka = kafkaAdvertisedAddress(config, ports.kafka)
  if (ports.kafkaTls !== null) bound.kafkaTls = kafkaAdvertisedAddress(config, ports.kafkaTls, true)
  // Users, ACLs and quotas are the cluster's documents (broker/security/cluster-users.ts,
  // cluster-acls.ts, broker/quotas/cluster-quotas.ts).
  await cluster.start(bound, agent => {
    quotas.bind(agent.documentStore('quotas', rawQuotaDocument))
    return security.bindCluster({
      users: agent.documentStore('users', parseUserDocument),
      acls: agent.documentStore('acls', parseAclDocument),
      tokenKeys: agent.documentStore('token-keys', rawTokenKeyDocument),
      interBroker: cluster.interBroker,
    })
  })
  await groups.startOwned()
  await mqtt?.open()
}

/** Per-partition size and offsets on `/metrics`. */
function registerStorageMetrics (metrics: BrokerMetrics, logs: LogManager): void {
  const gauge = (name: string, help: string, read: (p: { logStartOffset: number, logEndOffset: number, highWatermark: number, sizeBytes: number }) => number): void => {
    metrics.gauge(name, help, ['topic', 'partition'], function * () {
      for (const t of logs.topics()) {
        if (t.internal) continue
        for (const p of logs.partitionStats(t.name)) yield [{ topic: t.name, partition: p.partition }, read(p)]
      }
    })
  }
  gauge('spool_partition_size_bytes', 'Bytes on disk per partition', p => p.sizeBytes)
  gauge('spool_partition_log_start_offset', 'First offset still held per partition', p => p.logStartOffset)
  gauge('spool_partition_log_end_offset', 'Next offset to be written per partition', p => p.logEndOffset)
  gauge('spool_partition_high_watermark', 'Offset below which consumers read, per partition', p => p.highWatermark)
}

/** The login of a connection whose TLS client certificate verified (null: none). */
function certificateLogin (principal: Principal | null): { principal: Principal, expiresAtMs: null } | null {
  return principal === null ? null : { principal, expiresAtMs: null }
}

/** With --auth, MQTT CONNECT authenticates against the user store and publish/subscribe pass the ACLs (security/mqtt-access.ts). */
function mqttSecurity (config: BrokerConfig, security: BrokerSecurity): { authenticator?: ReturnType<typeof mqttAuthenticator>, authorizer?: MqttAccess } {
  if (!security.required) return {}
  const rules = parseMapRules(config.mqttMap ?? [], { maxTopicBytes: config.mqttMaxTopicLength, maxTopicLevels: config.mqttMaxTopicLevels })
  return {
    authenticator: mqttAuthenticator(security.authenticator, config.tlsPrincipal as 'dn' | 'cn'),
    authorizer: new MqttAccess(security.access, rules, config.mqttLogTopic),
  }
}
