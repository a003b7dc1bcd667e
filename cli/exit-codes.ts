/**
 * Exit codes of the `spool` CLI (docs/architecture.md §7) and the one line printed for an
 * expected error. Expected errors (the broker's typed errors, bad arguments) print one line
 * `error: ...` and never a stack trace; only an unexpected bug prints its stack.
 *
 *   0  ok
 *   1  usage error, not found (unknown topic), or any other error the broker reported
 *   2  the broker cannot be reached (or the connection was lost and could not be re-made)
 *   3  `spool broker start` stopped, but its shutdown was not clean: something could not be
 *      written (e.g. on a full disk; the log line 'shutdown incomplete' and stderr say what),
 *      or a second signal cut the shutdown short. Acknowledged data is not at risk: the next
 *      start rebuilds what is missing, and recovers the logs when there is no clean-shutdown
 *      marker.
 */

import {
  BrokerUnreachableError, ConnectionError, InvalidArgumentError, RequestTimedOutError, SpoolError,
} from '../protocol/errors.js'

export const EXIT_OK = 0
export const EXIT_USAGE = 1
export const EXIT_NOT_FOUND = 1
export const EXIT_ERROR = 1
export const EXIT_UNREACHABLE = 2
export const EXIT_UNCLEAN_SHUTDOWN = 3

/** A usage error raised by a command after parsing (bad value combinations). */
export class UsageError extends InvalidArgumentError {}

export function exitCodeFor (err: unknown): number {
  if (err instanceof BrokerUnreachableError || err instanceof ConnectionError || err instanceof RequestTimedOutError) {
    return EXIT_UNREACHABLE
  }
  return EXIT_ERROR
}

/** The single line describing an error for stderr. */
export function errorLine (err: unknown, broker: string): string {
  if (err instanceof BrokerUnreachableError) return `error: ${err.message}`
  if (err instanceof ConnectionError) return `error: lost the connection to broker at ${broker} (${err.message})`
  if (err instanceof RequestTimedOutError) return `error: broker at ${broker} did not answer in time (${err.message})`
  if (err instanceof SpoolError) return `error: ${err.message}`
  if (err instanceof Error) return `error: ${err.message}`
  return `error: ${String(err)}`
}

/** Whether an error is a bug (print its stack) rather than an expected condition. */
export function isUnexpected (err: unknown): boolean {
  return !(err instanceof SpoolError)
}
