/**
 * The one authorization point every service call passes. A service asks the AccessPolicy
 * whether the caller may perform an operation on a resource before it changes or reveals
 * anything; the policy throws the named authorization error when not. With authentication
 * off the policy allows everything; with `--auth` the broker passes the ACL policy
 * (broker/security/access-policy.ts) through the same interface.
 *
 * The vocabulary is Kafka's, so ACLs read the same on every listener.
 */

import type { Caller } from '../security/principal.js'

export type Operation =
  | 'read' | 'write' | 'create' | 'delete' | 'describe' | 'alter'
  | 'describe_configs' | 'alter_configs' | 'idempotent_write' | 'cluster_action'

export type ResourceType = 'topic' | 'group' | 'cluster' | 'transactional_id'

export interface AccessPolicy {
  /** Throws the named authorization error when `caller` may not do `operation` on the resource. */
  check (caller: Caller, operation: Operation, type: ResourceType, name: string): void
  /** Whether `caller` may do it (list calls show only what the caller may describe). */
  allows (caller: Caller, operation: Operation, type: ResourceType, name: string): boolean
}

/** Authentication off: everyone may do everything. */
export const ALLOW_ALL: AccessPolicy = Object.freeze({
  check (): void {},
  allows (): boolean { return true },
})

/** The name of the one cluster resource: `kafka-cluster`, the name Kafka clients and ACLs use. */
export const CLUSTER_RESOURCE = 'kafka-cluster'
