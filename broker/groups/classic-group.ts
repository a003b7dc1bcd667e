/**
 * One consumer group under Kafka's classic protocol (JoinGroup / SyncGroup / Heartbeat /
 * LeaveGroup, client-side assignment): the state machine of Kafka's ClassicGroup, driven by
 * requests and by `tick` (timeouts). The coordinator (classic-coordinator.ts) owns the
 * groups, their offsets and their persistence; this class only decides.
 *
 * States:
 *   Empty                no members (committed offsets may remain).
 *   PreparingRebalance   a join phase: every JoinGroup is held until all known members have
 *                        rejoined (and members told MEMBER_ID_REQUIRED have come back) or the
 *                        rebalance timeout (the largest of the members') passes; members that
 *                        did not rejoin are then removed. The first rebalance of an Empty group
 *                        also waits `initialRebalanceDelayMs` (Kafka's
 *                        group.initial.rebalance.delay.ms), re-armed by each new member up to
 *                        the rebalance timeout, so consumers starting together form one
 *                        generation. Heartbeats and SyncGroup get REBALANCE_IN_PROGRESS.
 *   CompletingRebalance  the join phase ended: generation + 1, a protocol chosen by vote
 *                        (each member votes for its first listed assignor that every member
 *                        supports; most votes win, ties go to the leader's order), the
 *                        leader (kept if still a member) was sent every member's
 *                        subscription. SyncGroup calls are held until the leader's brings the
 *                        assignments; heartbeats are answered NONE (members beat as soon as
 *                        JoinGroup returns). Members that send no SyncGroup within the
 *                        rebalance timeout are removed and the group rebalances.
 *   Stable               assignments handed out. A join from the leader or with changed
 *                        subscriptions, a leave or an expired session starts a rebalance.
 * Static members (group.instance.id, KIP-345) keep their place across restarts: a join
 * with a known instance id and no member id replaces the old member id (the old one is
 * FENCED_INSTANCE_ID from then on) and, in a Stable group with unchanged subscriptions, gets
 * the current generation and its assignment without a rebalance.
 *
 * Codes in results are Kafka's (the same numbers as protocol/errors.ts). Not safe for
 * concurrent use; the coordinator calls it from the event loop only.
 */

import { randomUUID } from 'node:crypto'
import { ERROR_TABLE } from '../../protocol/errors.js'

export type ClassicState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable'

export interface ClassicProtocol {
  readonly name: string
  readonly metadata: Uint8Array
}

export interface ClassicMember {
  memberId: string
  groupInstanceId: string | null
  clientId: string
  clientHost: string
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  protocolType: string
  protocols: ClassicProtocol[]
  assignment: Uint8Array
  lastHeartbeatMs: number
  joinWaiter: ((r: JoinResult) => void) | null
  syncWaiter: ((r: SyncResult) => void) | null
}

export interface JoinRequest {
  memberId: string
  groupInstanceId: string | null
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  protocolType: string
  protocols: ClassicProtocol[]
  clientId: string
  clientHost: string
  /** JoinGroup v4+: a first join gets MEMBER_ID_REQUIRED and a member id to come back with. */
  requireKnownMemberId: boolean
}

export interface JoinResult {
  errorCode: number
  generationId: number
  protocolType: string | null
  protocolName: string | null
  leader: string
  memberId: string
  members: Array<{ memberId: string, groupInstanceId: string | null, metadata: Uint8Array }>
}

export interface SyncRequest {
  memberId: string
  groupInstanceId: string | null
  generationId: number
  assignments: ReadonlyArray<{ memberId: string, assignment: Uint8Array }>
}

export interface SyncResult {
  errorCode: number
  protocolType: string | null
  protocolName: string | null
  assignment: Uint8Array
}

export interface ClassicSettings {
  initialRebalanceDelayMs: number
  maxSize: number
}

