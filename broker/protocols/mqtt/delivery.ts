/**
 * What a session delivers and to what: the Delivery of one message to one session, the
 * in-flight entry that remembers an unacknowledged one, the connection a session writes to,
 * and the MQTT 5 properties of an outgoing PUBLISH. Shared by session.ts, resend.ts and the
 * fan-out paths (tailer.ts, catch-up.ts, shared-group.ts).
 */

import type { PublishProperties, QoS } from './codec.js'
import type { MqttMessage } from './mapping.js'

/** What a session writes to: its current connection. */
export interface SessionOutput {
  readonly version: 4 | 5
  /** Outbound in-flight window: min(client Receive Maximum, mqttMaxInflight). */
  readonly window: number
  /** Largest packet the client accepts (MQTT 5 Maximum Packet Size), or Infinity. */
  readonly maxPacketBytes: number
  readonly queuedBytes: number
  write (packet: Uint8Array): void
}

/** A message on its way to one session. */
export interface Delivery {
  message: MqttMessage
  qos: QoS
  retain: boolean
  subIds: number[] | null
  logTopic: string
  partition: number
  /** -1 for messages that are not records (retained on subscribe). */
  offset: number
}

export interface Inflight {
  packetId: number
  qos: QoS
  /** 0: PUBLISH sent, waiting for PUBACK/PUBREC; 1: PUBREL sent, waiting for PUBCOMP. */
  state: 0 | 1
  logTopic: string
  partition: number
  offset: number
  /**
   * Kept only for messages that are not records (retained on subscribe): a record is read
   * back from the log if it must be sent again, so a payload view never pins a read buffer.
   */
  delivery: Delivery | null
}

/** v5 properties of an outgoing PUBLISH: the message's, with remaining expiry and subscription ids. */
export function outgoingProperties (d: Delivery, expirySec: number | null): PublishProperties | null {
  const p = d.message.properties
  if (p === null && d.subIds === null) return null
  const out: PublishProperties = {}
  if (p !== null) {
    if (p.payloadFormatIndicator !== undefined) out.payloadFormatIndicator = p.payloadFormatIndicator
    if (expirySec !== null) out.messageExpiryInterval = expirySec // the remaining time [MQTT-3.3.2-6]
    if (p.contentType !== undefined) out.contentType = p.contentType
    if (p.responseTopic !== undefined) out.responseTopic = p.responseTopic
    if (p.correlationData !== undefined) out.correlationData = p.correlationData
    if (p.userProperties !== undefined) out.userProperties = p.userProperties
  }
  if (d.subIds !== null) out.subscriptionIdentifiers = d.subIds
  return out
}
