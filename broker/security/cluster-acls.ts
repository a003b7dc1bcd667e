/**
 * The ACLs of a cluster (docs/cluster.md, "Security"): one document per entry,
 * `P/docs/acls/<key>` in etcd, the key being the entry's identity (aclKey: principal, host,
 * resource type, pattern type, name, operation, permission) and the value the entry as
 * acls.json holds it. ACLs are a set, so a creation is a put conditioned on the key being
 * absent (an entry another broker added meanwhile counts as there already, not as new), and
 * a deletion a delete conditioned on the revision read. A batch is one transaction per
 * entry: a broker that dies half-way has written some of the entries, each whole.
 *
 * Every broker's metadata cache holds every document and watches the prefix, so an entry
 * written through one broker is in force at every other once its watch delivered it; the
 * authorizer is told at once (`onChange`) and re-indexes.
 */

import { InvalidArgumentError, MetadataConflictError, MetadataUnavailableError } from '../../protocol/errors.js'
import { aclKey, filterMatches, validateAclEntry, validateAclFilter, type AclEntry, type AclFilter } from './acl.js'
import type { AclRepository } from './acl-store.js'
import type { SharedDocuments } from './shared-documents.js'

/** Checks an ACL document's value (throws InvalidArgumentError); the parse of the document store. */
export function parseAclDocument (value: unknown): AclEntry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError('an ACL document is a JSON object')
  return validateAclEntry(value as Partial<Record<keyof AclEntry, unknown>>)
}

/** The document key of an entry. */
export function aclDocumentKey (e: AclEntry): string {
  return aclKey(e)
}

export class ClusterAclStore implements AclRepository {
  readonly location = 'the cluster (etcd documents acls/<entry>)'
  readonly lastError: Error | null = null
  readonly #listeners: Array<() => void> = []
  #docs: SharedDocuments<AclEntry> | null = null
  #version = 0
  #entries: readonly AclEntry[] = []

  /** Connects the store to the cluster's ACL documents (once the broker has joined). */
  bind (docs: SharedDocuments<AclEntry>): void {
    this.#docs = docs
    docs.watch(() => this.#reload())
    this.#reload()
  }

  get version (): number { return this.#version }
  get entries (): readonly AclEntry[] { return this.#entries }

  /** Called after every change of the entries (the authorizer re-indexes). */
  onChange (listener: () => void): void {
    this.#listeners.push(listener)
  }

  refresh (): boolean {
    return false // changes arrive through the watch
  }

  list (filter: AclFilter = {}): AclEntry[] {
    validateAclFilter(filter)
    return this.#entries.filter(e => filterMatches(filter, e))
  }

  async add (entries: ReadonlyArray<Partial<Record<keyof AclEntry, unknown>>>): Promise<AclEntry[]> {
    const valid = entries.map(e => validateAclEntry(e))
    const docs = this.#require()
    const fresh: AclEntry[] = []
    const seen = new Set<string>()
    for (const e of valid) {
      const key = aclDocumentKey(e)
      if (seen.has(key) || docs.get(key) !== undefined) continue
      seen.add(key)
      try {
        await docs.put(key, e, { expectedModRevision: 0 })
        fresh.push(e)
      } catch (err) {
        if (!(err instanceof MetadataConflictError)) throw err // conflict: another broker added it first
      }
    }
    return fresh
  }

  async remove (filters: readonly AclFilter[]): Promise<AclEntry[][]> {
    for (const f of filters) validateAclFilter(f)
    const docs = this.#require()
    const current = docs.list()
    const perFilter = filters.map(f => current.filter(d => filterMatches(f, d.value)))
    const gone = new Set<string>()
    for (const d of perFilter.flat()) {
      if (gone.has(d.key)) continue
      gone.add(d.key)
      try {
        await docs.delete(d.key, { expectedModRevision: d.modRevision })
      } catch (err) {
        if (!(err instanceof MetadataConflictError)) throw err // changed or deleted meanwhile by another broker
      }
    }
    return perFilter.map(ds => ds.map(d => d.value))
  }

  #reload (): void {
    this.#entries = (this.#docs?.list() ?? []).map(d => d.value)
    this.#version++
    for (const fn of this.#listeners) fn()
  }

  #require (): SharedDocuments<AclEntry> {
    if (this.#docs === null) throw new MetadataUnavailableError('the broker is still joining the cluster (ACLs live in etcd); retry')
    return this.#docs
  }
}
