/**
 * `spool token create|rotate`: short-lived tokens for browsers (and anything else that
 * cannot do SCRAM), signed with the keys in `<dataDir>/security/token-keys.json` (edited
 * directly, like `spool user`; the broker re-reads the keys when it meets a new key id) —
 * or, with --etcd-endpoints, a cluster's keys in etcd (cluster-token-keys.ts: what every
 * broker of the cluster verifies with; the user must exist in the cluster).
 *
 *   spool token create --user U [--ttl 15m] [--topic-prefix P] [--data-dir D | --etcd-endpoints URLS ...]
 *   spool token rotate [--revoke-all] [--data-dir D | --etcd-endpoints URLS ...]
 *
 * `create` prints the token (and, on stderr, when it expires). A token scoped with
 * --topic-prefix reaches only topics whose names start with it, whatever the user's ACLs
 * grant. Lifetimes: 1 s to 24 h, written 90s, 15m, 2h. `rotate` starts a new signing key
 * (older tokens keep working until they expire); `--revoke-all` deletes every older key, so
 * every token issued so far stops working at once.
 */

import { Command } from 'commander'
import { ClusterTokenKeys, rawTokenKeyDocument } from '../../broker/security/cluster-token-keys.js'
import { ClusterUserStore, parseUserDocument } from '../../broker/security/cluster-users.js'
import { CredentialStore } from '../../broker/security/credentials.js'
import { TokenService } from '../../broker/security/tokens.js'
import { UserNotFoundError } from '../../protocol/errors.js'
import { UsageError } from '../exit-codes.js'
import { clusterOptions, openClusterEtcd, type ClusterFlags } from './cluster-etcd.js'
import { dataDirOption, local } from './user.js'

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `15m` → 900000. */
export function parseDuration (text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim())
  if (m === null) throw new UsageError(`--ttl takes a number and a unit (90s, 15m, 2h), got "${text}"`)
  return Number(m[1]) * UNITS[m[2]!]!
}

/** Runs `fn` with the data directory's keys and users, or the cluster's with --etcd-endpoints. */
async function withTokens<T> (o: { dataDir: string } & ClusterFlags, fn: (tokens: TokenService, hasUser: (name: string) => boolean) => Promise<T>): Promise<T> {
  const etcd = openClusterEtcd(o)
  if (etcd === null) {
    const users = CredentialStore.open({ dataDir: o.dataDir })
    return await fn(TokenService.open({ dataDir: o.dataDir }), name => users.hasUser(name))
  }
  try {
    const keys = new ClusterTokenKeys()
    keys.bind(await etcd.snapshot('token-keys', rawTokenKeyDocument))
    const users = new ClusterUserStore()
    users.bind(await etcd.snapshot('users', parseUserDocument))
    return await fn(TokenService.open({ keys }), name => users.hasUser(name))
  } finally {
    await etcd.close()
  }
}

export function tokenCommand (): Command {
  const token = new Command('token').description('issue tokens for browsers and rotate their signing keys (in the data directory)')
  clusterOptions(token.command('create'), 'token keys instead of a data directory\'s')
    .description('print a token for the user given by --user (the global option, env SPOOL_USER)')
    .option('--ttl <duration>', 'lifetime (90s, 15m, 2h; at most 24h)', '15m')
    .option('--topic-prefix <prefix>', 'reach only topics whose names start with this')
    .addOption(dataDirOption())
    .action(local(async (opts: { ttl: string, topicPrefix?: string, dataDir: string } & ClusterFlags, command: Command) => {
      // --user is the program's option (it authenticates the client commands), read from here.
      const o = { ...opts, user: (command.optsWithGlobals() as { user?: string }).user ?? '' }
      if (o.user === '') throw new UsageError('spool token create needs --user <name>')
      const ttlMs = parseDuration(o.ttl)
      const issued = await withTokens(o, async (tokens, hasUser) => {
        if (!hasUser(o.user)) throw new UserNotFoundError(`user ${o.user} does not exist (spool user add ${o.user})`)
        return await tokens.issue(o.user, { ttlMs, ...(o.topicPrefix === undefined ? {} : { topicPrefix: o.topicPrefix }) })
      })
      process.stdout.write(issued.token + '\n')
      process.stderr.write(`token for ${o.user}${o.topicPrefix === undefined ? '' : ` (topics ${o.topicPrefix}*)`}, expires ${new Date(issued.expiresAtMs).toISOString()}\n`)
    }))
  clusterOptions(token.command('rotate'), 'token keys instead of a data directory\'s')
    .description('start a new signing key (--revoke-all: every token issued so far stops working)')
    .option('--revoke-all', 'delete every older key')
    .addOption(dataDirOption())
    .action(local(async (o: { revokeAll?: boolean, dataDir: string } & ClusterFlags) => {
      const kid = await withTokens(o, tokens => tokens.rotate({ revoke: o.revokeAll === true }))
      process.stdout.write(`signing key ${kid}${o.revokeAll === true ? ' (every older key deleted: earlier tokens no longer work)' : ''}\n`)
    }))
  return token
}
