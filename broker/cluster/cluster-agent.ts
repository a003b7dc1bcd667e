/**
 * ClusterAgent: one broker's membership in the cluster, the API the broker wiring and the
 * replica manager use. It owns the etcd client and puts together the metadata cache, the
 * registration, the controller election, the controller and the producer-id blocks.
 *
 *   const agent = await ClusterAgent.start({ nodeId: 1, etcdEndpoints: [...], advertisedListeners: {...} }, { logger })
 *   for (const role of agent.localPartitions()) replicaManager.apply(role)     // initial state
 *   agent.on('partitionRole', role => replicaManager.apply(role))            // then every change
 *   await agent.requestIsrChange({ topic, partition, leaderEpoch, partitionEpoch, isr })
 *   await agent.createTopic({ name: 'orders', partitions: 3, replicationFactor: 3 })
 *   await agent.close()
 *
 * Start order: load the metadata (so the state is known before anything acts on it), register
 * (refuses a node id held by a live broker), then campaign for controller. `partitionRole` is
 * emitted for a partition this broker replicates whenever its role (leader, follower, none),
 * the leader or the leader epoch changes; `partitionChanged` for any change of such a partition
 * (ISR, replicas, reassignment). All requests that change topics or partitions go to the
 * controller (requests.ts) and resolve with its answer or reject with its typed error.
 */

import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { Etcd3 } from 'etcd3'
import { pino, type Logger } from 'pino'
import {
  InvalidRequestError, MetadataUnavailableError, RequestTimedOutError, errorFromCode,
} from '../../protocol/errors.js'
import { Controller } from './controller.js'
import { DocumentStore } from './documents.js'
import { ControllerElection } from './election.js'
import { bytes, closeEtcdClient, createEtcdClient, etcdCall } from './etcd.js'
import { ClusterKeys, type DocumentKind } from './keys.js'
import { MetadataCache, type ControllerInfo, type MetadataChange } from './metadata-cache.js'
import { MAX_PLAN_PARTITIONS, MetadataWriter } from './metadata-writer.js'
import { Membership } from './membership.js'
import { ProducerIdBlocks } from './producer-id-blocks.js'
import { NO_LEADER, type BrokerRegistration, type PartitionState, type TopicConfig, type TopicRecord } from './records.js'
import type { CreateTopicBody, PartitionRef, RequestBodies, RequestKind, RequestResults } from './requests.js'
import { resolveClusterSettings, type ClusterSettings, type ClusterSettingsInput } from './settings.js'

export type ReplicaRole = 'leader' | 'follower' | 'none'

/** What the replica manager needs to act on a partition. */
export interface PartitionRole {
  topic: string
  partition: number
  topicId: string
  /** 'none': this broker no longer holds a replica (stop and drop it). */
  role: ReplicaRole
  leader: number
  leaderEpoch: number
  partitionEpoch: number
  isr: number[]
  replicas: number[]
}

export interface ClusterAgentEvents {
  partitionRole: [PartitionRole]
  partitionChanged: [PartitionState]
  partitionOffline: [PartitionState]
  topicCreated: [TopicRecord]
  topicDeleted: [TopicRecord]
  topicConfigChanged: [TopicRecord, TopicRecord]
  brokerRegistered: [BrokerRegistration]
  brokerUnregistered: [number]
  controllerChanged: [ControllerInfo | null]
  becameController: [number]
  lostController: [string]
  metadataStale: [string]
  metadataFresh: []
  registrationLost: [Error]
  reregistered: [BrokerRegistration]
  fenced: [Error]
}

export interface ClusterAgentOptions {
  logger?: Logger
  /** Random source for replica placement (tests pin it). */
  random?: () => number
}

export interface IsrChangeInput { topic: string, partition: number, leaderEpoch: number, partitionEpoch: number, isr: number[] }

function roleOf (p: PartitionState, nodeId: number): ReplicaRole {
  if (p.leader === nodeId) return 'leader'
  return p.replicas.includes(nodeId) ? 'follower' : 'none'
}

function toRole (p: PartitionState, role: ReplicaRole): PartitionRole {
  return { topic: p.topic, partition: p.partition, topicId: p.topicId, role, leader: p.leader, leaderEpoch: p.leaderEpoch, partitionEpoch: p.partitionEpoch, isr: [...p.isr], replicas: [...p.replicas] }
}

