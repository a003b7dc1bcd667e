/**
 * `spool user ... --etcd-endpoints URLS` and `spool acl ... --etcd-endpoints URLS`: the users
 * and ACLs of a cluster, which live in etcd (docs/cluster.md, "Security"), not in a data
 * directory. The command reads the cluster's documents once, writes with the same
 * compare-and-swap transactions as the brokers (a user created only if absent, changed or
 * deleted at the revision read; an ACL entry put only if absent), and every broker sees the
 * change through its watch. etcd over TLS or with authentication is not offered here yet.
 */

import { Option, type Command } from 'commander'
import { DocumentSnapshot } from '../../broker/cluster/document-snapshot.js'
import { closeEtcdClient, createEtcdClient } from '../../broker/cluster/etcd.js'
import { ClusterKeys } from '../../broker/cluster/keys.js'
import { ClusterAclStore, parseAclDocument } from '../../broker/security/cluster-acls.js'
import { ClusterUserStore, parseUserDocument } from '../../broker/security/cluster-users.js'
import { InvalidArgumentError } from '../../protocol/errors.js'

export interface ClusterFlags {
  etcdEndpoints?: string
  clusterKeyPrefix?: string
  clusterId: string
}

const TIMEOUT_MS = 5000

/** The options that point a user or acl command at a cluster's etcd. */
export function clusterOptions (command: Command): Command {
  return command
    .addOption(new Option('--etcd-endpoints <urls>', 'a cluster\'s etcd (comma-separated URLs): change the cluster\'s users/ACLs instead of a data directory\'s').env('SPOOL_ETCD_ENDPOINTS'))
    .addOption(new Option('--cluster-key-prefix <prefix>', 'root of the cluster\'s keys in etcd (default /spool/<cluster-id>)').env('SPOOL_CLUSTER_KEY_PREFIX'))
    .addOption(new Option('--cluster-id <id>', 'the cluster\'s id (for the default key prefix)').env('SPOOL_CLUSTER_ID').default('spool'))
}

export interface ClusterSecurity {
  users: ClusterUserStore
  acls: ClusterAclStore
  close (): Promise<void>
}

/** Opens the cluster's user and ACL documents (null without --etcd-endpoints). */
export async function openClusterSecurity (o: ClusterFlags): Promise<ClusterSecurity | null> {
  if (o.etcdEndpoints === undefined || o.etcdEndpoints === '') return null
  const endpoints = o.etcdEndpoints.split(',').map(e => e.trim()).filter(e => e !== '')
  const prefix = o.clusterKeyPrefix ?? `/spool/${o.clusterId === 'auto' ? 'spool' : o.clusterId}`
  if (!prefix.startsWith('/') || prefix.endsWith('/')) throw new InvalidArgumentError(`--cluster-key-prefix must start with / and not end with / (got ${JSON.stringify(prefix)})`)
  const client = createEtcdClient({ etcdEndpoints: endpoints, etcdTls: null, etcdUsername: null, etcdPassword: null, etcdOperationTimeoutMs: TIMEOUT_MS })
  try {
    const keys = new ClusterKeys(prefix)
    const users = new ClusterUserStore()
    users.bind(await DocumentSnapshot.open('users', client, keys, TIMEOUT_MS, parseUserDocument))
    const acls = new ClusterAclStore()
    acls.bind(await DocumentSnapshot.open('acls', client, keys, TIMEOUT_MS, parseAclDocument))
    return { users, acls, close: () => closeEtcdClient(client) }
  } catch (err) {
    await closeEtcdClient(client)
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
