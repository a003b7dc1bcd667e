/**
 * The consumer protocol's embedded formats: what a Kafka consumer puts in JoinGroup's
 * protocols[].metadata (its subscription) and what the leader puts in SyncGroup's
 * assignments[].assignment (each member's partitions). Both are an int16 version, then a
 * never-flexible struct:
 *
 *   subscription v0 := topics []string, userData nullable bytes
 *                v1 := v0 + ownedPartitions [topic string, partitions []int32]
 *                v2 := v1 + generationId int32 (-1 when unknown)
 *                v3 := v2 + rackId nullable string
 *   assignment v0-3 := assignedPartitions [topic string, partitions []int32], userData nullable bytes
 *
 * Newer versions may only append fields, so a version above 3 is read as v3 and the
 * appended bytes are ignored (as Kafka's own reader does). Known versions must be consumed
 * exactly, by their own layout or an older one (see readVersioned). An empty assignment
 * (0 bytes) is legal and means "no partitions".
 * librdkafka 2.0.2 writes subscription v1 (empty ownedPartitions), kafkajs v0.
 */

import { MalformedFrameError } from '../errors.js'
import { Reader } from '../bytes/reader.js'
import { Writer } from '../bytes/writer.js'
import { Message } from './api.js'
import { array, bytes, int32, string } from './schema.js'
import type { Decoded, Encodable } from './schema.js'

const LATEST = 3

const topicPartitions = {
  topic: string(),
  partitions: array('int32'),
} as const

const Subscription = new Message('ConsumerProtocolSubscription', {
  topics: array('string'),
  userData: bytes({ nullable: '0+', default: null }),
  ownedPartitions: array(topicPartitions, { versions: '1+' }),
  generationId: int32({ versions: '2+', default: -1 }),
  rackId: string({ versions: '3+', nullable: '3+', default: null }),
}, 0, LATEST, Infinity)

const Assignment = new Message('ConsumerProtocolAssignment', {
  assignedPartitions: array(topicPartitions),
  userData: bytes({ nullable: '0+', default: null }),
}, 0, LATEST, Infinity)

/** `version` is the one written; `layoutVersion` the layout the fields were read with. */
export type ConsumerSubscription = Decoded<typeof Subscription.fields> & { version: number, layoutVersion: number }
export type ConsumerAssignment = Decoded<typeof Assignment.fields> & { version: number, layoutVersion: number }

function readAs<T> (message: Message<typeof Subscription.fields> | Message<typeof Assignment.fields>, data: Uint8Array, layout: number, exact: boolean): T {
  const r = new Reader(data, 2)
  const body = message.read(layout, r) as T
  if (exact) r.expectEnd(`${message.name} v${layout}`)
  return body
}

/**
 * Reads the int16 version and the struct. A body that ends exactly where an older layout
 * ends is read as that layout (fields of later versions take their defaults):
 * @platformatic/kafka 1.35 labels its subscriptions v1 but writes the v0 fields only.
 */
function readVersioned<T> (message: Message<typeof Subscription.fields> | Message<typeof Assignment.fields>, data: Uint8Array): T & { version: number, layoutVersion: number } {
  const version = new Reader(data).int16()
  if (version < 0) throw new MalformedFrameError(`${message.name} version ${version} is negative`)
  if (version > LATEST) return { version, layoutVersion: LATEST, ...readAs<T>(message, data, LATEST, false) }
  try {
    return { version, layoutVersion: version, ...readAs<T>(message, data, version, true) }
  } catch (err) {
    for (let older = version - 1; older >= 0; older--) {
      try {
        return { version, layoutVersion: older, ...readAs<T>(message, data, older, true) }
      } catch {}
    }
    throw err
  }
}

/** Reads a member's subscription (JoinGroup protocol metadata). */
export function decodeSubscription (data: Uint8Array): ConsumerSubscription {
  return readVersioned<Decoded<typeof Subscription.fields>>(Subscription, data)
}

/** Writes a subscription at `version` (0-3; default 3). */
export function encodeSubscription (value: Encodable<typeof Subscription.fields>, version = LATEST): Uint8Array {
  const w = new Writer(64)
  w.int16(version)
  Subscription.write(version, value, w)
  return w.toBytes()
}

/** Reads a member's assignment (SyncGroup assignment bytes); 0 bytes is an empty assignment. */
export function decodeAssignment (data: Uint8Array): ConsumerAssignment {
  if (data.length === 0) return { version: 0, layoutVersion: 0, assignedPartitions: [], userData: null }
  return readVersioned<Decoded<typeof Assignment.fields>>(Assignment, data)
}

/** Writes an assignment at `version` (0-3; default 3, the same layout in all four). */
export function encodeAssignment (value: Encodable<typeof Assignment.fields>, version = LATEST): Uint8Array {
  const w = new Writer(64)
  w.int16(version)
  Assignment.write(version, value, w)
  return w.toBytes()
}
