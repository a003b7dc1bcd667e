/**
 * The gateway's Prometheus series on the broker's `/metrics`: gauges computed at scrape
 * time and counters read from the gateway's plain counters (the hot path only adds to
 * numbers).
 */

import type { BrokerMetrics } from '../../observability/metrics.js'
import type { MqttGateway } from './gateway.js'

export function registerGatewayMetrics (gateway: MqttGateway, metrics: BrokerMetrics): void {
  const r = metrics.registry
  const c = gateway.counters
  const counter = (name: string, help: string, read: () => number): void => {
    r.counter(name, help).collect = () => [[[], read()]]
  }
  r.gauge('spool_mqtt_connections', 'Open MQTT connections (connected clients)', [], () => {
    let n = 0
    for (const conn of gateway.connections) if (conn.connected) n++
    return [[[], n]]
  })
  r.gauge('spool_mqtt_sessions', 'MQTT sessions known, online and offline', [], () => [[[], gateway.sessions.size]])
  r.gauge('spool_mqtt_retained_messages', 'Retained MQTT messages', [], () => [[[], gateway.retainedCount]])
  counter('spool_mqtt_messages_in_total', 'PUBLISH packets received from MQTT clients', () => c.messagesIn)
  counter('spool_mqtt_messages_out_total', 'PUBLISH packets sent to MQTT clients', () => c.messagesOut)
  counter('spool_mqtt_bytes_in_total', 'Bytes received on MQTT connections', () => c.bytesIn)
  counter('spool_mqtt_bytes_out_total', 'PUBLISH bytes sent on MQTT connections', () => c.bytesOut)
  counter('spool_mqtt_dropped_qos0_total', 'QoS 0 messages dropped for clients over mqttMaxQueuedBytes', () => c.droppedQos0)
  counter('spool_mqtt_dropped_shared_total', 'Messages no member of a share group could take', () => c.droppedShared)
  counter('spool_mqtt_protocol_errors_total', 'MQTT connections closed for bad input or a protocol violation', () => c.protocolErrors)
  counter('spool_mqtt_connections_refused_total', 'MQTT CONNECTs refused', () => c.connectionsRefused)
}
