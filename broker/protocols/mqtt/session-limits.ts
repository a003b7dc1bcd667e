/**
 * Limits on persistent sessions — the state that outlives a connection, so the one thing a
 * peer can pile up without holding sockets open (fuzzing once left 36,386 of them behind):
 *
 * - mqttMaxSessions: persistent sessions kept at once, online and offline. A CONNECT that
 *   would create one more is refused: CONNACK 0x97 quota exceeded (MQTT 5), return code 3
 *   server unavailable (3.1.1, which has nothing closer). A returning client (its session
 *   exists) is never refused, nor is a clean session (bounded by mqttMaxConnections).
 * - mqttSessionCreateRate: new persistent sessions per second per peer address, a token
 *   bucket holding at most one second's worth. Past it: CONNACK 0x9F connection rate
 *   exceeded (MQTT 5), return code 3 (3.1.1).
 *
 * Expiry is the gateway's (session expiry interval, capped by mqttSessionExpiryMaxSec; a
 * 3.1.1 persistent session is kept for the cap). Refusals are counted and logged at most
 * once a second with how many were not logged, so a flood of CONNECTs cannot flood the log.
 */

import type { Logger } from 'pino'
import { Reason } from './reason-codes.js'

export interface SessionRefusal {
  reason: number
  why: string
  /** Logged here (rate-limited), not by the CONNECT refusal. */
  quiet: true
}

interface Bucket { tokens: number, atMs: number }

export class SessionLimits {
  readonly maxSessions: number
  readonly ratePerSec: number
  refusedLimit = 0
  refusedRate = 0
  readonly #buckets = new Map<string, Bucket>()
  readonly #logger: Logger
  #loggedMs = -Infinity
  #suppressed = 0

  constructor (options: { maxSessions: number, ratePerSec: number, logger: Logger }) {
    this.maxSessions = options.maxSessions
    this.ratePerSec = options.ratePerSec
    this.#logger = options.logger
  }

  /** May `host` create one more persistent session now, with `persistent` of them kept? Takes a token if so. */
  admit (host: string, clientId: string, persistent: number, nowMs: number): SessionRefusal | null {
    if (persistent >= this.maxSessions) {
      this.refusedLimit++
      return this.#refused(nowMs, clientId, host, Reason.quotaExceeded, `${persistent} persistent sessions (mqttMaxSessions ${this.maxSessions})`)
    }
    let bucket = this.#buckets.get(host)
    if (bucket === undefined) {
      bucket = { tokens: this.ratePerSec, atMs: nowMs }
      this.#buckets.set(host, bucket)
    } else {
      bucket.tokens = Math.min(this.ratePerSec, bucket.tokens + (nowMs - bucket.atMs) * this.ratePerSec / 1000)
      bucket.atMs = nowMs
    }
    if (bucket.tokens < 1) {
      this.refusedRate++
      return this.#refused(nowMs, clientId, host, Reason.connectionRateExceeded, `more than ${this.ratePerSec} new persistent sessions a second from ${host} (mqttSessionCreateRate)`)
    }
    bucket.tokens -= 1
    return null
  }

  /** Forgets peers whose bucket is full again (the gateway's sweep), so the map stays small. */
  prune (nowMs: number): void {
    for (const [host, b] of this.#buckets) {
      if (b.tokens + (nowMs - b.atMs) * this.ratePerSec / 1000 >= this.ratePerSec) this.#buckets.delete(host)
    }
  }

  #refused (nowMs: number, clientId: string, host: string, reason: number, why: string): SessionRefusal {
    if (nowMs - this.#loggedMs >= 1000) {
      this.#logger.warn({ clientId, peer: host, reason: `0x${reason.toString(16)}`, suppressed: this.#suppressed || undefined }, `mqtt session refused: ${why}`)
      this.#loggedMs = nowMs
      this.#suppressed = 0
    } else {
      this.#suppressed++
    }
    return { reason, why, quiet: true }
  }
}
