/**
 * The Kafka codecs (protocol/kafka/): one target per implemented API (`codec:kafka-<Api>`),
 * requests and responses of every version.
 *
 * Property: random valid messages, generated from the API's own schema (every field,
 * nullability and tagged field of each version), encode and decode back to the same value.
 * Mutation cases: valid frames of the API (generated from the schema once per run, plus
 * every frame of that API the seven Kafka clients of tests/fixtures/kafka/ sent or got),
 * mutated; decoders fail only with MalformedFrameError (UnsupportedApi/UnsupportedVersion
 * for a damaged header), never decode past the frame (every bytes field is a view inside
 * it), and what they accept encodes and decodes again to the same value.
 */

import fc from 'fast-check'
import type { Arbitrary } from 'fast-check'
import { KAFKA_APIS, decodeRequest, decodeResponse, encodeRequest, encodeResponse } from '../../../protocol/kafka/index.js'
import type { AnyKafkaApi, FieldSpec, Fields, Primitive } from '../../../protocol/kafka/index.js'
import { inRange } from '../../../protocol/kafka/schema.js'
import { defaultOf } from '../../../protocol/kafka/codec.js'
import { joinParts } from '../../../protocol/bytes/writer.js'
import { MalformedFrameError, UnsupportedApiError, UnsupportedVersionError } from '../../../protocol/errors.js'
import { kafkaFixtureFrames } from '../corpus.js'
import { FuzzFailure, Rng, expectNamed, mutate, same, viewsInside, type CodecTarget } from '../engine.js'

export const text = fc.string({ unit: 'grapheme', maxLength: 6 })

function primitive (kind: Primitive): Arbitrary<unknown> {
  switch (kind) {
    case 'bool': return fc.boolean()
    case 'int8': return fc.integer({ min: -128, max: 127 })
    case 'int16': return fc.integer({ min: -32768, max: 32767 })
    case 'uint16': return fc.integer({ min: 0, max: 65535 })
    case 'int32': return fc.integer({ min: -0x80000000, max: 0x7fffffff })
    case 'uint32': return fc.integer({ min: 0, max: 0xffffffff })
    case 'int64': return fc.oneof(fc.integer({ min: -5, max: 5 }), fc.maxSafeInteger(), fc.constant(Number.MIN_SAFE_INTEGER))
    case 'float64': return fc.double({ noNaN: true }).filter(d => !Object.is(d, -0))
    case 'string': return text
    case 'bytes': case 'records': return fc.uint8Array({ maxLength: 12 })
    case 'uuid': return fc.uint8Array({ minLength: 16, maxLength: 16 }).map(b => Array.from(b, x => x.toString(16).padStart(2, '0')).join(''))
  }
}

function field (spec: FieldSpec<unknown, unknown>, version: number, depth: number): Arbitrary<unknown> {
  let arb: Arbitrary<unknown>
  if (spec.kind === 'array') {
    const el = spec.element!
    const item = typeof el === 'string' ? primitive(el) : struct(el, version, depth + 1)
    arb = fc.array(item, { maxLength: depth > 2 ? 1 : 3 })
  } else if (spec.kind === 'struct') {
    arb = struct(spec.fields!, version, depth + 1)
  } else {
    arb = primitive(spec.kind)
  }
  return inRange(spec.nullable, version) ? fc.option(arb, { nil: null, freq: 4 }) : arb
}

/** Random values of a struct in one version; fields absent in that version hold their default. */
export function struct (fields: Fields, version: number, depth = 0): Arbitrary<Record<string, unknown>> {
  const shape: Record<string, Arbitrary<unknown>> = {}
  for (const name of Object.keys(fields)) {
    const spec = fields[name]!
    shape[name] = inRange(spec.versions, version) ? field(spec, version, depth) : fc.constant(null).map(() => defaultOf(spec))
  }
  return fc.record(shape)
}

type AnyApi = { key: number, name: string, minVersion: number, maxVersion: number, request: { fields: Fields }, response: { fields: Fields } }
export const encReq = encodeRequest as (api: AnyKafkaApi, v: number, c: number, id: string | null, body: unknown) => { parts: Uint8Array[], size: number }
export const encRes = encodeResponse as (api: AnyKafkaApi, v: number, c: number, body: unknown) => { parts: Uint8Array[], size: number }

/** A frame without its size prefix (what the decoders take), checked against its size. */
export function frameOf (parts: Uint8Array[], size: number): Uint8Array {
  const all = joinParts(parts)
  if (all.length !== size) throw new FuzzFailure(`size ${size} but ${all.length} bytes`)
  if (new DataView(all.buffer, all.byteOffset).getInt32(0) !== size - 4) throw new FuzzFailure('size prefix wrong')
  return all.subarray(4)
}

export const versionsOf = (api: AnyKafkaApi): number[] => Array.from({ length: api.maxVersion - api.minVersion + 1 }, (_, i) => api.minVersion + i)

const KAFKA_ERRORS_ALLOWED = [MalformedFrameError, UnsupportedVersionError, UnsupportedApiError]

