/**
 * How the CLI prints messages and tables.
 *
 * `--format json`: one JSON object per line (docs/architecture.md §7):
 *   {"topic":"t","partition":0,"offset":42,"timestamp":1700000000000,"key":"k","value":"v",
 *    "headers":[{"key":"h","value":"x"}]}
 * key, value and header values are strings when they are valid UTF-8, null when absent,
 * and base64 otherwise, in which case a sibling field says so: "keyEncoding":"base64",
 * "valueEncoding":"base64" (and "valueEncoding":"base64" inside a header). The fields are
 * absent for UTF-8, so a plain text message stays a short line.
 *
 * `--format text` (default): the value's bytes as they are, one message per line (a value
 * holding newlines spans lines); with `--print-key`, `key<TAB>value`. A null value prints
 * as an empty line, a null key as an empty key.
 */

import type { Message } from '../client/message.js'

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** The string of valid UTF-8 bytes, or null when they are not valid UTF-8. */
export function utf8OrNull (bytes: Uint8Array): string | null {
  // ASCII fast path: no decoder call for the common case.
  let ascii = true
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! >= 0x80) {
      ascii = false
      break
    }
  }
  if (ascii) return bytes.length < 4096 ? String.fromCharCode.apply(null, bytes as unknown as number[]) : strictUtf8.decode(bytes)
  try {
    return strictUtf8.decode(bytes)
  } catch {
    return null
  }
}

function base64 (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

/** The JSON line (without newline) for a message. */
export function jsonLine (m: Message): string {
  const out: Record<string, unknown> = {
    topic: m.topic,
    partition: m.partition,
    offset: m.offset,
    timestamp: m.timestamp,
  }
  addBytes(out, 'key', 'keyEncoding', m.key)
  addBytes(out, 'value', 'valueEncoding', m.value)
  out.headers = m.headers.map(h => {
    const header: Record<string, unknown> = { key: h.key }
    addBytes(header, 'value', 'valueEncoding', h.value)
    return header
  })
  return JSON.stringify(out)
}

function addBytes (out: Record<string, unknown>, field: string, encodingField: string, bytes: Uint8Array | null): void {
  if (bytes === null) {
    out[field] = null
    return
  }
  const text = utf8OrNull(bytes)
  if (text !== null) {
    out[field] = text
  } else {
    out[field] = base64(bytes)
    out[encodingField] = 'base64'
  }
}

const NEWLINE = 10
const TAB = 9

/**
 * The text output for messages: each value's bytes as they are (not re-encoded) and a
 * newline; with `printKey`, the key's bytes and a TAB first.
 */
export function textLines (messages: readonly Message[], printKey: boolean): Uint8Array {
  let size = 0
  for (const m of messages) size += (m.value?.length ?? 0) + 1 + (printKey ? (m.key?.length ?? 0) + 1 : 0)
  const out = new Uint8Array(size)
  let pos = 0
  for (const m of messages) {
    if (printKey) {
      if (m.key !== null) {
        out.set(m.key, pos)
        pos += m.key.length
      }
      out[pos++] = TAB
    }
    if (m.value !== null) {
      out.set(m.value, pos)
      pos += m.value.length
    }
    out[pos++] = NEWLINE
  }
  return out
}

/** The JSON lines (each ending in a newline) for messages. */
export function jsonLines (messages: readonly Message[]): string {
  let out = ''
  for (const m of messages) out += jsonLine(m) + '\n'
  return out
}

/** A left-aligned table with a header row; numbers right-aligned. */
export function table (headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map(r => r.map(String))]
  const widths = headers.map((_, i) => Math.max(...cells.map(r => (r[i] ?? '').length)))
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every(r => typeof r[i] === 'number'))
  return cells.map(r => r.map((c, i) => {
    const last = i === r.length - 1
    if (numeric[i]) return c.padStart(widths[i]!)
    return last ? c : c.padEnd(widths[i]!)
  }).join('  ').trimEnd()).join('\n') + '\n'
}

/** Bytes as a short human size: 0 B, 1.5 KiB, 12.0 MiB. */
export function humanBytes (n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${v.toFixed(1)} ${units[u]}`
}
