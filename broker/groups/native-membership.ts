/**
 * Membership of the native groups (GroupHeartbeat, broker-side assignment; the
 * reconciliation rules of one group are in group.ts): what a heartbeat does — join (epoch 0,
 * static members taking over their previous incarnation), leave (epoch -1), a static
 * member's temporary leave (epoch -2), session, subscription and owned-partition updates,
 * then reconciliation — the eviction of members whose session or revocation deadline
 * passed, and the members' snapshot stored in `__consumer_offsets` (key ['group', groupId],
 * offset-store.ts) with its restore when the log is replayed.
 *
 * The coordinator (coordinator.ts) keeps the group map, checks that it coordinates a group
 * before calling here, and hands these functions a MembershipHost (as the classic side gets
 * a ClassicHost). Everything is synchronous, so a group is never seen half-changed.
 */

import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import {
  FencedMemberEpochError, GroupMaxSizeReachedError, InconsistentGroupProtocolError, InvalidRequestError,
  InvalidSessionTimeoutError, UnknownMemberIdError,
} from '../../protocol/errors.js'
import type { RequestOf, ResponseOf } from '../../protocol/native/api-keys.js'
import { tpKey, tpParse, type TopicPartition } from './assignor.js'
import { newMember, type Group, type Member } from './group.js'
import type { StoredGroup } from './offset-store.js'

export interface ClientInfo {
  clientId: string
  clientHost: string
}

export interface MembershipConfig {
  groupHeartbeatIntervalMs: number
  groupMinSessionTimeoutMs: number
  groupMaxSessionTimeoutMs: number
  groupMaxSize: number
}

/** What membership needs from the coordinator. */
export interface MembershipHost {
  readonly config: MembershipConfig
  readonly logger: Logger
  /** Members the group has under the classic protocol (classic-coordinator.ts). */
  classicMembers (groupId: string): number
  /** The current partition count of each topic the group subscribes to. */
  partitionCounts (group: Group): Map<string, number>
  /** Writes the group's member snapshot to `__consumer_offsets`. */
  writeGroup (groupId: string, snapshot: StoredGroup): void
}

export type Heartbeat = Omit<ResponseOf<'GroupHeartbeat'>, 'errorCode' | 'errorMessage'>

/** Heartbeat interval while a member has partitions to give up or to receive. */
const RECONCILE_HEARTBEAT_MS = 100

/** Topic-partitions as the responses list them: by topic, both sorted. */
export function toList (tps: Iterable<TopicPartition>): Array<{ topic: string, partitions: number[] }> {
  const byTopic = new Map<string, number[]>()
  for (const tp of tps) {
    const { topic, partition } = tpParse(tp)
    let list = byTopic.get(topic)
    if (list === undefined) byTopic.set(topic, (list = []))
    list.push(partition)
  }
  return [...byTopic.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([topic, partitions]) => ({ topic, partitions: partitions.sort((a, b) => a - b) }))
}

