/**
 * The quotas of a cluster (docs/cluster.md, "Quotas"): one document per entity,
 * `P/docs/quotas/<key>` in etcd, the key being `<entity type>:<name>` (`client-id:replayer`,
 * `principal:User:alice`, `group:replay`; the default quota is `default`), the value the
 * entry as quotas.json holds it (`{ "entity": { "type", "name" }, "produceBytesPerSec"?,
 * "fetchBytesPerSec"?, "requestsPerSec"? }`). Every broker's metadata cache holds every
 * document and watches the prefix, so a quota set through one broker (or with `spool quota
 * --etcd-endpoints`) is in force at every other once its watch delivered it — milliseconds
 * on a healthy etcd; while etcd is unreachable each broker keeps what it last saw.
 *
 * Writes are compare-and-swap transactions, one per entity: a new quota only if its key is
 * absent, a change or a removal only if the document is still at the revision read (a
 * concurrent change: METADATA_CONFLICT, retriable). Until the broker has joined the cluster
 * there are no quotas and writes fail with METADATA_UNAVAILABLE.
 *
 * Documents come from etcd, where anyone with write access may have put anything: each one
 * is checked here (its key canonical, its entity the key's, its limits whole numbers ≥ 1, at
 * least one) and one that fails is left out — it limits nobody — and reported: a warning log
 * line per document revision, naming the key and what is wrong, and `invalid`. The document
 * store is handed every JSON value as it is (rawQuotaDocument) so that a document turning
 * invalid reaches this check too instead of leaving its last valid version in force.
 */

import type { Logger } from 'pino'
import type { BrokerMetrics } from '../observability/metrics.js'
import { ClusterDocumentInvalidError, MetadataUnavailableError, UnknownServerError } from '../../protocol/errors.js'
import { followDocuments, type SharedDocuments } from '../security/shared-documents.js'
import { checkEntity, parseQuotaRecord, quotaRecord, sortQuotaEntries, type QuotaEntity, type QuotaEntry } from './quota-entities.js'
import type { QuotaReplacement, QuotaRepository } from './quota-repository.js'

/** The document key of an entity: `<type>:<name>`, or `default`. */
export function quotaDocumentKey (entity: QuotaEntity): string {
  return entity.type === 'default' ? 'default' : `${entity.type}:${entity.name ?? ''}`
}

/** The entity a document key names (ClusterDocumentInvalidError when it names none, or not canonically). */
export function parseQuotaDocumentKey (key: string): QuotaEntity {
  const at = key.indexOf(':')
  let entity: QuotaEntity
  try {
    entity = checkEntity(at < 0 ? key : key.slice(0, at), at < 0 ? null : key.slice(at + 1))
  } catch (err) {
    throw new ClusterDocumentInvalidError(`quota document ${JSON.stringify(key.slice(0, 300))}: ${(err as Error).message}`, { cause: err })
  }
  if (quotaDocumentKey(entity) !== key) throw new ClusterDocumentInvalidError(`quota document ${JSON.stringify(key)}: the key of this entity is ${JSON.stringify(quotaDocumentKey(entity))}`)
  return entity
}

/** A document's value as the store hands it over: any JSON value, checked by decodeQuotaDocument. */
export function rawQuotaDocument (value: unknown): unknown {
  return value
}

/** The value of an entry's document. */
export function encodeQuotaDocument (entry: QuotaEntry): ReturnType<typeof quotaRecord> {
  return quotaRecord(entry)
}

/** Checks a document read from etcd (ClusterDocumentInvalidError naming the key and the fault). */
export function decodeQuotaDocument (key: string, value: unknown): QuotaEntry {
  const entity = parseQuotaDocumentKey(key)
  let entry: QuotaEntry
  try {
    entry = parseQuotaRecord(value)
  } catch (err) {
    throw new ClusterDocumentInvalidError(`quota document ${JSON.stringify(key)}: ${(err as Error).message}`, { cause: err })
  }
  if (entry.entity.type !== entity.type || entry.entity.name !== entity.name) {
    throw new ClusterDocumentInvalidError(`quota document ${JSON.stringify(key)}: its entity is ${JSON.stringify(entry.entity)}, not the key's`)
  }
  if (Object.keys(entry.limits).length === 0) throw new ClusterDocumentInvalidError(`quota document ${JSON.stringify(key)}: no limit (a quota without limits is deleted, not stored)`)
  return entry
}

