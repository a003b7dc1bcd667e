/**
 * Durable group state in the internal compacted topic `__consumer_offsets` (docs/architecture.md,
 * consumer groups): the log is the source of truth and the coordinator's memory is rebuilt from it on
 * start. A group lives in partition `murmur2(groupId) % partitions`.
 *
 * Records (key and value are plain msgpack; keys are deterministic so compaction keeps the
 * latest per key; a null value is a tombstone):
 *   key ['offset', groupId, topic, partition] → { offset, metadata, commitTimestampMs }
 *   key ['group', groupId]                    → { groupEpoch, members: [{ memberId, instanceId,
 *                                                 clientId, clientHost, memberEpoch, subscribedTopics,
 *                                                 rebalanceTimeoutMs, sessionTimeoutMs, assigned: [tp] }] }
 *   key ['classic', groupId]                  → a Kafka-protocol group's membership when Stable
 *                                                 (classic-group.ts ClassicSnapshot: generationId,
 *                                                 protocolType, protocolName, leaderId, members with
 *                                                 their protocols' metadata and assignment bytes)
 * An offset value may also carry `leaderEpoch` (committed by a Kafka client).
 * Writes are synchronous appends through the partition service (acks=1: a commit that was
 * answered survives kill -9).
 */

import { packr } from '../../protocol/native/frame.js'
import { partitionForKey } from '../../protocol/bytes/murmur2.js'
import { RecordBatchBuilder } from '../../protocol/record-batch/records.js'
import { INTERNAL_CALLER } from '../security/principal.js'
import type { PartitionService } from '../services/partitions.js'
import { replayPartitionToEnd, replayTopic } from '../services/records.js'
import type { TopicService } from '../services/topics.js'
import type { ClassicSnapshot } from './classic-group.js'
import type { CommittedOffset } from './group.js'

export const OFFSETS_TOPIC = '__consumer_offsets'

export interface StoredMember {
  memberId: string
  instanceId: string | null
  clientId: string
  clientHost: string
  memberEpoch: number
  subscribedTopics: string[]
  rebalanceTimeoutMs: number
  sessionTimeoutMs: number
  assigned: string[]
}

export interface StoredGroup {
  groupEpoch: number
  members: StoredMember[]
}

export type StoreRecord =
  | { kind: 'offset', groupId: string, topic: string, partition: number, value: CommittedOffset | null }
  | { kind: 'group', groupId: string, value: StoredGroup | null }
  | { kind: 'classic', groupId: string, value: ClassicSnapshot | null }

const utf8 = new TextEncoder()

export class OffsetStore {
  readonly #topics: TopicService
  readonly #partitions: PartitionService
  readonly #count: number

  constructor (services: { topics: TopicService, partitions: PartitionService }, partitionCount: number) {
    this.#topics = services.topics
    this.#partitions = services.partitions
    this.#count = partitionCount
  }

  /** Creates the internal topic if it does not exist; returns its partition count. */
  async open (): Promise<number> {
    return (await this.#topics.createInternal(OFFSETS_TOPIC, { partitions: this.#count, compact: true })).partitions
  }

  partitionFor (groupId: string): number {
    return partitionForKey(utf8.encode(groupId), this.#topics.partitionCount(OFFSETS_TOPIC))
  }

  /** Replays every partition of the topic from its start, in order, into `apply`. */
  async load (apply: (record: StoreRecord) => void): Promise<number> {
    let records = 0
    await replayTopic(this.#topics, this.#partitions, OFFSETS_TOPIC, r => {
      if (r.key === null) return
      const decoded = decodeRecord(r.key, r.value)
      if (decoded !== null) {
        apply(decoded)
        records++
      }
    })
    return records
  }

  /** Cluster mode: replays one partition of the topic up to its log end (a new leader's load). */
  async loadPartition (partition: number, apply: (record: StoreRecord) => void): Promise<number> {
    let records = 0
    await replayPartitionToEnd(this.#partitions, OFFSETS_TOPIC, partition, r => {
      if (r.key === null) return
      const decoded = decodeRecord(r.key, r.value)
      if (decoded !== null) {
        apply(decoded)
        records++
      }
    })
    return records
  }