export class ClusterAgent extends EventEmitter<ClusterAgentEvents> {
  readonly settings: ClusterSettings
  readonly incarnationId = randomUUID()
  readonly keys: ClusterKeys
  readonly metadata: MetadataCache
  readonly documents: { acls: DocumentStore<unknown>, quotas: DocumentStore<unknown>, users: DocumentStore<unknown> }
  readonly #client: Etcd3
  readonly #logger: Logger
  readonly #membership: Membership
  readonly #election: ControllerElection
  readonly #controller: Controller
  readonly #producerIds: ProducerIdBlocks
  readonly #roles = new Map<string, PartitionRole>()
  #closed = false

  private constructor (settings: ClusterSettings, client: Etcd3, logger: Logger, options: ClusterAgentOptions) {
    super()
    this.settings = settings
    this.#client = client
    this.#logger = logger
    this.keys = new ClusterKeys(settings.keyPrefix)
    const timeoutMs = settings.etcdOperationTimeoutMs
    this.metadata = new MetadataCache({ client, keys: this.keys, logger, operationTimeoutMs: timeoutMs, healthCheckIntervalMs: settings.healthCheckIntervalMs })
    this.#membership = new Membership({ client, keys: this.keys, settings, incarnationId: this.incarnationId, logger })
    this.#election = new ControllerElection({ client, keys: this.keys, cache: this.metadata, nodeId: settings.nodeId, incarnationId: this.incarnationId, leaseTtlMs: settings.leaseTtlMs, operationTimeoutMs: timeoutMs, logger })
    const writer = new MetadataWriter(client, this.metadata, timeoutMs)
    this.#controller = new Controller({ cache: this.metadata, keys: this.keys, writer, election: this.#election, settings, logger, ...(options.random === undefined ? {} : { random: options.random }) })
    this.#producerIds = new ProducerIdBlocks(client, this.keys, settings.producerIdBlockSize, timeoutMs)
    const doc = (kind: DocumentKind): DocumentStore<unknown> => new DocumentStore(kind, client, this.keys, this.metadata, timeoutMs, v => v)
    this.documents = { acls: doc('acls'), quotas: doc('quotas'), users: doc('users') }
    this.#wireEvents()
  }

