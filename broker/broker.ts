/**
 * The broker: wiring only. `Broker.start(config)` opens the logs, builds the request
 * handlers and starts the listeners; `broker.close()` stops them and closes the logs
 * cleanly (fsync, clean-shutdown marker).
 *
 * Produce, end to end: listeners/tcp.ts or listeners/websocket.ts → listeners/connection.ts
 * (length prefix checked against maxFrameBytes before buffering) → protocol/native/frame.ts
 * → handlers/dispatcher.ts (api key + version, body schema) → handlers/produce.ts →
 * partitions.ts → storage/partition-log.ts (validate size, magic, CRC32C, counts; rewrite
 * baseOffset; write) → group commit for acks=all → response frame → connection write.
 * Fetch: handlers/fetch.ts reads whole batches from storage (no decoding) and the
 * connection writes header + body + file buffers; a waiting fetch is woken by
 * partitions.ts on append.
 *
 * Listeners plug in here: each gets the shared Connections (native protocol) or the
 * PartitionService (other protocols) and registers its routes on the HTTP port.
 *
 * HTTP port (listeners/http.ts): `/ws` and `/mqtt` upgrades (both behind the Origin check of
 * protocols/http/origin.ts), `/healthz`, `/metrics`, the JSON api under `/api/` (api/), and the
 * files built by scripts/build-web.mjs: the web console at `/`, the browser SDK at
 * `/sdk/spool.js`, the browser example at `/examples/browser/` (listeners/static-files.ts).
 */

import type { Logger } from 'pino'
import { InvalidTopicError } from '../protocol/errors.js'
import { resolveConfig, type BrokerConfig } from './config/settings.js'
import type { BrokerContext } from './protocols/native/context.js'
import { Dispatcher } from './protocols/native/dispatcher.js'
import { registerHandlers } from './protocols/native/register.js'
import { Connections } from './network/registry.js'
import { newRoutes, readOnly, sendJson, sendText, startHttpListener, type HttpRoutes } from './protocols/http/server.js'
import { startTcpListener, type Listener } from './network/server.js'
import { nativeWebSocketUpgrade, originCheckedUpgrade } from './protocols/http/upgrade.js'
import { staticFiles } from './protocols/http/static-files.js'
import { apiRoutes } from './protocols/http/api/http-api.js'
import { apiRouter } from './protocols/http/api/router.js'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { createLogger } from './observability/logger.js'
import { BrokerMetrics } from './observability/metrics.js'
import { installNodeCodecs } from '../platform/node-codecs.js'
import { PartitionService } from './services/partitions.js'
import { LogManager } from './storage/log-manager.js'
import { GroupCoordinator } from './groups/coordinator.js'
import { registerGroupHandlers } from './protocols/native/groups.js'
import { ProducerIdAllocator } from './services/producer-ids.js'
import { startMqttGateway } from './protocols/mqtt/gateway.js'
import { StatsSampler } from './observability/stats.js'

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
}

/** This package's dist/ (this file is dist/broker/broker.js once built). */
const DEFAULT_WEB_ROOT = fileURLToPath(new URL('..', import.meta.url))

/**
 * The console's pages may load scripts, styles and connections from the broker only, and may
 * not be framed by another site (its buttons delete topics).
 */
const CONSOLE_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

export interface BrokerPorts {
  /** Native protocol TCP port, null when switched off. */
  native: number | null
  /** HTTP port (/ws, /metrics, /healthz), null when switched off. */
  http: number | null
  /** MQTT TCP port (MQTT over WebSocket is /mqtt on the HTTP port), null when switched off. */
  mqtt: number | null
}

export class Broker {
  readonly config: BrokerConfig
  readonly logger: Logger
  readonly logs: LogManager
  readonly metrics: BrokerMetrics
  readonly partitions: PartitionService
  readonly groups: GroupCoordinator
  readonly stats: StatsSampler
  readonly connections: Connections
  readonly routes: HttpRoutes
  readonly ports: BrokerPorts
  readonly startedAtMs: number
  readonly #listeners: Listener[]
  readonly #closers: Array<() => void>
  readonly #connectionCount: () => number
  readonly #now: () => number
  #closing: Promise<void> | null = null

  private constructor (init: {
    config: BrokerConfig, logger: Logger, logs: LogManager, metrics: BrokerMetrics, partitions: PartitionService, groups: GroupCoordinator,
    stats: StatsSampler, connections: Connections, routes: HttpRoutes, listeners: Listener[], closers: Array<() => void>, ports: BrokerPorts, startedAtMs: number,
    connectionCount: () => number, now: () => number
  }) {
    this.config = init.config
    this.logger = init.logger
    this.logs = init.logs
    this.metrics = init.metrics
    this.partitions = init.partitions
    this.groups = init.groups
    this.stats = init.stats
    this.connections = init.connections
    this.routes = init.routes
    this.#listeners = init.listeners
    this.#closers = init.closers
    this.ports = init.ports
    this.startedAtMs = init.startedAtMs
    this.#connectionCount = init.connectionCount
    this.#now = init.now
  }

