/**
 * The listener table: one block per listener — its name, the protocol it speaks, where it
 * binds, and the flag that moves it (for error messages). The broker starts its listeners
 * from this table. Today it is derived from the per-protocol port settings (`--port`,
 * `--kafka-port`, `--http-port`, `--mqtt-port`, which stay as the shorthands); TLS and authentication
 * settings will join each block.
 */

import { parseHostPort, type BrokerConfig } from './settings.js'

/** What a listener serves: a wire protocol on TCP, or the HTTP port (console, /api, WebSocket endpoints). */
export type ListenerProtocol = 'native' | 'kafka' | 'mqtt' | 'http'

export interface ListenerConfig {
  readonly name: string
  readonly protocol: ListenerProtocol
  readonly host: string
  readonly port: number
  /** The setting that moves it, as a flag. */
  readonly flag: string
}

export function listenerTable (config: BrokerConfig): ListenerConfig[] {
  const out: ListenerConfig[] = []
  if (config.port !== null) out.push({ name: 'native', protocol: 'native', host: config.host, port: config.port, flag: '--port' })
  if (config.kafkaPort !== null) out.push({ name: 'kafka', protocol: 'kafka', host: config.host, port: config.kafkaPort, flag: '--kafka-port' })
  if (config.mqttPort !== null) out.push({ name: 'mqtt', protocol: 'mqtt', host: config.host, port: config.mqttPort, flag: '--mqtt-port' })
  if (config.httpPort !== null) out.push({ name: 'http', protocol: 'http', host: config.host, port: config.httpPort, flag: '--http-port' })
  return out
}

/** The ports the listeners bound (null when switched off). */
export interface BrokerPorts {
  /** Native protocol TCP port. */
  native: number | null
  /** HTTP port (/ws, /mqtt, /metrics, /healthz, /api, the console). */
  http: number | null
  /** MQTT TCP port (MQTT over WebSocket is /mqtt on the HTTP port). */
  mqtt: number | null
  /** Kafka wire-protocol TCP port. */
  kafka: number | null
}

/**
 * Where Kafka clients are told to connect (Metadata and FindCoordinator answers): the
 * `kafkaAdvertisedListener` setting (a container advertises its service name), else the
 * bind host — 127.0.0.1 for a wildcard bind — and the bound port.
 */
export function kafkaAdvertisedAddress (config: BrokerConfig, boundPort: number): { host: string, port: number } {
  if (config.kafkaAdvertisedListener !== null) {
    const { host, port } = parseHostPort(config.kafkaAdvertisedListener, 'kafkaAdvertisedListener')
    return { host, port: port ?? boundPort }
  }
  return { host: config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host, port: boundPort }
}
