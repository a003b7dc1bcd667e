/**
 * Controller election, etcd's election recipe: every broker puts a candidate key
 * `P/election/controller/<leaseId>` (create-only) under a campaign lease of leaseTtlMs, and the
 * candidate whose key has the lowest create revision is the controller. The others wait for
 * the keys ahead of theirs to be deleted (resignation or lease expiry).
 *
 * Controller epoch = the create revision of the winner's key. etcd revisions only grow, so a
 * later controller always has a larger epoch, and the key exists exactly as long as that
 * controller holds office: every metadata write compares the key's create revision with the
 * epoch (metadata-writer.ts), so a deposed controller's writes fail.
 *
 * The waiting is done on the metadata cache, which already watches the whole prefix: this
 * broker is elected once the cache, caught up to its key's creation, shows its key first. (A
 * cache is a consistent prefix of etcd's history, so "first at revision R" means first in etcd
 * at R, and only the key's deletion ends it.) etcd3's own `election().campaign()` does the same
 * with a watch per wait, but version 1.1.2 never cancels that watch when a waiting campaign is
 * resigned, and the leftover watch keeps retrying after the client is closed, so a broker
 * process would not exit; doing it on the cache needs no watch of its own.
 *
 * Losing control: the campaign lease is lost (etcd said so, or keepalives failed for 2 TTLs),
 * the cache shows the key gone, or a write found a newer controller (`stepDown`). Each emits
 * 'resigned' once; the old lease is revoked (retried in the background while etcd is
 * unreachable, so a dead candidate key does not hold the others back longer than needed) and a
 * new campaign starts after a short backoff. Between the server-side expiry of the lease and
 * this broker noticing, it may still believe it is the controller; fencing makes that harmless.
 */

import { EventEmitter } from 'node:events'
import type { Etcd3, Lease } from 'etcd3'
import type { Logger } from 'pino'
import { MetadataUnavailableError } from '../../protocol/errors.js'
import { bytes, etcdCall, rev } from './etcd.js'
import type { ClusterKeys } from './keys.js'
import type { MetadataCache } from './metadata-cache.js'

export interface ControllerGuard {
  epoch: number
  campaignKey: string
}

export interface ElectionEvents {
  elected: [ControllerGuard]
  resigned: [string]
}

export interface ElectionOptions {
  client: Etcd3
  keys: ClusterKeys
  cache: MetadataCache
  nodeId: number
  incarnationId: string
  leaseTtlMs: number
  operationTimeoutMs: number
  logger: Logger
}

interface Candidate { lease: Lease, leaseId: string, key: string, epoch: number }

const BACKOFF_MIN_MS = 200
const BACKOFF_MAX_MS = 2000
const REVOKE_ATTEMPTS = 6

export class ControllerElection extends EventEmitter<ElectionEvents> {
  readonly #o: ElectionOptions
  #candidate: Candidate | null = null
  #campaigning = false
  #guard: ControllerGuard | null = null
  #closed = false
  #backoffMs = BACKOFF_MIN_MS
  #timer: NodeJS.Timeout | null = null
  readonly #onApplied = (): void => this.#check()

  constructor (options: ElectionOptions) {
    super()
    this.#o = options
    options.cache.on('applied', this.#onApplied)
  }

  get isController (): boolean { return this.#guard !== null }
  /** Epoch and candidate key while this broker is the controller. */
  get guard (): ControllerGuard | null { return this.#guard }

  start (): void {
    if (!this.#closed && !this.#campaigning && this.#candidate === null) void this.#campaign()
  }

  /** Gives up control (or candidacy) and campaigns again. */
  stepDown (reason: string): void {
    const c = this.#candidate
    if (c !== null) this.#end(c, reason)
  }

  async close (): Promise<void> {
    this.#closed = true
    this.#o.cache.off('applied', this.#onApplied)
    if (this.#timer !== null) clearTimeout(this.#timer)
    const c = this.#candidate
    this.#candidate = null
    const was = this.#guard
    this.#guard = null
    if (was !== null) this.emit('resigned', 'broker closing')
    if (c !== null) await etcdCall('resigning the controller candidacy', this.#o.operationTimeoutMs, () => c.lease.revoke()).catch(() => undefined)
  }

  async #campaign (): Promise<void> {
    const o = this.#o
    this.#campaigning = true
    const lease = o.client.lease(o.leaseTtlMs / 1000)
    try {
      const leaseId = await etcdCall('granting the campaign lease', o.operationTimeoutMs, () => lease.grant())
      const key = `${o.keys.candidates}${leaseId}`
      const k = bytes(key)
      const res = await etcdCall('putting the controller candidacy', o.operationTimeoutMs, () => o.client.kv.txn({
        compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: k, value: bytes(JSON.stringify({ nodeId: o.nodeId, incarnationId: o.incarnationId })), lease: leaseId } }],
        failure: [],
      }))
      if (!res.succeeded) throw new MetadataUnavailableError('a candidate key for a fresh lease already existed')
      if (this.#closed) {
        void lease.revoke().catch(() => undefined)
        return
      }
      const candidate: Candidate = { lease, leaseId, key, epoch: rev(res.header.revision) }
      this.#candidate = candidate
      lease.on('lost', err => this.#end(candidate, `campaign lease lost: ${err.message}`))
      this.#check()
    } catch (err) {
      lease.release()
      o.logger.debug({ err: (err as Error).message }, 'controller campaign failed; retrying')
      this.#scheduleCampaign()
    } finally {
      this.#campaigning = false
    }
  }

  #check (): void {
    const c = this.#candidate
    const cache = this.#o.cache
    if (c === null || cache.revision < c.epoch) return
    if (cache.entry(c.key) === undefined) {
      this.#end(c, 'the candidate key is gone from etcd')
      return
    }
    if (this.#guard === null && cache.controller?.campaignKey === c.key) {
      this.#backoffMs = BACKOFF_MIN_MS
      this.#guard = { epoch: c.epoch, campaignKey: c.key }
      this.#o.logger.info({ nodeId: this.#o.nodeId, epoch: c.epoch }, 'this broker is now the controller')
      this.emit('elected', this.#guard)
    }
  }

  #end (c: Candidate, reason: string): void {
    if (this.#candidate !== c) return
    this.#candidate = null
    const was = this.#guard
    this.#guard = null
    if (was !== null) {
      this.#o.logger.warn({ nodeId: this.#o.nodeId, epoch: was.epoch, reason }, 'this broker is no longer the controller')
      this.emit('resigned', reason)
    } else {
      this.#o.logger.debug({ reason }, 'controller candidacy ended; campaigning again')
    }
    c.lease.release()
    void this.#revokeInBackground(c.leaseId)
    this.#scheduleCampaign()
  }

  #scheduleCampaign (): void {
    if (this.#closed || this.#timer !== null) return
    const delay = this.#backoffMs
    this.#backoffMs = Math.min(BACKOFF_MAX_MS, this.#backoffMs * 2)
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.start()
    }, delay)
  }

  /** Revokes an abandoned campaign lease, retrying while etcd does not answer (bounded). */
  async #revokeInBackground (leaseId: string): Promise<void> {
    const o = this.#o
    for (let attempt = 0; attempt < REVOKE_ATTEMPTS && !this.#closed; attempt++) {
      try {
        await etcdCall('revoking an abandoned campaign lease', o.operationTimeoutMs, () => o.client.leaseClient.leaseRevoke({ ID: leaseId }))
        return
      } catch (err) {
        if (/requested lease not found/.test((err as Error).message)) return
        await new Promise(resolve => setTimeout(resolve, 1000 * 2 ** attempt).unref())
      }
    }
  }
}
