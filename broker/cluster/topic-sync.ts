/**
 * Topics in cluster mode: the cluster metadata (etcd, written by the controller) is the
 * source of truth, and every broker keeps local logs for every partition of every topic in
 * it — holding data only for the partitions it replicates (a broker that is not a replica
 * has an empty log the replica manager never serves). This is the TopicService's
 * TopicAuthority (services/topics.ts) and the follower of topic changes:
 *
 *   create / delete / alterConfig   sent to the controller (agent.createTopic ...), then
 *                                   resolved once this broker's log manager shows the change
 *   topicCreated / topicDeleted / topicConfigChanged events
 *                                   applied to the log manager one at a time, in order
 *   start                           reconciles first: local topics the cluster does not know
 *                                   (deleted while this broker was down) or knows under another
 *                                   topic id (deleted and created again) are deleted locally;
 *                                   cluster topics missing here are created
 *
 * Topic ids are kept in `<dataDir>/cluster-topics.json` (checked file, kind
 * "cluster-topics": `{"topics":{"orders":"<uuid>", ...}}`) so a restarted broker can tell a
 * re-created topic from the one it holds. Replication factors come from the request, or
 * default to `defaultReplicationFactor` capped at the brokers available, as an explicit one
 * above them is INVALID_REPLICATION_FACTOR. The broker's own topics other than
 * `__consumer_offsets` (the MQTT gateway's) get a replica on every live broker, since every
 * broker's gateway reads them from its local replica.
 *
 * Not handled yet: a topic's partition count growing (createPartitions) is logged, not
 * applied to the local logs.
 */

import path from 'node:path'
import type { Logger } from 'pino'
import { MetadataUnavailableError, RequestTimedOutError, TopicAlreadyExistsError } from '../../protocol/errors.js'
import { OFFSETS_TOPIC } from '../groups/offset-store.js'
import type { TopicAuthority, TopicKind } from '../services/topics.js'
import { readCheckedFile, writeCheckedFile } from '../storage/checkpoint.js'
import { DEFAULT_LOG_CONFIG, type LogConfig } from '../storage/config.js'
import type { LogManager } from '../storage/log-manager.js'
import type { ClusterAgent } from './cluster-agent.js'
import type { TopicConfig, TopicRecord } from './records.js'

const IDS_FILE = 'cluster-topics.json'
const IDS_KIND = 'cluster-topics'
const LOG_CONFIG_KEYS = new Set(Object.keys(DEFAULT_LOG_CONFIG))
/** How long a topic created without a replication factor waits for enough brokers. */
const WAIT_FOR_BROKERS_MS = 5000

/** The local log config of a cluster topic record (keys that are not log settings are cluster-only). */
export function logConfigOf (config: TopicConfig): Partial<LogConfig> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(config)) if (LOG_CONFIG_KEYS.has(k) && v !== null) out[k] = v
  return out as Partial<LogConfig>
}

export class TopicSync implements TopicAuthority {
  readonly #logs: LogManager
  readonly #logger: Logger
  readonly #file: string
  readonly #defaultReplicationFactor: number
  readonly #waitMs: number
  readonly #ids = new Map<string, string>()
  readonly #waiters = new Set<() => void>()
  #agent: ClusterAgent | null = null
  #queue: Promise<unknown> = Promise.resolve()
  #beforeDelete: (topic: string, partitions: number) => void = () => {}

