/**
 * Quotas: byte rates for produce and fetch, and a request rate, per client id, principal or
 * consumer group (and a default per client id), enforced as Kafka enforces its client
 * quotas. Every connection charges what it does here (network/connection.ts `charge`): the
 * native and Kafka produce and fetch handlers their record bytes, the request pipeline each
 * request, MQTT its publishes. The answer is how long the connection must wait; the
 * connection then stops reading its socket for that long and the response reports it
 * (`throttleTimeMs`). Nothing is dropped and no connection is closed for a quota.
 *
 * Which limits apply: every quota that matches the connection — its client id's (or the
 * default, when its client id has none), its group's, its principal's — each measured on
 * its own rate shared by every connection it matches (two consumers of one client id share
 * one client-id budget; the members of a group share the group's). The throttle is the
 * longest any of them asks for. So a limit cannot be escaped by picking another client id
 * while a principal or group limit applies.
 *
 * Rates and throttle (rate.ts): each (entity, kind) has a WindowedRate of quotaWindowNum
 * windows of quotaWindowSizeMs (Kafka's quota.window.num = 11, quota.window.size.seconds =
 * 1). After recording, a rate above its limit gives
 *     throttle = (observed − limit) / limit × span
 * capped at quotaWindowNum × quotaWindowSizeMs, so one huge response cannot silence a
 * client for longer than the window it is measured over.
 *
 * The request quota is Kafka's request percentage quota simplified to requests per second
 * (Kafka measures handler thread time; here every request counts 1): what it stops is the
 * client that asks again and again in a tight loop.
 *
 * Where quotas are kept (quota-repository.ts): `<dataDir>/quotas.json` on a single broker,
 * the cluster's quota documents in etcd in cluster mode — there a quota set through any
 * broker (or `spool quota --etcd-endpoints`) reaches every broker through its watch, and the
 * repository's change notification makes open connections look their quotas up again.
 *
 * Cost: with no quota set, `charge` returns at once. Otherwise each connection caches the
 * rates that apply to it (invalidated when quotas change or its identity does) and a
 * charge is a few additions per matching rate.
 */

import type { Logger } from 'pino'
import type { QuotaKind, QuotaPolicy, QuotaSubject } from '../network/connection.js'
import type { BrokerMetrics, Labels } from '../observability/metrics.js'
import { principalString, type Caller, type Principal } from '../security/principal.js'
import { CLUSTER_RESOURCE, type AccessPolicy } from '../services/access.js'
import { WindowedRate, throttleTimeMs } from './rate.js'
import {
  QUOTA_KEYS, checkEntity, checkLimit, entityKey, type EntityType, type QuotaEntity, type QuotaEntry, type QuotaKey, type QuotaLimits,
} from './quota-entities.js'
import type { QuotaRepository } from './quota-repository.js'

export interface QuotaSettings {
  quotaWindowNum: number
  quotaWindowSizeMs: number
}

/** The limit each kind of charge is measured against. */
const KEY_OF: Record<QuotaKind, QuotaKey> = { produce: 'produceBytesPerSec', fetch: 'fetchBytesPerSec', request: 'requestsPerSec' }
const KINDS: readonly QuotaKind[] = ['produce', 'fetch', 'request']

interface Sensor {
  readonly key: string
  readonly entityType: EntityType
  /** The entity's name; for the default quota, the client id it measures. */
  readonly entityName: string
  readonly kind: QuotaKind
  limit: number
  readonly rate: WindowedRate
  lastUsedMs: number
  /** Observed rate at the last charge (per second). */
  observed: number
}

interface Resolved {
  generation: number
  clientId: string
  group: string | null
  principal: Principal
  sensors: Record<QuotaKind, Sensor[]>
}

/** One change of AlterClientQuotas: limits to set and limits to remove (null value). */
export interface QuotaChange {
  entity: { type: string, name: string | null }
  ops: ReadonlyArray<{ key: string, value: number | null }>
}

export interface QuotaChangeResult {
  entity: QuotaEntity | { type: string, name: string | null }
  error: unknown
}

