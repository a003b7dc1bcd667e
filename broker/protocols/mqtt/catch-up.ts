/**
 * Catch-up: one shared sweep per MQTT log partition for every session that is behind the
 * partition's tailer (tailer.ts) — a returning persistent session, a session whose in-flight
 * window or socket queue filled up. The sweep reads a range of the log once, decodes it once,
 * and delivers it to every member whose cursor lies in it; so N sessions catching up at once
 * cost one read and one decode of each range, not N.
 *
 * Routing a range to its members, two ways, chosen per range:
 * - members whose subscriptions are all exact topic names (the device case) look their
 *   topics up in the range's topic index (built once per range): the cost is their own
 *   subscriptions, not the records of the range;
 * - members with a wildcard filter get each record through the subscription trie, as the live
 *   tailer fans out (one walk per record, whatever the number of members).
 *
 * Members and cursors (session.ts `Cursor`): a member's `nextOffset` is the next record it
 * has not been offered. A range [from, next) serves the members whose cursor lies in it, each
 * getting the matching records at or after its cursor in offset order; a member that cannot
 * take a message (window or queue full) leaves at that record's offset and rejoins when acks
 * or a drain free room (Session.scheduleResume). After the range, its members move to its end
 * (never past the tailer's position as it was when the range began: records from there on
 * are the next range's, or the tailer's). A member that reaches the tailer's position joins
 * the tailer live — in the same synchronous step as the check, so no record can fall between
 * the two. Members who join while a range is being delivered wait for the next one.
 *
 * Order of ranges: an elevator. Each range starts at the lowest member cursor at or after
 * where the previous range ended; when none is left, a new pass starts from the lowest
 * cursor. A member far behind does not stop the others' progress for long, and a member that
 * keeps rejoining behind does not drag the sweep back on every ack.
 *
 * Memory: every read goes through the broker-wide ReadBudget (mqttCatchUpBytes). Ranges read
 * are kept (they serve members who join later, as in a reconnect storm, without a read) until
 * unused for CACHE_IDLE_MS, or sooner when another reader waits for the budget (checked at
 * each read and by the gateway's sweep, every 250 ms) or the partition holds more than half
 * of it. Time: delivery yields to the event loop every
 * SLICE_MS, so other connections are served while a large backlog is delivered.
 *
 * Not applied in catch-up: no local (the log does not say which session published a record)
 * and shared subscriptions (share groups deliver live only, shared-group.ts).
 */

import type { Logger } from 'pino'
import type { DecodedRecord } from '../../../protocol/record-batch/records.js'
import type { QoS } from './codec.js'
import { readBudgeted, type LogAccess } from './log-access.js'
import { recordToMessage, type MqttMessage } from './mapping.js'
import { grantOverlapping, type OverlapGrant } from './overlap.js'
import type { ReadBudget } from './read-budget.js'
import type { Session } from './session.js'
import type { Target } from './shared-group.js'
import type { SubscriptionIndex } from './subscription-index.js'
import type { TopicLimits } from './topics.js'

/** The partition's live position, as the tailer keeps it. */
export interface FeedPosition {
  readonly index: number
  readonly logTopic: string
  readonly partition: number
  /** The next offset the tailer fans out: below it, records are the sweep's to deliver. */
  readonly position: number
}

/** Bytes asked for per range. */
export const CATCH_UP_READ_BYTES = 256 * 1024
/** Delivery yields to the event loop after this long. */
const SLICE_MS = 2
/** A kept range nobody used for this long is dropped (the gateway's sweep calls releaseIdle). */
const CACHE_IDLE_MS = 1000

/**
 * What a kept range holds per record beyond the bytes read: its offset and its message (the
 * object, a view of its payload; the topic string and bytes are shared by the range's records of
 * one topic). Measured like DECODED_RECORD_BYTES: 331-345 bytes per record with a topic of its own
 * each, 219 with one topic for all. The decoded records themselves are not kept.
 */
export const RANGE_RECORD_BYTES = 360

interface Range {
  from: number
  nextOffset: number
  /** Each record's offset, ascending. */
  offsets: number[]
  /** recordToMessage of each record, computed once when the range is read (null: not deliverable). */
  messages: Array<MqttMessage | null>
  /** Record indexes by MQTT topic, built when an exact-only member first needs it. */
  byTopic: Map<string, number[]> | null
  heldBytes: number
  usedAtMs: number
}

const yieldTurn = (): Promise<void> => new Promise(resolve => setImmediate(resolve))

