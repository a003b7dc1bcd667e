/**
 * The controller's etcd side: while this broker holds the election (election.ts) it reacts to
 * the metadata cache and changes topics and partitions, always through MetadataWriter (CAS on
 * what it read, fenced by the controller epoch). The decisions themselves are the pure
 * functions of controller-logic.ts and request-planner.ts.
 *
 * What it does, in one queue (one task at a time, each dropped if control was lost meanwhile):
 * - on election: wait until the cache has the election's revision, then reconcile every
 *   partition (dead leaders replaced, dead replicas out of the ISR, offline partitions elected
 *   when possible, finished reassignments completed, decommissioned brokers drained, records of
 *   deleted topics removed), then answer pending requests;
 * - a broker's registration vanished (lease expired): onBrokerLost for its partitions;
 * - a broker registered again: onBrokerReturned (only offline partitions it is in-sync for);
 * - a request appeared in `P/requests/`: plan it, commit the change and the answer together;
 * - a partition under reassignment changed: complete it once its target is in the ISR;
 * - every preferredLeaderElectionIntervalMs: move leadership back to preferred replicas.
 * Large jobs go in steps of 64 partitions, each its own transaction, re-planned from the cache
 * after each step, so a conflict or a controller change never leaves half a decision applied.
 * A task that fails on etcd is retried a second later; a write that finds a newer controller
 * makes this broker step down.
 */

import type { Logger } from 'pino'
import { InvalidRequestError, MetadataConflictError, MetadataUnavailableError, SpoolError, StaleControllerEpochError } from '../../protocol/errors.js'
import { electPreferredLeader, onBrokerLost, onBrokerReturned, planDecommission, reconcilePartition, startReassignment, type PartitionChange } from './controller-logic.js'
import type { ControllerElection, ControllerGuard } from './election.js'
import type { ClusterKeys } from './keys.js'
import type { MetadataCache, MetadataChange } from './metadata-cache.js'
import { MAX_PLAN_PARTITIONS, emptyPlan, type MetadataWriter, type WritePlan } from './metadata-writer.js'
import { NO_LEADER, isReassigning, type PartitionState } from './records.js'
import { addPartitionChange, electionContext, placementBrokers, planRequest, type PlanContext, type PlannedRequest } from './request-planner.js'
import type { ControllerRequest, RequestResult } from './requests.js'
import type { ClusterSettings } from './settings.js'

export interface ControllerOptions {
  cache: MetadataCache
  keys: ClusterKeys
  writer: MetadataWriter
  election: ControllerElection
  settings: ClusterSettings
  logger: Logger
  random?: () => number
  now?: () => number
}

const RETRY_MS = 1000
const MAX_CONFLICTS = 10
/** Allowance for clock skew between the asker and the controller when dropping expired requests. */
const EXPIRY_SKEW_MS = 1000

export class Controller {
  readonly #o: ControllerOptions
  readonly #random: () => number
  readonly #now: () => number
  #guard: ControllerGuard | null = null
  #queue: Promise<void> = Promise.resolve()
  #retryTimer: NodeJS.Timeout | null = null
  #preferredTimer: NodeJS.Timeout | null = null
  #drainWarned = new Set<number>()
  #closed = false

