/**
 * Every broker's local copy of the cluster's metadata: all keys under the prefix, fed by one
 * etcd watch, with typed change events.
 *
 * Feeding: one range read of the prefix at revision R, then a watch from R + 1. Each watch
 * response is applied as a unit (etcd never splits one revision's events across responses);
 * an event at or below the last applied revision is skipped, so nothing is applied twice.
 * When the watch drops (the etcd member died, the connection broke) the cache cancels it and
 * opens a new one from the last applied revision + 1 — on another member if need be — so no
 * change is missed or replayed. When that revision was compacted away, the cache re-reads the
 * prefix and emits the differences as changes (a resync: intermediate values are collapsed,
 * nothing is lost).
 *
 * Freshness: every healthCheckIntervalMs a linearizable read asks etcd for the newest
 * modification under the prefix. Two failed reads in a row (or a watch down that long) mark
 * the metadata stale ('stale' event, `stale` flag); the cache keeps serving its last state and
 * the first successful read marks it fresh again. If the watch has not delivered by the next
 * read a modification etcd already reported (a member cut off from its cluster keeps a watch
 * open but silent), the watch is reopened from the last applied revision.
 *
 * Concurrency: state only changes inside one watch response handler; readers see either all
 * of a revision's changes or none.
 */

import { EventEmitter } from 'node:events'
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3'
import type { Logger } from 'pino'
import { MetadataUnavailableError } from '../../protocol/errors.js'
import { bytes, etcdCall, rev, utf8 } from './etcd.js'
import { ClusterKeys, type DocumentKind, type ParsedKey } from './keys.js'
import {
  parseBrokerRegistration, parseCandidate, parsePartitionState, parseTopicRecord, partitionKeyOf,
  type BrokerRegistration, type ControllerCandidate, type PartitionState, type TopicRecord,
} from './records.js'
import { parseControllerRequest, type ControllerRequest } from './requests.js'

export interface CacheEntry {
  key: string
  /** The parsed JSON value (null when it did not parse). */
  value: unknown
  modRevision: number
  createRevision: number
  lease: string
}

export interface ControllerInfo {
  nodeId: number
  incarnationId: string
  /** The controller epoch: the create revision of its campaign key. */
  epoch: number
  campaignKey: string
}

export type MetadataChange =
  | { type: 'brokerRegistered', broker: BrokerRegistration, previous: BrokerRegistration | null }
  | { type: 'brokerUnregistered', nodeId: number, previous: BrokerRegistration }
  | { type: 'topicCreated', topic: TopicRecord }
  | { type: 'topicDeleted', topic: TopicRecord }
  | { type: 'topicConfigChanged', topic: TopicRecord, previous: TopicRecord }
  | { type: 'topicChanged', topic: TopicRecord, previous: TopicRecord }
  | { type: 'partitionChanged', partition: PartitionState, previous: PartitionState | null, leaderChanged: boolean, isrChanged: boolean, replicasChanged: boolean }
  | { type: 'partitionDeleted', previous: PartitionState }
  | { type: 'controllerChanged', controller: ControllerInfo | null, previous: ControllerInfo | null }
  | { type: 'requestChanged', requestId: string, request: ControllerRequest | null, modRevision: number }
  | { type: 'documentChanged', kind: DocumentKind, key: string, value: unknown, modRevision: number }
  | { type: 'decommissionChanged', nodeId: number, decommissioned: boolean }

export interface MetadataCacheEvents {
  change: [MetadataChange]
  /** After each applied watch response (or resync), with its revision and changes. */
  applied: [number, MetadataChange[]]
  stale: [string]
  fresh: []
}

export interface MetadataCacheOptions {
  client: Etcd3
  keys: ClusterKeys
  logger: Logger
  operationTimeoutMs: number
  healthCheckIntervalMs: number
}

const WATCH_RETRY_MS = 200

