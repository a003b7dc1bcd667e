/**
 * What every client-side command shares: the global `--broker` option (env SPOOL_BROKER,
 * default 127.0.0.1:7420; a host without a port means port 7420, client/address.ts), the
 * global TLS and authentication options, a Client tuned for a command line (few, short
 * retries, so an unreachable broker is reported within about a second), and the action
 * wrapper that turns errors into one stderr line and an exit code (exit-codes.ts).
 *
 * TLS: `--tls` (the system's CAs), `--ca <file>` (implies --tls), `--cert <file> --cert-key
 * <file>` (a client certificate, mTLS; not `--key`, which is `spool produce`'s record key). Authentication: `--user <name>` (env SPOOL_USER)
 * with the password from `--password-file <file>` or SPOOL_PASSWORD (never a flag value, so
 * it stays out of shell history and `ps`), `--sasl-mechanism` (SCRAM-SHA-256 by default).
 */

import { readFileSync } from 'node:fs'
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander'
import { Client, type ClientOptions, type TlsClientOptions } from '../client/index.js'
import { brokerAddress } from '../client/address.js'
import { EXIT_OK, UsageError, errorLine, exitCodeFor, isUnexpected } from './exit-codes.js'
import { clientPassword } from './secrets.js'

export const DEFAULT_BROKER = '127.0.0.1:7420'

export function brokerOption (): Option {
  return new Option('--broker <host[:port]>', 'broker address (port 7420 when none is given)').env('SPOOL_BROKER').default(DEFAULT_BROKER)
}

/** The global --broker value as seen from a (sub)command. */
export function brokerOf (command: Command): string {
  const broker = (command.optsWithGlobals() as { broker?: string }).broker
  return broker ?? process.env.SPOOL_BROKER ?? DEFAULT_BROKER
}

/** The global TLS and authentication options (see the file header). */
export function securityOptions (): Option[] {
  return [
    new Option('--tls', 'connect with TLS (the broker\'s --tls-port)'),
    new Option('--ca <file>', 'PEM CA the broker\'s certificate must chain to (implies --tls)').env('SPOOL_CA'),
    new Option('--cert <file>', 'PEM client certificate to present (mTLS; with --cert-key)').env('SPOOL_CERT'),
    new Option('--cert-key <file>', 'PEM key of --cert').env('SPOOL_CERT_KEY'),
    new Option('--user <name>', 'authenticate as this user (password from --password-file or SPOOL_PASSWORD)').env('SPOOL_USER'),
    new Option('--password-file <file>', 'file whose first line is the password of --user').env('SPOOL_PASSWORD_FILE'),
    new Option('--sasl-mechanism <mechanism>', 'SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN (PLAIN needs --tls)').choices(['SCRAM-SHA-256', 'SCRAM-SHA-512', 'PLAIN']).default('SCRAM-SHA-256'),
  ]
}

interface SecurityFlags {
  tls?: boolean
  ca?: string
  cert?: string
  certKey?: string
  user?: string
  passwordFile?: string
  saslMechanism?: 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | 'PLAIN'
}

function readPem (file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    throw new UsageError(`cannot read the ${what} file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}

/** The Client options the global TLS and authentication flags ask for. */
export async function securityOf (command: Command): Promise<Pick<ClientOptions, 'tls' | 'sasl'>> {
  const o = command.optsWithGlobals() as SecurityFlags
  const out: Pick<ClientOptions, 'tls' | 'sasl'> = {}
  if (o.tls === true || o.ca !== undefined || o.cert !== undefined) {
    if ((o.cert === undefined) !== (o.certKey === undefined)) throw new UsageError('--cert and --cert-key go together')
    const tls: TlsClientOptions = {}
    if (o.ca !== undefined) tls.ca = readPem(o.ca, 'CA')
    if (o.cert !== undefined) tls.cert = readPem(o.cert, 'certificate')
    if (o.certKey !== undefined) tls.key = readPem(o.certKey, 'key')
    out.tls = tls
  }
  if (o.user !== undefined) {
    out.sasl = { mechanism: o.saslMechanism ?? 'SCRAM-SHA-256', username: o.user, password: await clientPassword(o.passwordFile, o.user) }
  } else if (o.passwordFile !== undefined) {
    throw new UsageError('--password-file needs --user')
  }
  return out
}

/** A command gives up quickly when the broker is not there (exit code 2). */
export const CLI_RETRY = { retries: 2, initialRetryTimeMs: 100, maxRetryTimeMs: 1_000 }

export function createClient (broker: string, security: Pick<ClientOptions, 'tls' | 'sasl'> = {}, clientId = 'spool-cli'): Client {
  return new Client({
    brokers: [broker],
    clientId,
    connectTimeoutMs: 5_000,
    retry: CLI_RETRY,
    ...security,
  })
}

/**
 * Wraps a command's action: it gets a Client for the --broker address, which is closed
 * afterwards whatever happens; an error prints one line (a stack only for unexpected bugs)
 * and sets the exit code. Never calls process.exit: the process ends once nothing is left
 * open, after stdout has been flushed.
 */
export function withClient<Args extends unknown[]> (
  run: (client: Client, broker: string, ...args: Args) => Promise<void>,
  options: { clientId?: string } = {},
): (...args: Args) => Promise<void> {
  return async (...args: Args) => {
    const command = args[args.length - 1] as Command
    let broker = brokerOf(command)
    let client: Client
    try {
      broker = brokerAddress(broker)
      client = createClient(broker, await securityOf(command), options.clientId)
    } catch (err) {
      fail(err, broker)
      return
    }
    try {
      await run(client, broker, ...args)
    } catch (err) {
      fail(err, broker)
    } finally {
      await client.close()
    }
  }
}

export function fail (err: unknown, broker: string): void {
  process.stderr.write(errorLine(err, broker) + '\n')
  if (isUnexpected(err) && err instanceof Error && process.env.SPOOL_DEBUG !== undefined) process.stderr.write(`${err.stack}\n`)
  process.exitCode = exitCodeFor(err)
}

export function ok (): void {
  process.exitCode ??= EXIT_OK
}

/** Commander argument parser for an integer >= min. */
export function intArg (min: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value)
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new CommanderArgumentError(`expected an integer >= ${min}`)
    }
    return n
  }
}

/** Commander parser for one of a fixed set of values. */
export function choiceArg<const T extends string> (choices: readonly T[]): (value: string) => T {
  return (value: string) => {
    if (!(choices as readonly string[]).includes(value)) throw new CommanderArgumentError(`expected one of ${choices.join(', ')}`)
    return value as T
  }
}
