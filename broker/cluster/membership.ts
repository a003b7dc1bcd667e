/**
 * Broker membership: `P/brokers/<nodeId>` holds this broker's registration (listeners, rack, a
 * random incarnation id) under a lease the broker keeps alive. The key exists exactly while
 * the broker is alive as far as etcd knows; the controller treats its deletion as the broker's
 * death.
 *
 * Start: the key is created only if absent (compare create revision = 0). If another
 * incarnation holds it, that may be this node's previous process, killed less than a lease TTL
 * ago: registration waits up to one TTL (+1.5 s) for the key to expire and then refuses with
 * DuplicateBrokerIdError — a live broker renews its lease, so its key never expires.
 *
 * Lease loss (keepalives failed for 2 TTLs, or etcd said the lease is gone): a warning is
 * logged, 'lost' is emitted, and registration is retried with a new lease (backoff 250 ms to
 * 2 s) until it succeeds ('reregistered', info line). If the old key is still there with this
 * incarnation (etcd kept the old lease alive, e.g. across a leader change), the new lease takes
 * it over and the old lease is revoked. If another incarnation took the node id meanwhile,
 * 'fenced' is emitted and the broker stops retrying.
 */

import { EventEmitter } from 'node:events'
import type { Etcd3, Lease } from 'etcd3'
import type { Logger } from 'pino'
import { DuplicateBrokerIdError, MetadataUnavailableError } from '../../protocol/errors.js'
import { bytes, etcdCall, rev, utf8 } from './etcd.js'
import type { ClusterKeys } from './keys.js'
import { parseBrokerRegistration, type BrokerRegistration } from './records.js'
import type { ClusterSettings } from './settings.js'

export interface MembershipEvents {
  lost: [Error]
  reregistered: [BrokerRegistration]
  fenced: [DuplicateBrokerIdError]
}

export interface MembershipOptions {
  client: Etcd3
  keys: ClusterKeys
  settings: ClusterSettings
  incarnationId: string
  logger: Logger
}

const RETRY_MIN_MS = 250
const RETRY_MAX_MS = 2000

export class Membership extends EventEmitter<MembershipEvents> {
  readonly #client: Etcd3
  readonly #keys: ClusterKeys
  readonly #settings: ClusterSettings
  readonly #incarnationId: string
  readonly #logger: Logger
  #lease: Lease | null = null
  #registration: BrokerRegistration | null = null
  #closed = false
  #retrying = false

  constructor (options: MembershipOptions) {
    super()
    this.#client = options.client
    this.#keys = options.keys
    this.#settings = options.settings
    this.#incarnationId = options.incarnationId
    this.#logger = options.logger
  }

