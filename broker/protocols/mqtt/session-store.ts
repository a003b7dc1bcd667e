/**
 * Persistent MQTT sessions in the internal compacted topic `__mqtt_sessions` (1 partition):
 * one record per client id, rewritten when the session's subscriptions change, when it
 * disconnects, when the broker closes, and at most once a second while it is connected and
 * its positions moved. The log is the source of truth; the gateway rebuilds offline
 * sessions from it on start. A session that ends (clean start, expiry) gets a tombstone.
 *
 * Record format (msgpack, like __consumer_offsets):
 *   key    the client id, UTF-8
 *   value  { v: 1, expirySec, disconnectedAtMs, protocolVersion,
 *            subscriptions: [{ filter, qos, nl, rap, rh, subId }],        filter as subscribed ($share/... kept)
 *            positions: [[logTopic, partition, nextOffset]],              next record to consider
 *            inflight: [[packetId, qos, state, logTopic, partition, offset]], state 0 = PUBLISH sent, 1 = PUBREL sent
 *            inboundQos2: [packetId] }                                    QoS 2 received, PUBREL not yet
 *          or null (tombstone)
 * A crash loses at most the last second of position updates: QoS 1 messages may then be
 * delivered again (allowed), QoS 2 messages delivered but not yet recorded may repeat.
 *
 * Writes are gathered for one turn of the event loop and appended together (one batch, one
 * write, for however many sessions changed in that turn — a reconnect storm of thousands
 * costs a few appends, not one each), at most FLUSH_PER_TURN sessions a turn; the state
 * written is the session's as it is then, so a session changed several times before it is
 * written is written once. `flush()` writes everything that waits (the gateway calls it when
 * it closes).
 */

import { packr } from '../../../protocol/native/frame.js'
import { RecordBatchBuilder } from '../../../protocol/record-batch/records.js'
import type { QoS } from './codec.js'
import { append, ensureTopic, replayTopic, type LogAccess } from './log-access.js'
import { NextTurn } from './next-turn.js'

export const SESSIONS_TOPIC = '__mqtt_sessions'

export interface StoredSubscription {
  filter: string
  qos: QoS
  nl: boolean
  rap: boolean
  rh: number
  subId: number | null
}

export type StoredPosition = [logTopic: string, partition: number, nextOffset: number]
export type StoredInflight = [packetId: number, qos: QoS, state: 0 | 1, logTopic: string, partition: number, offset: number]

export interface StoredSession {
  v: 1
  expirySec: number
  disconnectedAtMs: number | null
  protocolVersion: 4 | 5
  subscriptions: StoredSubscription[]
  positions: StoredPosition[]
  inflight: StoredInflight[]
  inboundQos2: number[]
}

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder()

/** The state a pending write takes when flushed (a session's snapshot then), or null for a tombstone. */
export type PendingState = { snapshot (): StoredSession } | null

/** Bytes of one batch of session records before another is started. */
const FLUSH_BATCH_BYTES = 256 * 1024
/** Sessions written per turn of the event loop at most. */
const FLUSH_PER_TURN = 500

export class SessionStore {
  readonly #log: LogAccess
  readonly #onError: (err: unknown) => void
  #pending = new Map<string, PendingState>()
  readonly #next = new NextTurn(() => {
    this.flush(FLUSH_PER_TURN)
    if (this.#pending.size > 0) this.#next.schedule()
  })

  constructor (log: LogAccess, onError: (err: unknown) => void = () => {}) {
    this.#log = log
    this.#onError = onError
  }

  /** Creates the topic if needed and returns the latest stored state of every session. */
  async open (): Promise<Map<string, StoredSession>> {
    await ensureTopic(this.#log, SESSIONS_TOPIC, 1, true)
    const sessions = new Map<string, StoredSession>()
    await replayTopic(this.#log, SESSIONS_TOPIC, r => {
      if (r.key === null) return
      const clientId = utf8Decoder.decode(r.key)
      const value = r.value === null ? null : decodeSession(r.value)
      if (value === null) sessions.delete(clientId)
      else sessions.set(clientId, value)
    })
    return sessions
  }

  /** Stores the session's state at the end of this turn (null: the session ended). */
  write (clientId: string, state: PendingState): void {
    this.#pending.set(clientId, state)
    this.#next.schedule()
  }

  /** Appends pending writes now (at most `limit` of them; the rest wait), in as few batches as fit. */
  flush (limit = Infinity): void {
    if (this.#pending.size === 0) return
    let pending = this.#pending
    if (pending.size <= limit) {
      this.#pending = new Map()
    } else {
      // The oldest `limit` now, the rest on the next turn: a burst never holds the loop long.
      pending = new Map()
      for (const [clientId, state] of this.#pending) {
        if (pending.size >= limit) break
        pending.set(clientId, state)
        this.#pending.delete(clientId)
      }
    }
    let builder: RecordBatchBuilder | null = null
    const appendBuilt = (): void => {
      if (builder === null) return
      const bytes = builder.build()
      builder = null
      try {
        append(this.#log, SESSIONS_TOPIC, 0, bytes)
      } catch (err) {
        this.#onError(err)
      }
    }
    for (const [clientId, state] of pending) {
      const value = state === null ? null : packr.pack(state.snapshot()) as Uint8Array
      const key = utf8.encode(clientId)
      const size = key.length + (value?.length ?? 0) + 32
      if (builder !== null && builder.sizeBytes + size > FLUSH_BATCH_BYTES) appendBuilt()
      builder ??= new RecordBatchBuilder(Math.min(FLUSH_BATCH_BYTES, Math.max(512, size * 2)))
      builder.append({ key, value })
    }
    appendBuilt()
  }
}

/** A stored session, or null when the bytes are not one (never trusted blindly). */
function decodeSession (bytes: Uint8Array): StoredSession | null {
  let v: unknown
  try {
    v = packr.unpack(bytes)
  } catch {
    return null
  }
  if (typeof v !== 'object' || v === null) return null
  const s = v as Partial<StoredSession>
  if (s.v !== 1 || typeof s.expirySec !== 'number' || !Array.isArray(s.subscriptions) || !Array.isArray(s.positions)) return null
  return {
    v: 1,
    expirySec: s.expirySec,
    disconnectedAtMs: typeof s.disconnectedAtMs === 'number' ? s.disconnectedAtMs : null,
    protocolVersion: s.protocolVersion === 5 ? 5 : 4,
    subscriptions: s.subscriptions.filter(x => typeof x === 'object' && x !== null && typeof x.filter === 'string'),
    positions: s.positions.filter(x => Array.isArray(x) && typeof x[0] === 'string' && typeof x[1] === 'number' && typeof x[2] === 'number'),
    inflight: Array.isArray(s.inflight) ? s.inflight.filter(x => Array.isArray(x) && x.length === 6) : [],
    inboundQos2: Array.isArray(s.inboundQos2) ? s.inboundQos2.filter(x => typeof x === 'number') : [],
  }
}
