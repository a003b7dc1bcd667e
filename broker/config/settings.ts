/**
 * Broker configuration: one table of settings, each with its type, default and meaning.
 * The same table gives the `spool broker start` flags (kebab-case), the environment
 * variables (`SPOOL_` + UPPER_SNAKE) and the config-file keys (camelCase, JSON), and the
 * README's configuration section is checked against it. Precedence: flags, then
 * environment, then config file, then defaults (docs/architecture.md §6).
 */

import { readFileSync } from 'node:fs'
import { InvalidConfigError } from '../../protocol/errors.js'

type Kind = 'string' | 'int' | 'bool' | 'port' | 'level' | 'format' | 'list'

interface Setting<K extends Kind, D> {
  kind: K
  default: D
  doc: string
}

function s<D> (kind: Kind, def: D, doc: string): Setting<Kind, D> {
  return { kind, default: def, doc }
}

const MiB = 1024 * 1024
const DAY_MS = 24 * 60 * 60 * 1000

/** Every setting. `port` settings accept a port number (0 = any free port) or `off`. */
export const SETTINGS = {
  dataDir: s<string>('string', './data', 'Directory holding topic logs and broker metadata'),
  configFile: s<string | null>('string', null, 'JSON file with settings (keys: the Configuration table in the README)'),
  host: s<string>('string', '127.0.0.1', 'Address every listener binds (use 0.0.0.0 to accept remote clients)'),
  port: s<number | null>('port', 7420, 'Native protocol TCP port (SDK and CLI); off disables it'),
  httpPort: s<number | null>('port', 7421, 'HTTP port: /ws (native protocol over WebSocket), /metrics, /healthz, /api, the web console at /; off disables it'),
  httpAllowedOrigins: s<string[] | null>('list', null, 'Web page origins (scheme://host:port) allowed, besides the broker\'s own, to open /ws and /mqtt and to change things through /api; * allows any'),
  httpMaxBodyBytes: s<number>('int', 64 * 1024, 'Largest /api request body accepted'),
  logLevel: s<string>('level', 'info', 'Log level: fatal, error, warn, info, debug, trace or silent'),
  logFormat: s<string>('format', 'auto', 'Log lines as json, or pretty (readable); auto: pretty on a terminal, json otherwise'),
  nodeId: s<number>('int', 0, 'This broker\'s node id'),
  clusterId: s<string>('string', 'auto', 'Cluster id reported in metadata (native and Kafka); auto: one generated on first start and kept in the data dir (file cluster-id); with etcdEndpoints, auto is spool (every broker of a cluster reports one id)'),
  mqttPort: s<number | null>('port', 1883, 'MQTT 3.1.1/5 TCP port (also served over WebSocket at /mqtt on the HTTP port); off disables both'),
  kafkaPort: s<number | null>('port', 9092, 'Kafka wire-protocol TCP port for existing Kafka clients (kcat, librdkafka, kafkajs); off disables it'),
  kafkaAdvertisedListener: s<string | null>('string', null, 'host:port (or host) Kafka clients are told to connect to in Metadata and FindCoordinator answers; default: 127.0.0.1 (or --host) and the bound Kafka port'),
  mqttLogTopic: s<string>('string', 'mqtt', 'Log topic receiving MQTT publishes that no mqttMap rule matches (created on its first publish)'),
  mqttPartitions: s<number>('int', 1, 'Partitions of MQTT log topics the gateway creates'),
  mqttMap: s<string[] | null>('list', null, 'Rules filter=logTopic sending matching MQTT topics to other log topics; the first match wins'),
  mqttMaxPacketBytes: s<number>('int', 256 * 1024, 'Largest MQTT packet accepted (checked from the fixed header before buffering)'),
  mqttMaxTopicLength: s<number>('int', 1024, 'Largest MQTT topic name or filter, in UTF-8 bytes'),
  mqttMaxTopicLevels: s<number>('int', 32, 'Most levels ("/"-separated) in an MQTT topic name or filter'),
  mqttMaxSubscriptionsPerClient: s<number>('int', 100, 'Subscriptions one MQTT session may hold'),
  mqttMaxInflight: s<number>('int', 1000, 'QoS 1/2 messages in flight per MQTT client, each way (MQTT 5 receive maximum)'),
  mqttMaxConnections: s<number>('int', 10_000, 'MQTT connections accepted at once (TCP and WebSocket together)'),
  mqttMaxQueuedBytes: s<number>('int', 1 * MiB, 'Bytes queued for an MQTT client that does not read; past it QoS 0 is dropped and QoS 1/2 waits in the log'),
  mqttKeepAliveMax: s<number>('int', 600, 'Largest MQTT keep-alive in seconds (MQTT 5 clients are told; 3.1.1 clients asking for more are refused)'),
  mqttSessionExpiryMaxSec: s<number>('int', 7 * 24 * 3600, 'Longest an offline persistent MQTT session is kept, in seconds'),
  mqttMaxSessions: s<number>('int', 100_000, 'Persistent MQTT sessions kept at once, online and offline; a CONNECT that would create one more is refused (MQTT 5: 0x97 quota exceeded, 3.1.1: server unavailable)'),
  mqttSessionCreateRate: s<number>('int', 100, 'New persistent MQTT sessions one peer address may create per second (bursts up to as many); past it a CONNECT is refused (MQTT 5: 0x9F connection rate exceeded, 3.1.1: server unavailable)'),
  mqttCatchUpBytes: s<number>('int', 32 * MiB, 'Bytes the MQTT gateway may hold at once reading its logs back for sessions that are behind (catch-up and resend after a reconnect), all sessions together'),
  mqttFsyncAcks: s<boolean>('bool', false, 'Acknowledge MQTT QoS 1/2 publishes only after their record is fsynced'),
  autoCreateTopics: s<boolean>('bool', true, 'Create unknown topics when a client asks for their metadata'),
  defaultPartitions: s<number>('int', 1, 'Partitions of an auto-created topic, or of a created topic that names none'),
  maxPartitionsPerTopic: s<number>('int', 10_000, 'Largest partition count a topic may have'),
  maxFrameBytes: s<number>('int', 16 * MiB, 'Largest native or Kafka frame accepted (checked from the length prefix before buffering)'),
  maxBatchBytes: s<number>('int', 1 * MiB, 'Default largest record batch a topic accepts'),
  maxInFlightRequests: s<number>('int', 1000, 'Requests one connection may have waiting for an answer'),
  maxConnections: s<number>('int', 10_000, 'Connections the broker accepts at once, every protocol together, WebSockets included (plain HTTP requests are not counted); the next one is refused'),
  maxPendingRequestBytes: s<number>('int', 256 * MiB, 'Bytes held for requests still arriving, all connections together; past it the broker stops reading new requests until some complete'),
  idleTimeoutMs: s<number>('int', 10 * 60 * 1000, 'A connection with no request for this long is closed'),
  maxQueuedBytes: s<number>('int', 64 * MiB, 'Response bytes queued for a connection that does not read; past it the connection is closed'),
  segmentBytes: s<number>('int', 1024 * MiB, 'Default segment size before a partition log rolls'),
  segmentMs: s<number>('int', 7 * DAY_MS, 'Default segment age before a partition log rolls'),
  retentionMs: s<number>('int', 7 * DAY_MS, 'Default time records are kept (-1 = forever)'),
  retentionBytes: s<number>('int', -1, 'Default bytes kept per partition (-1 = no limit)'),
  retentionCheckIntervalMs: s<number>('int', 5 * 60 * 1000, 'How often retention and compaction run'),
  maxOpenFiles: s<number>('int', 1000, 'File handles kept open for old segments (least recently used are closed)'),
  offsetsTopicPartitions: s<number>('int', 8, 'Partitions of the internal __consumer_offsets topic (fixed once created)'),
  groupHeartbeatIntervalMs: s<number>('int', 3000, 'How often group members heartbeat (faster while partitions are moving)'),
  groupMinSessionTimeoutMs: s<number>('int', 500, 'Smallest session timeout a group member may ask for'),
  groupMaxSessionTimeoutMs: s<number>('int', 5 * 60 * 1000, 'Largest session timeout a group member may ask for'),
  groupMaxSize: s<number>('int', 1000, 'Members one consumer group may have'),
  groupInitialRebalanceDelayMs: s<number>('int', 3000, 'How long the first rebalance of an empty Kafka-protocol (JoinGroup) group waits for more members to join (Kafka\'s group.initial.rebalance.delay.ms)'),
  auth: s<boolean>('bool', false, 'Require authentication on every listener (SASL or a token on the native protocol and /ws, a user name and password or a client certificate on MQTT, a login on /api and the console) and enforce the ACLs'),
  allowAnonymous: s<boolean>('bool', false, 'Start on a non-loopback --host without --auth (anyone who reaches the ports may read, write and delete)'),
  superUsers: s<string[] | null>('list', null, 'Principals allowed everything whatever the ACLs say (User:admin,User:ops)'),
  allowEveryoneIfNoAclFound: s<boolean>('bool', false, 'Allow an operation on a resource that no ACL names at all (Kafka\'s allow.everyone.if.no.acl.found)'),
  bootstrapAdmin: s<string | null>('string', null, 'With --auth and no users yet, create this user as a super user; its password is SPOOL_ADMIN_PASSWORD, or generated and printed once on stderr'),
  saslPlainWithoutTls: s<boolean>('bool', false, 'Accept SASL PLAIN (the password itself on the wire) on connections without TLS'),
  metricsPublic: s<boolean>('bool', false, 'Serve /metrics without authentication when --auth is on'),
  tlsCertFile: s<string | null>('string', null, 'PEM certificate (chain) of the TLS listeners; re-read on change and on SIGHUP'),
  tlsKeyFile: s<string | null>('string', null, 'PEM private key of tlsCertFile'),
  tlsCaFile: s<string | null>('string', null, 'PEM CA bundle that client certificates must chain to (mTLS)'),
  tlsClientAuth: s<string>('string', 'none', 'Client certificates on the TLS listeners: none, requested (a verified one authenticates) or required'),
  tlsPrincipal: s<string>('string', 'dn', 'Principal of a client certificate: dn (User:CN=alice,O=acme, RFC 2253) or cn (User:alice)'),
  tlsPort: s<number | null>('port', null, 'Native protocol over TLS (SDK and CLI with --tls); off unless set'),
  httpsPort: s<number | null>('port', null, 'HTTPS port: the HTTP port\'s routes over TLS (wss:// for /ws and /mqtt); off unless set'),
  mqttTlsPort: s<number | null>('port', null, 'MQTT over TLS (8883 by convention); off unless set'),
  kafkaTlsPort: s<number | null>('port', null, 'Kafka wire protocol over TLS (9093 by convention; security.protocol ssl or sasl_ssl); off unless set'),
  kafkaTlsAdvertisedListener: s<string | null>('string', null, 'host:port (or host) clients of the Kafka TLS listener are told to connect to; default: the host of kafkaAdvertisedListener (or --host) and the bound Kafka TLS port'),
  quotaWindowNum: s<number>('int', 11, 'Windows a quota\'s rate is measured over (Kafka\'s quota.window.num): the last quotaWindowNum − 1 to quotaWindowNum windows'),
  quotaWindowSizeMs: s<number>('int', 1000, 'Length of one quota window in ms (Kafka\'s quota.window.size.seconds); one throttle is at most quotaWindowNum × quotaWindowSizeMs'),
  egressWarnRatio: s<number>('int', 10, 'Egress at least this many times ingress is an egress anomaly: the console says so and /metrics shows it'),
  egressWarnPercent: s<number>('int', 50, 'During an egress anomaly, a connection taking more than this share (%) of the egress for egressWarnSeconds is logged in one warning line (0: never)'),
  egressWarnSeconds: s<number>('int', 30, 'How long a connection must take more than egressWarnPercent of the egress before it is logged (then at most once every 10 minutes)'),
  egressWarnMinBytesPerSec: s<number>('int', 1 * MiB, 'Egress below this many bytes per second is never an anomaly'),
  egressTopConnections: s<number>('int', 10, 'Connections with their own egress gauge on /metrics (spool_connection_egress_bytes_per_second, the heaviest first)'),
  // Cluster mode (docs/cluster.md): set etcdEndpoints to run as one broker of a cluster.
  etcdEndpoints: s<string[] | null>('list', null, 'etcd client URLs (http(s)://host:port, comma-separated); set to run as one broker of a cluster sharing that etcd (off: a single broker)'),
  etcdCaFile: s<string | null>('string', null, 'PEM file of the CA that signed etcd\'s server certificate (etcd over TLS)'),
  etcdCertFile: s<string | null>('string', null, 'PEM client certificate for etcd\'s client-cert-auth (with etcdKeyFile)'),
  etcdKeyFile: s<string | null>('string', null, 'PEM private key of etcdCertFile'),
  etcdUsername: s<string | null>('string', null, 'etcd user (with etcdPassword) when etcd has authentication on'),
  etcdPassword: s<string | null>('string', null, 'Password of etcdUsername'),
  interBrokerUser: s<string | null>('string', null, 'With --auth in cluster mode: the user this broker authenticates as to the other brokers (replica fetch, forwarded appends); a super user, exempt from quotas, created in the cluster on first start if absent'),
  interBrokerPasswordFile: s<string | null>('string', null, 'With --auth in cluster mode: file whose first line is interBrokerUser\'s password (every broker of the cluster gives the same)'),
  interBrokerSaslMechanism: s<string>('string', 'SCRAM-SHA-512', 'SASL mechanism of inter-broker connections: SCRAM-SHA-512 or SCRAM-SHA-256'),
  interBrokerTls: s<boolean>('bool', false, 'Cluster mode: brokers reach each other (replica fetch, forwarded appends) only on their native TLS listeners (every broker needs --tls-port), checking the peer\'s certificate against interBrokerCaFile and presenting tlsCertFile'),
  interBrokerCaFile: s<string | null>('string', null, 'With interBrokerTls: PEM CA bundle the other brokers\' certificates must chain to (default tlsCaFile, else the system CAs)'),
  clusterKeyPrefix: s<string | null>('string', null, 'Root of this cluster\'s keys in etcd (default /spool/<clusterId>)'),
  leaseTtlMs: s<number>('int', 3000, 'Session timeout: a broker that stops renewing its etcd lease this long is dead and its partitions move (whole seconds)'),
  rack: s<string | null>('string', null, 'Rack or zone of this broker: replicas are spread over racks; consumers in a rack may read from its replicas'),
  advertisedListeners: s<string[] | null>('list', null, 'protocol=host:port per listener (native, nativeTls, kafka, kafkaTls, mqtt, http) as other brokers and clients reach this broker; default --host and the bound ports (the Kafka ones: kafkaAdvertisedListener, kafkaTlsAdvertisedListener)'),
  replicaLagTimeMs: s<number>('int', 10_000, 'A follower not caught up with its leader for this long leaves the in-sync replicas'),
  minInsyncReplicas: s<number>('int', 1, 'acks=all writes need at least this many in-sync replicas (NOT_ENOUGH_REPLICAS otherwise)'),
  uncleanLeaderElection: s<boolean>('bool', false, 'Elect an out-of-sync replica when no in-sync one is alive (acknowledged records may be lost)'),
  defaultReplicationFactor: s<number>('int', 3, 'Replicas of a topic created without a replication factor (auto-created and internal topics: at most the live brokers)'),
  reassignmentThrottleBytesPerSec: s<number>('int', 50 * MiB, 'Bytes per second a broker fetches for replicas being added by a reassignment (0 = unthrottled)'),
} as const

