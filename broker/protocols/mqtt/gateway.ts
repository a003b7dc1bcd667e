/**
 * The MQTT gateway: MQTT 3.1.1 and 5 clients on the logs (issue 6, architecture.md §6).
 *
 * Publish path: tcp socket or `/mqtt` WebSocket → connection.ts (framer bounds the packet
 * from its fixed header; decoder; rules) → publish-stage.ts (one record batch per log
 * partition per read; routing in mapping.ts) → PartitionService.append (the log) →
 * acknowledgements (after the append, or after fsync with mqttFsyncAcks) → the partition's
 * Tailer fans the new records out from memory.
 * Delivery path: Tailer (one per MQTT log partition, woken by any protocol's append) →
 * SubscriptionIndex (trie) → Session.offerLive / SharedGroup.deliver → socket. Sessions
 * that fell behind read the log themselves and rejoin (session.ts).
 * State: retained messages in `__mqtt_retained`, persistent sessions in `__mqtt_sessions`
 * (both compacted, both rebuilt from the log on start).
 *
 * One timer drives keep-alive [MQTT-3.1.2-24], CONNECT timeouts, session expiry and the
 * periodic session snapshots: no per-message timers.
 */

import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { createServer, type Server, type Socket } from 'node:net'
import type { IConnackPacket, IConnectPacket, ISubscribePacket } from 'mqtt-packet'
import type { Logger } from 'pino'
import { WebSocketServer } from 'ws'
import { InvalidConfigError, MqttProtocolError } from '../../../protocol/errors.js'
import type { BrokerConfig } from '../../config/settings.js'
import type { BrokerMetrics } from '../../observability/metrics.js'
import { tcpChannel, webSocketChannel, type ByteChannel } from '../../network/channel.js'
import type { UpgradeHandler } from '../http/server.js'
import { closeServer, listen } from '../../network/server.js'
import { encodeOther, userPropertiesFromObject, type QoS } from './codec.js'
import { MqttConnection, TOPIC_ALIAS_MAX } from './connection.js'
import { ensureTopic, type LogAccess } from './log-access.js'
import { TopicMapper, checkLogTopicName, parseMapRules, type MqttMessage, type Route } from './mapping.js'
import { PublishStage, type StagedBatch } from './publish-stage.js'
import { Reason, v4ReturnCode } from './reason-codes.js'
import { RetainedStore } from './retained-store.js'
import { Session, type Delivery, type SessionContext, type Subscription } from './session.js'
import { SessionStore, type StoredSubscription } from './session-store.js'
import { SharedGroup } from './shared-group.js'
import { SubscriptionIndex } from './subscription-index.js'
import { Tailer, type Target } from './tailer.js'
import { registerGatewayMetrics } from './metrics.js'
import { DISALLOWED_CODE_POINTS, parseSubscriptionFilter, reservedTopicError, topicNameError, type TopicLimits } from './topics.js'

export interface GatewaySettings {
  maxPacketBytes: number
  maxBatchBytes: number
  maxInflight: number
  maxQueuedBytes: number
  maxSubscriptions: number
  maxConnections: number
  keepAliveMaxSec: number
  sessionExpiryMaxSec: number
  fsyncAcks: boolean
}

export interface MqttGatewayOptions {
  config: BrokerConfig
  partitions: LogAccess
  logger: Logger
  metrics?: BrokerMetrics
  now?: () => number
}

const SWEEP_MS = 250
const SNAPSHOT_MS = 1000
const CONNECT_TIMEOUT_MS = 10_000
const NEVER_EXPIRES = 0xffffffff

