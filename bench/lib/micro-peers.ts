/**
 * The other JavaScript libraries the codec micro-benchmarks (bench/scenarios/micro.ts) time
 * beside Spool, loaded by name with a typed view of the few functions used. kafkajs' record
 * batch, encoder and decoder are its internal modules (kafkajs/src/...), not its public API:
 * they are what its producer and consumer run. Each loader returns null when the package
 * is not installed, so the scenario can say what it skipped.
 */

import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

function load<T> (id: string): T | null {
  try {
    return require(id) as T
  } catch {
    return null
  }
}

export interface NodeRsCrc32 { crc32c (data: Buffer, initial?: number): number, crc32 (data: Buffer, initial?: number): number }
/** SheetJS crc-32: `crc-32` is IEEE CRC-32, `crc-32/crc32c` CRC-32C; both return signed ints. */
export interface SheetJsCrc { buf (data: Uint8Array, seed?: number): number }
export interface VarintPackage {
  encode (n: number, buf?: Uint8Array, offset?: number): Uint8Array
  decode: ((buf: Uint8Array, offset?: number) => number) & { bytes?: number }
}

export interface KafkajsEncoder {
  writeVarInt (n: number): KafkajsEncoder
  readonly buffer: Buffer
}
export interface KafkajsDecoder {
  readVarInt (): number
  readInt16 (): number
  readInt32 (): number
  readString (): string | null
  offset: number
}
export interface KafkajsRecordInput { offsetDelta: number, timestampDelta: number, key: Buffer | null, value: Buffer | null, headers?: Record<string, string> }
export interface KafkajsRecordBatchInput {
  firstOffset?: unknown
  firstTimestamp: number
  maxTimestamp: number
  partitionLeaderEpoch?: number
  lastOffsetDelta: number
  producerId?: unknown
  producerEpoch?: number
  firstSequence?: number
  records: unknown[]
}
export interface KafkajsDecodedRecord { offset: string, timestamp: string, key: Buffer | null, value: Buffer | null }

export interface Kafkajs {
  crc32c (data: Buffer): number
  Encoder: new () => KafkajsEncoder
  Decoder: new (buffer: Buffer) => KafkajsDecoder
  Record (input: KafkajsRecordInput): unknown
  RecordBatch (input: KafkajsRecordBatchInput): Promise<{ buffer: Buffer }>
  decodeRecordBatch (decoder: KafkajsDecoder): Promise<{ records: KafkajsDecodedRecord[] }>
  /** kafkajs' Long (its int64 type), for the producer id -1. */
  Long: { fromValue (v: number): unknown }
}

export interface MqttParsedPacket { cmd: string, topic?: string, qos?: number, messageId?: number, dup?: boolean, retain?: boolean, payload?: Buffer }
export interface MqttPacketParser {
  on (event: 'packet', fn: (packet: MqttParsedPacket) => void): void
  on (event: 'error', fn: (err: Error) => void): void
  parse (buf: Buffer): number
}
export interface MqttPacket { parser (options?: { protocolVersion?: number }): MqttPacketParser }

export const loadNodeRsCrc32 = (): NodeRsCrc32 | null => load<NodeRsCrc32>('@node-rs/crc32')
export const loadCrc32Ieee = (): SheetJsCrc | null => load<SheetJsCrc>('crc-32')
export const loadCrc32cSheetJs = (): SheetJsCrc | null => load<SheetJsCrc>('crc-32/crc32c')
export const loadVarint = (): VarintPackage | null => load<VarintPackage>('varint')
export const loadMqttPacket = (): MqttPacket | null => load<MqttPacket>('mqtt-packet')

export function loadKafkajs (): Kafkajs | null {
  const crc32c = load<(data: Buffer) => number>('kafkajs/src/protocol/recordBatch/crc32C/index.js')
  const Encoder = load<Kafkajs['Encoder']>('kafkajs/src/protocol/encoder.js')
  const Decoder = load<Kafkajs['Decoder']>('kafkajs/src/protocol/decoder.js')
  const Record = load<Kafkajs['Record']>('kafkajs/src/protocol/recordBatch/record/v0/index.js')
  const RecordBatch = load<{ RecordBatch: Kafkajs['RecordBatch'] }>('kafkajs/src/protocol/recordBatch/v0/index.js')?.RecordBatch ?? null
  const decodeRecordBatch = load<Kafkajs['decodeRecordBatch']>('kafkajs/src/protocol/recordBatch/v0/decoder.js')
  const Long = load<Kafkajs['Long']>('kafkajs/src/utils/long.js')
  if (crc32c === null || Encoder === null || Decoder === null || Record === null || RecordBatch === null || decodeRecordBatch === null || Long === null) return null
  return { crc32c, Encoder, Decoder, Record, RecordBatch, decodeRecordBatch, Long }
}
