/**
 * Deadlines of many waiters (parked long polls), rounded up to a grain so that those ending
 * near one another end together: one timer — one wake-up of the event loop — per grain, not
 * one per waiter. 1,000 idle consumers whose polls end at scattered times otherwise wake the
 * broker 200 times a second on their timers alone, and on a virtual machine each wake-up
 * (arming and cancelling the kernel's timer in epoll_wait) costs more than the poll's answer.
 *
 * The grain is a twentieth of the wait, at least 1 ms and at most MAX_GRAIN_MS, so a waiter
 * ends at most 5% (and 250 ms) after its deadline, never before. A late end costs nothing
 * that matters: a long poll ends at its deadline only when fewer than its minBytes came
 * (for most consumers, when nothing came).
 */

import { performance } from 'node:perf_hooks'

export const MAX_GRAIN_MS = 250

interface Bucket {
  readonly waiters: Set<() => void>
  readonly timer: NodeJS.Timeout
}

export class DeadlineWheel {
  readonly #buckets = new Map<number, Bucket>()
  readonly #now: () => number

  constructor (now: () => number = () => performance.now()) {
    this.#now = now
  }

  /**
   * Calls `fn` once, `delayMs` from now or up to one grain later; the returned function
   * cancels it. `fn` must not be waiting already (a waiter is its function).
   */
  after (delayMs: number, fn: () => void): () => void {
    const grain = Math.min(MAX_GRAIN_MS, Math.max(1, Math.floor(delayMs / 20)))
    const now = this.#now()
    const at = Math.ceil((now + Math.max(0, delayMs)) / grain) * grain
    let bucket = this.#buckets.get(at)
    if (bucket === undefined) {
      const timer = setTimeout(() => this.#fire(at), Math.max(1, Math.ceil(at - now)))
      bucket = { waiters: new Set(), timer }
      this.#buckets.set(at, bucket)
    }
    bucket.waiters.add(fn)
    const b = bucket
    return () => {
      if (!b.waiters.delete(fn) || b.waiters.size > 0) return
      clearTimeout(b.timer)
      if (this.#buckets.get(at) === b) this.#buckets.delete(at)
    }
  }

  /** Deadlines waiting (buckets with a timer), for tests and metrics. */
  get pending (): number {
    return this.#buckets.size
  }

  #fire (at: number): void {
    const bucket = this.#buckets.get(at)
    if (bucket === undefined) return
    this.#buckets.delete(at)
    for (const fn of bucket.waiters) fn()
  }
}

/** The wheel the broker's long polls share. */
export const longPolls = new DeadlineWheel()
