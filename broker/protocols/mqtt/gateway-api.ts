/**
 * What an MQTT connection (connection.ts) and the CONNECT steps (connect.ts) use of the
 * gateway, and what the gateway uses of a connection — as interfaces, so the files depend
 * on these types and not on each other (no import cycles).
 */

import type { IConnackPacket, ISubscribePacket } from 'mqtt-packet'
import type { Logger } from 'pino'
import type { Connection } from '../../network/connection.js'
import type { Peer } from '../../network/channel.js'
import type { Caller, Principal } from '../../security/principal.js'
import type { Admittable } from './admission.js'
import type { MqttMessage, Route } from './mapping.js'
import type { StagedBatch } from './publish-stage.js'
import type { Session, SessionOutput } from './session.js'
import type { TopicLimits } from './topics.js'

export interface GatewaySettings {
  maxPacketBytes: number
  maxBatchBytes: number
  maxInflight: number
  maxQueuedBytes: number
  maxSubscriptions: number
  keepAliveMaxSec: number
  sessionExpiryMaxSec: number
  fsyncAcks: boolean
  maxSessions: number
}

export interface GatewayCounters {
  messagesIn: number
  messagesOut: number
  bytesOut: number
  droppedQos0: number
  droppedShared: number
  connectionsRefused: number
  /** Persistent sessions created, and ended by expiry. */
  sessionsCreated: number
  sessionsExpired: number
}

/** What CONNECT's authenticate step asks: a principal, or a refusal with its CONNACK reason. */
export interface MqttCredentials {
  clientId: string
  username: string | null
  password: Buffer | null
  peer: Peer
}
export type MqttAuthenticator = (credentials: MqttCredentials) => Principal | { reason: number, why: string } | Promise<Principal | { reason: number, why: string }>

/** The ACL checks of publish, subscribe and wills (security/mqtt-access.ts); null: everything allowed. */
export interface MqttAuthorizer {
  publish (caller: Caller, logTopic: string, topic: string): boolean
  subscribe (caller: Caller, filter: string): boolean
}

/** A connection as the gateway sees it. */
export interface MqttClient extends SessionOutput {
  readonly id: number
  readonly net: Connection
  readonly connected: boolean
  readonly closed: boolean
  clientId: string
  session: Session | null
  will: { message: MqttMessage, delaySec: number } | null
  gracefulClose: boolean
  /** Ends the connection; MQTT 5 clients get a DISCONNECT with `reason` first (null: none). */
  close (reason: number | null): void
}

/** The gateway as connections and CONNECT see it. */
export interface MqttGatewayApi {
  readonly settings: GatewaySettings
  readonly limits: TopicLimits
  readonly logger: Logger
  readonly counters: GatewayCounters
  readonly connections: Set<MqttClient>
  /** New connections are let in (their CONNECT read) by this queue, at the rate the broker serves them. */
  readonly admission: { push (item: Admittable): void, queuedWithin (ms: number): boolean }
  readonly authenticator: MqttAuthenticator | null
  readonly authorizer: MqttAuthorizer | null
  now (): number
  /** How long recent connections' first packets took to reach the gateway after accept (decaying maximum). */
  readonly firstPacketLagMs: number
  noteFirstPacket (delayMs: number): void
  route (topic: string, topicBytes: Uint8Array): Route
  /** Appends staged batches; null when all were appended now, a promise when some wait. */
  appendBatches (batches: StagedBatch[], source: Session | null): Promise<void> | null
  syncBatches (batches: StagedBatch[]): Promise<void>
  storeSession (session: Session): void
  subscribe (session: Session, p: ISubscribePacket, caller?: Caller): { codes: number[], afterAck: () => void } | null
  unsubscribe (session: Session, filters: string[]): number[]
  /** CONNECT's admit step: null when the client may have its session, or why not (session-limits.ts). */
  admitSession (clientId: string, clean: boolean, expirySec: number, host: string): { reason: number, why: string, quiet: true } | null
  /** CONNECT's session step: takes over, restores or starts the client's session. */
  takeSession (conn: MqttClient, clientId: string, clean: boolean, expirySec: number): { session: Session, sessionPresent: boolean }
  /** After CONNACK: the session goes live on this connection. */
  attach (conn: MqttClient, session: Session): void
  connectionClosed (conn: MqttClient): void
}

export type { IConnackPacket }
