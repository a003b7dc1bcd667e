/**
 * Turns one controller request (requests.ts) into the write plan that carries it out, read
 * against the metadata cache: checks the body (typed errors for the asker), runs the pure
 * decisions of controller-logic.ts, and lists the keys read (for compare-and-swap) and the
 * records to write. Nothing here talks to etcd; controller.ts commits the plan together with
 * the request's answer.
 *
 * Topic config keys: the log settings of storage/config.ts (retentionMs, cleanupPolicy, ...)
 * plus `uncleanLeaderElection` (boolean; overrides the cluster setting for the topic) and
 * `minInsyncReplicas` (integer >= 1, for acks=all).
 */

import { randomUUID } from 'node:crypto'
import {
  InvalidConfigError, InvalidPartitionsError, InvalidReplicationFactorError, InvalidRequestError,
  TopicAlreadyExistsError, UnknownTopicOrPartitionError,
} from '../../protocol/errors.js'
import { validateLogConfig, type LogConfig } from '../storage/config.js'
import { validateTopicName } from '../storage/log-manager.js'
import {
  applyIsrChange, electPreferredLeader, planNewTopic, startReassignment, uncleanAllowed,
  type ElectionContext, type IsrChangeRequest, type PartitionChange,
} from './controller-logic.js'
import type { ClusterKeys } from './keys.js'
import type { MetadataCache } from './metadata-cache.js'
import { MAX_PLAN_PARTITIONS, emptyPlan, type MetadataWriter, type WritePlan } from './metadata-writer.js'
import { placeReplicas, type PlacementBroker } from './placement.js'
import type { PartitionState, TopicConfig, TopicRecord } from './records.js'
import type { ControllerRequest, CreateTopicBody, RequestBodies, RequestKind, RequestResults } from './requests.js'

export const MAX_PARTITIONS_PER_TOPIC = 10_000

export interface PlanContext {
  cache: MetadataCache
  keys: ClusterKeys
  writer: MetadataWriter
  epoch: number
  uncleanLeaderElection: boolean
  random: () => number
  nowMs: number
}

export interface PlannedRequest<K extends RequestKind = RequestKind> {
  plan: WritePlan
  value: RequestResults[K]
  /** Work the controller continues after answering (large jobs are applied in steps). */
  followUp: 'drainDecommissioned' | 'preferredLeaders' | null
}

/** Brokers that may receive new replicas: registered and not being decommissioned. */
export function placementBrokers (cache: MetadataCache): PlacementBroker[] {
  return [...cache.brokers.values()].filter(b => !cache.decommissioned.has(b.nodeId)).map(b => ({ nodeId: b.nodeId, rack: b.rack }))
}

export function electionContext (ctx: Pick<PlanContext, 'cache' | 'uncleanLeaderElection'>, topic: string): ElectionContext {
  return { live: ctx.cache.liveBrokerIds(), uncleanLeaderElection: uncleanAllowed(ctx.cache.topics.get(topic), ctx.uncleanLeaderElection) }
}

/** Adds a partition change to a plan (expecting the partition as the cache has it). */
export function addPartitionChange (ctx: Pick<PlanContext, 'keys' | 'writer'>, plan: WritePlan, change: PartitionChange): void {
  const key = ctx.keys.partition(change.after.topic, change.after.partition)
  ctx.writer.expectCurrent(plan, key)
  plan.puts.push({ key, value: change.after })
}

