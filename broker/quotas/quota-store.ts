/**
 * The quotas of a single broker, set at run time (`spool quota set`, the AlterClientQuotas
 * api), kept in `<dataDir>/quotas.json` so they survive a restart. The file is replaced
 * whole on every change, durably (storage/atomic-file.ts: fsync of the file and its
 * directory), so a crash leaves the old set or the new one. (In cluster mode the quotas are
 * etcd documents instead: cluster-quotas.ts.)
 *
 *   { "version": 1, "quotas": [ { "entity": { "type": "client-id", "name": "replayer" },
 *                                 "fetchBytesPerSec": 1000000 }, ... ] }
 *
 * Entities and limits: quota-entities.ts.
 */

import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { InvalidConfigError } from '../../protocol/errors.js'
import { writeFileAtomic } from '../storage/atomic-file.js'
import { entityKey, parseQuotaRecord, quotaRecord, sortQuotaEntries, type QuotaEntity, type QuotaEntry } from './quota-entities.js'
import type { QuotaReplacement, QuotaRepository } from './quota-repository.js'

const FILE = 'quotas.json'

export class QuotaStore implements QuotaRepository {
  readonly location: string
  readonly #entries = new Map<string, QuotaEntry>()
  readonly #listeners: Array<() => void> = []

  private constructor (path: string) {
    this.location = path
  }

  /** True when `<dataDir>/quotas.json` exists (a broker in cluster mode says it does not read it). */
  static exists (dataDir: string): boolean {
    return existsSync(join(dataDir, FILE))
  }

  /** Reads `<dataDir>/quotas.json` (none: no quotas); a file that does not parse is an error naming it. */
  static open (dataDir: string): QuotaStore {
    const store = new QuotaStore(join(dataDir, FILE))
    const path = store.location
    if (!existsSync(path)) return store
    let doc: unknown
    try {
      doc = JSON.parse(readFileSync(path, 'utf8'))
    } catch (err) {
      throw new InvalidConfigError(`${path}: ${(err as Error).message}`, { cause: err })
    }
    const quotas = (doc as { quotas?: unknown } | null)?.quotas
    if (!Array.isArray(quotas)) throw new InvalidConfigError(`${path}: expected { "version": 1, "quotas": [...] }`)
    for (const raw of quotas as unknown[]) {
      let entry: QuotaEntry
      try {
        entry = parseQuotaRecord(raw)
      } catch (err) {
        throw new InvalidConfigError(`${path}: ${(err as Error).message}`, { cause: err })
      }
      if (Object.keys(entry.limits).length > 0) store.#entries.set(entityKey(entry.entity), entry)
    }
    return store
  }

  get size (): number { return this.#entries.size }

  get (entity: QuotaEntity): QuotaEntry | undefined {
    return this.#entries.get(entityKey(entity))
  }

  list (): QuotaEntry[] {
    return sortQuotaEntries(this.#entries.values())
  }

  onChange (listener: () => void): void {
    this.#listeners.push(listener)
  }

  /**
   * Replaces the limits of several entities at once in one durable write of the whole file
   * (an entity left with no limit is removed): every replacement is written, or (the write
   * failed: a rejection) none.
   */
  async replace (changes: readonly QuotaReplacement[]): Promise<Array<Error | null>> {
    const next = new Map(this.#entries)
    for (const c of changes) {
      if (Object.keys(c.limits).length === 0) next.delete(entityKey(c.entity))
      else next.set(entityKey(c.entity), { entity: c.entity, limits: { ...c.limits } })
    }
    const doc = { version: 1, quotas: [...next.values()].map(quotaRecord) }
    writeFileAtomic(this.location, new TextEncoder().encode(JSON.stringify(doc, null, 2) + '\n'), true, 'quotas')
    this.#entries.clear()
    for (const [k, v] of next) this.#entries.set(k, v)
    for (const fn of this.#listeners) fn()
    return changes.map(() => null)
  }
}