  /**
   * Starts a broker. Options override environment and defaults (see config.ts); pass
   * `port: 0` / `httpPort: 0` for free ports (tests) and read them from `broker.ports`.
   */
  static async start (options: BrokerOptions = {}): Promise<Broker> {
    const { logger: givenLogger, now = Date.now, webRoot = DEFAULT_WEB_ROOT, ...overrides } = options
    const config = resolveConfig({ overrides })
    const logger = givenLogger ?? createLogger(config.logLevel)
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
    try {
      const metrics = new BrokerMetrics()
      const partitions = new PartitionService(logs, metrics)
      const dispatcher = new Dispatcher(metrics)
      const connections = new Connections({
        limits: {
          maxFrameBytes: config.maxFrameBytes,
          maxInFlightRequests: config.maxInFlightRequests,
          maxQueuedBytes: config.maxQueuedBytes,
          idleTimeoutMs: config.idleTimeoutMs,
        },
        maxConnections: config.maxConnections,
        dispatch: dispatcher.dispatch,
        logger,
        metrics,
        now,
      })
      closers.push(() => connections.closeAll())
      const advertised = { host: config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host, port: 0 }
      const creating = new Map<string, Promise<void>>()
      const ctx: BrokerContext = {
        config,
        logs,
        partitions,
        logger,
        metrics,
        advertised,
        now,
        ensureTopic (name) {
          if (logs.hasTopic(name)) return Promise.resolve()
          if (name.startsWith('__')) return Promise.reject(new InvalidTopicError(`topic names starting with "__" are reserved for internal topics (${name})`))
          const pending = creating.get(name)
          if (pending !== undefined) return pending
          const created = logs.createTopic(name, { partitions: config.defaultPartitions })
            .then(() => { logger.info({ topic: name, partitions: config.defaultPartitions }, 'topic auto-created') })
            .finally(() => creating.delete(name))
          creating.set(name, created)
          return created
        },
      }
      registerHandlers(dispatcher, ctx)
      const groups = new GroupCoordinator({ partitions, config, logger, now })
      await groups.start()
      closers.push(() => groups.close())
      registerGroupHandlers(dispatcher, groups)
      metrics.registry.gauge('spool_group_lag', 'Log end offset minus committed offset, by group and partition', ['group', 'topic', 'partition'], () => groups.lag())
      metrics.registry.gauge('spool_group_members', 'Members of each consumer group', ['group'], () => groups.memberCounts())
      const stats = new StatsSampler({ metrics, groupLag: () => groups.totalLag(), now })
      stats.addSource(() => connections.list().map(c => ({
        id: `native-${c.id}`,
        clientId: c.clientId,
        remoteAddress: c.remoteAddress,
        protocol: c.listener === 'ws' ? 'native-ws' : 'native-tcp',
        group: c.group,
        bytesIn: c.bytesIn,
        bytesOut: c.bytesOut,
        connectedAtMs: c.connectedAtMs,
      })))
      closers.push(() => stats.stop())
      const producerIds = new ProducerIdAllocator(config.dataDir)
      dispatcher.register('InitProducerId', () => ({ body: { producerId: producerIds.allocate(), producerEpoch: 0 } }))

      const routes = newRoutes()
      const startedAtMs = now()
      const ports: BrokerPorts = { native: null, http: null, mqtt: null }
      let mqttConnections = (): number => 0
      if (config.port !== null) {
        const tcp = await startTcpListener({ host: config.host, port: config.port, connections, logger })
        listeners.push(tcp)
        ports.native = tcp.port
        advertised.port = tcp.port
      }
      if (config.mqttPort !== null) {
        // The MQTT gateway (protocols/mqtt/gateway.ts): its own TCP port and /mqtt upgrades;
        // closed with the listeners, before the logs.
        const mqtt = await startMqttGateway({ config, partitions, logger, metrics, now })
        listeners.push({ name: 'mqtt', port: mqtt.port ?? 0, close: () => mqtt.close() })
        routes.upgrades.set('/mqtt', originCheckedUpgrade(mqtt.upgradeHandler, config.httpAllowedOrigins, logger))
        ports.mqtt = mqtt.port
        mqttConnections = () => mqtt.gateway.connections.size
        stats.addSource(() => [...mqtt.gateway.connections].map(c => ({
          id: `mqtt-${c.id}`,
          clientId: c.clientId,
          remoteAddress: c.channel.remoteAddress,
          protocol: c.channel.listener === 'ws' ? 'mqtt-ws' : 'mqtt-tcp',
          group: null,
          bytesIn: c.bytesIn,
          bytesOut: c.bytesOut,
          connectedAtMs: c.openedAtMs,
        })))
      }
      stats.start()
      const broker = new Broker({ config, logger, logs, metrics, partitions, groups, stats, connections, routes, listeners, closers, ports, startedAtMs,
        connectionCount: () => connections.size + mqttConnections(),
        now,
      })
      broker.#registerCoreRoutes()
      broker.#registerWebRoutes(webRoot)
      const ws = nativeWebSocketUpgrade({ connections, maxFrameBytes: config.maxFrameBytes, allowedOrigins: config.httpAllowedOrigins, logger })
      closers.push(() => ws.close())
      routes.upgrades.set('/ws', ws.handler)
      if (config.httpPort !== null) {
        const http = await startHttpListener({ host: config.host, port: config.httpPort, routes, logger })
        listeners.push(http)
        ports.http = http.port
      }
      logger.info({ ports, dataDir: config.dataDir, recoveredUncleanly: logs.recoveredUncleanly }, 'broker started')
      return broker
    } catch (err) {
      for (const close of closers) close()
      await Promise.allSettled(listeners.map(l => l.close()))
      await logs.close()
      throw err
    }
  }

