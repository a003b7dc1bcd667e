/**
 * Native protocol decoders (protocol/native/): the length-prefix framing as the broker and
 * the client drive it (FrameAssembler under lengthPrefixReader / FrameDecoder), request and
 * response headers (parseRequestFrame, parseResponseFrame), msgpack bodies (decodeBody) and
 * every api's request and response schema.
 *
 * Rules (mutation cases): any bytes fail only with FrameTooLargeError, MalformedFrameError
 * or InvalidRequestError; the frames found do not depend on how the bytes were chunked (one
 * byte at a time included); body and records sections are views inside their frame; a body
 * a schema accepts gives the same value when encoded and parsed again; Object.prototype is
 * never touched. Property: random headers, bodies and record sections round-trip through the
 * encoders and decoders at any chunking, and schemas fail on random values only with
 * InvalidRequestError.
 */

import fc from 'fast-check'
import { FrameTooLargeError, InvalidRequestError, MalformedFrameError } from '../../../protocol/errors.js'
import { allApis, apiByKey } from '../../../protocol/native/api-keys.js'
import {
  FrameDecoder, REQUEST_HEADER_FIXED_BYTES, RESPONSE_HEADER_BYTES, concatParts, decodeBody, encodeClientId, encodeRequestFrame,
  encodeResponseFrame, lengthPrefixReader, packr, parseRequestFrame, parseResponseFrame,
} from '../../../protocol/native/frame.js'
import { FrameAssembler } from '../../../protocol/bytes/frame-assembler.js'
import { nativeFixtureFrames } from '../corpus.js'
import { FuzzFailure, chunking, chunks, expectNamed, mutate, prototypeUntouched, same, viewsInside, type CodecTarget, type Rng } from '../engine.js'
import { msgpackValue, mutateValue } from '../values.js'

const MAX_FRAME = 1024 * 1024
const FRAMING_ERRORS = [FrameTooLargeError, MalformedFrameError]
const APIS = allApis()

/** Captured SDK frames plus one small frame per api (requests) and a few responses. */
function corpus (): { requests: Uint8Array[], responses: Uint8Array[], all: Uint8Array[] } {
  const requests: Uint8Array[] = []
  const responses: Uint8Array[] = []
  for (const f of nativeFixtureFrames()) (f.direction === 'request' ? requests : responses).push(f.bytes)
  const id = encodeClientId('fuzz')
  for (const api of APIS) requests.push(concatParts(encodeRequestFrame(api.key, 0, 7, id, {})))
  responses.push(concatParts(encodeResponseFrame(0, { errorCode: 55, errorMessage: 'notice' })))
  return { requests, responses, all: [...requests, ...responses] }
}

let cached: ReturnType<typeof corpus> | null = null
const frames = (): ReturnType<typeof corpus> => (cached ??= corpus())

/** Re-encodes a request frame with its body changed structurally (keeps the frame valid). */
function structuralMutation (frame: Uint8Array, rng: Rng): Uint8Array {
  const req = parseRequestFrame(frame)
  const body = mutateValue(decodeBody(req.bodyBytes), rng)
  return concatParts(encodeRequestFrame(req.apiKey, req.apiVersion, req.correlationId, encodeClientId(req.clientId.slice(0, 64)), body, [req.records]))
}

function generate (rng: Rng): Uint8Array {
  const c = frames()
  const r = rng.int(100)
  if (r < 6) return rng.bytes(rng.small(96))
  if (r < 12) {
    // A well-formed header around random body bytes.
    const body = rng.bytes(rng.small(64))
    const parts = encodeRequestFrame(rng.pick(APIS).key, rng.int(3), rng.u32() || 1, encodeClientId('f'), null)
    const head = parts[0]!
    new DataView(head.buffer, head.byteOffset).setUint32(head.length - 4, body.length)
    const out = concatParts([head, body])
    new DataView(out.buffer).setUint32(0, out.length - 4)
    return out
  }
  if (r < 40) {
    try {
      const base = structuralMutation(rng.pick(c.requests), rng)
      return rng.chance(0.3) ? mutate(base, rng, c.all, 2) : base
    } catch {
      return rng.pick(c.requests)
    }
  }
  // Several frames back to back, some mutated: framing must resynchronise on nothing.
  const n = rng.chance(0.8) ? 1 : rng.range(2, 4)
  const parts: Uint8Array[] = []
  for (let i = 0; i < n; i++) {
    const base = rng.chance(0.75) ? rng.pick(c.requests) : rng.pick(c.responses)
    parts.push(rng.chance(0.85) ? mutate(base, rng, c.all) : base)
  }
  return concatParts(parts)
}

