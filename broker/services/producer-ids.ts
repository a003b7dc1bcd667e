/**
 * Producer id allocation for idempotent producers (InitProducerId). Ids are never handed out
 * twice, across restarts and crashes: the broker reserves a block of ids by writing the end of
 * the block to `<dataDir>/producer-ids.json` (temp file, fsync, rename) before it hands out
 * any id from it. A crash wastes at most the rest of a block.
 *
 *   producer-ids.json := { "version": 1, "nextBlockStart": <integer> }
 */

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { StorageError } from '../../protocol/errors.js'

const BLOCK = 1000
const FILE = 'producer-ids.json'

export class ProducerIdAllocator {
  readonly #path: string
  #next: number
  #blockEnd: number

  constructor (dataDir: string) {
    this.#path = join(dataDir, FILE)
    let start = 0
    try {
      const parsed = JSON.parse(readFileSync(this.#path, 'utf8')) as { nextBlockStart?: unknown }
      if (typeof parsed.nextBlockStart !== 'number' || !Number.isSafeInteger(parsed.nextBlockStart) || parsed.nextBlockStart < 0) {
        throw new StorageError(`${this.#path}: nextBlockStart is not a non-negative integer`)
      }
      start = parsed.nextBlockStart
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw err instanceof StorageError ? err : new StorageError(`cannot read ${this.#path}: ${(err as Error).message}`, { cause: err })
      }
    }
    this.#next = start
    this.#blockEnd = start
  }

  /** A producer id no one has had before. */
  allocate (): number {
    if (this.#next >= this.#blockEnd) this.#reserve(this.#next + BLOCK)
    return this.#next++
  }

  #reserve (end: number): void {
    const tmp = `${this.#path}.tmp`
    try {
      const fd = openSync(tmp, 'w')
      try {
        writeSync(fd, JSON.stringify({ version: 1, nextBlockStart: end }))
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      renameSync(tmp, this.#path)
    } catch (err) {
      rmSync(tmp, { force: true })
      // A full disk: KAFKA_STORAGE_ERROR (retriable), so producers ask again once space returns.
      throw new StorageError(`cannot reserve producer ids in ${this.#path}: ${(err as Error).message}`, { cause: err })
    }
    this.#blockEnd = end
  }
}
