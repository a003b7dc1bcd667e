/**
 * Request/response over a Connection, for protocols whose frames are requests that each
 * get at most one response (the native protocol, Kafka): parse, bound the requests in
 * flight, dispatch, write the answers — as they complete (`ordering: 'any'`, native: a
 * long-polling fetch never holds up a produce on the same connection) or in request order
 * (`'in-order'`, Kafka: clients match responses to requests by position as well as by
 * correlation id). Either way a request is dispatched as it arrives, so appends happen in
 * arrival order.
 *
 * Quotas: every request dispatched is charged to the connection's request-rate quota
 * (`connection.charge('request', 1)`). While the connection is throttled (by that quota or
 * by a handler's byte quota), requests that arrive are held, in arrival order, and
 * dispatched once the throttle time is up — the socket is not read meanwhile, so at most
 * what had already arrived waits here (and counts against maxInFlight). The answer that
 * reported the throttle is not held: Kafka's order since KIP-219 (answer, then mute).
 *
 * Errors: a frame that does not parse is bad input (the connection closes with that error);
 * a handler's typed error is that request's error response; a SlowReaderError closes the
 * connection as a slow reader; any other exception is the failure rule (the connection
 * closes with an error log line, after the failed request's error response where the
 * protocol can send one).
 */

import { SlowReaderError, SpoolError, UnknownServerError } from '../../protocol/errors.js'
import type { Connection } from './connection.js'

export type Ordering = 'any' | 'in-order'

export interface RequestCodec<R> {
  readonly ordering: Ordering
  /** Parses one whole frame; throws a typed error for bad input. */
  parse (frame: Uint8Array): R
  /** Encodes the error response of a request, or null when the protocol has none for it. */
  encodeError (request: R, err: SpoolError): readonly Uint8Array[] | null
}

/** Encoded response parts, or null for a request that gets no response (acks=0). */
export type Answer = readonly Uint8Array[] | null

export type RequestHandler<R> = (request: R) => Answer | Promise<Answer>

export interface PipelineOptions<R> {
  codec: RequestCodec<R>
  handle: RequestHandler<R>
  maxInFlight: number
  /** The answer to a request over maxInFlight (the connection stays). */
  tooMany: (request: R) => Answer
}

interface Slot {
  done: boolean
  answer: Answer
}

interface Held<R> {
  request: R
  slot: Slot | null
}

export class RequestPipeline<R> {
  readonly #conn: Connection
  readonly #options: PipelineOptions<R>
  readonly #ordered: Slot[] = []
  /** Requests that arrived while the connection was throttled, in arrival order. */
  #held: Array<Held<R>> = []
  #waiting = false
  #inFlight = 0

  constructor (connection: Connection, options: PipelineOptions<R>) {
    this.#conn = connection
    this.#options = options
  }

  get inFlight (): number { return this.#inFlight }

  /** One whole frame from the connection. */
  onFrame (frame: Uint8Array): boolean {
    const o = this.#options
    const request = o.codec.parse(frame) // throws: bad input, the connection closes
    this.#conn.touch()
    if (this.#inFlight >= o.maxInFlight) {
      this.#settle(this.#slot(), o.tooMany(request))
      return true
    }
    this.#inFlight++
    const slot = this.#slot()
    if (this.#held.length > 0 || this.#conn.throttleRemainingMs > 0) {
      this.#held.push({ request, slot })
      this.#waitForThrottle()
      return true
    }
    this.#dispatch(request, slot)
    return !this.#conn.closed
  }

  #dispatch (request: R, slot: Slot | null): void {
    this.#conn.activity.requests++
    this.#conn.charge('request', 1)
    let result: Answer | Promise<Answer>
    try {
      result = this.#options.handle(request)
    } catch (err) {
      this.#failed(slot, request, err)
      return
    }
    if (result instanceof Promise) {
      result.then(
        answer => { this.#inFlight--; this.#settle(slot, answer) },
        err => this.#failed(slot, request, err),
      )
    } else {
      this.#inFlight--
      this.#settle(slot, result)
    }
  }

  #waitForThrottle (): void {
    if (this.#waiting) return
    this.#waiting = true
    this.#conn.whenUnthrottled(() => {
      this.#waiting = false
      this.#releaseHeld()
    })
  }

  /** Dispatches held requests in order until none is left or one throttles the connection again. */
  #releaseHeld (): void {
    while (this.#held.length > 0 && !this.#conn.closed) {
      if (this.#conn.throttleRemainingMs > 0) {
        this.#waitForThrottle()
        return
      }
      const { request, slot } = this.#held.shift()!
      this.#dispatch(request, slot)
    }
  }

  #slot (): Slot | null {
    if (this.#options.codec.ordering === 'any') return null
    const slot: Slot = { done: false, answer: null }
    this.#ordered.push(slot)
    return slot
  }

  #failed (slot: Slot | null, request: R, err: unknown): void {
    this.#inFlight--
    if (this.#conn.closed) return
    if (err instanceof SlowReaderError) {
      this.#conn.slowReader(err)
      return
    }
    if (err instanceof SpoolError && !(err instanceof UnknownServerError)) {
      this.#settle(slot, this.#options.codec.encodeError(request, err))
      return
    }
    // The failure rule: tell the client this request failed, then close the connection.
    const named = new UnknownServerError('the broker hit an unexpected error handling this request', { cause: err })
    this.#settle(slot, this.#options.codec.encodeError(request, named))
    this.#conn.internalError(err)
  }

  #settle (slot: Slot | null, answer: Answer): void {
    this.#conn.touch()
    if (slot === null) {
      if (answer !== null) this.#conn.write(answer)
      return
    }
    slot.done = true
    slot.answer = answer
    while (this.#ordered.length > 0 && this.#ordered[0]!.done) {
      const head = this.#ordered.shift()!
      if (head.answer !== null) this.#conn.write(head.answer)
    }
  }
}
