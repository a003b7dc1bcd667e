// Property tests of the Kafka codecs, for every implemented API, version and direction:
// random valid messages (generated from the same schemas, so every field, nullability and
// tagged field of each version is exercised) encode and decode back to the same value;
// random bytes and mutated valid frames never make a decoder throw anything but
// MalformedFrameError (or UnsupportedApi/UnsupportedVersion for a damaged header), and never
// decode past the frame.
import t from 'tap'
import fc from 'fast-check'
import type { Arbitrary } from 'fast-check'
import {
  KAFKA_APIS, decodeRequest, decodeResponse, encodeRequest, encodeResponse,
  decodeSubscription, encodeSubscription, decodeAssignment, encodeAssignment,
} from '../../protocol/kafka/index.js'
import type { AnyKafkaApi, FieldSpec, Fields, Primitive } from '../../protocol/kafka/index.js'
import { inRange } from '../../protocol/kafka/schema.js'
import { defaultOf } from '../../protocol/kafka/codec.js'
import { joinParts } from '../../protocol/bytes/writer.js'
import { MalformedFrameError, UnsupportedApiError, UnsupportedVersionError } from '../../protocol/errors.js'

// Cases per (API, direction), shared out over the API's versions. With ~66 codecs this
// keeps the file near 15 s on the project's 2-core machine.
const ROUND_TRIP_RUNS = Number(process.env.KAFKA_FUZZ_RUNS ?? 1500)
const MUTATION_RUNS = Number(process.env.KAFKA_FUZZ_RUNS ?? 1500)

const text = fc.string({ unit: 'grapheme', maxLength: 6 })

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
function struct (fields: Fields, version: number, depth = 0): Arbitrary<Record<string, unknown>> {
  const shape: Record<string, Arbitrary<unknown>> = {}
  for (const name of Object.keys(fields)) {
    const spec = fields[name]!
    shape[name] = inRange(spec.versions, version) ? field(spec, version, depth) : fc.constant(null).map(() => defaultOf(spec))
  }
  return fc.record(shape)
}

/** Deep equality where Uint8Array views compare by content. */
function same (a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i])
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]))
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a)
    const kb = Object.keys(b)
    return ka.length === kb.length && ka.every(k => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  }
  return Object.is(a, b)
}

const apis: AnyKafkaApi[] = Object.values(KAFKA_APIS)
const versionsOf = (api: AnyKafkaApi): number[] => Array.from({ length: api.maxVersion - api.minVersion + 1 }, (_, i) => api.minVersion + i)

type AnyApi = { key: number, name: string, request: { fields: Fields }, response: { fields: Fields } }
const encReq = encodeRequest as (api: AnyKafkaApi, v: number, c: number, id: string | null, body: unknown) => { parts: Uint8Array[], size: number }
const encRes = encodeResponse as (api: AnyKafkaApi, v: number, c: number, body: unknown) => { parts: Uint8Array[], size: number }

function frameOf (parts: Uint8Array[], size: number): Uint8Array {
  const all = joinParts(parts)
  if (all.length !== size) throw new Error(`size ${size} but ${all.length} bytes`)
  if (new DataView(all.buffer, all.byteOffset).getInt32(0) !== size - 4) throw new Error('size prefix wrong')
  return all.subarray(4)
}

function expectNamed (err: unknown): void {
  if (err instanceof MalformedFrameError || err instanceof UnsupportedVersionError || err instanceof UnsupportedApiError) return
  throw err
}

t.test('random valid messages round-trip through every version of every API', async t => {
  for (const api of apis) {
    const a = api as unknown as AnyApi
    const versions = versionsOf(api)
    const runs = Math.max(20, Math.ceil(ROUND_TRIP_RUNS / versions.length))
    for (const v of versions) {
      fc.assert(fc.property(struct(a.request.fields, v), fc.integer({ min: -0x80000000, max: 0x7fffffff }), fc.option(text, { nil: null }), (body, correlationId, clientId) => {
        const f = encReq(api, v, correlationId, clientId, body)
        const req = decodeRequest(frameOf(f.parts, f.size))
        return req.apiKey === api.key && req.apiVersion === v && req.correlationId === correlationId &&
          req.clientId === clientId && same(req.body, body)
      }), { numRuns: runs })
      fc.assert(fc.property(struct(a.response.fields, v), fc.integer({ min: -0x80000000, max: 0x7fffffff }), (body, correlationId) => {
        const f = encRes(api, v, correlationId, body)
        const res = decodeResponse(api, v, frameOf(f.parts, f.size))
        return res.correlationId === correlationId && same(res.body, body)
      }), { numRuns: runs })
    }
    t.pass(`${api.name} v${api.minVersion}-${api.maxVersion}: requests and responses round-trip`)
  }
})

