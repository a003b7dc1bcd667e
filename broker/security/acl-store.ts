/**
 * The ACL entries, kept in `<dataDir>/security/acls.json` (0600, atomic and fsynced; see
 * secure-file.ts):
 *
 *   { "version": 1, "acls": [ { "principal": "User:alice", "host": "*", "resourceType": "topic",
 *       "patternType": "prefixed", "resourceName": "orders.", "operation": "write",
 *       "permission": "allow" } ] }
 *
 * Entries are a set: adding one that exists is a no-op. `version` counts changes seen by
 * this process (its own and reloads), so the authorizer knows when to drop its cache.
 */

import path from 'node:path'
import type { Logger } from 'pino'
import { SecurityFileInvalidError } from '../../protocol/errors.js'
import { aclKey, filterMatches, validateAclEntry, validateAclFilter, type AclEntry, type AclFilter } from './acl.js'
import { WatchedJsonFile, asArray, asObject, asVersion, invalid, securityDir } from './secure-file.js'

function parseAcls (json: unknown, file: string): AclEntry[] {
  const root = asObject(json, file, '(top level)')
  asVersion(root, file)
  const seen = new Set<string>()
  const out: AclEntry[] = []
  asArray(root.acls, file, 'acls').forEach((v, i) => {
    let e: AclEntry
    try {
      e = validateAclEntry(asObject(v, file, `acls[${i}]`))
    } catch (err) {
      if (err instanceof SecurityFileInvalidError) throw err
      throw invalid(file, `acls[${i}]`, (err as Error).message)
    }
    const k = aclKey(e)
    if (!seen.has(k)) { seen.add(k); out.push(e) }
  })
  return out
}

/**
 * Where the authorizer's ACL entries come from: acls.json (AclStore) on a single broker, the
 * cluster's etcd documents (ClusterAclStore, cluster-acls.ts) in cluster mode, whose writes
 * are asynchronous.
 */
export interface AclRepository {
  /** Where the ACLs live, for messages. */
  readonly location: string
  /** Increases whenever the entries change. */
  readonly version: number
  readonly entries: readonly AclEntry[]
  readonly lastError: Error | null
  /** Picks up changes made elsewhere; true when the entries changed. */
  refresh (): boolean
  list (filter?: AclFilter): AclEntry[]
  add (entries: ReadonlyArray<Partial<Record<keyof AclEntry, unknown>>>): AclEntry[] | Promise<AclEntry[]>
  remove (filters: readonly AclFilter[]): AclEntry[][] | Promise<AclEntry[][]>
  /** Stores whose changes arrive by themselves (a watch) tell the authorizer here. */
  onChange? (listener: () => void): void
}

export class AclStore implements AclRepository {
  readonly file: string
  readonly #file: WatchedJsonFile<AclEntry[]>
  #version = 0

  static open (options: { dataDir: string, logger?: Logger }): AclStore {
    return new AclStore(options)
  }

  private constructor (options: { dataDir: string, logger?: Logger }) {
    this.file = path.join(securityDir(options.dataDir), 'acls.json')
    this.#file = new WatchedJsonFile<AclEntry[]>({
      file: this.file, parse: parseAcls, serialize: acls => ({ version: 1, acls }), empty: () => [],
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    })
  }

  get location (): string { return this.file }

  /** Increases whenever the entries change. */
  get version (): number { return this.#version }

  get entries (): readonly AclEntry[] { return this.#file.value }

  get lastError (): Error | null { return this.#file.lastError }

  /** Re-reads the file if another process changed it; true when the entries changed. */
  refresh (): boolean {
    const changed = this.#file.refresh()
    if (changed) this.#version++
    return changed
  }

  list (filter: AclFilter = {}): AclEntry[] {
    validateAclFilter(filter)
    return this.#file.value.filter(e => filterMatches(filter, e))
  }

  /** Adds entries (all are validated first; none is added if one is invalid); returns those that were new. */
  add (entries: ReadonlyArray<Partial<Record<keyof AclEntry, unknown>>>): AclEntry[] {
    const valid = entries.map(e => validateAclEntry(e))
    const added = this.#file.update(current => {
      const keys = new Set(current.map(aclKey))
      const fresh: AclEntry[] = []
      for (const e of valid) {
        const k = aclKey(e)
        if (!keys.has(k)) { keys.add(k); fresh.push(e) }
      }
      return { value: fresh.length === 0 ? current : [...current, ...fresh], result: fresh }
    })
    this.#version++
    return added
  }

  /** Removes every entry matching any filter; returns, per filter, the entries it matched. */
  remove (filters: readonly AclFilter[]): AclEntry[][] {
    for (const f of filters) validateAclFilter(f)
    const removed = this.#file.update(current => {
      const perFilter = filters.map(f => current.filter(e => filterMatches(f, e)))
      const gone = new Set(perFilter.flat())
      return { value: current.filter(e => !gone.has(e)), result: perFilter }
    })
    this.#version++
    return removed
  }
}