export type SettingName = keyof typeof SETTINGS
export type BrokerConfig = { [K in SettingName]: (typeof SETTINGS)[K]['default'] }

/** Defaults for every setting. */
export function defaultConfig (): BrokerConfig {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(SETTINGS)) out[k] = v.default
  return out as BrokerConfig
}

/** `httpPort` → `--http-port`. */
export function flagName (name: SettingName): string {
  return '--' + name.replace(/[A-Z]/g, c => '-' + c.toLowerCase())
}

/** `httpPort` → `SPOOL_HTTP_PORT`. */
export function envName (name: SettingName): string {
  return 'SPOOL_' + name.replace(/[A-Z]/g, c => '_' + c).toUpperCase()
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const FORMATS = ['auto', 'json', 'pretty']

/** Parses one setting from a string (flag or env) or a JSON value (file), naming its source on error. */
export function parseSetting (name: SettingName, raw: unknown, source: string): unknown {
  const kind: Kind = SETTINGS[name].kind
  const bad = (why: string): never => {
    throw new InvalidConfigError(`${source}: ${name} ${why} (got ${JSON.stringify(raw)})`)
  }
  switch (kind) {
    case 'string':
      if (typeof raw !== 'string' || raw.length === 0) bad('must be a non-empty string')
      return raw
    case 'format':
      if (typeof raw !== 'string' || !FORMATS.includes(raw)) bad(`must be one of ${FORMATS.join(', ')}`)
      return raw
    case 'level':
      if (typeof raw !== 'string' || !LEVELS.includes(raw)) bad(`must be one of ${LEVELS.join(', ')}`)
      return raw
    case 'bool':
      if (typeof raw === 'boolean') return raw
      if (raw === 'true' || raw === '1' || raw === 'yes' || raw === 'on') return true
      if (raw === 'false' || raw === '0' || raw === 'no' || raw === 'off') return false
      return bad('must be true or false')
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN
      if (!Number.isSafeInteger(n)) bad('must be an integer')
      return n
    }
    case 'port': {
      if (raw === 'off' || raw === false || raw === null) return null
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : NaN
      if (!Number.isInteger(n) || n < 0 || n > 65535) bad('must be a port number 0-65535 or off')
      return n
    }
    case 'list':
      if (Array.isArray(raw) && raw.every(x => typeof x === 'string')) return raw
      if (typeof raw === 'string') return raw.split(',').map(x => x.trim()).filter(x => x.length > 0)
      return bad('must be a comma-separated list')
  }
}

