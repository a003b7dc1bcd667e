/**
 * Scenario "micro": Spool's codecs against well-known JavaScript implementations, in one
 * process, in the same run (no broker, no sockets).
 *
 *   node dist/bench/scenarios/micro.js [--quick|--tiny] [--no-peers] [--json out.json]
 *
 *   CRC-32C 256 B / 1 KiB / 16 KiB   protocol/bytes/crc32c.ts as the broker runs it (native
 *                                    from 1 KiB when @node-rs/crc32 is installed), its pure
 *                                    JS loop, @node-rs/crc32, crc-32's crc32c.js, kafkajs;
 *                                    crc-32's IEEE CRC-32 too, a different polynomial: speed only
 *   varint encode / decode           1,000 zigzag varints (protocol/bytes/varint.ts) vs the
 *                                    varint package (zigzag done around it) and kafkajs
 *   RecordBatch encode / decode      100 records of 100 B (protocol/record-batch) vs kafkajs'
 *                                    own RecordBatch encoder and decoder (async functions)
 *   MQTT PUBLISH decode              a QoS 1 PUBLISH, MQTT 3.1.1, fixed and variable header
 *                                    (the gateway's codec) vs mqtt-packet's parser
 *   Kafka request header decode      a Produce v7 request header vs kafkajs' Decoder
 * Each subject's output is checked equal to Spool's before it is timed (bench/lib/micro-harness.ts).
 * Rates are medians of samples taken round-robin; not a test, it never passes or fails on a time.
 */

import { Buffer } from 'node:buffer'
import { pathToFileURL } from 'node:url'
import { bodyStart } from '../../broker/protocols/mqtt/framer.js'
import { PacketDecoder, type PublishPacket } from '../../broker/protocols/mqtt/codec.js'
import { installNodeCodecs } from '../../platform/node-codecs.js'
import { crc32c, crc32cJs, hasNativeCrc32c } from '../../protocol/bytes/crc32c.js'
import { VarintCursor, writeVarint } from '../../protocol/bytes/varint.js'
import { decodeRequestHeader } from '../../protocol/kafka/frame.js'
import { decodeBatch, encodeBatch, type RecordInput } from '../../protocol/record-batch/records.js'
import { bySize, parseArgs } from '../lib/cli.js'
import { runMain } from '../lib/cleanup.js'
import { checkCase, sinkValue, timeCase, type MicroCase, type MicroSizes, type MicroSubject } from '../lib/micro-harness.js'
import { loadCrc32Ieee, loadCrc32cSheetJs, loadKafkajs, loadMqttPacket, loadNodeRsCrc32, loadVarint, type Kafkajs, type MqttParsedPacket } from '../lib/micro-peers.js'
import { Recorder, SPOOL } from '../lib/result.js'

const SPOOL_JS = 'Spool pure JS'

/** Deterministic bytes (a linear congruential generator), so every run hashes the same input. */
function bytesOf (n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

const asBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength)
const zigzag = (n: number): number => ((n << 1) ^ (n >> 31)) >>> 0
const unzigzag = (n: number): number => (n >>> 1) ^ -(n & 1)

export interface MicroPeers {
  kafkajs: Kafkajs | null
  nodeRs: ReturnType<typeof loadNodeRsCrc32>
  crc32cSheetJs: ReturnType<typeof loadCrc32cSheetJs>
  crc32Ieee: ReturnType<typeof loadCrc32Ieee>
  varint: ReturnType<typeof loadVarint>
  mqttPacket: ReturnType<typeof loadMqttPacket>
}

/** Every installed peer, or none (`--no-peers`). */
export function loadPeers (withPeers: boolean): MicroPeers {
  if (!withPeers) return { kafkajs: null, nodeRs: null, crc32cSheetJs: null, crc32Ieee: null, varint: null, mqttPacket: null }
  return { kafkajs: loadKafkajs(), nodeRs: loadNodeRsCrc32(), crc32cSheetJs: loadCrc32cSheetJs(), crc32Ieee: loadCrc32Ieee(), varint: loadVarint(), mqttPacket: loadMqttPacket() }
}

