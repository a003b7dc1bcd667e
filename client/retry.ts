/**
 * Exponential backoff with jitter for retriable errors. Attempt n (0-based) waits
 * min(maxRetryTimeMs, initialRetryTimeMs * 2^n), scaled by a random factor in [0.8, 1.2)
 * so clients that failed together do not retry together.
 */

export interface RetryOptions {
  /** Retries after the first attempt (0 = never retry). */
  retries: number
  initialRetryTimeMs: number
  maxRetryTimeMs: number
}

/** About 9 s of retrying in all (0.3 + 0.6 + 1.2 + 2.4 + 4.8), enough for a broker restart; kafkajs's defaults. */
export const DEFAULT_RETRY: RetryOptions = { retries: 5, initialRetryTimeMs: 300, maxRetryTimeMs: 30_000 }

export function backoffMs (attempt: number, options: RetryOptions, random: () => number = Math.random): number {
  const base = Math.min(options.maxRetryTimeMs, options.initialRetryTimeMs * 2 ** Math.min(attempt, 30))
  return Math.round(base * (0.8 + 0.4 * random()))
}
