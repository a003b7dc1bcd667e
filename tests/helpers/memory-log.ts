/**
 * An in-memory stand-in for the broker's PartitionService with the shape the MQTT gateway
 * uses (broker/listeners/mqtt/log-access.ts): batches get offsets on append (baseOffset
 * rewritten, as the storage engine does) and reads return whole batches from the one that
 * contains the offset. For unit tests of the gateway without the storage engine.
 */

import { OffsetOutOfRangeError, UnknownTopicOrPartitionError } from '../../protocol/errors.js'
import { writeInt64 } from '../../protocol/bytes/int64.js'
import { forEachBatch } from '../../protocol/record-batch/records.js'
import type { LogAccess } from '../../broker/listeners/mqtt/log-access.js'

interface Part {
  batches: Uint8Array[]
  bases: number[]
  logStartOffset: number
  logEndOffset: number
  readonly highWatermark: number
}

export class MemoryLog implements LogAccess {
  readonly #topics = new Map<string, { partitions: number, parts: Part[] }>()
  readonly #waiters = new Map<string, Set<() => void>>()
  appends = 0

  readonly logs = {
    hasTopic: (name: string): boolean => this.#topics.has(name),
    topic: (name: string): { partitions: number } | undefined => this.#topics.get(name),
    createTopic: async (name: string, options: { partitions: number }): Promise<void> => {
      const parts: Part[] = []
      for (let i = 0; i < options.partitions; i++) {
        parts.push({ batches: [], bases: [], logStartOffset: 0, logEndOffset: 0, get highWatermark () { return this.logEndOffset } })
      }
      this.#topics.set(name, { partitions: options.partitions, parts })
    },
    partition: (topic: string, partition: number): Part => this.#part(topic, partition),
  }

  #part (topic: string, partition: number): Part {
    const p = this.#topics.get(topic)?.parts[partition]
    if (p === undefined) throw new UnknownTopicOrPartitionError(`${topic}-${partition}`)
    return p
  }

  append (topic: string, partition: number, payload: Uint8Array): { baseOffset: number, lastOffset: number } {
    const part = this.#part(topic, partition)
    const baseOffset = part.logEndOffset
    forEachBatch(payload, (pos, size) => {
      const batch = payload.slice(pos, pos + size)
      const view = new DataView(batch.buffer)
      writeInt64(view, 0, part.logEndOffset)
      part.batches.push(batch)
      part.bases.push(part.logEndOffset)
      part.logEndOffset += view.getInt32(23) + 1
    })
    this.appends++
    const set = this.#waiters.get(`${topic}\u0000${partition}`)
    if (set !== undefined) for (const w of [...set]) w()
    return { baseOffset, lastOffset: part.logEndOffset - 1 }
  }

  async sync (): Promise<void> {}

  async read (topic: string, partition: number, offset: number, maxBytes: number, minOneBatch: boolean): Promise<{ bytes: Uint8Array, nextOffset: number }> {
    const part = this.#part(topic, partition)
    if (offset < part.logStartOffset || offset > part.logEndOffset) throw new OffsetOutOfRangeError(`${offset}`)
    let i = part.bases.length - 1
    while (i >= 0 && part.bases[i]! > offset) i--
    if (i < 0) i = 0
    const out: Uint8Array[] = []
    let bytes = 0
    let next = offset
    for (; i < part.batches.length; i++) {
      const b = part.batches[i]!
      if (bytes + b.length > maxBytes && !(minOneBatch && out.length === 0)) break
      out.push(b)
      bytes += b.length
      next = (part.bases[i + 1] ?? part.logEndOffset)
    }
    return { bytes: Buffer.concat(out), nextOffset: Math.max(next, offset) }
  }

  onNextAppend (partitions: ReadonlyArray<readonly [string, number]>, fn: () => void): () => void {
    let fired = false
    const keys = partitions.map(([t, p]) => `${t}\u0000${p}`)
    const once = (): void => {
      if (fired) return
      fired = true
      cancel()
      fn()
    }
    for (const k of keys) {
      let set = this.#waiters.get(k)
      if (set === undefined) this.#waiters.set(k, (set = new Set()))
      set.add(once)
    }
    const cancel = (): void => { for (const k of keys) this.#waiters.get(k)?.delete(once) }
    return cancel
  }
}
