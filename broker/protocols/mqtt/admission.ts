/**
 * Pacing new MQTT connections: a connection's socket starts paused and is let in (reading
 * resumed, so its CONNECT is read and answered) by this queue, a number per turn of the event
 * loop. The number adapts to how long the loop's turns take: while a turn — the poll phase in
 * which the admitted connections' CONNECTs are handled, with everything else the broker does
 * — takes longer than TARGET_TURN_MS, fewer are let in per turn; while turns are short, more.
 * So in a reconnect storm of thousands, the broker handles CONNECTs at the rate it can serve
 * them (the rest wait in their sockets' kernel buffers, costing nothing here) and requests of
 * other connections keep their turns. A single connection waits at most one turn.
 */

import { NextTurn } from './next-turn.js'

export interface Admittable {
  /** Lets the connection in (resumes reading); a closed one does nothing. */
  admit (): void
}

/** A turn of the event loop longer than this means too many were let in at once. */
const TARGET_TURN_MS = 10
const MIN_PER_TURN = 16
const MAX_PER_TURN = 2048
/**
 * New connections within one second that make a storm even when every one is let in at its
 * first turn (the broker keeps up, so nothing queues here, but the kernel's accept queue can
 * still have overflowed and dropped some handshakes).
 */
export const STORM_ACCEPTS_PER_SECOND = 1000

export class Admission {
  #queue: Admittable[] = []
  #head = 0
  #perTurn = 256
  readonly #next = new NextTurn(() => this.#turn())
  #lastTurnMs = 0
  /** When a connection last had to wait for a later turn, or a burst of arrivals was seen (0: never). */
  #lastQueuedAtMs = 0
  /** Arrivals in the current one-second window, and when it began. */
  #arrivals = 0
  #windowAtMs = 0

  get waiting (): number { return this.#queue.length - this.#head }

  /**
   * Whether connections have queued here, or arrived at STORM_ACCEPTS_PER_SECOND or more,
   * within the last `ms` (a reconnect storm is on or just ended). In a storm the kernel's accept queue overflows too, and a device whose
   * handshake was dropped there is accepted late, with its CONNECT still to come by TCP
   * retransmission, seconds later: its silence is the storm's, not the device's.
   */
  queuedWithin (ms: number): boolean {
    return this.waiting > 0 || (this.#lastQueuedAtMs > 0 && performance.now() - this.#lastQueuedAtMs < ms)
  }

  push (item: Admittable): void {
    const now = performance.now()
    if (now - this.#windowAtMs >= 1000) {
      this.#windowAtMs = now
      this.#arrivals = 0
    }
    if (++this.#arrivals >= STORM_ACCEPTS_PER_SECOND) this.#lastQueuedAtMs = now
    this.#queue.push(item)
    this.#next.schedule()
  }

  #turn (): void {
    const now = performance.now()
    if (this.#lastTurnMs > 0) {
      // The time since the last admission turn: the previous batch's CONNECTs and the rest.
      const turnMs = now - this.#lastTurnMs
      if (turnMs > TARGET_TURN_MS) this.#perTurn = Math.max(MIN_PER_TURN, this.#perTurn >> 1)
      else if (turnMs < TARGET_TURN_MS / 2) this.#perTurn = Math.min(MAX_PER_TURN, this.#perTurn + (this.#perTurn >> 2))
    }
    let admitted = 0
    while (admitted < this.#perTurn && this.#head < this.#queue.length) {
      const item = this.#queue[this.#head]!
      this.#queue[this.#head++] = undefined as unknown as Admittable
      item.admit()
      admitted++
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
    if (this.#head < this.#queue.length) {
      this.#lastTurnMs = this.#lastQueuedAtMs = performance.now()
      this.#next.schedule()
    } else {
      this.#lastTurnMs = 0
    }
  }
}
