/**
 * CONNECT, as a list of named steps run in order; a step may refuse (CONNACK with a reason
 * code, then close) or wait (an authenticator checking a password). Steps:
 *
 *   check         what the packet itself must satisfy: no enhanced authentication, client id
 *                 rules [MQTT-3.1.3-5..8], password only with a user name (3.1.1), will topic
 *   authenticate  who the client is (the gateway's authenticator; anonymous when none)
 *   keep-alive    the keep alive and session expiry the broker grants
 *   admit         a new persistent session must fit mqttMaxSessions and the peer's
 *                 mqttSessionCreateRate (session-limits.ts); a returning one always does
 *   session       takes over or restores the client's session [MQTT-3.1.4-3], or starts one
 *
 * Then the CONNACK is built (MQTT 5 properties say what the broker granted). The runner stays
 * synchronous while every step is, so a CONNECT costs no extra turn of the event loop unless a
 * step really waits.
 */

import { randomBytes } from 'node:crypto'
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet'
import { ANONYMOUS, type Principal } from '../../security/principal.js'
import { encodeOther, userPropertiesFromObject, type QoS } from './codec.js'
import type { MqttClient, MqttGatewayApi } from './gateway-api.js'
import type { MqttMessage } from './mapping.js'
import { Reason, v4ReturnCode } from './reason-codes.js'
import type { Session } from './session.js'
import { DISALLOWED_CODE_POINTS, reservedTopicError, topicNameError } from './topics.js'

const NEVER_EXPIRES = 0xffffffff

/** Topic aliases a client may use towards the broker (MQTT 5 Topic Alias Maximum). */
export const TOPIC_ALIAS_MAX = 64

/** A connection whose CONNECT is being handled. */
export interface ConnectingClient extends MqttClient {
  version: 4 | 5
  keepAliveMs: number
  window: number
  maxPacketBytes: number
}

/** What the steps work out from the packet, step by step. */
export interface ConnectPlan {
  readonly packet: IConnectPacket
  readonly v5: boolean
  readonly clean: boolean
  clientId: string
  /** A client id the broker assigned (the client sent none). */
  assigned: string | undefined
  will: { message: MqttMessage, delaySec: number } | null
  principal: Principal
  keepAlive: number
  askedKeepAlive: number
  expirySec: number
  askedExpiry: number
}

export interface ConnectOutcome {
  connack: IConnackPacket
  session: Session
}

/** A refusal: the CONNACK reason code and why (logged, unless `quiet`: logged where it was decided). */
export interface Refusal {
  reason: number
  why: string
  quiet?: true
}

type StepResult = Refusal | null
type Step = (gw: MqttGatewayApi, conn: ConnectingClient, plan: ConnectPlan) => StepResult | Promise<StepResult>

export const CONNECT_STEPS: ReadonlyArray<readonly [string, Step]> = [
  ['check', checkPacket],
  ['authenticate', authenticate],
  ['keep-alive', grantKeepAlive],
  ['admit', admitSession],
]

/**
 * Runs the steps for `conn`'s CONNECT; null when it was refused (CONNACK sent, connection
 * closing), otherwise the CONNACK to send and the session to attach.
 */
export function runConnect (gw: MqttGatewayApi, conn: ConnectingClient, p: IConnectPacket): ConnectOutcome | null | Promise<ConnectOutcome | null> {
  const plan: ConnectPlan = {
    packet: p,
    v5: conn.version === 5,
    clean: p.clean !== false,
    clientId: p.clientId ?? '',
    assigned: undefined,
    will: null,
    principal: ANONYMOUS,
    keepAlive: 0,
    askedKeepAlive: p.keepalive ?? 0,
    expirySec: 0,
    askedExpiry: 0,
  }
  return runFrom(0, gw, conn, plan)
}

function runFrom (index: number, gw: MqttGatewayApi, conn: ConnectingClient, plan: ConnectPlan): ConnectOutcome | null | Promise<ConnectOutcome | null> {
  for (let i = index; i < CONNECT_STEPS.length; i++) {
    const result = CONNECT_STEPS[i]![1](gw, conn, plan)
    if (result instanceof Promise) {
      return result.then(r => {
        if (conn.closed) return null
        if (r !== null) return refuse(gw, conn, plan, r)
        return runFrom(i + 1, gw, conn, plan)
      })
    }
    if (result !== null) return refuse(gw, conn, plan, result)
  }
  return openSession(gw, conn, plan)
}