function sameList (a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

export class MetadataCache extends EventEmitter<MetadataCacheEvents> {
  readonly keys: ClusterKeys
  readonly #client: Etcd3
  readonly #logger: Logger
  readonly #timeoutMs: number
  readonly #healthIntervalMs: number
  readonly #entries = new Map<string, CacheEntry>()
  readonly #brokers = new Map<number, BrokerRegistration>()
  readonly #topics = new Map<string, TopicRecord>()
  readonly #partitions = new Map<string, PartitionState>()
  readonly #candidates = new Map<string, { candidate: ControllerCandidate, createRevision: number }>()
  readonly #requests = new Map<string, ControllerRequest>()
  readonly #documents = new Map<DocumentKind, Map<string, { value: unknown, modRevision: number }>>()
  readonly #decommissioned = new Set<number>()
  #controller: ControllerInfo | null = null
  #revision = 0
  #watcher: Watcher | null = null
  #watchUp = false
  #watchDownSinceMs: number | null = null
  #probeFailures = 0
  #probeTimer: NodeJS.Timeout | null = null
  #reportedTopModRevision = 0
  #stale = false
  #closed = false
  /** Counters for tests and metrics. */
  readonly stats = { watchRestarts: 0, resyncs: 0, appliedResponses: 0 }

  constructor (options: MetadataCacheOptions) {
    super()
    // One listener per caller waiting for a revision or an answer; many may wait at once.
    this.setMaxListeners(0)
    this.#client = options.client
    this.keys = options.keys
    this.#logger = options.logger
    this.#timeoutMs = options.operationTimeoutMs
    this.#healthIntervalMs = options.healthCheckIntervalMs
  }

  /** Loads the prefix and starts the watch; resolves once the state is loaded. */
  async start (): Promise<void> {
    const revision = await this.#load()
    this.#watchFrom(revision + 1)
    this.#probeTimer = setInterval(() => { void this.#probe() }, this.#healthIntervalMs)
    this.#probeTimer.unref()
  }

  async close (): Promise<void> {
    this.#closed = true
    if (this.#probeTimer !== null) clearInterval(this.#probeTimer)
    const w = this.#watcher
    this.#watcher = null
    // Bounded: a watch whose creation is still pending waits for a server answer that a dead
    // etcd never gives; closeEtcdClient detaches whatever is left.
    if (w !== null) await Promise.race([w.cancel().catch(() => undefined), new Promise(resolve => setTimeout(resolve, 500).unref())])
  }

  /** The last revision applied. */
  get revision (): number { return this.#revision }
  /** True while etcd does not answer: the state is the last one known. */
  get stale (): boolean { return this.#stale }

  get brokers (): ReadonlyMap<number, BrokerRegistration> { return this.#brokers }
  get topics (): ReadonlyMap<string, TopicRecord> { return this.#topics }
  get controller (): ControllerInfo | null { return this.#controller }
  get requests (): ReadonlyMap<string, ControllerRequest> { return this.#requests }
  get decommissioned (): ReadonlySet<number> { return this.#decommissioned }
  liveBrokerIds (): Set<number> { return new Set(this.#brokers.keys()) }
  partition (topic: string, partition: number): PartitionState | undefined { return this.#partitions.get(partitionKeyOf(topic, partition)) }
  partitions (): IterableIterator<PartitionState> { return this.#partitions.values() }
  partitionsOf (topic: string): PartitionState[] {
    const t = this.#topics.get(topic)
    if (t === undefined) return []
    const out: PartitionState[] = []
    for (let p = 0; p < t.partitionCount; p++) {
      const s = this.#partitions.get(partitionKeyOf(topic, p))
      if (s !== undefined) out.push(s)
    }
    return out
  }

  documents (kind: DocumentKind): ReadonlyMap<string, { value: unknown, modRevision: number }> {
    return this.#documents.get(kind) ?? new Map()
  }

  /** The raw entry of a key (its mod revision is what compare-and-swap compares). */
  entry (key: string): CacheEntry | undefined { return this.#entries.get(key) }

  /** Resolves once the cache has applied `revision` (bounded; MetadataUnavailableError past it). */
  async waitForRevision (revision: number, timeoutMs = this.#timeoutMs): Promise<void> {
    await this.waitFor(() => this.#revision >= revision, timeoutMs, `revision ${revision}`)
  }

  /** Resolves once `predicate` holds, checking after every applied response. */
  async waitFor (predicate: () => boolean, timeoutMs: number, what = 'metadata'): Promise<void> {
    if (predicate()) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('applied', check)
        reject(new MetadataUnavailableError(`waited ${timeoutMs} ms for ${what}; the cache is at revision ${this.#revision}`))
      }, timeoutMs)
      const check = (): void => {
        if (!predicate()) return
        clearTimeout(timer)
        this.off('applied', check)
        resolve()
      }
      this.on('applied', check)
    })
  }

  // ---- loading and watching

  async #load (): Promise<number> {
    const res = await etcdCall('loading cluster metadata', this.#timeoutMs, () => this.#client.getAll().prefix(this.keys.all).exec())
    const revision = rev(res.header.revision)
    const seen = new Set<string>()
    const changes: MetadataChange[] = []
    for (const kv of res.kvs) {
      const key = utf8(kv.key)
      seen.add(key)
      const old = this.#entries.get(key)
      if (old !== undefined && old.modRevision === rev(kv.mod_revision)) continue
      this.#put(kv, changes)
    }
    for (const key of [...this.#entries.keys()]) if (!seen.has(key)) this.#delete(key, changes)
    this.#finishBatch(revision, changes)
    return revision
  }

  #watchFrom (startRevision: number): void {
    if (this.#closed) return
    const watcher = this.#client.watch().prefix(this.keys.all).startRevision(String(startRevision)).watcher()
    this.#watcher = watcher
    watcher.on('connected', () => {
      if (this.#watcher !== watcher) return
      this.#watchUp = true
      this.#watchDownSinceMs = null
    })
    watcher.on('data', (res: IWatchResponse) => { if (this.#watcher === watcher) this.#onWatchResponse(res) })
    watcher.on('disconnected', (err: Error) => {
      if (this.#watcher !== watcher) return
      this.#logger.warn({ err: err.message, revision: this.#revision }, 'metadata watch dropped; resuming from the last applied revision')
      this.#restartWatch()
    })
    watcher.on('error', (err: Error) => {
      if (this.#watcher !== watcher) return
      this.#watcher = null
      this.#watchUp = false
      this.#logger.warn({ err: err.message, revision: this.#revision }, 'metadata watch canceled; re-reading the cluster metadata')
      void this.#resync(watcher)
    })
  }

  #restartWatch (): void {
    const old = this.#watcher
    this.#watcher = null
    this.#watchUp = false
    this.#watchDownSinceMs ??= Date.now()
    this.stats.watchRestarts++
    if (old !== null) void old.cancel().catch(() => undefined)
    setTimeout(() => this.#watchFrom(this.#revision + 1), WATCH_RETRY_MS).unref()
  }

  async #resync (old: Watcher): Promise<void> {
    void old.cancel().catch(() => undefined)
    this.#watchDownSinceMs ??= Date.now()
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        const revision = await this.#load()
        this.stats.resyncs++
        this.#watchFrom(revision + 1)
        return
      } catch (err) {
        this.#logger.warn({ err: (err as Error).message, attempt }, 'metadata resync failed; retrying')
        await new Promise(resolve => setTimeout(resolve, Math.min(2000, WATCH_RETRY_MS * 2 ** attempt)))
      }
    }
  }

  #onWatchResponse (res: IWatchResponse): void {
    if (res.events.length === 0) return
    const floor = this.#revision
    let top = floor
    const changes: MetadataChange[] = []
    for (const ev of res.events) {
      const r = rev(ev.kv.mod_revision)
      if (r <= floor) continue
      top = Math.max(top, r)
      if (ev.type === 'Put') this.#put(ev.kv, changes)
      else this.#delete(utf8(ev.kv.key), changes)
    }
    if (top === floor) return
    this.stats.appliedResponses++
    this.#finishBatch(top, changes)
  }

  #finishBatch (revision: number, changes: MetadataChange[]): void {
    this.#revision = Math.max(this.#revision, revision)
    const controller = this.#currentController()
    const prev = this.#controller
    if (controller?.campaignKey !== prev?.campaignKey) {
      this.#controller = controller
      changes.push({ type: 'controllerChanged', controller, previous: prev })
    }
    for (const c of changes) this.emit('change', c)
    this.emit('applied', this.#revision, changes)
  }

  #currentController (): ControllerInfo | null {
    let best: ControllerInfo | null = null
    for (const [leaseId, { candidate, createRevision }] of this.#candidates) {
      if (best === null || createRevision < best.epoch) {
        best = { nodeId: candidate.nodeId, incarnationId: candidate.incarnationId, epoch: createRevision, campaignKey: `${this.keys.candidates}${leaseId}` }
      }
    }
    return best
  }

  // ---- applying one key

  #put (kv: IKeyValue, changes: MetadataChange[]): void {
    const key = utf8(kv.key)
    const parsed = this.keys.parse(key)
    let value: unknown = null
    try {
      value = JSON.parse(utf8(kv.value))
    } catch {
      this.#logger.warn({ key }, 'cluster metadata value is not JSON; ignored')
    }
    this.#entries.set(key, { key, value, modRevision: rev(kv.mod_revision), createRevision: rev(kv.create_revision), lease: kv.lease })
    if (parsed === null) return
    if (value === null) {
      // A document overwritten with something that is not JSON is gone, not left at its last
      // value (its readers are told, as for a deletion); other records keep theirs.
      if (parsed.kind === 'document') this.#removeTyped(parsed, changes)
      return
    }
    try {
      this.#applyTyped(parsed, value, rev(kv.mod_revision), rev(kv.create_revision), changes)
    } catch (err) {
      this.#logger.warn({ key, err: (err as Error).message }, 'cluster metadata record is malformed; ignored')
      this.#removeTyped(parsed, changes)
    }
  }

  #delete (key: string, changes: MetadataChange[]): void {
    if (!this.#entries.delete(key)) return
    const parsed = this.keys.parse(key)
    if (parsed !== null) this.#removeTyped(parsed, changes)
  }

  #applyTyped (k: ParsedKey, value: unknown, modRevision: number, createRevision: number, changes: MetadataChange[]): void {
    switch (k.kind) {
      case 'broker': {
        const broker = parseBrokerRegistration(value)
        const previous = this.#brokers.get(k.nodeId) ?? null
        this.#brokers.set(k.nodeId, broker)
        changes.push({ type: 'brokerRegistered', broker, previous })
        return
      }
      case 'candidate':
        this.#candidates.set(k.leaseId, { candidate: parseCandidate(value), createRevision })
        return
      case 'topic': {
        const topic = parseTopicRecord(value)
        const previous = this.#topics.get(k.topic)
        this.#topics.set(k.topic, topic)
        if (previous === undefined || previous.topicId !== topic.topicId) {
          if (previous !== undefined) changes.push({ type: 'topicDeleted', topic: previous })
          changes.push({ type: 'topicCreated', topic })
        } else if (JSON.stringify(previous.config) !== JSON.stringify(topic.config)) {
          changes.push({ type: 'topicConfigChanged', topic, previous })
        } else {
          changes.push({ type: 'topicChanged', topic, previous })
        }
        return
      }
      case 'partition': {
        const partition = parsePartitionState(value)
        const id = partitionKeyOf(k.topic, k.partition)
        const previous = this.#partitions.get(id) ?? null
        this.#partitions.set(id, partition)
        changes.push({
          type: 'partitionChanged',
          partition,
          previous,
          leaderChanged: previous === null || previous.leader !== partition.leader || previous.leaderEpoch !== partition.leaderEpoch,
          isrChanged: previous === null || !sameList(previous.isr, partition.isr),
          replicasChanged: previous === null || !sameList(previous.replicas, partition.replicas),
        })
        return
      }
      case 'request': {
        const request = parseControllerRequest(value)
        this.#requests.set(k.requestId, request)
        changes.push({ type: 'requestChanged', requestId: k.requestId, request, modRevision })
        return
      }
      case 'document': {
        let docs = this.#documents.get(k.documentKind)
        if (docs === undefined) this.#documents.set(k.documentKind, docs = new Map())
        docs.set(k.key, { value, modRevision })
        changes.push({ type: 'documentChanged', kind: k.documentKind, key: k.key, value, modRevision })
        return
      }
      case 'decommissioned':
        if (!this.#decommissioned.has(k.nodeId)) {
          this.#decommissioned.add(k.nodeId)
          changes.push({ type: 'decommissionChanged', nodeId: k.nodeId, decommissioned: true })
        }
        return
      case 'producerIds':
    }
  }

  #removeTyped (k: ParsedKey, changes: MetadataChange[]): void {
    switch (k.kind) {
      case 'broker': {
        const previous = this.#brokers.get(k.nodeId)
        if (previous !== undefined && this.#brokers.delete(k.nodeId)) changes.push({ type: 'brokerUnregistered', nodeId: k.nodeId, previous })
        return
      }
      case 'candidate':
        this.#candidates.delete(k.leaseId)
        return
      case 'topic': {
        const previous = this.#topics.get(k.topic)
        if (previous !== undefined && this.#topics.delete(k.topic)) changes.push({ type: 'topicDeleted', topic: previous })
        return
      }
      case 'partition': {
        const id = partitionKeyOf(k.topic, k.partition)
        const previous = this.#partitions.get(id)
        if (previous !== undefined && this.#partitions.delete(id)) changes.push({ type: 'partitionDeleted', previous })
        return
      }
      case 'request':
        if (this.#requests.delete(k.requestId)) changes.push({ type: 'requestChanged', requestId: k.requestId, request: null, modRevision: 0 })
        return
      case 'document':
        if (this.#documents.get(k.documentKind)?.delete(k.key) === true) {
          changes.push({ type: 'documentChanged', kind: k.documentKind, key: k.key, value: null, modRevision: 0 })
        }
        return
      case 'decommissioned':
        if (this.#decommissioned.delete(k.nodeId)) changes.push({ type: 'decommissionChanged', nodeId: k.nodeId, decommissioned: false })
        return
      case 'producerIds':
    }
  }

  // ---- freshness

  async #probe (): Promise<void> {
    if (this.#closed) return
    try {
      const res = await etcdCall('metadata health check', this.#timeoutMs, () => this.#client.kv.range({
        key: bytes(this.keys.all),
        range_end: bytes(this.keys.all.slice(0, -1) + '0'),
        keys_only: true,
        limit: 1,
        sort_order: 'Descend',
        sort_target: 'Mod',
      }))
      this.#probeFailures = 0
      const reported = this.#reportedTopModRevision
      this.#reportedTopModRevision = res.kvs.length > 0 ? rev(res.kvs[0]!.mod_revision) : 0
      if (this.#watchUp && reported > this.#revision) {
        this.#logger.warn({ revision: this.#revision, etcdRevision: reported }, 'metadata watch is behind etcd; reopening it')
        this.#restartWatch()
      }
    } catch (err) {
      this.#probeFailures++
      if (this.#probeFailures >= 2) this.#setStale(true, (err as Error).message)
      return
    }
    const watchDownMs = this.#watchDownSinceMs === null ? 0 : Date.now() - this.#watchDownSinceMs
    if (watchDownMs > 2 * this.#healthIntervalMs) this.#setStale(true, `metadata watch down for ${watchDownMs} ms`)
    else this.#setStale(false, '')
  }

  #setStale (stale: boolean, reason: string): void {
    if (stale === this.#stale) return
    this.#stale = stale
    if (stale) {
      this.#logger.warn({ reason, revision: this.#revision }, 'cluster metadata is stale: etcd does not answer; keeping the last known state')
      this.emit('stale', reason)
    } else {
      this.#logger.info({ revision: this.#revision }, 'cluster metadata is fresh again')
      this.emit('fresh')
    }
  }
}
