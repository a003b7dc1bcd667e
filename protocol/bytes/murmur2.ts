/**
 * Kafka's default key partitioner: 32-bit MurmurHash2 with seed 0x9747b28c over the key
 * bytes, then `(h & 0x7fffffff) % partitions` (docs/formats.md §5). Java, kafkajs and
 * librdkafka's `murmur2_random` agree with this, so a key lands on the same partition
 * whichever client wrote it. `toPositive` is a mask, not Math.abs.
 */

const SEED = 0x9747b28c
const M = 0x5bd1e995

/** MurmurHash2 of `data` as a signed int32, exactly as Kafka's Utils.murmur2. */
export function murmur2 (data: Uint8Array): number {
  const length = data.length
  let h = SEED ^ length
  const blocks = length & ~3
  for (let i = 0; i < blocks; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)
    k = Math.imul(k, M)
    k ^= k >>> 24
    k = Math.imul(k, M)
    h = Math.imul(h, M)
    h ^= k
  }
  // Tail of 1-3 bytes, falling through from the third byte down to the first.
  const tail = length & 3
  if (tail > 0) {
    if (tail === 3) h ^= data[blocks + 2]! << 16
    if (tail >= 2) h ^= data[blocks + 1]! << 8
    h ^= data[blocks]!
    h = Math.imul(h, M)
  }
  h ^= h >>> 13
  h = Math.imul(h, M)
  h ^= h >>> 15
  return h | 0
}

/** The partition Kafka's default partitioner picks for a non-null key. */
export function partitionForKey (key: Uint8Array, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions
}
