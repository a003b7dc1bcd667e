/**
 * Which partition a produced message goes to, in this order (docs/architecture.md §7):
 *   1. an explicit `partition`;
 *   2. a non-null key: murmur2(key) % partitions, Kafka's default partitioner, so a key
 *      lands on the same partition whichever client (Java, kafkajs, Spool) wrote it;
 *   3. a null key: the sticky partitioner (KIP-480): stay on one partition until the batch
 *      being filled there is closed, then move to another at random. Batches fill up
 *      instead of spreading one record per partition per request.
 */

import { partitionForKey } from '../protocol/bytes/murmur2.js'

export class StickyPartitioner {
  readonly #current = new Map<string, number>()
  readonly #random: () => number

  constructor (random: () => number = Math.random) {
    this.#random = random
  }

  /** The partition for a null-key message of `topic` with `partitions` partitions. */
  partition (topic: string, partitions: number): number {
    const current = this.#current.get(topic)
    if (current !== undefined && current < partitions) return current
    const chosen = Math.floor(this.#random() * partitions)
    this.#current.set(topic, chosen)
    return chosen
  }

  /**
   * A batch of `topic`/`partition` was closed: if it was the sticky one, move to another
   * partition (a different one when there are several).
   */
  batchClosed (topic: string, partition: number, partitions: number): void {
    if (this.#current.get(topic) !== partition) return
    if (partitions <= 1) return
    let next = Math.floor(this.#random() * (partitions - 1))
    if (next >= partition) next++
    this.#current.set(topic, next)
  }
}

/** The partition for a message: explicit, keyed (murmur2) or sticky. */
export function choosePartition (
  topic: string, partitions: number, key: Uint8Array | null, explicit: number | undefined, sticky: StickyPartitioner,
): number {
  if (explicit !== undefined) return explicit
  if (key !== null) return partitionForKey(key, partitions)
  return sticky.partition(topic, partitions)
}
