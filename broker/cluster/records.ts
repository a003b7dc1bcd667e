/**
 * The values stored under the cluster's etcd keys (keys.ts), as JSON, and their checks. A value
 * that fails its check is logged and ignored by the metadata cache: a broker never acts on a
 * record it cannot read.
 *
 *   BrokerRegistration   { nodeId, incarnationId, rack, listeners: { native: {host, port}, ... },
 *                          registeredAtMs, leaseId }
 *   ControllerCandidate  { nodeId, incarnationId }                 (election value)
 *   TopicRecord          { name, topicId, partitionCount, replicationFactor, config,
 *                          createdAtMs, controllerEpoch }
 *   PartitionState       { topic, partition, topicId, replicas, isr, leader, leaderEpoch,
 *                          partitionEpoch, addingReplicas, removingReplicas, controllerEpoch }
 *   ControllerRequest    { id, kind, from, incarnationId, createdAtMs, body, result? }
 *   ProducerIdCounter    { nextBlockStart }
 *
 * PartitionState follows Kafka's PartitionRecord: `replicas` in preference order (the first is
 * the preferred leader); while a reassignment runs, `replicas` = target replicas followed by
 * the ones being removed, `addingReplicas` = target - original, `removingReplicas` = original -
 * target. `leader` is NO_LEADER (-1) when the partition is offline. `leaderEpoch` goes up by one
 * at every leader change, `partitionEpoch` at every change of the record (it is the version an
 * ISR change request must name).
 */

import type { HostPort, ListenerProtocol } from './settings.js'
import { LISTENER_PROTOCOLS } from './settings.js'

export const NO_LEADER = -1

export interface BrokerRegistration {
  nodeId: number
  /** Random id of this broker process: a restarted broker has a new one. */
  incarnationId: string
  rack: string | null
  listeners: Partial<Record<ListenerProtocol, HostPort>>
  registeredAtMs: number
  /** The etcd lease the registration lives under (decimal). */
  leaseId: string
}

export interface ControllerCandidate {
  nodeId: number
  incarnationId: string
}

export type TopicConfig = Record<string, string | number | boolean | null>

export interface TopicRecord {
  name: string
  topicId: string
  partitionCount: number
  replicationFactor: number
  config: TopicConfig
  createdAtMs: number
  controllerEpoch: number
}

export interface PartitionState {
  topic: string
  partition: number
  topicId: string
  replicas: number[]
  isr: number[]
  leader: number
  leaderEpoch: number
  partitionEpoch: number
  addingReplicas: number[]
  removingReplicas: number[]
  controllerEpoch: number
}

export interface ProducerIdCounter { nextBlockStart: number }

/** A stored value that fails its check (internal: the cache logs and skips it, never sends it). */
export class RecordFormatError extends Error {
  override readonly name = 'RecordFormatError'
}

function fail (what: string, why: string): never {
  throw new RecordFormatError(`${what}: ${why}`)
}

function obj (what: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(what, 'not an object')
  return v as Record<string, unknown>
}

function int (what: string, v: unknown, min = 0): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) fail(what, `not an integer >= ${min}`)
  return v
}

function str (what: string, v: unknown): string {
  if (typeof v !== 'string' || v === '') fail(what, 'not a non-empty string')
  return v
}

function ids (what: string, v: unknown): number[] {
  if (!Array.isArray(v)) fail(what, 'not an array')
  const out = v.map(x => int(what, x))
  if (new Set(out).size !== out.length) fail(what, 'has duplicates')
  return out
}

export function parseBrokerRegistration (v: unknown): BrokerRegistration {
  const o = obj('broker', v)
  const listeners: Partial<Record<ListenerProtocol, HostPort>> = {}
  for (const [protocol, hp] of Object.entries(obj('broker.listeners', o.listeners))) {
    if (!(LISTENER_PROTOCOLS as readonly string[]).includes(protocol)) continue
    const h = obj('broker.listeners', hp)
    listeners[protocol as ListenerProtocol] = { host: str('listener host', h.host), port: int('listener port', h.port) }
  }
  return {
    nodeId: int('broker.nodeId', o.nodeId),
    incarnationId: str('broker.incarnationId', o.incarnationId),
    rack: o.rack === null ? null : str('broker.rack', o.rack),
    listeners,
    registeredAtMs: int('broker.registeredAtMs', o.registeredAtMs),
    leaseId: str('broker.leaseId', o.leaseId),
  }
}

export function parseCandidate (v: unknown): ControllerCandidate {
  const o = obj('candidate', v)
  return { nodeId: int('candidate.nodeId', o.nodeId), incarnationId: str('candidate.incarnationId', o.incarnationId) }
}

export function parseTopicRecord (v: unknown): TopicRecord {
  const o = obj('topic', v)
  const config: TopicConfig = {}
  for (const [k, x] of Object.entries(obj('topic.config', o.config))) {
    if (x !== null && !['string', 'number', 'boolean'].includes(typeof x)) fail('topic.config', `${k} is not a scalar`)
    config[k] = x as string | number | boolean | null
  }
  return {
    name: str('topic.name', o.name),
    topicId: str('topic.topicId', o.topicId),
    partitionCount: int('topic.partitionCount', o.partitionCount, 1),
    replicationFactor: int('topic.replicationFactor', o.replicationFactor, 1),
    config,
    createdAtMs: int('topic.createdAtMs', o.createdAtMs),
    controllerEpoch: int('topic.controllerEpoch', o.controllerEpoch),
  }
}

export function parsePartitionState (v: unknown): PartitionState {
  const o = obj('partition', v)
  const state: PartitionState = {
    topic: str('partition.topic', o.topic),
    partition: int('partition.partition', o.partition),
    topicId: str('partition.topicId', o.topicId),
    replicas: ids('partition.replicas', o.replicas),
    isr: ids('partition.isr', o.isr),
    leader: int('partition.leader', o.leader, NO_LEADER),
    leaderEpoch: int('partition.leaderEpoch', o.leaderEpoch),
    partitionEpoch: int('partition.partitionEpoch', o.partitionEpoch),
    addingReplicas: ids('partition.addingReplicas', o.addingReplicas),
    removingReplicas: ids('partition.removingReplicas', o.removingReplicas),
    controllerEpoch: int('partition.controllerEpoch', o.controllerEpoch),
  }
  if (state.replicas.length === 0) fail('partition.replicas', 'is empty')
  if (!state.isr.every(r => state.replicas.includes(r))) fail('partition.isr', 'names a broker that is not a replica')
  if (state.leader !== NO_LEADER && !state.isr.includes(state.leader)) fail('partition.leader', 'is not in the ISR')
  return state
}

export function parseProducerIdCounter (v: unknown): ProducerIdCounter {
  return { nextBlockStart: int('producerIds.nextBlockStart', obj('producerIds', v).nextBlockStart) }
}

/** True when the partition has a reassignment in progress. */
export function isReassigning (p: PartitionState): boolean {
  return p.addingReplicas.length > 0 || p.removingReplicas.length > 0
}

/** The replicas the partition will have once its reassignment (if any) completes. */
export function targetReplicas (p: PartitionState): number[] {
  return p.replicas.filter(r => !p.removingReplicas.includes(r))
}

export function partitionKeyOf (topic: string, partition: number): string {
  return `${topic}/${partition}`
}