  /** The registration while it is held, else null. */
  get registration (): BrokerRegistration | null { return this.#registration }
  /** The lease the registration lives under (requests to the controller use it too). */
  get leaseId (): string | null { return this.#registration?.leaseId ?? null }

  /** Registers; throws DuplicateBrokerIdError when a live broker holds the node id. */
  async register (): Promise<BrokerRegistration> {
    const deadline = Date.now() + this.#settings.leaseTtlMs + 1500
    let waitingLogged = false
    for (;;) {
      const outcome = await this.#attempt()
      if (outcome.kind === 'registered') return outcome.registration
      if (Date.now() > deadline) {
        throw new DuplicateBrokerIdError(`node id ${this.#settings.nodeId} is registered by a live broker (incarnation ${outcome.holder.incarnationId}, since ${new Date(outcome.holder.registeredAtMs).toISOString()})`)
      }
      if (!waitingLogged) {
        waitingLogged = true
        this.#logger.info({ nodeId: this.#settings.nodeId, holder: outcome.holder.incarnationId }, 'node id is registered by another incarnation; waiting for its lease to expire')
      }
      await this.#waitForKeyGone(deadline)
    }
  }

  /** Polls (every 250 ms, until `deadline`) for the registration key to disappear. */
  async #waitForKeyGone (deadline: number): Promise<void> {
    const key = bytes(this.#keys.broker(this.#settings.nodeId))
    while (Date.now() <= deadline) {
      await new Promise(resolve => setTimeout(resolve, 250))
      const res = await etcdCall('reading the broker registration', this.#settings.etcdOperationTimeoutMs, () => this.#client.kv.range({ key, keys_only: true }))
      if (res.kvs.length === 0) return
    }
  }

  /** Revokes the lease: the registration goes at once (a clean shutdown). */
  async close (): Promise<void> {
    this.#closed = true
    const lease = this.#lease
    this.#lease = null
    this.#registration = null
    if (lease !== null) await etcdCall('revoking the broker lease', this.#settings.etcdOperationTimeoutMs, () => lease.revoke()).catch(() => undefined)
  }

  /** Puts the registration back if it vanished while the lease lives (someone deleted the key). */
  repair (): void {
    if (this.#lease !== null) this.#onLeaseLost(this.#lease, new Error('the registration key was deleted'))
  }

  async #attempt (): Promise<{ kind: 'registered', registration: BrokerRegistration } | { kind: 'held', holder: BrokerRegistration }> {
    const timeoutMs = this.#settings.etcdOperationTimeoutMs
    const ttlSeconds = this.#settings.leaseTtlMs / 1000
    const lease = this.#client.lease(ttlSeconds)
    lease.on('lost', err => this.#onLeaseLost(lease, err))
    let leaseId: string
    try {
      leaseId = await etcdCall('granting the broker lease', timeoutMs, () => lease.grant())
    } catch (err) {
      lease.release()
      throw err
    }
    const registration: BrokerRegistration = {
      nodeId: this.#settings.nodeId,
      incarnationId: this.#incarnationId,
      rack: this.#settings.rack,
      listeners: this.#settings.advertisedListeners,
      registeredAtMs: Date.now(),
      leaseId,
    }
    const key = bytes(this.#keys.broker(this.#settings.nodeId))
    const value = bytes(JSON.stringify(registration))
    try {
      const res = await etcdCall('registering the broker', timeoutMs, () => this.#client.kv.txn({
        compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key, value, lease: leaseId } }],
        failure: [{ request_range: { key } }],
      }))
      if (!res.succeeded) {
        const kv = res.responses[0]?.response_range.kvs[0]
        if (kv === undefined) throw new MetadataUnavailableError('the registration key changed during registration; retry')
        const holder = parseBrokerRegistration(JSON.parse(utf8(kv.value)))
        if (holder.incarnationId !== this.#incarnationId) {
          await etcdCall('revoking an unused lease', timeoutMs, () => lease.revoke()).catch(() => undefined)
          return { kind: 'held', holder }
        }
        const takeover = await etcdCall('re-registering the broker', timeoutMs, () => this.#client.kv.txn({
          compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: rev(kv.mod_revision) }],
          success: [{ request_put: { key, value, lease: leaseId } }],
          failure: [],
        }))
        if (!takeover.succeeded) throw new MetadataUnavailableError('the registration key changed during re-registration; retry')
        const oldLease = holder.leaseId
        void etcdCall('revoking the old broker lease', timeoutMs, () => this.#client.leaseClient.leaseRevoke({ ID: oldLease })).catch(() => undefined)
      }
    } catch (err) {
      lease.release()
      throw err
    }
    this.#lease = lease
    this.#registration = registration
    return { kind: 'registered', registration }
  }

  #onLeaseLost (lease: Lease, err: Error): void {
    if (this.#closed || lease !== this.#lease) return
    this.#lease = null
    this.#registration = null
    lease.release()
    this.#logger.warn({ nodeId: this.#settings.nodeId, err: err.message }, 'broker registration lost (lease expired, revoked or etcd unreachable); registering again')
    this.emit('lost', err)
    this.#startRetrying(err)
  }

  #startRetrying (cause: Error): void {
    if (this.#retrying) return
    this.#retrying = true
    void this.#retry(cause).finally(() => { this.#retrying = false })
  }

  async #retry (cause: Error): Promise<void> {
    let delayMs = RETRY_MIN_MS
    for (let attempt = 1; !this.#closed; attempt++) {
      try {
        const outcome = await this.#attempt()
        if (outcome.kind === 'registered') {
          this.#logger.info({ nodeId: this.#settings.nodeId, attempt, leaseId: outcome.registration.leaseId }, 'broker registration restored')
          this.emit('reregistered', outcome.registration)
          return
        }
        const fenced = new DuplicateBrokerIdError(`node id ${this.#settings.nodeId} was taken by incarnation ${outcome.holder.incarnationId} while this broker's lease was lost`, { cause })
        this.#logger.error({ nodeId: this.#settings.nodeId, holder: outcome.holder.incarnationId }, 'broker fenced: another broker holds this node id')
        this.emit('fenced', fenced)
        return
      } catch (err) {
        this.#logger.debug({ err: (err as Error).message, attempt }, 'broker re-registration failed; retrying')
        await new Promise(resolve => setTimeout(resolve, delayMs))
        delayMs = Math.min(RETRY_MAX_MS, delayMs * 2)
      }
    }
  }
}
