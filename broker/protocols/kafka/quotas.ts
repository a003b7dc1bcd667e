/**
 * DescribeClientQuotas (v0-1) and AlterClientQuotas (v0-1): Kafka clients (the apis behind
 * kafka-configs --entity-type clients/users; @platformatic/kafka's
 * `admin.describeClientQuotas/alterClientQuotas`) reading and changing the same quotas as `spool quota` and the native apis (broker/quotas/), in force
 * from each connection's next request.
 *
 * Entities, Kafka's name first:
 *   user <name>        the principal User:<name> (Spool's `principal` quota)
 *   client-id <name>   the client id (`client-id`)
 *   client-id null     the default client-id quota (`default`: each client id without a quota
 *                      of its own gets it, separately)
 *   group <id>         Spool's consumer-group quota (no Kafka counterpart; Kafka clients show
 *                      the type as it is)
 * A Spool quota names one entity: a combined user + client-id entity, the default user
 * (`user` null) and `ip` are INVALID_REQUEST, naming what Spool supports.
 *
 * Keys: producer_byte_rate (produceBytesPerSec), consumer_byte_rate (fetchBytesPerSec) and
 * Spool's requests_per_sec (requestsPerSec: requests per second, where Kafka's
 * request_percentage is a share of request-handler time — which Spool does not measure, so
 * that key is refused with a message that says so). A value is a whole number of at least 1.
 *
 * As Kafka's broker answers: DescribeClientQuotas needs describe_configs on the cluster and
 * AlterClientQuotas alter_configs (CLUSTER_AUTHORIZATION_FAILED otherwise: the whole
 * description, or every entry); a filter's components have distinct entity types, EXACT
 * (0) needs a name and DEFAULT (1) none, ANY (2) matches both; `strict` asks for entities
 * with no other components. Each entry of an alteration gets its own error; the valid ones
 * are written together (quota-manager.ts).
 */

import { InvalidRequestError } from '../../../protocol/errors.js'
import type { RequestBody, ResponseInput } from '../../../protocol/kafka/registry.js'
import type { QuotaEntity, QuotaKey, QuotaLimits } from '../../quotas/quota-entities.js'
import type { QuotaChange, QuotaManager } from '../../quotas/quota-manager.js'
import { CLUSTER_RESOURCE } from '../../services/access.js'
import { kafkaError, type ItemOf, type KafkaContext, type KafkaRequestContext } from './context.js'
import type { KafkaDispatcher } from './dispatcher.js'

/** Kafka's quota keys and Spool's own, to the limit each one sets. */
const KEYS: ReadonlyMap<string, QuotaKey> = new Map([
  ['producer_byte_rate', 'produceBytesPerSec'],
  ['consumer_byte_rate', 'fetchBytesPerSec'],
  ['requests_per_sec', 'requestsPerSec'],
])
const KAFKA_KEY: ReadonlyMap<QuotaKey, string> = new Map([...KEYS].map(([kafka, spool]) => [spool, kafka]))

const REFUSED_KEYS: ReadonlyMap<string, string> = new Map([
  ['request_percentage', 'request_percentage (a share of request-handler time) is not measured by Spool: limit requests with requests_per_sec (requests per second)'],
  ['controller_mutation_rate', 'controller_mutation_rate is not a Spool quota: topic changes are not rate-limited'],
  ['connection_creation_rate', 'connection_creation_rate (an ip quota) is not a Spool quota'],
])

const SUPPORTED = 'Spool quotas name one entity: a user, a client id, the default client id (client-id with a null name) or a group'

const enum Match { EXACT = 0, DEFAULT = 1, ANY = 2 }

type WireEntity = ItemOf<ItemOf<RequestBody<'AlterClientQuotas'>['entries']>['entity']>
type Component = ItemOf<RequestBody<'DescribeClientQuotas'>['components']>

/** A Kafka entity (its components) as the one Spool entity it names, or InvalidRequestError. */
function entityOf (components: readonly WireEntity[]): { type: string, name: string | null } {
  if (components.length !== 1) throw new InvalidRequestError(components.length === 0 ? `a quota entity needs a component: ${SUPPORTED}` : `combined quota entities (${components.map(c => c.entityType).join(' + ')}) are not supported: ${SUPPORTED}`)
  const { entityType, entityName } = components[0]!
  switch (entityType) {
    case 'user':
      if (entityName === null) throw new InvalidRequestError(`the default user quota is not supported: ${SUPPORTED}`)
      return { type: 'principal', name: `User:${entityName}` }
    case 'client-id':
      return entityName === null ? { type: 'default', name: null } : { type: 'client-id', name: entityName }
    case 'group':
      return { type: 'group', name: entityName }
    default:
      throw new InvalidRequestError(`quota entity type ${JSON.stringify(entityType.slice(0, 32))} is not supported: ${SUPPORTED}`)
  }
}

/** A Spool entity as Kafka's one component. */
function wireOf (e: QuotaEntity): WireEntity {
  switch (e.type) {
    case 'principal': return { entityType: 'user', entityName: e.name!.startsWith('User:') ? e.name!.slice('User:'.length) : e.name }
    case 'default': return { entityType: 'client-id', entityName: null }
    default: return { entityType: e.type, entityName: e.name }
  }
}

