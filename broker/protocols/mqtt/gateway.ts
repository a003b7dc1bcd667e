/**
 * The MQTT gateway: MQTT 3.1.1 and 5 clients on the logs.
 *
 * Publish path: network connection (TCP or `/mqtt` WebSocket; framing bounded from the fixed
 * header) → connection.ts (decoder; per-packet rules) → publish-stage.ts (one record batch
 * per log partition per read; routing in mapping.ts) → log-topics.ts → the partition service
 * (the log) → acknowledgements (after the append, or after fsync with mqttFsyncAcks) → the
 * partition's Tailer fans the new records out from memory.
 * Delivery path: Tailer (one per MQTT log partition, woken by any protocol's append) →
 * the subscription trie (subscriptions.ts) → Session.offerLive / SharedGroup.deliver →
 * socket. Sessions that fell behind share the partition's catch-up sweep (catch-up.ts: one
 * read and one decode of each range, under the broker-wide mqttCatchUpBytes) and rejoin the
 * tailer live; a returning session's resend and catch-up are queued after its CONNACK
 * (restore-queue.ts).
 * State: retained messages in `__mqtt_retained`, persistent sessions in `__mqtt_sessions`
 * (both compacted, both rebuilt from the log on start).
 *
 * Here: sessions — CONNECT's admit and session steps (limits on persistent sessions,
 * takeover, restore, clean start), attach and detach, wills, expiry, snapshots — and the
 * sweep that drives expiry, snapshots, idle catch-up memory and the discovery of new log
 * topics. Keep-alive and the CONNECT timeout are each connection's idle
 * timeout (network/connection.ts). No per-message timers.
 */

import type { ISubscribePacket } from 'mqtt-packet'
import type { Logger } from 'pino'
import { InvalidConfigError } from '../../../protocol/errors.js'
import type { BrokerConfig } from '../../config/settings.js'
import type {
  GatewayCounters, GatewaySettings, MqttAuthenticator, MqttAuthorizer, MqttClient, MqttGatewayApi,
} from './gateway-api.js'
import type { Caller } from '../../security/principal.js'
import { Admission } from './admission.js'
import type { LogAccess } from './log-access.js'
import { LogTopics } from './log-topics.js'
import type { MqttMessage, Route } from './mapping.js'
import type { StagedBatch } from './publish-stage.js'
import { ReadBudget } from './read-budget.js'
import { Reason } from './reason-codes.js'
import { RestoreQueue } from './restore-queue.js'
import { RetainedStore } from './retained-store.js'
import { SessionLimits } from './session-limits.js'
import { Session, type SessionContext } from './session.js'
import { SessionStore } from './session-store.js'
import { Subscriptions } from './subscriptions.js'
import type { TopicLimits } from './topics.js'

export type { GatewaySettings } from './gateway-api.js'

export interface MqttGatewayOptions {
  config: BrokerConfig
  log: LogAccess
  logger: Logger
  now?: () => number
  authenticator?: MqttAuthenticator | null
  authorizer?: MqttAuthorizer | null
}

/** A session's output is always a connection of this gateway (attach sets it). */
function isClient (output: object): output is MqttClient {
  return 'net' in output && 'close' in output
}

const SWEEP_MS = 250
const SNAPSHOT_MS = 1000
/** Connected sessions stored per snapshot round at most (the rest wait for the next round). */
const SNAPSHOTS_PER_SWEEP = 2000
/** Session expiry has one-second resolution: the sessions are looked at once a second. */
const EXPIRY_CHECK_MS = 1000
const NEVER_EXPIRES = 0xffffffff