const CRC_NOTE = 'crc-32 (IEEE CRC-32) computes a different checksum (polynomial 0xEDB88320, not CRC-32C\'s 0x82F63B78): its column compares speed only, its output is not checked'

function crcCases (p: MicroPeers): MicroCase[] {
  return [256, 1024, 16384].map(size => {
    const data = bytesOf(size, size)
    const buf = asBuffer(data)
    const subjects: MicroSubject[] = [
      { system: SPOOL, run: () => crc32c(data), output: () => crc32c(data) },
      { system: SPOOL_JS, run: () => crc32cJs(data), output: () => crc32cJs(data) },
    ]
    if (p.nodeRs !== null) subjects.push({ system: '@node-rs/crc32', run: () => p.nodeRs!.crc32c(buf), output: () => p.nodeRs!.crc32c(buf) >>> 0 })
    if (p.crc32cSheetJs !== null) subjects.push({ system: 'crc-32/crc32c', run: () => p.crc32cSheetJs!.buf(data), output: () => p.crc32cSheetJs!.buf(data) >>> 0 })
    if (p.kafkajs !== null) subjects.push({ system: 'kafkajs', run: () => p.kafkajs!.crc32c(buf), output: () => p.kafkajs!.crc32c(buf) >>> 0 })
    if (p.crc32Ieee !== null) subjects.push({ system: 'crc-32 (IEEE CRC-32)', run: () => p.crc32Ieee!.buf(data) })
    const label = size >= 1024 ? `${size / 1024} KiB` : `${size} B`
    return { name: `CRC-32C ${label}`, metric: 'MB/s', unit: 'MB/s', itemsPerCall: size, divisor: 1e6, subjects, ...(p.crc32Ieee !== null ? { notes: [CRC_NOTE] } : {}) }
  })
}

const VARINTS = 1000

/** Values of every varint length (1 to 5 bytes), negative and positive. */
function varintValues (): number[] {
  const out: number[] = []
  const spans = [63, 8191, 1048575, 134217727, 2147483647]
  for (let i = 0; i < VARINTS; i++) {
    const span = spans[i % spans.length]!
    const v = Math.floor(((i * 2654435761) % 4294967296) / 4294967296 * span)
    out.push(i % 2 === 0 ? v : -v - 1)
  }
  return out
}

function varintCases (p: MicroPeers): MicroCase[] {
  const values = varintValues()
  const out = new Uint8Array(VARINTS * 5)
  const spoolEncode = (): Uint8Array => {
    let pos = 0
    for (let i = 0; i < values.length; i++) pos = writeVarint(out, pos, values[i]!)
    return out.subarray(0, pos)
  }
  const encoded = spoolEncode().slice()
  const encodeSubjects: MicroSubject[] = [{ system: SPOOL, run: spoolEncode, output: spoolEncode }]
  const decodeSubjects: MicroSubject[] = []
  const spoolDecode = (): number[] => {
    const c = new VarintCursor(encoded)
    const got = new Array<number>(VARINTS)
    for (let i = 0; i < VARINTS; i++) got[i] = c.varint()
    return got
  }
  decodeSubjects.push({ system: SPOOL, run: spoolDecode, output: spoolDecode })
  if (p.varint !== null) {
    const v = p.varint
    const theirs = new Uint8Array(VARINTS * 5)
    const encode = (): Uint8Array => {
      let pos = 0
      for (let i = 0; i < values.length; i++) {
        v.encode(zigzag(values[i]!), theirs, pos)
        pos += (v.encode as unknown as { bytes: number }).bytes
      }
      return theirs.subarray(0, pos)
    }
    encodeSubjects.push({ system: 'varint', run: encode, output: encode })
    const decode = (): number[] => {
      const got = new Array<number>(VARINTS)
      let pos = 0
      for (let i = 0; i < VARINTS; i++) {
        got[i] = unzigzag(v.decode(encoded, pos))
        pos += v.decode.bytes!
      }
      return got
    }
    decodeSubjects.push({ system: 'varint', run: decode, output: decode })
  }
  if (p.kafkajs !== null) {
    const k = p.kafkajs
    const encode = (): Uint8Array => {
      const e = new k.Encoder()
      for (let i = 0; i < values.length; i++) e.writeVarInt(values[i]!)
      return e.buffer
    }
    encodeSubjects.push({ system: 'kafkajs', run: encode, output: encode })
    const buf = asBuffer(encoded)
    const decode = (): number[] => {
      const d = new k.Decoder(buf)
      const got = new Array<number>(VARINTS)
      for (let i = 0; i < VARINTS; i++) got[i] = d.readVarInt()
      return got
    }
    decodeSubjects.push({ system: 'kafkajs', run: decode, output: decode })
  }
  const notes = ['varint encodes unsigned varints: the zigzag step of Kafka\'s signed varints is done around its calls (a shift and a xor each)']
  return [
    { name: `varint encode (${VARINTS.toLocaleString('en-US')} zigzag varints, 1-5 bytes)`, metric: 'varints/s', unit: '/s', itemsPerCall: VARINTS, divisor: 1, subjects: encodeSubjects, notes },
    { name: `varint decode (${VARINTS.toLocaleString('en-US')} zigzag varints, 1-5 bytes)`, metric: 'varints/s', unit: '/s', itemsPerCall: VARINTS, divisor: 1, subjects: decodeSubjects, notes },
  ]
}

