/**
 * CreateAcls (v0-3), DescribeAcls (v0-3) and DeleteAcls (v0-3): Kafka's admin tools
 * (kafka-acls, kafkajs `admin.createAcls/describeAcls/deleteAcls`, kafka-python's
 * KafkaAdminClient) reading and changing the ACLs of the AclAuthorizer — the same entries
 * as `spool acl` and `<dataDir>/security/acls.json`, in force for every listener as soon as
 * they are written.
 *
 * As Kafka's broker answers:
 * - CreateAcls and DeleteAcls need alter on the cluster, DescribeAcls describe on the
 *   cluster; otherwise CLUSTER_AUTHORIZATION_FAILED (for each creation, for each filter, or
 *   for the whole description);
 * - without an authorizer (the broker runs without --auth) every call is SECURITY_DISABLED;
 * - each creation and each filter gets its own error: an enum code Kafka does not define
 *   here (resource type any/unknown/user/delegation token, pattern type any/match, operation
 *   or permission any), a principal that is not `User:...`, a host that is not `*` or an IP
 *   address, an operation that does not apply to the resource type, or a cluster named
 *   other than `kafka-cluster` is INVALID_REQUEST; the valid ones are written together.
 * The wire enums are Kafka's (security/acl.ts KAFKA_ACL_CODES). A filter's null name,
 * principal or host matches any; pattern type MATCH is every pattern that applies to the
 * named resource. DescribeAcls groups the entries by resource pattern, as Kafka does.
 * Each change is one log line naming who made it and the entries.
 */

import { InvalidRequestError } from '../../../protocol/errors.js'
import { KafkaErrorCode } from '../../../protocol/kafka/error-codes.js'
import type { RequestBody, ResponseInput } from '../../../protocol/kafka/registry.js'
import { KAFKA_ACL_CODES, type AclEntry, type AclFilter, type AclOperation, type AclPermission, type PatternType, type ResourceType } from '../../security/acl.js'
import { principalString } from '../../security/principal.js'
import { CLUSTER_RESOURCE } from '../../services/access.js'
import { kafkaError, type ItemOf, type KafkaContext, type KafkaRequestContext } from './context.js'
import type { KafkaDispatcher } from './dispatcher.js'

/** What the Kafka ACL apis need of the ACL authorizer. */
export interface AclAdmin {
  createAcls (entries: ReadonlyArray<Partial<Record<keyof AclEntry, unknown>>>): Promise<AclEntry[]>
  deleteAcls (filters: readonly AclFilter[]): Promise<AclEntry[][]>
  listAcls (filter?: AclFilter): AclEntry[]
}

const SECURITY_DISABLED = 'ACLs need an authorizer: start the broker with --auth'

type Codes = Readonly<Record<string, number>>

function byCode<T extends string> (codes: Codes): ReadonlyMap<number, T> {
  return new Map(Object.entries(codes).map(([name, code]) => [code, name as T]))
}

const RESOURCE_TYPES = byCode<ResourceType | 'any'>(KAFKA_ACL_CODES.resourceType)
const PATTERN_TYPES = byCode<PatternType | 'any' | 'match'>(KAFKA_ACL_CODES.patternType)
const OPERATIONS = byCode<AclOperation | 'any'>(KAFKA_ACL_CODES.operation)
const PERMISSIONS = byCode<AclPermission | 'any'>(KAFKA_ACL_CODES.permission)

function decode<T extends string> (map: ReadonlyMap<number, T>, code: number, what: string, allowAny: boolean): T {
  const v = map.get(code)
  if (v === undefined || (!allowAny && (v === 'any' || v === 'match'))) throw new InvalidRequestError(`${what} ${code} is not one Spool accepts here`)
  return v
}

type Creation = ItemOf<RequestBody<'CreateAcls'>['creations']>
type Filter = ItemOf<RequestBody<'DeleteAcls'>['filters']>

function entryOf (c: Creation): Partial<AclEntry> {
  return {
    resourceType: decode(RESOURCE_TYPES, c.resourceType, 'resource type', false) as ResourceType,
    resourceName: c.resourceName,
    patternType: decode(PATTERN_TYPES, c.resourcePatternType, 'pattern type', false) as PatternType,
    principal: c.principal,
    host: c.host,
    operation: decode(OPERATIONS, c.operation, 'operation', false) as AclOperation,
    permission: decode(PERMISSIONS, c.permissionType, 'permission type', false) as AclPermission,
  }
}

function filterOf (f: Filter): AclFilter {
  return {
    resourceType: decode(RESOURCE_TYPES, f.resourceTypeFilter, 'resource type', true),
    resourceName: f.resourceNameFilter,
    patternType: decode(PATTERN_TYPES, f.patternTypeFilter, 'pattern type', true),
    principal: f.principalFilter,
    host: f.hostFilter,
    operation: decode(OPERATIONS, f.operation, 'operation', true),
    permission: decode(PERMISSIONS, f.permissionType, 'permission type', true),
  }
}

/** An entry in Kafka's wire codes. */
function wireOf (e: AclEntry): { resourceType: number, resourceName: string, patternType: number, principal: string, host: string, operation: number, permissionType: number } {
  return {
    resourceType: KAFKA_ACL_CODES.resourceType[e.resourceType],
    resourceName: e.resourceName,
    patternType: KAFKA_ACL_CODES.patternType[e.patternType],
    principal: e.principal,
    host: e.host,
    operation: KAFKA_ACL_CODES.operation[e.operation],
    permissionType: KAFKA_ACL_CODES.permission[e.permission],
  }
}