/** One GroupHeartbeat for `group` (the coordinator checked it coordinates it), at `now`. */
export function applyHeartbeat (host: MembershipHost, group: Group, req: RequestOf<'GroupHeartbeat'>, client: ClientInfo, now: number): Heartbeat {
  if (req.memberEpoch === -1) return leave(host, group, req.memberId)
  if (req.memberEpoch === -2) return leaveTemporarily(host, group, req.memberId)
  const config = host.config
  const session = req.sessionTimeoutMs
  if (session < config.groupMinSessionTimeoutMs || session > config.groupMaxSessionTimeoutMs) {
    throw new InvalidSessionTimeoutError(`sessionTimeoutMs ${session} is outside [${config.groupMinSessionTimeoutMs}, ${config.groupMaxSessionTimeoutMs}]`)
  }
  let member: Member
  let changed = false
  if (req.memberEpoch === 0) {
    if (req.subscribedTopics === null) throw new InvalidRequestError('a joining member must send subscribedTopics')
    if (host.classicMembers(req.groupId) > 0) {
      throw new InconsistentGroupProtocolError(`group ${req.groupId} has members using the Kafka consumer protocol (JoinGroup); a native consumer cannot join it: use another group id`)
    }
    member = join(host, group, req, client, now)
    changed = true
  } else {
    const found = group.members.get(req.memberId)
    if (found === undefined || found.leftTemporarily) {
      throw new UnknownMemberIdError(`member ${req.memberId} is not in group ${req.groupId} (evicted or never joined): rejoin`)
    }
    if (req.memberEpoch !== found.memberEpoch && req.memberEpoch !== found.previousMemberEpoch) {
      throw new FencedMemberEpochError(`member epoch ${req.memberEpoch} is not the member's (${found.memberEpoch}): rejoin`)
    }
    member = found
    if (req.subscribedTopics !== null && !sameTopics(req.subscribedTopics, member.subscribedTopics)) {
      member.subscribedTopics = [...new Set(req.subscribedTopics)].sort()
      group.bump()
      changed = true
    }
  }
  member.lastHeartbeatMs = now
  member.sessionTimeoutMs = session
  member.rebalanceTimeoutMs = req.rebalanceTimeoutMs
  member.clientId = client.clientId
  member.clientHost = client.clientHost
  if (req.ownedPartitions !== null) {
    const owned = new Set<TopicPartition>()
    for (const t of req.ownedPartitions) for (const p of t.partitions) owned.add(tpKey(t.topic, p))
    const before = member.revoking.size
    group.confirmOwned(member, owned)
    if (member.revoking.size !== before) changed = true
  }
  group.refreshTarget(host.partitionCounts(group))
  if (group.reconcile(member, now)) changed = true
  if (changed) persistGroup(host, group)
  return {
    memberId: member.memberId,
    memberEpoch: member.memberEpoch,
    heartbeatIntervalMs: group.needsAttention(member) || group.state === 'reconciling' ? RECONCILE_HEARTBEAT_MS : heartbeatInterval(config, member),
    assignment: toList(member.assigned),
  }
}

/**
 * The group's heartbeat interval, but at most a third of the member's session timeout: a
 * member that asked for a session shorter than the interval must still beat in time, or it
 * would be evicted and rejoin over and over.
 */
function heartbeatInterval (config: MembershipConfig, member: Member): number {
  return Math.max(RECONCILE_HEARTBEAT_MS, Math.min(config.groupHeartbeatIntervalMs, Math.floor(member.sessionTimeoutMs / 3)))
}

function join (host: MembershipHost, group: Group, req: RequestOf<'GroupHeartbeat'>, client: ClientInfo, now: number): Member {
  const topics = [...new Set(req.subscribedTopics ?? [])].sort()
  if (req.instanceId !== null) {
    const existing = group.findByInstance(req.instanceId)
    if (existing !== undefined) {
      // Static membership: the new incarnation takes over the old one's partitions, so a
      // quick restart moves nothing. The old member id is fenced.
      group.members.delete(existing.memberId)
      const memberId = req.memberId !== '' ? req.memberId : randomUUID()
      const target = group.target.get(existing.memberId)
      group.target.delete(existing.memberId)
      const member: Member = { ...existing, memberId, leftTemporarily: false, lastHeartbeatMs: now }
      member.previousMemberEpoch = member.memberEpoch
      member.memberEpoch = member.memberEpoch + 1
      group.members.set(memberId, member)
      if (target !== undefined) group.target.set(memberId, target)
      if (!sameTopics(topics, existing.subscribedTopics)) {
        member.subscribedTopics = topics
        group.bump()
      }
      host.logger.info({ group: group.groupId, memberId, instanceId: req.instanceId, replaced: existing.memberId }, 'static member rejoined')
      return member
    }
  }
  if (req.memberId !== '' && group.members.has(req.memberId)) {
    // A member that lost its epoch rejoins under its id: fence the old incarnation.
    group.removeMember(req.memberId)
  }
  if (group.members.size >= host.config.groupMaxSize) {
    throw new GroupMaxSizeReachedError(`group ${group.groupId} has ${host.config.groupMaxSize} members (groupMaxSize)`)
  }
  const member = newMember({
    memberId: req.memberId !== '' ? req.memberId : randomUUID(),
    instanceId: req.instanceId,
    clientId: client.clientId,
    clientHost: client.clientHost,
    subscribedTopics: topics,
    rebalanceTimeoutMs: req.rebalanceTimeoutMs,
    sessionTimeoutMs: req.sessionTimeoutMs,
    lastHeartbeatMs: now,
  })
  member.memberEpoch = 1
  group.members.set(member.memberId, member)
  group.bump()
  host.logger.info({ group: group.groupId, memberId: member.memberId, clientId: client.clientId, topics }, 'member joined')
  return member
}