/** Valid frames of one API per version and direction (deterministic), plus the captured ones. */
function poolFor (api: AnyKafkaApi): Array<{ direction: 0 | 1, version: number, frame: Uint8Array }> {
  const a = api as unknown as AnyApi
  const out: Array<{ direction: 0 | 1, version: number, frame: Uint8Array }> = []
  for (const v of versionsOf(api)) {
    for (const body of fc.sample(struct(a.request.fields, v), { seed: 4242 + v, numRuns: 8 })) {
      const f = encReq(api, v, 7, 'fuzz', body)
      out.push({ direction: 0, version: v, frame: frameOf(f.parts, f.size) })
    }
    for (const body of fc.sample(struct(a.response.fields, v), { seed: 2424 + v, numRuns: 8 })) {
      const f = encRes(api, v, 7, body)
      out.push({ direction: 1, version: v, frame: frameOf(f.parts, f.size) })
    }
  }
  for (const f of kafkaFixtureFrames()) {
    if (f.apiKey !== api.key || f.apiVersion < api.minVersion || f.apiVersion > api.maxVersion) continue
    out.push({ direction: f.direction === 'request' ? 0 : 1, version: f.apiVersion, frame: f.bytes })
  }
  return out
}

/** Re-encoding what a decoder accepted gives the same value again. */
function stable (api: AnyKafkaApi, version: number, direction: 0 | 1, body: unknown, clientId: string | null): void {
  try {
    if (direction === 0) {
      const f = encReq(api, version, 1, clientId, body)
      const again = decodeRequest(frameOf(f.parts, f.size))
      if (!same(again.body, body)) throw new FuzzFailure(`${api.name} v${version} request: decoded, encoded and decoded again, it differs`)
    } else {
      const f = encRes(api, version, 1, body)
      const again = decodeResponse(api, version, frameOf(f.parts, f.size))
      if (!same(again.body, body)) throw new FuzzFailure(`${api.name} v${version} response: decoded, encoded and decoded again, it differs`)
    }
  } catch (err) {
    if (err instanceof FuzzFailure) throw err
    throw new FuzzFailure(`${api.name} v${version} ${direction === 0 ? 'request' : 'response'}: what the decoder accepted does not encode again: ${(err as Error).message}`)
  }
}

export function kafkaTarget (api: AnyKafkaApi): CodecTarget {
  const a = api as unknown as AnyApi
  const versions = versionsOf(api)
  let pool: ReturnType<typeof poolFor> | null = null
  const frames = (): ReturnType<typeof poolFor> => (pool ??= poolFor(api))
  return {
    name: `kafka-${api.name}`,
    summary: `Kafka ${api.name} v${api.minVersion}-${api.maxVersion} requests and responses`,
    propertyShare: 0.15,
    property () {
      return fc.property(fc.constantFrom(...versions).chain(v => fc.tuple(fc.constant(v), struct(a.request.fields, v), struct(a.response.fields, v))),
        fc.integer({ min: -0x80000000, max: 0x7fffffff }), fc.option(text, { nil: null }), ([v, reqBody, resBody], correlationId, clientId) => {
          const f = encReq(api, v, correlationId, clientId, reqBody)
          const req = decodeRequest(frameOf(f.parts, f.size))
          if (req.apiKey !== api.key || req.apiVersion !== v || req.correlationId !== correlationId || req.clientId !== clientId || !same(req.body, reqBody)) {
            throw new FuzzFailure(`${api.name} v${v} request does not round-trip`)
          }
          const g = encRes(api, v, correlationId, resBody)
          const res = decodeResponse(api, v, frameOf(g.parts, g.size))
          if (res.correlationId !== correlationId || !same(res.body, resBody)) throw new FuzzFailure(`${api.name} v${v} response does not round-trip`)
        }) as unknown as fc.IRawProperty<unknown[]>
    },
    generate (rng: Rng) {
      const p = frames()
      const base = rng.pick(p)
      const frame = rng.chance(0.04) ? rng.bytes(rng.small(64)) : mutate(base.frame, rng, p.map(x => x.frame))
      const out = new Uint8Array(frame.length + 2)
      out[0] = base.direction
      out[1] = rng.chance(0.9) ? base.version : rng.pick(versions)
      out.set(frame, 2)
      return out
    },
    check (input: Uint8Array): string {
      let accepted = false
      const direction = input[0] === 1 ? 1 : 0
      const version = input[1] ?? api.minVersion
      const frame = input.subarray(2)
      if (direction === 0) {
        for (const allowTrailingBytes of [false, true]) {
          try {
            const req = decodeRequest(frame, { allowTrailingBytes })
            viewsInside(req.body, frame, `${api.name} request`)
            const own = Object.values(KAFKA_APIS).find(x => x.key === req.apiKey) as AnyKafkaApi
            if (!allowTrailingBytes) {
              stable(own, req.apiVersion, 0, req.body, req.clientId)
              accepted = true
            }
          } catch (err) {
            expectNamed(err, KAFKA_ERRORS_ALLOWED, `${api.name} request`)
          }
        }
      } else {
        try {
          const res = decodeResponse(api, version, frame)
          viewsInside(res.body, frame, `${api.name} v${version} response`)
          stable(api, res.version, 1, res.body, null)
          accepted = true
        } catch (err) {
          expectNamed(err, KAFKA_ERRORS_ALLOWED, `${api.name} v${version} response`)
        }
      }
      return accepted ? 'accepted' : 'rejected'
    },
  }
}

/** One target per implemented Kafka API. */
export function kafkaTargets (): CodecTarget[] {
  return (Object.values(KAFKA_APIS) as AnyKafkaApi[]).map(kafkaTarget)
}
