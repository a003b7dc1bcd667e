/**
 * The MQTT fixed header, read for the one FrameAssembler (protocol/bytes/frame-assembler.ts)
 * so a packet is bounded from its header before a byte of its body is buffered (mqtt-packet
 * has no size limit).
 *
 * Fixed header (MQTT 3.1.1 §2.2 and 5.0 §2.1.1):
 *   byte 0       packet type (bits 7-4) | flags (bits 3-0)
 *   bytes 1..4   Remaining Length, a variable byte integer: 7 bits per byte, least
 *                significant group first, bit 7 = more bytes follow; at most 4 bytes
 *                [MQTT-1.5.5-1 / 3.1.1 §2.2.3], so a packet is at most 1 + 4 + 268,435,455 bytes.
 */

import type { FrameSizeReader } from '../../../protocol/bytes/frame-assembler.js'
import { MqttMalformedPacketError, MqttPacketTooLargeError, MqttProtocolError } from '../../../protocol/errors.js'

/** The longest fixed header: one type byte and a 4-byte Remaining Length. */
export const MQTT_MAX_HEADER_BYTES = 5

/** A short hex rendering of bytes for a bounded log line (at most `max` bytes shown). */
export function hexSnippet (bytes: Uint8Array, start = 0, max = 32): string {
  const end = Math.min(bytes.length, start + max)
  let out = ''
  for (let i = start; i < end; i++) out += bytes[i]!.toString(16).padStart(2, '0')
  return end < bytes.length ? out + '…' : out
}

/** Reads a fixed header: the packet's total size, -1 when more header bytes are needed. */
export function mqttHeaderReader (maxPacketBytes: number): FrameSizeReader {
  return (chunk, pos, n) => {
    let remaining = 0
    let multiplier = 1
    let i = pos + 1
    while (i < n && i - pos <= 4) {
      const b = chunk[i++]!
      remaining += (b & 0x7f) * multiplier
      multiplier *= 128
      if ((b & 0x80) === 0) {
        const total = i - pos + remaining
        if (total > maxPacketBytes) {
          throw new MqttPacketTooLargeError(`packet of ${total} bytes exceeds mqttMaxPacketBytes ${maxPacketBytes} (header ${hexSnippet(chunk, pos, 8)})`)
        }
        return total
      }
    }
    if (i - pos > 4) throw new MqttMalformedPacketError(`remaining length longer than 4 bytes [MQTT-1.5.5-1] (${hexSnippet(chunk, pos, 8)})`)
    return -1
  }
}

const sharedReaders = new Map<number, FrameSizeReader>()
const sharedFirstReaders = new Map<number, FrameSizeReader>()

/** One header reader per size limit, shared by every connection (no closure per connection). */
export function sharedHeaderReader (maxPacketBytes: number): FrameSizeReader {
  let reader = sharedReaders.get(maxPacketBytes)
  if (reader === undefined) sharedReaders.set(maxPacketBytes, (reader = mqttHeaderReader(maxPacketBytes)))
  return reader
}

/**
 * The reader of a connection's first packet, shared like `sharedHeaderReader`: anything but
 * CONNECT first [MQTT-3.1.0-1] (or not MQTT at all) is refused at its first byte, before
 * waiting for a length.
 */
export function sharedConnectReader (maxPacketBytes: number): FrameSizeReader {
  let reader = sharedFirstReaders.get(maxPacketBytes)
  if (reader === undefined) {
    const header = sharedHeaderReader(maxPacketBytes)
    reader = (chunk, pos, end) => {
      if (chunk[pos] !== 0x10) throw new MqttProtocolError('the first packet is not CONNECT [MQTT-3.1.0-1]')
      return header(chunk, pos, end)
    }
    sharedFirstReaders.set(maxPacketBytes, reader)
  }
  return reader
}

/** Where a whole packet's body starts (after the fixed header). */
export function bodyStart (packet: Uint8Array): number {
  let i = 1
  while (i < packet.length && i <= 4 && (packet[i]! & 0x80) !== 0) i++
  return i + 1
}