export class QuotaManager implements QuotaPolicy {
  readonly #store: QuotaRepository
  readonly #settings: QuotaSettings
  readonly #access: AccessPolicy
  readonly #logger: Logger
  readonly #now: () => number
  readonly #sensors = new Map<string, Sensor>()
  readonly #resolved = new WeakMap<QuotaSubject, Resolved>()
  readonly #maxThrottleMs: number
  readonly #totals: Record<QuotaKind, { throttles: number, throttleMs: number }> = {
    produce: { throttles: 0, throttleMs: 0 }, fetch: { throttles: 0, throttleMs: 0 }, request: { throttles: 0, throttleMs: 0 },
  }

  readonly #exempt: (principal: string) => boolean
  #generation = 0
  #sweep: NodeJS.Timeout

  /** `exempt`: principals (`User:<name>`) no quota applies to (the inter-broker principal of a cluster). */
  constructor (options: { store: QuotaRepository, settings: QuotaSettings, access: AccessPolicy, logger: Logger, now: () => number, exempt?: (principal: string) => boolean }) {
    this.#store = options.store
    // Whoever changed them (this broker, another broker of the cluster, the CLI), connections
    // look their quotas up again from their next charge.
    this.#store.onChange(() => { this.#generation++ })
    this.#exempt = options.exempt ?? (() => false)
    this.#settings = options.settings
    this.#access = options.access
    this.#logger = options.logger
    this.#now = options.now
    this.#maxThrottleMs = options.settings.quotaWindowNum * options.settings.quotaWindowSizeMs
    // Rates nobody charged for two full windows are dropped (they would measure 0 anyway).
    this.#sweep = setInterval(() => this.#dropIdle(), Math.max(1000, this.#maxThrottleMs))
    this.#sweep.unref()
  }

  /** The longest a single charge may throttle a connection. */
  get maxThrottleMs (): number { return this.#maxThrottleMs }

  close (): void {
    clearInterval(this.#sweep)
  }

  charge (subject: QuotaSubject, kind: QuotaKind, amount: number): number {
    if (this.#store.size === 0) return 0
    const sensors = this.#resolve(subject)[kind]
    if (sensors.length === 0) return 0
    const now = this.#now()
    let throttle = 0
    for (const s of sensors) {
      s.rate.record(amount, now)
      s.lastUsedMs = now
      s.observed = s.rate.perSecond(now)
      throttle = Math.max(throttle, throttleTimeMs(s.observed, s.limit, s.rate.spanMs(now)))
    }
    if (throttle <= 0) return 0
    const ms = Math.min(Math.max(1, Math.round(throttle)), this.#maxThrottleMs)
    this.#totals[kind].throttles++
    this.#totals[kind].throttleMs += ms
    return ms
  }

  /** Every quota set, sorted (the DescribeClientQuotas answer). */
  list (caller: Caller): QuotaEntry[] {
    this.#access.check(caller, 'describe_configs', 'cluster', CLUSTER_RESOURCE)
    return this.#store.list()
  }

  /**
   * Applies changes (each entity's ops: a value sets a limit, null removes it). Every change
   * is checked first; the valid ones are written together (one durable file write, or one
   * compare-and-swap per entity in etcd: then each entity's result says whether its write
   * went through) and apply to open connections from their next request. `validateOnly`
   * checks without changing anything.
   */
  async alter (caller: Caller, changes: readonly QuotaChange[], validateOnly = false): Promise<QuotaChangeResult[]> {
    this.#access.check(caller, 'alter_configs', 'cluster', CLUSTER_RESOURCE)
    const results: QuotaChangeResult[] = []
    const next = new Map<string, { entity: QuotaEntity, limits: QuotaLimits }>()
    for (const change of changes) {
      try {
        const entity = checkEntity(change.entity.type, change.entity.name)
        const key = entityKey(entity)
        const limits: QuotaLimits = { ...(next.get(key)?.limits ?? this.#store.get(entity)?.limits ?? {}) }
        for (const op of change.ops) {
          if (op.value === null) {
            checkLimit(op.key, 1)
            delete limits[op.key as QuotaKey]
          } else {
            limits[op.key as QuotaKey] = checkLimit(op.key, op.value)
          }
        }
        next.set(key, { entity, limits })
        results.push({ entity, error: null })
      } catch (err) {
        results.push({ entity: change.entity, error: err })
      }
    }
    if (validateOnly || next.size === 0) return results
    const written = [...next.values()]
    let errors: Array<Error | null>
    try {
      errors = await this.#store.replace(written)
    } catch (err) {
      errors = written.map(() => err as Error)
    }
    this.#generation++
    const failed = new Map<string, Error>()
    written.forEach(({ entity, limits }, i) => {
      const error = errors[i] ?? null
      if (error !== null) {
        failed.set(entityKey(entity), error)
        this.#logger.warn({ entity: entity.type, name: entity.name ?? undefined, err: error.message }, 'quota change not written')
      } else {
        this.#logger.info({ entity: entity.type, name: entity.name ?? undefined, limits, principal: principalString(caller.principal) }, Object.keys(limits).length === 0 ? 'quota removed' : 'quota set')
      }
    })
    if (failed.size === 0) return results
    // A change whose entity was not written reports why (the entity of a valid change is normalized).
    return results.map(r => r.error === null ? { entity: r.entity, error: failed.get(entityKey(r.entity as QuotaEntity)) ?? null } : r)
  }

  /** The quota series on `/metrics`. */
  registerMetrics (metrics: BrokerMetrics): void {
    const totals = this.#totals
    metrics.counter('spool_quota_throttles_total', 'Times a connection was throttled for exceeding a quota, by kind (produce, fetch, request)', ['kind'], function * () {
      for (const kind of KINDS) yield [{ kind }, totals[kind].throttles]
    })
    metrics.counter('spool_quota_throttle_seconds_total', 'Time connections were made to wait for exceeding a quota, by kind', ['kind'], function * () {
      for (const kind of KINDS) yield [{ kind }, totals[kind].throttleMs / 1000]
    })
    const store = this.#store
    metrics.gauge('spool_quota_limit', 'Quotas set: bytes (or requests) per second, by kind and entity', ['kind', 'entity_type', 'entity'], function * () {
      for (const e of store.list()) {
        for (const kind of KINDS) {
          const limit = e.limits[KEY_OF[kind]]
          if (limit !== undefined) yield [{ kind, entity_type: e.entity.type, entity: e.entity.name ?? '<default>' }, limit]
        }
      }
    })
    const sensors = this.#sensors
    metrics.gauge('spool_quota_usage_ratio', 'Measured rate over the limit of each quota in use (1 = at the limit; default quotas by client id)', ['kind', 'entity_type', 'entity'], () => {
      const rows: Array<[Labels, number]> = []
      const now = this.#now()
      for (const s of sensors.values()) rows.push([{ kind: s.kind, entity_type: s.entityType, entity: s.entityName }, s.rate.perSecond(now) / s.limit])
      return rows
    })
  }

  #resolve (subject: QuotaSubject): Record<QuotaKind, Sensor[]> {
    const cached = this.#resolved.get(subject)
    if (cached !== undefined && cached.generation === this.#generation && cached.clientId === subject.clientId &&
        cached.group === subject.group && cached.principal === subject.principal) return cached.sensors
    const sensors: Record<QuotaKind, Sensor[]> = { produce: [], fetch: [], request: [] }
    const principal = principalString(subject.principal)
    if (this.#exempt(principal)) {
      this.#resolved.set(subject, { generation: this.#generation, clientId: subject.clientId, group: subject.group, principal: subject.principal, sensors })
      return sensors
    }
    const clientQuota = this.#store.get({ type: 'client-id', name: subject.clientId })
    const defaultQuota = this.#store.get({ type: 'default', name: null })
    const groupQuota = subject.group === null ? undefined : this.#store.get({ type: 'group', name: subject.group })
    const principalQuota = this.#store.get({ type: 'principal', name: principal })
    for (const kind of KINDS) {
      const key = KEY_OF[kind]
      const own = clientQuota?.limits[key]
      if (own !== undefined) sensors[kind].push(this.#sensor('client-id', subject.clientId, kind, own))
      else if (defaultQuota?.limits[key] !== undefined) sensors[kind].push(this.#sensor('default', subject.clientId, kind, defaultQuota.limits[key]))
      const g = groupQuota?.limits[key]
      if (g !== undefined) sensors[kind].push(this.#sensor('group', subject.group!, kind, g))
      const p = principalQuota?.limits[key]
      if (p !== undefined) sensors[kind].push(this.#sensor('principal', principal, kind, p))
    }
    this.#resolved.set(subject, { generation: this.#generation, clientId: subject.clientId, group: subject.group, principal: subject.principal, sensors })
    return sensors
  }

  #sensor (entityType: EntityType, entityName: string, kind: QuotaKind, limit: number): Sensor {
    const key = `${entityType}\u0000${entityName}\u0000${kind}`
    let s = this.#sensors.get(key)
    if (s === undefined) {
      s = { key, entityType, entityName, kind, limit, rate: new WindowedRate(this.#settings.quotaWindowNum, this.#settings.quotaWindowSizeMs), lastUsedMs: this.#now(), observed: 0 }
      this.#sensors.set(key, s)
    }
    s.limit = limit
    return s
  }

  #dropIdle (): void {
    const now = this.#now()
    let dropped = false
    for (const [key, s] of this.#sensors) {
      if (now - s.lastUsedMs > 2 * this.#maxThrottleMs) {
        this.#sensors.delete(key)
        dropped = true
      }
    }
    // Connections holding a dropped rate look their rates up again.
    if (dropped) this.#generation++
  }
}

export { QUOTA_KEYS }
