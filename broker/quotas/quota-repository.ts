/**
 * What QuotaManager needs of wherever the quotas are kept: QuotaStore (quota-store.ts,
 * `<dataDir>/quotas.json`, a single broker) or ClusterQuotaStore (cluster-quotas.ts, the
 * cluster's quota documents in etcd, shared by every broker). Reads are from memory (a
 * charge looks quotas up); writes may wait for a disk or for etcd.
 */

import type { QuotaEntity, QuotaEntry, QuotaLimits } from './quota-entities.js'

/** The new limits of one entity; no limit at all removes the entity's quota. */
export interface QuotaReplacement {
  readonly entity: QuotaEntity
  readonly limits: QuotaLimits
}

export interface QuotaRepository {
  /** Where the quotas are kept, for messages (a file path, or the cluster's documents). */
  readonly location: string
  /** How many entities have a quota (0: `charge` returns at once). */
  readonly size: number
  get (entity: QuotaEntity): QuotaEntry | undefined
  /** Every entry, sorted by entity type then name (sortQuotaEntries). */
  list (): QuotaEntry[]
  /**
   * Sets the limits of several entities (an entity left with none is removed). Resolves with
   * one error per replacement, in order (null: written); rejects when nothing was written.
   */
  replace (changes: readonly QuotaReplacement[]): Promise<Array<Error | null>>
  /** Called after every change of the entries, whoever made it (connections look their quotas up again). */
  onChange (listener: () => void): void
}