/** Frames of `input` as a decoder with `minBytes` finds them; the error that ended the stream, if any. */
function frameAll (input: Uint8Array, minBytes: number, cuts: readonly number[]): { frames: Uint8Array[], error: Error | null } {
  // The assembler the broker's connections and the client's FrameDecoder both drive.
  const assembler = new FrameAssembler(lengthPrefixReader(MAX_FRAME, minBytes), 4)
  const out: Uint8Array[] = []
  try {
    for (const chunk of chunks(input, cuts)) assembler.push(chunk, f => { out.push(f); return true })
  } catch (err) {
    expectNamed(err, FRAMING_ERRORS, 'framing')
    return { frames: out, error: err as Error }
  }
  return { frames: out, error: null }
}

function checkSchemas (body: unknown, direction: 'request' | 'response', where: string): void {
  for (const api of APIS) {
    const schema = direction === 'request' ? api.request : api.response
    let parsed: unknown
    try {
      parsed = schema.parse(body, '')
    } catch (err) {
      expectNamed(err, [InvalidRequestError], `${where}: ${api.name} ${direction} schema`)
      continue
    }
    // What a schema accepts is plain data: it encodes and parses back to itself.
    const again = schema.parse(packr.unpack(packr.pack(parsed)), '')
    if (!same(again, parsed)) throw new FuzzFailure(`${where}: ${api.name} ${direction} schema output does not survive msgpack`)
  }
}

/** How far the furthest frame got: 'schema' (its own api's schema accepted it), 'body', 'frame' or ''. */
function checkFrames (found: readonly Uint8Array[], direction: 'request' | 'response'): string {
  let reached = ''
  for (const frame of found) {
    let bodyBytes: Uint8Array
    try {
      const parsed = direction === 'request' ? parseRequestFrame(frame) : parseResponseFrame(frame)
      viewsInside(parsed, frame, `parse${direction === 'request' ? 'Request' : 'Response'}Frame`)
      bodyBytes = parsed.bodyBytes
      if (direction === 'request') {
        const r = parsed as ReturnType<typeof parseRequestFrame>
        const clientIdLength = (frame[12]! << 8) | frame[13]!
        if (r.bodyBytes.length + r.records.length + REQUEST_HEADER_FIXED_BYTES + clientIdLength !== frame.length) {
          throw new FuzzFailure('parseRequestFrame: header, body and records do not add up to the frame')
        }
      }
    } catch (err) {
      expectNamed(err, [MalformedFrameError], `parse ${direction} frame`)
      continue
    }
    let body: unknown
    try {
      body = decodeBody(bodyBytes)
    } catch (err) {
      expectNamed(err, [MalformedFrameError], 'decodeBody')
      continue
    }
    viewsInside(body, bodyBytes, 'decodeBody')
    if (reached === '') reached = 'body'
    if (direction === 'request') {
      const own = apiByKey(parseRequestFrame(frame).apiKey)
      if (own !== undefined) {
        try {
          own.request.parse(body, '')
          reached = 'schema'
        } catch (err) {
          expectNamed(err, [InvalidRequestError], `${own.name} request schema`)
        }
      }
    }
    checkSchemas(body, direction, 'body')
  }
  return reached === '' && found.length > 0 ? 'frame' : reached
}

