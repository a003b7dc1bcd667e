/**
 * Splits a byte stream into whole frames for any framing whose header gives the frame's
 * total size: the native protocol's and Kafka's 4-byte length prefix, MQTT's fixed header,
 * a WebSocket frame header. One piece of code for every protocol, so every protocol gets
 * the same memory behaviour:
 *
 * - A frame that lies whole inside one chunk is handed on as a view of that chunk (no copy).
 * - A frame split across chunks is gathered into one buffer of exactly its size, allocated
 *   once its header has been read and its size accepted, so the bytes held for a partial
 *   frame are the frame's size — never a list of the chunks it arrived in. (A peer sending a
 *   frame one byte per write used to cost the broker ~100-160 bytes of memory per byte
 *   received: one small buffer and its objects per chunk.)
 * - A header split across chunks is kept in a buffer of at most `maxHeaderBytes`.
 * - An optional shared budget bounds the bytes held in partial frames across every
 *   connection that uses it. When it has no room for a new partial frame, the assembler
 *   holds the rest of the chunk it was given (a view) and reports `blocked`; the owner stops
 *   reading from the peer and calls `resume` once the budget has room again. A frame whose
 *   buffer is already allocated always completes, so waiting for the budget cannot deadlock.
 *
 * Buffers are never reused, so views handed on stay valid for as long as their owner keeps
 * them. Errors about a frame's size are thrown by the `frameSize` function (typed errors;
 * the owner closes the stream, whose framing is lost).
 */

/** A budget shared by many assemblers (the broker's bound on bytes held in partial frames). */
export interface AssemblyBudget {
  /** Takes `bytes` from the budget; false (nothing taken) when it has not that much left. */
  tryTake (bytes: number): boolean
  give (bytes: number): void
}

/**
 * Reads a frame header at `pos` (at most `end - pos` bytes are there): the frame's total
 * size including the header, or -1 when more header bytes are needed. Throws a typed error
 * for a size that is not acceptable (too large, too small, malformed).
 */
export type FrameSizeReader = (bytes: Uint8Array, pos: number, end: number) => number

/** Receives one whole frame; returning false stops the assembler for the current chunk. */
export type FrameSink = (frame: Uint8Array) => boolean

export type PushResult = 'ok' | 'blocked' | 'stopped'

const EMPTY = new Uint8Array(0)

export class FrameAssembler {
  /** Reads the next frame's size: `firstFrameSize` until the first frame's size is known. */
  #frameSize: FrameSizeReader
  #laterFrameSize: FrameSizeReader | null
  readonly #maxHeaderBytes: number
  readonly #budget: AssemblyBudget | null
  /** Header bytes that ended a chunk before the header was complete (< maxHeaderBytes). */
  #head: Uint8Array = EMPTY
  /** A frame being gathered across chunks, and how much of it is filled. */
  #partial: Uint8Array | null = null
  #filled = 0
  /** Input held while the budget had no room (views of the chunks it came in). */
  #held: Uint8Array[] = []

  /**
   * `firstFrameSize`, when given, reads the first frame's header instead of `frameSize` (a
   * protocol whose first frame must be of one kind checks it there, before waiting for a body,
   * without a closure per connection for the check).
   */
  constructor (frameSize: FrameSizeReader, maxHeaderBytes: number, budget: AssemblyBudget | null = null, firstFrameSize: FrameSizeReader | null = null) {
    this.#frameSize = firstFrameSize ?? frameSize
    this.#laterFrameSize = firstFrameSize === null ? null : frameSize
    this.#maxHeaderBytes = maxHeaderBytes
    this.#budget = budget
  }