function refuse (gw: MqttGatewayApi, conn: ConnectingClient, plan: ConnectPlan, r: Refusal): null {
  gw.counters.connectionsRefused++
  if (r.quiet !== true) gw.logger.info({ clientId: plan.packet.clientId, peer: conn.net.peer.address, reason: `0x${r.reason.toString(16)}` }, `mqtt connect refused: ${r.why}`)
  // 3.1.1 has no CONNACK code for a broken packet: such a CONNECT just closes the
  // connection [MQTT-3.1.4-1], rather than a misleading "server unavailable".
  const violation = r.reason === Reason.malformedPacket || r.reason === Reason.protocolError || r.reason === Reason.topicNameInvalid
  if (plan.v5 || !violation) {
    conn.write(encodeOther({ cmd: 'connack', sessionPresent: false, ...(plan.v5 ? { reasonCode: r.reason } : { returnCode: v4ReturnCode(r.reason) }) }, conn.version))
  }
  conn.close(null)
  return null
}

function checkPacket (gw: MqttGatewayApi, _conn: ConnectingClient, plan: ConnectPlan): StepResult {
  const p = plan.packet
  if (p.properties?.authenticationMethod !== undefined) return { reason: Reason.badAuthenticationMethod, why: 'enhanced authentication is not supported' }
  if (plan.clientId.length === 0) {
    // [MQTT-3.1.3-8]: 3.1.1 rejects an empty id without clean session; otherwise assign one [MQTT-3.1.3-6].
    if (!plan.v5 && !plan.clean) return { reason: Reason.clientIdentifierNotValid, why: 'empty client id without clean session' }
    plan.clientId = plan.assigned = 'spool-' + randomBytes(8).toString('hex')
  }
  if (Buffer.byteLength(plan.clientId) > 256) return { reason: Reason.clientIdentifierNotValid, why: 'client id longer than 256 bytes' }
  if (DISALLOWED_CODE_POINTS.test(plan.clientId)) return { reason: Reason.clientIdentifierNotValid, why: 'control character or non-character in the client id' }
  if (!plan.v5 && p.password !== undefined && p.username === undefined) {
    return { reason: Reason.malformedPacket, why: 'password without a user name [MQTT-3.1.2-22]' }
  }
  if (p.will !== undefined) {
    const topicError = topicNameError(p.will.topic, gw.limits) ?? reservedTopicError(p.will.topic)
    if (topicError !== null) return { reason: Reason.topicNameInvalid, why: `will topic: ${topicError}` }
    plan.will = willOf(p.will)
  }
  return null
}

function willOf (w: NonNullable<IConnectPacket['will']>): { message: MqttMessage, delaySec: number } {
  const wp = w.properties
  const payload = typeof w.payload === 'string' ? Buffer.from(w.payload) : w.payload
  const userProperties = userPropertiesFromObject(wp?.userProperties as Record<string, string | string[]> | undefined)
  const properties = wp === undefined ? null : {
    ...(wp.payloadFormatIndicator !== undefined ? { payloadFormatIndicator: wp.payloadFormatIndicator } : {}),
    ...(wp.messageExpiryInterval !== undefined ? { messageExpiryInterval: wp.messageExpiryInterval } : {}),
    ...(wp.contentType !== undefined ? { contentType: wp.contentType } : {}),
    ...(wp.responseTopic !== undefined ? { responseTopic: wp.responseTopic } : {}),
    ...(wp.correlationData !== undefined ? { correlationData: wp.correlationData } : {}),
    ...(userProperties !== undefined ? { userProperties } : {}),
  }
  return {
    message: {
      topic: w.topic,
      topicBytes: Buffer.from(w.topic),
      payload: Buffer.from(payload),
      qos: (w.qos ?? 0) as QoS,
      retain: w.retain === true,
      properties: properties !== null && Object.keys(properties).length > 0 ? properties : null,
      timestampMs: 0,
    },
    delaySec: wp?.willDelayInterval ?? 0,
  }
}

