/**
 * Broker configuration: one table of settings, each with its type, default and meaning.
 * The same table gives the `spool broker start` flags (kebab-case), the environment
 * variables (`SPOOL_` + UPPER_SNAKE) and the config-file keys (camelCase, JSON), and the
 * README's configuration section is checked against it. Precedence: flags, then
 * environment, then config file, then defaults (docs/architecture.md §6).
 */

import { readFileSync } from 'node:fs'
import { InvalidConfigError } from '../../protocol/errors.js'

type Kind = 'string' | 'int' | 'bool' | 'port' | 'level' | 'list'

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
  nodeId: s<number>('int', 0, 'This broker\'s node id'),
  clusterId: s<string>('string', 'spool', 'Cluster id reported in metadata'),
  mqttPort: s<number | null>('port', 1883, 'MQTT 3.1.1/5 TCP port (also served over WebSocket at /mqtt on the HTTP port); off disables both'),
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
  mqttFsyncAcks: s<boolean>('bool', false, 'Acknowledge MQTT QoS 1/2 publishes only after their record is fsynced'),
  autoCreateTopics: s<boolean>('bool', true, 'Create unknown topics when a client asks for their metadata'),
  defaultPartitions: s<number>('int', 1, 'Partitions of an auto-created topic, or of a created topic that names none'),
  maxPartitionsPerTopic: s<number>('int', 10_000, 'Largest partition count a topic may have'),
  maxFrameBytes: s<number>('int', 16 * MiB, 'Largest native frame accepted (checked from the length prefix before buffering)'),
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
  // Cluster mode (docs/cluster.md): set etcdEndpoints to run as one broker of a cluster.
  etcdEndpoints: s<string[] | null>('list', null, 'etcd client URLs (http(s)://host:port, comma-separated); set to run as one broker of a cluster sharing that etcd (off: a single broker)'),
  etcdCaFile: s<string | null>('string', null, 'PEM file of the CA that signed etcd\'s server certificate (etcd over TLS)'),
  etcdCertFile: s<string | null>('string', null, 'PEM client certificate for etcd\'s client-cert-auth (with etcdKeyFile)'),
  etcdKeyFile: s<string | null>('string', null, 'PEM private key of etcdCertFile'),
  etcdUsername: s<string | null>('string', null, 'etcd user (with etcdPassword) when etcd has authentication on'),
  etcdPassword: s<string | null>('string', null, 'Password of etcdUsername'),
  clusterKeyPrefix: s<string | null>('string', null, 'Root of this cluster\'s keys in etcd (default /spool/<clusterId>)'),
  leaseTtlMs: s<number>('int', 3000, 'Session timeout: a broker that stops renewing its etcd lease this long is dead and its partitions move (whole seconds)'),
  rack: s<string | null>('string', null, 'Rack or zone of this broker: replicas are spread over racks; consumers in a rack may read from its replicas'),
  advertisedListeners: s<string[] | null>('list', null, 'protocol=host:port per listener (native, kafka, mqtt, http) as other brokers and clients reach this broker; default --host and the bound ports'),
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
  if (config.retentionCheckIntervalMs < 0) throw new InvalidConfigError('retentionCheckIntervalMs must be >= 0')
  validateClusterSettings(config)
  return config
}

/** The cluster settings' own rules (the cluster agent checks the etcd ones again when it starts). */
function validateClusterSettings (config: BrokerConfig): void {
  for (const k of ['leaseTtlMs', 'replicaLagTimeMs', 'minInsyncReplicas', 'defaultReplicationFactor'] as const) {
    if (config[k] <= 0) throw new InvalidConfigError(`${k} must be positive (got ${config[k]})`)
  }
  if (config.reassignmentThrottleBytesPerSec < 0) throw new InvalidConfigError('reassignmentThrottleBytesPerSec must be >= 0')
  if ((config.etcdCertFile === null) !== (config.etcdKeyFile === null)) throw new InvalidConfigError('etcdCertFile and etcdKeyFile go together')
  if ((config.etcdUsername === null) !== (config.etcdPassword === null)) throw new InvalidConfigError('etcdUsername and etcdPassword go together')
  for (const entry of config.advertisedListeners ?? []) {
    if (!/^(native|kafka|mqtt|http)=.+:\d{1,5}$/.test(entry)) throw new InvalidConfigError(`advertisedListeners entries are protocol=host:port (native, kafka, mqtt, http), got ${JSON.stringify(entry)}`)
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