const BATCH_RECORDS = 100
const BASE_TIMESTAMP = 1_700_000_000_000

function batchRecords (): RecordInput[] {
  const out: RecordInput[] = []
  for (let i = 0; i < BATCH_RECORDS; i++) {
    out.push({ key: new TextEncoder().encode(`key-${String(i).padStart(4, '0')}`), value: bytesOf(100, i + 7), timestamp: BASE_TIMESTAMP + i })
  }
  return out
}

function recordBatchCases (p: MicroPeers): MicroCase[] {
  const records = batchRecords()
  // No idempotence: producer id, epoch and base sequence -1, as Kafka's clients send them.
  const options = { baseOffset: 0, partitionLeaderEpoch: 0, producerId: -1, producerEpoch: -1, baseSequence: -1 }
  const spoolEncode = (): Uint8Array => encodeBatch(records, options)
  const bytes = spoolEncode()
  const view = (r: { offset: number | string, timestamp: number | string, key: Uint8Array | null, value: Uint8Array | null }): unknown =>
    ({ offset: Number(r.offset), timestamp: Number(r.timestamp), key: r.key, value: r.value })
  const spoolDecode = (): unknown => decodeBatch(bytes).records.map(view)
  const encodeSubjects: MicroSubject[] = [{ system: SPOOL, run: spoolEncode, output: spoolEncode }]
  const decodeSubjects: MicroSubject[] = [{ system: SPOOL, run: () => decodeBatch(bytes), output: spoolDecode }]
  if (p.kafkajs !== null) {
    const k = p.kafkajs
    const input = records.map((r, i) => ({ key: asBuffer(r.key!), value: asBuffer(r.value!), offsetDelta: i, timestampDelta: r.timestamp! - BASE_TIMESTAMP }))
    // What kafkajs' producer does per batch (produce request v3+): a Record per message, then the batch.
    const encode = async (): Promise<Uint8Array> => (await k.RecordBatch({
      firstTimestamp: BASE_TIMESTAMP,
      maxTimestamp: BASE_TIMESTAMP + BATCH_RECORDS - 1,
      lastOffsetDelta: BATCH_RECORDS - 1,
      partitionLeaderEpoch: 0,
      producerId: k.Long.fromValue(-1),
      producerEpoch: -1,
      firstSequence: -1,
      records: input.map(r => k.Record(r)),
    })).buffer
    encodeSubjects.push({ system: 'kafkajs', run: encode, async: true, output: encode })
    const buf = asBuffer(bytes)
    const decode = async (): Promise<unknown> => (await k.decodeRecordBatch(new k.Decoder(buf))).records
    decodeSubjects.push({ system: 'kafkajs', run: decode, async: true, output: async () => ((await decode()) as Parameters<typeof view>[0][]).map(view) })
  }
  const notes = [
    'RecordBatch rows count records per second; one call is a batch of 100 records (12 B keys, 100 B values, no headers, uncompressed). kafkajs\' encoder and decoder are async functions, awaited per batch as its producer and consumer do; its decoder does not check the CRC, Spool\'s does',
  ]
  return [
    { name: `RecordBatch encode (${BATCH_RECORDS} records of 100 B)`, metric: 'records/s', unit: '/s', itemsPerCall: BATCH_RECORDS, divisor: 1, subjects: encodeSubjects, notes },
    { name: `RecordBatch decode (${BATCH_RECORDS} records of 100 B)`, metric: 'records/s', unit: '/s', itemsPerCall: BATCH_RECORDS, divisor: 1, subjects: decodeSubjects, notes },
  ]
}

