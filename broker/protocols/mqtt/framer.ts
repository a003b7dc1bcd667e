/**
 * Splits an MQTT byte stream into whole control packets, bounding each one from its fixed
 * header before a byte of its body is buffered (style.md §4: bound before you buffer;
 * mqtt-packet has no size limit).
 *
 * Fixed header (MQTT 3.1.1 §2.2 and 5.0 §2.1.1):
 *   byte 0       packet type (bits 7-4) | flags (bits 3-0)
 *   bytes 1..4   Remaining Length, a variable byte integer: 7 bits per byte, least
 *                significant group first, bit 7 = more bytes follow; at most 4 bytes
 *                [MQTT-1.5.5-1 / 3.1.1 §2.2.3], so a packet is at most 1 + 4 + 268,435,455 bytes.
 *
 * A packet that lies whole inside one chunk is handed on as a view of that chunk (no copy);
 * one split across chunks is gathered into a buffer of exactly its size, allocated only
 * once its size is known and accepted. Buffers are never reused, so views stay valid.
 * Errors are returned, never thrown: the connection decides how to close.
 */

import { MqttMalformedPacketError, MqttPacketTooLargeError, type SpoolError } from '../../../protocol/errors.js'

/**
 * Receives one packet: the first header byte, the body (Remaining Length bytes) and the
 * whole packet (header included). Returning false stops the framer for this chunk (the
 * connection is closing); the rest of the chunk is dropped.
 */
export type PacketHandler = (first: number, body: Uint8Array, whole: Uint8Array) => boolean

const EMPTY = new Uint8Array(0)

/** A short hex rendering of bytes for a bounded log line (at most `max` bytes shown). */
export function hexSnippet (bytes: Uint8Array, start = 0, max = 32): string {
  const end = Math.min(bytes.length, start + max)
  let out = ''
  for (let i = start; i < end; i++) out += bytes[i]!.toString(16).padStart(2, '0')
  return end < bytes.length ? out + '…' : out
}

export class PacketFramer {
  readonly #maxPacketBytes: number
  /** Bytes of a fixed header that ended a chunk before its length was complete (< 5 bytes). */
  #head: Uint8Array = EMPTY
  /** A packet being gathered across chunks, its filled length and its body offset. */
  #partial: Uint8Array | null = null
  #filled = 0
  #bodyStart = 0
  #failed = false

  constructor (maxPacketBytes: number) {
    this.#maxPacketBytes = maxPacketBytes
  }

  /** Bytes held for an incomplete packet (bounded by maxPacketBytes). */
  get bufferedBytes (): number { return this.#partial === null ? this.#head.length : this.#filled }

  /**
   * Feeds a chunk; calls `onPacket` for every whole packet in order. Returns the error
   * that stopped it (the framer then refuses further input), or null.
   */
  push (input: Uint8Array, onPacket: PacketHandler): SpoolError | null {
    if (this.#failed) return null
    let chunk = input
    let pos = 0
    if (this.#partial !== null) {
      const partial = this.#partial
      const take = Math.min(partial.length - this.#filled, chunk.length)
      partial.set(chunk.subarray(0, take), this.#filled)
      this.#filled += take
      pos = take
      if (this.#filled < partial.length) return null
      this.#partial = null
      if (!onPacket(partial[0]!, partial.subarray(this.#bodyStart), partial)) return null
    } else if (this.#head.length > 0) {
      const joined = new Uint8Array(this.#head.length + chunk.length)
      joined.set(this.#head)
      joined.set(chunk, this.#head.length)
      chunk = joined
      this.#head = EMPTY
    }
    const n = chunk.length
    while (pos < n) {
      let remaining = 0
      let multiplier = 1
      let i = pos + 1
      let complete = false
      while (i < n && i - pos <= 4) {
        const b = chunk[i++]!
        remaining += (b & 0x7f) * multiplier
        multiplier *= 128
        if ((b & 0x80) === 0) {
          complete = true
          break
        }
      }
      if (!complete) {
        if (i - pos > 4) return this.#fail(new MqttMalformedPacketError(`remaining length longer than 4 bytes [MQTT-1.5.5-1] (${hexSnippet(chunk, pos, 8)})`))
        this.#head = chunk.slice(pos)
        return null
      }
      const total = i - pos + remaining
      if (total > this.#maxPacketBytes) {
        return this.#fail(new MqttPacketTooLargeError(`packet of ${total} bytes exceeds mqttMaxPacketBytes ${this.#maxPacketBytes} (header ${hexSnippet(chunk, pos, 8)})`))
      }
      if (pos + total <= n) {
        if (!onPacket(chunk[pos]!, chunk.subarray(i, pos + total), chunk.subarray(pos, pos + total))) return null
        pos += total
        continue
      }
      const partial = new Uint8Array(total)
      partial.set(chunk.subarray(pos))
      this.#partial = partial
      this.#filled = n - pos
      this.#bodyStart = i - pos
      return null
    }
    return null
  }

  #fail (err: SpoolError): SpoolError {
    this.#failed = true
    this.#partial = null
    this.#head = EMPTY
    return err
  }
}