/** True when every non-shared subscription of the session is an exact topic name. */
function exactOnly (session: Session): boolean {
  for (const s of session.subscriptions.values()) {
    if (s.shareGroup === null && (s.filter.includes('+') || s.filter.includes('#'))) return false
  }
  return true
}

export class CatchUp {
  readonly #feed: FeedPosition
  readonly #log: LogAccess
  readonly #budget: ReadBudget
  readonly #subs: SubscriptionIndex<Target>
  readonly #limits: TopicLimits
  readonly #logger: Logger
  readonly #now: () => number
  /** Members of the range being delivered (or of the next one). */
  readonly #members = new Set<Session>()
  /** Joined while a range was being delivered: members from the next range on. */
  readonly #joining = new Set<Session>()
  /** Members the range being delivered serves (their cursor lies in it). */
  readonly #inRange = new Set<Session>()
  readonly #matches: Target[] = []
  /** Ranges read and kept, by `from`, not overlapping. */
  #ranges: Range[] = []
  #heldBytes = 0
  #delivering = false
  #running = false
  #closed = false
  #passFrom = 0
  /** Reads done and bytes taken for them (metrics, tests). */
  reads = 0
  readBytes = 0

  constructor (options: { feed: FeedPosition, log: LogAccess, budget: ReadBudget, subs: SubscriptionIndex<Target>, limits: TopicLimits, logger: Logger, now: () => number }) {
    this.#feed = options.feed
    this.#log = options.log
    this.#budget = options.budget
    this.#subs = options.subs
    this.#limits = options.limits
    this.#logger = options.logger
    this.#now = options.now
  }

