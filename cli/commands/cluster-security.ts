/**
 * `spool user ... --etcd-endpoints URLS` and `spool acl ... --etcd-endpoints URLS`: the users
 * and ACLs of a cluster, which live in etcd (docs/cluster.md, "Security"), not in a data
 * directory. The command reads the cluster's documents once, writes with the same
 * compare-and-swap transactions as the brokers (a user created only if absent, changed or
 * deleted at the revision read; an ACL entry put only if absent), and every broker sees the
 * change through its watch. The etcd flags (TLS, authentication) are cluster-etcd.ts's.
 */

import { ClusterAclStore, parseAclDocument } from '../../broker/security/cluster-acls.js'
import { ClusterUserStore, parseUserDocument } from '../../broker/security/cluster-users.js'
import { openClusterEtcd, type ClusterFlags } from './cluster-etcd.js'

export interface ClusterSecurity {
  users: ClusterUserStore
  acls: ClusterAclStore
  close (): Promise<void>
}

/** Opens the cluster's user and ACL documents (null without --etcd-endpoints). */
export async function openClusterSecurity (o: ClusterFlags): Promise<ClusterSecurity | null> {
  const etcd = openClusterEtcd(o)
  if (etcd === null) return null
  try {
    const users = new ClusterUserStore()
    users.bind(await etcd.snapshot('users', parseUserDocument))
    const acls = new ClusterAclStore()
    acls.bind(await etcd.snapshot('acls', parseAclDocument))
    return { users, acls, close: () => etcd.close() }
  } catch (err) {
    await etcd.close()
    throw err
  }
}

/**
 * Runs `fn` on the cluster's store (`pick`) with --etcd-endpoints, else on the data
 * directory's (`local`); the etcd connection is closed afterwards either way.
 */
export async function withSecurityStore<S, T> (o: ClusterFlags, pick: (c: ClusterSecurity) => S, local: () => S, fn: (s: S) => Promise<T> | T): Promise<T> {
  const cluster = await openClusterSecurity(o)
  try {
    return await fn(cluster === null ? local() : pick(cluster))
  } finally {
    await cluster?.close()
  }
}
