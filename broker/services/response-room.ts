/**
 * Bytes of response data a connection may hold: its maxQueuedBytes minus what waits to be
 * written minus what its fetches are reading. A fetch reads at most what is available and
 * reserves it while it reads; a client that pipelines many large fetches without reading
 * cannot make the broker read (allocate) more than the limit for it.
 *
 * A fetch that found no room because the connection's other fetches were reading waits for
 * one of them to release its reservation (`onRelease`) and reads again — not for the next
 * append, which may never come: a connection that carries many consumers (100 tailing
 * consumers on one client) has only a few fetches reading at once, and a woken fetch that
 * read nothing would otherwise sleep through the record that woke it.
 */
export interface ResponseRoom {
  /** The connection's maxQueuedBytes. */
  readonly limit: number
  available (): number
  /** Response bytes written but not yet taken by the peer. */
  queued (): number
  reserve (bytes: number): void
  release (bytes: number): void
  /** Calls `fn` once, at the next release; the returned function cancels that. */
  onRelease (fn: () => void): () => void
}

/** The room of one connection (native and Kafka listeners). */
export class ConnectionRoom implements ResponseRoom {
  readonly limit: number
  readonly #queued: () => number
  #reserved = 0
  #waiters: Set<() => void> | null = null

  constructor (limit: number, queued: () => number) {
    this.limit = limit
    this.#queued = queued
  }

  available (): number {
    return this.limit - this.#queued() - this.#reserved
  }

  queued (): number {
    return this.#queued()
  }

  reserve (bytes: number): void {
    this.#reserved += bytes
  }

  release (bytes: number): void {
    this.#reserved = Math.max(0, this.#reserved - bytes)
    const waiters = this.#waiters
    if (waiters === null || bytes <= 0) return
    this.#waiters = null
    for (const fn of waiters) fn()
  }

  onRelease (fn: () => void): () => void {
    const waiters = this.#waiters ??= new Set()
    waiters.add(fn)
    return () => { this.#waiters?.delete(fn) }
  }
}
