/**
 * ACL entries and filters, with Kafka's meaning (Kafka's AclAuthorizer and kafka-acls):
 *
 * - An entry: principal (`User:alice`, `User:*` for everyone, `User:CN=alice,OU=eng` for a
 *   client certificate), host (`*` or an IP address), resource type (topic, group,
 *   cluster, transactional_id), pattern type + name (literal name, literal `*` for every
 *   resource of the type, or prefixed: every name starting with it), operation, and
 *   permission allow or deny.
 * - The cluster resource is named `kafka-cluster` (what Kafka clients send).
 * - Operations a resource type accepts are Kafka's (read on the cluster is refused).
 * - Filters are Kafka's DescribeAcls/DeleteAcls filters: every field may be "any", and
 *   the pattern type may be `match`: every pattern that applies to the named resource
 *   (the literal name, literal `*`, and prefixes of the name).
 * The numeric codes Kafka uses on the wire for these enums are at the end, for the Kafka
 * listener's CreateAcls/DescribeAcls/DeleteAcls.
 */

import { isIP } from 'node:net'
import { InvalidArgumentError } from '../../protocol/errors.js'

export type ResourceType = 'topic' | 'group' | 'cluster' | 'transactional_id'
export type PatternType = 'literal' | 'prefixed'
export type AclOperation =
  | 'all' | 'read' | 'write' | 'create' | 'delete' | 'alter' | 'describe' | 'cluster_action'
  | 'describe_configs' | 'alter_configs' | 'idempotent_write'
export type AclPermission = 'allow' | 'deny'

export const RESOURCE_TYPES: readonly ResourceType[] = ['topic', 'group', 'cluster', 'transactional_id']
export const ACL_OPERATIONS: readonly AclOperation[] = [
  'all', 'read', 'write', 'create', 'delete', 'alter', 'describe', 'cluster_action', 'describe_configs', 'alter_configs', 'idempotent_write',
]

export const CLUSTER_NAME = 'kafka-cluster'
export const WILDCARD = '*'
export const WILDCARD_PRINCIPAL = 'User:*'

export interface Resource {
  readonly type: ResourceType
  readonly name: string
}

export const CLUSTER_RESOURCE: Resource = Object.freeze({ type: 'cluster', name: CLUSTER_NAME })

export interface AclEntry {
  readonly principal: string
  readonly host: string
  readonly resourceType: ResourceType
  readonly patternType: PatternType
  readonly resourceName: string
  readonly operation: AclOperation
  readonly permission: AclPermission
}

/** A DescribeAcls/DeleteAcls filter: a missing or null field, or `any`, matches everything. */
export interface AclFilter {
  readonly principal?: string | null
  readonly host?: string | null
  readonly resourceType?: ResourceType | 'any'
  readonly patternType?: PatternType | 'any' | 'match'
  readonly resourceName?: string | null
  readonly operation?: AclOperation | 'any'
  readonly permission?: AclPermission | 'any'
}

/** Operations that make sense per resource type (Kafka's list); `all` is accepted for each. */
export const OPERATIONS_BY_RESOURCE: Readonly<Record<ResourceType, readonly AclOperation[]>> = {
  topic: ['read', 'write', 'create', 'describe', 'delete', 'alter', 'describe_configs', 'alter_configs'],
  group: ['read', 'describe', 'delete'],
  cluster: ['create', 'cluster_action', 'describe_configs', 'alter_configs', 'idempotent_write', 'alter', 'describe'],
  transactional_id: ['describe', 'write'],
}

/**
 * What an allow entry for an operation grants besides itself: read, write, delete and
 * alter grant describe; alter_configs grants describe_configs; `all` grants everything.
 * Deny entries deny only their own operation (and `all` denies everything).
 */
export const IMPLIED_BY: Readonly<Record<AclOperation, readonly AclOperation[]>> = {
  all: ['all'],
  read: ['read', 'all'],
  write: ['write', 'all'],
  create: ['create', 'all'],
  delete: ['delete', 'all'],
  alter: ['alter', 'all'],
  describe: ['describe', 'read', 'write', 'delete', 'alter', 'all'],
  cluster_action: ['cluster_action', 'all'],
  describe_configs: ['describe_configs', 'alter_configs', 'all'],
  alter_configs: ['alter_configs', 'all'],
  idempotent_write: ['idempotent_write', 'all'],
}

function oneOf<T extends string> (v: unknown, allowed: readonly T[], what: string): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw new InvalidArgumentError(`${what} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`)
  return v as T
}