/** Checks relations between settings that no single parse can. */
export function validateConfig (config: BrokerConfig): BrokerConfig {
  const positive: SettingName[] = ['httpMaxBodyBytes', 'defaultPartitions', 'maxPartitionsPerTopic', 'maxFrameBytes', 'maxBatchBytes',
    'maxInFlightRequests', 'maxConnections', 'maxPendingRequestBytes', 'idleTimeoutMs', 'maxQueuedBytes', 'segmentBytes', 'segmentMs', 'maxOpenFiles',
    'offsetsTopicPartitions', 'groupHeartbeatIntervalMs', 'groupMinSessionTimeoutMs', 'groupMaxSessionTimeoutMs', 'groupMaxSize']
  for (const k of positive) {
    if ((config[k] as number) <= 0) throw new InvalidConfigError(`${k} must be positive (got ${String(config[k])})`)
  }
  if (config.defaultPartitions > config.maxPartitionsPerTopic) {
    throw new InvalidConfigError('defaultPartitions exceeds maxPartitionsPerTopic')
  }
  if (config.maxPendingRequestBytes < config.maxFrameBytes) {
    throw new InvalidConfigError('maxPendingRequestBytes is below maxFrameBytes: a maximal frame could never be assembled')
  }
  if (config.maxBatchBytes > config.maxFrameBytes) {
    throw new InvalidConfigError('maxBatchBytes exceeds maxFrameBytes: a maximal batch could never arrive')
  }
  if (config.groupMinSessionTimeoutMs > config.groupMaxSessionTimeoutMs) {
    throw new InvalidConfigError('groupMinSessionTimeoutMs exceeds groupMaxSessionTimeoutMs')
  }
  if (config.groupInitialRebalanceDelayMs < 0) throw new InvalidConfigError('groupInitialRebalanceDelayMs must be >= 0')
  if (config.kafkaAdvertisedListener !== null) parseHostPort(config.kafkaAdvertisedListener, 'kafkaAdvertisedListener')
  if (config.kafkaTlsAdvertisedListener !== null) parseHostPort(config.kafkaTlsAdvertisedListener, 'kafkaTlsAdvertisedListener')
  if (config.retentionCheckIntervalMs < 0) throw new InvalidConfigError('retentionCheckIntervalMs must be >= 0')
  validateSecurityConfig(config)
  if (config.quotaWindowNum < 2) throw new InvalidConfigError(`quotaWindowNum must be at least 2 (got ${config.quotaWindowNum})`)
  if (config.quotaWindowSizeMs < 1) throw new InvalidConfigError(`quotaWindowSizeMs must be positive (got ${config.quotaWindowSizeMs})`)
  if (config.egressWarnPercent < 0 || config.egressWarnPercent > 100) throw new InvalidConfigError(`egressWarnPercent must be 0-100 (got ${config.egressWarnPercent})`)
  for (const k of ['egressWarnRatio', 'egressWarnSeconds', 'egressWarnMinBytesPerSec', 'egressTopConnections'] as const) {
    if (config[k] < 0) throw new InvalidConfigError(`${k} must be >= 0 (got ${config[k]})`)
  }
  validateClusterSettings(config)
  return config
}