function intIn (name: string, v: unknown, min: number, max: number, error: new (m: string) => Error): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw new error(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`)
  return v
}

/** Checks a topic config (see the header); null values are kept (they mean "remove" in alterTopicConfig). */
export function validateTopicConfig (config: unknown): TopicConfig {
  if (config === undefined) return {}
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new InvalidConfigError('topic config must be an object')
  const out: TopicConfig = {}
  const logPart: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(config)) {
    if (v === null) { out[k] = null; continue }
    if (k === 'uncleanLeaderElection') {
      if (typeof v !== 'boolean') throw new InvalidConfigError(`uncleanLeaderElection must be true or false, got ${JSON.stringify(v)}`)
    } else if (k === 'minInsyncReplicas') {
      intIn('minInsyncReplicas', v, 1, 1000, InvalidConfigError)
    } else {
      logPart[k] = v
    }
    out[k] = v as string | number | boolean
  }
  validateLogConfig(logPart as Partial<LogConfig>)
  return out
}

function topicOrThrow (cache: MetadataCache, name: unknown): TopicRecord {
  const topic = typeof name === 'string' ? cache.topics.get(name) : undefined
  if (topic === undefined) throw new UnknownTopicOrPartitionError(`topic ${JSON.stringify(name)} does not exist`)
  return topic
}

function partitionOrThrow (cache: MetadataCache, topic: unknown, partition: unknown): PartitionState {
  const p = typeof topic === 'string' && typeof partition === 'number' ? cache.partition(topic, partition) : undefined
  if (p === undefined) throw new UnknownTopicOrPartitionError(`partition ${String(topic)}-${String(partition)} does not exist`)
  return p
}

function planCreateTopic (ctx: PlanContext, body: CreateTopicBody): PlannedRequest<'createTopic'> {
  const name = validateTopicName(body.name, body.internal === true)
  const partitions = intIn('partitions', body.partitions, 1, MAX_PARTITIONS_PER_TOPIC, InvalidPartitionsError)
  const replicationFactor = intIn('replicationFactor', body.replicationFactor, 1, 1000, InvalidReplicationFactorError)
  if (ctx.cache.topics.has(name)) throw new TopicAlreadyExistsError(`topic ${JSON.stringify(name)} already exists`)
  const config = Object.fromEntries(Object.entries(validateTopicConfig(body.config)).filter(([, v]) => v !== null))
  if (partitions > MAX_PLAN_PARTITIONS * 2 - 2) {
    throw new InvalidPartitionsError(`a topic is created with at most ${MAX_PLAN_PARTITIONS * 2 - 2} partitions at once; add more with createPartitions`)
  }
  const planned = planNewTopic({
    name, topicId: randomUUID(), partitions, replicationFactor, config, createdAtMs: ctx.nowMs,
    ...(body.assignment === undefined ? {} : { assignment: body.assignment }),
  }, placementBrokers(ctx.cache), ctx.epoch, ctx.random)
  const plan = emptyPlan()
  plan.expect.push({ key: ctx.keys.topic(name), modRevision: 0 })
  plan.puts.push({ key: ctx.keys.topic(name), value: planned.topic })
  for (const p of planned.partitions) plan.puts.push({ key: ctx.keys.partition(name, p.partition), value: p })
  return { plan, value: planned.topic, followUp: null }
}

function planCreatePartitions (ctx: PlanContext, body: RequestBodies['createPartitions']): PlannedRequest<'createPartitions'> {
  const topic = topicOrThrow(ctx.cache, body.name)
  const total = intIn('totalCount', body.totalCount, topic.partitionCount + 1, MAX_PARTITIONS_PER_TOPIC, InvalidPartitionsError)
  const added = total - topic.partitionCount
  if (added > MAX_PLAN_PARTITIONS * 2 - 4) throw new InvalidPartitionsError(`at most ${MAX_PLAN_PARTITIONS * 2 - 4} partitions can be added at once`)
  const lists = placeReplicas({ partitions: added, replicationFactor: topic.replicationFactor, brokers: placementBrokers(ctx.cache), firstPartition: topic.partitionCount }, ctx.random)
  const record: TopicRecord = { ...topic, partitionCount: total, controllerEpoch: ctx.epoch }
  const plan = emptyPlan()
  ctx.writer.expectCurrent(plan, ctx.keys.topic(topic.name))
  plan.puts.push({ key: ctx.keys.topic(topic.name), value: record })
  lists.forEach((replicas, i) => {
    const partition = topic.partitionCount + i
    const state: PartitionState = {
      topic: topic.name, partition, topicId: topic.topicId, replicas, isr: [...replicas], leader: replicas[0]!, leaderEpoch: 0,
      partitionEpoch: 0, addingReplicas: [], removingReplicas: [], controllerEpoch: ctx.epoch,
    }
    plan.expect.push({ key: ctx.keys.partition(topic.name, partition), modRevision: 0 })
    plan.puts.push({ key: ctx.keys.partition(topic.name, partition), value: state })
  })
  return { plan, value: record, followUp: null }
}

function planDeleteTopic (ctx: PlanContext, body: RequestBodies['deleteTopic']): PlannedRequest<'deleteTopic'> {
  const topic = topicOrThrow(ctx.cache, body.name)
  const plan = emptyPlan()
  ctx.writer.expectCurrent(plan, ctx.keys.topic(topic.name))
  plan.deletes.push(ctx.keys.topic(topic.name))
  for (let p = 0; p < topic.partitionCount; p++) plan.deletes.push(ctx.keys.partition(topic.name, p))
  if (plan.deletes.length > MAX_PLAN_PARTITIONS * 2 - 1) {
    // Deleting the topic record is what matters; leftover partition records are removed by the
    // controller's reconciliation (partitions whose topic is gone or has another id).
    plan.deletes.length = MAX_PLAN_PARTITIONS * 2 - 1
  }
  return { plan, value: { name: topic.name, partitions: topic.partitionCount }, followUp: null }
}

function planAlterTopicConfig (ctx: PlanContext, body: RequestBodies['alterTopicConfig']): PlannedRequest<'alterTopicConfig'> {
  const topic = topicOrThrow(ctx.cache, body.name)
  const changes = validateTopicConfig(body.config)
  const config: TopicConfig = { ...topic.config }
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) delete config[k]
    else config[k] = v
  }
  const record: TopicRecord = { ...topic, config, controllerEpoch: ctx.epoch }
  const plan = emptyPlan()
  ctx.writer.expectCurrent(plan, ctx.keys.topic(topic.name))
  plan.puts.push({ key: ctx.keys.topic(topic.name), value: record })
  return { plan, value: record, followUp: null }
}

function planAlterIsr (ctx: PlanContext, body: IsrChangeRequest): PlannedRequest<'alterIsr'> {
  const p = partitionOrThrow(ctx.cache, body.topic, body.partition)
  const change = applyIsrChange(p, body, electionContext(ctx, p.topic), ctx.epoch)
  const plan = emptyPlan()
  if (change === null) return { plan, value: p, followUp: null }
  addPartitionChange(ctx, plan, change)
  return { plan, value: change.after, followUp: null }
}

function planReassign (ctx: PlanContext, body: RequestBodies['reassignPartitions']): PlannedRequest<'reassignPartitions'> {
  if (!Array.isArray(body.moves) || body.moves.length === 0 || body.moves.length > MAX_PLAN_PARTITIONS) {
    throw new InvalidRequestError(`a reassignment moves 1 to ${MAX_PLAN_PARTITIONS} partitions`)
  }
  const plan = emptyPlan()
  let started = 0
  let completed = 0
  for (const move of body.moves) {
    const p = partitionOrThrow(ctx.cache, move.topic, move.partition)
    const change = startReassignment(p, move.replicas, electionContext(ctx, p.topic), ctx.epoch)
    if (change === null) continue
    addPartitionChange(ctx, plan, change)
    if (change.after.addingReplicas.length > 0 || change.after.removingReplicas.length > 0) started++
    else completed++
  }
  return { plan, value: { started, completed }, followUp: null }
}

function planPreferred (ctx: PlanContext, body: RequestBodies['electPreferredLeaders']): PlannedRequest<'electPreferredLeaders'> {
  const plan = emptyPlan()
  const results: RequestResults['electPreferredLeaders']['results'] = []
  if (body.partitions === null) return { plan, value: { results }, followUp: 'preferredLeaders' }
  if (!Array.isArray(body.partitions) || body.partitions.length > MAX_PLAN_PARTITIONS) throw new InvalidRequestError(`name at most ${MAX_PLAN_PARTITIONS} partitions, or none for all`)
  for (const ref of body.partitions) {
    const p = ctx.cache.partition(ref.topic, ref.partition)
    if (p === undefined) { results.push({ ...ref, outcome: 'unknownPartition' }); continue }
    const { outcome, change } = electPreferredLeader(p, electionContext(ctx, p.topic), ctx.epoch)
    results.push({ topic: p.topic, partition: p.partition, outcome })
    if (change !== null) addPartitionChange(ctx, plan, change)
  }
  return { plan, value: { results }, followUp: null }
}

function planDecommission (ctx: PlanContext, body: RequestBodies['decommissionBroker']): PlannedRequest<'decommissionBroker'> {
  const nodeId = intIn('nodeId', body.nodeId, 0, 0x7fffffff, InvalidRequestError)
  if (placementBrokers(ctx.cache).filter(b => b.nodeId !== nodeId).length === 0) {
    throw new InvalidReplicationFactorError(`cannot decommission broker ${nodeId}: no other live broker could take its replicas`)
  }
  const plan = emptyPlan()
  plan.puts.push({ key: ctx.keys.decommissioned(nodeId), value: { nodeId, sinceMs: ctx.nowMs, controllerEpoch: ctx.epoch } })
  let moved = 0
  for (const p of ctx.cache.partitions()) if (p.replicas.includes(nodeId)) moved++
  return { plan, value: { moved }, followUp: 'drainDecommissioned' }
}

function planRecommission (ctx: PlanContext, body: RequestBodies['recommissionBroker']): PlannedRequest<'recommissionBroker'> {
  const nodeId = intIn('nodeId', body.nodeId, 0, 0x7fffffff, InvalidRequestError)
  const plan = emptyPlan()
  plan.deletes.push(ctx.keys.decommissioned(nodeId))
  return { plan, value: { nodeId }, followUp: null }
}

/** The plan for `request` (throws the typed error the asker gets back). */
export function planRequest (ctx: PlanContext, request: ControllerRequest): PlannedRequest {
  const body = request.body as never
  switch (request.kind) {
    case 'createTopic': return planCreateTopic(ctx, body)
    case 'createPartitions': return planCreatePartitions(ctx, body)
    case 'deleteTopic': return planDeleteTopic(ctx, body)
    case 'alterTopicConfig': return planAlterTopicConfig(ctx, body)
    case 'alterIsr': return planAlterIsr(ctx, body)
    case 'reassignPartitions': return planReassign(ctx, body)
    case 'electPreferredLeaders': return planPreferred(ctx, body)
    case 'decommissionBroker': return planDecommission(ctx, body)
    case 'recommissionBroker': return planRecommission(ctx, body)
  }
}
