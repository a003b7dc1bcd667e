/**
 * One consumer group's state and its reconciliation rules (KIP-848 in spirit; see
 * protocol/native/apis/group-heartbeat.ts for the member's side).
 *
 * - groupEpoch rises on every change that can move partitions: a member joins or leaves or
 *   changes its subscription, a member is evicted, a subscribed topic's partition count
 *   changes. When groupEpoch > assignmentEpoch the target assignment is recomputed.
 * - Each member has `assigned` (partitions it may own now; what heartbeats return) and
 *   `revoking` (partitions taken from it that it has not yet confirmed releasing). A
 *   partition of a member's target is added to its `assigned` only when no other member
 *   has it in `assigned` or `revoking`: no partition is ever owned by two live members.
 * - A member's epoch rises each time its assignment changes; commits must carry the current
 *   (or the just-previous) epoch and name partitions in assigned ∪ revoking.
 * Not safe for concurrent use; the coordinator serialises calls (single thread).
 */

import { assignPartitions, type Assignment, type TopicPartition } from './assignor.js'

export interface Member {
  memberId: string
  instanceId: string | null
  clientId: string
  clientHost: string
  memberEpoch: number
  previousMemberEpoch: number
  subscribedTopics: string[]
  rebalanceTimeoutMs: number
  sessionTimeoutMs: number
  lastHeartbeatMs: number
  assigned: Set<TopicPartition>
  revoking: Set<TopicPartition>
  /** When the member must have released `revoking`, or null. */
  revokeDeadlineMs: number | null
  /** A static member that left with epoch -2: its partitions wait for it until its session ends. */
  leftTemporarily: boolean
}

export interface CommittedOffset {
  offset: number
  metadata: string | null
  commitTimestampMs: number
  /** The leader epoch a Kafka client committed with (OffsetCommit v6+), if any. */
  leaderEpoch?: number
}

export type GroupState = 'empty' | 'reconciling' | 'stable'

export class Group {
  readonly groupId: string
  groupEpoch = 0
  assignmentEpoch = 0
  readonly members = new Map<string, Member>()
  target: Assignment = new Map()
  readonly offsets = new Map<TopicPartition, CommittedOffset>()
  /** Partition counts the target was computed with. */
  partitionCounts = new Map<string, number>()

  constructor (groupId: string) {
    this.groupId = groupId
  }

  get state (): GroupState {
    if (this.members.size === 0) return 'empty'
    for (const m of this.members.values()) {
      if (m.revoking.size > 0) return 'reconciling'
      const target = this.target.get(m.memberId)
      if (target === undefined) continue
      if (target.size !== m.assigned.size) return 'reconciling'
      for (const tp of target) if (!m.assigned.has(tp)) return 'reconciling'
    }
    return this.groupEpoch > this.assignmentEpoch ? 'reconciling' : 'stable'
  }

  /** Topics any member subscribes to. */
  subscribedTopics (): Set<string> {
    const out = new Set<string>()
    for (const m of this.members.values()) for (const t of m.subscribedTopics) out.add(t)
    return out
  }

  findByInstance (instanceId: string): Member | undefined {
    for (const m of this.members.values()) if (m.instanceId === instanceId) return m
    return undefined
  }

  /** The member holding `tp` (assigned or still revoking), if any. */
  ownerOf (tp: TopicPartition): Member | undefined {
    for (const m of this.members.values()) if (m.assigned.has(tp) || m.revoking.has(tp)) return m
    return undefined
  }

  /** Marks a change that may move partitions. */
  bump (): void {
    this.groupEpoch++
  }

  /** Recomputes the target if the group changed since it was computed. */
  refreshTarget (partitionCounts: ReadonlyMap<string, number>): void {
    let countsChanged = false
    for (const topic of this.subscribedTopics()) {
      if ((partitionCounts.get(topic) ?? 0) !== (this.partitionCounts.get(topic) ?? 0)) countsChanged = true
    }
    if (countsChanged) this.bump()
    if (this.groupEpoch <= this.assignmentEpoch) return
    const counts = new Map<string, number>()
    for (const topic of this.subscribedTopics()) counts.set(topic, partitionCounts.get(topic) ?? 0)
    this.partitionCounts = counts
    const members = [...this.members.values()].map(m => ({ memberId: m.memberId, subscribedTopics: m.subscribedTopics }))
    this.target = assignPartitions(members, counts, this.target)
    this.assignmentEpoch = this.groupEpoch
  }

  /**
   * Moves a member toward its target: revokes what it must give up and adds what is free.
   * Returns true when its assignment changed (its epoch then rises).
   */
  reconcile (member: Member, nowMs: number): boolean {
    const target = this.target.get(member.memberId) ?? new Set<TopicPartition>()
    let changed = false
    for (const tp of [...member.assigned]) {
      if (!target.has(tp)) {
        member.assigned.delete(tp)
        member.revoking.add(tp)
        changed = true
      }
    }
    if (member.revoking.size > 0 && member.revokeDeadlineMs === null) member.revokeDeadlineMs = nowMs + member.rebalanceTimeoutMs
    for (const tp of target) {
      if (member.assigned.has(tp) || member.revoking.has(tp)) continue
      if (this.ownerOf(tp) === undefined) {
        member.assigned.add(tp)
        changed = true
      }
    }
    if (changed) {
      member.previousMemberEpoch = member.memberEpoch
      member.memberEpoch = Math.max(member.memberEpoch + 1, this.assignmentEpoch)
    }
    return changed
  }

  /** The member confirms what it owns: partitions it no longer lists are released. */
  confirmOwned (member: Member, owned: ReadonlySet<TopicPartition>): void {
    for (const tp of [...member.revoking]) if (!owned.has(tp)) member.revoking.delete(tp)
    if (member.revoking.size === 0) member.revokeDeadlineMs = null
  }

  /** Whether the member is waiting for anything (so it should heartbeat soon). */
  needsAttention (member: Member): boolean {
    if (member.revoking.size > 0) return true
    const target = this.target.get(member.memberId)
    if (target === undefined) return false
    for (const tp of target) if (!member.assigned.has(tp)) return true
    return false
  }

  removeMember (memberId: string): Member | undefined {
    const m = this.members.get(memberId)
    if (m === undefined) return undefined
    this.members.delete(memberId)
    this.target.delete(memberId)
    this.bump()
    return m
  }
}

export function newMember (init: Pick<Member, 'memberId' | 'instanceId' | 'clientId' | 'clientHost' | 'subscribedTopics' | 'rebalanceTimeoutMs' | 'sessionTimeoutMs' | 'lastHeartbeatMs'>): Member {
  return {
    ...init,
    memberEpoch: 0,
    previousMemberEpoch: 0,
    assigned: new Set(),
    revoking: new Set(),
    revokeDeadlineMs: null,
    leftTemporarily: false,
  }
}
