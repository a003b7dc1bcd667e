// Compression across real programs: Spool's batches in every codec, written by each of its
// encoders (pure and native), are read by a real Kafka client (librdkafka's consumer in kcat,
// through librdkafka's mock cluster); the Node SDK producer writes every codec to a real
// broker, which stores the codec as produced and serves it to the Node SDK and to the browser
// bundle (dist/browser/spool.js, built here and run under Node with `ws` as its WebSocket:
// its pure snappy/lz4 and fzstd decoders); the producer's compression option is checked.
import { readFileSync, readdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import t from 'tap'
import { WebSocket } from 'ws'
import { Client, InvalidArgumentError, UnsupportedCompressionTypeError, text } from '../../client/index.js'
import { bestNodeCodecs, pureNodeCodecs } from '../../platform/node-codecs.js'
import { registerCompressionCodec } from '../../protocol/record-batch/compression.js'
import { BATCH_HEADER_SIZE, Compression, OFFSET_ATTRIBUTES, readBatchHeader, updateCrc, type CompressionCode } from '../../protocol/record-batch/header.js'
import { encodeBatch, forEachBatch } from '../../protocol/record-batch/records.js'
import { snappyEncodeRaw } from '../../protocol/record-batch/snappy.js'
import { startTestBroker } from '../helpers/client-broker.js'
import { collect } from '../helpers/conformance.js'
import { KafkaWire, consumeWithKcat, produceWithKcat, startMockCluster } from '../fixtures/record-batches/mock-cluster.js'

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const NAMES = ['gzip', 'snappy', 'lz4', 'zstd'] as const
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const big = (tag: string): string => Array.from({ length: 4000 }, (_, i) => `${tag}-${i};`).join('')

/** `plain` (an uncompressed batch) with its records section compressed by `compress`. */
function recompress (plain: Uint8Array, code: number, compress: (d: Uint8Array) => Uint8Array): Uint8Array {
  const blob = compress(plain.subarray(BATCH_HEADER_SIZE))
  const b = new Uint8Array(BATCH_HEADER_SIZE + blob.length)
  b.set(plain.subarray(0, BATCH_HEADER_SIZE))
  b.set(blob, BATCH_HEADER_SIZE)
  b[OFFSET_ATTRIBUTES + 1] = (b[OFFSET_ATTRIBUTES + 1]! & ~7) | code
  new DataView(b.buffer).setInt32(8, b.length - 12)
  updateCrc(b, 0, b.length)
  return b
}

t.test('librdkafka reads the batches of every Spool encoder in every codec', async t => {
  const mock = await startMockCluster()
  t.teardown(() => mock.close())
  const topic = 'spool-encoded'
  await produceWithKcat(mock.bootstrap, topic, 'none', ['first\tcreated by kcat'])
  const wire = await KafkaWire.connect(mock.host, mock.port)
  t.teardown(() => wire.close())
  const encoders: Array<[string, number, (d: Uint8Array) => Uint8Array]> = []
  for (const [setName, set] of [['pure', pureNodeCodecs()], ['best', bestNodeCodecs()]] as const) {
    for (const [code, codec] of set) if (codec.compressSync !== null) encoders.push([`${setName} ${codec.implementation}`, code, codec.compressSync])
  }
  encoders.push(['pure TS raw snappy (not what Spool writes)', Compression.snappy, snappyEncodeRaw])
  t.ok(encoders.length >= 8, `${encoders.length} encoders`)
  const expected = ['0\tfirst\tcreated by kcat\t']
  let offset = 1
  for (const [label, code, compress] of encoders) {
    const tag = `e${offset}`
    const plain = encodeBatch([
      { key: utf8(`${tag}-a`), value: utf8(`${label} / ${NAMES[code - 1]}`), headers: [{ key: 'codec', value: utf8(NAMES[code - 1]!) }] },
      { key: null, value: utf8(big(tag)), headers: [] },
    ])
    const base = await wire.produce(topic, 0, recompress(plain, code, compress))
    t.equal(base, offset, `${label}: appended at ${offset}`)
    expected.push(`${offset}\t${tag}-a\t${label} / ${NAMES[code - 1]}\tcodec=${NAMES[code - 1]}`, `${offset + 1}\t\t${big(tag).length}:${big(tag).slice(0, 30)}\t`)
    offset += 2
  }
  const lines = await consumeWithKcat(mock.bootstrap, topic, offset, '%o\t%k\t%s\t%h\n')
  const shown = lines.map(l => {
    const [o, k, v, h] = l.split('\t') as [string, string, string, string]
    return v.length > 200 ? `${o}\t${k}\t${v.length}:${v.slice(0, 30)}\t${h}` : l
  })
  t.same(shown, expected, 'kcat prints every key, value and header as Spool encoded them')
})

t.test('the Node SDK producer writes every codec; the broker stores it as produced; Node and browser consumers read it', async t => {
  const broker = await startTestBroker(t)
  const client = new Client({ brokers: [broker.address] })
  t.teardown(() => client.close())
  await client.admin().createTopics(NAMES.map(c => ({ topic: `sdk-${c}`, partitions: 1 })))
  const values = (c: string): string[] => [`${c} one`, big(c), `${c} three`]
  for (const c of NAMES) {
    const producer = client.producer({ compression: c, lingerMs: 20 })
    await producer.send({ topic: `sdk-${c}`, messages: values(c).map((v, i) => ({ key: `k${i}`, value: v, headers: { codec: c } })) })
    await producer.close()
    const log = readFileSync(join(broker.dataDir, `sdk-${c}-0`, readdirSync(join(broker.dataDir, `sdk-${c}-0`)).find(f => f.endsWith('.log'))!))
    const codes: number[] = []
    forEachBatch(log, pos => codes.push(readBatchHeader(log, pos).attributes & 7))
    t.same(codes, [Compression[c]], `${c}: one batch on disk, stored with codec bits ${Compression[c]}`)
    const consumer = client.consumer({ fromBeginning: true })
    await consumer.assign({ topic: `sdk-${c}` })
    const got = await collect(consumer, 3)
    await consumer.close()
    t.same(got.map(m => text(m.value)), values(c), `${c}: the Node SDK reads the values`)
    t.same(got.map(m => text(m.headers.find(h => h.key === 'codec')?.value ?? null)), [c, c, c], `${c}: headers`)
  }

  const out = mkdtempSync(join(tmpdir(), 'spool-web-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  const { buildWeb } = await import(pathToFileURL(join(REPO, 'scripts/build-web.mjs')).href) as { buildWeb: (o: { outDir: string }) => Promise<void> }
  await buildWeb({ outDir: out })
  const sdk = await import(pathToFileURL(join(out, 'browser/spool.js')).href) as typeof import('../../client/browser.js')
  const web = new sdk.Client({ url: broker.wsUrl, WebSocket })
  t.teardown(() => web.close())
  for (const c of NAMES) {
    const consumer = web.consumer({ fromBeginning: true })
    await consumer.assign({ topic: `sdk-${c}` })
    const got = await collect(consumer as unknown as Parameters<typeof collect>[0], 3)
    await consumer.close()
    t.same(got.map(m => sdk.text(m.value)), values(c), `${c}: the browser bundle reads the values`)
  }
  t.throws(() => web.producer({ compression: 'zstd' }), sdk.UnsupportedCompressionTypeError, 'the browser bundle reads zstd but does not write it')
  for (const c of ['gzip', 'snappy', 'lz4'] as const) t.ok(web.producer({ compression: c }), `the browser bundle writes ${c}`)

  // The option: every Kafka codec name and nothing else; a codec this host cannot write is
  // refused when the producer is made, not at the first send.
  for (const c of ['none', ...NAMES] as const) t.ok(client.producer({ compression: c }), c)
  t.throws(() => client.producer({ compression: 'brotli' as 'gzip' }), InvalidArgumentError)
  const readOnly = pureNodeCodecs().get(Compression.zstd)!
  registerCompressionCodec(Compression.zstd as CompressionCode, { canCompress: false, compress: readOnly.compress, decompress: readOnly.decompress })
  t.throws(() => client.producer({ compression: 'zstd' }), UnsupportedCompressionTypeError, 'zstd without an encoder')
})
