/**
 * One MQTT connection: the MQTT session of a network Connection (network/connection.ts),
 * which owns the socket, the framing memory, byte metering, keep-alive (its idle timeout)
 * and the failure rule. Here: decoding and the per-packet rules; sessions, routing and
 * delivery belong to the gateway, CONNECT to connect.ts.
 *
 * Per read: the framing yields whole packets; PUBLISHes are validated and staged into record
 * batches (publish-stage.ts); any other packet first flushes the stage, so packets take
 * effect in order. At the end of the read the stage is appended and the acknowledgements go
 * out in the order the PUBLISHes arrived [MQTT-4.6.0-2] — only after their records are in
 * the log (and fsynced with mqttFsyncAcks).
 *
 * Activity and quotas: publishes count per log topic on the network connection (messages,
 * payload bytes), and each flush charges its payload bytes to the client's produce quota;
 * over it, the connection stops reading the socket for the throttle time (network
 * connection `pause('throttle')`). PUBLISHes sent to the client are counted as messages out.
 *
 * Bad input: a malformed packet, a protocol violation or an oversize packet closes this
 * connection — with a DISCONNECT carrying a reason code for MQTT 5 [MQTT-4.13.1-1], by
 * closing the socket for 3.1.1 [MQTT-4.8.0-1] — and one bounded log line. Nothing is appended
 * for a packet that failed validation. An unexpected exception closes it the same way
 * (MQTT 5: 0x80 unspecified error).
 */

import type { IConnectPacket, IDisconnectPacket, ISubscribePacket, IUnsubscribePacket } from 'mqtt-packet'
import type { FrameSizeReader } from '../../../protocol/bytes/frame-assembler.js'
import { MqttProtocolError, SpoolError } from '../../../protocol/errors.js'
import type { Connection, ProtocolSession } from '../../network/connection.js'
import { faultPoints } from '../../storage/testing/fault-points.js'
import {
  PINGRESP, PacketDecoder, encodeAck, encodeOther, type AckPacket, type PublishPacket,
} from './codec.js'
import { TOPIC_ALIAS_MAX, runConnect } from './connect.js'
import { MQTT_MAX_HEADER_BYTES, bodyStart, sharedConnectReader, sharedHeaderReader } from './framer.js'
import type { Admittable } from './admission.js'
import type { MqttGatewayApi } from './gateway-api.js'
import type { MqttMessage } from './mapping.js'
import { PublishStage, type StagedBatch } from './publish-stage.js'
import { Reason, reasonForError } from './reason-codes.js'
import type { Session } from './session.js'
import type { MqttClient } from './gateway-api.js'
import { reservedTopicError, topicNameError } from './topics.js'

/** new: before CONNECT; connecting: CONNECT's steps are running (later packets wait). */
type State = 'new' | 'connecting' | 'connected' | 'closed'

interface PendingAck {
  cmd: 'puback' | 'pubrec'
  packetId: number
  /** Null for a publish that was not authorized: MQTT 5 gets 0x87, 3.1.1 a positive ack; nothing was stored. */
  batch: StagedBatch | null
}

/** How long a new connection may take to send CONNECT. */
export const CONNECT_TIMEOUT_MS = 10_000
/** The longest a new connection's CONNECT timeout is stretched while the broker lags (see `busy`). */
const CONNECT_GRACE_MAX_MS = 120_000
/**
 * How long after connections last queued for admission a silent new connection is still
 * given time: a CONNECT the kernel dropped while its accept queue overflowed is sent again
 * by TCP after 1, 2, 4, 8 and 16 s — up to 31 s after the handshake (with 10 s, 358 of a
 * 50,000-device storm were closed as idle just before their CONNECT came).
 */
const STORM_CONNECT_GRACE_MS = 30_000

