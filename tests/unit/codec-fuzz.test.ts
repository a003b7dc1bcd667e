// Property-based and mutation fuzzing of the decoders that read bytes from a peer: native
// frames and body schemas, RecordBatch v2 (append checks, record decoders, decompressors),
// MQTT 3.1.1 and 5 (framing and every packet type), and the WebSocket frame gatherer
// (differential against `ws` reading the socket itself). 10^4 cases per codec, from the
// fixed seed below (FUZZ_SEED overrides it); the rules each target checks are in its file
// under bench/fuzz/codecs/. `npm run fuzz` runs the same targets at 10^6 cases. A failure
// prints the command that replays it.
import t from 'tap'
import { runCodecTarget, caseRng, FuzzFailure, type CodecTarget } from '../../bench/fuzz/engine.js'
import { nativeTarget } from '../../bench/fuzz/codecs/native.js'
import { recordBatchTarget } from '../../bench/fuzz/codecs/record-batch.js'
import { mqttTarget } from '../../bench/fuzz/codecs/mqtt.js'
import { webSocketTarget } from '../../bench/fuzz/codecs/websocket.js'
import fc from 'fast-check'

const CASES = Number(process.env.FUZZ_CASES ?? 10_000)
const SEED = Number(process.env.FUZZ_SEED ?? 20261201)

for (const target of [nativeTarget, recordBatchTarget, mqttTarget, webSocketTarget]) {
  t.test(`codec:${target.name}: ${target.summary}`, async t => {
    const r = await runCodecTarget(target, { cases: CASES, seed: SEED })
    t.equal(r.cases, CASES, `${r.cases} cases (${r.propertyCases} property, ${r.mutationCases} mutation) in ${Math.round(r.ms)} ms`)
    t.same(r.failures.map(f => `${f.message}\n  replay: ${f.reproduce}\n  input: ${f.input.slice(0, 400)}`), [], 'no decoder broke a rule')
    // Mutations that all stop at the first check would prove little: both kinds must occur.
    const labels = Object.entries(r.outcomes).filter(([, n]) => n > 0)
    t.ok(labels.length >= 2 && labels.every(([, n]) => n < r.mutationCases), `mutation outcomes vary: ${JSON.stringify(r.outcomes)}`)
    for (const [id, k] of Object.entries(r.known)) t.comment(`known defect ${id}: ${k.count} cases, first: ${k.first.reproduce}`)
  })
}

t.test('the engine finds a planted decoder bug and replays it from its seed and case', async t => {
  // A "decoder" that reads a length byte and trusts it: a RangeError on short input.
  const planted: CodecTarget = {
    name: 'planted',
    summary: 'a decoder with a bug',
    propertyShare: 0.5,
    property: () => fc.property(fc.uint8Array({ maxLength: 8 }), b => {
      if (b.length > 2 && b[0]! > b.length) throw new FuzzFailure(`length ${b[0]} past ${b.length}`)
    }) as unknown as fc.IRawProperty<unknown[]>,
    generate: rng => rng.bytes(rng.range(0, 4)),
    check: input => {
      if (input.length > 0 && input[0]! > input.length + 200) new Uint8Array(-1)
    },
  }
  const r = await runCodecTarget(planted, { cases: 2000, seed: 7 })
  const mutation = r.failures.find(f => f.kind === 'mutation')
  const property = r.failures.find(f => f.kind === 'property')
  t.ok(mutation, 'a mutation case fails')
  t.match(mutation?.message ?? '', /RangeError/, 'with the unnamed error it threw')
  t.ok(property, 'the property fails')
  t.match(property?.reproduce ?? '', /--path \S+/, 'the property failure names its fast-check path')
  const index = Number(/--case (\d+)/.exec(mutation?.reproduce ?? '')?.[1])
  t.equal(Buffer.from(planted.generate(caseRng(7, 'planted', index))).toString('hex'), mutation?.input, 'the case is rebuilt from seed and index alone')
  const replay = await runCodecTarget(planted, { cases: 1, seed: 7, onlyCase: index })
  t.equal(replay.failures.length, 1, 'replaying that one case fails again')
  const path = /--path (\S+)/.exec(property?.reproduce ?? '')?.[1]
  const again = await runCodecTarget(planted, { cases: 1, seed: 7, path })
  t.equal(again.failures.filter(f => f.kind === 'property').length, 1, 'replaying the property path fails again')
})