  /** Sessions waiting or being served. */
  get size (): number { return this.#members.size + this.#joining.size }

  /** A connected session whose cursor is behind the tailer joins the sweep. */
  join (session: Session): void {
    if (this.#closed) return
    const c = session.cursor(this.#feed.index)
    if (c.live || c.sweeping || session.output === null) return
    c.sweeping = true
    if (this.#delivering) this.#joining.add(session)
    else this.#members.add(session)
    if (!this.#running) void this.#run()
  }

  /** The session went offline, ended or is full: it leaves with its cursor where it is. */
  leave (session: Session): void {
    const c = session.cursors[this.#feed.index]
    if (c !== undefined) c.sweeping = false
    this.#members.delete(session)
    this.#joining.delete(session)
    this.#inRange.delete(session)
  }

  /** Drops kept ranges unused for a while, or all of them while other readers wait for the budget. */
  releaseIdle (nowMs: number): void {
    if (this.#running) return
    const pressed = this.#budget.waiting > 0
    this.#ranges = this.#ranges.filter(r => {
      if (!pressed && nowMs - r.usedAtMs < CACHE_IDLE_MS) return true
      this.#drop(r)
      return false
    })
  }

  close (): void {
    this.#closed = true
    for (const s of [...this.#members, ...this.#joining]) this.leave(s)
    if (!this.#running) this.#dropAll()
  }

  async #run (): Promise<void> {
    this.#running = true
    try {
      for (;;) {
        for (const s of this.#joining) this.#members.add(s)
        this.#joining.clear()
        this.#goLive()
        if (this.#members.size === 0 || this.#closed) return
        const from = this.#nextFrom()
        const range = await this.#range(from)
        if (this.#closed) return
        await this.#deliver(range, from)
      }
    } catch (err) {
      this.#logger.warn({ err, topic: this.#feed.logTopic, partition: this.#feed.partition }, 'mqtt catch-up read failed')
      // The members retry after a pause (their cursors are where they were).
      const members = [...this.#members, ...this.#joining]
      for (const s of members) this.leave(s)
      setTimeout(() => { for (const s of members) s.scheduleResume() }, 1000).unref()
    } finally {
      this.#running = false
      if (this.#closed) this.#dropAll()
    }
  }

  /** Members at the tailer's position join it live (no await between the check and the join). */
  #goLive (): void {
    const position = this.#feed.position
    for (const s of this.#members) {
      const c = s.cursors[this.#feed.index]!
      if (s.output === null) {
        this.leave(s)
        continue
      }
      if (c.nextOffset >= position) {
        c.nextOffset = position
        c.live = true
        c.sweeping = false
        this.#members.delete(s)
      }
    }
  }

  #nextFrom (): number {
    let ahead = Infinity
    let lowest = Infinity
    for (const s of this.#members) {
      const at = s.cursors[this.#feed.index]!.nextOffset
      if (at < lowest) lowest = at
      if (at >= this.#passFrom && at < ahead) ahead = at
    }
    if (ahead === Infinity) {
      this.#passFrom = lowest
      return lowest
    }
    return ahead
  }

  /** The range holding `from`: a kept one, else one budgeted read (kept afterwards). */
  async #range (from: number): Promise<Range> {
    for (const r of this.#ranges) {
      if (from >= r.from && from < r.nextOffset && r.offsets.length > 0) {
        r.usedAtMs = this.#now()
        return r
      }
    }
    // A sweep about to wait for the budget holds nothing: its kept ranges go first when the
    // budget has no room for a whole read (or others wait), so sweeps never wait on each other.
    if (this.#budget.waiting > 0 || this.#budget.limit - this.#budget.used < CATCH_UP_READ_BYTES) this.#dropAll()
    // Yield first: a read near the log's end may complete synchronously, and a sweep must not
    // run range after range without letting other connections in.
    await yieldTurn()
    const read = await readBudgeted(this.#log, this.#budget, this.#feed.logTopic, this.#feed.partition, from, CATCH_UP_READ_BYTES, RANGE_RECORD_BYTES)
    this.reads++
    this.readBytes += read.heldBytes
    const { offsets, messages } = this.#lean(read.records)
    const range: Range = { from: Math.min(from, offsets[0] ?? from), nextOffset: read.nextOffset, offsets, messages, byTopic: null, heldBytes: read.heldBytes, usedAtMs: this.#now() }
    this.#keep(range)
    return range
  }

  /** Keeps a new range: overlapping kept ones go, and the oldest go while the budget is short. */
  #keep (range: Range): void {
    const kept: Range[] = []
    for (const r of this.#ranges) {
      if (r.nextOffset > range.from && r.from < range.nextOffset) this.#drop(r)
      else kept.push(r)
    }
    kept.push(range)
    kept.sort((a, b) => a.from - b.from)
    this.#heldBytes += range.heldBytes
    this.#ranges = kept
    while (this.#ranges.length > 1 && (this.#budget.waiting > 0 || this.#heldBytes > this.#budget.limit / 2)) {
      let oldest: Range | null = null
      for (const r of this.#ranges) if (r !== range && (oldest === null || r.usedAtMs < oldest.usedAtMs)) oldest = r
      if (oldest === null) break
      this.#drop(oldest)
      this.#ranges = this.#ranges.filter(r => r !== oldest)
    }
  }

  #drop (r: Range): void {
    this.#heldBytes -= r.heldBytes
    this.#budget.give(r.heldBytes)
    r.offsets = []
    r.messages = []
    r.byTopic = null
  }

  #dropAll (): void {
    for (const r of this.#ranges) this.#drop(r)
    this.#ranges = []
  }

  /**
   * The form a range keeps: offsets and messages, the decoded records left to the collector.
   * Messages of one topic share its string and bytes (a device topic read back once per record
   * would otherwise cost a string and a view each).
   */
  #lean (records: readonly DecodedRecord[]): { offsets: number[], messages: Array<MqttMessage | null> } {
    const offsets = new Array<number>(records.length)
    const messages = new Array<MqttMessage | null>(records.length)
    const topics = new Map<string, MqttMessage>()
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!
      offsets[i] = r.offset
      const m = recordToMessage(r, this.#limits)
      if (m !== null) {
        const seen = topics.get(m.topic)
        if (seen === undefined) topics.set(m.topic, m)
        else {
          m.topic = seen.topic
          m.topicBytes = seen.topicBytes
        }
      }
      messages[i] = m
    }
    return { offsets, messages }
  }

  #byTopic (range: Range): Map<string, number[]> {
    if (range.byTopic !== null) return range.byTopic
    const messages = range.messages
    const byTopic = new Map<string, number[]>()
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]
      if (m === null || m === undefined) continue
      const list = byTopic.get(m.topic)
      if (list === undefined) byTopic.set(m.topic, [i])
      else list.push(i)
    }
    range.byTopic = byTopic
    return byTopic
  }

  /** Delivers a range to the members whose cursors lie in it, then moves them to its end. */
  async #deliver (range: Range, from: number): Promise<void> {
    const index = this.#feed.index
    // Fixed for the whole range: a member is never moved past what it was offered.
    const limit = this.#feed.position
    let end = range.nextOffset
    if (range.offsets.length === 0 && end <= from) end = limit // nothing readable there: up to the tail
    if (end > limit) end = limit
    const exact: Session[] = []
    let wildcard = false
    for (const s of this.#members) {
      const at = s.cursors[index]!.nextOffset
      if (at < from || at >= end) continue
      this.#inRange.add(s)
      if (exactOnly(s)) exact.push(s)
      else wildcard = true
    }
    this.#delivering = true
    try {
      let slice = performance.now()
      for (const s of exact) {
        this.#deliverExact(range, s, index, limit)
        if (performance.now() - slice >= SLICE_MS) {
          await yieldTurn()
          if (this.#closed) return
          slice = performance.now()
        }
      }
      if (wildcard) {
        for (const s of exact) this.#inRange.delete(s)
        await this.#deliverByTrie(range, from, limit, index)
        for (const s of exact) if (this.#members.has(s)) this.#inRange.add(s)
      }
    } finally {
      this.#delivering = false
    }
    if (this.#closed) return
    // Everyone still in the range has been offered all of it below `end`.
    for (const s of this.#inRange) {
      const c = s.cursors[index]!
      if (c.nextOffset < end) {
        c.nextOffset = end
        s.dirty = true
      }
    }
    this.#inRange.clear()
    this.#passFrom = end
  }

  /** An exact-only member: its topics looked up in the range's index, delivered in offset order. */
  #deliverExact (range: Range, session: Session, index: number, limit: number): void {
    const byTopic = this.#byTopic(range)
    const { messages, offsets } = range
    let found: number[] | null = null
    let several = false
    for (const sub of session.subscriptions.values()) {
      if (sub.shareGroup !== null) continue
      const list = byTopic.get(sub.filter)
      if (list === undefined) continue
      if (found === null) found = list
      else {
        found = found.concat(list)
        several = true
      }
    }
    if (found === null) return
    if (several) found = [...new Set(found)].sort((a, b) => a - b)
    const c = session.cursors[index]!
    for (const i of found) {
      const offset = offsets[i]!
      if (offset < c.nextOffset) continue
      if (offset >= limit || !this.#inRange.has(session)) return
      const m = messages[i]!
      let qos = -1
      let rap = false
      let subIds: number[] | null = null
      for (const sub of session.subscriptions.values()) {
        if (sub.shareGroup !== null || sub.filter !== m.topic) continue
        if (sub.qos > qos) qos = sub.qos
        if (sub.rap) rap = true
        if (sub.subId !== null) (subIds ??= []).push(sub.subId)
      }
      this.#send(session, index, m, offset, qos as QoS, rap, subIds)
    }
  }

  /** Members with wildcard filters: each record through the trie, to the in-range members it matches. */
  async #deliverByTrie (range: Range, from: number, limit: number, index: number): Promise<void> {
    const { offsets, messages } = range
    let slice = performance.now()
    let i = 0
    while (i < offsets.length && offsets[i]! < from) i++
    for (; i < offsets.length; i++) {
      const offset = offsets[i]!
      if (offset >= limit || this.#inRange.size === 0) break
      const m = messages[i]!
      if (m !== null) this.#offer(m, offset, index)
      if ((i & 63) === 63 && performance.now() - slice >= SLICE_MS) {
        await yieldTurn()
        if (this.#closed) return
        slice = performance.now()
      }
    }
  }

  /** One record to every in-range member whose cursor it passes (highest QoS, every subscription id). */
  #offer (message: MqttMessage, offset: number, index: number): void {
    const matches = this.#matches
    matches.length = 0
    this.#subs.match(message.topic, matches)
    if (matches.length === 0) return
    if (matches.length === 1) {
      const t = matches[0]!
      if (t.kind === 'sub') this.#send(t.session, index, message, offset, t.qos, t.rap, t.subId === null ? null : [t.subId])
      return
    }
    let perSession: Map<Session, OverlapGrant> | null = null
    for (const t of matches) {
      if (t.kind !== 'sub' || !this.#passes(t.session, index, offset)) continue
      perSession = grantOverlapping(perSession, t)
    }
    if (perSession === null) return
    for (const [session, agg] of perSession) this.#send(session, index, message, offset, agg.qos, agg.rap, agg.subIds)
  }

  #passes (session: Session, index: number, offset: number): boolean {
    return this.#inRange.has(session) && session.cursors[index]!.nextOffset <= offset
  }

  #send (session: Session, index: number, message: MqttMessage, offset: number, subQos: QoS, rap: boolean, subIds: number[] | null): void {
    if (!this.#passes(session, index, offset)) return
    const c = session.cursors[index]!
    const taken = session.send({
      message,
      qos: (message.qos < subQos ? message.qos : subQos),
      retain: session.protocolVersion === 5 && rap && message.retain,
      subIds,
      logTopic: this.#feed.logTopic,
      partition: this.#feed.partition,
      offset,
    })
    session.dirty = true
    if (taken) {
      c.nextOffset = offset + 1
      return
    }
    // Full: it leaves here and rejoins when acks or a drain free room.
    c.nextOffset = offset
    this.leave(session)
  }
}
