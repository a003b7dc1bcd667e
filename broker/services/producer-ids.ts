/**
 * Producer ids for idempotent producers (InitProducerId, native and Kafka). Ids are never
 * handed out twice, across restarts and crashes: the broker reserves a block of ids by
 * writing the end of the block to `<dataDir>/producer-ids.json` (atomically and durably:
 * storage/atomic-file.ts) before it hands out any id from it. A crash wastes at most the
 * rest of a block. In a cluster the block comes from the cluster's shared counter instead
 * (a BlockSource), so ids are unique cluster-wide.
 *
 *   producer-ids.json := { "version": 1, "nextBlockStart": <integer> }
 */

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { StorageError } from '../../protocol/errors.js'
import type { Caller } from '../security/principal.js'
import { writeFileAtomic } from '../storage/atomic-file.js'
import { CLUSTER_RESOURCE, type AccessPolicy } from './access.js'

const BLOCK = 1000
const FILE = 'producer-ids.json'

/** Where blocks of ids come from: the data dir (one broker) or the cluster. */
export interface BlockSource {
  /** Reserves `size` ids durably; the first of them. */
  reserve (size: number): Promise<number> | number
}

/** The single-broker source: a counter in the data dir. */
export class FileBlockSource implements BlockSource {
  readonly #path: string
  #next: number

  constructor (dataDir: string) {
    this.#path = join(dataDir, FILE)
    this.#next = 0
    try {
      const parsed = JSON.parse(readFileSync(this.#path, 'utf8')) as { nextBlockStart?: unknown }
      if (typeof parsed.nextBlockStart !== 'number' || !Number.isSafeInteger(parsed.nextBlockStart) || parsed.nextBlockStart < 0) {
        throw new StorageError(`${this.#path}: nextBlockStart is not a non-negative integer`)
      }
      this.#next = parsed.nextBlockStart
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw err instanceof StorageError ? err : new StorageError(`cannot read ${this.#path}: ${(err as Error).message}`, { cause: err })
      }
    }
  }

  reserve (size: number): number {
    const start = this.#next
    try {
      writeFileAtomic(this.#path, Buffer.from(JSON.stringify({ version: 1, nextBlockStart: start + size })), true)
    } catch (err) {
      throw new StorageError(`cannot reserve producer ids in ${this.#path}: ${(err as Error).message}`, { cause: err })
    }
    this.#next = start + size
    return start
  }
}

export class ProducerIdService {
  readonly #source: BlockSource
  readonly #access: AccessPolicy
  #next = 0
  #blockEnd = 0
  #reserving: Promise<void> | null = null

  constructor (options: { source: BlockSource, access: AccessPolicy }) {
    this.#source = options.source
    this.#access = options.access
  }

  /** A producer id no one has had before. */
  async allocate (caller: Caller): Promise<number> {
    this.#access.check(caller, 'idempotent_write', 'cluster', CLUSTER_RESOURCE)
    while (this.#next >= this.#blockEnd) {
      this.#reserving ??= Promise.resolve(this.#source.reserve(BLOCK)).then(start => {
        this.#next = start
        this.#blockEnd = start + BLOCK
      }).finally(() => { this.#reserving = null })
      await this.#reserving
    }
    return this.#next++
  }
}
