/**
 * The quotas set at run time (`spool quota set`, the AlterClientQuotas api), kept in
 * `<dataDir>/quotas.json` so they survive a restart. The file is replaced whole on every
 * change, durably (storage/atomic-file.ts: fsync of the file and its directory), so a crash
 * leaves the old set or the new one.
 *
 *   { "version": 1, "quotas": [ { "entity": { "type": "client-id", "name": "replayer" },
 *                                 "fetchBytesPerSec": 1000000 }, ... ] }
 *
 * Entities: `client-id` (the client id a connection sends), `principal` (`User:alice`, the
 * authenticated principal; `User:ANONYMOUS` without authentication), `group` (the consumer
 * group a connection works for) and `default` (no name: each client id without a quota of
 * its own gets this one, separately — Kafka's default client-id quota).
 */

import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { InvalidConfigError, InvalidRequestError } from '../../protocol/errors.js'
import { writeFileAtomic } from '../storage/atomic-file.js'

export const QUOTA_KEYS = ['produceBytesPerSec', 'fetchBytesPerSec', 'requestsPerSec'] as const
export type QuotaKey = typeof QUOTA_KEYS[number]

export const ENTITY_TYPES = ['client-id', 'principal', 'group', 'default'] as const
export type EntityType = typeof ENTITY_TYPES[number]

export interface QuotaEntity {
  readonly type: EntityType
  /** null for `default`. */
  readonly name: string | null
}

export type QuotaLimits = Partial<Record<QuotaKey, number>>

export interface QuotaEntry {
  readonly entity: QuotaEntity
  readonly limits: QuotaLimits
}

const FILE = 'quotas.json'
const MAX_NAME = 256

/** The map key of an entity. */
export function entityKey (e: QuotaEntity): string {
  return `${e.type}\u0000${e.name ?? ''}`
}

/**
 * Checks and normalizes an entity: names are bounded, `default` has none, a principal given
 * without its type (`alice`) is `User:alice`.
 */
export function checkEntity (type: string, name: string | null): QuotaEntity {
  if (!(ENTITY_TYPES as readonly string[]).includes(type)) throw new InvalidRequestError(`quota entity type must be one of ${ENTITY_TYPES.join(', ')}, got ${JSON.stringify(type.slice(0, 32))}`)
  const t = type as EntityType
  if (t === 'default') {
    if (name !== null && name !== '') throw new InvalidRequestError('the default quota has no name')
    return { type: t, name: null }
  }
  if (name === null) throw new InvalidRequestError(`a ${t} quota needs a name`)
  if (name.length > MAX_NAME) throw new InvalidRequestError(`a quota entity name is at most ${MAX_NAME} characters`)
  if (t === 'group' && name === '') throw new InvalidRequestError('a group quota needs a group id')
  if (t === 'principal') {
    if (name === '') throw new InvalidRequestError('a principal quota needs a principal (User:alice)')
    return { type: t, name: name.includes(':') ? name : `User:${name}` }
  }
  return { type: t, name }
}

/** A limit is a whole number of bytes (or requests) per second, at least 1. */
export function checkLimit (key: string, value: unknown): number {
  if (!(QUOTA_KEYS as readonly string[]).includes(key)) throw new InvalidRequestError(`quota key must be one of ${QUOTA_KEYS.join(', ')}, got ${JSON.stringify(key.slice(0, 32))}`)
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidRequestError(`${key} must be a whole number of at least 1, got ${JSON.stringify(value)}`)
  }
  return value
}

export class QuotaStore {
  readonly #path: string
  readonly #entries = new Map<string, QuotaEntry>()

  private constructor (path: string) {
    this.#path = path
  }

  /** Reads `<dataDir>/quotas.json` (none: no quotas); a file that does not parse is an error naming it. */
  static open (dataDir: string): QuotaStore {
    const store = new QuotaStore(join(dataDir, FILE))
    if (!existsSync(store.#path)) return store
    let doc: unknown
    try {
      doc = JSON.parse(readFileSync(store.#path, 'utf8'))
    } catch (err) {
      throw new InvalidConfigError(`${store.#path}: ${(err as Error).message}`, { cause: err })
    }
    const quotas = (doc as { quotas?: unknown } | null)?.quotas
    if (!Array.isArray(quotas)) throw new InvalidConfigError(`${store.#path}: expected { "version": 1, "quotas": [...] }`)
    for (const raw of quotas as Array<Record<string, unknown>>) {
      try {
        const e = raw.entity as { type?: unknown, name?: unknown } | undefined
        const entity = checkEntity(String(e?.type), typeof e?.name === 'string' ? e.name : null)
        const limits: QuotaLimits = {}
        for (const key of QUOTA_KEYS) if (raw[key] !== undefined) limits[key] = checkLimit(key, raw[key])
        if (Object.keys(limits).length > 0) store.#entries.set(entityKey(entity), { entity, limits })
      } catch (err) {
        throw new InvalidConfigError(`${store.#path}: ${(err as Error).message}`, { cause: err })
      }
    }
    return store
  }

  get size (): number { return this.#entries.size }

  get (entity: QuotaEntity): QuotaEntry | undefined {
    return this.#entries.get(entityKey(entity))
  }

  /** Every entry, sorted by entity type then name. */
  list (): QuotaEntry[] {
    const order = (t: EntityType): number => ENTITY_TYPES.indexOf(t)
    return [...this.#entries.values()].sort((a, b) => order(a.entity.type) - order(b.entity.type) || ((a.entity.name ?? '') < (b.entity.name ?? '') ? -1 : 1))
  }

  /**
   * Replaces the limits of several entities at once and writes the file (an entity left
   * with no limit is removed). Nothing changes if the write fails.
   */
  replace (changes: ReadonlyArray<{ entity: QuotaEntity, limits: QuotaLimits }>): void {
    const next = new Map(this.#entries)
    for (const c of changes) {
      if (Object.keys(c.limits).length === 0) next.delete(entityKey(c.entity))
      else next.set(entityKey(c.entity), { entity: c.entity, limits: { ...c.limits } })
    }
    const doc = { version: 1, quotas: [...next.values()].map(e => ({ entity: e.entity, ...e.limits })) }
    writeFileAtomic(this.#path, new TextEncoder().encode(JSON.stringify(doc, null, 2) + '\n'), true, 'quotas')
    this.#entries.clear()
    for (const [k, v] of next) this.#entries.set(k, v)
  }
}