t.test('mutated and truncated frames fail only with named errors', async t => {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
    fc.record({ kind: fc.constant('ones' as const), at: fc.nat() }),
  )
  type Mutation = { kind: 'flip', at: number, value: number } | { kind: 'truncate', at: number } | { kind: 'append', bytes: Uint8Array } | { kind: 'ones', at: number }
  const mutate = (frame: Uint8Array, ms: Mutation[]): Uint8Array => {
    let out = frame.slice()
    for (const m of ms) {
      if (out.length === 0) break
      if (m.kind === 'flip') out[m.at % out.length] = m.value
      else if (m.kind === 'truncate') out = out.subarray(0, m.at % out.length)
      else if (m.kind === 'append') out = Uint8Array.from([...out, ...m.bytes])
      else for (let i = m.at % out.length; i < Math.min(out.length, (m.at % out.length) + 4); i++) out[i] = 0xff
    }
    return out
  }
  let malformed = 0
  let total = 0
  for (const api of apis) {
    const a = api as unknown as AnyApi
    const versions = versionsOf(api)
    const runs = Math.max(20, Math.ceil(MUTATION_RUNS / versions.length))
    for (const v of versions) {
      fc.assert(fc.property(struct(a.request.fields, v), fc.array(mutation, { minLength: 1, maxLength: 3 }), (body, ms) => {
        const f = encReq(api, v, 7, 'fuzz', body)
        const bad = mutate(frameOf(f.parts, f.size), ms as Mutation[])
        total++
        try {
          decodeRequest(bad)
        } catch (err) {
          expectNamed(err)
          malformed++
        }
      }), { numRuns: runs })
      fc.assert(fc.property(struct(a.response.fields, v), fc.array(mutation, { minLength: 1, maxLength: 3 }), (body, ms) => {
        const f = encRes(api, v, 7, body)
        const bad = mutate(frameOf(f.parts, f.size), ms as Mutation[])
        total++
        try {
          decodeResponse(api, v, bad)
        } catch (err) {
          expectNamed(err)
          malformed++
        }
      }), { numRuns: runs })
    }
  }
  t.ok(malformed > total / 2, `most mutations are rejected (${malformed} of ${total}), each with a named error`)
})

t.test('random bytes fail only with named errors', async t => {
  let rejected = 0
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(...apis), fc.nat(20), (bytes, api, v) => {
    try {
      decodeRequest(bytes)
    } catch (err) {
      expectNamed(err)
      rejected++
    }
    const version = api.minVersion + (v % (api.maxVersion - api.minVersion + 1))
    try {
      decodeResponse(api, version, bytes)
    } catch (err) {
      expectNamed(err)
    }
  }), { numRuns: 3000 })
  // A request frame is a random api key + version + body: only the key/version prefix can
  // decode, so nearly everything is rejected.
  t.ok(rejected > 2500, `random frames are rejected (${rejected} of 3000)`)
})

t.test('consumer protocol subscriptions and assignments round-trip and reject garbage', async t => {
  const tp = fc.record({ topic: text, partitions: fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 4 }) })
  const sub = fc.record({
    topics: fc.array(text, { maxLength: 4 }),
    userData: fc.option(fc.uint8Array({ maxLength: 8 }), { nil: null }),
    ownedPartitions: fc.array(tp, { maxLength: 3 }),
    generationId: fc.integer({ min: -1, max: 1000 }),
    rackId: fc.option(text, { nil: null }),
  })
  fc.assert(fc.property(sub, fc.integer({ min: 0, max: 3 }), (s, version) => {
    const back = decodeSubscription(encodeSubscription(s, version))
    const expected = {
      version,
      layoutVersion: version,
      topics: s.topics,
      userData: s.userData,
      ownedPartitions: version >= 1 ? s.ownedPartitions : [],
      generationId: version >= 2 ? s.generationId : -1,
      rackId: version >= 3 ? s.rackId : null,
    }
    return same(back, expected)
  }), { numRuns: 1000 })
  const asg = fc.record({ assignedPartitions: fc.array(tp, { maxLength: 3 }), userData: fc.option(fc.uint8Array({ maxLength: 8 }), { nil: null }) })
  fc.assert(fc.property(asg, fc.integer({ min: 0, max: 3 }), (a, version) => same(decodeAssignment(encodeAssignment(a, version)), { version, layoutVersion: version, ...a })), { numRuns: 1000 })
  fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), bytes => {
    for (const decode of [decodeSubscription, decodeAssignment]) {
      try {
        decode(bytes)
      } catch (err) {
        if (!(err instanceof MalformedFrameError)) throw err
      }
    }
  }), { numRuns: 2000 })
  t.pass('subscription v0-3 and assignment v0-3 round-trip; random bytes give MalformedFrameError only')
})
