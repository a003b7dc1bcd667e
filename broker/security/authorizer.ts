/**
 * The one authorization point: `authorize(caller, operation, resource)` answers allow or
 * deny, synchronously, for every service call on every listener.
 *
 * `AclAuthorizer` decides as Kafka's AclAuthorizer does:
 *   1. a token scoped to a topic prefix reaches no topic outside it (checked first; it
 *      restricts super users too);
 *   2. super users (a configured list of `User:name`) are allowed everything;
 *   3. the ACLs that apply to the resource are those of its type whose pattern matches
 *      it (literal name, literal `*`, prefixes). None at all: allowed only when
 *      `allowEveryoneIfNoAclFound` is on (default off);
 *   4. a deny entry for the caller (its principal or `User:*`, its host or `*`) and the
 *      operation (or `all`) denies: deny wins;
 *   5. otherwise an allow entry for the operation, for an operation that implies it (read,
 *      write, delete, alter imply describe; alter_configs implies describe_configs) or for
 *      `all` allows; else denied.
 * `AllowAllAuthorizer` allows everything: the broker uses it when authentication is off,
 * which keeps today's behaviour.
 *
 * Speed: decisions are cached per principal object (a connection's, kept in a WeakMap so
 * the cache goes with the connection), host, operation, resource type and name, so a
 * cached decision costs a WeakMap lookup, two Map lookups and an array read — however
 * the Caller objects are made. Any ACL change (API
 * or a reload of acls.json, polled every `reloadIntervalMs`) drops the whole cache; the
 * cache is also dropped when it holds `cacheMaxEntries` decisions.
 *
 * Denials go to `onDenied` (default: a pino warn line) at most once per principal + host +
 * operation + resource per `denialLogIntervalMs`; the next line carries how many were
 * suppressed meanwhile. `stats` counts every decision for metrics.
 */

import type { Logger } from 'pino'
import {
  ClusterAuthorizationFailedError, GroupAuthorizationFailedError, InvalidArgumentError, TopicAuthorizationFailedError,
  TransactionalIdAuthorizationFailedError, type SpoolError,
} from '../../protocol/errors.js'
import { ACL_OPERATIONS, IMPLIED_BY, RESOURCE_TYPES, WILDCARD, WILDCARD_PRINCIPAL, type AclEntry, type AclFilter, type AclOperation, type Resource, type ResourceType } from './acl.js'
import { AclStore, type AclRepository } from './acl-store.js'
import { principalString, type Caller, type Principal } from './principal.js'

export type DecisionReason =
  | 'authorization-disabled' | 'super-user' | 'acl-allow' | 'no-acl-allow'
  | 'acl-deny' | 'no-allow-acl' | 'no-acl-deny' | 'token-scope'

export interface Decision {
  readonly allowed: boolean
  readonly reason: DecisionReason
}

const decision = (allowed: boolean, reason: DecisionReason): Decision => Object.freeze({ allowed, reason })
export const DECISIONS = Object.freeze({
  authorizationDisabled: decision(true, 'authorization-disabled'),
  superUser: decision(true, 'super-user'),
  aclAllow: decision(true, 'acl-allow'),
  noAclAllow: decision(true, 'no-acl-allow'),
  aclDeny: decision(false, 'acl-deny'),
  noAllowAcl: decision(false, 'no-allow-acl'),
  noAclDeny: decision(false, 'no-acl-deny'),
  tokenScope: decision(false, 'token-scope'),
})

export interface Authorizer {
  /** False for the allow-all authorizer. */
  readonly enabled: boolean
  authorize (caller: Caller, operation: AclOperation, resource: Resource): Decision
  /** The same decision, neither counted nor reported (list filtering, "could it?" questions). */
  peek (caller: Caller, operation: AclOperation, resource: Resource): Decision
  /**
   * Whether the caller may do `operation` on at least one resource of `type` (Kafka's
   * authorizeByResourceType: idempotent producers need write on some topic).
   */
  authorizeByResourceType (caller: Caller, operation: AclOperation, type: ResourceType): Decision
  /** The items the caller may `operation` (describe, for list calls); denials here are not reported. */
  filterAuthorized<T> (caller: Caller, operation: AclOperation, type: ResourceType, items: Iterable<T>, nameOf: (item: T) => string): T[]
  close (): void
}

