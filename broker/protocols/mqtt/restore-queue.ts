/**
 * Restoring delivery after CONNACK, paced: a returning session's resend of what was in flight
 * and its joining of the catch-up sweeps are queued here instead of running inside its
 * CONNECT, so a reconnect storm answers every CONNECT at the rate the broker accepts them and
 * the reads behind the restores run at most MAX_ACTIVE at a time (their memory is bounded by
 * the read budget in any case). The queue is first come, first served; a session that went
 * away while queued is skipped (its restore sees no connection).
 */

import { NextTurn } from './next-turn.js'

export interface Restorable {
  restore (): Promise<void>
}

/** Restores running at once. */
const MAX_ACTIVE = 64

export class RestoreQueue<T extends Restorable> {
  #queue: T[] = []
  #head = 0
  #active = 0
  // After the current I/O callbacks: the CONNACKs of this turn go out first.
  readonly #next = new NextTurn(() => this.#pump())
  readonly #onError: (err: unknown, item: T) => void

  constructor (onError: (err: unknown, item: T) => void) {
    this.#onError = onError
  }

  /** Restores waiting or running. */
  get size (): number { return this.#queue.length - this.#head + this.#active }

  push (item: T): void {
    this.#queue.push(item)
    this.#next.schedule()
  }

  #pump (): void {
    while (this.#active < MAX_ACTIVE && this.#head < this.#queue.length) {
      const item = this.#queue[this.#head]!
      this.#queue[this.#head++] = undefined as unknown as T
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head)
        this.#head = 0
      }
      this.#active++
      item.restore().catch((err: unknown) => this.#onError(err, item)).finally(() => {
        this.#active--
        this.#next.schedule()
      })
    }
  }
}
