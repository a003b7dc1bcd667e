/**
 * The one "the broker is up" message `spool broker start` prints once every listener
 * listens: the ports, the console URL, the data dir and whether authentication is on. On a
 * terminal it is a few readable lines; otherwise one JSON line in the log's shape. It is
 * printed whatever the log level (with `--log-level warn` a user still learns the broker is
 * up), and never after a failed start.
 */

import type { Broker } from '../broker/broker.js'
import { resolveLogFormat, type LogFormat } from '../broker/observability/logger.js'

export interface BannerFacts {
  ports: Record<string, number | null>
  host: string
  consoleUrl: string | null
  dataDir: string
  auth: boolean
}

export function bannerFacts (broker: Broker): BannerFacts {
  const host = broker.config.host === '0.0.0.0' || broker.config.host === '::' ? '127.0.0.1' : broker.config.host
  const shown = host.includes(':') ? `[${host}]` : host
  return {
    ports: { ...broker.ports },
    host: broker.config.host,
    consoleUrl: broker.ports.http === null ? null : `http://${shown}:${broker.ports.http}/`,
    dataDir: broker.config.dataDir,
    auth: broker.security.required,
  }
}

/** The banner as text lines (terminal) or one JSON line. */
export function bannerText (facts: BannerFacts, format: 'json' | 'pretty'): string {
  if (format === 'json') {
    return JSON.stringify({ level: 'info', time: new Date().toISOString(), pid: process.pid, name: 'spool', msg: 'broker ready', ...facts }) + '\n'
  }
  const at = (port: number | null): string => port === null ? 'off' : `${facts.host}:${port}`
  const lines = [
    'Spool broker ready',
    `  native protocol   ${at(facts.ports.native ?? null)}   (SDK and CLI: --broker ${facts.ports.native === null ? '-' : at(facts.ports.native ?? null)})`,
    `  HTTP              ${at(facts.ports.http ?? null)}   (console, /api, /metrics, /ws, /mqtt)`,
    `  MQTT              ${at(facts.ports.mqtt ?? null)}`,
    `  Kafka             ${at(facts.ports.kafka ?? null)}   (kcat, kafkajs, librdkafka clients)`,
    ...Object.entries(facts.ports)
      .filter(([name]) => !['native', 'http', 'mqtt', 'kafka'].includes(name))
      .map(([name, port]) => `  ${name.padEnd(18)}${at(port)}`),
    `  web console       ${facts.consoleUrl ?? 'off (no HTTP listener)'}`,
    `  data dir          ${facts.dataDir}`,
    `  authentication    ${facts.auth ? 'on' : 'off (anonymous clients allowed; listeners bind ' + facts.host + ')'}`,
    '  Ctrl-C stops it cleanly.',
  ]
  return lines.join('\n') + '\n'
}

export function printBanner (broker: Broker, format: LogFormat): void {
  process.stdout.write(bannerText(bannerFacts(broker), resolveLogFormat(format)))
}
