/**
 * A tiny schema layer for the msgpack control fields of native frames. Everything that
 * arrives from a socket is untrusted: a decoded body is checked field by field against its
 * schema before any handler sees it, and a mismatch is an InvalidRequestError naming the
 * path (`topics[2].partitions[0].partition: expected an integer`). Schemas also give the
 * TypeScript types of every request and response (`Infer<typeof Schema>`), so the wire
 * shape is written once.
 */

import { InvalidRequestError } from '../errors.js'

export interface Schema<T> {
  parse (value: unknown, path: string): T
}

export type Infer<S> = S extends Schema<infer T> ? T : never

function fail (path: string, expected: string, value: unknown): never {
  const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value
  throw new InvalidRequestError(`${path || 'body'}: expected ${expected}, got ${got}`)
}

/** An integer in [min, max] (default: the safe-integer range). */
export function int (min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): Schema<number> {
  return {
    parse (v, path) {
      if (typeof v !== 'number' || !Number.isInteger(v)) fail(path, 'an integer', v)
      if (v < min || v > max) throw new InvalidRequestError(`${path}: ${v} is outside [${min}, ${max}]`)
      return v
    },
  }
}

/** Any finite number. */
export const num: Schema<number> = {
  parse (v, path) {
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, 'a number', v)
    return v
  },
}

/** A string of at most `maxLength` UTF-16 units. */
export function str (maxLength = 32767): Schema<string> {
  return {
    parse (v, path) {
      if (typeof v !== 'string') fail(path, 'a string', v)
      if (v.length > maxLength) throw new InvalidRequestError(`${path}: string longer than ${maxLength}`)
      return v
    },
  }
}

export const bool: Schema<boolean> = {
  parse (v, path) {
    if (typeof v !== 'boolean') fail(path, 'a boolean', v)
    return v
  },
}

/** Raw bytes (msgpack bin). */
export const bytes: Schema<Uint8Array> = {
  parse (v, path) {
    if (!(v instanceof Uint8Array)) fail(path, 'bytes', v)
    return v
  },
}

/** One of a fixed set of literal values. */
export function oneOf<const T extends ReadonlyArray<string | number>> (values: T): Schema<T[number]> {
  return {
    parse (v, path) {
      if (!values.includes(v as T[number])) throw new InvalidRequestError(`${path}: expected one of ${values.join(', ')}`)
      return v as T[number]
    },
  }
}

/** An array of at most `maxItems` items. */
export function array<T> (item: Schema<T>, maxItems = 100_000): Schema<T[]> {
  return {
    parse (v, path) {
      if (!Array.isArray(v)) fail(path, 'an array', v)
      if (v.length > maxItems) throw new InvalidRequestError(`${path}: more than ${maxItems} items`)
      const out = new Array<T>(v.length)
      for (let i = 0; i < v.length; i++) out[i] = item.parse(v[i], `${path}[${i}]`)
      return out
    },
  }
}

/** `null` (or absent) allowed. */
export function nullable<T> (inner: Schema<T>): Schema<T | null> {
  return {
    parse (v, path) {
      return v === null || v === undefined ? null : inner.parse(v, path)
    },
  }
}

/** Absent allowed: parses to `fallback` when missing or null. */
export function optional<T> (inner: Schema<T>, fallback: T): Schema<T> {
  return {
    parse (v, path) {
      return v === null || v === undefined ? fallback : inner.parse(v, path)
    },
  }
}

/** A map of string keys to values of one schema (e.g. topic config). */
export function record<T> (value: Schema<T>, maxKeys = 1000): Schema<Record<string, T>> {
  return {
    parse (v, path) {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) fail(path, 'a map', v)
      const keys = Object.keys(v)
      if (keys.length > maxKeys) throw new InvalidRequestError(`${path}: more than ${maxKeys} keys`)
      const out: Record<string, T> = {}
      for (const k of keys) out[k] = value.parse((v as Record<string, unknown>)[k], `${path}.${k}`)
      return out
    },
  }
}

type Shape = Record<string, Schema<unknown>>
type ObjectOf<S extends Shape> = { [K in keyof S]: Infer<S[K]> }

/** A map with exactly the listed fields (unknown fields are ignored, for forward compatibility). */
export function object<S extends Shape> (shape: S): Schema<ObjectOf<S>> {
  const keys = Object.keys(shape)
  return {
    parse (v, path) {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) fail(path, 'a map', v)
      const src = v as Record<string, unknown>
      const out: Record<string, unknown> = {}
      for (const k of keys) out[k] = shape[k]!.parse(src[k], path ? `${path}.${k}` : k)
      return out as ObjectOf<S>
    },
  }
}

/** A config value: a number or a string. */
export const scalar: Schema<number | string> = {
  parse (v, path) {
    if (typeof v === 'number' && Number.isFinite(v)) return v
    if (typeof v === 'string' && v.length <= 4096) return v
    return fail(path, 'a number or a string', v)
  },
}
