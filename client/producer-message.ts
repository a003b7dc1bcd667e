/**
 * What a producer is given (messages with string or byte keys, values and headers) and how
 * it becomes what the batch builder takes: strings encoded as UTF-8 once (into shared blocks:
 * protocol/bytes/utf8.ts; the builder copies the bytes at once), headers as an array, and an
 * upper bound of the encoded size (for batch and request limits).
 */

import { encodeUtf8 } from '../protocol/bytes/utf8.js'
import { InvalidArgumentError } from '../protocol/errors.js'
import type { RecordHeader, RecordInput } from '../protocol/record-batch/records.js'
import { RECORD_OVERHEAD_BYTES } from './accumulator.js'

/** A header value may be given as a string (sent as its UTF-8 bytes). */
export type HeaderValue = Uint8Array | string | null
export type MessageHeaders = Array<{ key: string, value: HeaderValue }> | Record<string, HeaderValue>

export interface ProducerMessage {
  /** null/absent: no key (sticky partitioner). Strings are sent as UTF-8. */
  key?: Uint8Array | string | null
  /** null: a tombstone on compacted topics. Strings are sent as UTF-8. */
  value: Uint8Array | string | null
  headers?: MessageHeaders
  /** Overrides the partitioner. */
  partition?: number
  /** Milliseconds since the epoch (CreateTime); default now. */
  timestamp?: number
}

export interface ProducerRecord {
  topic: string
  messages: ProducerMessage[]
}

/** A message as the batch builder takes it: strings encoded, headers as an array. */
export function toRecordInput (m: ProducerMessage): RecordInput {
  const key = m.key
  const value = m.value
  const headers = m.headers
  if ((key === undefined || key === null || key instanceof Uint8Array) &&
      (value === null || value instanceof Uint8Array) &&
      (headers === undefined || (Array.isArray(headers) && headersAreBytes(headers)))) {
    return m as RecordInput
  }
  const input: RecordInput = {
    key: key === undefined || key === null ? null : typeof key === 'string' ? encodeUtf8(key) : bytesOrThrow(key, 'key'),
    value: value === undefined || value === null ? null : typeof value === 'string' ? encodeUtf8(value) : bytesOrThrow(value, 'value'),
  }
  if (headers !== undefined) input.headers = toRecordHeaders(headers)
  if (m.timestamp !== undefined) input.timestamp = m.timestamp
  return input
}

function headersAreBytes (headers: Array<{ key: string, value: HeaderValue }>): boolean {
  for (let i = 0; i < headers.length; i++) {
    const v = headers[i]!.value
    if (v !== null && !(v instanceof Uint8Array)) return false
  }
  return true
}

function toRecordHeaders (headers: MessageHeaders): RecordHeader[] {
  const entries = Array.isArray(headers) ? headers : Object.entries(headers).map(([key, value]) => ({ key, value }))
  return entries.map(({ key, value }) => {
    if (typeof key !== 'string') throw new InvalidArgumentError('header keys must be strings')
    return { key, value: value === null || value === undefined ? null : typeof value === 'string' ? encodeUtf8(value) : bytesOrThrow(value, `header ${key}`) }
  })
}

function bytesOrThrow (value: unknown, what: string): Uint8Array {
  if (value instanceof Uint8Array) return value
  throw new InvalidArgumentError(`${what} must be a Uint8Array, a string or null`)
}

/** An upper bound of the record's encoded size (header keys counted as UTF-16 length x3). */
export function recordSize (input: RecordInput): number {
  let size = RECORD_OVERHEAD_BYTES + (input.key?.length ?? 0) + (input.value?.length ?? 0)
  const headers = input.headers
  if (headers !== undefined) {
    for (let i = 0; i < headers.length; i++) size += 10 + headers[i]!.key.length * 3 + (headers[i]!.value?.length ?? 0)
  }
  return size
}
