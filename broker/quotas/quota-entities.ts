/**
 * What a quota is, whatever keeps it (quota-store.ts: `<dataDir>/quotas.json` on a single
 * broker; cluster-quotas.ts: one etcd document per entity in a cluster): the entity it
 * applies to, its limits, and the checks every value read or written goes through.
 *
 * Entities: `client-id` (the client id a connection sends), `principal` (`User:alice`, the
 * authenticated principal; `User:ANONYMOUS` without authentication), `group` (the consumer
 * group a connection works for) and `default` (no name: each client id without a quota of
 * its own gets this one, separately — Kafka's default client-id quota).
 */

import { InvalidRequestError } from '../../protocol/errors.js'

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

/**
 * An entry as quotas.json and the cluster's quota documents hold it,
 * `{ "entity": { "type", "name" }, "produceBytesPerSec"?, "fetchBytesPerSec"?, "requestsPerSec"? }`,
 * checked (InvalidRequestError naming what is wrong). Other fields are ignored.
 */
export function parseQuotaRecord (raw: unknown): QuotaEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidRequestError('a quota entry is a JSON object')
  const r = raw as Record<string, unknown>
  const e = r.entity
  if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new InvalidRequestError('a quota entry needs an entity object ({ "type", "name" })')
  const { type, name } = e as Record<string, unknown>
  if (typeof type !== 'string') throw new InvalidRequestError('a quota entity needs a type string')
  if (name !== undefined && name !== null && typeof name !== 'string') throw new InvalidRequestError('a quota entity name is a string or null')
  const entity = checkEntity(type, typeof name === 'string' ? name : null)
  const limits: QuotaLimits = {}
  for (const key of QUOTA_KEYS) if (r[key] !== undefined) limits[key] = checkLimit(key, r[key])
  return { entity, limits }
}

/** The JSON form of an entry (what parseQuotaRecord reads). */
export function quotaRecord (e: QuotaEntry): { entity: QuotaEntity } & QuotaLimits {
  return { entity: { type: e.entity.type, name: e.entity.name }, ...e.limits }
}

/** Entries sorted by entity type (in ENTITY_TYPES order), then name. */
export function sortQuotaEntries (entries: Iterable<QuotaEntry>): QuotaEntry[] {
  const order = (t: EntityType): number => ENTITY_TYPES.indexOf(t)
  return [...entries].sort((a, b) => order(a.entity.type) - order(b.entity.type) || ((a.entity.name ?? '') < (b.entity.name ?? '') ? -1 : (a.entity.name ?? '') > (b.entity.name ?? '') ? 1 : 0))
}
