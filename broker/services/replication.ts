/**
 * What the partition service asks of replication in cluster mode (docs/cluster.md): whether
 * this broker may take a write or serve a read of a partition, what an acks=all write waits
 * for, and which replica a consumer should read from. The replica manager in
 * broker/cluster/ implements it; a single broker has none (every partition is its own, the
 * high watermark follows the log end, acks=all is an fsync).
 *
 * Every method is synchronous except waitCommitted; each throws the named error the client
 * sees (NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS, ...).
 */

import type { RequestOf, ResponseOf } from '../../protocol/native/api-keys.js'

export type RequiredAcks = -1 | 0 | 1

export interface ReplicaGate {
  /**
   * Before a client append: NotLeaderOrFollowerError unless this broker leads the partition
   * (and can act as its leader), NotEnoughReplicasError for acks=all with fewer in-sync
   * replicas than minInsyncReplicas.
   */
  checkWrite (topic: string, partition: number, acks: RequiredAcks): void
  /** Whether this broker leads the partition now. */
  leads (topic: string, partition: number): boolean
  /** After the leader appended: followers waiting for data are woken; a lone leader moves its high watermark. */
  appended (topic: string, partition: number): void
  /**
   * acks=all: resolves once every in-sync replica has the records below `offset` (the high
   * watermark reached it); NotEnoughReplicasAfterAppendError if the ISR fell below
   * minInsyncReplicas meanwhile, NotLeaderOrFollowerError if leadership moved, RequestTimedOutError
   * after `timeoutMs`.
   */
  waitCommitted (topic: string, partition: number, offset: number, timeoutMs: number): Promise<void>
  /**
   * Before a client read: NotLeaderOrFollowerError unless this broker leads the partition, or
   * holds a follower replica and `followerRead` (a rack-aware consumer, KIP-392).
   */
  checkRead (topic: string, partition: number, followerRead: boolean): void
  /** KIP-392: the replica a consumer in `rack` should fetch from, or -1 for the leader. */
  preferredReadReplica (topic: string, partition: number, rack: string): number
}

/** The leader's side of the replication apis, served by the native front-end in cluster mode. */
export interface ReplicaEndpoints {
  replicaFetch (req: RequestOf<'ReplicaFetch'>, signal: AbortSignal): Promise<{ body: Omit<ResponseOf<'ReplicaFetch'>, 'errorCode' | 'errorMessage'>, records: Uint8Array[] }>
  offsetForLeaderEpoch (req: RequestOf<'OffsetForLeaderEpoch'>): Omit<ResponseOf<'OffsetForLeaderEpoch'>, 'errorCode' | 'errorMessage'>
}

/**
 * Cluster mode: the broker's own writers (the MQTT gateway) append to partitions led by other
 * brokers through this — the batches go to the leader as a Produce, in order per partition.
 */
export interface AppendForwarder {
  /** Queues whole batches for the partition's leader (the payload is copied). */
  forward (topic: string, partition: number, payload: Uint8Array): void
  /** Resolves once everything forwarded for the partition so far is committed on its leader; rejects with the first failure since the last flush. */
  flush (topic: string, partition: number): Promise<void>
}
