/**
 * `spool token create|rotate`: short-lived tokens for browsers (and anything else that
 * cannot do SCRAM), signed with the keys in `<dataDir>/security/token-keys.json` (edited
 * directly, like `spool user`; the broker re-reads the keys when it meets a new key id).
 *
 *   spool token create --user U [--ttl 15m] [--topic-prefix P] [--data-dir D]
 *   spool token rotate [--revoke-all] [--data-dir D]
 *
 * `create` prints the token (and, on stderr, when it expires). A token scoped with
 * --topic-prefix reaches only topics whose names start with it, whatever the user's ACLs
 * grant. Lifetimes: 1 s to 24 h, written 90s, 15m, 2h. `rotate` starts a new signing key
 * (older tokens keep working until they expire); `--revoke-all` deletes every older key, so
 * every token issued so far stops working at once.
 */

import { Command } from 'commander'
import { CredentialStore } from '../../broker/security/credentials.js'
import { TokenService } from '../../broker/security/tokens.js'
import { UserNotFoundError } from '../../protocol/errors.js'
import { UsageError } from '../exit-codes.js'
import { dataDirOption, local } from './user.js'

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `15m` → 900000. */
export function parseDuration (text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim())
  if (m === null) throw new UsageError(`--ttl takes a number and a unit (90s, 15m, 2h), got "${text}"`)
  return Number(m[1]) * UNITS[m[2]!]!
}

export function tokenCommand (): Command {
  const token = new Command('token').description('issue tokens for browsers and rotate their signing keys (in the data directory)')
  token.command('create')
    .description('print a token for the user given by --user (the global option, env SPOOL_USER)')
    .option('--ttl <duration>', 'lifetime (90s, 15m, 2h; at most 24h)', '15m')
    .option('--topic-prefix <prefix>', 'reach only topics whose names start with this')
    .addOption(dataDirOption())
    .action(local((opts: { ttl: string, topicPrefix?: string, dataDir: string }, command: Command) => {
      // --user is the program's option (it authenticates the client commands), read from here.
      const o = { ...opts, user: (command.optsWithGlobals() as { user?: string }).user ?? '' }
      if (o.user === '') throw new UsageError('spool token create needs --user <name>')
      const ttlMs = parseDuration(o.ttl)
      if (!CredentialStore.open({ dataDir: o.dataDir }).hasUser(o.user)) throw new UserNotFoundError(`user ${o.user} does not exist (spool user add ${o.user})`)
      const issued = TokenService.open({ dataDir: o.dataDir }).issue(o.user, { ttlMs, ...(o.topicPrefix === undefined ? {} : { topicPrefix: o.topicPrefix }) })
      process.stdout.write(issued.token + '\n')
      process.stderr.write(`token for ${o.user}${o.topicPrefix === undefined ? '' : ` (topics ${o.topicPrefix}*)`}, expires ${new Date(issued.expiresAtMs).toISOString()}\n`)
    }))
  token.command('rotate')
    .description('start a new signing key (--revoke-all: every token issued so far stops working)')
    .option('--revoke-all', 'delete every older key')
    .addOption(dataDirOption())
    .action(local((o: { revokeAll?: boolean, dataDir: string }) => {
      const kid = TokenService.open({ dataDir: o.dataDir }).rotate({ revoke: o.revokeAll === true })
      process.stdout.write(`signing key ${kid}${o.revokeAll === true ? ' (every older key deleted: earlier tokens no longer work)' : ''}\n`)
    }))
  return token
}
