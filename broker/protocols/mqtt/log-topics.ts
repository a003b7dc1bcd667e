/**
 * The MQTT log topics: where publishes go (routing by the mqttMap rules, mapping.ts), the
 * append pipeline, and the tailers that fan new records out to live sessions.
 *
 * Append: staged batches (one per log partition per read, publish-stage.ts) are appended
 * through the partition service, each getting its base offset or its error; retained
 * messages are stored once their record is in the log; the partition's tailer then fans the
 * messages out from memory (no read, no decode). A log topic that does not exist yet is
 * created on its first publish (once, however many publishes wait) and its batches wait
 * behind the creation in order.
 *
 * Tailing: one tailer per partition of every log topic, from the end of the topics that
 * exist at start, from the start of those created later (by MQTT or by any other client —
 * the gateway's sweep looks for them). Each tailer has its catch-up sweep (catch-up.ts);
 * every sweep reads under the one ReadBudget. When partitions appear, `onPartitions` tells
 * the gateway before any of their records is fanned out, so the sessions that exist then
 * join the new tailers live at their start.
 */

import type { Logger } from 'pino'
import { append, ensureTopic, type LogAccess } from './log-access.js'
import { TopicMapper, checkLogTopicName, parseMapRules, type MqttMessage, type Route } from './mapping.js'
import { PublishStage, type StagedBatch } from './publish-stage.js'
import type { ReadBudget } from './read-budget.js'
import type { RetainedStore } from './retained-store.js'
import type { Session } from './session.js'
import type { Subscriptions } from './subscriptions.js'
import { Tailer } from './tailer.js'
import type { TopicLimits } from './topics.js'

export interface LogTopicSettings {
  logTopic: string
  partitions: number
  rules: readonly string[]
  maxBatchBytes: number
}

export class LogTopics {
  readonly mapper: TopicMapper
  /** Tailers by index (a session keeps one cursor per tailer). */
  readonly tailers: Tailer[] = []
  readonly #byPartition = new Map<string, Tailer>()
  readonly #tailed = new Set<string>()
  readonly #creating = new Map<string, Promise<void>>()
  readonly #log: LogAccess
  readonly #subs: Subscriptions
  readonly #retained: RetainedStore
  readonly #limits: TopicLimits
  readonly #logger: Logger
  readonly #settings: LogTopicSettings
  readonly #now: () => number
  readonly #budget: ReadBudget
  /** Called with the indexes of new tailers, before they fan anything out. */
  onPartitions: (first: number, count: number) => void = () => {}

  constructor (options: { log: LogAccess, subs: Subscriptions, retained: RetainedStore, limits: TopicLimits, logger: Logger, settings: LogTopicSettings, now: () => number, budget: ReadBudget }) {
    const s = options.settings
    checkLogTopicName(s.logTopic, 'mqttLogTopic')
    this.mapper = new TopicMapper(parseMapRules(s.rules, options.limits), s.logTopic, s.partitions)
    this.#log = options.log
    this.#subs = options.subs
    this.#retained = options.retained
    this.#limits = options.limits
    this.#logger = options.logger
    this.#settings = s
    this.#now = options.now
    this.#budget = options.budget
  }

  /** Tails the log topics that exist, from their end. */
  open (): void {
    for (const topic of this.mapper.logTopics()) {
      if (this.#log.topics.exists(topic)) this.#tail(topic, false)
    }
  }

  /** Log topics created by another client since: tailed from their start (the sweep calls this). */
  discover (): void {
    for (const topic of this.mapper.logTopics()) {
      if (!this.#tailed.has(topic) && !this.#creating.has(topic) && this.#log.topics.exists(topic)) this.#tail(topic, true)
    }
  }

  route (topic: string, topicBytes: Uint8Array): Route {
    return this.mapper.route(topic, topicBytes)
  }

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

  /** Resolves when every appended batch is fsynced (mqttFsyncAcks). */
  async syncBatches (batches: StagedBatch[]): Promise<void> {
    const seen = new Set<string>()
    const syncs: Array<Promise<void>> = []
    for (const b of batches) {
      const key = `${b.logTopic}\u0000${b.partition}`
      if (b.error !== null || seen.has(key)) continue
      seen.add(key)
      syncs.push(this.#log.partitions.sync(b.logTopic, b.partition).catch((err: unknown) => { b.error = err }))
    }
    await Promise.all(syncs)
  }

  /** Publishes messages the broker itself sends (wills), stamped now. */
  publish (messages: MqttMessage[]): void {
    const stage = new PublishStage(this.#settings.maxBatchBytes)
    const now = this.#now()
    for (const m of messages) {
      const stamped = { ...m, timestampMs: now }
      stage.add(this.route(stamped.topic, stamped.topicBytes), stamped)
    }
    this.appendBatches(stage.take(), null)?.catch((err: unknown) => this.#logger.error({ err }, 'mqtt will could not be published'))
  }

  close (): void {
    for (const t of this.tailers) t.close()
  }

  /** Drops catch-up ranges nobody used for a while (the gateway's sweep). */
  releaseIdle (nowMs: number): void {
    for (const t of this.tailers) t.catchUp.releaseIdle(nowMs)
  }

  /** Sessions waiting in or served by catch-up sweeps, and reads done (for metrics). */
  catchUpStats (): { sessions: number, reads: number, readBytes: number } {
    let sessions = 0
    let reads = 0
    let readBytes = 0
    for (const t of this.tailers) {
      sessions += t.catchUp.size
      reads += t.catchUp.reads
      readBytes += t.catchUp.readBytes
    }
    return { sessions, reads, readBytes }
  }

  #appendOne (b: StagedBatch, source: Session | null): void {
    try {
      b.baseOffset = append(this.#log, b.logTopic, b.partition, b.builder.build()).baseOffset
    } catch (err) {
      b.error = err
      this.#logger.warn({ err, topic: b.logTopic, partition: b.partition }, 'mqtt publish could not be appended')
      return
    }
    for (const m of b.messages) if (m.retain) this.#retained.set(m)
    this.#byPartition.get(`${b.logTopic}\u0000${b.partition}`)?.appended(b.baseOffset, b.messages, source)
  }

  /** Creates an MQTT log topic on its first publish (once, however many publishes wait). */
  #createLogTopic (topic: string): Promise<void> {
    let pending = this.#creating.get(topic)
    if (pending === undefined) {
      pending = ensureTopic(this.#log, topic, this.#settings.partitions, false)
        .then(() => { this.#tail(topic, true) })
        .finally(() => this.#creating.delete(topic))
      this.#creating.set(topic, pending)
    }
    return pending
  }

  /** Starts tailing every partition of a log topic, from its end or from its start. */
  #tail (topic: string, fromStart: boolean): void {
    if (this.#tailed.has(topic)) return
    this.#tailed.add(topic)
    const partitions = this.#log.topics.partitionCount(topic)
    this.mapper.setPartitions(topic, partitions)
    const first = this.tailers.length
    for (let p = 0; p < partitions; p++) {
      const t = new Tailer({ index: this.tailers.length, logTopic: topic, partition: p, log: this.#log, subs: this.#subs.index, limits: this.#limits, logger: this.#logger, budget: this.#budget, now: this.#now })
      if (fromStart) t.startAt(this.#log.partitions.offsets(topic, p).logStartOffset)
      this.tailers.push(t)
      this.#byPartition.set(`${topic}\u0000${p}`, t)
    }
    // Synchronously, before the first append to these partitions is fanned out.
    this.onPartitions(first, partitions)
  }
}