  /**
   * Resolves once the group's records written so far are as durable as a commit must be:
   * at once on a single broker (written to the log, acks=1), held by every in-sync replica of
   * the group's partition in a cluster.
   */
  durable (groupId: string): Promise<void> {
    if (!this.#partitions.replicated) return Promise.resolve()
    return this.#partitions.sync(OFFSETS_TOPIC, this.partitionFor(groupId))
  }

  /** Appends offset commits (and tombstones, value null) of one group in one batch. */
  writeOffsets (groupId: string, entries: ReadonlyArray<{ topic: string, partition: number, value: CommittedOffset | null }>): void {
    if (entries.length === 0) return
    const builder = new RecordBatchBuilder(256 * entries.length)
    for (const e of entries) {
      builder.append({
        key: packr.pack(['offset', groupId, e.topic, e.partition]) as Uint8Array,
        value: e.value === null ? null : packr.pack(e.value) as Uint8Array,
      })
    }
    this.#partitions.append(INTERNAL_CALLER, OFFSETS_TOPIC, this.partitionFor(groupId), builder.build())
  }

  /** Appends a Kafka-protocol group's membership snapshot (null deletes it). */
  writeClassic (groupId: string, value: ClassicSnapshot | null): void {
    const builder = new RecordBatchBuilder(1024)
    builder.append({ key: packr.pack(['classic', groupId]) as Uint8Array, value: value === null ? null : packr.pack(value) as Uint8Array })
    this.#partitions.append(INTERNAL_CALLER, OFFSETS_TOPIC, this.partitionFor(groupId), builder.build())
  }

  /** Appends the group's membership snapshot (null deletes it). */
  writeGroup (groupId: string, value: StoredGroup | null): void {
    const builder = new RecordBatchBuilder(1024)
    builder.append({ key: packr.pack(['group', groupId]) as Uint8Array, value: value === null ? null : packr.pack(value) as Uint8Array })
    this.#partitions.append(INTERNAL_CALLER, OFFSETS_TOPIC, this.partitionFor(groupId), builder.build())
  }
}

/** Decodes one stored record; anything unrecognised is skipped (null), never trusted. */
function decodeRecord (key: Uint8Array, value: Uint8Array | null): StoreRecord | null {
  let k: unknown
  let v: unknown
  try {
    k = packr.unpack(key)
    v = value === null ? null : packr.unpack(value)
  } catch {
    return null
  }
  if (!Array.isArray(k)) return null
  if (k[0] === 'offset' && typeof k[1] === 'string' && typeof k[2] === 'string' && typeof k[3] === 'number') {
    if (v === null) return { kind: 'offset', groupId: k[1], topic: k[2], partition: k[3], value: null }
    const o = v as Partial<CommittedOffset>
    if (typeof o.offset !== 'number') return null
    return {
      kind: 'offset',
      groupId: k[1],
      topic: k[2],
      partition: k[3],
      value: {
        offset: o.offset,
        metadata: typeof o.metadata === 'string' ? o.metadata : null,
        commitTimestampMs: typeof o.commitTimestampMs === 'number' ? o.commitTimestampMs : 0,
        ...(typeof o.leaderEpoch === 'number' ? { leaderEpoch: o.leaderEpoch } : {}),
      },
    }
  }
  if (k[0] === 'classic' && typeof k[1] === 'string') {
    if (v === null) return { kind: 'classic', groupId: k[1], value: null }
    const c = v as Partial<ClassicSnapshot>
    if (typeof c.generationId !== 'number' || !Array.isArray(c.members)) return null
    const members = c.members.filter(m => typeof m?.memberId === 'string' && Array.isArray(m.protocols) && m.assignment instanceof Uint8Array).map(m => ({
      memberId: m.memberId,
      groupInstanceId: typeof m.groupInstanceId === 'string' ? m.groupInstanceId : null,
      clientId: String(m.clientId ?? ''),
      clientHost: String(m.clientHost ?? ''),
      sessionTimeoutMs: Number(m.sessionTimeoutMs) || 45_000,
      rebalanceTimeoutMs: Number(m.rebalanceTimeoutMs) || 300_000,
      protocolType: String(m.protocolType ?? 'consumer'),
      protocols: m.protocols.filter(p => typeof p?.name === 'string' && p.metadata instanceof Uint8Array).map(p => ({ name: p.name, metadata: p.metadata })),
      assignment: m.assignment,
    }))
    return {
      kind: 'classic',
      groupId: k[1],
      value: {
        generationId: c.generationId,
        protocolType: typeof c.protocolType === 'string' ? c.protocolType : null,
        protocolName: typeof c.protocolName === 'string' ? c.protocolName : null,
        leaderId: typeof c.leaderId === 'string' ? c.leaderId : null,
        members,
      },
    }
  }
  if (k[0] === 'group' && typeof k[1] === 'string') {
    if (v === null) return { kind: 'group', groupId: k[1], value: null }
    const g = v as Partial<StoredGroup>
    if (typeof g.groupEpoch !== 'number' || !Array.isArray(g.members)) return null
    return { kind: 'group', groupId: k[1], value: { groupEpoch: g.groupEpoch, members: g.members } }
  }
  return null
}
