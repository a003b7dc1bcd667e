/**
 * A task run once at the next turn of the event loop (setImmediate: after the current I/O
 * callbacks), however many times it is asked for before then: the gateway's queues use it to
 * coalesce the work of one read or one burst of connections into one pass.
 */
export class NextTurn {
  readonly #task: () => void
  #scheduled = false

  constructor (task: () => void) {
    this.#task = task
  }

  schedule (): void {
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      this.#task()
    })
  }
}
