/**
 * MQTT as a WireProtocol: how an accepted channel (the MQTT TCP port, or `/mqtt` on the HTTP
 * port) becomes an MQTT connection of the gateway. The listeners themselves are the network
 * layer's, started by the broker from its listener table.
 *
 * A connection refused at accept (maxConnections or mqttMaxConnections) is closed without a
 * word, as Mosquitto does: before CONNECT there is no packet to answer with.
 * Output: reading pauses while more than mqttMaxQueuedBytes wait to be written; MQTT never
 * closes a slow subscriber for it (QoS 0 is dropped past the limit and QoS 1/2 wait in the
 * log, session.ts). Idle: CONNECT must come within CONNECT_TIMEOUT_MS; after it, the
 * connection's keep-alive applies.
 */

import type { WireProtocol } from '../../network/connection.js'
import { CONNECT_TIMEOUT_MS, MqttConnection } from './connection.js'
import type { MqttGateway } from './gateway.js'

export function mqttProtocol (gateway: MqttGateway): WireProtocol {
  return {
    name: 'mqtt',
    limits: { maxQueuedBytes: null, pauseAtQueuedBytes: gateway.settings.maxQueuedBytes, idleTimeoutMs: CONNECT_TIMEOUT_MS },
    open: connection => new MqttConnection(gateway, connection),
    refuse () { /* closed without a word (see the file header) */ },
  }
}
