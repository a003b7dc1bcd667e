/**
 * The broker-wide bound on bytes the MQTT gateway holds for reading its logs back
 * (`mqttCatchUpBytes`): every catch-up sweep (catch-up.ts) and every resend of in-flight
 * messages after a reconnect takes the bytes of its read from here before reading, and gives
 * them back once the records read are delivered (or dropped). With the budget spent, a
 * reader waits in a queue (first come, first served) rather than allocating more, so a
 * reconnect storm of thousands of sessions costs at most this much read memory, however many
 * partitions and sessions read at once.
 *
 * A grant may be smaller than asked for (what is left, at least MIN_GRANT_BYTES or the whole
 * request when that is smaller); the reader then reads less. A read may return more than
 * was granted (the storage returns at least one whole batch): the reader reports the real
 * size with `adjust`, so the account stays true and later readers wait for it.
 */

/** The smallest grant worth a read (smaller requests are granted whole). */
export const MIN_GRANT_BYTES = 16 * 1024

export class ReadBudget {
  readonly limit: number
  #used = 0
  #peak = 0
  #waits = 0
  readonly #queue: Array<{ want: number, grant: (bytes: number) => void }> = []

  constructor (limit: number) {
    this.limit = limit
  }

  get used (): number { return this.#used }
  get peak (): number { return this.#peak }
  /** Times a reader had to wait for room. */
  get waits (): number { return this.#waits }
  /** Readers waiting for room now (holders of kept ranges give them up when there are any). */
  get waiting (): number { return this.#queue.length }

  /** Takes up to `want` bytes now, or null when the reader must wait (see `take`). */
  tryTake (want: number): number | null {
    if (this.#queue.length > 0) return null
    return this.#grant(want)
  }

  /** Resolves with the bytes granted (≤ `want`), once there is room. */
  take (want: number): Promise<number> {
    const now = this.tryTake(want)
    if (now !== null) return Promise.resolve(now)
    this.#waits++
    return new Promise(resolve => this.#queue.push({ want, grant: resolve }))
  }

  /** The read returned `actual` bytes for a grant of `granted`: the account follows the real size. */
  adjust (granted: number, actual: number): number {
    if (actual > granted) {
      this.#used += actual - granted
      if (this.#used > this.#peak) this.#peak = this.#used
      return actual
    }
    return granted
  }

  give (bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes)
    while (this.#queue.length > 0) {
      const granted = this.#grant(this.#queue[0]!.want)
      if (granted === null) return
      this.#queue.shift()!.grant(granted)
    }
  }

  #grant (want: number): number | null {
    const left = this.limit - this.#used
    const bytes = Math.min(want, left)
    // Below the minimum, wait for room — unless nothing is held at all (a limit smaller than
    // the minimum must not stop every reader for good).
    if (bytes < Math.min(want, MIN_GRANT_BYTES) && this.#used > 0) return null
    const granted = Math.max(bytes, Math.min(want, MIN_GRANT_BYTES))
    this.#used += granted
    if (this.#used > this.#peak) this.#peak = this.#used
    return granted
  }
}
