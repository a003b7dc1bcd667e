/**
 * The controller's decisions, as pure functions of the metadata and the set of live brokers
 * (no etcd, no clock, no I/O): leader election, ISR changes, reassignment, decommission and
 * preferred-leader election. controller.ts feeds them from the metadata cache and writes their
 * results with compare-and-swap transactions.
 *
 * Rules (Kafka's, as its KRaft controller applies them):
 * - Leader election picks the first replica, in replica (preference) order, that is alive and
 *   in the ISR. Only with unclean leader election on may it pick a live replica outside the
 *   ISR; the ISR then becomes that replica alone (records only the old ISR had are lost).
 * - A dead broker leaves the ISR of every partition. When no ISR member is alive the ISR is
 *   left as it was, since each member holds every committed record, and the partition goes
 *   offline (leader -1) until one of them comes back and is elected.
 * - A broker that comes back is not given anything: it is a follower until the leader adds it
 *   to the ISR again, except that an offline partition elects it if it is in the ISR.
 * - Every change bumps partitionEpoch; a leader change, or a replica leaving `replicas`, also
 *   bumps leaderEpoch (so a removed replica's fetches are fenced).
 * - A reassignment first adds the new replicas (replicas = target + removing), and completes
 *   once every target replica is in the ISR: replicas = target, the removed ones leave the ISR,
 *   and leadership moves if the leader was removed.
 */

import {
  BrokerNotAvailableError, FencedLeaderEpochError, IneligibleReplicaError, InvalidPartitionsError,
  InvalidReplicationFactorError, InvalidRequestError, InvalidUpdateVersionError, NotLeaderOrFollowerError,
  UnknownLeaderEpochError,
} from '../../protocol/errors.js'
import { NO_LEADER, isReassigning, targetReplicas, type PartitionState, type TopicConfig, type TopicRecord } from './records.js'
import { placeReplicas, type PlacementBroker } from './placement.js'

export interface PartitionChange {
  before: PartitionState
  after: PartitionState
  /** Why it changed, for the log line. */
  reason: string
  /** The new leader was elected from outside the ISR. */
  unclean: boolean
}

export interface ElectionContext {
  live: ReadonlySet<number>
  uncleanLeaderElection: boolean
}

