/**
 * Topics: create, delete, describe, list, change config, and auto-create — for every
 * protocol (native handlers, the Kafka listener, `/api`, the MQTT gateway, the group
 * coordinator) through this one service, so the rules, the errors and the log lines are the
 * same whichever door a request came in by:
 *
 * - Names follow the one topic-name rule (storage/log-manager.ts `validateTopicName`);
 *   names starting with `__` are internal: only the broker creates them (createInternal),
 *   nobody deletes them (INVALID_TOPIC), and lists leave them out unless asked.
 * - Auto-create happens when the broker's `autoCreateTopics` is on, the request allows it
 *   (Kafka's allow_auto_topic_creation; MQTT publishes always do) and the caller may create;
 *   concurrent requests for the same missing topic share one creation.
 * - One info line per change ("topic created", "topic deleted", "topic config updated"),
 *   saying who did it and over which protocol.
 * - Cluster mode (docs/cluster.md): topics belong to the cluster. Creation, deletion and
 *   config changes go to the controller through a TopicAuthority (broker/cluster/), which
 *   resolves once this broker's own log manager shows the change (every broker creates the
 *   local logs of every topic as the cluster metadata announces it). Checks that need no
 *   cluster (names, partition counts, config values, internal names) run here first.
 */

import type { Logger } from 'pino'
import { InvalidPartitionsError, InvalidReplicationFactorError, InvalidTopicError, UnknownTopicOrPartitionError } from '../../protocol/errors.js'
import type { Caller } from '../security/principal.js'
import { principalString } from '../security/principal.js'
import type { LogConfig } from '../storage/config.js'
import type { LogManager, PartitionStats, TopicInfo } from '../storage/log-manager.js'
import type { AccessPolicy, Operation } from './access.js'

export type { TopicInfo, PartitionStats }

export interface TopicSettings {
  autoCreateTopics: boolean
  defaultPartitions: number
  maxPartitionsPerTopic: number
}

export interface TopicDescription extends TopicInfo {
  partitionStats: PartitionStats[]
}

export interface CreateTopicOptions {
  /** Partitions; the broker's defaultPartitions when absent or -1. */
  partitions?: number
  /** Replicas per partition (cluster mode); the broker's defaultReplicationFactor when absent or -1. */
  replicationFactor?: number
  config?: Partial<LogConfig>
  /** Check everything, create nothing (Kafka's validate_only). */
  validateOnly?: boolean
}

/** Who asks for a topic: a user (CreateTopics), an auto-creation, or the broker itself (createInternal). */
export type TopicKind = 'user' | 'auto' | 'broker'

/** Where topic changes are decided in cluster mode (the controller, through broker/cluster/). */
export interface TopicAuthority {
  /**
   * Creates the topic in the cluster; resolves once the local log manager has it. With
   * `existingOk` (auto-created and internal topics, which another broker may be creating at
   * the same moment) an existing topic is waited for instead of TOPIC_ALREADY_EXISTS.
   */
  create (name: string, options: { partitions: number, replicationFactor: number | null, config: Partial<LogConfig>, internal: boolean, existingOk: boolean, kind: TopicKind }): Promise<void>
  /** Deletes it in the cluster; resolves once the local log manager dropped it. */
  delete (name: string): Promise<void>
  /** Merges config overrides in the cluster; resolves once applied locally. */
  alterConfig (name: string, config: Partial<LogConfig>): Promise<void>
}

export class TopicService {
  readonly #logs: LogManager
  readonly #access: AccessPolicy
  readonly #settings: TopicSettings
  readonly #logger: Logger
  readonly #creating = new Map<string, Promise<TopicInfo>>()
  readonly #authority: TopicAuthority | null

  constructor (options: { logs: LogManager, access: AccessPolicy, settings: TopicSettings, logger: Logger, authority?: TopicAuthority | null }) {
    this.#logs = options.logs
    this.#access = options.access
    this.#settings = options.settings
    this.#logger = options.logger
    this.#authority = options.authority ?? null
  }