  /** Joins the cluster; rejects with DuplicateBrokerIdError or MetadataUnavailableError. */
  static async start (input: ClusterSettingsInput, options: ClusterAgentOptions = {}): Promise<ClusterAgent> {
    const settings = resolveClusterSettings(input)
    const logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'cluster', nodeId: settings.nodeId })
    const agent = new ClusterAgent(settings, createEtcdClient(settings), logger, options)
    try {
      await agent.metadata.start()
      for (const p of agent.metadata.partitions()) agent.#trackRole(p, false)
      await agent.#membership.register()
      agent.#election.start()
    } catch (err) {
      await agent.close()
      throw err
    }
    logger.info({ incarnationId: agent.incarnationId, prefix: settings.keyPrefix, controller: agent.controller?.nodeId ?? null }, 'joined the cluster')
    return agent
  }

  get nodeId (): number { return this.settings.nodeId }
  get isController (): boolean { return this.#election.isController }
  /** This broker's controller epoch while it is the controller, else null. */
  get controllerEpoch (): number | null { return this.#election.guard?.epoch ?? null }
  /** The current controller as the metadata shows it. */
  get controller (): ControllerInfo | null { return this.metadata.controller }
  /** True while etcd does not answer: metadata is the last known state. */
  get metadataStale (): boolean { return this.metadata.stale }
  get registration (): BrokerRegistration | null { return this.#membership.registration }

  /** The roles of every partition this broker holds a replica of. */
  localPartitions (): PartitionRole[] { return [...this.#roles.values()] }

  partitionRole (topic: string, partition: number): PartitionRole | null { return this.#roles.get(`${topic}/${partition}`) ?? null }

  offlinePartitions (): PartitionState[] { return [...this.metadata.partitions()].filter(p => p.leader === NO_LEADER) }

  // ---- controller requests

  createTopic (body: CreateTopicBody): Promise<TopicRecord> { return this.request('createTopic', body) }
  deleteTopic (name: string): Promise<RequestResults['deleteTopic']> { return this.request('deleteTopic', { name }) }
  alterTopicConfig (name: string, config: TopicConfig): Promise<TopicRecord> { return this.request('alterTopicConfig', { name, config }) }
  createPartitions (name: string, totalCount: number): Promise<TopicRecord> { return this.request('createPartitions', { name, totalCount }) }

  /** The leader asks to change the ISR; resolves with the new state (Kafka's AlterPartition). */
  requestIsrChange (input: IsrChangeInput): Promise<PartitionState> {
    return this.request('alterIsr', { ...input, leader: this.nodeId })
  }

  /** Moves partitions to new replica lists (in requests of at most 64 partitions). */
  async reassignPartitions (moves: Array<PartitionRef & { replicas: number[] }>): Promise<RequestResults['reassignPartitions']> {
    const total = { started: 0, completed: 0 }
    for (let i = 0; i < moves.length; i += MAX_PLAN_PARTITIONS) {
      const r = await this.request('reassignPartitions', { moves: moves.slice(i, i + MAX_PLAN_PARTITIONS) })
      total.started += r.started
      total.completed += r.completed
    }
    return total
  }

  /** Moves every replica off `nodeId` and keeps new ones away until recommissioned. */
  decommissionBroker (nodeId: number): Promise<RequestResults['decommissionBroker']> { return this.request('decommissionBroker', { nodeId }) }
  recommissionBroker (nodeId: number): Promise<RequestResults['recommissionBroker']> { return this.request('recommissionBroker', { nodeId }) }

  /** Preferred-leader election for the given partitions (at most 64), or for all (null). */
  electPreferredLeaders (partitions: PartitionRef[] | null = null): Promise<RequestResults['electPreferredLeaders']> {
    return this.request('electPreferredLeaders', { partitions })
  }

  /**
   * A typed store of cluster-wide documents (`parse` checks and types each value; throw to
   * reject). `documents` holds untyped ones for the same kinds.
   */
  documentStore<T> (kind: DocumentKind, parse: (value: unknown) => T): DocumentStore<T> {
    return new DocumentStore(kind, this.#client, this.keys, this.metadata, this.settings.etcdOperationTimeoutMs, parse)
  }

  /** A producer id unique in the cluster. */
  allocateProducerId (): Promise<number> { return this.#producerIds.nextId() }

  /** Reserves `size` producer ids no broker of the cluster has had; the first of them (a BlockSource). */
  async reserveProducerIds (size: number): Promise<number> { return (await this.#producerIds.takeBlock(size)).start }

  /**
   * Sends a request to the controller and waits for its answer, in all at most
   * controllerRequestTimeoutMs (sending included): the answer's value, or its typed error.
   */
  async request<K extends RequestKind> (kind: K, body: RequestBodies[K]): Promise<RequestResults[K]> {
    if (this.#closed) throw new InvalidRequestError('the cluster agent is closed')
    const leaseId = this.#membership.leaseId
    if (leaseId === null) throw new MetadataUnavailableError('this broker is not registered (its lease was lost); retry')
    const id = randomUUID()
    const key = this.keys.request(id)
    const now = Date.now()
    const request = { id, kind, from: this.nodeId, createdAtMs: now, expiresAtMs: now + this.settings.controllerRequestTimeoutMs, body }
    await this.#putRequest(kind, key, JSON.stringify(request), request.expiresAtMs)
    let seen = false
    try {
      await this.metadata.waitFor(() => {
        const r = this.metadata.requests.get(id)
        if (r !== undefined) seen = true
        return r?.result !== undefined || (seen && r === undefined)
      }, Math.max(500, request.expiresAtMs - Date.now()), `the controller's answer to ${kind}`)
    } catch {
      void this.#deleteRequest(key)
      throw new RequestTimedOutError(`no controller answered ${kind} within ${this.settings.controllerRequestTimeoutMs} ms`)
    }
    const answered = this.metadata.requests.get(id)
    void this.#deleteRequest(key)
    if (answered?.result === undefined) throw new MetadataUnavailableError(`the ${kind} request vanished before it was answered (lease lost); retry`)
    const result = answered.result
    if (result.ok) return result.value as RequestResults[K]
    throw errorFromCode(result.errorCode, result.message)
  }

  /**
   * Writes a request, retrying etcd's retriable failures until the request's own deadline: right
   * after etcd recovers from an outage its client may still skip a member for a moment, and an
   * admin call made then should wait that out rather than fail. The key is a fresh id, so the
   * request is answered at most once however many tries it takes.
   */
  async #putRequest (kind: RequestKind, key: string, value: string, expiresAtMs: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        // The registration may be renewed under a new lease while this retries.
        const leaseId = this.#membership.leaseId
        if (leaseId === null) throw new MetadataUnavailableError('this broker is not registered (its lease was lost); retry')
        // Created only if absent: a retry after a put that did land (its answer lost) must not
        // overwrite the controller's answer with the unanswered request.
        const k = bytes(key)
        await etcdCall(`sending ${kind} to the controller`, this.settings.etcdOperationTimeoutMs, () => this.#client.kv.txn({
          compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
          success: [{ request_put: { key: k, value: bytes(value), lease: leaseId } }],
          failure: [],
        }))
        return
      } catch (err) {
        const waitMs = Math.min(100 * attempt, 1000)
        if (!(err instanceof MetadataUnavailableError) || this.#closed || Date.now() + waitMs >= expiresAtMs) throw err
        this.#logger.debug({ kind, attempt, err: err.message }, 'etcd refused a controller request; retrying')
        await new Promise(resolve => setTimeout(resolve, waitMs))
      }
    }
  }

  async #deleteRequest (key: string): Promise<void> {
    await etcdCall('removing an answered request', this.settings.etcdOperationTimeoutMs, () => this.#client.kv.deleteRange({ key: bytes(key) })).catch(() => undefined)
  }

  /** Leaves the cluster: resigns control, revokes the registration, closes etcd. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#controller.close()
    await this.#election.close()
    await this.#membership.close()
    await this.metadata.close()
    await closeEtcdClient(this.#client)
    this.#logger.info('left the cluster')
  }

  // ---- events

  #wireEvents (): void {
    this.metadata.on('change', change => this.#onChange(change))
    this.metadata.on('stale', reason => this.emit('metadataStale', reason))
    this.metadata.on('fresh', () => this.emit('metadataFresh'))
    this.#election.on('elected', guard => this.emit('becameController', guard.epoch))
    this.#election.on('resigned', reason => this.emit('lostController', reason))
    this.#membership.on('lost', err => this.emit('registrationLost', err))
    this.#membership.on('reregistered', reg => this.emit('reregistered', reg))
    this.#membership.on('fenced', err => {
      this.#election.stepDown('this broker was fenced')
      this.emit('fenced', err)
    })
  }

  #onChange (change: MetadataChange): void {
    switch (change.type) {
      case 'partitionChanged':
        this.#trackRole(change.partition, true)
        if (change.partition.leader === NO_LEADER && change.previous?.leader !== NO_LEADER) this.emit('partitionOffline', change.partition)
        return
      case 'partitionDeleted':
        this.#dropRole(change.previous)
        return
      case 'topicCreated': this.emit('topicCreated', change.topic); return
      case 'topicDeleted': this.emit('topicDeleted', change.topic); return
      case 'topicConfigChanged': this.emit('topicConfigChanged', change.topic, change.previous); return
      case 'brokerRegistered':
        if (change.broker.nodeId === this.nodeId && change.broker.incarnationId !== this.incarnationId) {
          this.#logger.error({ holder: change.broker.incarnationId }, 'another broker registered with this node id')
        }
        this.emit('brokerRegistered', change.broker)
        return
      case 'brokerUnregistered':
        if (change.nodeId === this.nodeId && this.#membership.registration !== null) this.#membership.repair()
        this.emit('brokerUnregistered', change.nodeId)
        return
      case 'controllerChanged': this.emit('controllerChanged', change.controller); return
      default:
    }
  }

  #trackRole (p: PartitionState, emit: boolean): void {
    const id = `${p.topic}/${p.partition}`
    const before = this.#roles.get(id)
    const role = roleOf(p, this.nodeId)
    if (role === 'none') {
      if (before !== undefined) this.#dropRole(p)
      return
    }
    const next = toRole(p, role)
    this.#roles.set(id, next)
    if (!emit) return
    if (before === undefined || before.role !== role || before.leader !== next.leader || before.leaderEpoch !== next.leaderEpoch || before.topicId !== next.topicId) {
      this.emit('partitionRole', next)
    }
    this.emit('partitionChanged', p)
  }

  #dropRole (p: PartitionState): void {
    const id = `${p.topic}/${p.partition}`
    const before = this.#roles.get(id)
    if (before === undefined) return
    this.#roles.delete(id)
    this.emit('partitionRole', { ...toRole(p, 'none'), replicas: p.replicas.filter(r => r !== this.nodeId) })
    this.emit('partitionChanged', p)
  }
}