function sameList (a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/**
 * The change from `before` to `draft` (a copy with new replicas/ISR/leader, epochs untouched),
 * or null when nothing differs. partitionEpoch goes up by one; leaderEpoch goes up when the
 * leader changes or a replica is removed (as Kafka does, so removed replicas are fenced).
 */
function finalize (before: PartitionState, draft: PartitionState, reason: string, unclean: boolean, controllerEpoch: number): PartitionChange | null {
  const same = draft.leader === before.leader && sameList(draft.isr, before.isr) && sameList(draft.replicas, before.replicas) &&
    sameList(draft.addingReplicas, before.addingReplicas) && sameList(draft.removingReplicas, before.removingReplicas)
  if (same) return null
  const replicaRemoved = before.replicas.some(r => !draft.replicas.includes(r))
  const after: PartitionState = {
    ...draft,
    leaderEpoch: before.leaderEpoch + (draft.leader !== before.leader || replicaRemoved ? 1 : 0),
    partitionEpoch: before.partitionEpoch + 1,
    controllerEpoch,
  }
  return { before, after, reason, unclean }
}

/** A draft with its finished reassignment (every target replica in the ISR) completed. */
function completeDraft (d: PartitionState, context: ElectionContext): { draft: PartitionState, reason: string } | null {
  if (!isReassigning(d)) return null
  const target = targetReplicas(d)
  if (!target.every(r => d.isr.includes(r))) return null
  const isr = d.isr.filter(r => target.includes(r))
  let leader = d.leader
  if (leader === NO_LEADER || !target.includes(leader)) leader = chooseLeader(target, isr, { ...context, uncleanLeaderElection: false })?.leader ?? NO_LEADER
  return { draft: { ...d, replicas: target, isr, leader, addingReplicas: [], removingReplicas: [] }, reason: `reassignment to [${target.join(',')}] completed` }
}

function finalizeWithReassignment (before: PartitionState, draft: PartitionState, reason: string, unclean: boolean, context: ElectionContext, controllerEpoch: number): PartitionChange | null {
  const completed = completeDraft(draft, context)
  if (completed === null) return finalize(before, draft, reason, unclean, controllerEpoch)
  return finalize(before, completed.draft, reason === '' ? completed.reason : `${reason}; ${completed.reason}`, unclean, controllerEpoch)
}

/** Kafka's offline-partition election: the first live ISR member in replica order, else (unclean) the first live replica. */
export function chooseLeader (replicas: readonly number[], isr: readonly number[], context: ElectionContext): { leader: number, unclean: boolean } | null {
  const clean = replicas.find(r => context.live.has(r) && isr.includes(r))
  if (clean !== undefined) return { leader: clean, unclean: false }
  if (!context.uncleanLeaderElection) return null
  const unclean = replicas.find(r => context.live.has(r))
  return unclean === undefined ? null : { leader: unclean, unclean: true }
}

/** Whether unclean election applies to a topic (its config may override the cluster setting). */
export function uncleanAllowed (topic: TopicRecord | undefined, clusterDefault: boolean): boolean {
  const v = topic?.config.uncleanLeaderElection
  return typeof v === 'boolean' ? v : clusterDefault
}

/**
 * Brings one partition in line with the live set: dead brokers leave the ISR (unless none is
 * left), a dead leader is replaced, an offline partition elects, a finished reassignment
 * completes. Null when nothing changes.
 */
export function reconcilePartition (p: PartitionState, context: ElectionContext, controllerEpoch: number): PartitionChange | null {
  const liveIsr = p.isr.filter(r => context.live.has(r))
  if (liveIsr.length > 0) {
    const leaderOk = p.leader !== NO_LEADER && liveIsr.includes(p.leader)
    const leader = leaderOk ? p.leader : chooseLeader(p.replicas, liveIsr, { ...context, uncleanLeaderElection: false })!.leader
    const reason = liveIsr.length === p.isr.length && leaderOk ? '' : leaderOk ? 'dead replicas left the ISR'
      : p.leader === NO_LEADER ? 'offline partition elected an ISR member' : 'leader died; elected an ISR member'
    return finalizeWithReassignment(p, { ...p, isr: liveIsr, leader }, reason, false, context, controllerEpoch)
  }
  const choice = chooseLeader(p.replicas, p.isr, context)
  if (choice !== null) {
    return finalizeWithReassignment(p, { ...p, isr: [choice.leader], leader: choice.leader }, 'no ISR member alive; unclean election', true, context, controllerEpoch)
  }
  return finalize(p, { ...p, leader: NO_LEADER }, 'no ISR member alive; partition offline', false, controllerEpoch)
}

/** Reconciles every partition where `nodeId` was leader or in the ISR (a broker's lease expired). */
export function onBrokerLost (partitions: Iterable<PartitionState>, nodeId: number, context: ElectionContext, controllerEpoch: number): PartitionChange[] {
  const out: PartitionChange[] = []
  for (const p of partitions) {
    if (p.leader !== nodeId && !p.isr.includes(nodeId)) continue
    const change = reconcilePartition(p, context, controllerEpoch)
    if (change !== null) out.push(change)
  }
  return out
}

/** Elects leaders for offline partitions the returning broker can lead; touches nothing else. */
export function onBrokerReturned (partitions: Iterable<PartitionState>, nodeId: number, context: ElectionContext, controllerEpoch: number): PartitionChange[] {
  const out: PartitionChange[] = []
  for (const p of partitions) {
    if (p.leader !== NO_LEADER || !p.replicas.includes(nodeId)) continue
    const change = reconcilePartition(p, context, controllerEpoch)
    if (change !== null && change.after.leader !== NO_LEADER) out.push(change)
  }
  return out
}

export interface IsrChangeRequest {
  topic: string
  partition: number
  /** The broker asking: must be the current leader. */
  leader: number
  leaderEpoch: number
  partitionEpoch: number
  isr: number[]
}

/**
 * Kafka's AlterPartition checks: the asker is the leader of the current leader epoch, it names
 * the current partition epoch, and the new ISR holds the leader, only replicas, and (for
 * members it adds) live brokers. Throws the typed error of the first failed check; returns the
 * new state (null when the ISR is already that).
 */
export function applyIsrChange (p: PartitionState, request: IsrChangeRequest, context: ElectionContext, controllerEpoch: number): PartitionChange | null {
  if (request.leaderEpoch < p.leaderEpoch) throw new FencedLeaderEpochError(`${p.topic}-${p.partition}: leader epoch ${request.leaderEpoch} is older than ${p.leaderEpoch}`)
  if (request.leaderEpoch > p.leaderEpoch) throw new UnknownLeaderEpochError(`${p.topic}-${p.partition}: leader epoch ${request.leaderEpoch} is newer than ${p.leaderEpoch}`)
  if (request.leader !== p.leader) throw new NotLeaderOrFollowerError(`${p.topic}-${p.partition}: broker ${request.leader} is not the leader (${p.leader} is)`)
  if (request.partitionEpoch !== p.partitionEpoch) {
    throw new InvalidUpdateVersionError(`${p.topic}-${p.partition}: partition epoch ${request.partitionEpoch} is not the current ${p.partitionEpoch}`)
  }
  const isr = request.isr
  if (!Array.isArray(isr) || isr.length === 0 || new Set(isr).size !== isr.length || !isr.every(r => Number.isSafeInteger(r))) {
    throw new InvalidRequestError(`${p.topic}-${p.partition}: the new ISR must be a non-empty list of distinct broker ids`)
  }
  if (!isr.includes(p.leader)) throw new InvalidRequestError(`${p.topic}-${p.partition}: the new ISR must contain the leader ${p.leader}`)
  const notReplica = isr.find(r => !p.replicas.includes(r))
  if (notReplica !== undefined) throw new IneligibleReplicaError(`${p.topic}-${p.partition}: broker ${notReplica} is not a replica`)
  const deadNewcomer = isr.find(r => !p.isr.includes(r) && !context.live.has(r))
  if (deadNewcomer !== undefined) throw new IneligibleReplicaError(`${p.topic}-${p.partition}: broker ${deadNewcomer} is not alive`)
  const ordered = p.replicas.filter(r => isr.includes(r))
  if (sameList(ordered, p.isr)) return null
  const reason = ordered.length < p.isr.length ? 'leader shrank the ISR' : 'leader changed the ISR'
  return finalizeWithReassignment(p, { ...p, isr: ordered }, reason, false, context, controllerEpoch)
}

/** Completes a reassignment whose target replicas are all in the ISR; null when not ready. */
export function completeReassignmentIfReady (p: PartitionState, context: ElectionContext, controllerEpoch: number): PartitionChange | null {
  const completed = completeDraft(p, context)
  return completed === null ? null : finalize(p, completed.draft, completed.reason, false, controllerEpoch)
}

/**
 * Starts moving a partition to `target` (Kafka's KIP-455 model; an ongoing reassignment is
 * replaced). Completes at once when every target replica is already in the ISR.
 */
export function startReassignment (p: PartitionState, target: readonly number[], context: ElectionContext, controllerEpoch: number): PartitionChange | null {
  if (!Array.isArray(target) || target.length === 0 || new Set(target).size !== target.length || !target.every(r => Number.isSafeInteger(r) && r >= 0)) {
    throw new InvalidRequestError(`${p.topic}-${p.partition}: target replicas must be a non-empty list of distinct broker ids`)
  }
  const newcomer = target.find(r => !p.replicas.includes(r) && !context.live.has(r))
  if (newcomer !== undefined) throw new BrokerNotAvailableError(`${p.topic}-${p.partition}: broker ${newcomer} is not a live broker`)
  const original = p.replicas.filter(r => !p.addingReplicas.includes(r))
  const adding = target.filter(r => !original.includes(r))
  const removing = p.replicas.filter(r => !target.includes(r))
  const reason = adding.length > 0 || removing.length > 0 ? `reassignment to [${target.join(',')}] started` : 'replica order changed'
  return finalizeWithReassignment(p, { ...p, replicas: [...target, ...removing], addingReplicas: adding, removingReplicas: removing }, reason, false, context, controllerEpoch)
}

export type PreferredOutcome = 'elected' | 'alreadyPreferred' | 'preferredNotAvailable'

/** Moves leadership to the first replica when it is alive and in the ISR. */
export function electPreferredLeader (p: PartitionState, context: ElectionContext, controllerEpoch: number): { outcome: PreferredOutcome, change: PartitionChange | null } {
  const preferred = p.replicas[0]!
  if (p.leader === preferred) return { outcome: 'alreadyPreferred', change: null }
  if (!context.live.has(preferred) || !p.isr.includes(preferred)) return { outcome: 'preferredNotAvailable', change: null }
  return { outcome: 'elected', change: finalize(p, { ...p, leader: preferred }, 'preferred leader election', false, controllerEpoch) }
}

/**
 * Where every replica on `nodeId` goes: for each partition holding one, the target replica
 * list with `nodeId` replaced (in place, so preference order is kept) by a live broker outside
 * the list, preferring `nodeId`'s rack, then the broker with the fewest replicas, then the
 * lowest id. Throws InvalidReplicationFactorError when a partition has no such broker.
 */
export function planDecommission (partitions: Iterable<PartitionState>, nodeId: number, nodeRack: string | null, candidates: readonly PlacementBroker[]): Array<{ topic: string, partition: number, target: number[] }> {
  const all = [...partitions]
  const load = new Map<number, number>(candidates.map(b => [b.nodeId, 0]))
  for (const p of all) for (const r of targetReplicas(p)) if (load.has(r)) load.set(r, load.get(r)! + 1)
  const out: Array<{ topic: string, partition: number, target: number[] }> = []
  for (const p of all.sort((a, b) => a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition)) {
    const target = targetReplicas(p)
    const at = target.indexOf(nodeId)
    if (at < 0) continue
    const choices = candidates.filter(b => b.nodeId !== nodeId && !target.includes(b.nodeId))
    if (choices.length === 0) {
      throw new InvalidReplicationFactorError(`cannot move ${p.topic}-${p.partition} off broker ${nodeId}: every other live broker already holds a replica`)
    }
    choices.sort((a, b) => {
      const rackA = nodeRack !== null && a.rack === nodeRack ? 0 : 1
      const rackB = nodeRack !== null && b.rack === nodeRack ? 0 : 1
      return rackA - rackB || load.get(a.nodeId)! - load.get(b.nodeId)! || a.nodeId - b.nodeId
    })
    const chosen = choices[0]!.nodeId
    load.set(chosen, load.get(chosen)! + 1)
    const next = [...target]
    next[at] = chosen
    out.push({ topic: p.topic, partition: p.partition, target: next })
  }
  return out
}

export interface NewTopic {
  name: string
  topicId: string
  partitions: number
  replicationFactor: number
  config: TopicConfig
  /** Explicit replica lists, one per partition, instead of placement. */
  assignment?: number[][]
  createdAtMs: number
}

/** The records of a new topic: placement (or the given assignment), ISR = replicas, leader = first replica. */
export function planNewTopic (topic: NewTopic, brokers: readonly PlacementBroker[], controllerEpoch: number, random: () => number = Math.random): { topic: TopicRecord, partitions: PartitionState[] } {
  let assignment: number[][]
  if (topic.assignment !== undefined) {
    assignment = topic.assignment
    if (assignment.length !== topic.partitions) throw new InvalidPartitionsError(`assignment lists ${assignment.length} partitions, the topic has ${topic.partitions}`)
    const live = new Set(brokers.map(b => b.nodeId))
    for (const replicas of assignment) {
      if (replicas.length !== topic.replicationFactor || new Set(replicas).size !== replicas.length) {
        throw new InvalidReplicationFactorError(`each partition needs ${topic.replicationFactor} distinct replicas, got [${replicas.join(',')}]`)
      }
      const missing = replicas.find(r => !live.has(r))
      if (missing !== undefined) throw new BrokerNotAvailableError(`broker ${missing} is not a live broker`)
    }
  } else {
    assignment = placeReplicas({ partitions: topic.partitions, replicationFactor: topic.replicationFactor, brokers }, random)
  }
  const record: TopicRecord = {
    name: topic.name,
    topicId: topic.topicId,
    partitionCount: topic.partitions,
    replicationFactor: topic.replicationFactor,
    config: topic.config,
    createdAtMs: topic.createdAtMs,
    controllerEpoch,
  }
  const partitions = assignment.map((replicas, partition): PartitionState => ({
    topic: topic.name,
    partition,
    topicId: topic.topicId,
    replicas: [...replicas],
    isr: [...replicas],
    leader: replicas[0]!,
    leaderEpoch: 0,
    partitionEpoch: 0,
    addingReplicas: [],
    removingReplicas: [],
    controllerEpoch,
  }))
  return { topic: record, partitions }
}