  constructor (options: ControllerOptions) {
    this.#o = options
    this.#random = options.random ?? Math.random
    this.#now = options.now ?? Date.now
    options.election.on('elected', guard => this.#onElected(guard))
    options.election.on('resigned', () => this.#onResigned())
    options.cache.on('change', change => this.#onChange(change))
  }

  /** True while this broker acts as the controller. */
  get active (): boolean { return this.#guard !== null }

  /** Resolves when the tasks queued so far have run (tests, clean shutdown). */
  async idle (): Promise<void> { await this.#queue }

  close (): void {
    this.#closed = true
    this.#onResigned()
  }

  // ---- control changes

  #onElected (guard: ControllerGuard): void {
    if (this.#closed) return
    this.#guard = guard
    this.#drainWarned.clear()
    this.#enqueue('catching up', async () => { await this.#o.cache.waitForRevision(guard.epoch) })
    this.#enqueueFullPass()
    const interval = this.#o.settings.preferredLeaderElectionIntervalMs
    if (interval > 0) {
      this.#preferredTimer = setInterval(() => this.#enqueue('preferred leader election', g => this.#converge(g, 'preferred leader election', () => this.#preferredChanges())), interval)
      this.#preferredTimer.unref()
    }
  }

  #onResigned (): void {
    this.#guard = null
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer)
    if (this.#preferredTimer !== null) clearInterval(this.#preferredTimer)
    this.#retryTimer = null
    this.#preferredTimer = null
  }

  #enqueueFullPass (): void {
    this.#enqueue('reconciling partitions', g => this.#converge(g, 'reconcile', () => this.#reconcileChanges()))
    this.#enqueue('removing records of deleted topics', g => this.#removeOrphans(g))
    this.#enqueue('answering pending requests', async g => {
      for (const [id, request] of this.#o.cache.requests) if (request.result === undefined) await this.#handleRequest(g, id)
    })
  }

  #onChange (change: MetadataChange): void {
    const guard = this.#guard
    if (guard === null) return
    const cache = this.#o.cache
    switch (change.type) {
      case 'controllerChanged':
        // Our candidate key gone (revoked, expired) means control is lost. Another key shown
        // ahead of ours only means the cache has not yet applied that key's deletion.
        if (cache.revision >= guard.epoch && cache.entry(guard.campaignKey) === undefined) {
          this.#o.election.stepDown('this broker\'s candidate key is gone from etcd')
        }
        return
      case 'brokerUnregistered':
        this.#o.logger.warn({ nodeId: change.nodeId }, 'broker lost: its registration expired or was removed')
        this.#enqueueBrokerLost(change.nodeId, change.previous.incarnationId)
        return
      case 'brokerRegistered':
        if (change.previous !== null && change.previous.incarnationId !== change.broker.incarnationId) {
          // Replaced without a deletion: the old incarnation is gone all the same.
          this.#enqueueBrokerLost(change.broker.nodeId, change.previous.incarnationId)
        } else if (change.previous !== null) {
          return
        }
        this.#o.logger.info({ nodeId: change.broker.nodeId, incarnationId: change.broker.incarnationId }, 'broker registered')
        this.#enqueue(`broker ${change.broker.nodeId} returned`, g => this.#converge(g, `broker ${change.broker.nodeId} returned`,
          () => this.#perPartition(p => onBrokerReturned([p], change.broker.nodeId, electionContext(this.#ctx(g), p.topic), g.epoch)[0] ?? null)))
        return
      case 'requestChanged':
        if (change.request !== null && change.request.result === undefined) this.#enqueue(`request ${change.requestId}`, g => this.#handleRequest(g, change.requestId))
        return
      case 'partitionChanged':
        if (isReassigning(change.partition)) this.#enqueue('reassignment progress', g => this.#converge(g, 'reassignment', () => this.#reconcileChanges()))
        return
      case 'decommissionChanged':
        if (change.decommissioned) this.#enqueue('draining a decommissioned broker', g => this.#converge(g, 'decommission', () => this.#reconcileChanges()))
        return
      default:
    }
  }

  /**
   * The broker's partitions as if it were dead. If a new incarnation registered before this
   * task runs (a fast restart), it counts as dead too: a restarted broker may have lost
   * unflushed records, so it rejoins ISRs through its leaders, not by surviving in them.
   */
  #enqueueBrokerLost (nodeId: number, incarnationId: string): void {
    this.#enqueue(`broker ${nodeId} lost`, g => this.#converge(g, `broker ${nodeId} lost`, () => this.#perPartition(p => {
      const live = this.#o.cache.liveBrokerIds()
      if (this.#o.cache.brokers.get(nodeId)?.incarnationId !== incarnationId) live.delete(nodeId)
      return onBrokerLost([p], nodeId, { ...electionContext(this.#ctx(g), p.topic), live }, g.epoch)[0] ?? null
    })))
  }

  // ---- the queue

