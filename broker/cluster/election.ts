/**
 * Controller election with etcd's election recipe (etcd3's `election(name, ttl).campaign()`):
 * every broker puts a candidate key `P/election/controller/<leaseId>` under a campaign lease
 * (TTL = leaseTtlMs) and the candidate with the lowest create revision is the controller. The
 * others wait for the key ahead of them to be deleted (resignation or lease expiry).
 *
 * Controller epoch = the create revision of the winner's candidate key. etcd revisions only
 * grow, so a later controller always has a larger epoch, and the key exists exactly as long as
 * that controller holds office: every metadata write compares the key's create revision with
 * the epoch (metadata-writer.ts), so a deposed controller's writes fail.
 *
 * Losing control: the campaign fails (its lease was lost: etcd said so, or keepalives failed
 * for 2 TTLs), the cache shows the candidate key gone, or a write found a newer controller
 * (`stepDown`). Each emits 'resigned' once, and a new campaign starts after a short backoff.
 * Between the server-side expiry of the lease and this broker noticing, it may still believe it
 * is the controller; fencing makes that harmless.
 */

import { EventEmitter } from 'node:events'
import type { Campaign, Election, Etcd3 } from 'etcd3'
import type { Logger } from 'pino'
import { etcdCall, rev } from './etcd.js'
import type { ClusterKeys } from './keys.js'

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
  nodeId: number
  incarnationId: string
  leaseTtlMs: number
  operationTimeoutMs: number
  logger: Logger
}

const BACKOFF_MIN_MS = 200
const BACKOFF_MAX_MS = 2000

export class ControllerElection extends EventEmitter<ElectionEvents> {
  readonly #o: ElectionOptions
  /** One etcd3 Election (and so one watch manager) for this broker's whole life. */
  readonly election: Election
  #campaign: Campaign | null = null
  #guard: ControllerGuard | null = null
  #closed = false
  #backoffMs = BACKOFF_MIN_MS
  #restartTimer: NodeJS.Timeout | null = null

  constructor (options: ElectionOptions) {
    super()
    this.#o = options
    this.election = options.client.namespace(options.keys.electionNamespace).election(options.keys.electionName, options.leaseTtlMs / 1000)
  }

  get isController (): boolean { return this.#guard !== null }
  /** Epoch and candidate key while this broker is the controller. */
  get guard (): ControllerGuard | null { return this.#guard }

  start (): void {
    if (this.#campaign === null && !this.#closed) this.#run()
  }

  /** Gives up control (if held) and campaigns again. */
  stepDown (reason: string): void {
    const campaign = this.#campaign
    if (campaign === null) return
    this.#end(campaign, reason)
  }

  async close (): Promise<void> {
    this.#closed = true
    if (this.#restartTimer !== null) clearTimeout(this.#restartTimer)
    const campaign = this.#campaign
    this.#campaign = null
    const was = this.#guard
    this.#guard = null
    if (was !== null) this.emit('resigned', 'broker closing')
    if (campaign !== null) await etcdCall('resigning the controller campaign', this.#o.operationTimeoutMs, () => campaign.resign()).catch(() => undefined)
  }

  #run (): void {
    const o = this.#o
    const value = JSON.stringify({ nodeId: o.nodeId, incarnationId: o.incarnationId })
    const campaign = this.election.campaign(value)
    this.#campaign = campaign
    campaign.on('elected', () => { void this.#onElected(campaign) })
    campaign.on('error', (err: Error) => {
      if (this.#campaign !== campaign) return
      this.#end(campaign, `controller campaign failed: ${err.message}`)
    })
  }

  async #onElected (campaign: Campaign): Promise<void> {
    const o = this.#o
    try {
      const key = await etcdCall('reading the campaign key', o.operationTimeoutMs, () => campaign.getCampaignKey())
      const res = await etcdCall('reading the campaign key', o.operationTimeoutMs, () => o.client.get(key).exec())
      const kv = res.kvs[0]
      if (this.#campaign !== campaign) return
      if (kv === undefined) {
        this.#end(campaign, 'the campaign key vanished right after the election')
        return
      }
      this.#backoffMs = BACKOFF_MIN_MS
      this.#guard = { epoch: rev(kv.create_revision), campaignKey: key }
      o.logger.info({ nodeId: o.nodeId, epoch: this.#guard.epoch }, 'this broker is now the controller')
      this.emit('elected', this.#guard)
    } catch (err) {
      if (this.#campaign === campaign) this.#end(campaign, `could not read the campaign key: ${(err as Error).message}`)
    }
  }

  #end (campaign: Campaign, reason: string): void {
    if (this.#campaign !== campaign) return
    this.#campaign = null
    const was = this.#guard
    this.#guard = null
    if (was !== null) {
      this.#o.logger.warn({ nodeId: this.#o.nodeId, epoch: was.epoch, reason }, 'this broker is no longer the controller')
      this.emit('resigned', reason)
    } else {
      this.#o.logger.debug({ reason }, 'controller campaign ended; campaigning again')
    }
    campaign.resign().catch(() => undefined)
    if (this.#closed) return
    const delay = this.#backoffMs
    this.#backoffMs = Math.min(BACKOFF_MAX_MS, this.#backoffMs * 2)
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null
      if (!this.#closed && this.#campaign === null) this.#run()
    }, delay)
  }
}
