/**
 * The listener table: one block per listener — its name, the protocol it speaks, where it
 * binds, whether it speaks TLS, and the flag that moves it (for error messages). The broker
 * starts its listeners from this table. It is derived from the per-listener port settings:
 * plain listeners (`--port`, `--kafka-port`, `--http-port`, `--mqtt-port`) and TLS ones (`--tls-port`,
 * `--kafka-tls-port`, `--https-port`, `--mqtt-tls-port`, off unless set), so plain and TLS run side by side or
 * TLS alone (switch the plain port off). Every TLS listener uses the one certificate of
 * `--tls-cert-file`/`--tls-key-file` and the client-certificate policy of `--tls-client-auth`;
 * authentication (`--auth`) applies to every listener alike.
 */

import { parseHostPort, type BrokerConfig } from './settings.js'

/** What a listener serves: a wire protocol on TCP, or the HTTP port (console, /api, WebSocket endpoints). */
export type ListenerProtocol = 'native' | 'kafka' | 'mqtt' | 'http'

export interface ListenerConfig {
  readonly name: string
  readonly protocol: ListenerProtocol
  readonly host: string
  readonly port: number
  /** TLS on this listener (the certificate of tlsCertFile). */
  readonly tls: boolean
  /** The setting that moves it, as a flag. */
  readonly flag: string
}

export function listenerTable (config: BrokerConfig): ListenerConfig[] {
  const out: ListenerConfig[] = []
  const add = (name: string, protocol: ListenerProtocol, port: number | null, tls: boolean, flag: string): void => {
    if (port !== null) out.push({ name, protocol, host: config.host, port, tls, flag })
  }
  add('native', 'native', config.port, false, '--port')
  add('native-tls', 'native', config.tlsPort, true, '--tls-port')
  add('kafka', 'kafka', config.kafkaPort, false, '--kafka-port')
  add('kafka-tls', 'kafka', config.kafkaTlsPort, true, '--kafka-tls-port')
  add('mqtt', 'mqtt', config.mqttPort, false, '--mqtt-port')
  add('mqtt-tls', 'mqtt', config.mqttTlsPort, true, '--mqtt-tls-port')
  add('http', 'http', config.httpPort, false, '--http-port')
  add('https', 'http', config.httpsPort, true, '--https-port')
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
  /** Native protocol over TLS. */
  nativeTls: number | null
  /** The HTTP port's routes over TLS. */
  https: number | null
  /** MQTT over TLS. */
  mqttTls: number | null
  /** Kafka wire-protocol TCP port. */
  kafka: number | null
  /** The Kafka wire protocol over TLS. */
  kafkaTls: number | null
}

/**
 * Where the clients of a Kafka listener are told to connect (Metadata and FindCoordinator
 * answers), so a client stays on the listener it came through: for the plain listener the
 * `kafkaAdvertisedListener` setting (a container advertises its service name), for the TLS
 * one `kafkaTlsAdvertisedListener`, else the host of `kafkaAdvertisedListener`; else the
 * bind host — 127.0.0.1 for a wildcard bind. The port is the setting's, else the bound one.
 */
export function kafkaAdvertisedAddress (config: BrokerConfig, boundPort: number, tls = false): { host: string, port: number } {
  const own = tls ? config.kafkaTlsAdvertisedListener : config.kafkaAdvertisedListener
  if (own !== null) {
    const { host, port } = parseHostPort(own, tls ? 'kafkaTlsAdvertisedListener' : 'kafkaAdvertisedListener')
    return { host, port: port ?? boundPort }
  }
  if (tls && config.kafkaAdvertisedListener !== null) return { host: parseHostPort(config.kafkaAdvertisedListener, 'kafkaAdvertisedListener').host, port: boundPort }
  return { host: config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host, port: boundPort }
}