/** A QoS 1 PUBLISH (MQTT 3.1.1): fixed header, topic, packet id 42, 64-byte payload. */
export function publishPacket (): Uint8Array {
  const topic = new TextEncoder().encode('devices/sensor-0017/temperature')
  const payload = bytesOf(64, 3)
  const remaining = 2 + topic.length + 2 + payload.length
  const packet = new Uint8Array(2 + remaining)
  packet[0] = 0x32 // PUBLISH, QoS 1
  packet[1] = remaining // < 128: one byte of Remaining Length
  packet[2] = topic.length >> 8
  packet[3] = topic.length & 0xff
  packet.set(topic, 4)
  packet[4 + topic.length] = 0
  packet[5 + topic.length] = 42
  packet.set(payload, 6 + topic.length)
  return packet
}

function mqttCase (p: MicroPeers): MicroCase {
  const packet = publishPacket()
  const decoder = new PacketDecoder()
  const spool = (): PublishPacket => {
    const start = bodyStart(packet)
    return decoder.decode(packet[0]!, packet.subarray(start), packet) as PublishPacket
  }
  const view = (x: { topic?: string, qos?: number, dup?: boolean, retain?: boolean, payload?: Uint8Array }, id: number | undefined): unknown =>
    ({ topic: x.topic, qos: x.qos, dup: x.dup, retain: x.retain, packetId: id, payload: x.payload })
  const subjects: MicroSubject[] = [{ system: SPOOL, run: spool, output: () => { const s = spool(); return view(s, s.packetId) } }]
  if (p.mqttPacket !== null) {
    const parser = p.mqttPacket.parser({ protocolVersion: 4 })
    let last: MqttParsedPacket | null = null
    parser.on('packet', packet => { last = packet })
    parser.on('error', err => { throw err })
    const buf = asBuffer(packet)
    const theirs = (): unknown => {
      parser.parse(buf)
      return last
    }
    subjects.push({
      system: 'mqtt-packet',
      run: theirs,
      output: () => {
        const got = theirs() as MqttParsedPacket | null
        return got === null ? null : view(got, got.messageId)
      },
    })
  }
  return {
    name: 'MQTT PUBLISH decode (QoS 1, 31 B topic, 64 B payload, 3.1.1)', metric: 'packets/s', unit: '/s', itemsPerCall: 1, divisor: 1, subjects,
    notes: ['MQTT: Spool\'s gateway codec checks the topic is well-formed UTF-8 without disallowed code points and leaves the payload a view; mqtt-packet\'s parser (a stream parser fed one whole packet per call) copies it'],
  }
}

/** A Produce v7 request frame (header v1, without its size prefix) with a few body bytes. */
export function kafkaRequestFrame (): Uint8Array {
  const clientId = new TextEncoder().encode('bench-producer-1')
  const frame = new Uint8Array(8 + 2 + clientId.length + 16)
  const dv = new DataView(frame.buffer)
  dv.setInt16(0, 0) // api key: Produce
  dv.setInt16(2, 7)
  dv.setInt32(4, 123456)
  dv.setInt16(8, clientId.length)
  frame.set(clientId, 10)
  return frame
}

