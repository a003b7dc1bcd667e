/**
 * The settings a broker needs to join a cluster: where etcd is and how to talk to it, who this
 * broker is (node id, rack, advertised listeners) and the timings of failure detection.
 * `resolveClusterSettings` fills defaults and validates; every problem is an
 * InvalidConfigError naming the setting.
 *
 * Timings, and why these defaults. A broker that dies stops renewing its lease; etcd deletes
 * its registration `leaseTtlMs` after the last renewal (renewals come every third of the TTL,
 * so 2/3 TTL to 1 TTL after the death, plus up to 0.5 s for etcd's expiry sweep). If it was
 * the controller, its campaign key goes the same way and the next candidate is elected as soon
 * as etcd reports the deletion (milliseconds). The controller then moves leadership of the
 * dead broker's partitions in one transaction per 64 partitions. With the 3 s TTL the whole
 * sequence ends within about 3.6 s of the death, inside a 5 s budget for "writes resume",
 * while a broker whose event loop stalls for less than 2 s keeps its registration.
 */

import { InvalidConfigError } from '../../protocol/errors.js'

/** A broker's listeners others reach it on; `nativeTls` and `kafkaTls` are the native and Kafka listeners over TLS. */
export type ListenerProtocol = 'native' | 'nativeTls' | 'kafka' | 'kafkaTls' | 'mqtt' | 'http'
export const LISTENER_PROTOCOLS: readonly ListenerProtocol[] = ['native', 'nativeTls', 'kafka', 'kafkaTls', 'mqtt', 'http']

export interface HostPort { host: string, port: number }

export interface EtcdTls {
  /** PEM file of the CA that signed etcd's server certificate. */
  caFile: string
  /** PEM client certificate and key, for etcd's --client-cert-auth. */
  certFile: string | null
  keyFile: string | null
}

export interface ClusterSettings {
  clusterId: string
  nodeId: number
  /** Rack (or zone) name used by replica placement; null when unknown. */
  rack: string | null
  /** Addresses other brokers and clients use to reach this broker, per protocol. */
  advertisedListeners: Partial<Record<ListenerProtocol, HostPort>>
  etcdEndpoints: string[]
  etcdTls: EtcdTls | null
  etcdUsername: string | null
  etcdPassword: string | null
  /** Root of every key of this cluster in etcd (no trailing slash). */
  keyPrefix: string
  /** TTL of the broker's registration and of its controller campaign (whole seconds, >= 2 s). */
  leaseTtlMs: number
  /** Deadline of one etcd call; past it the call fails with MetadataUnavailableError. */
  etcdOperationTimeoutMs: number
  /** How long a caller waits for the controller to answer a request (create topic, ISR change, ...). */
  controllerRequestTimeoutMs: number
  /** How often the broker checks that etcd answers (feeds the metadata-stale flag). */
  healthCheckIntervalMs: number
  /** Elect a replica that is not in the ISR when no ISR member is alive (loses acknowledged data). */
  uncleanLeaderElection: boolean
  /** Period of the automatic preferred-leader election run by the controller; 0 = off. */
  preferredLeaderElectionIntervalMs: number
  /** Producer ids a broker takes from the cluster-wide counter at a time. */
  producerIdBlockSize: number
}

export type ClusterSettingsInput = Partial<ClusterSettings> & Pick<ClusterSettings, 'nodeId'>

export const DEFAULT_CLUSTER_SETTINGS = Object.freeze({
  clusterId: 'spool',
  rack: null,
  advertisedListeners: {},
  etcdEndpoints: ['http://127.0.0.1:2379'],
  etcdTls: null,
  etcdUsername: null,
  etcdPassword: null,
  leaseTtlMs: 3000,
  etcdOperationTimeoutMs: 2000,
  controllerRequestTimeoutMs: 15_000,
  healthCheckIntervalMs: 1000,
  uncleanLeaderElection: false,
  preferredLeaderElectionIntervalMs: 300_000,
  producerIdBlockSize: 1000,
}) satisfies Omit<ClusterSettings, 'nodeId' | 'keyPrefix'>

/** One line per setting, for the broker's configuration table. */
export const CLUSTER_SETTING_DOCS: Record<keyof ClusterSettings, string> = {
  clusterId: 'Cluster id; brokers with the same id and etcd form one cluster',
  nodeId: 'This broker\'s node id, unique among live brokers of the cluster',
  rack: 'Rack or zone of this broker; replicas of a partition are spread over racks',
  advertisedListeners: 'host:port per protocol (native, nativeTls, kafka, kafkaTls, mqtt, http) that others use to reach this broker',
  etcdEndpoints: 'etcd client URLs (http:// or https://)',
  etcdTls: 'CA file, and client certificate and key files, for etcd over TLS',
  etcdUsername: 'etcd user (with etcdPassword) when etcd has authentication on',
  etcdPassword: 'Password of etcdUsername',
  keyPrefix: 'Root of this cluster\'s keys in etcd (default /spool/<clusterId>)',
  leaseTtlMs: 'Session timeout: a broker that stops renewing its lease this long is dead (whole seconds)',
  etcdOperationTimeoutMs: 'Deadline of one etcd call; past it metadata is reported unavailable',
  controllerRequestTimeoutMs: 'How long a request to the controller (create topic, ISR change) may wait for its answer',
  healthCheckIntervalMs: 'How often the broker checks that etcd answers',
  uncleanLeaderElection: 'Elect an out-of-sync replica when no in-sync replica is alive (acknowledged records may be lost)',
  preferredLeaderElectionIntervalMs: 'How often the controller moves leadership back to preferred replicas (0 = never)',
  producerIdBlockSize: 'Producer ids a broker reserves from the cluster-wide counter at a time',
}

