/**
 * One live tailer per partition of every MQTT log topic: it decodes each new record once
 * and fans it out to the matching live sessions and share groups. Appends by any protocol
 * wake it (PartitionService.onNextAppend); records the gateway appended itself are fanned
 * out straight from memory when the tailer is exactly at their base offset (no read, no
 * decode), which is the common case for MQTT → MQTT traffic.
 *
 * `position` is the next offset to fan out. It only grows, and every record below it has
 * been offered to every session whose cursor was live at the time (session.ts).
 */

import type { Logger } from 'pino'
import { CatchUp } from './catch-up.js'
import type { QoS } from './codec.js'
import { readRecords, type LogAccess } from './log-access.js'
import { recordToMessage, type MqttMessage } from './mapping.js'
import { grantOverlapping, type OverlapGrant } from './overlap.js'
import type { ReadBudget } from './read-budget.js'
import type { Delivery, PartitionFeed, Session } from './session.js'
import type { Target } from './shared-group.js'
import type { SubscriptionIndex } from './subscription-index.js'
import type { TopicLimits } from './topics.js'

const TAIL_READ_BYTES = 1024 * 1024

export class Tailer implements PartitionFeed {
  readonly index: number
  /** Sessions behind `position` share this sweep of the partition (catch-up.ts). */
  readonly catchUp: CatchUp
  readonly logTopic: string
  readonly partition: number
  position: number
  /** Where tailing began: cursors of sessions older than this tailer start here. */
  startPosition: number
  readonly #log: LogAccess
  readonly #subs: SubscriptionIndex<Target>
  readonly #limits: TopicLimits
  readonly #logger: Logger
  readonly #matches: Target[] = []
  #reading = false
  #cancel: (() => void) | null = null
  #closed = false

  constructor (options: { index: number, logTopic: string, partition: number, log: LogAccess, subs: SubscriptionIndex<Target>, limits: TopicLimits, logger: Logger, budget: ReadBudget, now: () => number }) {
    this.index = options.index
    this.logTopic = options.logTopic
    this.partition = options.partition
    this.#log = options.log
    this.#subs = options.subs
    this.#limits = options.limits
    this.#logger = options.logger
    this.position = options.log.partitions.offsets(options.logTopic, options.partition).highWatermark
    this.startPosition = this.position
    this.catchUp = new CatchUp({ feed: this, log: options.log, budget: options.budget, subs: options.subs, limits: options.limits, logger: options.logger, now: options.now })
    this.#arm()
  }

  /** Starts from `offset` (a topic that appeared after the gateway started) and reads what is there. */
  startAt (offset: number): void {
    this.position = this.startPosition = offset
    queueMicrotask(() => { void this.#pump() })
  }

  close (): void {
    this.#closed = true
    this.#cancel?.()
    this.catchUp.close()
  }

  #arm (): void {
    if (this.#closed) return
    this.#cancel = this.#log.partitions.onNextAppend([[this.logTopic, this.partition]], () => {
      this.#arm()
      // After the current synchronous append path, which may fan out from memory first.
      queueMicrotask(() => { void this.#pump() })
    })
  }

  /** Fans out records the gateway just appended at `baseOffset`, if the tailer is right there. */
  appended (baseOffset: number, messages: readonly MqttMessage[], source: Session | null): void {
    if (this.#reading || this.position !== baseOffset) return
    for (let i = 0; i < messages.length; i++) this.#fanOut(messages[i]!, baseOffset + i, source)
    this.position = baseOffset + messages.length
  }

  async #pump (): Promise<void> {
    if (this.#reading || this.#closed) return
    this.#reading = true
    try {
      for (;;) {
        const end = this.#log.partitions.offsets(this.logTopic, this.partition).highWatermark
        if (this.position >= end || this.#closed) return
        const { records, nextOffset } = await readRecords(this.#log, this.logTopic, this.partition, this.position, TAIL_READ_BYTES)
        for (const r of records) {
          if (r.offset < this.position) continue
          const m = recordToMessage(r, this.#limits)
          if (m !== null) this.#fanOut(m, r.offset, null)
          this.position = r.offset + 1
        }
        if (nextOffset > this.position) this.position = nextOffset
        else if (records.length === 0) return
      }
    } catch (err) {
      this.#logger.warn({ err, topic: this.logTopic, partition: this.partition }, 'mqtt tailer read failed')
    } finally {
      this.#reading = false
    }
  }

  #fanOut (message: MqttMessage, offset: number, source: Session | null): void {
    const matches = this.#matches
    matches.length = 0
    this.#subs.match(message.topic, matches)
    if (matches.length === 0) return
    if (matches.length === 1) {
      const t = matches[0]!
      if (t.kind === 'share') t.deliver(this.#delivery(message, offset, t.qos, false, null))
      else if (!(t.nl && t.session === source)) {
        t.session.offerLive(this.index, this.#delivery(message, offset, t.qos, t.rap, t.subId === null ? null : [t.subId]))
      }
      return
    }
    // Several filters match: one delivery per session with the highest QoS and every
    // subscription identifier (5.0 §3.3.4); each share group delivers to one member.
    let perSession: Map<Session, OverlapGrant> | null = null
    for (const t of matches) {
      if (t.kind === 'share') {
        t.deliver(this.#delivery(message, offset, t.qos, false, null))
        continue
      }
      if (t.nl && t.session === source) continue
      perSession = grantOverlapping(perSession, t)
    }
    if (perSession === null) return
    for (const [session, agg] of perSession) {
      session.offerLive(this.index, this.#delivery(message, offset, agg.qos, agg.rap, agg.subIds))
    }
  }

  #delivery (message: MqttMessage, offset: number, subQos: QoS, rap: boolean, subIds: number[] | null): Delivery {
    return {
      message,
      qos: (message.qos < subQos ? message.qos : subQos),
      retain: rap && message.retain,
      subIds,
      logTopic: this.logTopic,
      partition: this.partition,
      offset,
    }
  }
}