/** The typed error a denied call answers with (Kafka's per-resource codes 29, 30, 31, 53). */
export function authorizationError (resource: Resource, operation: AclOperation): SpoolError {
  const msg = `Not authorized to ${operation} ${resource.type} ${resource.name}`
  switch (resource.type) {
    case 'topic': return new TopicAuthorizationFailedError(msg)
    case 'group': return new GroupAuthorizationFailedError(msg)
    case 'cluster': return new ClusterAuthorizationFailedError(msg)
    case 'transactional_id': return new TransactionalIdAuthorizationFailedError(msg)
  }
}

export class AllowAllAuthorizer implements Authorizer {
  readonly enabled = false
  authorize (): Decision { return DECISIONS.authorizationDisabled }
  peek (): Decision { return DECISIONS.authorizationDisabled }
  authorizeByResourceType (): Decision { return DECISIONS.authorizationDisabled }
  filterAuthorized<T> (_c: Caller, _o: AclOperation, _t: ResourceType, items: Iterable<T>, _nameOf: (item: T) => string): T[] { return [...items] }
  close (): void {}
}

export interface DenialEvent {
  readonly principal: string
  readonly host: string
  readonly clientId: string
  readonly protocol: string
  readonly operation: AclOperation
  readonly resourceType: ResourceType
  readonly resourceName: string
  readonly reason: DecisionReason
  /** Denials of the same principal + host + operation + resource not reported since the last event. */
  readonly suppressed: number
}

export interface AuthorizerStats {
  allowed: number
  denied: number
  cacheHits: number
  cacheMisses: number
  cacheEntries: number
  /** Denials per resource type. */
  readonly deniedByResourceType: Record<ResourceType, number>
}

export interface AclAuthorizerOptions {
  readonly dataDir: string
  /** Where the entries come from instead of `<dataDir>/security/acls.json` (cluster mode: ClusterAclStore). */
  readonly repository?: AclRepository
  /** Principals (`User:admin`) allowed everything. */
  readonly superUsers?: readonly string[]
  readonly allowEveryoneIfNoAclFound?: boolean
  readonly cacheMaxEntries?: number
  /** How often acls.json is checked for changes by another process (default 1000 ms; 0 = never). */
  readonly reloadIntervalMs?: number
  readonly denialLogIntervalMs?: number
  /** Distinct principal + host + operation + resource keys the denial limiter tracks (default 10,000). */
  readonly denialLogMaxKeys?: number
  readonly onDenied?: (event: DenialEvent) => void
  readonly logger?: Logger
  readonly now?: () => number
}

const OP_INDEX: Readonly<Record<string, number>> = Object.fromEntries(ACL_OPERATIONS.map((op, i) => [op, i]))
const TYPE_INDEX: Readonly<Record<string, number>> = Object.fromEntries(RESOURCE_TYPES.map((t, i) => [t, i]))
const TYPES = RESOURCE_TYPES.length

/** The cached decisions of one principal object from one host. */
interface Slot {
  readonly principal: string
  readonly host: string
  readonly maps: Array<Map<string, Decision> | undefined>
}

interface PrincipalSlots {
  readonly gen: number
  readonly hosts: Map<string, Slot>
}

interface TypeIndex {
  readonly literal: Map<string, AclEntry[]>
  readonly wildcard: AclEntry[]
  readonly prefixed: Map<string, AclEntry[]>
  /** Distinct lengths of the prefixed names, ascending. */
  readonly prefixLengths: number[]
  readonly all: AclEntry[]
}