export class MqttGateway implements MqttGatewayApi {
  readonly settings: GatewaySettings
  readonly limits: TopicLimits
  readonly logger: Logger
  readonly now: () => number
  readonly authenticator: MqttAuthenticator | null
  readonly authorizer: MqttAuthorizer | null
  readonly counters: GatewayCounters = { messagesIn: 0, messagesOut: 0, bytesOut: 0, droppedQos0: 0, droppedShared: 0, connectionsRefused: 0, sessionsCreated: 0, sessionsExpired: 0 }
  readonly connections = new Set<MqttClient>()
  readonly sessions = new Map<string, Session>()
  readonly admission = new Admission()
  readonly #subs: Subscriptions
  readonly #logTopics: LogTopics
  readonly #retained: RetainedStore
  readonly #store: SessionStore
  readonly #pendingWills = new Map<string, { timer: NodeJS.Timeout, message: MqttMessage }>()
  readonly #ctx: SessionContext
  readonly #budget: ReadBudget
  readonly #restoring: RestoreQueue<Session>
  readonly #sessionLimits: SessionLimits
  /** Persistent sessions (expiry > 0) among `sessions`: what mqttMaxSessions bounds. */
  #persistent = 0
  #firstPacketLagMs = 0
  #lastExpiryCheckMs = 0
  #sweep: NodeJS.Timeout | null = null
  #lastSnapshotMs = 0
  /** Where the next snapshot round starts (in the sessions' order). */
  #snapshotFrom = 0

