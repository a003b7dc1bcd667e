/**
 * Consumer group membership for a Consumer (docs/architecture.md §4; the wire side is
 * protocol/native/apis/group-heartbeat.ts and offsets.ts): the heartbeat loop, the
 * partitions the coordinator assigns and revokes, offset commits, and leaving.
 *
 *   join        heartbeat with memberEpoch 0 and a member id made here (KIP-1082), so a join
 *               whose answer is lost is retried under the same id and the coordinator
 *               replaces the half-joined incarnation instead of keeping a ghost
 *   heartbeat   every heartbeatIntervalMs the coordinator's last answer asked for (100 ms
 *               while partitions move), with the subscription when it changed and the
 *               partitions owned now
 *   assignment  each answer is the full set the member may own NOW (reconcile()):
 *               - a partition missing from it is revoked at once: the consumer stops fetching
 *                 it and drops what it buffered, a run() callback busy with one of its
 *                 messages is waited for, its processed offsets are committed (autoCommit),
 *                 onRevoked is called (the application may commit there), and a heartbeat
 *                 without it goes out at once, so the coordinator can hand it on
 *               - a new partition: OffsetFetch, start at the committed offset (or per
 *                 autoOffsetReset when there is none), fetch, call onAssigned
 *   errors      UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH: the member was evicted and its
 *               partitions may already be another member's: all are dropped WITHOUT a commit
 *               (onRevoked with lost: true) and the member rejoins (epoch 0, same id).
 *               Retriable ones (connection lost, broker restarting, REBALANCE_IN_PROGRESS,
 *               NOT_COORDINATOR): the member keeps its id and epoch and heartbeats again with
 *               backoff; after a broker restart the coordinator restores members from
 *               __consumer_offsets, so the member simply resumes. Requests go to the group's
 *               coordinator (FindCoordinator; in a cluster the leader of the group's offsets
 *               partition), found again after NOT_COORDINATOR or a lost connection, so a
 *               coordinator that moves to another broker restores the group there. If nothing is answered for
 *               sessionTimeoutMs the coordinator has evicted the member by now: its
 *               partitions are dropped as lost until an answer says otherwise.
 *               Anything else (INVALID_SESSION_TIMEOUT, GROUP_MAX_SIZE_REACHED, ...) ends the
 *               membership: subscribe() rejects, or the reader (for await, run()) fails.
 *   commit      OffsetCommit with the current member id and epoch; STALE_MEMBER_EPOCH is
 *               retried with the epoch of the next heartbeat; a zombie's commit is refused
 *               (UnknownMemberIdError, FencedMemberEpochError) and the member rejoins.
 *   leave       close(): processed offsets committed (autoCommit), onRevoked, a heartbeat
 *               with epoch -1 (-2 for a static member, whose partitions wait for it until its
 *               session times out).
 *
 * Committed offsets are the next offset to read (last processed + 1), as in Kafka; what
 * "processed" means is in assignment.ts. Everything runs on the event loop; reconcile steps
 * run one at a time, and each checks after every await that the partitions were not lost
 * meanwhile (`#generation`).
 */

import {
  ClientClosedError, FencedMemberEpochError, InvalidArgumentError, SpoolError, StaleMemberEpochError, UnknownMemberIdError,
  errorFromCode,
} from '../protocol/errors.js'
import type { RequestOf } from '../protocol/native/api-keys.js'
import { partitionKey, type PartitionState, type TopicPartition } from './assignment.js'
import { isRetriable, type Cluster } from './cluster.js'
import { backoffMs } from './retry.js'

export interface RevokedInfo {
  /**
   * true when the partitions were taken away without a revocation (the member was evicted,
   * or could not reach the coordinator for sessionTimeoutMs): another member may own them
   * already, nothing was committed, and a commit now is refused.
   */
  lost: boolean
}

export interface CommitOffset extends TopicPartition {
  /** The next offset to read: the last processed message's offset + 1. */
  offset: number
  metadata?: string | null
}