/**
 * Parses `host:port` or `host` (IPv6 hosts in brackets: `[::1]:9092`); port 1-65535, null
 * when not given. Throws InvalidConfigError naming the setting.
 */
export function parseHostPort (text: string, setting: string): { host: string, port: number | null } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]+))(?::(\d{1,5}))?$/.exec(text)
  const port = m?.[3] === undefined ? null : Number(m[3])
  if (m === null || (port !== null && (port < 1 || port > 65535))) {
    throw new InvalidConfigError(`${setting} must be host or host:port with a port 1-65535 (got ${JSON.stringify(text)})`)
  }
  return { host: m[1] ?? m[2]!, port }
}

const CLIENT_AUTH = ['none', 'requested', 'required']
const TLS_PRINCIPAL = ['dn', 'cn']

/** The TLS and authentication settings that must agree with each other. */
function validateSecurityConfig (config: BrokerConfig): void {
  if (!CLIENT_AUTH.includes(config.tlsClientAuth)) throw new InvalidConfigError(`tlsClientAuth must be one of ${CLIENT_AUTH.join(', ')} (got ${JSON.stringify(config.tlsClientAuth)})`)
  if (!TLS_PRINCIPAL.includes(config.tlsPrincipal)) throw new InvalidConfigError(`tlsPrincipal must be dn or cn (got ${JSON.stringify(config.tlsPrincipal)})`)
  const tlsListeners = (['tlsPort', 'kafkaTlsPort', 'httpsPort', 'mqttTlsPort'] as const).filter(k => config[k] !== null)
  if (tlsListeners.length > 0 && (config.tlsCertFile === null || config.tlsKeyFile === null)) {
    throw new InvalidConfigError(`${tlsListeners.map(flagName).join(', ')} need a certificate and its key: give --tls-cert-file and --tls-key-file`)
  }
  if (config.tlsClientAuth !== 'none' && config.tlsCaFile === null) {
    throw new InvalidConfigError(`tlsClientAuth ${config.tlsClientAuth} needs --tls-ca-file (the CA client certificates must chain to)`)
  }
  for (const p of config.superUsers ?? []) {
    if (!/^User:./s.test(p)) throw new InvalidConfigError(`superUsers: ${JSON.stringify(p)} is not User:<name>`)
  }
  if (config.bootstrapAdmin !== null && !config.auth) throw new InvalidConfigError('bootstrapAdmin needs --auth (it creates the first user of an authenticated broker)')
}

