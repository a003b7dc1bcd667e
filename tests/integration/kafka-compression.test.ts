// Compressed batches through the Kafka listener, on the real codecs (the compression work:
// gzip, snappy, lz4 frames, zstd in storage's append checks and the SDK):
// - kcat produces with each `-X compression.codec`; the batches are stored as produced
//   (compressed, with that codec's attribute bits, never re-encoded), kcat reads every line
//   back, and the Spool SDK decodes the same records;
// - kafkajs, plain and idempotent, with each codec it has built in (none, gzip; snappy, lz4
//   and zstd are plugins it does not ship): stored as sent, read back by kcat and by a
//   kafkajs consumer.
import t from 'tap'
import { CompressionTypes, Kafka, logLevel } from 'kafkajs'
import { Client } from '../../client/index.js'
import { ATTR_COMPRESSION_MASK, Compression, readBatchHeader } from '../../protocol/record-batch/header.js'
import { forEachBatch } from '../../protocol/record-batch/records.js'
import { INTERNAL_CALLER } from '../../broker/security/principal.js'
import type { Broker } from '../../broker/broker.js'
import { startBroker } from '../helpers/broker.js'
import { kcat } from '../helpers/kafka-programs.js'
import { waitFor } from '../helpers/processes.js'

/** The compression codes of every batch stored in a partition. */
async function storedCodecs (broker: Broker, topic: string): Promise<number[]> {
  const codes: number[] = []
  let offset = 0
  const end = broker.partitions.offsets(topic, 0).highWatermark
  for (let i = 0; i < 1000 && offset < end; i++) {
    const r = await broker.partitions.read(INTERNAL_CALLER, topic, 0, offset, 1 << 20, true)
    forEachBatch(r.bytes, pos => {
      const h = readBatchHeader(r.bytes, pos)
      codes.push(h.attributes & ATTR_COMPRESSION_MASK)
      offset = Math.max(offset, h.baseOffset + h.lastOffsetDelta + 1)
    })
  }
  return codes
}

async function sdkValues (broker: Broker, topic: string, count: number): Promise<string[]> {
  const client = new Client({ brokers: [`127.0.0.1:${broker.ports.native}`] })
  try {
    const consumer = client.consumer({ fromBeginning: true })
    await consumer.assign([{ topic, partition: 0 }])
    const out: string[] = []
    for await (const m of consumer) {
      out.push(new TextDecoder().decode(m.value!))
      if (out.length >= count) break
    }
    await consumer.close()
    return out
  } finally {
    await client.close()
  }
}

for (const codec of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
  t.test(`kcat -X compression.codec=${codec}: stored as produced, read back by kcat and the SDK`, async t => {
    const broker = await startBroker(t)
    const b = `127.0.0.1:${broker.ports.kafka}`
    const topic = `comp-${codec}`
    await broker.logs.createTopic(topic, { partitions: 1 })
    // Every line compresses well even alone: librdkafka sends a batch uncompressed when
    // compressing would not make it smaller (seen once: a last batch of one short line).
    const lines = Array.from({ length: 2000 }, (_, i) => `${codec} line ${i} ${'abcdefgh'.repeat(16 + i % 16)}`)
    const produced = await kcat(t, b, ['-P', '-t', topic, '-p', '0', '-X', `compression.codec=${codec}`, '-X', 'linger.ms=20'], { input: lines.join('\n') + '\n' })
    t.equal(produced.code, 0, produced.stderr)
    const codes = await storedCodecs(broker, topic)
    t.ok(codes.length > 0, `${codes.length} batches stored`)
    t.same([...new Set(codes)], [Compression[codec]], `every batch is stored ${codec}-compressed (attribute ${Compression[codec]})`)
    const consumed = await kcat(t, b, ['-C', '-t', topic, '-o', 'beginning', '-e', '-q'])
    t.equal(consumed.code, 0, consumed.stderr)
    t.same(consumed.stdout.split('\n').filter(l => l !== ''), lines, 'kcat reads every line back, in order')
    t.same(await sdkValues(broker, topic, lines.length), lines, 'the Spool SDK decodes the same records')
  })
}

t.test('kafkajs, plain and idempotent, with every codec it offers (none, gzip): stored as sent, read by kcat and by a kafkajs consumer', async t => {
  const broker = await startBroker(t, { groupInitialRebalanceDelayMs: 0 })
  const b = `127.0.0.1:${broker.ports.kafka}`
  const kafka = new Kafka({ clientId: 'kafkajs-codecs', brokers: [b], logLevel: logLevel.NOTHING })
  for (const idempotent of [false, true]) {
    for (const [name, codec, code] of [['none', CompressionTypes.None, Compression.none], ['gzip', CompressionTypes.GZIP, Compression.gzip]] as const) {
      const topic = `comp-kafkajs-${name}-${idempotent ? 'idempotent' : 'plain'}`
      await broker.logs.createTopic(topic, { partitions: 1 })
      const producer = kafka.producer({ idempotent })
      await producer.connect()
      t.teardown(() => producer.disconnect())
      const values = Array.from({ length: 300 }, (_, i) => `${name} ${i} ${'xyz'.repeat(i % 30)}`)
      for (let i = 0; i < values.length; i += 100) {
        await producer.send({ topic, acks: -1, compression: codec, messages: values.slice(i, i + 100).map(value => ({ value })) })
      }
      t.same([...new Set(await storedCodecs(broker, topic))], [code], `${topic}: stored ${name}`)
      const consumed = await kcat(t, b, ['-C', '-t', topic, '-o', 'beginning', '-e', '-q'])
      t.same(consumed.stdout.split('\n').filter(l => l !== ''), values, `${topic}: kcat reads them`)
      const consumer = kafka.consumer({ groupId: `${topic}-g`, maxWaitTimeInMs: 100 })
      await consumer.connect()
      t.teardown(() => consumer.disconnect())
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      const got: string[] = []
      await consumer.run({ eachMessage: async ({ message }) => { got.push(message.value!.toString()) } })
      await waitFor(() => got.length >= values.length, 30_000, 'kafkajs to read them')
      t.same(got, values, `${topic}: and kafkajs reads them`)
      await consumer.disconnect()
    }
  }
})