  #enqueue (name: string, task: (guard: ControllerGuard) => Promise<void>): void {
    const guard = this.#guard
    if (guard === null) return
    this.#queue = this.#queue.then(async () => {
      if (this.#guard !== guard) return
      try {
        await task(guard)
      } catch (err) {
        this.#onTaskError(name, guard, err)
      }
    })
  }

  #onTaskError (name: string, guard: ControllerGuard, err: unknown): void {
    if (this.#guard !== guard) return
    if (err instanceof StaleControllerEpochError) {
      this.#o.election.stepDown(err.message)
      return
    }
    this.#o.logger.warn({ task: name, err: (err as Error).message, code: (err as SpoolError).code }, 'controller task failed; retrying')
    if (this.#retryTimer !== null) return
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null
      this.#enqueueFullPass()
    }, RETRY_MS)
    this.#retryTimer.unref()
  }

  #ctx (guard: ControllerGuard): PlanContext {
    const o = this.#o
    return { cache: o.cache, keys: o.keys, writer: o.writer, epoch: guard.epoch, uncleanLeaderElection: o.settings.uncleanLeaderElection, random: this.#random, nowMs: this.#now() }
  }

  // ---- partition changes in steps

  #perPartition (decide: (p: PartitionState) => PartitionChange | null): PartitionChange[] {
    const out: PartitionChange[] = []
    for (const p of this.#o.cache.partitions()) {
      const c = decide(p)
      if (c !== null) out.push(c)
      if (out.length >= MAX_PLAN_PARTITIONS) break
    }
    return out
  }

  /** Applies `compute()`'s changes 64 at a time, re-planning after each step, until none remain. */
  async #converge (guard: ControllerGuard, what: string, compute: () => PartitionChange[]): Promise<void> {
    const maxRounds = Math.ceil(this.#countPartitions() / MAX_PLAN_PARTITIONS) + 2 * MAX_CONFLICTS
    let conflicts = 0
    for (let round = 0; round < maxRounds; round++) {
      if (this.#guard !== guard) return
      const changes = compute().slice(0, MAX_PLAN_PARTITIONS)
      if (changes.length === 0) return
      const plan = emptyPlan()
      for (const c of changes) addPartitionChange(this.#ctx(guard), plan, c)
      try {
        await this.#o.writer.commit(guard, plan)
      } catch (err) {
        if (!(err instanceof MetadataConflictError) || ++conflicts > MAX_CONFLICTS) throw err
        await new Promise(resolve => setTimeout(resolve, 50))
        continue
      }
      for (const c of changes) this.#logChange(what, c)
    }
  }

  #countPartitions (): number {
    let n = 0
    for (const _ of this.#o.cache.partitions()) n++
    return n
  }

  #logChange (what: string, c: PartitionChange): void {
    const a = c.after
    const fields = { topic: a.topic, partition: a.partition, leader: a.leader, leaderEpoch: a.leaderEpoch, isr: a.isr, replicas: a.replicas, partitionEpoch: a.partitionEpoch, reason: c.reason, trigger: what }
    if (a.leader === NO_LEADER) this.#o.logger.warn(fields, 'partition offline: no in-sync replica is alive')
    else if (c.unclean) this.#o.logger.warn(fields, 'unclean leader election: records only the old ISR held are lost')
    else this.#o.logger.info(fields, a.leader !== c.before.leader ? 'partition leader changed' : 'partition state changed')
  }

  /** Reconciliation of every partition, then draining decommissioned brokers (at most one change per partition). */
  #reconcileChanges (): PartitionChange[] {
    const guard = this.#guard
    if (guard === null) return []
    const ctx = this.#ctx(guard)
    const cache = this.#o.cache
    const out = this.#perPartition(p => cache.topics.get(p.topic)?.topicId === p.topicId ? reconcilePartition(p, electionContext(ctx, p.topic), guard.epoch) : null)
    if (out.length >= MAX_PLAN_PARTITIONS) return out
    const touched = new Set(out.map(c => `${c.after.topic}/${c.after.partition}`))
    for (const nodeId of cache.decommissioned) {
      const broker = cache.brokers.get(nodeId)
      let moves: Array<{ topic: string, partition: number, target: number[] }>
      try {
        moves = planDecommission(cache.partitions(), nodeId, broker?.rack ?? null, placementBrokers(cache))
      } catch (err) {
        if (!this.#drainWarned.has(nodeId)) this.#o.logger.warn({ nodeId, err: (err as Error).message }, 'cannot drain a decommissioned broker yet')
        this.#drainWarned.add(nodeId)
        continue
      }
      for (const move of moves) {
        if (touched.has(`${move.topic}/${move.partition}`)) continue
        const p = cache.partition(move.topic, move.partition)!
        const change = startReassignment(p, move.target, electionContext(ctx, p.topic), guard.epoch)
        if (change === null) continue
        out.push(change)
        touched.add(`${move.topic}/${move.partition}`)
        if (out.length >= MAX_PLAN_PARTITIONS) return out
      }
    }
    return out
  }

  #preferredChanges (): PartitionChange[] {
    const guard = this.#guard
    if (guard === null) return []
    const ctx = this.#ctx(guard)
    return this.#perPartition(p => electPreferredLeader(p, electionContext(ctx, p.topic), guard.epoch).change)
  }

  async #removeOrphans (guard: ControllerGuard): Promise<void> {
    const cache = this.#o.cache
    for (let round = 0; round < 1000; round++) {
      const plan = emptyPlan()
      for (const p of cache.partitions()) {
        const topic = cache.topics.get(p.topic)
        if (topic !== undefined && topic.topicId === p.topicId) continue
        const key = this.#o.keys.partition(p.topic, p.partition)
        this.#o.writer.expectCurrent(plan, key)
        plan.deletes.push(key)
        if (plan.deletes.length >= MAX_PLAN_PARTITIONS) break
      }
      if (plan.deletes.length === 0) return
      await this.#o.writer.commit(guard, plan)
    }
  }

  // ---- requests

  async #handleRequest (guard: ControllerGuard, id: string): Promise<void> {
    const cache = this.#o.cache
    const key = this.#o.keys.request(id)
    for (let attempt = 0; attempt <= MAX_CONFLICTS; attempt++) {
      const request = cache.requests.get(id)
      const entry = cache.entry(key)
      if (request === undefined || request.result !== undefined || entry === undefined || this.#guard !== guard) return
      if (request.expiresAtMs !== undefined && this.#now() > request.expiresAtMs + EXPIRY_SKEW_MS) {
        const drop = emptyPlan()
        drop.expect.push({ key, modRevision: entry.modRevision })
        drop.deletes.push(key)
        try {
          await this.#o.writer.commit(guard, drop)
        } catch (err) {
          if (err instanceof MetadataConflictError) continue
          throw err
        }
        this.#o.logger.info({ requestId: id, kind: request.kind, from: request.from }, 'dropped a controller request its sender gave up on')
        return
      }
      let planned: PlannedRequest | null = null
      let result: RequestResult
      try {
        planned = planRequest(this.#ctx(guard), request)
        result = { ok: true, value: planned.value }
      } catch (err) {
        const typed = err instanceof SpoolError ? err : new InvalidRequestError(`malformed ${request.kind} request: ${(err as Error).message}`)
        result = { ok: false, errorCode: typed.errorCode, message: typed.message }
      }
      const plan: WritePlan = planned?.plan ?? emptyPlan()
      plan.expect.push({ key, modRevision: entry.modRevision })
      plan.puts.push({ key, value: { ...request, result } satisfies ControllerRequest, keepLease: true })
      try {
        await this.#o.writer.commit(guard, plan)
      } catch (err) {
        if (err instanceof MetadataConflictError) continue
        throw err
      }
      this.#o.logger.info({ requestId: id, kind: request.kind, from: request.from, ok: result.ok, ...(result.ok ? {} : { error: result.message }) }, 'controller request answered')
      if (planned?.followUp === 'drainDecommissioned') this.#enqueue('draining a decommissioned broker', g => this.#converge(g, 'decommission', () => this.#reconcileChanges()))
      if (planned?.followUp === 'preferredLeaders') this.#enqueue('preferred leader election', g => this.#converge(g, 'preferred leader election', () => this.#preferredChanges()))
      return
    }
    throw new MetadataUnavailableError(`request ${id} kept conflicting with other changes`)
  }
}