  #registerCoreRoutes (): void {
    this.routes.routes.set('/healthz', (req, res) => {
      if (!readOnly(req, res, 'a health check')) return
      const closing = this.#closing !== null
      const disk = this.logs.diskState // read-only while the disk is full (storage/disk-space.ts)
      sendJson(res, closing ? 503 : 200, {
        status: closing ? 'closing' : disk.readOnly ? 'read-only' : 'ok',
        storage: { readOnly: disk.readOnly, reason: disk.reason },
        uptimeMs: this.#now() - this.startedAtMs,
        topics: this.logs.topics().filter(t => !t.internal).length,
        connections: this.connections.size,
        ports: this.ports,
      })
    })
    this.routes.routes.set('/metrics', (req, res) => {
      if (!readOnly(req, res, 'metrics')) return
      sendText(res, 200, this.metrics.registry.render(), 'text/plain; version=0.0.4; charset=utf-8')
    })
  }

  /** The JSON api and the files built by scripts/build-web.mjs (see the file header). */
  #registerWebRoutes (webRoot: string): void {
    const api = apiRouter(apiRoutes({
      config: this.config,
      logs: this.logs,
      groups: this.groups,
      stats: this.stats,
      ports: this.ports,
      startedAtMs: this.startedAtMs,
      connectionCount: this.#connectionCount,
      now: this.#now,
    }), { allowedOrigins: this.config.httpAllowedOrigins, maxBodyBytes: this.config.httpMaxBodyBytes, logger: this.logger })
    this.routes.routes.set('/api', api)
    this.routes.prefixes.set('/api/', api)
    const build = 'run `npm run build` to build it'
    const consoleDir = join(webRoot, 'console')
    const htmlHeaders = { 'content-security-policy': CONSOLE_CSP, 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' }
    this.routes.routes.set('/', staticFiles({ dir: consoleDir, prefix: '/', index: 'index.html', missingHint: `the web console is missing from ${consoleDir}: ${build}`, htmlHeaders }))
    this.routes.prefixes.set('/console/', staticFiles({ dir: consoleDir, prefix: '/console/', index: 'index.html', missingHint: `the web console is missing from ${consoleDir}: ${build}`, htmlHeaders }))
    const sdkDir = join(webRoot, 'browser')
    // Any page may load the SDK (it is public code); connecting is what the Origin check decides.
    this.routes.prefixes.set('/sdk/', staticFiles({
      dir: sdkDir,
      prefix: '/sdk/',
      missingHint: `the browser SDK bundle ${join(sdkDir, 'spool.js')} is missing: ${build}`,
      headers: { 'access-control-allow-origin': '*' },
    }))
    const examplesDir = join(webRoot, 'examples')
    this.routes.prefixes.set('/examples/', staticFiles({ dir: examplesDir, prefix: '/examples/', index: 'index.html', missingHint: `the examples are missing from ${examplesDir}: ${build}` }))
  }

  /** Stops listeners, ends connections (flushing queued responses), closes the logs cleanly. Idempotent. */
  close (): Promise<void> {
    this.#closing ??= (async () => {
      this.logger.info('broker stopping')
      for (const close of this.#closers) close()
      await Promise.allSettled(this.#listeners.map(l => l.close()))
      await this.logs.close()
      this.logger.info('broker stopped')
    })()
    return this.#closing
  }
}