  constructor (options: MqttGatewayOptions) {
    const c = options.config
    this.logger = options.logger
    this.now = options.now ?? Date.now
    this.authenticator = options.authenticator ?? null
    this.authorizer = options.authorizer ?? null
    this.limits = { maxTopicBytes: c.mqttMaxTopicLength, maxTopicLevels: c.mqttMaxTopicLevels }
    this.settings = {
      maxPacketBytes: c.mqttMaxPacketBytes,
      maxBatchBytes: c.maxBatchBytes,
      maxInflight: Math.min(c.mqttMaxInflight, 65535),
      maxQueuedBytes: c.mqttMaxQueuedBytes,
      maxSubscriptions: c.mqttMaxSubscriptionsPerClient,
      keepAliveMaxSec: Math.min(c.mqttKeepAliveMax, 65535),
      sessionExpiryMaxSec: c.mqttSessionExpiryMaxSec,
      fsyncAcks: c.mqttFsyncAcks,
      maxSessions: c.mqttMaxSessions,
    }
    for (const k of ['mqttMaxPacketBytes', 'mqttMaxTopicLength', 'mqttMaxTopicLevels', 'mqttMaxSubscriptionsPerClient', 'mqttMaxInflight', 'mqttMaxConnections', 'mqttMaxQueuedBytes', 'mqttPartitions', 'mqttMaxSessions', 'mqttSessionCreateRate', 'mqttCatchUpBytes'] as const) {
      if (c[k] <= 0) throw new InvalidConfigError(`${k} must be positive (got ${c[k]})`)
    }
    if (c.mqttMaxPacketBytes + 1024 > c.maxBatchBytes) {
      // Every publish must fit one record batch (with room for its record header and headers).
      this.settings.maxPacketBytes = Math.max(256, c.maxBatchBytes - 1024)
      this.logger.warn({ mqttMaxPacketBytes: c.mqttMaxPacketBytes, maxBatchBytes: c.maxBatchBytes, effective: this.settings.maxPacketBytes }, 'mqttMaxPacketBytes lowered to fit maxBatchBytes')
    }
    this.#sessionLimits = new SessionLimits({ maxSessions: c.mqttMaxSessions, ratePerSec: c.mqttSessionCreateRate, logger: this.logger })
    this.#budget = new ReadBudget(c.mqttCatchUpBytes)
    this.#restoring = new RestoreQueue<Session>((err, session) => this.logger.warn({ err, clientId: session.clientId }, 'mqtt session delivery could not be restored'))
    this.#retained = new RetainedStore(options.log, this.limits)
    this.#store = new SessionStore(options.log, err => this.logger.warn({ err }, 'mqtt sessions could not be stored'))
    this.#subs = new Subscriptions({ limits: this.limits, maxPerSession: this.settings.maxSubscriptions, onSharedDrop: () => { this.counters.droppedShared++ } })
    this.#logTopics = new LogTopics({
      log: options.log,
      subs: this.#subs,
      retained: this.#retained,
      limits: this.limits,
      logger: this.logger,
      now: this.now,
      settings: { logTopic: c.mqttLogTopic, partitions: c.mqttPartitions, rules: c.mqttMap ?? [], maxBatchBytes: c.maxBatchBytes },
      budget: this.#budget,
    })
    // New partitions: every session takes their start as its position (live when connected).
    this.#logTopics.onPartitions = (first, count) => {
      for (const session of this.sessions.values()) session.adopt(first + count - 1)
    }
    const gw = this
    this.#ctx = {
      log: options.log,
      limits: this.limits,
      maxQueuedBytes: this.settings.maxQueuedBytes,
      logger: this.logger,
      now: this.now,
      budget: this.#budget,
      tailers: this.#logTopics.tailers,
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
    this.#logTopics.open()
    const retained = await this.#retained.open()
    const stored = await this.#store.open()
    const now = this.now()
    for (const [clientId, s] of stored) {
      const { session, subscriptions } = Session.restore(this.#ctx, clientId, s, now)
      if (this.#expired(session, now)) {
        this.#store.write(clientId, null)
        this.counters.sessionsExpired++
        continue
      }
      for (const sub of subscriptions) this.#subs.add(session, sub, false)
      this.sessions.set(clientId, session)
      this.#count(session)
    }
    if (this.#persistent > this.settings.maxSessions) {
      // Kept (they are clients' state), but no new one until the count is under the limit.
      this.logger.warn({ sessions: this.#persistent, mqttMaxSessions: this.settings.maxSessions }, 'more persistent mqtt sessions stored than mqttMaxSessions allows')
    }
    this.#sweep = setInterval(() => this.#onSweep(), SWEEP_MS)
    this.#sweep.unref()
    this.logger.info({ logTopics: this.#logTopics.mapper.logTopics(), rules: this.#logTopics.mapper.rules.length, retained, sessions: this.sessions.size }, 'mqtt state loaded')
  }

  route (topic: string, topicBytes: Uint8Array): Route {
    return this.#logTopics.route(topic, topicBytes)
  }

  /** Decaying maximum of accept → first packet delays (MqttConnection.busy stretches CONNECT timeouts by it). */
  get firstPacketLagMs (): number { return this.#firstPacketLagMs }

  noteFirstPacket (delayMs: number): void {
    // Each sample lowers the memory of a past storm by 1%: a few hundred quick connections
    // after a storm bring the grace back to nothing.
    this.#firstPacketLagMs = Math.max(delayMs, this.#firstPacketLagMs * 0.99)
  }

  appendBatches (batches: StagedBatch[], source: Session | null): Promise<void> | null {
    return this.#logTopics.appendBatches(batches, source)
  }

  syncBatches (batches: StagedBatch[]): Promise<void> {
    return this.#logTopics.syncBatches(batches)
  }

  // ----- CONNECT's admit and session steps -----

  admitSession (clientId: string, clean: boolean, expirySec: number, host: string): { reason: number, why: string, quiet: true } | null {
    if (expirySec === 0) return null
    const existing = this.sessions.get(clientId)
    // A returning persistent session is never refused; a clean start replaces the old one.
    if (existing !== undefined && existing.counted && !clean) return null
    const persistent = this.#persistent - (existing !== undefined && existing.counted ? 1 : 0)
    return this.#sessionLimits.admit(host, clientId, persistent, this.now())
  }

  /** Keeps #persistent true: a session counts while it is the client's and has an expiry. */
  #count (session: Session): void {
    const counts = session.expirySec > 0 && this.sessions.get(session.clientId) === session
    if (counts === session.counted) return
    session.counted = counts
    this.#persistent += counts ? 1 : -1
  }

  /** Persistent sessions kept now (online and offline). */
  get persistentSessions (): number { return this.#persistent }

  /** What the session limits refused, by reason. */
  get sessionRefusals (): { limit: number, rate: number } {
    return { limit: this.#sessionLimits.refusedLimit, rate: this.#sessionLimits.refusedRate }
  }

  takeSession (conn: MqttClient, clientId: string, clean: boolean, expirySec: number): { session: Session, sessionPresent: boolean } {
    // Session takeover [MQTT-3.1.4-3]: the older connection is closed (MQTT 5: reason 0x8E).
    let existing = this.sessions.get(clientId)
    const old = existing?.output
    if (existing !== undefined && old !== null && old !== undefined && old !== conn && isClient(old)) {
      this.#detach(old, existing, !clean && expirySec > 0)
      old.close(Reason.sessionTakenOver)
    }
    const pendingWill = this.#pendingWills.get(clientId)
    if (pendingWill !== undefined) {
      clearTimeout(pendingWill.timer)
      this.#pendingWills.delete(clientId)
      // A delayed will waits for the delay or the end of the session, whichever is first.
      if (clean || existing === undefined) this.#logTopics.publish([pendingWill.message])
    }
    if (existing !== undefined && clean) {
      this.#endSession(existing)
      existing = undefined
    }
    const session = existing ?? new Session(this.#ctx, clientId, expirySec, conn.version)
    session.expirySec = expirySec
    this.sessions.set(clientId, session)
    const wasCounted = session.counted
    this.#count(session)
    if (session.counted && !wasCounted) this.counters.sessionsCreated++
    return { session, sessionPresent: existing !== undefined }
  }

  /** After CONNACK: the session goes live on this connection. */
  attach (conn: MqttClient, session: Session): void {
    conn.session = session
    // A session another principal made keeps only what this connection's may subscribe to.
    const authorizer = this.authorizer
    if (authorizer !== null) {
      const denied = [...session.subscriptions.keys()].filter(f => !authorizer.subscribe(conn.net.caller, f))
      if (denied.length > 0) this.#subs.unsubscribe(session, denied)
    }
    this.#subs.goLive(session)
    if (session.attach(conn)) this.#restoring.push(session)
    // A new session is stored at once; a returning one is already, and its positions go out
    // with the next snapshot (a reconnect storm does not rewrite every session at once).
    if (session.stored) session.dirty = true
    else this.storeSession(session)
  }

  // ----- SUBSCRIBE / UNSUBSCRIBE -----

  subscribe (session: Session, p: ISubscribePacket, caller?: Caller): { codes: number[], afterAck: () => void } | null {
    const authorizer = this.authorizer
    const allowed = authorizer === null || caller === undefined ? undefined : (filter: string) => authorizer.subscribe(caller, filter)
    const granted = this.#subs.subscribe(session, p, this.#retained, this.now(), allowed)
    this.storeSession(session)
    return granted
  }

  unsubscribe (session: Session, filters: string[]): number[] {
    const codes = this.#subs.unsubscribe(session, filters)
    this.storeSession(session)
    return codes
  }

  // ----- sessions and closing -----

  /** Writes a persistent session's state to `__mqtt_sessions`. */
  storeSession (session: Session): void {
    if (session.expirySec === 0) return
    session.dirty = false
    session.stored = true
    this.#store.write(session.clientId, session)
  }

  connectionClosed (conn: MqttClient): void {
    this.connections.delete(conn)
    const session = conn.session
    if (session === null || session.output !== conn) return
    this.#detach(conn, session, session.expirySec > 0)
    if (session.expirySec === 0) this.#endSession(session)
    else this.storeSession(session)
    this.#count(session)
  }

  /** The session stops delivering to `conn`; its will is handled now. */
  #detach (conn: MqttClient, session: Session, sessionContinues: boolean): void {
    if (session.output !== conn) return
    this.#subs.goOffline(session)
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
      this.#logTopics.publish([will.message])
      return
    }
    const timer = setTimeout(() => {
      this.#pendingWills.delete(clientId)
      this.#logTopics.publish([will.message])
    }, delaySec * 1000)
    timer.unref()
    this.#pendingWills.set(clientId, { timer, message: will.message })
  }

  #endSession (session: Session): void {
    if (session.output !== null) this.#subs.goOffline(session)
    this.sessions.delete(session.clientId)
    this.#count(session)
    if (session.stored) this.#store.write(session.clientId, null)
  }

  #expired (session: Session, now: number): boolean {
    if (session.output !== null || session.disconnectedAtMs === null || session.expirySec >= NEVER_EXPIRES) return false
    return now - session.disconnectedAtMs >= session.expirySec * 1000
  }

  #onSweep (): void {
    try {
      const now = this.now()
      this.#logTopics.discover()
      this.#logTopics.releaseIdle(now)
      if (now - this.#lastExpiryCheckMs >= EXPIRY_CHECK_MS) {
        // Session expiry (MQTT 5.0 §3.1.2.11.2; 3.1.1: mqttSessionExpiryMaxSec): an offline
        // session ends once its expiry interval has passed since it disconnected.
        this.#lastExpiryCheckMs = now
        this.#sessionLimits.prune(now)
        for (const session of this.sessions.values()) {
          if (!this.#expired(session, now)) continue
          this.counters.sessionsExpired++
          this.#endSession(session)
        }
      }
      if (now - this.#lastSnapshotMs >= SNAPSHOT_MS) {
        this.#lastSnapshotMs = now
        this.#snapshot()
      }
    } catch (err) {
      this.logger.error({ err }, 'mqtt sweep failed')
    }
  }

  /**
   * Stores connected sessions whose positions or acks moved, at most SNAPSHOTS_PER_SWEEP a
   * second, going round the sessions (those left over stay dirty and are first next time).
   */
  #snapshot (): void {
    let stored = 0
    let index = 0
    let next = 0
    const from = this.#snapshotFrom
    for (const pass of [0, 1]) {
      index = 0
      for (const session of this.sessions.values()) {
        const i = index++
        if (pass === 0 ? i < from : i >= from) continue
        if (!session.dirty || session.output === null) continue
        if (stored >= SNAPSHOTS_PER_SWEEP) {
          this.#snapshotFrom = i
          return
        }
        this.storeSession(session)
        stored++
        next = i + 1
      }
    }
    this.#snapshotFrom = next
  }

  /** Closes every connection (MQTT 5: reason 0x8B) and stores every persistent session. */
  close (): void {
    if (this.#sweep !== null) clearInterval(this.#sweep)
    this.#sweep = null
    this.#logTopics.close()
    for (const conn of [...this.connections]) {
      const session = conn.session
      if (session !== null && session.output === conn) {
        conn.will = null // the server going away is not the client's failure
        this.connectionClosed(conn)
      }
      conn.close(Reason.serverShuttingDown)
    }
    for (const session of this.sessions.values()) if (session.dirty) this.storeSession(session)
    this.#store.flush()
    for (const w of this.#pendingWills.values()) clearTimeout(w.timer)
    this.#pendingWills.clear()
  }

  /** Retained messages held (for metrics). */
  get retainedCount (): number { return this.#retained.size }

  /** Catch-up and restore state (for metrics and tests). */
  get catchUp (): { sessions: number, reads: number, readBytes: number, budgetUsed: number, budgetPeak: number, budgetWaits: number, restoring: number } {
    const s = this.#logTopics.catchUpStats()
    return { ...s, budgetUsed: this.#budget.used, budgetPeak: this.#budget.peak, budgetWaits: this.#budget.waits, restoring: this.#restoring.size }
  }
}