  constructor (o: { logs: LogManager, logger: Logger, defaultReplicationFactor: number, waitMs: number }) {
    this.#logs = o.logs
    this.#logger = o.logger.child({ component: 'topics' })
    this.#file = path.join(o.logs.dataDir, IDS_FILE)
    this.#defaultReplicationFactor = o.defaultReplicationFactor
    this.#waitMs = o.waitMs
    const read = readCheckedFile(IDS_KIND, this.#file)
    if (read !== null && !('problem' in read)) {
      const topics = (read.body as { topics?: Record<string, unknown> }).topics ?? {}
      for (const [name, id] of Object.entries(topics)) if (typeof id === 'string') this.#ids.set(name, id)
    }
  }

  /** Called before a topic's local logs are deleted (the replica manager lets go of them). */
  onBeforeDelete (fn: (topic: string, partitions: number) => void): void {
    this.#beforeDelete = fn
  }

  /** Reconciles the local topics with the cluster's, then follows its changes. */
  async start (agent: ClusterAgent): Promise<void> {
    this.#agent = agent
    agent.on('topicCreated', t => { void this.#enqueue(() => this.#createLocal(t)) })
    agent.on('topicDeleted', t => { void this.#enqueue(() => this.#deleteLocal(t.name)) })
    agent.on('topicConfigChanged', t => { void this.#enqueue(() => this.#alterLocal(t)) })
    await this.#enqueue(async () => {
      const cluster = agent.metadata.topics
      for (const local of this.#logs.topics()) {
        const record = cluster.get(local.name)
        if (record === undefined || this.#ids.get(local.name) !== record.topicId) await this.#deleteLocal(local.name)
      }
      for (const record of cluster.values()) await this.#createLocal(record)
    })
  }

  /** Resolves once the topic's local logs match the cluster's record (waits for it to be created). */
  topicReady (topic: string): Promise<void> {
    return new Promise(resolve => {
      const check = (): boolean => {
        const record = this.#agent?.metadata.topics.get(topic)
        if (record === undefined) return false
        return this.#logs.hasTopic(topic) && this.#ids.get(topic) === record.topicId
      }
      if (check()) {
        resolve()
        return
      }
      const waiter = (): void => {
        if (!check()) return
        this.#waiters.delete(waiter)
        resolve()
      }
      this.#waiters.add(waiter)
    })
  }

  // ---- TopicAuthority

  async create (name: string, o: { partitions: number, replicationFactor: number | null, config: Partial<LogConfig>, internal: boolean, existingOk: boolean, kind: TopicKind }): Promise<void> {
    const agent = this.#requireAgent()
    let topicId: string
    try {
      // The broker's own topics besides the group offsets (MQTT's log, session and retained
      // topics) are read by the MQTT gateway of every broker: one replica on each.
      const everyBroker = o.kind === 'broker' && name !== OFFSETS_TOPIC
      const rf = o.replicationFactor ?? (everyBroker ? Math.max(this.#defaultReplicationFactor, this.#available(agent)) : this.#defaultReplicationFactor)
      const record = await agent.createTopic({
        name, partitions: o.partitions, replicationFactor: await this.#capped(agent, name, rf, o.replicationFactor === null), config: { ...o.config } as TopicConfig, ...(o.internal ? { internal: true } : {}),
      })
      topicId = record.topicId
    } catch (err) {
      const existing = agent.metadata.topics.get(name)
      if (!o.existingOk || !(err instanceof TopicAlreadyExistsError) || existing === undefined) throw err
      topicId = existing.topicId
    }
    await this.#waitLocal(() => this.#ids.get(name) === topicId && this.#logs.hasTopic(name), `topic ${name} to be created here`)
  }

  async delete (name: string): Promise<void> {
    const agent = this.#requireAgent()
    await agent.deleteTopic(name)
    await this.#waitLocal(() => !this.#logs.hasTopic(name), `topic ${name} to be deleted here`)
  }

  async alterConfig (name: string, config: Partial<LogConfig>): Promise<void> {
    const agent = this.#requireAgent()
    const record = await agent.alterTopicConfig(name, { ...config } as TopicConfig)
    const wanted = logConfigOf(record.config)
    await this.#waitLocal(() => {
      const local = this.#logs.topic(name)?.config as unknown as Record<string, unknown> | undefined
      return local !== undefined && Object.entries(wanted).every(([k, v]) => local[k] === v)
    }, `the config of topic ${name} to change here`)
  }

  // ---- local changes, in event order

  #enqueue<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn)
    this.#queue = run.catch(err => this.#logger.error({ err }, 'applying a topic change locally failed'))
    return run.finally(() => { for (const w of [...this.#waiters]) w() })
  }

  async #createLocal (record: TopicRecord): Promise<void> {
    if (this.#agent?.metadata.topics.get(record.name)?.topicId !== record.topicId) return // deleted again meanwhile
    const local = this.#logs.topic(record.name)
    if (local !== undefined && this.#ids.get(record.name) === record.topicId) {
      if (local.partitions !== record.partitionCount) {
        this.#logger.warn({ topic: record.name, local: local.partitions, cluster: record.partitionCount }, 'topic partition count changed in the cluster; growing local logs is not supported yet')
      }
      return
    }
    if (local !== undefined) await this.#deleteLocal(record.name)
    await this.#logs.createTopic(record.name, { partitions: record.partitionCount, config: logConfigOf(record.config), internal: record.name.startsWith('__') })
    this.#ids.set(record.name, record.topicId)
    this.#saveIds()
    this.#logger.info({ topic: record.name, partitions: record.partitionCount, replicationFactor: record.replicationFactor, topicId: record.topicId }, 'topic created here')
  }

  async #deleteLocal (name: string): Promise<void> {
    const local = this.#logs.topic(name)
    if (local !== undefined) {
      this.#beforeDelete(name, local.partitions)
      await this.#logs.deleteTopic(name)
      this.#logger.info({ topic: name }, 'topic deleted here')
    }
    if (this.#ids.delete(name)) this.#saveIds()
  }

  async #alterLocal (record: TopicRecord): Promise<void> {
    if (!this.#logs.hasTopic(record.name)) return
    const wanted = logConfigOf(record.config)
    const current = this.#logs.topic(record.name)!.config as unknown as Record<string, unknown>
    const defaults = DEFAULT_LOG_CONFIG as unknown as Record<string, unknown>
    // Keys removed in the cluster fall back to the defaults.
    const patch: Record<string, unknown> = { ...wanted }
    for (const k of LOG_CONFIG_KEYS) if (!(k in wanted) && current[k] !== defaults[k]) patch[k] = defaults[k]
    await this.#logs.updateTopicConfig(record.name, patch as Partial<LogConfig>)
  }

  #saveIds (): void {
    writeCheckedFile(IDS_KIND, this.#file, { topics: Object.fromEntries(this.#ids) }, true)
  }

  #available (agent: ClusterAgent): number {
    return [...agent.metadata.brokers.keys()].filter(id => !agent.metadata.decommissioned.has(id)).length
  }

  /**
   * A replication factor the topic did not ask for (a default), capped at the brokers
   * available. Brokers of a cluster often start together: a topic created in the first
   * seconds waits (up to WAIT_FOR_BROKERS_MS) for enough of them rather than being created
   * with fewer replicas. An explicit factor is the controller's to check.
   */
  async #capped (agent: ClusterAgent, name: string, wanted: number, isDefault: boolean): Promise<number> {
    if (!isDefault) return wanted
    if (this.#available(agent) < wanted) {
      await agent.metadata.waitFor(() => this.#available(agent) >= wanted, WAIT_FOR_BROKERS_MS, 'brokers').catch(() => undefined)
    }
    const rf = Math.max(1, Math.min(wanted, this.#available(agent)))
    if (rf < wanted) {
      this.#logger.warn({ topic: name, replicationFactor: rf, wanted, brokers: this.#available(agent) }, 'fewer brokers than the default replication factor: the topic gets fewer replicas')
    }
    return rf
  }

  #requireAgent (): ClusterAgent {
    if (this.#agent === null) throw new MetadataUnavailableError('the broker is still joining the cluster; retry')
    return this.#agent
  }

  async #waitLocal (done: () => boolean, what: string): Promise<void> {
    if (done()) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter)
        reject(new RequestTimedOutError(`timed out after ${this.#waitMs} ms waiting for ${what}`))
      }, this.#waitMs)
      const waiter = (): void => {
        if (!done()) return
        clearTimeout(timer)
        this.#waiters.delete(waiter)
        resolve()
      }
      this.#waiters.add(waiter)
    })
  }
}