/** What the coordinator persists and restores (a Stable or Empty group). */
export interface ClassicSnapshot {
  generationId: number
  protocolType: string | null
  protocolName: string | null
  leaderId: string | null
  members: Array<Pick<ClassicMember, 'memberId' | 'groupInstanceId' | 'clientId' | 'clientHost' | 'sessionTimeoutMs' | 'rebalanceTimeoutMs' | 'protocolType' | 'protocols' | 'assignment'>>
}

const EMPTY = new Uint8Array(0)
const CODE = {
  NONE: 0,
  ILLEGAL_GENERATION: ERROR_TABLE.ILLEGAL_GENERATION.code,
  INCONSISTENT_GROUP_PROTOCOL: ERROR_TABLE.INCONSISTENT_GROUP_PROTOCOL.code,
  UNKNOWN_MEMBER_ID: ERROR_TABLE.UNKNOWN_MEMBER_ID.code,
  REBALANCE_IN_PROGRESS: ERROR_TABLE.REBALANCE_IN_PROGRESS.code,
  MEMBER_ID_REQUIRED: ERROR_TABLE.MEMBER_ID_REQUIRED.code,
  FENCED_INSTANCE_ID: ERROR_TABLE.FENCED_INSTANCE_ID.code,
  GROUP_MAX_SIZE_REACHED: ERROR_TABLE.GROUP_MAX_SIZE_REACHED.code,
} as const

export { CODE as CLASSIC_CODES }

function sameProtocols (a: readonly ClassicProtocol[], b: readonly ClassicProtocol[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x.name !== y.name || x.metadata.length !== y.metadata.length) return false
    for (let j = 0; j < x.metadata.length; j++) if (x.metadata[j] !== y.metadata[j]) return false
  }
  return true
}

export class ClassicGroup {
  readonly groupId: string
  state: ClassicState = 'Empty'
  generationId = 0
  protocolType: string | null = null
  protocolName: string | null = null
  leaderId: string | null = null
  readonly members = new Map<string, ClassicMember>()
  /** Member ids handed out with MEMBER_ID_REQUIRED, and until when they may come back. */
  readonly pending = new Map<string, number>()
  readonly #settings: ClassicSettings
  readonly #now: () => number
  /** Called when the group became Stable or Empty, or a static member id changed (persist). */
  readonly #changed: (group: ClassicGroup) => void
  readonly #log: (event: string, fields: Record<string, unknown>) => void
  #joinDeadline = 0
  #delayUntil = 0
  #delayCap = 0
  #syncDeadline = 0

  constructor (groupId: string, options: { settings: ClassicSettings, now: () => number, changed: (g: ClassicGroup) => void, log: (event: string, fields: Record<string, unknown>) => void }) {
    this.groupId = groupId
    this.#settings = options.settings
    this.#now = options.now
    this.#changed = options.changed
    this.#log = options.log
  }

  /** Whether a member with this protocol type and these assignors could join. */
  accepts (protocolType: string, protocols: readonly ClassicProtocol[], memberId: string): boolean {
    if (protocolType === '' || protocols.length === 0) return false
    const others = [...this.members.values()].filter(m => m.memberId !== memberId)
    if (others.length === 0) return true
    if (others[0]!.protocolType !== protocolType) return false
    return protocols.some(p => others.every(m => m.protocols.some(q => q.name === p.name)))
  }

