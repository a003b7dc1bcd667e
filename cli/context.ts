/**
 * What every client-side command shares: the global `--broker` option (env SPOOL_BROKER,
 * default 127.0.0.1:7420; a host without a port means port 7420, client/address.ts), a Client tuned for a command line (few, short retries, so an
 * unreachable broker is reported within about a second), and the action wrapper that turns
 * errors into one stderr line and an exit code (exit-codes.ts).
 */

import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander'
import { Client } from '../client/index.js'
import { brokerAddress } from '../client/address.js'
import { EXIT_OK, errorLine, exitCodeFor, isUnexpected } from './exit-codes.js'

export const DEFAULT_BROKER = '127.0.0.1:7420'

export function brokerOption (): Option {
  return new Option('--broker <host[:port]>', 'broker address (port 7420 when none is given)').env('SPOOL_BROKER').default(DEFAULT_BROKER)
}

/** The global --broker value as seen from a (sub)command. */
export function brokerOf (command: Command): string {
  const broker = (command.optsWithGlobals() as { broker?: string }).broker
  return broker ?? process.env.SPOOL_BROKER ?? DEFAULT_BROKER
}

/** A command gives up quickly when the broker is not there (exit code 2). */
export const CLI_RETRY = { retries: 2, initialRetryTimeMs: 100, maxRetryTimeMs: 1_000 }

export function createClient (broker: string, clientId = 'spool-cli'): Client {
  return new Client({
    brokers: [broker],
    clientId,
    connectTimeoutMs: 5_000,
    retry: CLI_RETRY,
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
      client = createClient(broker, options.clientId)
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