const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/

function fail (name: string, value: unknown, why: string): never {
  throw new InvalidConfigError(`cluster setting ${name}=${JSON.stringify(value)}: ${why}`)
}

function int (name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    fail(name, value, `must be an integer from ${min} to ${max}`)
  }
  return value
}

/** Parses "host:port" (IPv6 hosts in brackets). */
export function parseHostPort (name: string, text: string): HostPort {
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(text)
  if (m === null) fail(name, text, 'must be host:port')
  const port = Number(m[2])
  if (port < 1 || port > 65535) fail(name, text, 'port must be 1-65535')
  return { host: m[1]!, port }
}

function listeners (value: unknown): Partial<Record<ListenerProtocol, HostPort>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('advertisedListeners', value, 'must be an object')
  const out: Partial<Record<ListenerProtocol, HostPort>> = {}
  for (const [protocol, address] of Object.entries(value)) {
    if (!(LISTENER_PROTOCOLS as readonly string[]).includes(protocol)) fail('advertisedListeners', value, `unknown protocol ${protocol}`)
    const hp = typeof address === 'string' ? parseHostPort(`advertisedListeners.${protocol}`, address) : address as HostPort
    if (typeof hp?.host !== 'string' || hp.host === '') fail(`advertisedListeners.${protocol}`, address, 'needs a host')
    int(`advertisedListeners.${protocol}.port`, hp.port, 1, 65535)
    out[protocol as ListenerProtocol] = { host: hp.host, port: hp.port }
  }
  return out
}

/** Defaults filled in, every value checked. */
export function resolveClusterSettings (input: ClusterSettingsInput): ClusterSettings {
  const merged = { ...DEFAULT_CLUSTER_SETTINGS, ...input }
  const clusterId = merged.clusterId
  if (typeof clusterId !== 'string' || !NAME_PATTERN.test(clusterId)) fail('clusterId', clusterId, 'must match [A-Za-z0-9._-]{1,64}')
  const keyPrefix = input.keyPrefix ?? `/spool/${clusterId}`
  if (typeof keyPrefix !== 'string' || !keyPrefix.startsWith('/') || keyPrefix.endsWith('/') || keyPrefix.length < 2) {
    fail('keyPrefix', keyPrefix, 'must start with / and not end with /')
  }
  const rack = merged.rack
  if (rack !== null && (typeof rack !== 'string' || !NAME_PATTERN.test(rack))) fail('rack', rack, 'must be null or match [A-Za-z0-9._-]{1,64}')
  const endpoints = merged.etcdEndpoints
  if (!Array.isArray(endpoints) || endpoints.length === 0) fail('etcdEndpoints', endpoints, 'must list at least one URL')
  for (const e of endpoints) {
    if (typeof e !== 'string' || !/^https?:\/\/[^/]+$/.test(e)) fail('etcdEndpoints', e, 'each must be http(s)://host:port')
  }
  const tls = merged.etcdTls
  if (tls !== null && (typeof tls !== 'object' || typeof tls.caFile !== 'string' || (tls.certFile === null) !== (tls.keyFile === null))) {
    fail('etcdTls', tls, 'needs caFile, and certFile and keyFile together')
  }
  if ((merged.etcdUsername === null) !== (merged.etcdPassword === null)) fail('etcdUsername', merged.etcdUsername, 'etcdUsername and etcdPassword go together')
  const leaseTtlMs = int('leaseTtlMs', merged.leaseTtlMs, 2000, 600_000)
  if (leaseTtlMs % 1000 !== 0) fail('leaseTtlMs', leaseTtlMs, 'etcd leases are whole seconds')
  return {
    clusterId,
    nodeId: int('nodeId', merged.nodeId, 0, 0x7fffffff),
    rack,
    advertisedListeners: listeners(merged.advertisedListeners),
    etcdEndpoints: [...endpoints],
    etcdTls: tls === null ? null : { caFile: tls.caFile, certFile: tls.certFile ?? null, keyFile: tls.keyFile ?? null },
    etcdUsername: merged.etcdUsername,
    etcdPassword: merged.etcdPassword,
    keyPrefix,
    leaseTtlMs,
    etcdOperationTimeoutMs: int('etcdOperationTimeoutMs', merged.etcdOperationTimeoutMs, 100, 600_000),
    controllerRequestTimeoutMs: int('controllerRequestTimeoutMs', merged.controllerRequestTimeoutMs, 100, 3_600_000),
    healthCheckIntervalMs: int('healthCheckIntervalMs', merged.healthCheckIntervalMs, 50, 600_000),
    uncleanLeaderElection: typeof merged.uncleanLeaderElection === 'boolean' ? merged.uncleanLeaderElection : fail('uncleanLeaderElection', merged.uncleanLeaderElection, 'must be true or false'),
    preferredLeaderElectionIntervalMs: int('preferredLeaderElectionIntervalMs', merged.preferredLeaderElectionIntervalMs, 0),
    producerIdBlockSize: int('producerIdBlockSize', merged.producerIdBlockSize, 1, 1_000_000),
  }
}