function kafkaHeaderCase (p: MicroPeers): MicroCase {
  const frame = kafkaRequestFrame()
  const view = (h: { apiKey: number, apiVersion: number, correlationId: number, clientId: string | null }): unknown =>
    ({ apiKey: h.apiKey, apiVersion: h.apiVersion, correlationId: h.correlationId, clientId: h.clientId })
  const subjects: MicroSubject[] = [{ system: SPOOL, run: () => decodeRequestHeader(frame), output: () => view(decodeRequestHeader(frame)) }]
  if (p.kafkajs !== null) {
    const k = p.kafkajs
    const buf = asBuffer(frame)
    const theirs = (): { apiKey: number, apiVersion: number, correlationId: number, clientId: string | null } => {
      const d = new k.Decoder(buf)
      return { apiKey: d.readInt16(), apiVersion: d.readInt16(), correlationId: d.readInt32(), clientId: d.readString() }
    }
    subjects.push({ system: 'kafkajs', run: theirs, output: () => view(theirs()) })
  }
  return {
    name: 'Kafka request header decode (Produce v7, 16 B client id)', metric: 'headers/s', unit: '/s', itemsPerCall: 1, divisor: 1, subjects,
    notes: ['Kafka header: kafkajs is a client and never decodes request headers; its row reads the same four fields with its Decoder (int16, int16, int32, nullable string). Spool\'s also looks the API up in its registry and checks the version'],
  }
}

/** Every case, with the installed peers. */
export function microCases (peers: MicroPeers): MicroCase[] {
  return [...crcCases(peers), ...varintCases(peers), ...recordBatchCases(peers), mqttCase(peers), kafkaHeaderCase(peers)]
}

export const MICRO_SIZES: Record<'full' | 'quick' | 'tiny', MicroSizes> = {
  full: { sampleMs: 200, samples: 7 },
  quick: { sampleMs: 60, samples: 3 },
  tiny: { sampleMs: 5, samples: 1 },
}

async function main (): Promise<void> {
  const args = parseArgs()
  installNodeCodecs()
  const sizes = bySize(args.mode, MICRO_SIZES)
  const rec = new Recorder('micro', 'Codec micro-benchmarks: Spool\'s CRC-32C, varints, RecordBatch, MQTT and Kafka header decoding vs other JS libraries',
    `One process, no I/O: each operation calibrated to ~${sizes.sampleMs} ms per sample, ${sizes.samples} sample(s) per library taken round-robin, median; outputs checked equal to Spool's before timing.`)
  const peers = loadPeers(!args.noPeers)
  if (args.noPeers) rec.skip('other libraries (--no-peers)')
  else {
    for (const [name, loaded] of [['kafkajs', peers.kafkajs], ['@node-rs/crc32', peers.nodeRs], ['crc-32', peers.crc32Ieee], ['varint', peers.varint], ['mqtt-packet', peers.mqttPacket]] as const) {
      if (loaded === null) rec.skip(`${name}: not installed`)
    }
  }
  rec.note(`Spool's CRC-32C: ${hasNativeCrc32c() ? 'native (@node-rs/crc32) from 1 KiB, pure JS below' : 'pure JS (no native addon installed)'}; "Spool pure JS" is its JS loop alone`)
  rec.config({ ...sizes, node: process.version, nativeCrc32c: hasNativeCrc32c() })
  for (const c of microCases(peers)) {
    const compared = await checkCase(c)
    for (const n of c.notes ?? []) rec.note(n)
    process.stderr.write(`  ${c.name}: ${compared} output(s) checked equal\n`)
    for (const row of await timeCase(c, sizes)) rec.add(row)
  }
  rec.config({ sink: sinkValue() })
  rec.finish(args.json)
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runMain(main)
