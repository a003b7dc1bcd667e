// Property tests and mutation fuzzing of the Kafka codecs, for every implemented API,
// version and direction (the targets are in bench/fuzz/codecs/kafka.ts, which `npm run fuzz`
// runs at 10^6 cases): per API 10^4 cases from a fixed seed (FUZZ_SEED overrides it) —
// random valid messages (generated from the same schemas, so every field, nullability and
// tagged field of each version is exercised) encode and decode back to the same value;
// valid and captured frames (tests/fixtures/kafka/), mutated, never make a decoder throw
// anything but MalformedFrameError (or UnsupportedApi/UnsupportedVersion for a damaged
// header), never decode past the frame, and what they accept encodes to the same value;
// random bytes likewise.
import t from 'tap'
import fc from 'fast-check'
import {
  KAFKA_APIS, decodeRequest, decodeResponse,
  decodeSubscription, encodeSubscription, decodeAssignment, encodeAssignment,
} from '../../protocol/kafka/index.js'
import type { AnyKafkaApi } from '../../protocol/kafka/index.js'
import { MalformedFrameError, UnsupportedApiError, UnsupportedVersionError } from '../../protocol/errors.js'
import { runCodecTarget, same } from '../../bench/fuzz/engine.js'
import { kafkaTarget, text } from '../../bench/fuzz/codecs/kafka.js'

const CASES = Number(process.env.FUZZ_CASES ?? 10_000)
const SEED = Number(process.env.FUZZ_SEED ?? 20261201)

function expectNamed (err: unknown): void {
  if (err instanceof MalformedFrameError || err instanceof UnsupportedVersionError || err instanceof UnsupportedApiError) return
  throw err
}

const apis: AnyKafkaApi[] = Object.values(KAFKA_APIS)

t.test(`every API: ${CASES} cases each, round trips and mutated frames`, async t => {
  let total = 0
  let mutations = 0
  let accepted = 0
  for (const api of apis) {
    const r = await runCodecTarget(kafkaTarget(api), { cases: CASES, seed: SEED })
    total += r.cases
    mutations += r.mutationCases
    accepted += r.outcomes.accepted ?? 0
    t.same(r.failures.map(f => `${f.message}\n  replay: ${f.reproduce}\n  input: ${f.input.slice(0, 400)}`), [],
      `${api.name} v${api.minVersion}-${api.maxVersion}: ${r.propertyCases} round trips, ${r.mutationCases} mutated frames, no rule broken`)
  }
  t.equal(total, CASES * apis.length, `${total} cases in all (${mutations} mutated frames)`)
  t.ok(accepted > 0 && accepted < mutations / 2, `most mutations are rejected, some decode (${accepted} of ${mutations})`)
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