function leave (host: MembershipHost, group: Group, memberId: string): Heartbeat {
  const m = group.removeMember(memberId)
  if (m !== undefined) {
    host.logger.info({ group: group.groupId, memberId }, 'member left')
    persistGroup(host, group)
  }
  return { memberId, memberEpoch: -1, heartbeatIntervalMs: 0, assignment: [] }
}

function leaveTemporarily (host: MembershipHost, group: Group, memberId: string): Heartbeat {
  const m = group.members.get(memberId)
  if (m === undefined) return { memberId, memberEpoch: -2, heartbeatIntervalMs: 0, assignment: [] }
  if (m.instanceId === null) return leave(host, group, memberId)
  m.leftTemporarily = true
  host.logger.info({ group: group.groupId, memberId, instanceId: m.instanceId }, 'static member left temporarily')
  return { memberId, memberEpoch: -2, heartbeatIntervalMs: 0, assignment: [] }
}

/** Evicts the group's members whose session or revocation deadline passed at `now`. */
export function evictExpired (host: MembershipHost, group: Group, now: number): void {
  let changed = false
  for (const m of [...group.members.values()]) {
    const sessionOver = now - m.lastHeartbeatMs > m.sessionTimeoutMs
    const revokeOver = m.revokeDeadlineMs !== null && now > m.revokeDeadlineMs
    if (sessionOver || revokeOver) {
      group.removeMember(m.memberId)
      changed = true
      host.logger.info({ group: group.groupId, memberId: m.memberId, reason: sessionOver ? 'session timeout' : 'revocation timeout' }, 'member evicted')
    }
  }
  if (changed) {
    group.refreshTarget(host.partitionCounts(group))
    persistGroup(host, group)
  }
}

function persistGroup (host: MembershipHost, group: Group): void {
  const snapshot: StoredGroup = {
    groupEpoch: group.groupEpoch,
    members: [...group.members.values()].map(m => ({
      ...identity(m),
      rebalanceTimeoutMs: m.rebalanceTimeoutMs,
      sessionTimeoutMs: m.sessionTimeoutMs,
      assigned: [...m.assigned, ...m.revoking],
    })),
  }
  host.writeGroup(group.groupId, snapshot)
}

/**
 * Replaces the group's members with a stored snapshot (a replayed ['group', groupId]
 * record). Restored members get a fresh session from `now` to come back in; their stored
 * assignment becomes the previous target, so the assignor keeps it.
 */
export function restoreMembers (group: Group, stored: StoredGroup, now: number): void {
  group.members.clear()
  group.groupEpoch = stored.groupEpoch
  group.assignmentEpoch = 0
  group.target = new Map()
  for (const m of stored.members) {
    if (typeof m.memberId !== 'string' || !Array.isArray(m.subscribedTopics) || !Array.isArray(m.assigned)) continue
    const member = newMember({
      memberId: m.memberId,
      instanceId: typeof m.instanceId === 'string' ? m.instanceId : null,
      clientId: String(m.clientId ?? ''),
      clientHost: String(m.clientHost ?? ''),
      subscribedTopics: m.subscribedTopics.filter((t): t is string => typeof t === 'string'),
      rebalanceTimeoutMs: Number(m.rebalanceTimeoutMs) || 60_000,
      sessionTimeoutMs: Number(m.sessionTimeoutMs) || 45_000,
      lastHeartbeatMs: now,
    })
    member.memberEpoch = Number(m.memberEpoch) || 0
    member.previousMemberEpoch = member.memberEpoch
    for (const tp of m.assigned) if (typeof tp === 'string') member.assigned.add(tp)
    // The restored assignment becomes the previous target, so the assignor keeps it.
    group.target.set(member.memberId, new Set(member.assigned))
    group.members.set(member.memberId, member)
  }
  group.bump()
}

/** The member fields both the stored snapshot and DescribeGroups carry. */
export function identity (m: Member): Pick<Member, 'memberId' | 'instanceId' | 'clientId' | 'clientHost' | 'memberEpoch' | 'subscribedTopics'> {
  return { memberId: m.memberId, instanceId: m.instanceId, clientId: m.clientId, clientHost: m.clientHost, memberEpoch: m.memberEpoch, subscribedTopics: m.subscribedTopics }
}

function sameTopics (a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a)
  const sb = new Set(b)
  if (sa.size !== sb.size) return false
  for (const x of sa) if (!sb.has(x)) return false
  return true
}
