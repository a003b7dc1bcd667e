/**
 * Group coordination in a cluster: the broker that leads partition p of `__consumer_offsets`
 * coordinates the groups stored there (groups/coordinator.ts, GroupOwnership). When the
 * replica manager makes this broker p's leader, the groups of p are loaded from the local
 * replica (up to its log end) and then served; when leadership moves away they are
 * forgotten. A load that leadership outlives no longer counts (a generation per partition),
 * and while a partition loads its groups answer COORDINATOR_LOAD_IN_PROGRESS.
 */

import type { Logger } from 'pino'
import type { GroupCoordinator, GroupOwnership } from '../groups/coordinator.js'
import { OFFSETS_TOPIC } from '../groups/offset-store.js'
import type { ReplicaManager } from './replica-manager.js'

const RETRY_MS = 1000

export class GroupLeadership implements GroupOwnership {
  readonly #owned = new Set<number>()
  readonly #loading = new Set<number>()
  readonly #generation = new Map<number, number>()
  readonly #logger: Logger
  #groups: GroupCoordinator | null = null

  constructor (replicas: ReplicaManager, logger: Logger) {
    this.#logger = logger
    replicas.onLeadershipChange((topic, partition, leading) => {
      if (topic !== OFFSETS_TOPIC) return
      if (leading) void this.#load(partition)
      else this.#unload(partition)
    })
  }

  /** The coordinator whose groups follow this broker's leaderships (before the cluster starts). */
  bind (groups: GroupCoordinator): void {
    this.#groups = groups
    groups.ownedBy(this)
  }

  owns (partition: number): boolean { return this.#owned.has(partition) }
  loading (partition: number): boolean { return this.#loading.has(partition) }

  /** Offsets partitions whose groups this broker coordinates now. */
  ownedPartitions (): number[] { return [...this.#owned].sort((a, b) => a - b) }

  async #load (partition: number): Promise<void> {
    const groups = this.#groups
    if (groups === null) return
    const generation = (this.#generation.get(partition) ?? 0) + 1
    this.#generation.set(partition, generation)
    this.#owned.delete(partition)
    this.#loading.add(partition)
    try {
      await groups.loadPartition(partition)
      if (this.#generation.get(partition) !== generation) return
      this.#owned.add(partition)
    } catch (err) {
      this.#logger.error({ err, partition }, 'loading the groups of an offsets partition failed; retrying')
      if (this.#generation.get(partition) === generation) setTimeout(() => { if (this.#generation.get(partition) === generation) void this.#load(partition) }, RETRY_MS).unref()
    } finally {
      if (this.#generation.get(partition) === generation) this.#loading.delete(partition)
    }
  }

  #unload (partition: number): void {
    this.#generation.set(partition, (this.#generation.get(partition) ?? 0) + 1)
    this.#owned.delete(partition)
    this.#loading.delete(partition)
    this.#groups?.unloadPartition(partition)
  }
}
