/**
 * The gateway's Prometheus series on the broker's `/metrics`: gauges computed at scrape
 * time and counters read from the gateway's plain counters (the hot path only adds to
 * numbers). Connections, bytes and connection errors are the registry's (one scheme for
 * every protocol: `spool_connections{protocol="mqtt"}` …).
 */

import type { BrokerMetrics } from '../../observability/metrics.js'
import type { GatewayCounters, MqttClient } from './gateway-api.js'

export interface GatewayState {
  readonly counters: GatewayCounters
  readonly connections: ReadonlySet<MqttClient>
  readonly sessions: ReadonlyMap<string, unknown>
  readonly retainedCount: number
  readonly persistentSessions: number
  readonly sessionRefusals: { limit: number, rate: number }
  readonly catchUp: { sessions: number, readBytes: number, budgetUsed: number, budgetWaits: number, restoring: number }
  readonly admission: { readonly waiting: number }
}

export function registerGatewayMetrics (gateway: GatewayState, metrics: BrokerMetrics): void {
  const c = gateway.counters
  const counter = (name: string, help: string, read: () => number): void => {
    metrics.counter(name, help, [], () => [[{}, read()]])
  }
  metrics.gauge('spool_mqtt_clients', 'MQTT clients connected (CONNECT accepted)', [], () => {
    let n = 0
    for (const conn of gateway.connections) if (conn.connected) n++
    return [[{}, n]]
  })
  metrics.gauge('spool_mqtt_sessions', 'MQTT sessions known, online and offline', [], () => [[{}, gateway.sessions.size]])
  metrics.gauge('spool_mqtt_persistent_sessions', 'Persistent MQTT sessions kept, online and offline (bounded by mqttMaxSessions)', [], () => [[{}, gateway.persistentSessions]])
  metrics.gauge('spool_mqtt_retained_messages', 'Retained MQTT messages', [], () => [[{}, gateway.retainedCount]])
  metrics.gauge('spool_mqtt_catch_up_sessions', 'MQTT sessions behind the log, served by the catch-up sweeps', [], () => [[{}, gateway.catchUp.sessions]])
  metrics.gauge('spool_mqtt_catch_up_bytes', 'Bytes held reading MQTT logs back for sessions behind (bounded by mqttCatchUpBytes)', [], () => [[{}, gateway.catchUp.budgetUsed]])
  metrics.gauge('spool_mqtt_connections_waiting', 'New MQTT connections whose CONNECT waits to be read (paced admission)', [], () => [[{}, gateway.admission.waiting]])
  metrics.gauge('spool_mqtt_restores_pending', 'Returning MQTT sessions whose resend and catch-up are queued or running', [], () => [[{}, gateway.catchUp.restoring]])
  counter('spool_mqtt_messages_in_total', 'PUBLISH packets received from MQTT clients', () => c.messagesIn)
  counter('spool_mqtt_messages_out_total', 'PUBLISH packets sent to MQTT clients', () => c.messagesOut)
  counter('spool_mqtt_publish_bytes_out_total', 'PUBLISH bytes sent on MQTT connections', () => c.bytesOut)
  counter('spool_mqtt_dropped_qos0_total', 'QoS 0 messages dropped for clients over mqttMaxQueuedBytes', () => c.droppedQos0)
  counter('spool_mqtt_dropped_shared_total', 'Messages no member of a share group could take', () => c.droppedShared)
  counter('spool_mqtt_connections_refused_total', 'MQTT CONNECTs refused (CONNACK with an error)', () => c.connectionsRefused)
  counter('spool_mqtt_sessions_created_total', 'Persistent MQTT sessions created', () => c.sessionsCreated)
  counter('spool_mqtt_sessions_expired_total', 'Persistent MQTT sessions ended by their session expiry', () => c.sessionsExpired)
  metrics.counter('spool_mqtt_sessions_refused_total', 'CONNECTs refused for a new persistent session, by reason (limit: mqttMaxSessions, rate: mqttSessionCreateRate)', ['reason'], () => {
    const r = gateway.sessionRefusals
    return [[{ reason: 'limit' }, r.limit], [{ reason: 'rate' }, r.rate]]
  })
  counter('spool_mqtt_catch_up_read_bytes_total', 'Bytes read back from MQTT logs for sessions behind (catch-up)', () => gateway.catchUp.readBytes)
  counter('spool_mqtt_catch_up_waits_total', 'Times a catch-up or resend read waited for room under mqttCatchUpBytes', () => gateway.catchUp.budgetWaits)
}