/** The gateway's authenticator decides; without one every client is anonymous. */
function authenticate (gw: MqttGatewayApi, conn: ConnectingClient, plan: ConnectPlan): StepResult | Promise<StepResult> {
  const authenticator = gw.authenticator
  if (authenticator === null) return null
  const p = plan.packet
  const result = authenticator({ clientId: plan.clientId, username: p.username ?? null, password: p.password ?? null, peer: conn.net.peer })
  const apply = (r: Principal | Refusal): StepResult => {
    if ('reason' in r) return r
    plan.principal = r
    conn.net.authenticated(r)
    const will = plan.will?.message
    if (will !== undefined && gw.authorizer !== null && !gw.authorizer.publish(conn.net.caller, gw.route(will.topic, will.topicBytes).logTopic, will.topic)) {
      return { reason: Reason.notAuthorized, why: `the will topic ${will.topic.slice(0, 200)} is not authorized` }
    }
    return null
  }
  return result instanceof Promise ? result.then(apply) : apply(result)
}

/**
 * Keep alive. MQTT 5: 0 or more than the maximum becomes the maximum, and the client is told
 * (Server Keep Alive). 3.1.1 has no way to tell a client, so, as Mosquitto does, a keep alive
 * above the maximum is refused at CONNACK (identifier rejected) rather than cut off later; 0
 * turns the keep-alive timeout off as the spec says [MQTT-3.1.2-23] (TCP keep-alive still
 * finds dead peers). Session expiry: MQTT 5 asks for one; 3.1.1 clean=false never expires.
 */
function grantKeepAlive (gw: MqttGatewayApi, _conn: ConnectingClient, plan: ConnectPlan): StepResult {
  const max = gw.settings.keepAliveMaxSec
  if (!plan.v5 && plan.askedKeepAlive > max) {
    return { reason: Reason.clientIdentifierNotValid, why: `keep alive ${plan.askedKeepAlive} s is above mqttKeepAliveMax (${max} s)` }
  }
  plan.keepAlive = plan.v5 && (plan.askedKeepAlive === 0 || plan.askedKeepAlive > max) ? max : plan.askedKeepAlive
  plan.askedExpiry = plan.v5 ? (plan.packet.properties?.sessionExpiryInterval ?? 0) : (plan.clean ? 0 : NEVER_EXPIRES)
  plan.expirySec = Math.min(plan.askedExpiry, gw.settings.sessionExpiryMaxSec)
  return null
}

/** A new persistent session needs room under the session limits; returning and clean ones do not. */
function admitSession (gw: MqttGatewayApi, conn: ConnectingClient, plan: ConnectPlan): StepResult {
  return gw.admitSession(plan.clientId, plan.clean, plan.expirySec, conn.net.peer.host)
}

/** The last step: the connection takes the client's session, and the CONNACK says what was granted. */
function openSession (gw: MqttGatewayApi, conn: ConnectingClient, plan: ConnectPlan): ConnectOutcome {
  const p = plan.packet
  conn.clientId = plan.clientId
  conn.keepAliveMs = plan.keepAlive * 1000
  conn.will = plan.will
  conn.window = Math.min(p.properties?.receiveMaximum ?? 65535, gw.settings.maxInflight)
  conn.maxPacketBytes = p.properties?.maximumPacketSize ?? Infinity
  const { session, sessionPresent } = gw.takeSession(conn, plan.clientId, plan.clean, plan.expirySec)
  const connack: IConnackPacket = { cmd: 'connack', sessionPresent, ...(plan.v5 ? { reasonCode: 0 } : { returnCode: 0 }) }
  if (plan.v5) {
    connack.properties = {
      receiveMaximum: gw.settings.maxInflight,
      maximumPacketSize: gw.settings.maxPacketBytes,
      topicAliasMaximum: TOPIC_ALIAS_MAX,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      sharedSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      ...(plan.assigned !== undefined ? { assignedClientIdentifier: plan.assigned } : {}),
      ...(plan.keepAlive !== plan.askedKeepAlive ? { serverKeepAlive: plan.keepAlive } : {}),
      ...(plan.expirySec !== plan.askedExpiry ? { sessionExpiryInterval: plan.expirySec } : {}),
    }
  }
  return { connack, session }
}
