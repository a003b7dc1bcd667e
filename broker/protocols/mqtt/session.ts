/**
 * One MQTT session (a client id): its subscriptions, its outbound QoS 1/2 state machine and
 * its position in every MQTT log partition.
 *
 * Delivery (see gateway.ts for the whole picture): for each log partition the session has a
 * Cursor. A *live* cursor rides the partition's shared Tailer: the tailer hands it every
 * matching record once, in offset order. When the session cannot take a QoS 1/2 message
 * (its in-flight window [MQTT-4.9.0-1] is full, or its socket has more than mqttMaxQueuedBytes
 * queued), the cursor leaves the live set at that record's offset and the message stays in
 * the log; when acks or a drain free room, the session reads the log itself from that offset
 * ("catch-up") until it reaches the tailer's position, then rejoins the live set. A returning
 * persistent session catches up the same way from its stored positions. So a session never
 * queues more than its window in memory, and nothing it missed is lost while it is in the log.
 *
 * Outbound QoS 1: PUBLISH → PUBACK. QoS 2: PUBLISH → PUBREC → PUBREL → PUBCOMP [MQTT-4.3.3].
 * Packet ids in flight are unique [MQTT-2.3.1-2]; on reconnect unacknowledged PUBLISHes are
 * sent again with DUP=1 and their packet ids, and PUBRELs again [MQTT-4.4.0-1].
 * Inbound QoS 2 packet ids awaiting PUBREL are kept so a resent PUBLISH is not stored twice.
 *
 * Concurrency: everything runs on the event loop; a catch-up read is async, and after each
 * await the session re-checks that it is still attached and the cursor still not live.
 */

import type { Logger } from 'pino'
import { encodeAck, encodePublish, type PublishProperties, type QoS } from './codec.js'
import type { DecodedRecord } from '../../../protocol/record-batch/records.js'
import { readRecords, type LogAccess } from './log-access.js'
import { recordToMessage, remainingExpirySec, type MqttMessage } from './mapping.js'
import type { StoredInflight, StoredSession, StoredSubscription } from './session-store.js'
import { topicMatches, type TopicLimits } from './topics.js'

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

interface Inflight {
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

export interface Cursor {
  nextOffset: number
  live: boolean
  reading: boolean
  /** Records of the last catch-up read not yet offered (at most one read's worth). */
  pending: DecodedRecord[] | null
  /** Where the read after `pending` starts. */
  pendingNext: number
}

/** The parts of the gateway a session uses. */
export interface SessionContext {
  readonly log: LogAccess
  readonly limits: TopicLimits
  readonly maxQueuedBytes: number
  readonly logger: Logger
  now (): number
  /** Tailers by index: log topic, partition and the position fanned out so far. */
  readonly tailers: ReadonlyArray<{ readonly logTopic: string, readonly partition: number, readonly position: number, readonly startPosition: number }>
  counters: { messagesOut: number, bytesOut: number, droppedQos0: number }
}

const CATCH_UP_READ_BYTES = 256 * 1024

export class Session {
  readonly clientId: string
  expirySec: number
  protocolVersion: 4 | 5
  readonly subscriptions = new Map<string, Subscription>()
  output: SessionOutput | null = null
  disconnectedAtMs: number | null = null
  /** Positions or acks moved since the last stored snapshot. */
  dirty = false
  /** A snapshot of this session is in `__mqtt_sessions` (so ending it needs a tombstone). */
  stored = false
  readonly inflight = new Map<number, Inflight>()
  readonly inboundQos2 = new Set<number>()
  readonly cursors: Cursor[] = []
  readonly #ctx: SessionContext
  readonly #pendingRetained: Delivery[] = []
  #nextPacketId = 1
  #resumeScheduled = false

  constructor (ctx: SessionContext, clientId: string, expirySec: number, protocolVersion: 4 | 5) {
    this.#ctx = ctx
    this.clientId = clientId
    this.expirySec = expirySec
    this.protocolVersion = protocolVersion
    for (const t of ctx.tailers) this.cursors.push({ nextOffset: t.position, live: false, reading: false, pending: null, pendingNext: 0 })
  }