export class MqttGateway {
  readonly settings: GatewaySettings
  readonly limits: TopicLimits
  readonly logger: Logger
  readonly now: () => number
  readonly counters = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, droppedQos0: 0, droppedShared: 0, protocolErrors: 0, connectionsRefused: 0 }
  readonly connections = new Set<MqttConnection>()
  readonly sessions = new Map<string, Session>()
  readonly #log: LogAccess
  readonly #config: BrokerConfig
  readonly #mapper: TopicMapper
  readonly #index = new SubscriptionIndex<Target>()
  readonly #shares = new Map<string, SharedGroup>()
  readonly #tailers: Tailer[] = []
  readonly #tailerByPartition = new Map<string, Tailer>()
  readonly #tailed = new Set<string>()
  readonly #creating = new Map<string, Promise<void>>()
  readonly #retained: RetainedStore
  readonly #store: SessionStore
  readonly #pendingWills = new Map<string, { timer: NodeJS.Timeout, message: MqttMessage }>()
  readonly #ctx: SessionContext
  #sweep: NodeJS.Timeout | null = null
  #lastSnapshotMs = 0

  constructor (options: MqttGatewayOptions) {
    const c = options.config
    this.#config = c
    this.#log = options.partitions
    this.logger = options.logger
    this.now = options.now ?? Date.now
    this.limits = { maxTopicBytes: c.mqttMaxTopicLength, maxTopicLevels: c.mqttMaxTopicLevels }
    this.settings = {
      maxPacketBytes: c.mqttMaxPacketBytes,
      maxBatchBytes: c.maxBatchBytes,
      maxInflight: Math.min(c.mqttMaxInflight, 65535),
      maxQueuedBytes: c.mqttMaxQueuedBytes,
      maxSubscriptions: c.mqttMaxSubscriptionsPerClient,
      maxConnections: c.mqttMaxConnections,
      keepAliveMaxSec: Math.min(c.mqttKeepAliveMax, 65535),
      sessionExpiryMaxSec: c.mqttSessionExpiryMaxSec,
      fsyncAcks: c.mqttFsyncAcks,
    }
    for (const k of ['mqttMaxPacketBytes', 'mqttMaxTopicLength', 'mqttMaxTopicLevels', 'mqttMaxSubscriptionsPerClient', 'mqttMaxInflight', 'mqttMaxConnections', 'mqttMaxQueuedBytes', 'mqttPartitions'] as const) {
      if (c[k] <= 0) throw new InvalidConfigError(`${k} must be positive (got ${c[k]})`)
    }
    if (c.mqttMaxPacketBytes + 1024 > c.maxBatchBytes) {
      // Every publish must fit one record batch (with room for its record header and headers).
      this.settings.maxPacketBytes = Math.max(256, c.maxBatchBytes - 1024)
      this.logger.warn({ mqttMaxPacketBytes: c.mqttMaxPacketBytes, maxBatchBytes: c.maxBatchBytes, effective: this.settings.maxPacketBytes }, 'mqttMaxPacketBytes lowered to fit maxBatchBytes')
    }
    checkLogTopicName(c.mqttLogTopic, 'mqttLogTopic')
    this.#mapper = new TopicMapper(parseMapRules(c.mqttMap ?? [], this.limits), c.mqttLogTopic, c.mqttPartitions)
    this.#retained = new RetainedStore(this.#log, this.limits)
    this.#store = new SessionStore(this.#log)
    const gw = this
    this.#ctx = {
      log: this.#log,
      limits: this.limits,
      maxQueuedBytes: this.settings.maxQueuedBytes,
      logger: this.logger,
      now: this.now,
      tailers: this.#tailers,
      get counters () { return gw.counters },
    }
  }

  /**
   * Tails the MQTT log topics that exist (from their end), creates the internal topics and
   * loads retained messages and sessions. MQTT log topics that do not exist yet are created
   * on the first MQTT publish to them, and tailed from their start when another client
   * creates them (checked by the sweep).
   */
  async open (): Promise<void> {
    for (const topic of this.#mapper.logTopics()) {
      if (this.#log.logs.hasTopic(topic)) this.#tail(topic, false)
    }
    const retained = await this.#retained.open()
    const stored = await this.#store.open()
    const now = this.now()
    for (const [clientId, s] of stored) {
      const { session, subscriptions } = Session.restore(this.#ctx, clientId, s, now)
      if (this.#expired(session, now)) {
        this.#store.write(clientId, null)
        continue
      }
      for (const sub of subscriptions) this.#addSubscription(session, sub, false)
      this.sessions.set(clientId, session)
    }
    this.#sweep = setInterval(() => this.#onSweep(), SWEEP_MS)
    this.#sweep.unref()
    this.logger.info({ logTopics: this.#mapper.logTopics(), rules: this.#mapper.rules.length, retained, sessions: this.sessions.size }, 'mqtt gateway ready')
  }

  /** Starts tailing every partition of a log topic, from its end or from its start. */
  #tail (topic: string, fromStart: boolean): void {
    if (this.#tailed.has(topic)) return
    this.#tailed.add(topic)
    const partitions = this.#log.logs.topic(topic)?.partitions ?? 0
    this.#mapper.setPartitions(topic, partitions)
    for (let p = 0; p < partitions; p++) {
      const t = new Tailer({ index: this.#tailers.length, logTopic: topic, partition: p, log: this.#log, subs: this.#index, limits: this.limits, logger: this.logger })
      if (fromStart) t.startAt(this.#log.logs.partition(topic, p).logStartOffset)
      this.#tailers.push(t)
      this.#tailerByPartition.set(`${topic}\u0000${p}`, t)
    }
  }

  /** Creates an MQTT log topic on its first publish (once, however many publishes wait). */
  #createLogTopic (topic: string): Promise<void> {
    let pending = this.#creating.get(topic)
    if (pending === undefined) {
      pending = ensureTopic(this.#log, topic, this.#config.mqttPartitions, false)
        .then(() => {
          this.logger.info({ topic, partitions: this.#log.logs.topic(topic)?.partitions }, 'mqtt log topic created')
          this.#tail(topic, true)
        })
        .finally(() => this.#creating.delete(topic))
      this.#creating.set(topic, pending)
    }
    return pending
  }

  route (topic: string, topicBytes: Uint8Array): Route {
    return this.#mapper.route(topic, topicBytes)
  }

  /** A new byte stream (TCP socket or WebSocket). */
  accept (channel: ByteChannel): MqttConnection {
    const conn = new MqttConnection(this, channel)
    this.connections.add(conn)
    return conn
  }

  // ----- CONNECT -----

  /** Checks a CONNECT and finds or creates the session; null when it was refused (CONNACK sent). */
  connect (conn: MqttConnection, p: IConnectPacket): { connack: IConnackPacket, session: Session } | null {
    const v5 = conn.version === 5
    const refuse = (reason: number, why: string): null => {
      this.counters.connectionsRefused++
      this.logger.info({ clientId: p.clientId, remote: conn.channel.remoteAddress, reason: `0x${reason.toString(16)}` }, `mqtt connect refused: ${why}`)
      // 3.1.1 has no CONNACK code for a broken packet: such a CONNECT just closes the
      // connection [MQTT-3.1.4-1], rather than a misleading "server unavailable".
      const violation = reason === Reason.malformedPacket || reason === Reason.protocolError || reason === Reason.topicNameInvalid
      if (v5 || !violation) {
        conn.write(encodeOther({ cmd: 'connack', sessionPresent: false, ...(v5 ? { reasonCode: reason } : { returnCode: v4ReturnCode(reason) }) }, conn.version))
      }
      conn.close(null)
      return null
    }
    let online = 0
    for (const c of this.connections) if (c.connected) online++
    if (online >= this.settings.maxConnections) return refuse(Reason.serverBusy, 'mqttMaxConnections reached')
    if (p.properties?.authenticationMethod !== undefined) return refuse(0x8c, 'enhanced authentication is not supported')
    const clean = p.clean !== false
    let clientId = p.clientId ?? ''
    let assigned: string | undefined
    if (clientId.length === 0) {
      // [MQTT-3.1.3-8]: 3.1.1 rejects an empty id without clean session; otherwise assign one [MQTT-3.1.3-6].
      if (!v5 && !clean) return refuse(Reason.clientIdentifierNotValid, 'empty client id without clean session')
      clientId = assigned = 'spool-' + randomBytes(8).toString('hex')
    }
    if (Buffer.byteLength(clientId) > 256) return refuse(Reason.clientIdentifierNotValid, 'client id longer than 256 bytes')
    if (DISALLOWED_CODE_POINTS.test(clientId)) return refuse(Reason.clientIdentifierNotValid, 'control character or non-character in the client id')
    if (!v5 && p.password !== undefined && p.username === undefined) {
      return refuse(Reason.malformedPacket, 'password without a user name [MQTT-3.1.2-22]')
    }
    let will: { message: MqttMessage, delaySec: number } | null = null
    if (p.will !== undefined) {
      const topicError = topicNameError(p.will.topic, this.limits) ?? reservedTopicError(p.will.topic)
      if (topicError !== null) return refuse(Reason.topicNameInvalid, `will topic: ${topicError}`)
      const wp = p.will.properties
      const payload = typeof p.will.payload === 'string' ? Buffer.from(p.will.payload) : p.will.payload
      const userProperties = userPropertiesFromObject(wp?.userProperties as Record<string, string | string[]> | undefined)
      const properties = wp === undefined ? null : {
        ...(wp.payloadFormatIndicator !== undefined ? { payloadFormatIndicator: wp.payloadFormatIndicator } : {}),
        ...(wp.messageExpiryInterval !== undefined ? { messageExpiryInterval: wp.messageExpiryInterval } : {}),
        ...(wp.contentType !== undefined ? { contentType: wp.contentType } : {}),
        ...(wp.responseTopic !== undefined ? { responseTopic: wp.responseTopic } : {}),
        ...(wp.correlationData !== undefined ? { correlationData: wp.correlationData } : {}),
        ...(userProperties !== undefined ? { userProperties } : {}),
      }
      will = {
        message: {
          topic: p.will.topic, topicBytes: Buffer.from(p.will.topic), payload: Buffer.from(payload), qos: (p.will.qos ?? 0) as QoS,
          retain: p.will.retain === true, properties: properties !== null && Object.keys(properties).length > 0 ? properties : null, timestampMs: 0,
        },
        delaySec: wp?.willDelayInterval ?? 0,
      }
    }
    // Keep alive. MQTT 5: 0 or more than the maximum becomes the maximum, and the client is
    // told (Server Keep Alive). 3.1.1 has no way to tell a client, so, as Mosquitto does, a
    // keep alive above the maximum is refused at CONNACK (identifier rejected) rather than
    // cut off later; 0 turns the keep-alive timeout off as the spec says [MQTT-3.1.2-23]
    // (TCP keep-alive still finds dead peers).
    const askedKeepAlive = p.keepalive ?? 0
    if (!v5 && askedKeepAlive > this.settings.keepAliveMaxSec) {
      return refuse(Reason.clientIdentifierNotValid, `keep alive ${askedKeepAlive} s is above mqttKeepAliveMax (${this.settings.keepAliveMaxSec} s)`)
    }
    const keepAlive = v5 && (askedKeepAlive === 0 || askedKeepAlive > this.settings.keepAliveMaxSec) ? this.settings.keepAliveMaxSec : askedKeepAlive
    const askedExpiry = v5 ? (p.properties?.sessionExpiryInterval ?? 0) : (clean ? 0 : NEVER_EXPIRES)
    const expirySec = Math.min(askedExpiry, this.settings.sessionExpiryMaxSec)

    conn.clientId = clientId
    conn.keepAliveMs = keepAlive * 1000
    conn.will = will
    conn.window = Math.min(p.properties?.receiveMaximum ?? 65535, this.settings.maxInflight)
    conn.maxPacketBytes = p.properties?.maximumPacketSize ?? Infinity

    // Session takeover [MQTT-3.1.4-3]: the older connection is closed (MQTT 5: reason 0x8E).
    let existing = this.sessions.get(clientId)
    if (existing?.output instanceof MqttConnection) {
      const old = existing.output
      this.#detach(old, existing, !clean && expirySec > 0)
      old.close(Reason.sessionTakenOver)
    }
    const pendingWill = this.#pendingWills.get(clientId)
    if (pendingWill !== undefined) {
      clearTimeout(pendingWill.timer)
      this.#pendingWills.delete(clientId)
      // A delayed will waits for the delay or the end of the session, whichever is first.
      if (clean || existing === undefined) this.#publishMessages([pendingWill.message])
    }
    if (existing !== undefined && clean) {
      this.#endSession(existing)
      existing = undefined
    }
    const sessionPresent = existing !== undefined
    const session = existing ?? new Session(this.#ctx, clientId, expirySec, conn.version)
    session.expirySec = expirySec
    this.sessions.set(clientId, session)

    const connack: IConnackPacket = { cmd: 'connack', sessionPresent, ...(v5 ? { reasonCode: 0 } : { returnCode: 0 }) }
    if (v5) {
      connack.properties = {
        receiveMaximum: this.settings.maxInflight,
        maximumPacketSize: this.settings.maxPacketBytes,
        topicAliasMaximum: TOPIC_ALIAS_MAX,
        retainAvailable: true,
        wildcardSubscriptionAvailable: true,
        sharedSubscriptionAvailable: true,
        subscriptionIdentifiersAvailable: true,
        ...(assigned !== undefined ? { assignedClientIdentifier: assigned } : {}),
        ...(keepAlive !== askedKeepAlive ? { serverKeepAlive: keepAlive } : {}),
        ...(expirySec !== askedExpiry ? { sessionExpiryInterval: expirySec } : {}),
      }
    }
    return { connack, session }
  }

  /** After CONNACK: the session goes live on this connection. */
  attach (conn: MqttConnection, session: Session): void {
    conn.session = session
    for (const sub of session.subscriptions.values()) this.#indexAdd(sub)
    session.attach(conn)
    this.storeSession(session)
  }

  // ----- SUBSCRIBE / UNSUBSCRIBE -----

  subscribe (session: Session, p: ISubscribePacket): { codes: number[], afterAck: () => void } | null {
    const v5 = session.protocolVersion === 5
    const subId = p.properties?.subscriptionIdentifier ?? null
    const codes: number[] = []
    const retained: Delivery[] = []
    for (const s of p.subscriptions) {
      const parsed = parseSubscriptionFilter(s.topic, this.limits)
      if (typeof parsed === 'string') {
        codes.push(v5 ? Reason.topicFilterInvalid : 0x80)
        continue
      }
      if (parsed.shareGroup !== null && s.nl === true) return null
      const existed = session.subscriptions.get(s.topic)
      if (existed === undefined && session.subscriptions.size >= this.settings.maxSubscriptions) {
        codes.push(v5 ? Reason.quotaExceeded : 0x80)
        continue
      }
      const stored: StoredSubscription = { filter: s.topic, qos: s.qos, nl: s.nl === true, rap: s.rap === true, rh: s.rh ?? 0, subId }
      const sub = this.#addSubscription(session, stored, true)
      codes.push(s.qos)
      // Retained messages [MQTT-3.3.1-6]: rh 0 always, 1 only for a new subscription, 2 never; never to shares.
      if (parsed.shareGroup === null && (stored.rh === 0 || (stored.rh === 1 && existed === undefined))) {
        for (const m of this.#retained.match(parsed.filter, this.now())) {
          retained.push({ message: m, qos: (m.qos < sub.qos ? m.qos : sub.qos), retain: true, subIds: subId === null ? null : [subId], logTopic: '', partition: 0, offset: -1 })
        }
      }
    }
    this.storeSession(session)
    return { codes, afterAck: () => { if (retained.length > 0) session.queueRetained(retained) } }
  }

  unsubscribe (session: Session, filters: string[]): number[] {
    const codes = filters.map(f => {
      const sub = session.subscriptions.get(f)
      if (sub === undefined) return typeof parseSubscriptionFilter(f, this.limits) === 'string' ? Reason.topicFilterInvalid : Reason.noSubscriptionExisted
      session.subscriptions.delete(f)
      if (session.output !== null) this.#indexRemove(sub)
      return Reason.success
    })
    this.storeSession(session)
    return codes
  }

  #addSubscription (session: Session, s: StoredSubscription, online: boolean): Subscription {
    const parsed = parseSubscriptionFilter(s.filter, this.limits)
    const { filter, shareGroup } = typeof parsed === 'string' ? { filter: s.filter, shareGroup: null } : parsed
    const old = session.subscriptions.get(s.filter)
    if (old !== undefined && online) this.#indexRemove(old)
    const sub: Subscription = { kind: 'sub', session, raw: s.filter, filter, shareGroup, qos: s.qos, nl: s.nl, rap: s.rap, rh: s.rh, subId: s.subId }
    session.subscriptions.set(s.filter, sub)
    if (online) this.#indexAdd(sub)
    return sub
  }

  #indexAdd (sub: Subscription): void {
    if (sub.shareGroup === null) {
      this.#index.add(sub.filter, sub)
      return
    }
    const key = `${sub.shareGroup}\u0000${sub.filter}`
    let group = this.#shares.get(key)
    if (group === undefined) {
      group = new SharedGroup(sub.shareGroup, sub.filter, () => { this.counters.droppedShared++ })
      this.#shares.set(key, group)
      this.#index.add(sub.filter, group)
    }
    group.add(sub)
  }

  #indexRemove (sub: Subscription): void {
    if (sub.shareGroup === null) {
      this.#index.remove(sub.filter, sub)
      return
    }
    const key = `${sub.shareGroup}\u0000${sub.filter}`
    const group = this.#shares.get(key)
    if (group === undefined) return
    group.remove(sub)
    if (group.members.length === 0) {
      this.#shares.delete(key)
      this.#index.remove(sub.filter, group)
    }
  }

  // ----- PUBLISH -----

  /**
   * Appends staged batches (recording offset or error on each) and fans them out. Returns
   * null when all were appended now, or a promise when some wait for their log topic to be
   * created (batches of one topic stay in order behind the creation).
   */
  appendBatches (batches: StagedBatch[], source: Session | null): Promise<void> | null {
    let waits: Array<Promise<void>> | null = null
    for (const b of batches) {
      if (!this.#creating.has(b.logTopic) && this.#tailed.has(b.logTopic)) {
        this.#appendOne(b, source)
        continue
      }
      const appended = this.#createLogTopic(b.logTopic).then(() => this.#appendOne(b, source), (err: unknown) => { b.error = err })
      ;(waits ??= []).push(appended)
    }
    return waits === null ? null : Promise.all(waits).then(() => {})
  }

  #appendOne (b: StagedBatch, source: Session | null): void {
    try {
      b.baseOffset = this.#log.append(b.logTopic, b.partition, b.builder.build()).baseOffset
    } catch (err) {
      b.error = err
      this.logger.warn({ err, topic: b.logTopic, partition: b.partition }, 'mqtt publish could not be appended')
      return
    }
    for (const m of b.messages) if (m.retain) this.#retained.set(m)
    this.#tailerByPartition.get(`${b.logTopic}\u0000${b.partition}`)?.appended(b.baseOffset, b.messages, source)
  }

  /** Resolves when every appended batch is fsynced (mqttFsyncAcks). */
  async syncBatches (batches: StagedBatch[]): Promise<void> {
    const seen = new Set<string>()
    const syncs: Array<Promise<void>> = []
    for (const b of batches) {
      const key = `${b.logTopic}\u0000${b.partition}`
      if (b.error !== null || seen.has(key)) continue
      seen.add(key)
      syncs.push(this.#log.sync(b.logTopic, b.partition).catch((err: unknown) => { b.error = err }))
    }
    await Promise.all(syncs)
  }

  #publishMessages (messages: MqttMessage[]): void {
    const stage = new PublishStage(this.settings.maxBatchBytes)
    const now = this.now()
    for (const m of messages) {
      const stamped = { ...m, timestampMs: now }
      stage.add(this.route(stamped.topic, stamped.topicBytes), stamped)
    }
    void this.appendBatches(stage.take(), null)
  }

  // ----- sessions and closing -----

  /** Writes a persistent session's state to `__mqtt_sessions`. */
  storeSession (session: Session): void {
    if (session.expirySec === 0) return
    session.dirty = false
    session.stored = true
    try {
      this.#store.write(session.clientId, session.snapshot())
    } catch (err) {
      this.logger.warn({ err, clientId: session.clientId }, 'mqtt session could not be stored')
    }
  }

  /** The session stops delivering to `conn`; its will is handled now. */
  #detach (conn: MqttConnection, session: Session, sessionContinues: boolean): void {
    if (session.output !== conn) return
    for (const sub of session.subscriptions.values()) this.#indexRemove(sub)
    session.detach(this.now())
    const will = conn.will
    conn.will = null
    // conn.will is already null after a normal DISCONNECT [MQTT-3.14.4-3].
    if (will !== null) this.#scheduleWill(session.clientId, will, sessionContinues ? session.expirySec : 0)
  }

  /** Publishes a will now, or after its delay when the session outlives the connection [MQTT-3.1.3-9]. */
  #scheduleWill (clientId: string, will: { message: MqttMessage, delaySec: number }, sessionExpirySec: number): void {
    const delaySec = Math.min(will.delaySec, sessionExpirySec)
    if (delaySec <= 0) {
      this.#publishMessages([will.message])
      return
    }
    const timer = setTimeout(() => {
      this.#pendingWills.delete(clientId)
      this.#publishMessages([will.message])
    }, delaySec * 1000)
    timer.unref()
    this.#pendingWills.set(clientId, { timer, message: will.message })
  }

  connectionClosed (conn: MqttConnection): void {
    this.connections.delete(conn)
    const session = conn.session
    if (session === null || session.output !== conn) return
    this.#detach(conn, session, session.expirySec > 0)
    if (session.expirySec === 0) this.#endSession(session)
    else this.storeSession(session)
  }

  #endSession (session: Session): void {
    for (const sub of session.subscriptions.values()) if (session.output !== null) this.#indexRemove(sub)
    this.sessions.delete(session.clientId)
    if (session.stored) this.#store.write(session.clientId, null)
  }

  #expired (session: Session, now: number): boolean {
    if (session.output !== null || session.disconnectedAtMs === null || session.expirySec >= NEVER_EXPIRES) return false
    return now - session.disconnectedAtMs >= session.expirySec * 1000
  }

  #onSweep (): void {
    const now = this.now()
    for (const topic of this.#mapper.logTopics()) {
      if (!this.#tailed.has(topic) && !this.#creating.has(topic) && this.#log.logs.hasTopic(topic)) this.#tail(topic, true)
    }
    for (const conn of this.connections) {
      if (!conn.connected) {
        if (!conn.closed && now - conn.openedAtMs > CONNECT_TIMEOUT_MS) conn.close(null)
        continue
      }
      // [MQTT-3.1.2-24]: no packet for 1.5 × keep alive closes the connection (and sends the will).
      if (conn.keepAliveMs > 0 && now - conn.lastActivityMs > conn.keepAliveMs * 1.5) {
        conn.fail(new MqttProtocolError(`no packet within 1.5 × keep alive (${conn.keepAliveMs / 1000} s)`), Reason.keepAliveTimeout, null)
      }
    }
    for (const session of this.sessions.values()) {
      if (this.#expired(session, now)) this.#endSession(session)
    }
    if (now - this.#lastSnapshotMs >= SNAPSHOT_MS) {
      this.#lastSnapshotMs = now
      for (const session of this.sessions.values()) {
        if (session.dirty && session.output !== null) this.storeSession(session)
      }
    }
  }

  /** Closes every connection (MQTT 5: reason 0x8B) and stores every persistent session. */
  close (): void {
    if (this.#sweep !== null) clearInterval(this.#sweep)
    this.#sweep = null
    for (const t of this.#tailers) t.close()
    for (const conn of [...this.connections]) {
      const session = conn.session
      if (session !== null && session.output === conn) {
        conn.will = null // the server going away is not the client's failure
        this.connectionClosed(conn)
      }
      conn.close(Reason.serverShuttingDown)
    }
    for (const session of this.sessions.values()) if (session.dirty) this.storeSession(session)
    for (const w of this.#pendingWills.values()) clearTimeout(w.timer)
    this.#pendingWills.clear()
  }

  /** Retained messages held (for metrics). */
  get retainedCount (): number { return this.#retained.size }
}

export interface MqttGatewayHandle {
  readonly gateway: MqttGateway
  /** The MQTT TCP port, or null when mqttPort is off. */
  readonly port: number | null
  /** For `/mqtt` on the HTTP port (WebSocket subprotocol `mqtt`). */
  readonly upgradeHandler: UpgradeHandler
  close (): Promise<void>
}

/** Starts the gateway and its TCP listener (unless mqttPort is off). */
export async function startMqttGateway (options: MqttGatewayOptions): Promise<MqttGatewayHandle> {
  const gateway = new MqttGateway(options)
  await gateway.open()
  if (options.metrics !== undefined) registerGatewayMetrics(gateway, options.metrics)
  const sockets = new Set<Socket>()
  let server: Server | null = null
  let port: number | null = null
  if (options.config.mqttPort !== null) {
    server = createServer({ noDelay: true }, socket => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      gateway.accept(tcpChannel(socket))
    })
    await listen(server, options.config.host, options.config.mqttPort)
    port = (server.address() as { port: number }).port
    options.logger.info({ listener: 'mqtt', host: options.config.host, port }, 'mqtt listening')
  }
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.config.mqttMaxPacketBytes + 16,
    perMessageDeflate: false,
    clientTracking: false,
    handleProtocols: (protocols: Set<string>) => protocols.has('mqtt') ? 'mqtt' : (protocols.values().next().value ?? false),
  })
  const upgradeHandler: UpgradeHandler = (req: IncomingMessage, socket: Socket, head: Buffer) => {
    wss.handleUpgrade(req, socket, head, ws => {
      ws.binaryType = 'nodebuffer'
      gateway.accept(webSocketChannel(ws, socket))
    })
  }
  let closing: Promise<void> | null = null
  return {
    gateway,
    port,
    upgradeHandler,
    close () {
      closing ??= (async () => {
        gateway.close()
        wss.close()
        if (server !== null) await closeServer(server, sockets)
      })()
      return closing
    },
  }
}
