/**
 * One MQTT session (a client id): its subscriptions, its outbound QoS 1/2 state machine and
 * its position in every MQTT log partition.
 *
 * Delivery (see gateway.ts for the whole picture): for each log partition the session has a
 * Cursor. A *live* cursor rides the partition's shared Tailer: the tailer hands it every
 * matching record once, in offset order. When the session cannot take a QoS 1/2 message
 * (its in-flight window [MQTT-4.9.0-1] is full, or its socket has more than mqttMaxQueuedBytes
 * queued), the cursor leaves the live set at that record's offset and the message stays in
 * the log; when acks or a drain free room, the session joins the partition's catch-up sweep
 * (catch-up.ts: one read and one decode of each range for every session behind the tailer)
 * until it reaches the tailer's position, then rejoins the live set. A returning persistent
 * session catches up the same way from its stored positions. So a session never queues more
 * than its window in memory, and nothing it missed is lost while it is in the log.
 *
 * Outbound QoS 1: PUBLISH → PUBACK. QoS 2: PUBLISH → PUBREC → PUBREL → PUBCOMP [MQTT-4.3.3].
 * Packet ids in flight are unique [MQTT-2.3.1-2]; on reconnect unacknowledged PUBLISHes are
 * sent again with DUP=1 and their packet ids, and PUBRELs again [MQTT-4.4.0-1] (resend.ts).
 * Inbound QoS 2 packet ids awaiting PUBREL are kept so a resent PUBLISH is not stored twice.
 *
 * Memory: an idle session holds its subscriptions and one small cursor per log partition;
 * the in-flight map, the inbound QoS 2 set and the retained queue exist only while used.
 *
 * Concurrency: everything runs on the event loop; the resend after a reconnect is async, and
 * after each await it re-checks that the session is still attached to the same connection.
 */

import type { Logger } from 'pino'
import { encodePublish, type QoS } from './codec.js'
import { outgoingProperties, type Delivery, type Inflight, type SessionOutput } from './delivery.js'
import type { LogAccess } from './log-access.js'
import { remainingExpirySec } from './mapping.js'
import type { ReadBudget } from './read-budget.js'
import { resendInflight } from './resend.js'
import { SmallMap } from './small-map.js'
import type { StoredInflight, StoredSession, StoredSubscription } from './session-store.js'
import type { TopicLimits } from './topics.js'

export type { Delivery, SessionOutput } from './delivery.js'

export interface Subscription {
  readonly kind: 'sub'
  readonly session: Session
  /** As subscribed, `$share/<group>/` included. */
  readonly raw: string
  readonly filter: string
  readonly shareGroup: string | null
  qos: QoS
  nl: boolean
  rap: boolean
  rh: number
  subId: number | null
}

export interface Cursor {
  nextOffset: number
  live: boolean
  /** A member of the partition's catch-up sweep. */
  sweeping: boolean
}

/** A log partition as a session sees it: its tailer's position and its catch-up sweep. */
export interface PartitionFeed {
  readonly logTopic: string
  readonly partition: number
  /** The next offset the tailer fans out. */
  readonly position: number
  /** Where tailing began: cursors of sessions older than the tailer start here. */
  readonly startPosition: number
  readonly catchUp: { join (session: Session): void, leave (session: Session): void }
}

/** The parts of the gateway a session uses. */
export interface SessionContext {
  readonly log: LogAccess
  readonly limits: TopicLimits
  readonly maxQueuedBytes: number
  readonly logger: Logger
  now (): number
  /** The broker-wide bound on read-back memory (resend after a reconnect). */
  readonly budget: ReadBudget
  /** Log partitions by index (a session keeps one cursor per partition). */
  readonly tailers: ReadonlyArray<PartitionFeed>
  counters: { messagesOut: number, bytesOut: number, droppedQos0: number }
}

const EMPTY_INFLIGHT: ReadonlyMap<number, Inflight> = new Map()