  /**
   * The cursor for tailer `index`, created when the tailer is newer than the session (a log
   * topic that appeared later): it starts at the tailer's position, live if connected.
   */
  cursor (index: number): Cursor {
    while (this.cursors.length <= index) {
      const t = this.#ctx.tailers[this.cursors.length]!
      const live = this.output !== null && t.startPosition >= t.position
      this.cursors.push({ nextOffset: t.startPosition, live, reading: false, pending: null, pendingNext: 0 })
      if (!live) this.scheduleResume()
    }
    return this.cursors[index]!
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
      s.inflight.set(packetId, { packetId, qos, state, logTopic, partition, offset, delivery: null })
    }
    for (const id of stored.inboundQos2) s.inboundQos2.add(id)
    return { session: s, subscriptions: stored.subscriptions }
  }

  snapshot (): StoredSession {
    const inflight: StoredInflight[] = []
    for (const f of this.inflight.values()) {
      if (f.offset >= 0) inflight.push([f.packetId, f.qos, f.state, f.logTopic, f.partition, f.offset])
    }
    return {
      v: 1,
      expirySec: this.expirySec,
      disconnectedAtMs: this.disconnectedAtMs,
      protocolVersion: this.protocolVersion,
      subscriptions: [...this.subscriptions.values()].map(x => ({ filter: x.raw, qos: x.qos, nl: x.nl, rap: x.rap, rh: x.rh, subId: x.subId })),
      positions: this.#ctx.tailers.map((t, i) => {
        const c = this.cursor(i)
        return [t.logTopic, t.partition, c.live ? t.position : c.nextOffset]
      }),
      inflight,
      inboundQos2: [...this.inboundQos2],
    }
  }

  /** Attaches a connection: resends what is in flight, then resumes delivery from the log. */
  attach (output: SessionOutput): void {
    this.output = output
    this.protocolVersion = output.version
    this.disconnectedAtMs = null
    this.#ctx.tailers.forEach((t, i) => {
      const c = this.cursor(i)
      if (!c.reading && c.nextOffset >= t.position) {
        c.nextOffset = t.position
        c.live = true
      }
    })
    void this.#resendInflight().then(() => this.scheduleResume())
  }

  /** Detaches the connection; live cursors freeze at the tailers' positions. */
  detach (nowMs: number): void {
    this.output = null
    this.disconnectedAtMs = nowMs
    this.#ctx.tailers.forEach((t, i) => {
      const c = this.cursor(i)
      if (c.live) {
        c.live = false
        c.nextOffset = t.position
      }
      c.pending = null
    })
    this.#pendingRetained.length = 0
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
    for (const d of deliveries) this.#pendingRetained.push(d)
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
    if (d.qos > 0 && (this.inflight.size >= out.window || out.queuedBytes > this.#ctx.maxQueuedBytes)) return false
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
      this.inflight.set(packetId, { packetId, qos: d.qos, state: 0, logTopic: d.logTopic, partition: d.partition, offset: d.offset, delivery: d.offset < 0 ? d : null })
    }
    out.write(packet)
    this.#ctx.counters.messagesOut++
    this.#ctx.counters.bytesOut += packet.length
    return true
  }

  #allocPacketId (): number {
    for (;;) {
      const id = this.#nextPacketId
      this.#nextPacketId = id === 65535 ? 1 : id + 1
      if (!this.inflight.has(id)) return id
    }
  }

  /** PUBACK (QoS 1) or PUBCOMP (QoS 2) from the client; false for an unknown packet id. */
  completed (packetId: number, qos: 1 | 2): boolean {
    const f = this.inflight.get(packetId)
    if (f === undefined || f.qos !== qos || (qos === 2 && f.state !== 1)) return false
    this.inflight.delete(packetId)
    this.dirty = true
    this.scheduleResume()
    return true
  }

  /** PUBREC from the client: the QoS 2 message moves to the PUBREL step. */
  received (packetId: number): boolean {
    const f = this.inflight.get(packetId)
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

  #resume (): void {
    if (this.output === null) return
    while (this.#pendingRetained.length > 0) {
      if (!this.send(this.#pendingRetained[0]!)) return
      this.#pendingRetained.shift()
    }
    for (let i = 0; i < this.#ctx.tailers.length; i++) {
      const c = this.cursor(i)
      if (!c.live && !c.reading) void this.#catchUp(i, c)
    }
  }

  /** Reads the log from the cursor until it reaches the tailer, delivering what matches. */
  async #catchUp (index: number, c: Cursor): Promise<void> {
    const tailer = this.#ctx.tailers[index]!
    c.reading = true
    try {
      while (this.output !== null && !c.live) {
        if (c.nextOffset >= tailer.position) {
          // Caught up: from here the tailer delivers (no await between the check and the join).
          c.nextOffset = tailer.position
          c.live = true
          return
        }
        const out = this.output
        if (this.inflight.size >= out.window || out.queuedBytes > this.#ctx.maxQueuedBytes) return
        // Continue from the records of the previous read when they start here (a window that
        // keeps filling would otherwise read and decode the same batch again and again).
        let records: DecodedRecord[]
        let nextOffset: number
        if (c.pending !== null && c.pending.length > 0 && c.pending[0]!.offset <= c.nextOffset) {
          records = c.pending
          nextOffset = c.pendingNext
        } else {
          ({ records, nextOffset } = await readRecords(this.#ctx.log, tailer.logTopic, tailer.partition, c.nextOffset, CATCH_UP_READ_BYTES))
        }
        c.pending = null
        if (this.output === null || c.live) return
        const limit = tailer.position
        for (let i = 0; i < records.length; i++) {
          const r = records[i]!
          if (r.offset < c.nextOffset) continue
          if (r.offset >= limit) break
          const d = this.#match(r.offset, recordToMessage(r, this.#ctx.limits), tailer.logTopic, tailer.partition)
          if (d !== null && !this.send(d)) {
            c.nextOffset = r.offset
            c.pending = records.slice(i)
            c.pendingNext = nextOffset
            this.dirty = true
            return
          }
          c.nextOffset = r.offset + 1
        }
        if (nextOffset > c.nextOffset) c.nextOffset = Math.min(nextOffset, limit)
        this.dirty = true
        if (records.length === 0 && nextOffset <= c.nextOffset && c.nextOffset < limit) c.nextOffset = limit
      }
    } catch (err) {
      this.#ctx.logger.warn({ err, clientId: this.clientId, topic: tailer.logTopic, partition: tailer.partition }, 'mqtt catch-up read failed')
      setTimeout(() => this.scheduleResume(), 1000).unref()
    } finally {
      c.reading = false
    }
  }

  /** The delivery of a log record to this session's own (non-shared) subscriptions, or null. */
  #match (offset: number, message: MqttMessage | null, logTopic: string, partition: number): Delivery | null {
    if (message === null) return null
    let qos = -1
    let rap = false
    let subIds: number[] | null = null
    for (const s of this.subscriptions.values()) {
      if (s.shareGroup !== null || !topicMatches(s.filter, message.topic)) continue
      if (s.qos > qos) qos = s.qos
      if (s.rap) rap = true
      if (s.subId !== null) (subIds ??= []).push(s.subId)
    }
    if (qos < 0) return null
    return {
      message,
      qos: Math.min(qos, message.qos) as QoS,
      retain: this.protocolVersion === 5 && rap && message.retain,
      subIds,
      logTopic,
      partition,
      offset,
    }
  }

  async #resendInflight (): Promise<void> {
    const out = this.output
    if (out === null || this.inflight.size === 0) return
    for (const f of [...this.inflight.values()].sort((a, b) => a.offset - b.offset)) {
      if (f.state === 1) {
        out.write(encodeAck('pubrel', f.packetId, 0, out.version))
        continue
      }
      const d = f.delivery ?? await this.#readBack(f)
      if (this.output !== out) return
      if (d === null) {
        this.inflight.delete(f.packetId)
        continue
      }
      const expiry = remainingExpirySec(d.message, this.#ctx.now())
      out.write(encodePublish({
        topicBytes: d.message.topicBytes, packetId: f.packetId, qos: f.qos, retain: d.retain, dup: true,
        payload: d.message.payload, properties: out.version === 5 ? outgoingProperties(d, expiry === -1 ? 1 : expiry) : null,
      }, out.version))
    }
  }

  /** Reads an in-flight message back from the log after a restart (null if it is gone). */
  async #readBack (f: Inflight): Promise<Delivery | null> {
    try {
      const { records } = await readRecords(this.#ctx.log, f.logTopic, f.partition, f.offset, 64 * 1024)
      const r = records.find(x => x.offset === f.offset)
      const message = r === undefined ? null : recordToMessage(r, this.#ctx.limits)
      if (message === null) return null
      return { message, qos: f.qos, retain: false, subIds: null, logTopic: f.logTopic, partition: f.partition, offset: f.offset }
    } catch {
      return null
    }
  }
}

/** v5 properties of an outgoing PUBLISH: the message's, with remaining expiry and subscription ids. */
function outgoingProperties (d: Delivery, expirySec: number | null): PublishProperties | null {
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
