/**
 * The options that point `spool user`, `spool acl` and `spool quota` at a cluster's etcd
 * instead of a data directory or a broker (--etcd-endpoints, --cluster-key-prefix or
 * --cluster-id, and etcd's TLS and authentication: --etcd-ca-file, --etcd-cert-file,
 * --etcd-key-file, --etcd-username, --etcd-password, with the broker's flag names and
 * environment variables), and the etcd connection they describe. One parser for all three
 * commands, so they take the same flags with the same meaning.
 */

import { Option, type Command } from 'commander'
import type { Etcd3 } from 'etcd3'
import { DocumentSnapshot } from '../../broker/cluster/document-snapshot.js'
import { closeEtcdClient, createEtcdClient } from '../../broker/cluster/etcd.js'
import { ClusterKeys, type DocumentKind } from '../../broker/cluster/keys.js'
import { UsageError } from '../exit-codes.js'

export interface ClusterFlags {
  etcdEndpoints?: string
  clusterKeyPrefix?: string
  clusterId: string
  etcdCaFile?: string
  etcdCertFile?: string
  etcdKeyFile?: string
  etcdUsername?: string
  etcdPassword?: string
}

export const ETCD_TIMEOUT_MS = 5000

/** Adds the cluster options to a command; `what` ends the --etcd-endpoints help ("change the cluster's <what>"). */
export function clusterOptions (command: Command, what = 'users/ACLs instead of a data directory\'s'): Command {
  return command
    .addOption(new Option('--etcd-endpoints <urls>', `a cluster's etcd (comma-separated URLs): change the cluster's ${what}`).env('SPOOL_ETCD_ENDPOINTS'))
    .addOption(new Option('--cluster-key-prefix <prefix>', 'root of the cluster\'s keys in etcd (default /spool/<cluster-id>)').env('SPOOL_CLUSTER_KEY_PREFIX'))
    .addOption(new Option('--cluster-id <id>', 'the cluster\'s id (for the default key prefix)').env('SPOOL_CLUSTER_ID').default('spool'))
    .addOption(new Option('--etcd-ca-file <file>', 'PEM file of the CA that signed etcd\'s server certificate (etcd over TLS)').env('SPOOL_ETCD_CA_FILE'))
    .addOption(new Option('--etcd-cert-file <file>', 'PEM client certificate for etcd\'s client-cert-auth (with --etcd-key-file)').env('SPOOL_ETCD_CERT_FILE'))
    .addOption(new Option('--etcd-key-file <file>', 'PEM private key of --etcd-cert-file').env('SPOOL_ETCD_KEY_FILE'))
    .addOption(new Option('--etcd-username <user>', 'etcd user (with --etcd-password) when etcd has authentication on').env('SPOOL_ETCD_USERNAME'))
    .addOption(new Option('--etcd-password <password>', 'password of --etcd-username (the environment variable keeps it out of the process list)').env('SPOOL_ETCD_PASSWORD'))
}

/** True when the flags name a cluster's etcd. */
export function clustered (o: ClusterFlags): boolean {
  return o.etcdEndpoints !== undefined && o.etcdEndpoints !== ''
}

/** An open connection to a cluster's etcd and its key layout. */
export interface ClusterEtcd {
  readonly client: Etcd3
  readonly keys: ClusterKeys
  /** One range read of the cluster's documents of `kind`; `parse` checks each value (a value it rejects is left out). */
  snapshot<T> (kind: DocumentKind, parse: (value: unknown) => T): Promise<DocumentSnapshot<T>>
  close (): Promise<void>
}

/** Checks the flags (UsageError naming the one at fault) and connects (null without --etcd-endpoints). */
export function openClusterEtcd (o: ClusterFlags): ClusterEtcd | null {
  if (!clustered(o)) return null
  const endpoints = o.etcdEndpoints!.split(',').map(e => e.trim()).filter(e => e !== '')
  if (endpoints.length === 0) throw new UsageError('--etcd-endpoints names no URL')
  const prefix = o.clusterKeyPrefix ?? `/spool/${o.clusterId === 'auto' ? 'spool' : o.clusterId}`
  if (!prefix.startsWith('/') || prefix.endsWith('/')) throw new UsageError(`--cluster-key-prefix must start with / and not end with / (got ${JSON.stringify(prefix)})`)
  if ((o.etcdCertFile === undefined) !== (o.etcdKeyFile === undefined)) throw new UsageError('--etcd-cert-file and --etcd-key-file go together')
  if ((o.etcdUsername === undefined) !== (o.etcdPassword === undefined)) throw new UsageError('--etcd-username and --etcd-password go together')
  if (o.etcdCertFile !== undefined && o.etcdCaFile === undefined) throw new UsageError('--etcd-cert-file needs --etcd-ca-file (etcd over TLS)')
  const client = createEtcdClient({
    etcdEndpoints: endpoints,
    etcdTls: o.etcdCaFile === undefined ? null : { caFile: o.etcdCaFile, certFile: o.etcdCertFile ?? null, keyFile: o.etcdKeyFile ?? null },
    etcdUsername: o.etcdUsername ?? null,
    etcdPassword: o.etcdPassword ?? null,
    etcdOperationTimeoutMs: ETCD_TIMEOUT_MS,
  })
  const keys = new ClusterKeys(prefix)
  return {
    client,
    keys,
    snapshot: (kind, parse) => DocumentSnapshot.open(kind, client, keys, ETCD_TIMEOUT_MS, parse),
    close: () => closeEtcdClient(client),
  }
}

/** Runs `fn` with the cluster's etcd open, closing it afterwards whatever happens. */
export async function withClusterEtcd<T> (o: ClusterFlags, fn: (etcd: ClusterEtcd) => Promise<T>): Promise<T> {
  const etcd = openClusterEtcd(o)
  if (etcd === null) throw new UsageError('--etcd-endpoints is required here')
  try {
    return await fn(etcd)
  } finally {
    await etcd.close()
  }
}