function buildIndex (entries: readonly AclEntry[]): Record<ResourceType, TypeIndex> {
  const out = {} as Record<ResourceType, TypeIndex>
  for (const t of RESOURCE_TYPES) out[t] = { literal: new Map(), wildcard: [], prefixed: new Map(), prefixLengths: [], all: [] }
  const push = (m: Map<string, AclEntry[]>, k: string, e: AclEntry): void => { const l = m.get(k); if (l) l.push(e); else m.set(k, [e]) }
  for (const e of entries) {
    const ix = out[e.resourceType]
    ix.all.push(e)
    if (e.patternType === 'prefixed') push(ix.prefixed, e.resourceName, e)
    else if (e.resourceName === WILDCARD) ix.wildcard.push(e)
    else push(ix.literal, e.resourceName, e)
  }
  for (const t of RESOURCE_TYPES) {
    const ix = out[t]
    ix.prefixLengths.push(...[...new Set([...ix.prefixed.keys()].map(k => k.length))].sort((a, b) => a - b))
  }
  return out
}

/** `::ffff:10.0.0.1` is 10.0.0.1 for host matching. */
function normalizeHost (host: string): string {
  return host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host
}

export class AclAuthorizer implements Authorizer {
  readonly enabled = true
  readonly store: AclRepository
  readonly stats: AuthorizerStats = {
    allowed: 0, denied: 0, cacheHits: 0, cacheMisses: 0, cacheEntries: 0,
    deniedByResourceType: { topic: 0, group: 0, cluster: 0, transactional_id: 0 },
  }

  readonly #superUsers: ReadonlySet<string>
  readonly #allowEveryone: boolean
  readonly #cacheMax: number
  readonly #denials: DenialLimiter
  readonly #byPrincipal = new WeakMap<Principal, PrincipalSlots>()
  #gen = 0
  #storeVersion: number
  #index: Record<ResourceType, TypeIndex>
  #timer: NodeJS.Timeout | null = null

  static open (options: AclAuthorizerOptions): AclAuthorizer {
    return new AclAuthorizer(options)
  }

  private constructor (options: AclAuthorizerOptions) {
    this.store = options.repository ?? AclStore.open({ dataDir: options.dataDir, ...(options.logger === undefined ? {} : { logger: options.logger }) })
    for (const p of options.superUsers ?? []) if (!p.startsWith('User:')) throw new InvalidArgumentError(`super user must be User:<name>, got ${p}`)
    this.#superUsers = new Set(options.superUsers ?? [])
    this.#allowEveryone = options.allowEveryoneIfNoAclFound ?? false
    this.#cacheMax = options.cacheMaxEntries ?? 100_000
    this.#storeVersion = this.store.version
    this.#index = buildIndex(this.store.entries)
    this.store.onChange?.(() => this.#sync())
    const logger = options.logger
    this.#denials = new DenialLimiter(
      options.denialLogIntervalMs ?? 60_000,
      options.denialLogMaxKeys ?? 10_000,
      options.now ?? Date.now,
      options.onDenied ?? (e => logger?.warn(e, 'authorization denied')),
    )
    const every = options.reloadIntervalMs ?? 1000
    if (every > 0) {
      this.#timer = setInterval(() => this.refresh(), every)
      this.#timer.unref()
    }
  }

  authorize (caller: Caller, operation: AclOperation, resource: Resource): Decision {
    const d = this.#lookup(caller, operation, resource)
    if (d.allowed) {
      this.stats.allowed++
    } else {
      this.stats.denied++
      this.stats.deniedByResourceType[resource.type]++
      this.#denials.report(caller, operation, resource, d)
    }
    return d
  }

  peek (caller: Caller, operation: AclOperation, resource: Resource): Decision {
    return this.#lookup(caller, operation, resource)
  }

