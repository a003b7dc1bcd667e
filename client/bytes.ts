/**
 * Keys, values and header values are Uint8Array everywhere in the SDK (the same bytes in
 * Node and the browser). These helpers convert at the edges:
 *
 *   utf8('hi')          -> Uint8Array of the UTF-8 bytes
 *   text(bytes)         -> string (null stays null); invalid UTF-8 becomes U+FFFD
 *   toJson({ a: 1 })    -> Uint8Array of JSON.stringify's UTF-8 bytes
 *   json(bytes)         -> the parsed value (null stays null); throws SyntaxError on bad JSON
 */

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function utf8 (value: string): Uint8Array {
  return encoder.encode(value)
}

export function text (bytes: Uint8Array): string
export function text (bytes: Uint8Array | null): string | null
export function text (bytes: Uint8Array | null): string | null {
  return bytes === null ? null : decoder.decode(bytes)
}

export function toJson (value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value))
}

export function json<T = unknown> (bytes: Uint8Array | null): T | null {
  return bytes === null ? null : JSON.parse(decoder.decode(bytes)) as T
}
