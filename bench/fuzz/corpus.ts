/**
 * The frames the codec fuzzers start from, read from the repository's fixtures: native and
 * MQTT frames captured from the SDK and mqtt.js (bench/fuzz/capture.ts), Kafka frames of
 * seven Kafka clients (tests/fixtures/kafka/), and record batches written by librdkafka and
 * kafka-python (tests/fixtures/record-batches/).
 */

import { readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { framesFromJson, type CapturedFrame } from './capture.js'

/** `tests/fixtures/<rest>` of the repository (this file runs from dist/bench/fuzz/). */
export function fixturePath (rest: string): string {
  return fileURLToPath(new URL(`../../../tests/fixtures/${rest}`, import.meta.url))
}

let native: CapturedFrame[] | null = null
let mqttFrames: CapturedFrame[] | null = null

export function nativeFixtureFrames (): CapturedFrame[] {
  native ??= framesFromJson(readFileSync(fixturePath('native/sdk-frames.json'), 'utf8'))
  return native
}

export function mqttFixtureFrames (): CapturedFrame[] {
  mqttFrames ??= framesFromJson(readFileSync(fixturePath('mqtt/mqttjs-frames.json'), 'utf8'))
  return mqttFrames
}

export interface KafkaFixtureFrame {
  client: string
  direction: 'request' | 'response'
  apiKey: number
  apiVersion: number
  /** The frame without its 4-byte size prefix (what the codec decodes). */
  bytes: Uint8Array
}

let kafka: KafkaFixtureFrame[] | null = null

export function kafkaFixtureFrames (): KafkaFixtureFrame[] {
  if (kafka !== null) return kafka
  const dir = fixturePath('kafka')
  const out: KafkaFixtureFrame[] = []
  for (const file of readdirSync(dir).filter(f => f.endsWith('.json')).sort()) {
    const parsed = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as { client: string, frames: Array<{ direction: 'request' | 'response', apiKey: number, apiVersion: number, hex: string }> }
    for (const f of parsed.frames) out.push({ client: parsed.client, direction: f.direction, apiKey: f.apiKey, apiVersion: f.apiVersion, bytes: Uint8Array.from(Buffer.from(f.hex, 'hex')) })
  }
  kafka = out
  return out
}

let batches: Uint8Array[] | null = null

/** The RecordBatch files real Kafka clients wrote (every codec). */
export function recordBatchFixtures (): Uint8Array[] {
  if (batches !== null) return batches
  const dir = fixturePath('record-batches')
  batches = readdirSync(dir).filter(f => f.endsWith('.bin')).sort().map(f => Uint8Array.from(readFileSync(`${dir}/${f}`)))
  return batches
}