  join (req: JoinRequest): JoinResult | Promise<JoinResult> {
    const now = this.#now()
    if (!this.accepts(req.protocolType, req.protocols, req.memberId)) return this.#error(CODE.INCONSISTENT_GROUP_PROTOCOL, req.memberId)
    if (req.memberId === '') {
      if (req.groupInstanceId !== null) {
        const existing = this.staticMember(req.groupInstanceId)
        if (existing !== undefined) return this.#replaceStatic(existing, req)
      }
      if (this.members.size + this.pending.size >= this.#settings.maxSize) return this.#error(CODE.GROUP_MAX_SIZE_REACHED, '')
      const memberId = `${req.groupInstanceId ?? (req.clientId === '' ? 'member' : req.clientId)}-${randomUUID()}`
      if (req.requireKnownMemberId && req.groupInstanceId === null) {
        this.pending.set(memberId, now + req.sessionTimeoutMs)
        return this.#error(CODE.MEMBER_ID_REQUIRED, memberId)
      }
      return this.#addMember(memberId, req)
    }
    if (this.pending.delete(req.memberId)) return this.#addMember(req.memberId, req)
    const member = this.members.get(req.memberId)
    if (member === undefined) {
      const fenced = req.groupInstanceId !== null && this.staticMember(req.groupInstanceId) !== undefined
      return this.#error(fenced ? CODE.FENCED_INSTANCE_ID : CODE.UNKNOWN_MEMBER_ID, req.memberId)
    }
    if (req.groupInstanceId !== member.groupInstanceId) return this.#error(CODE.FENCED_INSTANCE_ID, req.memberId)
    const unchanged = sameProtocols(member.protocols, req.protocols)
    this.#update(member, req)
    if (this.state === 'PreparingRebalance') return this.#awaitJoin(member)
    if (this.state === 'CompletingRebalance' && unchanged) return this.#joinResult(member)
    if (this.state === 'Stable' && unchanged && member.memberId !== this.leaderId) return this.#joinResult(member)
    this.#prepareRebalance(`member ${member.memberId} rejoined${unchanged ? '' : ' with a changed subscription'}`)
    return this.#awaitJoin(member)
  }

  sync (req: SyncRequest): SyncResult | Promise<SyncResult> {
    const member = this.members.get(req.memberId)
    if (member === undefined) return this.#syncError(this.#unknown(req.groupInstanceId))
    if (req.groupInstanceId !== member.groupInstanceId) return this.#syncError(CODE.FENCED_INSTANCE_ID)
    if (req.generationId !== this.generationId) return this.#syncError(CODE.ILLEGAL_GENERATION)
    if (this.state === 'PreparingRebalance') return this.#syncError(CODE.REBALANCE_IN_PROGRESS)
    member.lastHeartbeatMs = this.#now()
    if (this.state === 'Stable') return { errorCode: 0, protocolType: this.protocolType, protocolName: this.protocolName, assignment: member.assignment }
    const result = new Promise<SyncResult>(resolve => { member.syncWaiter = resolve })
    if (member.memberId === this.leaderId) {
      const given = new Map(req.assignments.map(a => [a.memberId, a.assignment]))
      for (const m of this.members.values()) m.assignment = given.get(m.memberId) ?? EMPTY
      this.state = 'Stable'
      this.#log('group stable', { generation: this.generationId, assignor: this.protocolName, members: this.members.size })
      for (const m of this.members.values()) {
        const waiter = m.syncWaiter
        m.syncWaiter = null
        waiter?.({ errorCode: 0, protocolType: this.protocolType, protocolName: this.protocolName, assignment: m.assignment })
      }
      this.#changed(this)
    }
    return result
  }

  /** Heartbeat: the Kafka code to answer. */
  heartbeat (memberId: string, groupInstanceId: string | null, generationId: number): number {
    const member = this.members.get(memberId)
    if (member === undefined) return this.#unknown(groupInstanceId)
    if (groupInstanceId !== member.groupInstanceId) return CODE.FENCED_INSTANCE_ID
    if (generationId !== this.generationId) return CODE.ILLEGAL_GENERATION
    member.lastHeartbeatMs = this.#now()
    return this.state === 'PreparingRebalance' ? CODE.REBALANCE_IN_PROGRESS : CODE.NONE
  }

  /** LeaveGroup of one member (by member id, or by instance id with member id ''): the Kafka code. */
  leave (memberId: string, groupInstanceId: string | null): number {
    let member = this.members.get(memberId)
    if (member === undefined && memberId === '' && groupInstanceId !== null) member = this.staticMember(groupInstanceId)
    if (member === undefined) {
      if (this.pending.delete(memberId)) return CODE.NONE
      return CODE.UNKNOWN_MEMBER_ID
    }
    if (groupInstanceId !== null && member.groupInstanceId !== groupInstanceId) return CODE.FENCED_INSTANCE_ID
    this.#remove(member, 'left the group')
    return CODE.NONE
  }

  /**
   * Whether a member may commit offsets now (Kafka's validateOffsetCommit): the Kafka code.
   * generation -1 with no member id is a commit from outside the group (assign()-style
   * consumers, admin tools), accepted only while the group has no members.
   */
  commitCheck (memberId: string, groupInstanceId: string | null, generationId: number): number {
    if (generationId < 0 && memberId === '') return this.members.size === 0 ? CODE.NONE : CODE.UNKNOWN_MEMBER_ID
    const member = this.members.get(memberId)
    if (member === undefined) return this.#unknown(groupInstanceId)
    if (groupInstanceId !== null && groupInstanceId !== member.groupInstanceId) return CODE.FENCED_INSTANCE_ID
    if (generationId !== this.generationId) return CODE.ILLEGAL_GENERATION
    if (this.state === 'CompletingRebalance') return CODE.REBALANCE_IN_PROGRESS
    member.lastHeartbeatMs = this.#now()
    return CODE.NONE
  }

  staticMember (groupInstanceId: string): ClassicMember | undefined {
    for (const m of this.members.values()) if (m.groupInstanceId === groupInstanceId) return m
    return undefined
  }

  /** The chosen protocol's metadata of a member (its subscription), empty if none. */
  metadataOf (member: ClassicMember): Uint8Array {
    return member.protocols.find(p => p.name === this.protocolName)?.metadata ?? member.protocols[0]?.metadata ?? EMPTY
  }

  /** Timeouts: expired member ids handed out, sessions, the join and sync phases. */
  tick (): void {
    const now = this.#now()
    for (const [id, deadline] of this.pending) if (now > deadline) this.pending.delete(id)
    for (const m of [...this.members.values()]) {
      if (m.joinWaiter !== null || m.syncWaiter !== null) continue
      if (now - m.lastHeartbeatMs > m.sessionTimeoutMs) this.#remove(m, 'session timeout')
    }
    if (this.state === 'PreparingRebalance') this.#maybeCompleteJoin()
    if (this.state === 'CompletingRebalance' && now > this.#syncDeadline) {
      const late = [...this.members.values()].filter(m => m.syncWaiter === null)
      this.#log('sync phase timed out', { generation: this.generationId, removed: late.map(m => m.memberId) })
      for (const m of late) this.#remove(m, 'no SyncGroup within the rebalance timeout')
    }
  }

  snapshot (): ClassicSnapshot {
    return {
      generationId: this.generationId,
      protocolType: this.protocolType,
      protocolName: this.protocolName,
      leaderId: this.leaderId,
      members: [...this.members.values()].map(m => ({
        memberId: m.memberId, groupInstanceId: m.groupInstanceId, clientId: m.clientId, clientHost: m.clientHost,
        sessionTimeoutMs: m.sessionTimeoutMs, rebalanceTimeoutMs: m.rebalanceTimeoutMs, protocolType: m.protocolType,
        protocols: m.protocols, assignment: m.assignment,
      })),
    }
  }

  /** Rebuilds the group from a snapshot: Stable with those members (fresh sessions), or Empty. */
  restore (s: ClassicSnapshot): void {
    const now = this.#now()
    this.generationId = s.generationId
    this.protocolType = s.protocolType
    this.protocolName = s.protocolName
    this.leaderId = s.leaderId
    this.members.clear()
    for (const m of s.members) this.members.set(m.memberId, { ...m, lastHeartbeatMs: now, joinWaiter: null, syncWaiter: null })
    this.state = this.members.size > 0 ? 'Stable' : 'Empty'
  }

  /** An unknown member id: FENCED_INSTANCE_ID when its instance id now belongs to another member. */
  #unknown (groupInstanceId: string | null): number {
    return groupInstanceId !== null && this.staticMember(groupInstanceId) !== undefined ? CODE.FENCED_INSTANCE_ID : CODE.UNKNOWN_MEMBER_ID
  }