function opsOf (ops: ItemOf<RequestBody<'AlterClientQuotas'>['entries']>['ops']): QuotaChange['ops'] {
  const seen = new Set<string>()
  return ops.map(op => {
    const refused = REFUSED_KEYS.get(op.key)
    if (refused !== undefined) throw new InvalidRequestError(refused)
    const key = KEYS.get(op.key)
    if (key === undefined) throw new InvalidRequestError(`quota key ${JSON.stringify(op.key.slice(0, 64))} is not one of ${[...KEYS.keys()].join(', ')}`)
    if (seen.has(key)) throw new InvalidRequestError(`quota key ${op.key} is given twice`)
    seen.add(key)
    if (op.remove) return { key, value: null }
    if (!Number.isSafeInteger(op.value) || op.value < 1) throw new InvalidRequestError(`${op.key} must be a whole number of at least 1, got ${op.value}`)
    return { key, value: op.value }
  })
}

/** Whether one Spool entity passes a Kafka filter. */
function matches (entity: WireEntity, components: readonly Component[], strict: boolean): boolean {
  if (components.length === 0) return !strict
  if (components.length > 1) return false // our entities have one component
  const c = components[0]!
  if (c.entityType !== entity.entityType) return false
  if (c.matchType === Match.EXACT) return entity.entityName === c.match
  if (c.matchType === Match.DEFAULT) return entity.entityName === null
  return true
}

function checkFilter (components: readonly Component[]): void {
  const types = new Set<string>()
  for (const c of components) {
    if (types.has(c.entityType)) throw new InvalidRequestError(`the filter names entity type ${c.entityType} twice`)
    types.add(c.entityType)
    if (c.matchType === Match.EXACT && c.match === null) throw new InvalidRequestError(`an exact match of ${c.entityType} needs a name`)
    if (c.matchType === Match.DEFAULT && c.match !== null) throw new InvalidRequestError(`a default match of ${c.entityType} takes no name`)
    if (c.matchType !== Match.EXACT && c.matchType !== Match.DEFAULT && c.matchType !== Match.ANY) throw new InvalidRequestError(`match type ${c.matchType} is not 0 (exact), 1 (default) or 2 (any)`)
  }
}

function valuesOf (limits: QuotaLimits): Array<{ key: string, value: number }> {
  const values: Array<{ key: string, value: number }> = []
  for (const [key, value] of Object.entries(limits) as Array<[QuotaKey, number | undefined]>) {
    if (value !== undefined) values.push({ key: KAFKA_KEY.get(key)!, value })
  }
  return values
}

function describeClientQuotas (ctx: KafkaContext, quotas: QuotaManager, req: RequestBody<'DescribeClientQuotas'>, rc: KafkaRequestContext): ResponseInput<'DescribeClientQuotas'> {
  try {
    checkFilter(req.components)
    const entries = quotas.list(rc.connection.caller)
      .map(e => ({ entity: wireOf(e.entity), values: valuesOf(e.limits) }))
      .filter(e => e.values.length > 0 && matches(e.entity, req.components, req.strict))
      .map(e => ({ entity: [e.entity], values: e.values }))
    return { errorCode: 0, errorMessage: null, entries }
  } catch (err) {
    return { ...kafkaError(ctx, err, 'describe client quotas'), entries: null }
  }
}

async function alterClientQuotas (ctx: KafkaContext, quotas: QuotaManager, req: RequestBody<'AlterClientQuotas'>, rc: KafkaRequestContext): Promise<ResponseInput<'AlterClientQuotas'>> {
  try {
    ctx.access.check(rc.connection.caller, 'alter_configs', 'cluster', CLUSTER_RESOURCE)
  } catch (err) {
    const refused = kafkaError(ctx, err, 'alter client quotas')
    return { entries: req.entries.map(entry => ({ ...refused, entity: entry.entity })) }
  }
  const results: Array<{ errorCode: number, errorMessage: string | null, entity: readonly WireEntity[] }> = []
  const changes: QuotaChange[] = []
  const changedAt: number[] = []
  for (const entry of req.entries) {
    try {
      changes.push({ entity: entityOf(entry.entity), ops: opsOf(entry.ops) })
      changedAt.push(results.length)
      results.push({ errorCode: 0, errorMessage: null, entity: entry.entity })
    } catch (err) {
      results.push({ ...kafkaError(ctx, err, 'alter client quotas'), entity: entry.entity })
    }
  }
  if (changes.length === 0) return { entries: results }
  const outcome = await quotas.alter(rc.connection.caller, changes, req.validateOnly)
  outcome.forEach((r, i) => {
    if (r.error !== null) Object.assign(results[changedAt[i]!]!, kafkaError(ctx, r.error, 'alter client quotas'))
  })
  return { entries: results }
}

export function registerKafkaQuotaHandlers (dispatcher: KafkaDispatcher, ctx: KafkaContext, quotas: QuotaManager): void {
  dispatcher.register('DescribeClientQuotas', (req, rc) => describeClientQuotas(ctx, quotas, req, rc))
  dispatcher.register('AlterClientQuotas', (req, rc) => alterClientQuotas(ctx, quotas, req, rc))
}
