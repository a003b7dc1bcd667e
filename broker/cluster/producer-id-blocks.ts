/**
 * Producer ids unique across the cluster. `P/producer-ids` holds `{ nextBlockStart }`; a broker
 * takes the block [nextBlockStart, nextBlockStart + blockSize) by moving the counter with a
 * compare-and-swap on its mod revision (or on its absence for the first block), retrying when
 * another broker moved it first. Ids are handed out from the block in order; when a tenth of
 * the block is left the next block is fetched in the background, so a producer rarely waits
 * on etcd. A broker that dies wastes the rest of its block, never reuses one. Any broker may
 * take blocks (no controller involved), as Kafka brokers did against ZooKeeper.
 */

import type { Etcd3 } from 'etcd3'
import { MetadataConflictError } from '../../protocol/errors.js'
import { bytes, etcdCall, rev, utf8 } from './etcd.js'
import type { ClusterKeys } from './keys.js'
import { parseProducerIdCounter } from './records.js'

export interface ProducerIdBlock { start: number, end: number }

const MAX_CAS_ATTEMPTS = 50

export class ProducerIdBlocks {
  readonly #client: Etcd3
  readonly #key: string
  readonly #blockSize: number
  readonly #timeoutMs: number
  #block: ProducerIdBlock | null = null
  #next = 0
  #prefetch: Promise<ProducerIdBlock> | null = null
  #chain: Promise<unknown> = Promise.resolve()
  /** Blocks taken so far (for tests and metrics). */
  readonly taken: ProducerIdBlock[] = []

  constructor (client: Etcd3, keys: ClusterKeys, blockSize: number, timeoutMs: number) {
    this.#client = client
    this.#key = keys.producerIds
    this.#blockSize = blockSize
    this.#timeoutMs = timeoutMs
  }

  /** The next producer id no broker has handed out. Calls are served in order. */
  nextId (): Promise<number> {
    const result = this.#chain.then(() => this.#nextId())
    this.#chain = result.catch(() => undefined)
    return result
  }

  async #nextId (): Promise<number> {
    if (this.#block === null || this.#next >= this.#block.end) {
      const pending = this.#prefetch
      this.#prefetch = null
      this.#block = await (pending ?? this.takeBlock()).catch(err => {
        if (pending !== null) return this.takeBlock()
        throw err
      })
      this.#next = this.#block.start
    }
    const id = this.#next++
    if (this.#prefetch === null && this.#block.end - this.#next <= Math.floor(this.#blockSize / 10)) {
      this.#prefetch = this.takeBlock()
      this.#prefetch.catch(() => undefined)
    }
    return id
  }

  /** Moves the cluster-wide counter by one block (of `size` ids) and returns the block taken. */
  async takeBlock (size = this.#blockSize): Promise<ProducerIdBlock> {
    const key = bytes(this.#key)
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const res = await etcdCall('reading the producer-id counter', this.#timeoutMs, () => this.#client.kv.range({ key }))
      const kv = res.kvs[0]
      const start = kv === undefined ? 0 : parseProducerIdCounter(JSON.parse(utf8(kv.value))).nextBlockStart
      const end = start + size
      const txn = await etcdCall('taking a producer-id block', this.#timeoutMs, () => this.#client.kv.txn({
        compare: [kv === undefined
          ? { key, target: 'Create', result: 'Equal', create_revision: 0 }
          : { key, target: 'Mod', result: 'Equal', mod_revision: rev(kv.mod_revision) }],
        success: [{ request_put: { key, value: bytes(JSON.stringify({ nextBlockStart: end })) } }],
        failure: [],
      }))
      if (txn.succeeded) {
        const block = { start, end }
        this.taken.push(block)
        return block
      }
      await new Promise(resolve => setTimeout(resolve, Math.floor(Math.random() * 10 * (attempt + 1))))
    }
    throw new MetadataConflictError(`could not take a producer-id block after ${MAX_CAS_ATTEMPTS} attempts`)
  }
}
