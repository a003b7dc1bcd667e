/**
 * `spool cluster import-security --data-dir D --etcd-endpoints URLS ...`: moving a single
 * broker's security state into the cluster it joins. In cluster mode a broker reads users,
 * ACLs, quotas and token keys from etcd (docs/cluster.md, "Security"), not from its data
 * directory; this copies the data directory's into the cluster's documents:
 *
 *   users        security/users.json       the stored SCRAM credentials as they are (the
 *                                          same passwords work; no password is needed)
 *   ACLs         security/acls.json        each entry
 *   quotas       quotas.json               each entity's limits
 *   token keys   security/token-keys.json  so tokens the broker issued keep verifying
 *
 * Nothing in the cluster is overwritten: each document is written only if its key is absent
 * (the same compare-and-swap as the brokers'), and one already there is kept and counted.
 * Running it twice imports nothing the second time. `--dry-run` reads both sides and says
 * what would be imported, writing nothing. The brokers see the imported documents through
 * their watches at once. The etcd flags (TLS, authentication) are cluster-etcd.ts's.
 */

import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import { ClusterQuotaStore, rawQuotaDocument } from '../../broker/quotas/cluster-quotas.js'
import { QuotaStore } from '../../broker/quotas/quota-store.js'
import { AclStore } from '../../broker/security/acl-store.js'
import { ClusterAclStore, parseAclDocument } from '../../broker/security/cluster-acls.js'
import { ClusterTokenKeys, rawTokenKeyDocument } from '../../broker/security/cluster-token-keys.js'
import { ClusterUserStore, parseUserDocument } from '../../broker/security/cluster-users.js'
import { CredentialStore } from '../../broker/security/credentials.js'
import { fileTokenKeys } from '../../broker/security/tokens.js'
import { UsageError } from '../exit-codes.js'
import { clusterOptions, openClusterEtcd, type ClusterEtcd, type ClusterFlags } from './cluster-etcd.js'
import { dataDirOption, local } from './user.js'

interface Counted { imported: number, kept: number }

type Options = { dataDir: string, dryRun?: boolean } & ClusterFlags

/** Copies what the data directory has of each kind; returns the counts by kind. */
async function importAll (o: Options, etcd: ClusterEtcd): Promise<Array<[string, string, Counted | null]>> {
  const dry = o.dryRun === true
  const has = (...parts: string[]): boolean => existsSync(join(o.dataDir, ...parts))
  const out: Array<[string, string, Counted | null]> = []

  if (has('security', 'users.json')) {
    const cluster = new ClusterUserStore()
    cluster.bind(await etcd.snapshot('users', parseUserDocument))
    const c: Counted = { imported: 0, kept: 0 }
    for (const [name, record] of CredentialStore.open({ dataDir: o.dataDir }).records()) {
      const absent = !cluster.hasUser(name)
      if (absent && (dry || await cluster.importUser(name, record))) c.imported++
      else c.kept++
    }
    out.push(['users', 'security/users.json', c])
  } else out.push(['users', 'security/users.json', null])

  if (has('security', 'acls.json')) {
    const cluster = new ClusterAclStore()
    cluster.bind(await etcd.snapshot('acls', parseAclDocument))
    const entries = AclStore.open({ dataDir: o.dataDir }).list()
    const present = new Set(cluster.list().map(e => JSON.stringify(e)))
    const fresh = entries.filter(e => !present.has(JSON.stringify(e)))
    const added = dry ? fresh.length : (await cluster.add(fresh)).length
    out.push(['ACLs', 'security/acls.json', { imported: added, kept: entries.length - added }])
  } else out.push(['ACLs', 'security/acls.json', null])

  if (QuotaStore.exists(o.dataDir)) {
    const cluster = new ClusterQuotaStore()
    cluster.bind(await etcd.snapshot('quotas', rawQuotaDocument))
    const c: Counted = { imported: 0, kept: 0 }
    for (const entry of QuotaStore.open(o.dataDir).list()) {
      if (cluster.get(entry.entity) !== undefined) { c.kept++; continue }
      const [error] = dry ? [null] : await cluster.replace([{ entity: entry.entity, limits: entry.limits }])
      if (error !== null && error !== undefined) throw error
      c.imported++
    }
    out.push(['quotas', 'quotas.json', c])
  } else out.push(['quotas', 'quotas.json', null])

  if (has('security', 'token-keys.json')) {
    const cluster = new ClusterTokenKeys()
    cluster.bind(await etcd.snapshot('token-keys', rawTokenKeyDocument))
    const local = fileTokenKeys(o.dataDir).keys()
    const present = new Set(cluster.keys().map(k => k.kid))
    const fresh = local.filter(k => !present.has(k.kid))
    if (!dry && fresh.length > 0) await cluster.update(keys => ({ value: [...keys, ...fresh], result: '' }))
    out.push(['token keys', 'security/token-keys.json', { imported: fresh.length, kept: local.length - fresh.length }])
  } else out.push(['token keys', 'security/token-keys.json', null])
  return out
}

export function addImportSecurity (cluster: Command): void {
  clusterOptions(cluster.command('import-security'), 'documents (the target of the import)')
    .description('copy a data directory\'s users, ACLs, quotas and token keys into a cluster\'s etcd (nothing there is overwritten)')
    .addOption(dataDirOption())
    .option('--dry-run', 'say what would be imported, write nothing')
    .action(local(async (o: Options) => {
      if (!existsSync(o.dataDir)) throw new UsageError(`--data-dir ${o.dataDir} does not exist`)
      const etcd = openClusterEtcd(o)
      if (etcd === null) throw new UsageError('spool cluster import-security needs --etcd-endpoints (the cluster to import into)')
      try {
        const counts = await importAll(o, etcd)
        const verb = o.dryRun === true ? 'would import' : 'imported'
        process.stdout.write(`${o.dryRun === true ? 'dry run: ' : ''}${o.dataDir} → ${etcd.keys.prefix}\n`)
        for (const [what, file, c] of counts) {
          process.stdout.write(c === null
            ? `  ${what.padEnd(11)} none (no ${file})\n`
            : `  ${what.padEnd(11)} ${verb} ${c.imported}, ${c.kept} already in the cluster (kept)\n`)
        }
      } finally {
        await etcd.close()
      }
    }))
}
