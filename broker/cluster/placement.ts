/**
 * Replica placement for new partitions: Kafka's rack-aware round robin (AdminUtils'
 * assignReplicasToBrokers), a pure function.
 *
 * 1. Brokers are arranged rack-alternated: racks sorted by name, brokers of each rack sorted by
 *    id, then one broker from each rack in turn (r1b1, r2b1, r3b1, r1b2, ...). Brokers without a
 *    rack count as one more rack, so with no racks at all this is the id-sorted list and the
 *    result equals Kafka's rack-unaware assignment.
 * 2. Partition p's first replica (its preferred leader) is broker (p + startIndex) mod n, so
 *    leadership is spread evenly.
 * 3. Further replicas are taken at a shift from the first; the shift grows by one after every n
 *    partitions so followers spread too. A candidate is skipped while its rack already holds a
 *    replica (unless every rack does) or it already holds one (unless every broker does).
 *
 * startIndex and the initial shift are random per topic (as in Kafka) unless given.
 */

import { InvalidPartitionsError, InvalidReplicationFactorError } from '../../protocol/errors.js'

export interface PlacementBroker { nodeId: number, rack: string | null }

export interface PlacementRequest {
  partitions: number
  replicationFactor: number
  /** Brokers that may hold replicas (live and not being decommissioned). */
  brokers: readonly PlacementBroker[]
  /** Index of the first partition's first replica in the arranged list (random when absent). */
  startIndex?: number
  /** Initial follower shift (random when absent). */
  replicaShift?: number
  /** Id of the first partition to place (adding partitions to a topic). */
  firstPartition?: number
}

/** Brokers interleaved by rack (see the header). */
export function rackAlternatedBrokers (brokers: readonly PlacementBroker[]): PlacementBroker[] {
  const byRack = new Map<string, PlacementBroker[]>()
  for (const b of brokers) {
    const rack = b.rack ?? ''
    let list = byRack.get(rack)
    if (list === undefined) byRack.set(rack, list = [])
    list.push(b)
  }
  const racks = [...byRack.keys()].sort()
  for (const rack of racks) byRack.get(rack)!.sort((a, b) => a.nodeId - b.nodeId)
  const out: PlacementBroker[] = []
  for (let round = 0; out.length < brokers.length; round++) {
    for (const rack of racks) {
      const b = byRack.get(rack)![round]
      if (b !== undefined) out.push(b)
    }
  }
  return out
}

function replicaIndex (firstIndex: number, shift: number, k: number, n: number): number {
  return (firstIndex + 1 + ((shift + k) % (n - 1))) % n
}

/** The replica list of each partition, in preference order. */
export function placeReplicas (request: PlacementRequest, random: () => number = Math.random): number[][] {
  const { partitions, replicationFactor, brokers } = request
  if (!Number.isSafeInteger(partitions) || partitions < 1) throw new InvalidPartitionsError(`partition count must be at least 1, got ${partitions}`)
  if (!Number.isSafeInteger(replicationFactor) || replicationFactor < 1) {
    throw new InvalidReplicationFactorError(`replication factor must be at least 1, got ${replicationFactor}`)
  }
  if (replicationFactor > brokers.length) {
    throw new InvalidReplicationFactorError(`replication factor ${replicationFactor} is larger than the ${brokers.length} live broker(s) that can take replicas`)
  }
  const arranged = rackAlternatedBrokers(brokers)
  const n = arranged.length
  const numRacks = new Set(arranged.map(b => b.rack ?? '')).size
  const startIndex = request.startIndex ?? Math.floor(random() * n)
  let shift = request.replicaShift ?? Math.floor(random() * n)
  const out: number[][] = []
  let p = Math.max(0, request.firstPartition ?? 0)
  for (let i = 0; i < partitions; i++, p++) {
    if (p > 0 && p % n === 0) shift++
    const first = (p + startIndex) % n
    const leader = arranged[first]!
    const replicas = [leader.nodeId]
    const racksUsed = new Set([leader.rack ?? ''])
    const brokersUsed = new Set([leader.nodeId])
    // Each pass of the inner loop moves k on; at most n - 1 candidates are distinct, so the
    // skip rules (racks, then brokers) always admit one within 2n steps.
    let k = 0
    while (replicas.length < replicationFactor) {
      const candidate = arranged[replicaIndex(first, shift * numRacks, k, n)]!
      k++
      const rack = candidate.rack ?? ''
      if (racksUsed.has(rack) && racksUsed.size < numRacks) continue
      if (brokersUsed.has(candidate.nodeId) && brokersUsed.size < n) continue
      replicas.push(candidate.nodeId)
      racksUsed.add(rack)
      brokersUsed.add(candidate.nodeId)
    }
    out.push(replicas)
  }
  return out
}