function check (input: Uint8Array, rng: Rng): string {
  let reached = 'rejected'
  for (const [direction, minBytes] of [['request', REQUEST_HEADER_FIXED_BYTES], ['response', RESPONSE_HEADER_BYTES]] as const) {
    const whole = frameAll(input, minBytes, [input.length])
    const split = frameAll(input, minBytes, chunking(input.length, rng))
    if (whole.frames.length !== split.frames.length || !whole.frames.every((f, i) => same(f, split.frames[i])) ||
      (whole.error === null) !== (split.error === null)) {
      throw new FuzzFailure(`${direction} framing depends on chunking: ${whole.frames.length} frames whole, ${split.frames.length} chunked`)
    }
    const r = checkFrames(whole.frames, direction)
    if (direction === 'request' && r !== '') reached = `request ${r} accepted`
  }
  prototypeUntouched('native decoders')
  return reached
}

const clientId = fc.string({ unit: 'grapheme', maxLength: 40 }).filter(s => new TextEncoder().encode(s).length <= 256)
const records = fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 3 })
const splits = fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 8 })

function splitBy (bytes: Uint8Array, steps: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = []
  let pos = 0
  let i = 0
  while (pos < bytes.length) {
    const n = steps[i++ % steps.length]!
    out.push(bytes.subarray(pos, pos + n))
    pos += n
  }
  return out
}

function property (): fc.IRawProperty<unknown[]> {
  const request = fc.record({ apiKey: fc.integer({ min: 0, max: 0xffff }), apiVersion: fc.integer({ min: 0, max: 0xffff }), correlationId: fc.integer({ min: 1, max: 0xffffffff }), clientId, body: msgpackValue, records, steps: splits })
  const response = fc.record({ correlationId: fc.integer({ min: 0, max: 0xffffffff }), body: msgpackValue, records, steps: splits })
  return fc.property(request, response, msgpackValue, (q, s, anything) => {
    const reqBytes = concatParts(encodeRequestFrame(q.apiKey, q.apiVersion, q.correlationId, encodeClientId(q.clientId), q.body, q.records))
    const decoder = new FrameDecoder(MAX_FRAME, REQUEST_HEADER_FIXED_BYTES)
    const got = splitBy(reqBytes, q.steps).flatMap(c => decoder.push(c))
    if (got.length !== 1) throw new FuzzFailure(`request: ${got.length} frames`)
    const r = parseRequestFrame(got[0]!)
    const recs = concatParts(q.records.length === 0 ? [new Uint8Array(0)] : q.records)
    if (r.apiKey !== q.apiKey || r.apiVersion !== q.apiVersion || r.correlationId !== q.correlationId || r.clientId !== q.clientId) throw new FuzzFailure('request header differs')
    if (!same(decodeBody(r.bodyBytes), q.body) || !same(r.records, recs)) throw new FuzzFailure('request body or records differ')
    const resBytes = concatParts(encodeResponseFrame(s.correlationId, s.body, s.records))
    const rd = new FrameDecoder(MAX_FRAME)
    const gotRes = splitBy(resBytes, s.steps).flatMap(c => rd.push(c))
    if (gotRes.length !== 1) throw new FuzzFailure(`response: ${gotRes.length} frames`)
    const p = parseResponseFrame(gotRes[0]!)
    if (p.correlationId !== s.correlationId || !same(decodeBody(p.bodyBytes), s.body) || !same(p.records, concatParts(s.records.length === 0 ? [new Uint8Array(0)] : s.records))) {
      throw new FuzzFailure('response differs')
    }
    checkSchemas(anything, 'request', 'random value')
    checkSchemas(anything, 'response', 'random value')
    prototypeUntouched('native round trip')
  }) as fc.IRawProperty<unknown[]>
}

export const nativeTarget: CodecTarget = {
  name: 'native',
  summary: 'native frames (length prefix, headers), msgpack bodies and every api schema',
  propertyShare: 0.2,
  property,
  generate,
  check,
}