export interface GroupOptions {
  groupId: string
  instanceId: string | null
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  autoCommit: boolean
  autoCommitIntervalMs: number
  onAssigned?: (partitions: TopicPartition[]) => void | Promise<void>
  onRevoked?: (partitions: TopicPartition[], info: RevokedInfo) => void | Promise<void>
}

/** What the membership asks of its Consumer. */
export interface GroupHost {
  /** Starts fetching partitions at these offsets (null: where autoOffsetReset says). */
  add (partitions: ReadonlyArray<TopicPartition & { offset: number | null }>): PartitionState[]
  /** Stops fetching partitions at once; their buffered and in-flight data is dropped. */
  remove (partitions: readonly TopicPartition[]): void
  /** Resolves once no run() callback is handling a message of these partitions. */
  idle (states: readonly PartitionState[]): Promise<void>
  /** The membership ended with an error: the consumer's reader gets it. */
  fail (error: Error): void
}

const key = (tp: TopicPartition): string => partitionKey(tp.topic, tp.partition)
const tpOf = (s: TopicPartition): TopicPartition => ({ topic: s.topic, partition: s.partition })

function byTopic (tps: Iterable<TopicPartition>): Array<{ topic: string, partitions: number[] }> {
  const map = new Map<string, number[]>()
  for (const tp of tps) {
    const list = map.get(tp.topic)
    if (list === undefined) map.set(tp.topic, [tp.partition])
    else list.push(tp.partition)
  }
  return [...map].map(([topic, partitions]) => ({ topic, partitions: partitions.sort((a, b) => a - b) }))
}

export class GroupMember {
  readonly #cluster: Cluster
  readonly #options: GroupOptions
  readonly #host: GroupHost
  readonly memberId: string
  #memberEpoch = 0
  #intervalMs = 3000
  #topics: string[] = []
  #topicsSent = false
  /** Partitions fetched now. */
  readonly #owned = new Map<string, PartitionState>()
  /** Partitions being revoked: not fetched any more, still reported as owned until done. */
  readonly #revoking = new Map<string, PartitionState>()
  /** The coordinator's last answer: what the member may own now (null until one arrives). */
  #target: Map<string, TopicPartition> | null = null
  /** Rises whenever partitions are lost; reconcile steps stop when it changed under them. */
  #generation = 0
  #reconciling: Promise<void> | null = null
  /** Highest offset known committed per partition (avoids committing the same offset again). */
  readonly #committed = new Map<string, number>()
  #timer: ReturnType<typeof setTimeout> | null = null
  #timerDueMs = 0
  #autoCommitTimer: ReturnType<typeof setTimeout> | null = null
  #beating = false
  #beatAgain = false
  #failures = 0
  #lastAnswerMs = 0
  #started = false
  #joinedOnce = false
  #stopped = false
  /** close() began: no new reconcile step starts. */
  #leaving = false
  /** close() finished: commits are refused. */
  #left = false
  #joinWaiter: { resolve: () => void, reject: (err: Error) => void } | null = null

  constructor (cluster: Cluster, options: GroupOptions, host: GroupHost) {
    this.#cluster = cluster
    this.#options = options
    this.#host = host
    this.memberId = newMemberId()
  }