/** A document left out, and why. */
export interface InvalidQuotaDocument { readonly key: string, readonly modRevision: number, readonly error: ClusterDocumentInvalidError }

export class ClusterQuotaStore implements QuotaRepository {
  readonly location = 'the cluster (etcd documents quotas/<entity type>:<name>)'
  readonly #logger: Logger | null
  /** Valid entries by document key. */
  readonly #entries = new Map<string, QuotaEntry>()
  readonly #invalid = new Map<string, InvalidQuotaDocument>()
  readonly #listeners: Array<() => void> = []
  #docs: SharedDocuments<unknown> | null = null
  #unwatch: () => void = () => {}

  /** `logger`: where documents left out are reported (none: only `invalid`). */
  constructor (options: { logger?: Logger } = {}) {
    this.#logger = options.logger ?? null
  }

  /** Connects the store to the cluster's quota documents (once the broker has joined). */
  bind (docs: SharedDocuments<unknown>): void {
    this.#unwatch()
    this.#docs = docs
    // Listeners hear once about the documents there now, then about each change.
    let initial = true
    this.#unwatch = followDocuments(docs, (key, value, modRevision) => {
      this.#apply(key, value, modRevision)
      if (!initial) this.#changed()
    })
    initial = false
    this.#changed()
  }

  get bound (): boolean { return this.#docs !== null }

  get size (): number { return this.#entries.size }

  /** The documents left out because they do not check, sorted by key. */
  get invalid (): InvalidQuotaDocument[] {
    return [...this.#invalid.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  }

  get (entity: QuotaEntity): QuotaEntry | undefined {
    return this.#entries.get(quotaDocumentKey(entity))
  }

  list (): QuotaEntry[] {
    return sortQuotaEntries(this.#entries.values())
  }

  onChange (listener: () => void): void {
    this.#listeners.push(listener)
  }

  /**
   * One transaction per entity, conditioned on the revision of its document as this store
   * has it (absent: only if still absent). An entity whose write fails gets its error; the
   * others are written all the same.
   */
  async replace (changes: readonly QuotaReplacement[]): Promise<Array<Error | null>> {
    const docs = this.#require()
    const errors: Array<Error | null> = []
    for (const c of changes) {
      const key = quotaDocumentKey(c.entity)
      const current = docs.get(key)
      try {
        if (Object.keys(c.limits).length === 0) {
          if (current !== undefined) await docs.delete(key, { expectedModRevision: current.modRevision })
        } else {
          await docs.put(key, encodeQuotaDocument({ entity: c.entity, limits: c.limits }), { expectedModRevision: current?.modRevision ?? 0 })
        }
        errors.push(null)
      } catch (err) {
        errors.push(err instanceof Error ? err : new UnknownServerError(String(err)))
      }
      // What the documents hold now (the write's result, or whatever beat it).
      const now = docs.get(key)
      this.#apply(key, now?.value ?? null, now?.modRevision ?? 0)
    }
    this.#changed()
    return errors
  }

  /** `spool_quota_invalid_documents` on /metrics: the documents left out. */
  registerMetrics (metrics: BrokerMetrics): void {
    metrics.gauge('spool_quota_invalid_documents', 'Cluster quota documents in etcd that do not check and are left out (the broker log names each)', [], () => [[{}, this.#invalid.size]])
  }

  /** Stops following the documents. */
  close (): void {
    this.#unwatch()
    this.#unwatch = () => {}
  }

  #apply (key: string, value: unknown, modRevision: number): void {
    if (value === null) {
      this.#entries.delete(key)
      this.#invalid.delete(key)
      return
    }
    try {
      this.#entries.set(key, decodeQuotaDocument(key, value))
      this.#invalid.delete(key)
    } catch (err) {
      this.#entries.delete(key)
      const error = err instanceof ClusterDocumentInvalidError ? err : new ClusterDocumentInvalidError(`quota document ${JSON.stringify(key)}: ${String(err)}`)
      const seen = this.#invalid.get(key)
      this.#invalid.set(key, { key, modRevision, error })
      if (seen?.modRevision !== modRevision) {
        this.#logger?.warn({ key, modRevision, code: error.code, err: error.message }, 'cluster quota document is not valid; left out (it limits nobody)')
      }
    }
  }

  #changed (): void {
    for (const fn of this.#listeners) fn()
  }

  #require (): SharedDocuments<unknown> {
    if (this.#docs === null) throw new MetadataUnavailableError('the broker is still joining the cluster (quotas live in etcd); retry')
    return this.#docs
  }
}
