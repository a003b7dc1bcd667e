/**
 * Requests to the controller, carried through etcd: a broker puts `P/requests/<id>` under its
 * own lease (so the request vanishes if the broker dies), the controller watches the prefix,
 * applies the request in one transaction together with writing its answer into the same key
 * (`result`), and the asker, which sees the answer through its own watch, deletes the key.
 * Because the answer is written in the transaction that makes the change, a controller that
 * dies half-way leaves either no change and no answer (its successor runs the request) or
 * both. Requests are JSON:
 *
 *   { id, kind, from, createdAtMs, expiresAtMs, body, result?: { ok: true, value } | { ok: false, errorCode, message } }
 *
 * A request whose put timed out may still reach etcd later (a write etcd had accepted is
 * committed once it has a quorum again), as a timed-out Kafka admin request may still be
 * applied. The controller drops requests past their `expiresAtMs` (plus 1 s for clock skew)
 * instead of running them, so a broker that gave up does not see its change applied long after.
 *
 * Why etcd and not an inter-broker RPC: it needs no broker-to-broker connection (which the
 * network layer does not have yet), it survives a controller change (the next controller finds
 * pending requests on election), and it orders requests with everything else in one log.
 */

import type { IsrChangeRequest } from './controller-logic.js'
import type { PartitionState, TopicConfig, TopicRecord } from './records.js'
import { RecordFormatError } from './records.js'

export interface CreateTopicBody {
  name: string
  partitions: number
  replicationFactor: number
  config?: TopicConfig
  /** Explicit replica lists, one per partition (placement is skipped). */
  assignment?: number[][]
  /** Allows names starting with "__" (internal topics). */
  internal?: boolean
}

export interface PartitionRef { topic: string, partition: number }

export interface RequestBodies {
  createTopic: CreateTopicBody
  deleteTopic: { name: string }
  /** Keys set to null are removed. */
  alterTopicConfig: { name: string, config: TopicConfig }
  createPartitions: { name: string, totalCount: number }
  alterIsr: IsrChangeRequest
  reassignPartitions: { moves: Array<PartitionRef & { replicas: number[] }> }
  decommissionBroker: { nodeId: number }
  recommissionBroker: { nodeId: number }
  electPreferredLeaders: { partitions: PartitionRef[] | null }
}

export interface RequestResults {
  createTopic: TopicRecord
  deleteTopic: { name: string, partitions: number }
  alterTopicConfig: TopicRecord
  createPartitions: TopicRecord
  alterIsr: PartitionState
  reassignPartitions: { started: number, completed: number }
  decommissionBroker: { moved: number }
  recommissionBroker: { nodeId: number }
  electPreferredLeaders: { results: Array<PartitionRef & { outcome: 'elected' | 'alreadyPreferred' | 'preferredNotAvailable' | 'unknownPartition' }> }
}

export type RequestKind = keyof RequestBodies
export const REQUEST_KINDS: readonly RequestKind[] = [
  'createTopic', 'deleteTopic', 'alterTopicConfig', 'createPartitions', 'alterIsr', 'reassignPartitions',
  'decommissionBroker', 'recommissionBroker', 'electPreferredLeaders',
]

export type RequestResult<K extends RequestKind = RequestKind> =
  | { ok: true, value: RequestResults[K] }
  | { ok: false, errorCode: number, message: string }

export interface ControllerRequest<K extends RequestKind = RequestKind> {
  id: string
  kind: K
  from: number
  createdAtMs: number
  /** The asker stops waiting then (its clock); the controller drops the request once past it. */
  expiresAtMs?: number
  body: RequestBodies[K]
  result?: RequestResult<K>
}

/** Checks the envelope; bodies are checked by the controller's handler for their kind. */
export function parseControllerRequest (v: unknown): ControllerRequest {
  if (typeof v !== 'object' || v === null) throw new RecordFormatError('request: not an object')
  const o = v as Record<string, unknown>
  if (typeof o.id !== 'string' || o.id === '') throw new RecordFormatError('request.id: not a string')
  if (!(REQUEST_KINDS as readonly unknown[]).includes(o.kind)) throw new RecordFormatError(`request.kind: unknown ${String(o.kind)}`)
  if (typeof o.from !== 'number' || typeof o.createdAtMs !== 'number') throw new RecordFormatError('request.from/createdAtMs: not numbers')
  if (typeof o.body !== 'object' || o.body === null) throw new RecordFormatError('request.body: not an object')
  if (o.result !== undefined) {
    const r = o.result as Record<string, unknown> | null
    if (r === null || typeof r !== 'object' || (r.ok !== true && (r.ok !== false || typeof r.errorCode !== 'number' || typeof r.message !== 'string'))) {
      throw new RecordFormatError('request.result: malformed')
    }
  }
  return o as unknown as ControllerRequest
}