  #sizeAt (bytes: Uint8Array, pos: number, end: number): number {
    const size = this.#frameSize(bytes, pos, end)
    if (size >= 0 && this.#laterFrameSize !== null) {
      this.#frameSize = this.#laterFrameSize
      this.#laterFrameSize = null
    }
    return size
  }

  /** Bytes held for incomplete frames (the allocated buffer, header bytes, held input). */
  get bufferedBytes (): number {
    let held = 0
    for (const h of this.#held) held += h.length
    return (this.#partial === null ? 0 : this.#partial.length) + this.#head.length + held
  }

  /** True while input waits for room in the budget. */
  get blocked (): boolean { return this.#held.length > 0 }

  /**
   * Feeds a chunk; calls `sink` for each whole frame in order. `blocked`: input is held
   * until `resume` (stop reading the peer meanwhile; a chunk pushed while blocked is held
   * too); `stopped`: the sink returned false and the rest of the chunk is dropped.
   */
  push (chunk: Uint8Array, sink: FrameSink): PushResult {
    if (this.#held.length > 0) {
      this.#held.push(chunk)
      return 'blocked'
    }
    let pos = 0
    if (this.#partial !== null) {
      const partial = this.#partial
      const take = Math.min(partial.length - this.#filled, chunk.length)
      partial.set(chunk.subarray(0, take), this.#filled)
      this.#filled += take
      if (this.#filled < partial.length) return 'ok'
      pos = take
      this.#release()
      if (!sink(partial)) return 'stopped'
    } else if (this.#head.length > 0) {
      const head = this.#head
      // Only as many bytes as a header can need are joined; the rest is read in place.
      const joined = new Uint8Array(Math.min(head.length + chunk.length, this.#maxHeaderBytes))
      joined.set(head)
      joined.set(chunk.subarray(0, joined.length - head.length), head.length)
      const size = this.#sizeAt(joined, 0, joined.length)
      if (size < 0) {
        if (joined.length >= this.#maxHeaderBytes) throw new RangeError(`frame header longer than ${this.#maxHeaderBytes} bytes`)
        this.#head = joined
        return 'ok'
      }
      if (size <= joined.length) {
        // A tiny frame, whole in the joined bytes; the chunk goes on after it.
        this.#head = EMPTY
        pos = size - head.length
        if (!sink(joined.subarray(0, size))) return 'stopped'
      } else {
        if (!this.#allocate(size)) {
          this.#held.push(chunk) // #head stays: the header is read again on resume
          return 'blocked'
        }
        this.#head = EMPTY
        const partial = this.#partial!
        partial.set(head, 0)
        const take = Math.min(size - head.length, chunk.length)
        partial.set(chunk.subarray(0, take), head.length)
        this.#filled = head.length + take
        if (this.#filled < size) return 'ok'
        pos = take
        this.#release()
        if (!sink(partial)) return 'stopped'
      }
    }
    return this.#scan(chunk, pos, sink)
  }

  /** Tries again with the input held while blocked (the budget may have room now). */
  resume (sink: FrameSink): PushResult {
    const held = this.#held
    this.#held = []
    for (let i = 0; i < held.length; i++) {
      const r = this.push(held[i]!, sink)
      if (r === 'blocked') {
        // push() held held[i] (or what was left of it); keep the later chunks behind it.
        for (let j = i + 1; j < held.length; j++) this.#held.push(held[j]!)
        return 'blocked'
      }
      if (r === 'stopped') return 'stopped'
    }
    return 'ok'
  }

  /** Gives back what is held (the stream ended). */
  dispose (): void {
    if (this.#partial !== null) this.#release()
    this.#head = EMPTY
    this.#held = []
  }

  #scan (chunk: Uint8Array, start: number, sink: FrameSink): PushResult {
    let pos = start
    const n = chunk.length
    while (pos < n) {
      const size = this.#sizeAt(chunk, pos, n)
      if (size < 0) {
        if (n - pos >= this.#maxHeaderBytes) throw new RangeError(`frame header longer than ${this.#maxHeaderBytes} bytes`)
        this.#head = chunk.slice(pos) // a copy of at most maxHeaderBytes - 1 bytes
        return 'ok'
      }
      if (n - pos >= size) {
        if (!sink(chunk.subarray(pos, pos + size))) return 'stopped'
        pos += size
        continue
      }
      if (!this.#allocate(size)) {
        this.#held.push(chunk.subarray(pos))
        return 'blocked'
      }
      this.#partial!.set(chunk.subarray(pos), 0)
      this.#filled = n - pos
      return 'ok'
    }
    return 'ok'
  }

  #allocate (size: number): boolean {
    if (this.#budget !== null && !this.#budget.tryTake(size)) return false
    this.#partial = new Uint8Array(size)
    this.#filled = 0
    return true
  }

  #release (): void {
    const partial = this.#partial!
    this.#partial = null
    this.#filled = 0
    this.#budget?.give(partial.length)
  }
}
