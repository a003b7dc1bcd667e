/**
 * Slows down password guessing: per peer address, the delay to apply before answering
 * its next authentication attempt grows with its recent failures.
 *
 *   failures:  0-1   2      3      4      ...  capped
 *   delay:     0     base   2*base 4*base ...  maxDelayMs      (base 100 ms, cap 10 s)
 *
 * A success halves the failure count (so a user who mistyped once is not slowed, while a
 * guesser holding one valid account cannot wipe its record by logging in between guesses);
 * an address with no failure for `forgetAfterMs` is forgotten. Memory is bounded: at most
 * `maxHosts` addresses, least recently touched dropped first. The listener calls
 * `delayFor(host)` before checking credentials, waits that long (without holding anything
 * else up), then `recordFailure` or `recordSuccess`.
 */

export interface AuthThrottleOptions {
  readonly baseDelayMs?: number
  readonly maxDelayMs?: number
  readonly forgetAfterMs?: number
  readonly maxHosts?: number
  readonly now?: () => number
}

export interface AuthThrottleStats {
  failures: number
  successes: number
  /** Attempts that were given a delay above 0. */
  delayed: number
  /** Addresses dropped because maxHosts was reached. */
  evicted: number
  /** Addresses tracked now. */
  hosts: number
}

interface HostState { failures: number, lastFailureMs: number }

export class AuthThrottle {
  readonly stats: AuthThrottleStats = { failures: 0, successes: 0, delayed: 0, evicted: 0, hosts: 0 }
  readonly #hosts = new Map<string, HostState>()
  readonly #base: number
  readonly #max: number
  readonly #forget: number
  readonly #maxHosts: number
  readonly #now: () => number

  constructor (options: AuthThrottleOptions = {}) {
    this.#base = options.baseDelayMs ?? 100
    this.#max = options.maxDelayMs ?? 10_000
    this.#forget = options.forgetAfterMs ?? 60_000
    this.#maxHosts = options.maxHosts ?? 10_000
    this.#now = options.now ?? Date.now
  }

  /** Milliseconds to wait before handling an authentication attempt from `host`. */
  delayFor (host: string): number {
    const s = this.#get(host)
    if (s === undefined || s.failures < 2) return 0
    this.stats.delayed++
    // 2^(n-2) overflows to Infinity for large n, which min() turns into the cap.
    return Math.min(this.#max, this.#base * 2 ** (s.failures - 2))
  }

  recordFailure (host: string): void {
    this.stats.failures++
    const key = normalize(host)
    const s = this.#get(host) ?? { failures: 0, lastFailureMs: 0 }
    s.failures = Math.min(s.failures + 1, 64)
    s.lastFailureMs = this.#now()
    this.#hosts.delete(key)
    this.#hosts.set(key, s)
    if (this.#hosts.size > this.#maxHosts) {
      this.#hosts.delete(this.#hosts.keys().next().value!)
      this.stats.evicted++
    }
    this.stats.hosts = this.#hosts.size
  }

  recordSuccess (host: string): void {
    this.stats.successes++
    const key = normalize(host)
    const s = this.#get(host)
    if (s === undefined) return
    s.failures = Math.floor(s.failures / 2)
    if (s.failures === 0) this.#hosts.delete(key)
    this.stats.hosts = this.#hosts.size
  }

  #get (host: string): HostState | undefined {
    const key = normalize(host)
    const s = this.#hosts.get(key)
    if (s !== undefined && this.#now() - s.lastFailureMs >= this.#forget) {
      this.#hosts.delete(key)
      this.stats.hosts = this.#hosts.size
      return undefined
    }
    return s
  }
}

/** `::ffff:10.0.0.1` and `10.0.0.1` are one peer. */
function normalize (host: string): string {
  return host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host
}
