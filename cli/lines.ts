/**
 * Splitting stdin into messages for `spool produce`: one message per line ('\n'; a '\r'
 * before it stays part of the line), and optionally a key before the first key separator.
 * Lines are views into the chunks read (no copy) unless a line spans two chunks. A last
 * line without '\n' is a message; the empty line after a final '\n' is not.
 */

/** A line without its trailing '\r' (CRLF input, as Kafka's console producer reads it). */
function withoutCr (line: Uint8Array): Uint8Array {
  return line.length > 0 && line[line.length - 1] === 13 ? line.subarray(0, line.length - 1) : line
}

export class LineSplitter {
  #carry: Uint8Array | null = null

  /** The complete lines of `chunk` (with whatever was carried from earlier chunks). */
  push (chunk: Uint8Array): Uint8Array[] {
    const lines: Uint8Array[] = []
    let start = 0
    let newline = chunk.indexOf(10)
    if (newline >= 0 && this.#carry !== null) {
      lines.push(withoutCr(concat(this.#carry, chunk.subarray(0, newline))))
      this.#carry = null
      start = newline + 1
      newline = chunk.indexOf(10, start)
    }
    while (newline >= 0) {
      lines.push(withoutCr(chunk.subarray(start, newline)))
      start = newline + 1
      newline = chunk.indexOf(10, start)
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start)
      this.#carry = this.#carry === null ? rest.slice() : concat(this.#carry, rest)
    }
    return lines
  }

  /** The last line if it had no '\n' (null when there is none). */
  end (): Uint8Array | null {
    const last = this.#carry
    this.#carry = null
    return last === null ? null : withoutCr(last)
  }
}

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

/** Index of `needle` in `haystack` from 0, or -1. */
export function indexOfBytes (haystack: Uint8Array, needle: Uint8Array): number {
  if (needle.length === 1) return haystack.indexOf(needle[0]!)
  const first = needle[0]!
  const last = haystack.length - needle.length
  for (let i = haystack.indexOf(first); i >= 0 && i <= last; i = haystack.indexOf(first, i + 1)) {
    let j = 1
    while (j < needle.length && haystack[i + j] === needle[j]) j++
    if (j === needle.length) return i
  }
  return -1
}

/**
 * Splits a line into key and value at the first `separator`. A line without the separator
 * is all value, with a null key.
 */
export function splitKey (line: Uint8Array, separator: Uint8Array): { key: Uint8Array | null, value: Uint8Array } {
  const at = indexOfBytes(line, separator)
  if (at < 0) return { key: null, value: line }
  return { key: line.subarray(0, at), value: line.subarray(at + separator.length) }
}
