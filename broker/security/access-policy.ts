/**
 * The ACL authorizer as the services' AccessPolicy (services/access.ts): every service call
 * of every protocol asks here when `--auth` is on.
 *
 * Kafka's rules on top of plain ACL decisions:
 * - the broker itself (the `internal` caller: the group coordinator's offsets, MQTT's
 *   internal topics) is always allowed;
 * - creating a topic is allowed by `create` on the topic or on the cluster;
 * - an idempotent producer id (InitProducerId) is allowed by `idempotent_write` on the
 *   cluster or by `write` on at least one topic (Kafka's authorizeByResourceType);
 * - a denied `check` throws the resource's named error (TOPIC_AUTHORIZATION_FAILED,
 *   GROUP_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED), counted and logged by the
 *   authorizer (rate-limited); `allows` answers list filtering silently.
 * Decisions come from the authorizer's cache (per connection principal), so a check on the
 * produce path costs a few map lookups.
 */

import type { AccessPolicy, Operation, ResourceType } from '../services/access.js'
import { CLUSTER_RESOURCE } from '../services/access.js'
import type { Resource } from './acl.js'
import { authorizationError, type Authorizer } from './authorizer.js'
import type { Caller } from './principal.js'

const CLUSTER: Resource = Object.freeze({ type: 'cluster', name: CLUSTER_RESOURCE })

export class AclAccessPolicy implements AccessPolicy {
  readonly authorizer: Authorizer

  constructor (authorizer: Authorizer) {
    this.authorizer = authorizer
  }

  check (caller: Caller, operation: Operation, type: ResourceType, name: string): void {
    if (!this.#decide(caller, operation, { type, name }, true)) throw authorizationError({ type, name }, operation)
  }

  allows (caller: Caller, operation: Operation, type: ResourceType, name: string): boolean {
    return this.#decide(caller, operation, { type, name }, false)
  }

  #decide (caller: Caller, operation: Operation, resource: Resource, report: boolean): boolean {
    if (caller.protocol === 'internal') return true
    const a = this.authorizer
    const alternative = alternativeOf(operation, resource)
    if (alternative === null) return (report ? a.authorize(caller, operation, resource) : a.peek(caller, operation, resource)).allowed
    // Two ways to be allowed: a denial the other way lifts is neither counted nor logged.
    if (a.peek(caller, operation, resource).allowed) {
      if (report) a.authorize(caller, operation, resource)
      return true
    }
    if (alternative(a, caller)) return true
    if (report) a.authorize(caller, operation, resource)
    return false
  }
}

type Alternative = (a: Authorizer, caller: Caller) => boolean

const CREATE_ON_CLUSTER: Alternative = (a, caller) => a.peek(caller, 'create', CLUSTER).allowed
const WRITE_ON_SOME_TOPIC: Alternative = (a, caller) => a.authorizeByResourceType(caller, 'write', 'topic').allowed

function alternativeOf (operation: Operation, resource: Resource): Alternative | null {
  if (operation === 'create' && resource.type === 'topic') return CREATE_ON_CLUSTER
  if (operation === 'idempotent_write' && resource.type === 'cluster') return WRITE_ON_SOME_TOPIC
  return null
}
