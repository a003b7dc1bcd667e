/**
 * The controller's only way to change topics and partitions: one etcd transaction per plan,
 *
 *   if   create_revision(campaign key) == controller epoch        (still the controller)
 *   and  mod_revision(k) == the revision the plan was computed from, for every key it read
 *        (0: the key must not exist)
 *   then the plan's puts and deletes
 *   else read the campaign key
 *
 * so a change is applied only by the current controller and only on the state it looked at.
 * A failed guard is StaleControllerEpochError (the caller steps down); a failed expectation is
 * MetadataConflictError (the caller waits for its cache and plans again). After a success the
 * writer waits until the local cache has applied the transaction's revision, so the next plan
 * starts from a state that includes this one.
 *
 * etcd refuses transactions of more than 128 operations (--max-txn-ops); callers keep plans
 * to at most 64 partitions (MAX_PLAN_PARTITIONS).
 */

import type { Etcd3, ICompare, IRequestOp } from 'etcd3'
import { InvalidRequestError, MetadataConflictError, StaleControllerEpochError } from '../../protocol/errors.js'
import { bytes, etcdCall, rev } from './etcd.js'
import type { ControllerGuard } from './election.js'
import type { MetadataCache } from './metadata-cache.js'

export const MAX_PLAN_PARTITIONS = 64
const MAX_TXN_OPS = 128

export interface WritePlan {
  /** Keys the plan read, with the mod revision it saw (0: absent). */
  expect: Array<{ key: string, modRevision: number }>
  /** Values are written as JSON; `keepLease` keeps the key's current lease (request answers). */
  puts: Array<{ key: string, value: unknown, keepLease?: boolean }>
  deletes: string[]
}

export function emptyPlan (): WritePlan {
  return { expect: [], puts: [], deletes: [] }
}

export class MetadataWriter {
  readonly #client: Etcd3
  readonly #cache: MetadataCache
  readonly #timeoutMs: number

  constructor (client: Etcd3, cache: MetadataCache, timeoutMs: number) {
    this.#client = client
    this.#cache = cache
    this.#timeoutMs = timeoutMs
  }

  /** Adds the expectation that `key` is still as the cache has it. */
  expectCurrent (plan: WritePlan, key: string): void {
    if (plan.expect.some(e => e.key === key)) return
    plan.expect.push({ key, modRevision: this.#cache.entry(key)?.modRevision ?? 0 })
  }

  /** Commits `plan` as controller `guard`; resolves with the revision once the cache has it. */
  async commit (guard: ControllerGuard, plan: WritePlan): Promise<number> {
    if (plan.puts.length + plan.deletes.length > MAX_TXN_OPS || plan.expect.length + 1 > MAX_TXN_OPS) {
      throw new InvalidRequestError(`a metadata change of ${plan.puts.length + plan.deletes.length} operations is larger than etcd allows`)
    }
    const guardKey = bytes(guard.campaignKey)
    const compare: ICompare[] = [{ key: guardKey, target: 'Create', result: 'Equal', create_revision: guard.epoch }]
    for (const e of plan.expect) {
      compare.push(e.modRevision === 0
        ? { key: bytes(e.key), target: 'Create', result: 'Equal', create_revision: 0 }
        : { key: bytes(e.key), target: 'Mod', result: 'Equal', mod_revision: e.modRevision })
    }
    const success: IRequestOp[] = [
      ...plan.puts.map(p => ({ request_put: { key: bytes(p.key), value: bytes(JSON.stringify(p.value)), ...(p.keepLease === true ? { ignore_lease: true } : {}) } })),
      ...plan.deletes.map(k => ({ request_delete_range: { key: bytes(k) } })),
    ]
    if (success.length === 0) return this.#cache.revision
    const res = await etcdCall('writing cluster metadata', this.#timeoutMs, () => this.#client.kv.txn({
      compare, success, failure: [{ request_range: { key: guardKey } }],
    }))
    if (!res.succeeded) {
      const kv = res.responses[0]?.response_range.kvs[0]
      if (kv === undefined || rev(kv.create_revision) !== guard.epoch) {
        throw new StaleControllerEpochError(`controller epoch ${guard.epoch} is no longer current: another broker is the controller`)
      }
      throw new MetadataConflictError(`metadata changed since it was read (revision ${res.header.revision})`)
    }
    const revision = rev(res.header.revision)
    await this.#cache.waitForRevision(revision)
    return revision
  }
}