export class MqttConnection implements MqttClient, ProtocolSession, Admittable {
  readonly net: Connection
  readonly frameSize: FrameSizeReader
  readonly firstFrameSize: FrameSizeReader
  readonly maxHeaderBytes = MQTT_MAX_HEADER_BYTES
  readonly #gw: MqttGatewayApi
  readonly #decoder = new PacketDecoder()
  // Created on first use: an idle device connection holds none of these.
  #stage: PublishStage | null = null
  #acks: PendingAck[] | null = null
  #aliases: Map<number, { topic: string, bytes: Uint8Array }> | null = null
  /** Packets that arrived while CONNECT's steps ran (views of their chunks). */
  #waiting: Uint8Array[] | null = null
  #ackChain: Promise<void> | null = null
  #state: State = 'new'
  #inboundPending = 0
  /** Payload bytes of the publishes staged and not yet appended (the produce quota's charge). */
  #stagedBytes = 0
  /** Flushes whose acks wait in #ackChain. */
  #chained = 0
  /** The reason code of the DISCONNECT a closing MQTT 5 connection sends. */
  #farewellReason: number | null = null
  session: Session | null = null
  clientId = ''
  version: 4 | 5 = 4
  window = 65535
  maxPacketBytes = Infinity
  keepAliveMs = 0
  will: { message: MqttMessage, delaySec: number } | null = null
  /** DISCONNECT received: no will (unless v5 reason 0x04), a normal end. */
  gracefulClose = false

  constructor (gateway: MqttGatewayApi, net: Connection) {
    this.#gw = gateway
    this.net = net
    this.frameSize = sharedHeaderReader(gateway.settings.maxPacketBytes)
    this.firstFrameSize = sharedConnectReader(gateway.settings.maxPacketBytes)
    gateway.connections.add(this)
    // Read only once the admission queue lets it in (admission.ts): CONNECTs are handled at
    // the rate the broker serves them, not all at once in a storm.
    net.pause('throttle')
    gateway.admission.push(this)
  }