  get memberEpoch (): number { return this.#memberEpoch }

  /**
   * Sets the subscription and, the first time, joins: resolves once the coordinator
   * answered the join (retriable failures retried per the client's retry settings).
   */
  subscribe (topics: readonly string[]): Promise<void> {
    if (this.#stopped) return Promise.reject(new ClientClosedError('the consumer is closed'))
    this.#topics = [...new Set(topics)].sort()
    this.#topicsSent = false
    if (this.#started) {
      this.#beatNow()
      return Promise.resolve()
    }
    this.#started = true
    const joined = new Promise<void>((resolve, reject) => { this.#joinWaiter = { resolve, reject } })
    this.#beatNow()
    this.#armAutoCommit()
    return joined
  }

  // --- heartbeats ---------------------------------------------------------------------

  #beatNow (): void {
    this.#schedule(0)
  }

  /** Beats in `ms`, unless a beat is already due sooner (an immediate one is never put off). */
  #schedule (ms: number): void {
    if (this.#stopped) return
    const due = Date.now() + ms
    if (this.#timer !== null) {
      if (this.#timerDueMs <= due) return
      clearTimeout(this.#timer)
    }
    this.#timerDueMs = due
    this.#timer = setTimeout(() => {
      this.#timer = null
      void this.#beat()
    }, ms)
  }

  #ownedList (): Array<{ topic: string, partitions: number[] }> {
    return byTopic([...this.#owned.values(), ...this.#revoking.values()])
  }

  /** One heartbeat (never two in flight: a beat asked for meanwhile follows this one). */
  async #beat (): Promise<void> {
    if (this.#stopped) return
    if (this.#beating) {
      this.#beatAgain = true
      return
    }
    this.#beating = true
    const epoch = this.#memberEpoch
    const topics = this.#topicsSent && epoch !== 0 ? null : this.#topics
    const body: RequestOf<'GroupHeartbeat'> = {
      groupId: this.#options.groupId,
      memberId: this.memberId,
      memberEpoch: epoch,
      instanceId: this.#options.instanceId,
      rebalanceTimeoutMs: this.#options.rebalanceTimeoutMs,
      sessionTimeoutMs: this.#options.sessionTimeoutMs,
      subscribedTopics: topics,
      ownedPartitions: this.#ownedList(),
    }
    let next = this.#intervalMs
    try {
      const connection = await this.#cluster.coordinator(this.#options.groupId)
      const timeoutMs = Math.min(this.#cluster.options.requestTimeoutMs, this.#options.sessionTimeoutMs)
      const { body: answer } = await connection.request('GroupHeartbeat', body, { timeoutMs })
      // Stopped, or fenced meanwhile (a refused commit): this answer is about the past.
      if (this.#stopped || this.#memberEpoch !== epoch) return
      this.#failures = 0
      this.#lastAnswerMs = Date.now()
      if (topics !== null && topics === this.#topics) this.#topicsSent = true
      this.#memberEpoch = answer.memberEpoch
      this.#intervalMs = Math.max(1, answer.heartbeatIntervalMs)
      next = this.#intervalMs
      const target = new Map<string, TopicPartition>()
      for (const t of answer.assignment) for (const partition of t.partitions) target.set(partitionKey(t.topic, partition), { topic: t.topic, partition })
      this.#target = target
      if (!this.#joinedOnce) {
        this.#joinedOnce = true
        this.#joinWaiter?.resolve()
        this.#joinWaiter = null
      }
      this.#reconcile()
    } catch (err) {
      if (this.#stopped) return
      next = this.#memberEpoch !== epoch ? 0 : this.#heartbeatFailed(err, epoch)
    } finally {
      this.#beating = false
      if (this.#beatAgain) {
        this.#beatAgain = false
        next = 0
      }
      if (next >= 0) this.#schedule(next)
    }
  }

  /** Returns when to beat again (-1: never, the membership is over). */
  #heartbeatFailed (err: unknown, epoch: number): number {
    const logger = this.#cluster.logger
    this.#cluster.forgetCoordinator(this.#options.groupId, err)
    if (this.#cluster.closed) {
      this.#stop()
      return -1
    }
    if (err instanceof UnknownMemberIdError || err instanceof FencedMemberEpochError) {
      logger.warn({ group: this.#options.groupId, memberId: this.memberId, code: err.code }, 'evicted from the group: rejoining')
      if (epoch === this.#memberEpoch) this.#fenced()
      return 0
    }
    const retriable = isRetriable(err)
    if (!retriable || (!this.#joinedOnce && this.#failures >= this.#cluster.options.retry.retries)) {
      this.#end(err instanceof Error ? err : new Error(String(err)))
      return -1
    }
    if (this.#joinedOnce && Date.now() - this.#lastAnswerMs > this.#options.sessionTimeoutMs) {
      this.#lose('no heartbeat answered for sessionTimeoutMs')
    }
    logger.debug({ group: this.#options.groupId, failures: this.#failures, code: (err as SpoolError).code }, `heartbeat retry: ${(err as Error).message}`)
    const wait = backoffMs(this.#failures++, this.#cluster.options.retry)
    return Math.min(wait, Math.max(this.#intervalMs, 100))
  }

  /** The membership is over for good (a non-retriable error). */
  #end (error: Error): void {
    this.#cluster.logger.error({ group: this.#options.groupId, code: (error as SpoolError).code }, `group membership failed: ${error.message}`)
    this.#stop()
    if (this.#joinWaiter !== null) {
      this.#joinWaiter.reject(error)
      this.#joinWaiter = null
    } else {
      this.#host.fail(error)
    }
  }

  /** Evicted (a zombie): drop everything without committing, then rejoin under the same id. */
  #fenced (): void {
    this.#lose('evicted')
    this.#memberEpoch = 0
    this.#topicsSent = false
  }

  /** Partitions are gone without a revocation: no commit, onRevoked with lost: true. */
  #lose (reason: string): void {
    this.#generation++
    this.#target = null
    const lost = [...this.#owned.values(), ...this.#revoking.values()].map(tpOf)
    this.#owned.clear()
    this.#revoking.clear()
    this.#committed.clear()
    if (lost.length === 0) return
    this.#cluster.logger.warn({ group: this.#options.groupId, partitions: lost.length, reason }, 'partitions lost')
    this.#host.remove(lost)
    void this.#callRevoked(lost, { lost: true })
  }

  // --- reconciling the assignment --------------------------------------------------------

  #reconcile (): void {
    if (this.#reconciling !== null || this.#stopped || this.#leaving) return
    this.#reconciling = this.#reconcileLoop().catch(err => {
      // Retried on the next heartbeat answer.
      this.#cluster.logger.warn({ group: this.#options.groupId, err }, 'taking on assigned partitions failed; retrying')
    }).finally(() => { this.#reconciling = null })
  }

  /** Revokes, then adds, until the owned set matches the latest answer (re-read each round). */
  async #reconcileLoop (): Promise<void> {
    while (!this.#stopped && !this.#leaving && this.#target !== null) {
      const target = this.#target
      const revoke = [...this.#owned.keys()].filter(k => !target.has(k))
      const add = [...target.keys()].filter(k => !this.#owned.has(k) && !this.#revoking.has(k))
      if (revoke.length === 0 && add.length === 0) return
      if (revoke.length > 0) await this.#revoke(revoke)
      else await this.#assign(add.map(k => target.get(k)!))
    }
  }

  async #revoke (keys: string[]): Promise<void> {
    const generation = this.#generation
    const states = keys.map(k => this.#owned.get(k)!)
    for (const k of keys) {
      this.#revoking.set(k, this.#owned.get(k)!)
      this.#owned.delete(k)
    }
    const partitions = states.map(tpOf)
    this.#host.remove(partitions)
    await this.#host.idle(states)
    if (this.#options.autoCommit && generation === this.#generation) await this.#commitQuietly(states)
    if (generation !== this.#generation) return
    await this.#callRevoked(partitions, { lost: false })
    if (generation !== this.#generation) return
    for (const k of keys) this.#revoking.delete(k)
    this.#beatNow()
  }

  async #assign (partitions: TopicPartition[]): Promise<void> {
    const generation = this.#generation
    const committed = await this.#fetchCommitted(partitions)
    if (generation !== this.#generation || this.#stopped) return
    const target = this.#target
    const still = partitions.filter(tp => target?.has(key(tp)) === true && !this.#owned.has(key(tp)) && !this.#revoking.has(key(tp)))
    const states = this.#host.add(still.map(tp => ({ ...tp, offset: committed.get(key(tp)) ?? null })))
    for (const state of states) {
      this.#owned.set(key(state), state)
      const offset = committed.get(key(state))
      if (offset !== undefined) this.#committed.set(key(state), offset)
    }
    if (states.length > 0) await this.#callAssigned(states.map(tpOf))
  }

  async #fetchCommitted (partitions: TopicPartition[]): Promise<Map<string, number>> {
    const { body } = await this.#cluster.groupRequest(this.#options.groupId, 'OffsetFetch', { groupId: this.#options.groupId, topics: byTopic(partitions) })
    const out = new Map<string, number>()
    for (const t of body.topics) {
      for (const p of t.partitions) {
        if (p.errorCode !== 0) throw errorFromCode(p.errorCode, p.errorMessage ?? undefined)
        if (p.offset >= 0) out.set(partitionKey(t.topic, p.partition), p.offset)
      }
    }
    return out
  }

  async #callAssigned (partitions: TopicPartition[]): Promise<void> {
    try {
      await this.#options.onAssigned?.(partitions)
    } catch (err) {
      this.#cluster.logger.error({ group: this.#options.groupId, err }, 'onAssigned threw')
    }
  }

  async #callRevoked (partitions: TopicPartition[], info: RevokedInfo): Promise<void> {
    try {
      await this.#options.onRevoked?.(partitions, info)
    } catch (err) {
      this.#cluster.logger.error({ group: this.#options.groupId, err }, 'onRevoked threw')
    }
  }

  // --- commits -----------------------------------------------------------------------------

  /** The processed offsets of owned (and revoking) partitions not committed yet. */
  #processed (states: Iterable<PartitionState>): CommitOffset[] {
    const out: CommitOffset[] = []
    for (const s of states) {
      if (s.processedOffset >= 0 && s.processedOffset > (this.#committed.get(key(s)) ?? -1)) {
        out.push({ topic: s.topic, partition: s.partition, offset: s.processedOffset })
      }
    }
    return out
  }

  /** Commits `offsets`, or everything processed so far and not yet committed. */
  async commit (offsets?: readonly CommitOffset[]): Promise<void> {
    if (this.#left) throw new ClientClosedError('the consumer is closed')
    const list = offsets ?? this.#processed([...this.#owned.values(), ...this.#revoking.values()])
    for (const o of list) {
      if (!Number.isInteger(o.offset) || o.offset < 0) throw new InvalidArgumentError(`offset must be an integer >= 0, got ${String(o.offset)}`)
    }
    if (list.length === 0) return
    await this.#sendCommit(list)
  }

  async #commitQuietly (states: Iterable<PartitionState>): Promise<void> {
    try {
      await this.commit(this.#processed(states))
    } catch (err) {
      this.#cluster.logger.warn({ group: this.#options.groupId, code: (err as SpoolError).code }, `commit failed: ${(err as Error).message}`)
    }
  }

  async #sendCommit (list: readonly CommitOffset[]): Promise<void> {
    const grouped = new Map<string, Array<{ partition: number, offset: number, metadata: string | null }>>()
    for (const o of list) {
      const partitions = grouped.get(o.topic)
      const entry = { partition: o.partition, offset: o.offset, metadata: o.metadata ?? null }
      if (partitions === undefined) grouped.set(o.topic, [entry])
      else partitions.push(entry)
    }
    const topics = [...grouped].map(([topic, partitions]) => ({ topic, partitions }))
    let epoch = this.#memberEpoch
    let response
    try {
      response = await this.#cluster.retry(async () => {
        epoch = this.#memberEpoch
        const connection = await this.#cluster.coordinator(this.#options.groupId)
        return (await connection.request('OffsetCommit', { groupId: this.#options.groupId, memberId: this.memberId, memberEpoch: epoch, topics })).body
      }, {
        retryIf: err => {
          this.#cluster.forgetCoordinator(this.#options.groupId, err)
          // The epoch moved on: the next heartbeat brings the current one.
          if (err instanceof StaleMemberEpochError) this.#beatNow()
          return isRetriable(err) && !this.#left
        },
      })
    } catch (err) {
      if ((err instanceof UnknownMemberIdError || err instanceof FencedMemberEpochError) && epoch === this.#memberEpoch && !this.#leaving && !this.#stopped) {
        this.#cluster.logger.warn({ group: this.#options.groupId, code: err.code }, 'commit refused: this member was evicted; rejoining')
        this.#fenced()
        this.#beatNow()
      }
      throw err
    }
    let first: SpoolError | null = null
    for (const t of response.topics) {
      for (const p of t.partitions) {
        if (p.errorCode !== 0) {
          first ??= errorFromCode(p.errorCode, p.errorMessage ?? `commit for topic "${t.topic}" partition ${p.partition} failed`)
          continue
        }
        const k = partitionKey(t.topic, p.partition)
        const offset = grouped.get(t.topic)!.find(x => x.partition === p.partition)!.offset
        if (offset > (this.#committed.get(k) ?? -1)) this.#committed.set(k, offset)
      }
    }
    if (first !== null) throw first
  }

  #armAutoCommit (): void {
    if (!this.#options.autoCommit || this.#stopped) return
    this.#autoCommitTimer = setTimeout(() => {
      this.#autoCommitTimer = null
      void this.#commitQuietly(this.#owned.values()).finally(() => this.#armAutoCommit())
    }, this.#options.autoCommitIntervalMs)
  }

  // --- leaving -------------------------------------------------------------------------------

  #stop (): void {
    this.#stopped = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    if (this.#autoCommitTimer !== null) clearTimeout(this.#autoCommitTimer)
    this.#timer = null
    this.#autoCommitTimer = null
  }

  /**
   * Leaves the group: finishes a reconcile step in progress, commits what was processed
   * (autoCommit), calls onRevoked (the application may still commit there), and sends the
   * leave heartbeat. Rejects with the error of that last commit, if it failed (after
   * leaving all the same); a failed leave heartbeat is only logged (the session times out).
   */
  async leave (): Promise<void> {
    if (this.#stopped || this.#leaving) return
    this.#leaving = true
    try {
      if (this.#reconciling !== null) await this.#reconciling
      const wasJoined = this.#joinedOnce && this.#memberEpoch > 0
      this.#stop()
      if (this.#joinWaiter !== null) {
        this.#joinWaiter.reject(new ClientClosedError('the consumer was closed before it joined its group'))
        this.#joinWaiter = null
      }
      if (!wasJoined || this.#cluster.closed) return
      const states = [...this.#owned.values(), ...this.#revoking.values()]
      let commitError: unknown = null
      if (this.#options.autoCommit) {
        try {
          await this.commit(this.#processed(states))
        } catch (err) {
          commitError = err
          this.#cluster.logger.warn({ group: this.#options.groupId, code: (err as SpoolError).code }, `final commit failed: ${(err as Error).message}`)
        }
      }
      if (states.length > 0) await this.#callRevoked(states.map(tpOf), { lost: false })
      await this.#sendLeave()
      if (commitError !== null) throw commitError
    } finally {
      this.#left = true
    }
  }

  async #sendLeave (): Promise<void> {
    const temporary = this.#options.instanceId !== null
    let leaveAttempts = 0
    try {
      await this.#cluster.groupRequest(this.#options.groupId, 'GroupHeartbeat', {
        groupId: this.#options.groupId,
        memberId: this.memberId,
        memberEpoch: temporary ? -2 : -1,
        instanceId: this.#options.instanceId,
        rebalanceTimeoutMs: this.#options.rebalanceTimeoutMs,
        sessionTimeoutMs: this.#options.sessionTimeoutMs,
        subscribedTopics: null,
        ownedPartitions: null,
      }, { retryIf: err => isRetriable(err) && ++leaveAttempts <= 2 })
    } catch (err) {
      this.#cluster.logger.warn({ group: this.#options.groupId, code: (err as SpoolError).code }, `leaving the group failed: ${(err as Error).message}`)
    }
  }
}

/**
 * A random member id (UUID v4). From crypto.getRandomValues, which Node 20 and browsers
 * have everywhere (crypto.randomUUID is missing on plain-http pages in browsers).
 */
function newMemberId (): string {
  const b = globalThis.crypto.getRandomValues(new Uint8Array(16))
  b[6] = (b[6]! & 0x0f) | 0x40
  b[8] = (b[8]! & 0x3f) | 0x80
  const hex = Array.from(b, x => x.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
