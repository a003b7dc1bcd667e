/**
 * The broker-wide bound on bytes held for requests that are still arriving
 * (`maxPendingRequestBytes`): every connection's frame assembler takes a partial frame's
 * buffer from this one budget. When it is spent, a connection that needs a new buffer stops
 * reading its socket and waits in a queue (first come, first served); buffers are given back
 * as their frames complete or their connections close, and the waiters resume. Frames whose
 * buffers were already taken always complete, so the wait cannot deadlock. This is Kafka's
 * `queued.max.request.bytes` rule: memory stays bounded whatever many peers send, and
 * nobody is cut off for it.
 */

import type { AssemblyBudget } from '../../protocol/bytes/frame-assembler.js'

export class ByteBudget implements AssemblyBudget {
  readonly limit: number
  #used = 0
  #peak = 0
  #blockedTotal = 0
  readonly #waiters = new Set<() => void>()

  constructor (limit: number) {
    this.limit = limit
  }

  get used (): number { return this.#used }
  /** The most bytes ever held at once. */
  get peak (): number { return this.#peak }
  /** Times a connection had to wait for room. */
  get blockedTotal (): number { return this.#blockedTotal }
  get waiting (): number { return this.#waiters.size }

  tryTake (bytes: number): boolean {
    if (this.#used + bytes > this.limit) {
      this.#blockedTotal++
      return false
    }
    this.#used += bytes
    if (this.#used > this.#peak) this.#peak = this.#used
    return true
  }

  give (bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes)
    if (this.#waiters.size > 0) queueMicrotask(() => this.#wake())
  }

  /** Calls `fn` once when bytes are given back; returns a function that cancels the wait. */
  whenAvailable (fn: () => void): () => void {
    this.#waiters.add(fn)
    return () => { this.#waiters.delete(fn) }
  }

  #wake (): void {
    // Wake in arrival order; each waiter retries its own allocation (and waits again if the
    // room went to an earlier one).
    for (const fn of [...this.#waiters]) {
      if (this.#used >= this.limit) return
      this.#waiters.delete(fn)
      fn()
    }
  }
}