  #error (errorCode: number, memberId: string): JoinResult {
    return { errorCode, generationId: -1, protocolType: null, protocolName: null, leader: '', memberId, members: [] }
  }

  #syncError (errorCode: number): SyncResult {
    return { errorCode, protocolType: null, protocolName: null, assignment: EMPTY }
  }

  #update (member: ClassicMember, req: JoinRequest): void {
    member.protocols = req.protocols
    member.protocolType = req.protocolType
    member.sessionTimeoutMs = req.sessionTimeoutMs
    member.rebalanceTimeoutMs = req.rebalanceTimeoutMs
    member.clientId = req.clientId
    member.clientHost = req.clientHost
    member.lastHeartbeatMs = this.#now()
  }

  #addMember (memberId: string, req: JoinRequest): Promise<JoinResult> {
    const member: ClassicMember = {
      memberId, groupInstanceId: req.groupInstanceId, clientId: req.clientId, clientHost: req.clientHost,
      sessionTimeoutMs: req.sessionTimeoutMs, rebalanceTimeoutMs: req.rebalanceTimeoutMs, protocolType: req.protocolType,
      protocols: req.protocols, assignment: EMPTY, lastHeartbeatMs: this.#now(), joinWaiter: null, syncWaiter: null,
    }
    this.members.set(memberId, member)
    this.#log('member joined', { memberId, clientId: req.clientId, instanceId: req.groupInstanceId ?? undefined })
    if (this.state === 'PreparingRebalance') {
      // A new member during the initial delay pushes it back, up to the rebalance timeout.
      if (this.#delayUntil > 0) this.#delayUntil = Math.min(this.#now() + this.#settings.initialRebalanceDelayMs, this.#delayCap)
    } else {
      this.#prepareRebalance(`member ${memberId} joined`)
    }
    return this.#awaitJoin(member)
  }

  #replaceStatic (old: ClassicMember, req: JoinRequest): JoinResult | Promise<JoinResult> {
    const unchanged = sameProtocols(old.protocols, req.protocols)
    const memberId = `${req.groupInstanceId}-${randomUUID()}`
    this.members.delete(old.memberId)
    old.joinWaiter?.(this.#error(CODE.FENCED_INSTANCE_ID, old.memberId))
    old.syncWaiter?.(this.#syncError(CODE.FENCED_INSTANCE_ID))
    const member: ClassicMember = { ...old, memberId, joinWaiter: null, syncWaiter: null }
    this.#update(member, req)
    this.members.set(memberId, member)
    if (this.leaderId === old.memberId) this.leaderId = memberId
    this.#log('static member rejoined', { memberId, instanceId: req.groupInstanceId, replaced: old.memberId })
    if (this.state === 'Stable' && unchanged) {
      this.#changed(this)
      return this.#joinResult(member)
    }
    if (this.state !== 'PreparingRebalance') this.#prepareRebalance(`static member ${req.groupInstanceId} rejoined with a changed subscription`)
    return this.#awaitJoin(member)
  }

  #awaitJoin (member: ClassicMember): Promise<JoinResult> {
    const result = new Promise<JoinResult>(resolve => { member.joinWaiter = resolve })
    this.#maybeCompleteJoin()
    return result
  }

  #rebalanceTimeout (): number {
    let max = 0
    for (const m of this.members.values()) max = Math.max(max, m.rebalanceTimeoutMs)
    return max
  }

  #prepareRebalance (reason: string): void {
    const now = this.#now()
    if (this.state === 'CompletingRebalance') {
      for (const m of this.members.values()) {
        const waiter = m.syncWaiter
        m.syncWaiter = null
        waiter?.(this.#syncError(CODE.REBALANCE_IN_PROGRESS))
      }
    }
    const wasEmpty = this.state === 'Empty'
    this.state = 'PreparingRebalance'
    const timeout = this.#rebalanceTimeout()
    this.#joinDeadline = now + timeout
    this.#delayCap = now + timeout
    this.#delayUntil = wasEmpty && this.#settings.initialRebalanceDelayMs > 0 ? Math.min(now + this.#settings.initialRebalanceDelayMs, this.#delayCap) : 0
    this.#log('rebalance started', { reason, generation: this.generationId })
  }

  #maybeCompleteJoin (): void {
    if (this.state !== 'PreparingRebalance') return
    const now = this.#now()
    if (this.#delayUntil > 0 && now < this.#delayUntil) return
    let all = this.pending.size === 0
    for (const m of this.members.values()) if (m.joinWaiter === null) all = false
    if (all || now >= this.#joinDeadline) this.#completeJoin()
  }

  #completeJoin (): void {
    for (const m of [...this.members.values()]) {
      if (m.joinWaiter === null) {
        this.members.delete(m.memberId)
        this.#log('member removed', { memberId: m.memberId, reason: 'did not rejoin within the rebalance timeout' })
      }
    }
    this.#delayUntil = 0
    this.generationId++
    if (this.members.size === 0) {
      this.#becomeEmpty()
      return
    }
    this.protocolName = this.#selectProtocol()
    const first = this.members.values().next().value!
    this.protocolType = first.protocolType
    if (this.leaderId === null || !this.members.has(this.leaderId)) this.leaderId = first.memberId
    this.state = 'CompletingRebalance'
    const now = this.#now()
    this.#syncDeadline = now + this.#rebalanceTimeout()
    this.#log('join phase complete', { generation: this.generationId, assignor: this.protocolName, leader: this.leaderId, members: this.members.size })
    for (const m of this.members.values()) {
      const waiter = m.joinWaiter!
      m.joinWaiter = null
      m.assignment = EMPTY
      m.lastHeartbeatMs = now
      waiter(this.#joinResult(m))
    }
  }

  #becomeEmpty (): void {
    this.state = 'Empty'
    this.protocolName = null
    this.protocolType = null
    this.leaderId = null
    this.#changed(this)
  }

  #joinResult (member: ClassicMember): JoinResult {
    const leader = member.memberId === this.leaderId
    return {
      errorCode: 0,
      generationId: this.generationId,
      protocolType: this.protocolType,
      protocolName: this.protocolName,
      leader: this.leaderId ?? '',
      memberId: member.memberId,
      members: leader ? [...this.members.values()].map(m => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, metadata: this.metadataOf(m) })) : [],
    }
  }

  /** Each member votes for its first assignor that every member supports; most votes win. */
  #selectProtocol (): string {
    const members = [...this.members.values()]
    const leader = (this.leaderId !== null ? this.members.get(this.leaderId) : undefined) ?? members[0]!
    const candidates = leader.protocols.map(p => p.name).filter(name => members.every(m => m.protocols.some(p => p.name === name)))
    const votes = new Map<string, number>(candidates.map(c => [c, 0]))
    for (const m of members) {
      const choice = m.protocols.find(p => votes.has(p.name))
      if (choice !== undefined) votes.set(choice.name, votes.get(choice.name)! + 1)
    }
    let best = candidates[0]!
    for (const c of candidates) if (votes.get(c)! > votes.get(best)!) best = c
    return best
  }

  #remove (member: ClassicMember, reason: string): void {
    this.members.delete(member.memberId)
    this.#log('member removed', { memberId: member.memberId, reason })
    member.joinWaiter?.(this.#error(CODE.UNKNOWN_MEMBER_ID, member.memberId))
    member.syncWaiter?.(this.#syncError(CODE.UNKNOWN_MEMBER_ID))
    if (this.leaderId === member.memberId) this.leaderId = null
    if (this.members.size === 0 && this.pending.size === 0) {
      if (this.state !== 'Empty') {
        this.generationId++
        this.#becomeEmpty()
      }
      return
    }
    if (this.state === 'PreparingRebalance') this.#maybeCompleteJoin()
    else this.#prepareRebalance(`member ${member.memberId}: ${reason}`)
  }
}