  filterAuthorized<T> (caller: Caller, operation: AclOperation, type: ResourceType, items: Iterable<T>, nameOf: (item: T) => string): T[] {
    const out: T[] = []
    for (const item of items) if (this.#lookup(caller, operation, { type, name: nameOf(item) }).allowed) out.push(item)
    return out
  }

  authorizeByResourceType (caller: Caller, operation: AclOperation, type: ResourceType): Decision {
    const scope = caller.principal.scope
    const principal = principalString(caller.principal)
    if (this.#superUsers.has(principal)) return DECISIONS.superUser
    const host = normalizeHost(caller.host)
    const ix = this.#index[type]
    if (ix.all.length === 0) return this.#allowEveryone ? DECISIONS.noAclAllow : DECISIONS.noAclDeny
    const mine = ix.all.filter(e => (e.principal === principal || e.principal === WILDCARD_PRINCIPAL) && (e.host === host || e.host === WILDCARD))
    const denies = mine.filter(e => e.permission === 'deny' && (e.operation === operation || e.operation === 'all'))
    const allowOps = IMPLIED_BY[operation]
    // A deny covers an allow pattern when it applies to every name the allow pattern does.
    const covered = (a: AclEntry): boolean => denies.some(d =>
      (d.patternType === 'literal' && d.resourceName === WILDCARD) ||
      (d.patternType === 'prefixed' && a.resourceName.startsWith(d.resourceName) && !(a.patternType === 'literal' && a.resourceName === WILDCARD)) ||
      (d.patternType === 'literal' && a.patternType === 'literal' && d.resourceName === a.resourceName))
    const inScope = (a: AclEntry): boolean => scope === undefined || type !== 'topic' || (a.patternType === 'prefixed'
      ? a.resourceName.startsWith(scope.topicPrefix) || scope.topicPrefix.startsWith(a.resourceName)
      : a.resourceName === WILDCARD || a.resourceName.startsWith(scope.topicPrefix))
    const ok = mine.some(a => a.permission === 'allow' && allowOps.includes(a.operation) && inScope(a) && !covered(a))
    return ok ? DECISIONS.aclAllow : denies.length > 0 ? DECISIONS.aclDeny : DECISIONS.noAllowAcl
  }

  // ---- ACL management (the admin API and CLI go through these) -------------------------

  /** Adds entries to acls.json (a single broker's store; the cluster's is asynchronous: createAcls). */
  addAcls (entries: ReadonlyArray<Partial<Record<keyof AclEntry, unknown>>>): AclEntry[] {
    const added = this.store.add(entries)
    if (added instanceof Promise) throw new InvalidArgumentError(`the ACLs live in ${this.store.location}: use createAcls`)
    this.#sync()
    return added
  }

  removeAcls (filters: readonly AclFilter[]): AclEntry[][] {
    const removed = this.store.remove(filters)
    if (removed instanceof Promise) throw new InvalidArgumentError(`the ACLs live in ${this.store.location}: use deleteAcls`)
    this.#sync()
    return removed
  }

  /** Adds entries, whichever store holds them; resolves with those that were new. */
  async createAcls (entries: ReadonlyArray<Partial<Record<keyof AclEntry, unknown>>>): Promise<AclEntry[]> {
    const added = await this.store.add(entries)
    this.#sync()
    return added
  }

  /** Removes every entry matching any filter, whichever store holds them; per filter, the entries it matched. */
  async deleteAcls (filters: readonly AclFilter[]): Promise<AclEntry[][]> {
    const removed = await this.store.remove(filters)
    this.#sync()
    return removed
  }

  listAcls (filter: AclFilter = {}): AclEntry[] {
    return this.store.list(filter)
  }

  /** Checks acls.json for a change by another process (also done every reloadIntervalMs). */
  refresh (): void {
    this.store.refresh()
    this.#sync()
  }

  close (): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  #sync (): void {
    if (this.store.version === this.#storeVersion) return
    this.#storeVersion = this.store.version
    this.#index = buildIndex(this.store.entries)
    this.#invalidate()
  }

  #invalidate (): void {
    this.#gen++
    this.stats.cacheEntries = 0
  }

  #lookup (caller: Caller, operation: AclOperation, resource: Resource): Decision {
    const scope = caller.principal.scope
    if (scope !== undefined && resource.type === 'topic' && !resource.name.startsWith(scope.topicPrefix)) return DECISIONS.tokenScope
    let slots = this.#byPrincipal.get(caller.principal)
    if (slots === undefined || slots.gen !== this.#gen) {
      slots = { gen: this.#gen, hosts: new Map() }
      this.#byPrincipal.set(caller.principal, slots)
    }
    let slot = slots.hosts.get(caller.host)
    if (slot === undefined) {
      slot = { principal: principalString(caller.principal), host: normalizeHost(caller.host), maps: [] }
      slots.hosts.set(caller.host, slot)
    }
    const op = OP_INDEX[operation]
    const type = TYPE_INDEX[resource.type]
    if (op === undefined || type === undefined) throw new InvalidArgumentError(`unknown operation ${operation} or resource type ${resource.type}`)
    const i = op * TYPES + type
    let m = slot.maps[i]
    if (m === undefined) m = slot.maps[i] = new Map()
    let d = m.get(resource.name)
    if (d !== undefined) {
      this.stats.cacheHits++
      return d
    }
    this.stats.cacheMisses++
    d = this.#decide(slot.principal, slot.host, operation, resource)
    if (this.stats.cacheEntries >= this.#cacheMax) {
      this.#invalidate()
      return d
    }
    m.set(resource.name, d)
    this.stats.cacheEntries++
    return d
  }

  #decide (principal: string, host: string, operation: AclOperation, resource: Resource): Decision {
    if (this.#superUsers.has(principal)) return DECISIONS.superUser
    const ix = this.#index[resource.type]
    const name = resource.name
    const matching: AclEntry[] = []
    const lit = ix.literal.get(name)
    if (lit !== undefined) matching.push(...lit)
    matching.push(...ix.wildcard)
    for (const len of ix.prefixLengths) {
      if (len > name.length) break
      const p = ix.prefixed.get(name.slice(0, len))
      if (p !== undefined) matching.push(...p)
    }
    if (matching.length === 0) return this.#allowEveryone ? DECISIONS.noAclAllow : DECISIONS.noAclDeny
    const applies = (e: AclEntry): boolean =>
      (e.principal === principal || e.principal === WILDCARD_PRINCIPAL) && (e.host === host || e.host === WILDCARD)
    for (const e of matching) {
      if (e.permission === 'deny' && (e.operation === operation || e.operation === 'all') && applies(e)) return DECISIONS.aclDeny
    }
    const allowOps = IMPLIED_BY[operation]
    for (const e of matching) {
      if (e.permission === 'allow' && allowOps.includes(e.operation) && applies(e)) return DECISIONS.aclAllow
    }
    return DECISIONS.noAllowAcl
  }
}

/** One report per key per interval, with the count of those suppressed in between; at most maxKeys keys. */
class DenialLimiter {
  readonly #seen = new Map<string, { lastMs: number, suppressed: number }>()

  constructor (
    private readonly intervalMs: number,
    private readonly maxKeys: number,
    private readonly now: () => number,
    private readonly emit: (event: DenialEvent) => void,
  ) {}

  report (caller: Caller, operation: AclOperation, resource: Resource, d: Decision): void {
    const principal = principalString(caller.principal)
    const key = `${principal}\u0000${caller.host}\u0000${operation}\u0000${resource.type}\u0000${resource.name}`
    const now = this.now()
    const s = this.#seen.get(key)
    if (s !== undefined && now - s.lastMs < this.intervalMs) { s.suppressed++; return }
    const suppressed = s?.suppressed ?? 0
    // Full: start over rather than evict one by one (deleting from the front of a Map leaves
    // tombstones that make the next eviction scan them). Costs at most one extra line per key.
    if (s === undefined && this.#seen.size >= this.maxKeys) this.#seen.clear()
    this.#seen.set(key, { lastMs: now, suppressed: 0 })
    this.emit({
      principal, host: caller.host, clientId: caller.clientId, protocol: caller.protocol, operation,
      resourceType: resource.type, resourceName: resource.name, reason: d.reason, suppressed,
    })
  }
}