export class Session {
  readonly clientId: string
  expirySec: number
  protocolVersion: 4 | 5
  /** By filter as subscribed (one entry inline: most devices have one). */
  readonly subscriptions = new SmallMap<string, Subscription>()
  output: SessionOutput | null = null
  disconnectedAtMs: number | null = null
  /** Positions or acks moved since the last stored snapshot. */
  dirty = false
  /** A snapshot of this session is in `__mqtt_sessions` (so ending it needs a tombstone). */
  stored = false
  /** Counted among the gateway's persistent sessions (mqttMaxSessions). */
  counted = false
  /** One per log partition, by the partition's index. */
  readonly cursors: Cursor[] = []
  readonly #ctx: SessionContext
  #inflight: Map<number, Inflight> | null = null
  #inboundQos2: Set<number> | null = null
  #pendingRetained: Delivery[] | null = null
  #nextPacketId = 1
  #resumeScheduled = false
  /** In-flight messages are being resent: no catch-up or retained message goes out before them. */
  #restoring = false
  /** The connection whose restore is still to run (one per attach). */
  #restoreFor: SessionOutput | null = null

  constructor (ctx: SessionContext, clientId: string, expirySec: number, protocolVersion: 4 | 5) {
    this.#ctx = ctx
    this.clientId = clientId
    this.expirySec = expirySec
    this.protocolVersion = protocolVersion
    for (const t of ctx.tailers) this.cursors.push({ nextOffset: t.position, live: false, sweeping: false })
  }