/** The cluster settings' own rules (the cluster agent checks the etcd ones again when it starts). */
function validateClusterSettings (config: BrokerConfig): void {
  if (config.interBrokerSaslMechanism !== 'SCRAM-SHA-512' && config.interBrokerSaslMechanism !== 'SCRAM-SHA-256') {
    throw new InvalidConfigError(`interBrokerSaslMechanism must be SCRAM-SHA-512 or SCRAM-SHA-256 (got ${JSON.stringify(config.interBrokerSaslMechanism)})`)
  }
  if (config.etcdEndpoints !== null && config.auth) {
    // Brokers authenticate to each other with SCRAM as this user (broker/cluster/peer-auth.ts).
    if (config.interBrokerUser === null || config.interBrokerUser === '') {
      throw new InvalidConfigError('--auth in cluster mode needs --inter-broker-user (the user brokers authenticate to each other as) and --inter-broker-password-file')
    }
    if (config.interBrokerPasswordFile === null || config.interBrokerPasswordFile === '') {
      throw new InvalidConfigError('--auth in cluster mode needs --inter-broker-password-file (the file holding --inter-broker-user\'s password)')
    }
  }
  if (config.interBrokerTls) {
    if (config.etcdEndpoints === null) throw new InvalidConfigError('interBrokerTls is a cluster setting: give --etcd-endpoints too')
    if (config.tlsPort === null) throw new InvalidConfigError('interBrokerTls needs --tls-port: the other brokers reach this one on its native TLS listener')
  } else if (config.interBrokerCaFile !== null) {
    throw new InvalidConfigError('interBrokerCaFile applies with --inter-broker-tls only')
  }
  for (const k of ['leaseTtlMs', 'replicaLagTimeMs', 'minInsyncReplicas', 'defaultReplicationFactor'] as const) {
    if (config[k] <= 0) throw new InvalidConfigError(`${k} must be positive (got ${config[k]})`)
  }
  if (config.reassignmentThrottleBytesPerSec < 0) throw new InvalidConfigError('reassignmentThrottleBytesPerSec must be >= 0')
  if ((config.etcdCertFile === null) !== (config.etcdKeyFile === null)) throw new InvalidConfigError('etcdCertFile and etcdKeyFile go together')
  if ((config.etcdUsername === null) !== (config.etcdPassword === null)) throw new InvalidConfigError('etcdUsername and etcdPassword go together')
  for (const entry of config.advertisedListeners ?? []) {
    if (!/^(native|kafka|kafkaTls|mqtt|http)=.+:\d{1,5}$/.test(entry)) throw new InvalidConfigError(`advertisedListeners entries are protocol=host:port (native, kafka, kafkaTls, mqtt, http), got ${JSON.stringify(entry)}`)
  }
}

