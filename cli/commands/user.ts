/**
 * `spool user add|passwd|delete|list`: the users every listener authenticates against
 * (SCRAM credentials in `<dataDir>/security/users.json`; the password itself is never stored).
 *
 *   spool user add <name> [--password-file F] [--iterations N] [--data-dir D]
 *   spool user passwd <name> [--password-file F] [--data-dir D]
 * (--password-file is the program's global option, see cli/context.ts.)
 *   spool user delete <name> [--data-dir D]
 *   spool user list [--format text|json] [--data-dir D]
 *
 * These edit the data directory's store directly (`--data-dir`, env SPOOL_DATA_DIR, default
 * ./data — the broker's own), with the file lock and atomic replace the broker uses too: it
 * works while the broker is down (the first user of a broker about to start with --auth),
 * needs no credentials of its own (whoever may write the broker's data directory is its
 * operator already), and a running broker sees the change at the next authentication.
 * With --etcd-endpoints (cluster-security.ts) they change a cluster's users in etcd instead.
 * The password comes from --password-file (first line), a prompt without echo on a
 * terminal (asked twice), or the first line of stdin — never a flag value.
 */

import { Command, Option } from 'commander'
import { CredentialStore, type UserStore } from '../../broker/security/credentials.js'
import { UserNotFoundError } from '../../protocol/errors.js'
import { choiceArg, fail, intArg, ok } from '../context.js'
import { table } from '../output.js'
import { newPassword } from '../secrets.js'
import { clusterOptions, type ClusterFlags } from './cluster-etcd.js'
import { withSecurityStore } from './cluster-security.js'

export function dataDirOption (): Option {
  return new Option('--data-dir <dir>', 'the broker\'s data directory').env('SPOOL_DATA_DIR').default('./data')
}

/** Runs a data-directory command: errors become one line and exit code 1. */
export function local<Args extends unknown[]> (run: (...args: Args) => Promise<void> | void): (...args: Args) => Promise<void> {
  return async (...args: Args) => {
    try {
      await run(...args)
      ok()
    } catch (err) {
      fail(err, '')
    }
  }
}

/**
 * `--password-file` is the program's option (it also gives --user's password to the client
 * commands), so it is read from there; here it is the password of the user being made.
 */
function passwordFileOf (command: Command): string | undefined {
  return (command.optsWithGlobals() as { passwordFile?: string }).passwordFile
}

/** Runs `fn` on the data directory's users, or the cluster's with --etcd-endpoints. */
function withStore<T> (o: { dataDir: string } & ClusterFlags, fn: (s: UserStore) => Promise<T> | T): Promise<T> {
  return withSecurityStore<UserStore, T>(o, c => c.users, () => CredentialStore.open({ dataDir: o.dataDir }), fn)
}

export function userCommand (): Command {
  const user = new Command('user').description('manage the users the broker authenticates (stored in the data directory)')
  clusterOptions(user.command('add <name>'))
    .description('create a user (password from --password-file, a prompt, or the first line of stdin)')
    .addOption(dataDirOption())
    .option('--iterations <n>', 'PBKDF2 iterations of its SCRAM credentials (4096-1000000)', intArg(4096))
    .action(local(async (name: string, o: { dataDir: string, iterations?: number } & ClusterFlags, command: Command) => {
      const password = await newPassword(passwordFileOf(command), `password for ${name}`)
      await withStore(o, async s => {
        await s.addUser(name, password, o.iterations === undefined ? {} : { iterations: o.iterations })
        process.stdout.write(`created user ${name} (SCRAM-SHA-256, SCRAM-SHA-512) in ${s.location}\n`)
      })
    }))
  clusterOptions(user.command('passwd <name>'))
    .description('change a user\'s password (connections already open stay)')
    .addOption(dataDirOption())
    .action(local(async (name: string, o: { dataDir: string } & ClusterFlags, command: Command) => {
      await withStore(o, async s => {
        if (!s.hasUser(name)) throw new UserNotFoundError(`user ${name} does not exist`)
        await s.changePassword(name, await newPassword(passwordFileOf(command), `new password for ${name}`))
        process.stdout.write(`changed the password of ${name}\n`)
      })
    }))
  clusterOptions(user.command('delete <name>'))
    .description('delete a user (its tokens stop working; open connections stay until they close)')
    .addOption(dataDirOption())
    .action(local(async (name: string, o: { dataDir: string } & ClusterFlags) => {
      await withStore(o, s => s.deleteUser(name))
      process.stdout.write(`deleted user ${name}\n`)
    }))
  clusterOptions(user.command('list'))
    .description('list the users')
    .addOption(dataDirOption())
    .addOption(new Option('--format <format>', 'text or json').argParser(choiceArg(['text', 'json'] as const)).default('text'))
    .action(local(async (o: { dataDir: string, format: 'text' | 'json' } & ClusterFlags) => {
      const users = await withStore(o, s => s.listUsers())
      if (o.format === 'json') {
        process.stdout.write(JSON.stringify(users.map(u => ({ user: u.name, mechanisms: u.mechanisms, createdAtMs: u.createdAtMs, updatedAtMs: u.updatedAtMs }))) + '\n')
        return
      }
      process.stdout.write(table(['USER', 'MECHANISMS', 'UPDATED'], users.map(u => [u.name, u.mechanisms.map(m => m.mechanism).join(','), new Date(u.updatedAtMs).toISOString()])))
    }))
  return user
}