  /** QoS 1/2 messages sent and not yet acknowledged, by packet id (read-only view when none). */
  get inflight (): ReadonlyMap<number, Inflight> { return this.#inflight ?? EMPTY_INFLIGHT }

  /** Inbound QoS 2 packet ids whose PUBREL has not come yet. */
  get inboundQos2 (): Set<number> { return this.#inboundQos2 ??= new Set() }

  get inboundQos2Count (): number { return this.#inboundQos2?.size ?? 0 }

  /** Forgets an in-flight message (a PUBREC with an error reason ended it). */
  dropInflight (packetId: number): void {
    this.#inflight?.delete(packetId)
  }

  /**
   * The cursor for partition `index`. Cursors are created when the partition appears
   * (`adopt`); one missing here belongs to a partition newer than the session's last look,
   * and starts at the tailer's start — live when connected, since a connected session's
   * subscriptions were in the trie all along.
   */
  cursor (index: number): Cursor {
    while (this.cursors.length <= index) this.adopt(this.cursors.length)
    return this.cursors[index]!
  }

  /**
   * A log partition appeared (a fresh broker's first publish, a new mqttMap target, more
   * partitions): the session takes its start as its position, joining the tailer live when
   * connected — no read.
   */
  adopt (index: number): void {
    if (this.cursors.length > index) return
    while (this.cursors.length <= index) {
      const t = this.#ctx.tailers[this.cursors.length]!
      const live = this.output !== null && t.position === t.startPosition
      this.cursors.push({ nextOffset: t.startPosition, live, sweeping: false })
      if (!live) this.scheduleResume()
    }
  }

  /** Rebuilds an offline session from its stored state; positions missing start at the tail. */
  static restore (ctx: SessionContext, clientId: string, stored: StoredSession, nowMs: number): { session: Session, subscriptions: StoredSubscription[] } {
    const s = new Session(ctx, clientId, stored.expirySec, stored.protocolVersion)
    s.disconnectedAtMs = stored.disconnectedAtMs ?? nowMs
    s.stored = true
    ctx.tailers.forEach((t, i) => {
      const pos = stored.positions.find(p => p[0] === t.logTopic && p[1] === t.partition)
      // No stored position: the log topic appeared after the session was stored, so all of
      // it is news to the session.
      s.cursor(i).nextOffset = pos !== undefined ? Math.min(pos[2], t.position) : ctx.log.partitions.offsets(t.logTopic, t.partition).logStartOffset
    })
    for (const [packetId, qos, state, logTopic, partition, offset] of stored.inflight) {
      (s.#inflight ??= new Map()).set(packetId, { packetId, qos, state, logTopic, partition, offset, delivery: null })
    }
    for (const id of stored.inboundQos2) s.inboundQos2.add(id)
    return { session: s, subscriptions: stored.subscriptions }
  }

  snapshot (): StoredSession {
    const inflight: StoredInflight[] = []
    if (this.#inflight !== null) {
      for (const f of this.#inflight.values()) {
        if (f.offset >= 0) inflight.push([f.packetId, f.qos, f.state, f.logTopic, f.partition, f.offset])
      }
    }
    const subscriptions: StoredSubscription[] = []
    for (const x of this.subscriptions.values()) subscriptions.push({ filter: x.raw, qos: x.qos, nl: x.nl, rap: x.rap, rh: x.rh, subId: x.subId })
    return {
      v: 1,
      expirySec: this.expirySec,
      disconnectedAtMs: this.disconnectedAtMs,
      protocolVersion: this.protocolVersion,
      subscriptions,
      positions: this.#ctx.tailers.map((t, i) => {
        const c = this.cursor(i)
        return [t.logTopic, t.partition, c.live ? t.position : c.nextOffset]
      }),
      inflight,
      inboundQos2: this.#inboundQos2 === null ? [] : [...this.#inboundQos2],
    }
  }

  /**
   * Attaches a connection: cursors at their tailer's position go live at once. True when
   * delivery must be restored (in-flight messages to resend, partitions to catch up on):
   * the gateway queues `restore` for it, so a CONNACK never waits for a backlog.
   */
  attach (output: SessionOutput): boolean {
    this.output = output
    this.protocolVersion = output.version
    this.disconnectedAtMs = null
    // With messages to resend, nothing new goes out before them: the cursors join their
    // tailers (through the sweep, at once when nothing is missing) once the resend is done.
    const resend = this.#inflight !== null && this.#inflight.size > 0
    let behind = resend
    if (resend) this.#restoring = true
    const tailers = this.#ctx.tailers
    for (let i = 0; i < tailers.length; i++) {
      const t = tailers[i]!
      const c = this.cursor(i)
      if (c.nextOffset >= t.position) {
        c.nextOffset = t.position
        c.live = !resend
      } else {
        behind = true
      }
    }
    if (behind) this.#restoreFor = output
    return behind
  }

  /** After attach (paced by the gateway): resends what is in flight, then catches up. */
  async restore (): Promise<void> {
    const out = this.output
    if (out === null || this.#restoreFor !== out) return
    this.#restoreFor = null
    try {
      if (this.#inflight !== null && this.#inflight.size > 0) {
        await resendInflight(this.#ctx, out, this.#inflight, () => this.output === out)
      }
    } finally {
      if (this.output === out) {
        this.#restoring = false
        this.scheduleResume()
      }
    }
  }

  /** Detaches the connection; live cursors freeze at the tailers' positions. */
  detach (nowMs: number): void {
    this.output = null
    this.disconnectedAtMs = nowMs
    this.#restoring = false
    this.#restoreFor = null
    const tailers = this.#ctx.tailers
    for (let i = 0; i < tailers.length; i++) {
      const t = tailers[i]!
      const c = this.cursor(i)
      if (c.live) {
        c.live = false
        c.nextOffset = t.position
      }
      if (c.sweeping) t.catchUp.leave(this)
    }
    this.#pendingRetained = null
    this.dirty = true
  }

  /** A record fanned out by tailer `index`; ignored unless the cursor is live. */
  offerLive (index: number, d: Delivery): void {
    const c = this.cursor(index)
    if (!c.live) return
    if (!this.send(d)) {
      c.live = false
      c.nextOffset = d.offset
    }
    this.dirty = true
  }

  /** Queues retained messages for a new subscription (they wait for window room like the rest). */
  queueRetained (deliveries: Delivery[]): void {
    const queue = this.#pendingRetained ??= []
    for (const d of deliveries) queue.push(d)
    this.scheduleResume()
  }

  /**
   * Writes one message if the session can take it now. QoS 0 past the queue limit is
   * dropped (counted) and reported as taken; QoS 1/2 returns false when the window or the
   * queue is full, leaving the message to be read again from the log.
   */
  send (d: Delivery): boolean {
    const out = this.output
    if (out === null) return false
    if (d.qos > 0 && ((this.#inflight?.size ?? 0) >= out.window || out.queuedBytes > this.#ctx.maxQueuedBytes)) return false
    const expiry = remainingExpirySec(d.message, this.#ctx.now())
    if (expiry === -1) return true // expired: never delivered [MQTT-3.3.2-5]
    if (d.qos === 0 && out.queuedBytes > this.#ctx.maxQueuedBytes) {
      this.#ctx.counters.droppedQos0++
      return true
    }
    const packetId = d.qos === 0 ? 0 : this.#allocPacketId()
    const packet = encodePublish({
      topicBytes: d.message.topicBytes,
      packetId,
      qos: d.qos,
      retain: d.retain,
      dup: false,
      payload: d.message.payload,
      properties: out.version === 5 ? outgoingProperties(d, expiry) : null,
    }, out.version)
    if (packet.length > out.maxPacketBytes) return true // the client could not take it [MQTT-3.1.2-25]
    if (d.qos > 0) {
      (this.#inflight ??= new Map()).set(packetId, { packetId, qos: d.qos, state: 0, logTopic: d.logTopic, partition: d.partition, offset: d.offset, delivery: d.offset < 0 ? d : null })
    }
    out.write(packet)
    this.#ctx.counters.messagesOut++
    this.#ctx.counters.bytesOut += packet.length
    return true
  }

  #allocPacketId (): number {
    const inflight = this.#inflight
    for (;;) {
      const id = this.#nextPacketId
      this.#nextPacketId = id === 65535 ? 1 : id + 1
      if (inflight === null || !inflight.has(id)) return id
    }
  }

  /** PUBACK (QoS 1) or PUBCOMP (QoS 2) from the client; false for an unknown packet id. */
  completed (packetId: number, qos: 1 | 2): boolean {
    const f = this.#inflight?.get(packetId)
    if (f === undefined || f.qos !== qos || (qos === 2 && f.state !== 1)) return false
    this.#inflight!.delete(packetId)
    if (this.#inflight!.size === 0) this.#inflight = null
    this.dirty = true
    this.scheduleResume()
    return true
  }

  /** PUBREC from the client: the QoS 2 message moves to the PUBREL step. */
  received (packetId: number): boolean {
    const f = this.#inflight?.get(packetId)
    if (f === undefined || f.qos !== 2) return false
    f.state = 1
    f.delivery = null
    this.dirty = true
    return true
  }

  /** Runs `resume` once soon (coalescing the many acks of one read). */
  scheduleResume (): void {
    if (this.#resumeScheduled || this.output === null) return
    this.#resumeScheduled = true
    setImmediate(() => {
      this.#resumeScheduled = false
      this.#resume()
    })
  }

  /** Retained messages waiting for room first, then every partition the session is behind on joins its sweep. */
  #resume (): void {
    if (this.output === null || this.#restoring) return
    const retained = this.#pendingRetained
    if (retained !== null) {
      let sent = 0
      while (sent < retained.length && this.send(retained[sent]!)) sent++
      retained.splice(0, sent)
      if (retained.length > 0) return
      this.#pendingRetained = null
    }
    const tailers = this.#ctx.tailers
    for (let i = 0; i < tailers.length; i++) {
      const c = this.cursor(i)
      if (!c.live && !c.sweeping) tailers[i]!.catchUp.join(this)
    }
  }
}