  /** Lets the connection's bytes in (the admission queue calls it, once). */
  admit (): void {
    if (this.#state !== 'closed') this.net.resume('throttle')
  }

  get id (): number { return this.net.id }
  get connected (): boolean { return this.#state === 'connected' }
  get closed (): boolean { return this.#state === 'closed' }
  get queuedBytes (): number { return this.net.queuedBytes }

  write (packet: Uint8Array): void {
    if (packet[0]! >> 4 === 3) this.net.activity.messagesOut++
    this.net.write([packet])
  }

  onFrame (whole: Uint8Array): boolean {
    if (this.#state === 'connecting') {
      (this.#waiting ??= []).push(whole)
      this.net.pause('session')
      return true
    }
    return this.#onPacket(whole)
  }

  onReadEnd (): void {
    this.#flush()
  }

  onDrain (): void {
    this.session?.scheduleResume()
  }

  /**
   * Before CONNECT, the idle check waits while the broker itself is behind: when recent
   * connections' first packets reached the gateway only D ms after their accept (a reconnect
   * storm larger than the broker serves at once), a connection younger than 2 × D (at most
   * CONNECT_GRACE_MAX_MS) has probably sent its CONNECT already — the bytes wait for the
   * broker, not for the client. The same while connections queue for admission and for
   * STORM_CONNECT_GRACE_MS after. A peer that sends nothing is still closed, only later.
   */
  busy (): boolean {
    if (this.#state !== 'new') return false
    const age = this.#gw.now() - this.net.connectedAtMs
    if (age >= CONNECT_GRACE_MAX_MS) return false
    // During a storm and for STORM_CONNECT_GRACE_MS after it (admission.ts queuedWithin): a
    // device accepted late may still be retransmitting its CONNECT.
    if (this.#gw.admission.queuedWithin(STORM_CONNECT_GRACE_MS)) return true
    return age < 2 * this.#gw.firstPacketLagMs
  }

  #onPacket (whole: Uint8Array): boolean {
    if (this.#state === 'closed') return false
    this.net.touch()
    if (faultPoints.active) faultPoints.hit('mqtt.packet', this.clientId)
    const first = whole[0]!
    const body = whole.subarray(bodyStart(whole))
    if (this.#state === 'new' && first >> 4 === 1 && unsupportedLevel(body)) {
      // [MQTT-3.1.2-2]: CONNACK 0x01 (unacceptable protocol version), then close.
      this.write(encodeOther({ cmd: 'connack', sessionPresent: false, returnCode: 1 }, 4))
      this.fail(new MqttProtocolError(`protocol level ${body[2 + ((body[0]! << 8) | body[1]!)] ?? '?'} is not MQTT 3.1, 3.1.1 or 5`), Reason.unsupportedProtocolVersion, whole)
      return false
    }
    const packet = this.#decoder.decode(first, body, whole)
    if (packet instanceof SpoolError) {
      this.#flush()
      this.fail(packet, packet.code === 'MQTT_PROTOCOL_ERROR' ? Reason.protocolError : Reason.malformedPacket, whole)
      return false
    }
    if (this.#state === 'new') {
      this.#gw.noteFirstPacket(this.#gw.now() - this.net.connectedAtMs)
      if (packet.cmd !== 'connect') {
        this.fail(new MqttProtocolError(`first packet is ${packet.cmd}, not CONNECT [MQTT-3.1.0-1]`), Reason.protocolError, whole)
        return false
      }
      this.#connect(packet)
      return !this.closed
    }
    if (packet.cmd === 'publish') {
      this.#publish(packet, whole)
      return !this.closed
    }
    this.#flush()
    switch (packet.cmd) {
      case 'connect':
        this.fail(new MqttProtocolError('second CONNECT [MQTT-3.1.0-2]'), Reason.protocolError, whole)
        return false
      case 'puback': case 'pubrec': case 'pubrel': case 'pubcomp':
        this.#ack(packet)
        break
      case 'pingreq':
        this.write(PINGRESP) // [MQTT-3.12.4-1]
        break
      case 'subscribe':
        this.#subscribe(packet, whole)
        break
      case 'unsubscribe':
        this.#unsubscribe(packet, whole)
        break
      case 'disconnect':
        this.#disconnect(packet)
        return false
      case 'auth':
        this.fail(new MqttProtocolError('AUTH is not supported (no authentication method was agreed)'), Reason.protocolError, whole)
        return false
    }
    return !this.closed
  }

  /**
   * CONNECT runs as a list of steps (connect.ts) that may wait (an authenticator); packets
   * that arrive meanwhile wait in order and reading pauses, then they are handled once the
   * CONNACK is out.
   */
  #connect (p: IConnectPacket): void {
    this.version = this.#decoder.version
    this.#state = 'connecting'
    const outcome = runConnect(this.#gw, this, p)
    if (outcome instanceof Promise) {
      this.net.guard(outcome.then(o => this.net.run(() => this.#connected(o))))
    } else {
      this.#connected(outcome)
    }
  }

  #connected (outcome: { connack: import('mqtt-packet').IConnackPacket, session: Session } | null): void {
    if (this.#state !== 'connecting') return
    if (outcome === null) {
      this.#waiting = null
      return
    }
    this.#state = 'connected'
    this.net.setClientId(this.clientId)
    // [MQTT-3.1.2-24]: no packet for 1.5 × keep alive closes the connection (and sends the will).
    this.net.idleTimeoutMs = this.keepAliveMs * 1.5
    this.write(encodeOther(outcome.connack, this.version))
    this.#gw.attach(this, outcome.session)
    if (this.#waiting !== null) {
      const waiting = this.#waiting
      this.#waiting = null
      for (const whole of waiting) if (!this.#onPacket(whole)) break
      this.#flush()
    }
    this.net.resume('session')
  }

  #publish (p: PublishPacket, whole: Uint8Array): void {
    const session = this.session!
    let topic = p.topic
    let topicBytes = p.topicBytes
    const alias = p.properties?.topicAlias
    if (alias !== undefined) {
      // [MQTT-3.3.2-8, MQTT-3.3.2-9]: 0 and anything above our Topic Alias Maximum are errors.
      if (alias === 0 || alias > TOPIC_ALIAS_MAX) {
        this.fail(new MqttProtocolError(`topic alias ${alias} outside 1..${TOPIC_ALIAS_MAX}`), Reason.topicAliasInvalid, whole)
        return
      }
      if (topic.length === 0) {
        const known = this.#aliases?.get(alias)
        if (known === undefined) {
          this.fail(new MqttProtocolError(`topic alias ${alias} used before it was set`), Reason.protocolError, whole)
          return
        }
        topic = known.topic
        topicBytes = known.bytes
      } else {
        (this.#aliases ??= new Map()).set(alias, { topic, bytes: topicBytes.slice() })
      }
    }
    const invalid = topicNameError(topic, this.#gw.limits) ?? reservedTopicError(topic)
    if (invalid !== null) {
      if (this.version === 5 && p.qos > 0) {
        this.write(encodeAck(p.qos === 1 ? 'puback' : 'pubrec', p.packetId, Reason.topicNameInvalid, 5))
        return
      }
      this.fail(new MqttProtocolError(`invalid PUBLISH topic: ${invalid}`), Reason.topicNameInvalid, whole)
      return
    }
    if (p.qos === 2 && session.inboundQos2.has(p.packetId)) {
      // A resent QoS 2 PUBLISH whose PUBREL has not come: acknowledge, do not store again [MQTT-4.3.3-9].
      this.write(encodeAck('pubrec', p.packetId, 0, this.version))
      return
    }
    // Receive Maximum [MQTT-3.3.4-7]: every QoS 1/2 PUBLISH the broker has not acknowledged
    // counts as it is decoded — those staged in this read (acked at its end), those whose
    // acks wait for an append or fsync, and QoS 2 awaiting PUBREL. One more is DISCONNECT 0x93.
    if (p.qos > 0 && this.version === 5 && (this.#acks?.length ?? 0) + this.#inboundPending + session.inboundQos2Count >= this.#gw.settings.maxInflight) {
      this.fail(new MqttProtocolError(`more than ${this.#gw.settings.maxInflight} QoS 1/2 publishes unacknowledged`), Reason.receiveMaximumExceeded, whole)
      return
    }
    let properties = p.properties
    if (properties !== null && properties.topicAlias !== undefined) {
      const { topicAlias: _dropped, ...rest } = properties
      properties = Object.keys(rest).length === 0 ? null : rest
    }
    // User properties named `mqtt.*` are reserved for the gateway's headers and never stored;
    // live subscribers do not get them either, so a message reads the same from the log.
    if (properties?.userProperties?.some(([k]) => k.startsWith('mqtt.')) === true) {
      const kept = properties.userProperties.filter(([k]) => !k.startsWith('mqtt.'))
      const { userProperties: _all, ...rest } = properties
      properties = kept.length > 0 ? { ...rest, userProperties: kept } : (Object.keys(rest).length === 0 ? null : rest)
    }
    const message: MqttMessage = { topic, topicBytes, payload: p.payload, qos: p.qos, retain: p.retain, properties, timestampMs: this.#gw.now() }
    const route = this.#gw.route(topic, topicBytes)
    if (this.#gw.authorizer !== null && !this.#gw.authorizer.publish(this.net.caller, route.logTopic, topic)) {
      // Answered in arrival order behind the staged ones, through the same ack list.
      if (p.qos > 0) (this.#acks ??= []).push({ cmd: p.qos === 1 ? 'puback' : 'pubrec', packetId: p.packetId, batch: null })
      return
    }
    this.#gw.counters.messagesIn++
    const batch = (this.#stage ??= new PublishStage(this.#gw.settings.maxBatchBytes)).add(route, message)
    this.net.activity.messagesIn++
    this.net.producedPartition(route.logTopic, p.payload.length, 1)
    this.#stagedBytes += p.payload.length
    if (p.qos > 0) {
      (this.#acks ??= []).push({ cmd: p.qos === 1 ? 'puback' : 'pubrec', packetId: p.packetId, batch })
    }
  }

  /**
   * Appends what is staged, then acknowledges it in arrival order: at once when the
   * records are in the log, or through the ack chain when an append waits for its log
   * topic to be created or acks wait for fsync (later acks then queue behind them).
   */
  #flush (): void {
    const stage = this.#stage
    const staged = stage !== null && !stage.empty
    if (!staged && (this.#acks?.length ?? 0) === 0) return
    if (staged) {
      this.net.producedRequest(this.#stagedBytes)
      this.#stagedBytes = 0
    }
    const batches = staged ? stage.take() : []
    const appending = this.#gw.appendBatches(batches, this.session)
    const acks = this.#acks ?? []
    this.#acks = null
    if (appending === null && !this.#gw.settings.fsyncAcks && this.#chained === 0) {
      if (acks.length > 0) this.#sendAcks(acks)
      return
    }
    const fsync = this.#gw.settings.fsyncAcks
    const ready = appending === null
      ? (fsync ? this.#gw.syncBatches(batches) : null)
      : appending.then(() => fsync ? this.#gw.syncBatches(batches) : undefined)
    this.#chained++
    this.#inboundPending += acks.length
    this.#ackChain = (this.#ackChain ?? Promise.resolve()).then(() => ready).then(() => {
      this.#chained--
      this.#inboundPending -= acks.length
      if (acks.length > 0) this.net.run(() => this.#sendAcks(acks))
    }, (err: unknown) => { this.net.internalError(err) })
  }

  #sendAcks (acks: PendingAck[]): void {
    if (this.#state === 'closed') return
    const session = this.session!
    for (const a of acks) {
      if (a.batch === null) {
        if (this.version === 5) {
          this.write(encodeAck(a.cmd, a.packetId, Reason.notAuthorized, 5))
          continue
        }
        if (a.cmd === 'pubrec') session.inboundQos2.add(a.packetId)
        this.write(encodeAck(a.cmd, a.packetId, 0, this.version))
        continue
      }
      if (a.batch.error !== null) {
        // The record could not be written: MQTT 5 says so in the ack; 3.1.1 has no way but closing.
        if (this.version === 5) {
          this.write(encodeAck(a.cmd, a.packetId, Reason.unspecifiedError, 5))
          continue
        }
        this.fail(new MqttProtocolError('publish could not be stored', { cause: a.batch.error }), Reason.unspecifiedError, null)
        return
      }
      if (a.cmd === 'pubrec') session.inboundQos2.add(a.packetId)
      this.write(encodeAck(a.cmd, a.packetId, 0, this.version))
    }
    if (acks.some(a => a.cmd === 'pubrec')) this.#gw.storeSession(session)
  }

  #ack (p: AckPacket): void {
    const session = this.session!
    switch (p.cmd) {
      case 'puback':
        session.completed(p.packetId, 1)
        break
      case 'pubrec':
        // A PUBREC with an error reason ends the exchange (5.0 §4.3.3); otherwise answer PUBREL.
        if (p.reasonCode >= 0x80) {
          session.dropInflight(p.packetId)
          session.scheduleResume()
          break
        }
        this.write(encodeAck('pubrel', p.packetId, session.received(p.packetId) ? 0 : Reason.packetIdentifierNotFound, this.version))
        break
      case 'pubrel': {
        const known = session.inboundQos2.delete(p.packetId)
        if (known) session.dirty = true
        this.write(encodeAck('pubcomp', p.packetId, known ? 0 : Reason.packetIdentifierNotFound, this.version))
        break
      }
      case 'pubcomp':
        session.completed(p.packetId, 2)
        break
    }
  }

  #subscribe (p: ISubscribePacket, whole: Uint8Array): void {
    if (p.subscriptions.length === 0) {
      this.fail(new MqttProtocolError('SUBSCRIBE without topic filters [MQTT-3.8.3-3]'), Reason.protocolError, whole)
      return
    }
    if (p.properties?.subscriptionIdentifier === 0) {
      this.fail(new MqttProtocolError('Subscription Identifier 0 [MQTT-3.8.2.1.2]'), Reason.protocolError, whole)
      return
    }
    const granted = this.#gw.subscribe(this.session!, p, this.net.caller)
    if (granted === null) {
      this.fail(new MqttProtocolError('shared subscription with No Local set [MQTT-3.8.3-4]'), Reason.protocolError, whole)
      return
    }
    this.write(encodeOther({ cmd: 'suback', messageId: p.messageId!, granted: granted.codes }, this.version))
    granted.afterAck()
  }

  #unsubscribe (p: IUnsubscribePacket, whole: Uint8Array): void {
    if (p.unsubscriptions.length === 0) {
      // Both versions: an UNSUBSCRIBE carries at least one filter [MQTT-3.10.3-2]; a v5
      // client is told with DISCONNECT 0x82, a 3.1.1 client is closed.
      this.fail(new MqttProtocolError('UNSUBSCRIBE without topic filters [MQTT-3.10.3-2]'), Reason.protocolError, whole)
      return
    }
    const codes = this.#gw.unsubscribe(this.session!, p.unsubscriptions)
    this.write(encodeOther(this.version === 5
      ? { cmd: 'unsuback', messageId: p.messageId!, granted: codes }
      : { cmd: 'unsuback', messageId: p.messageId!, granted: [] }, this.version))
  }

  #disconnect (p: IDisconnectPacket): void {
    const expiry = p.properties?.sessionExpiryInterval
    const session = this.session!
    if (expiry !== undefined) {
      if (session.expirySec === 0 && expiry !== 0) {
        // [MQTT-3.14.2-2]: a session that was to end cannot be made persistent at DISCONNECT.
        this.fail(new MqttProtocolError('DISCONNECT sets a session expiry on a session that had none'), Reason.protocolError, null)
        return
      }
      session.expirySec = Math.min(expiry, this.#gw.settings.sessionExpiryMaxSec)
    }
    // Normal DISCONNECT discards the will [MQTT-3.14.4-3]; v5 reason 0x04 asks for it.
    if (p.reasonCode !== Reason.disconnectWithWill) this.will = null
    this.gracefulClose = true
    this.net.close(null)
  }

  /**
   * Closes the connection for bad input or a broken rule: DISCONNECT with `reason` for
   * MQTT 5 (when connected), a closed socket otherwise, and one bounded log line (the
   * network connection's).
   */
  fail (err: SpoolError, reason: number, bytes: Uint8Array | null): void {
    if (this.#state === 'closed') return
    this.#farewellReason = reason
    this.net.fail(err, bytes)
  }

  /** Ends the connection; MQTT 5 connected clients get a DISCONNECT with `reason` first. */
  close (reason: number | null): void {
    if (this.#state === 'closed') return
    if (reason !== null) this.#sayGoodbye(reason)
    // Queued packets (a refusing CONNACK, a DISCONNECT) are flushed; a peer that does not
    // close its side is cut off shortly after.
    this.net.close(null)
  }

  /** The network connection closes for `err` (bad input, keep-alive, an internal error). */
  farewell (err: SpoolError): void {
    this.#sayGoodbye(this.#farewellReason ?? reasonForError(err))
  }

  #sayGoodbye (reason: number): void {
    if (this.#state !== 'connected' || this.version !== 5) return
    this.write(encodeOther({ cmd: 'disconnect', reasonCode: reason }, 5))
  }

  onClose (): void {
    this.#state = 'closed'
    this.#waiting = null
    this.#gw.connectionClosed(this)
  }
}

/** A CONNECT body whose protocol name is MQTT's but whose level this gateway does not speak. */
function unsupportedLevel (body: Uint8Array): boolean {
  if (body.length < 2) return false
  const nameLength = (body[0]! << 8) | body[1]!
  const level = body[2 + nameLength]
  if (level === undefined) return false
  const name = String.fromCharCode(...body.subarray(2, 2 + nameLength))
  if (name === 'MQTT') return level !== 4 && level !== 5
  if (name === 'MQIsdp') return level !== 3
  return false
}