export interface ConfigSources {
  /** Flag values by setting name (already split by commander; strings or booleans). */
  flags?: Partial<Record<SettingName, unknown>>
  env?: Record<string, string | undefined>
  /** Values given directly (embedded use and tests); they rank with flags. */
  overrides?: Partial<BrokerConfig>
}

/** Resolves the full configuration: flags/overrides > environment > config file > defaults. */
export function resolveConfig (sources: ConfigSources = {}): BrokerConfig {
  const config: Record<string, unknown> = { ...defaultConfig() }
  const env = sources.env ?? {}
  const fromFlags: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(sources.flags ?? {})) {
    if (v !== undefined) fromFlags[k] = parseSetting(k as SettingName, v, `flag ${flagName(k as SettingName)}`)
  }
  for (const [k, v] of Object.entries(sources.overrides ?? {})) {
    if (v !== undefined) fromFlags[k] = v
  }
  const fromEnv: Record<string, unknown> = {}
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const raw = env[envName(name)]
    if (raw !== undefined && raw !== '') fromEnv[name] = parseSetting(name, raw, `environment ${envName(name)}`)
  }
  const file = (fromFlags.configFile ?? fromEnv.configFile) as string | null | undefined
  if (typeof file === 'string') Object.assign(config, readConfigFile(file))
  Object.assign(config, fromEnv, fromFlags)
  return validateConfig(config as BrokerConfig)
}

/**
 * Reads a JSON config file: keys camelCase as in the README's table, or the flags' kebab-case;
 * unknown keys are errors (a typo should not pass silently).
 */
export function readConfigFile (path: string): Partial<BrokerConfig> {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new InvalidConfigError(`config file ${path}: ${(err as Error).message}`, { cause: err })
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidConfigError(`config file ${path}: expected a JSON object`)
  }
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(parsed)) {
    // Keys are camelCase (`dataDir`); the flag's kebab-case spelling (`data-dir`) is taken too.
    const k = /^[a-z0-9]+(-[a-z0-9]+)+$/.test(key) ? key.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase()) : key
    if (!(k in SETTINGS) || k === 'configFile') throw new InvalidConfigError(`config file ${path}: unknown setting "${key}"`)
    if (k in out) throw new InvalidConfigError(`config file ${path}: ${k} is given twice ("${k}" and its flag spelling)`)
    out[k] = parseSetting(k as SettingName, v, `config file ${path}`)
  }
  return out as Partial<BrokerConfig>
}