/** The cluster-level check every ACL api starts with; the error answer, or null when allowed. */
function denied (ctx: KafkaContext, rc: KafkaRequestContext, acls: AclAdmin | null, operation: 'alter' | 'describe'): { errorCode: number, errorMessage: string } | null {
  if (acls === null) return { errorCode: KafkaErrorCode.SECURITY_DISABLED, errorMessage: SECURITY_DISABLED }
  try {
    ctx.access.check(rc.connection.caller, operation, 'cluster', CLUSTER_RESOURCE)
    return null
  } catch (err) {
    return kafkaError(ctx, err, 'acl authorization')
  }
}

async function createAcls (ctx: KafkaContext, acls: AclAdmin | null, req: RequestBody<'CreateAcls'>, rc: KafkaRequestContext): Promise<ResponseInput<'CreateAcls'>> {
  const refused = denied(ctx, rc, acls, 'alter')
  if (refused !== null) return { results: req.creations.map(() => refused) }
  const results: Array<{ errorCode: number, errorMessage: string | null }> = []
  const valid: Array<Partial<AclEntry>> = []
  const validAt: number[] = []
  for (const c of req.creations) {
    try {
      valid.push(entryOf(c))
      validAt.push(results.length)
      results.push({ errorCode: 0, errorMessage: null })
    } catch (err) {
      results.push(kafkaError(ctx, err, 'create acls'))
    }
  }
  // The store validates the whole batch at once; one bad entry is retried alone so the others still land.
  const add = (entries: Array<Partial<AclEntry>>): Promise<AclEntry[]> => acls!.createAcls(entries)
  let added: AclEntry[] = []
  try {
    added = await add(valid)
  } catch {
    for (const [i, entry] of valid.entries()) {
      try {
        added.push(...await add([entry]))
      } catch (err) {
        results[validAt[i]!] = kafkaError(ctx, err, 'create acls')
      }
    }
  }
  if (added.length > 0) ctx.logger.info({ principal: principalString(rc.connection.principal), protocol: 'kafka', acls: added }, 'acls created')
  return { results }
}

function describeAcls (ctx: KafkaContext, acls: AclAdmin | null, req: RequestBody<'DescribeAcls'>, rc: KafkaRequestContext): ResponseInput<'DescribeAcls'> {
  const refused = denied(ctx, rc, acls, 'describe')
  if (refused !== null) return { ...refused, resources: [] }
  let found: AclEntry[]
  try {
    found = acls!.listAcls(filterOf(req))
  } catch (err) {
    return { ...kafkaError(ctx, err, 'describe acls'), resources: [] }
  }
  const byPattern = new Map<string, { resourceType: number, resourceName: string, patternType: number, acls: Array<{ principal: string, host: string, operation: number, permissionType: number }> }>()
  for (const e of found) {
    const w = wireOf(e)
    const key = `${w.resourceType}\u0000${w.patternType}\u0000${w.resourceName}`
    let r = byPattern.get(key)
    if (r === undefined) byPattern.set(key, (r = { resourceType: w.resourceType, resourceName: w.resourceName, patternType: w.patternType, acls: [] }))
    r.acls.push({ principal: w.principal, host: w.host, operation: w.operation, permissionType: w.permissionType })
  }
  return { errorCode: 0, errorMessage: null, resources: [...byPattern.values()] }
}

async function deleteAcls (ctx: KafkaContext, acls: AclAdmin | null, req: RequestBody<'DeleteAcls'>, rc: KafkaRequestContext): Promise<ResponseInput<'DeleteAcls'>> {
  const refused = denied(ctx, rc, acls, 'alter')
  if (refused !== null) return { filterResults: req.filters.map(() => ({ ...refused, matchingAcls: [] })) }
  const results: Array<ItemOf<ResponseInput<'DeleteAcls'>['filterResults']>> = []
  const filters: AclFilter[] = []
  const filterAt: number[] = []
  for (const f of req.filters) {
    try {
      filters.push(filterOf(f))
      filterAt.push(results.length)
      results.push({ errorCode: 0, errorMessage: null, matchingAcls: [] })
    } catch (err) {
      results.push({ ...kafkaError(ctx, err, 'delete acls'), matchingAcls: [] })
    }
  }
  if (filters.length > 0) {
    let removed: AclEntry[][]
    try {
      removed = await acls!.deleteAcls(filters)
    } catch (err) {
      const failed = kafkaError(ctx, err, 'delete acls')
      for (const at of filterAt) results[at] = { ...failed, matchingAcls: [] }
      return { filterResults: results }
    }
    removed.forEach((entries, i) => {
      results[filterAt[i]!] = { errorCode: 0, errorMessage: null, matchingAcls: entries.map(e => ({ errorCode: 0, errorMessage: null, ...wireOf(e) })) }
    })
    const gone = [...new Set(removed.flat())]
    if (gone.length > 0) ctx.logger.info({ principal: principalString(rc.connection.principal), protocol: 'kafka', acls: gone }, 'acls deleted')
  }
  return { filterResults: results }
}

export function registerAclHandlers (dispatcher: KafkaDispatcher, ctx: KafkaContext, acls: AclAdmin | null): void {
  dispatcher.register('CreateAcls', (req, rc) => createAcls(ctx, acls, req, rc))
  dispatcher.register('DescribeAcls', (req, rc) => describeAcls(ctx, acls, req, rc))
  dispatcher.register('DeleteAcls', (req, rc) => deleteAcls(ctx, acls, req, rc))
}