  get settings (): TopicSettings { return this.#settings }

  exists (name: string): boolean { return this.#logs.hasTopic(name) }

  /** A topic's metadata without an authorization check (the broker's own use). */
  info (name: string): TopicInfo | undefined { return this.#logs.topic(name) }

  /** Partitions of a topic, 0 when it does not exist. */
  partitionCount (name: string): number { return this.#logs.topic(name)?.partitions ?? 0 }

  /** Topics the caller may describe, by name; internal topics only when asked. */
  list (caller: Caller, options: { includeInternal?: boolean } = {}): TopicInfo[] {
    return this.#logs.topics().filter(t => (options.includeInternal === true || !t.internal) && this.#access.allows(caller, 'describe', 'topic', t.name))
  }

  /** Throws the named authorization error when the caller may not do `operation` on the topic (handlers that answer per topic). */
  authorize (caller: Caller, operation: Operation, name: string): void {
    this.#access.check(caller, operation, 'topic', name)
  }

  /** One topic with its partitions' offsets and sizes. */
  describe (caller: Caller, name: string): TopicDescription {
    this.#access.check(caller, 'describe', 'topic', name)
    const info = this.#logs.topic(name)
    if (info === undefined) throw new UnknownTopicOrPartitionError(`topic "${name}" does not exist`)
    return { ...info, partitionStats: this.#logs.partitionStats(name) }
  }

  partitionStats (name: string): PartitionStats[] { return this.#logs.partitionStats(name) }

  async create (caller: Caller, name: string, options: CreateTopicOptions = {}): Promise<TopicInfo> {
    this.#access.check(caller, 'create', 'topic', name)
    const partitions = options.partitions === undefined || options.partitions === -1 ? this.#settings.defaultPartitions : options.partitions
    if (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > this.#settings.maxPartitionsPerTopic) {
      throw new InvalidPartitionsError(`partitions must be 1-${this.#settings.maxPartitionsPerTopic} (got ${partitions})`)
    }
    if (this.#authority === null && options.replicationFactor !== undefined && options.replicationFactor > 1) {
      throw new InvalidReplicationFactorError(`replication factor ${options.replicationFactor} needs a cluster: this broker runs alone (one copy of each partition)`)
    }
    if (options.validateOnly === true || this.#authority !== null) {
      const checked = this.#logs.validateNewTopic(name, { partitions, config: options.config ?? {} })
      if (options.validateOnly === true) return checked
    }
    const info = await this.#createLogs(name, { partitions, config: options.config ?? {}, replicationFactor: options.replicationFactor ?? null, internal: false, existingOk: false, kind: 'user' })
    this.#logged('topic created', caller, { topic: name, partitions, ...(options.replicationFactor === undefined ? {} : { replicationFactor: options.replicationFactor }) })
    return info
  }

  /** Local logs on one broker; through the controller in cluster mode. */
  async #createLogs (name: string, o: { partitions: number, config: Partial<LogConfig>, replicationFactor: number | null, internal: boolean, existingOk: boolean, kind: TopicKind }): Promise<TopicInfo> {
    if (this.#authority === null) return this.#logs.createTopic(name, { partitions: o.partitions, config: o.config, ...(o.internal ? { internal: true } : {}) })
    const rf = o.replicationFactor === -1 ? null : o.replicationFactor
    await this.#authority.create(name, { partitions: o.partitions, replicationFactor: rf, config: o.config, internal: o.internal, existingOk: o.existingOk, kind: o.kind })
    const info = this.#logs.topic(name)
    if (info === undefined) throw new UnknownTopicOrPartitionError(`topic "${name}" was created but is not here yet; retry`)
    return info
  }

  /**
   * The topic exists afterwards, or this throws: UNKNOWN_TOPIC_OR_PARTITION when it may not
   * be created (auto-create off, not allowed by the request, not by the caller's rights),
   * INVALID_TOPIC for an internal or invalid name. `created` says whether this call made it.
   */
  async ensure (caller: Caller, name: string, allowAutoCreate = true): Promise<{ info: TopicInfo, created: boolean }> {
    const existing = this.#logs.topic(name)
    if (existing !== undefined) return { info: existing, created: false }
    if (!allowAutoCreate || !this.#settings.autoCreateTopics || !this.#access.allows(caller, 'create', 'topic', name)) {
      throw new UnknownTopicOrPartitionError(`topic "${name}" does not exist`)
    }
    if (name.startsWith('__')) throw new InvalidTopicError(`topic names starting with "__" are reserved for internal topics (${name})`)
    let pending = this.#creating.get(name)
    let mine = false
    if (pending === undefined) {
      mine = true
      pending = this.#createLogs(name, { partitions: this.#settings.defaultPartitions, config: {}, replicationFactor: null, internal: false, existingOk: true, kind: 'auto' })
        .then(info => {
          this.#logged('topic created', caller, { topic: name, partitions: info.partitions, autoCreated: true })
          return info
        })
        .finally(() => this.#creating.delete(name))
      this.#creating.set(name, pending)
    }
    return { info: await pending, created: mine }
  }

  /** Creates one of the broker's own topics (`__consumer_offsets`, MQTT's) unless it exists. */
  async createInternal (name: string, options: { partitions: number, compact: boolean }): Promise<TopicInfo> {
    const existing = this.#logs.topic(name)
    if (existing !== undefined) return existing
    let pending = this.#creating.get(name)
    if (pending === undefined) {
      pending = this.#createLogs(name, {
        partitions: options.partitions,
        internal: name.startsWith('__'),
        config: options.compact ? { cleanupPolicy: 'compact' as const } : {},
        replicationFactor: null,
        existingOk: true,
        kind: 'broker',
      }).then(info => {
        this.#logger.info({ topic: name, partitions: info.partitions, internal: info.internal }, 'topic created')
        return info
      }).finally(() => this.#creating.delete(name))
      this.#creating.set(name, pending)
    }
    return pending
  }

  /**
   * Raises a topic's partition count (never lowers it: INVALID_PARTITIONS). Existing keys
   * keep their partitions only until the count changes, as in Kafka.
   */
  async addPartitions (caller: Caller, name: string, count: number, options: { validateOnly?: boolean } = {}): Promise<TopicInfo> {
    this.#access.check(caller, 'alter', 'topic', name)
    const info = this.#logs.topic(name)
    if (info === undefined) throw new UnknownTopicOrPartitionError(`topic "${name}" does not exist`)
    if (info.internal) throw new InvalidTopicError(`topic "${name}" is internal`)
    if (!Number.isSafeInteger(count) || count <= info.partitions || count > this.#settings.maxPartitionsPerTopic) {
      throw new InvalidPartitionsError(`topic ${name} has ${info.partitions} partitions; the new count must be ${info.partitions + 1}-${this.#settings.maxPartitionsPerTopic} (got ${count})`)
    }
    if (options.validateOnly === true) return { ...info, partitions: count }
    const updated = await this.#logs.addPartitions(name, count)
    this.#logged('topic partitions added', caller, { topic: name, from: info.partitions, partitions: count })
    return updated
  }

  async delete (caller: Caller, name: string): Promise<void> {
    this.#access.check(caller, 'delete', 'topic', name)
    const info = this.#logs.topic(name)
    if (info === undefined) throw new UnknownTopicOrPartitionError(`topic "${name}" does not exist`)
    if (info.internal) throw new InvalidTopicError(`topic "${name}" is internal and cannot be deleted`)
    if (this.#authority === null) await this.#logs.deleteTopic(name)
    else await this.#authority.delete(name)
    this.#logged('topic deleted', caller, { topic: name, partitions: info.partitions })
  }

  async alterConfig (caller: Caller, name: string, config: Partial<LogConfig>): Promise<TopicInfo> {
    this.#access.check(caller, 'alter_configs', 'topic', name)
    let info: TopicInfo
    if (this.#authority === null) {
      info = await this.#logs.updateTopicConfig(name, config)
    } else {
      if (!this.#logs.hasTopic(name)) throw new UnknownTopicOrPartitionError(`topic "${name}" does not exist`)
      await this.#authority.alterConfig(name, config)
      info = this.#logs.topic(name) ?? (() => { throw new UnknownTopicOrPartitionError(`topic "${name}" does not exist`) })()
    }
    this.#logged('topic config updated', caller, { topic: name, config })
    return info
  }

  /** Calls `fn` after each topic deletion. */
  onDeleted (fn: (topic: string) => void): void {
    this.#logs.onTopicDeleted(fn)
  }

  #logged (what: string, caller: Caller, fields: Record<string, unknown>): void {
    this.#logger.info({ ...fields, principal: principalString(caller.principal), protocol: caller.protocol, clientId: caller.clientId || undefined }, what)
  }
}