export function validatePrincipal (principal: unknown): string {
  if (typeof principal !== 'string' || !/^User:./s.test(principal)) throw new InvalidArgumentError(`principal must be User:<name> (or User:* for everyone), got ${JSON.stringify(principal)}`)
  return principal
}

export function validateHost (host: unknown): string {
  if (host === WILDCARD) return host
  if (typeof host !== 'string' || isIP(host) === 0) throw new InvalidArgumentError(`host must be * or an IP address, got ${JSON.stringify(host)}`)
  return host
}

/** Checks an entry (as the CLI, the admin API or the file gives it) and returns a frozen copy. */
export function validateAclEntry (e: Partial<Record<keyof AclEntry, unknown>>): AclEntry {
  const resourceType = oneOf(e.resourceType, RESOURCE_TYPES, 'resourceType')
  const patternType = oneOf(e.patternType ?? 'literal', ['literal', 'prefixed'], 'patternType')
  const operation = oneOf(e.operation, ACL_OPERATIONS, 'operation')
  const permission = oneOf(e.permission ?? 'allow', ['allow', 'deny'], 'permission')
  const resourceName = e.resourceName
  if (typeof resourceName !== 'string' || resourceName.length === 0) throw new InvalidArgumentError('resourceName must be a non-empty string')
  if (resourceType === 'cluster' && (resourceName !== CLUSTER_NAME || patternType !== 'literal')) {
    throw new InvalidArgumentError(`the cluster resource is the literal name ${CLUSTER_NAME}`)
  }
  if (operation !== 'all' && !OPERATIONS_BY_RESOURCE[resourceType].includes(operation)) {
    throw new InvalidArgumentError(`operation ${operation} does not apply to a ${resourceType} (use ${OPERATIONS_BY_RESOURCE[resourceType].join(', ')} or all)`)
  }
  return Object.freeze({
    principal: validatePrincipal(e.principal),
    host: validateHost(e.host ?? WILDCARD),
    resourceType, patternType, resourceName, operation, permission,
  })
}

export function aclKey (e: AclEntry): string {
  return [e.principal, e.host, e.resourceType, e.patternType, e.resourceName, e.operation, e.permission].join('\u0000')
}

/** True when `e`'s pattern applies to a resource named `name` of its type. */
export function patternMatches (e: AclEntry, name: string): boolean {
  return e.patternType === 'literal' ? e.resourceName === name || e.resourceName === WILDCARD : name.startsWith(e.resourceName)
}

export function filterMatches (f: AclFilter, e: AclEntry): boolean {
  if (f.principal != null && f.principal !== e.principal) return false
  if (f.host != null && f.host !== e.host) return false
  if (f.resourceType !== undefined && f.resourceType !== 'any' && f.resourceType !== e.resourceType) return false
  if (f.operation !== undefined && f.operation !== 'any' && f.operation !== e.operation) return false
  if (f.permission !== undefined && f.permission !== 'any' && f.permission !== e.permission) return false
  const pt = f.patternType ?? 'any'
  const name = f.resourceName ?? null
  if (pt === 'match') return name === null || patternMatches(e, name)
  if (pt !== 'any' && pt !== e.patternType) return false
  return name === null || name === e.resourceName
}

/** Checks a filter's enumerated fields (names are free-form). */
export function validateAclFilter (f: AclFilter): AclFilter {
  if (f.resourceType !== undefined) oneOf(f.resourceType, [...RESOURCE_TYPES, 'any'], 'resourceType')
  if (f.patternType !== undefined) oneOf(f.patternType, ['literal', 'prefixed', 'any', 'match'], 'patternType')
  if (f.operation !== undefined) oneOf(f.operation, [...ACL_OPERATIONS, 'any'], 'operation')
  if (f.permission !== undefined) oneOf(f.permission, ['allow', 'deny', 'any'], 'permission')
  return f
}

/** Kafka's wire codes (int8) for the ACL enums: ResourceType, PatternType, AclOperation, AclPermissionType. */
export const KAFKA_ACL_CODES = {
  resourceType: { any: 1, topic: 2, group: 3, cluster: 4, transactional_id: 5 },
  patternType: { any: 1, match: 2, literal: 3, prefixed: 4 },
  operation: {
    any: 1, all: 2, read: 3, write: 4, create: 5, delete: 6, alter: 7, describe: 8, cluster_action: 9,
    describe_configs: 10, alter_configs: 11, idempotent_write: 12,
  },
  permission: { any: 1, deny: 2, allow: 3 },
} as const
