/**
 * MQTT decoders (broker/protocols/mqtt/framer.ts and codec.ts), 3.1.1 and 5: the fixed-header
 * framing under the FrameAssembler, the hand-written PUBLISH and acknowledgement decoders,
 * and the packets decoded through mqtt-packet (CONNECT, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT,
 * AUTH) — every packet type, the ones only servers send included (they must be refused).
 *
 * Inputs: packets mqtt.js sent and received (fixtures), packets of every type and both
 * versions generated with mqtt-packet, mutated; several packets per stream, decoded by one
 * decoder as a connection does.
 *
 * Rules: the decoder never throws; what it refuses is a named MQTT error (MQTT_*); the packets
 * found do not depend on chunking (one byte at a time included); decoded topics and payloads
 * are views inside their packet; a PUBLISH it accepts, mqtt-packet reads with the same topic,
 * payload, QoS, flags and packet id. Property: random packets of every client type, encoded
 * by mqtt-packet (and PUBLISH/acks by the broker's own encoder), decode to what was encoded.
 */

import fc from 'fast-check'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { SpoolError } from '../../../protocol/errors.js'
import { FrameAssembler } from '../../../protocol/bytes/frame-assembler.js'
import { MQTT_MAX_HEADER_BYTES, bodyStart, mqttHeaderReader } from '../../../broker/protocols/mqtt/framer.js'
import { PacketDecoder, encodeAck, encodePublish, type AckCmd, type IncomingPacket, type PublishPacket } from '../../../broker/protocols/mqtt/codec.js'
import { mqttFixtureFrames } from '../corpus.js'
import { FuzzFailure, chunking, chunks, mutate, same, viewsInside, type CodecTarget, type Rng } from '../engine.js'

const MAX_PACKET = 64 * 1024

/** One packet of every type per version (client and server types), for the corpus. */
function examples (version: 4 | 5): Packet[] {
  const v5 = version === 5
  const props = v5 ? { userProperties: { a: 'b' } } : undefined
  return [
    { cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clean: true, clientId: 'fuzz', keepalive: 30, username: 'u', password: Buffer.from('p'),
      will: { topic: 'w/t', payload: Buffer.from('bye'), qos: 1, retain: true, ...(v5 ? { properties: { willDelayInterval: 5, contentType: 'x' } } : {}) },
      ...(v5 ? { properties: { sessionExpiryInterval: 60, receiveMaximum: 10, maximumPacketSize: 4096, topicAliasMaximum: 4, requestProblemInformation: true } } : {}) },
    { cmd: 'connack', sessionPresent: false, ...(v5 ? { reasonCode: 0, properties: { maximumQoS: 1 } } : { returnCode: 0 }) },
    { cmd: 'publish', topic: 'a/b', payload: Buffer.from('hello'), qos: 0, retain: false, dup: false },
    { cmd: 'publish', topic: 'a/b/c', payload: Buffer.alloc(40, 7), qos: 1, messageId: 42, retain: true, dup: true, ...(v5 ? { properties: { messageExpiryInterval: 9, topicAlias: 2, responseTopic: 'r', correlationData: Buffer.from('c'), contentType: 't', payloadFormatIndicator: true, userProperties: { k: ['1', '2'] } } } : {}) },
    { cmd: 'publish', topic: 'q2', payload: Buffer.from(''), qos: 2, messageId: 7, retain: false, dup: false },
    { cmd: 'puback', messageId: 1, ...(v5 ? { reasonCode: 16, properties: { reasonString: 'no' } } : {}) },
    { cmd: 'pubrec', messageId: 2, ...(v5 ? { reasonCode: 0 } : {}) },
    { cmd: 'pubrel', messageId: 3, ...(v5 ? { reasonCode: 0x92 } : {}) },
    { cmd: 'pubcomp', messageId: 4 },
    { cmd: 'subscribe', messageId: 5, subscriptions: [{ topic: 'a/+', qos: 1, ...(v5 ? { nl: true, rap: true, rh: 2 } : {}) }, { topic: '#', qos: 2 }, { topic: '$share/g/x', qos: 0 }], ...(v5 ? { properties: { subscriptionIdentifier: 9, userProperties: { s: '1' } } } : {}) },
    { cmd: 'suback', messageId: 5, granted: [1, 2, 0x80], ...(v5 ? { properties: props } : {}) },
    { cmd: 'unsubscribe', messageId: 6, unsubscriptions: ['a/+', '#'], ...(v5 ? { properties: props } : {}) },
    { cmd: 'unsuback', messageId: 6, ...(v5 ? { granted: [0, 17] } : {}) },
    { cmd: 'pingreq' },
    { cmd: 'pingresp' },
    { cmd: 'disconnect', ...(v5 ? { reasonCode: 4, properties: { sessionExpiryInterval: 0, reasonString: 'bye' } } : {}) },
    ...(v5 ? [{ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM', authenticationData: Buffer.from('x') } } as Packet] : []),
  ] as Packet[]
}

interface Corpus { byVersion: Record<4 | 5, Uint8Array[]>, all: Uint8Array[] }
let cached: Corpus | null = null

function corpus (): Corpus {
  if (cached !== null) return cached
  const byVersion: Record<4 | 5, Uint8Array[]> = { 4: [], 5: [] }
  for (const f of mqttFixtureFrames()) byVersion[f.flow === 'mqtt-v5' ? 5 : 4].push(f.bytes)
  for (const version of [4, 5] as const) {
    for (const p of examples(version)) {
      const b = mqttPacket.generate(p, { protocolVersion: version })
      byVersion[version].push(new Uint8Array(b.buffer, b.byteOffset, b.byteLength))
    }
  }
  cached = { byVersion, all: [...byVersion[4], ...byVersion[5]] }
  return cached
}

/** The first byte says the version the stream is decoded as (the rest is the stream). */
function generate (rng: Rng): Uint8Array {
  const c = corpus()
  const version = rng.chance(0.5) ? 4 : 5
  const r = rng.int(100)
  let stream: Uint8Array
  if (r < 6) {
    stream = rng.bytes(rng.small(64))
  } else {
    const n = rng.chance(0.6) ? 1 : rng.range(2, 5)
    const parts: Uint8Array[] = []
    for (let i = 0; i < n; i++) {
      const base = rng.pick(c.byVersion[version])
      parts.push(rng.chance(0.8) ? mutate(base, rng, c.all) : base)
    }
    stream = Buffer.concat(parts)
  }
  const out = new Uint8Array(stream.length + 1)
  out[0] = version
  out.set(stream, 1)
  return out
}

type Outcome = { cmd: string } | { error: string }

const CONNECT: Record<4 | 5, Uint8Array> = {
  4: mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'fuzz', keepalive: 30 }),
  5: mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'fuzz', keepalive: 30 }, { protocolVersion: 5 }),
}

/** Decodes a stream as a connection does: one decoder, stop at the first refusal. */
function decodeStream (stream: Uint8Array, version: 4 | 5, cuts: readonly number[], onPacket?: (p: IncomingPacket, whole: Uint8Array) => void): Outcome[] {
  const assembler = new FrameAssembler(mqttHeaderReader(MAX_PACKET), MQTT_MAX_HEADER_BYTES)
  const decoder = new PacketDecoder()
  // As on a connection: the CONNECT fixes the version (of the decoder and of mqtt-packet's parser).
  const hello = CONNECT[version]
  const greeted = decoder.decode(hello[0]!, hello.subarray(bodyStart(hello)), hello)
  if (greeted instanceof SpoolError || decoder.version !== version) throw new FuzzFailure(`the v${version} CONNECT does not decode`)
  const out: Outcome[] = []
  let stopped = false
  for (const chunk of chunks(stream, cuts)) {
    if (stopped) break
    try {
      assembler.push(chunk, whole => {
        let r: IncomingPacket | SpoolError
        try {
          r = decoder.decode(whole[0]!, whole.subarray(bodyStart(whole)), whole)
        } catch (err) {
          throw new FuzzFailure(`PacketDecoder.decode threw ${(err as Error)?.name}: ${(err as Error)?.message}`)
        }
        if (r instanceof SpoolError) {
          if (!r.code.startsWith('MQTT_')) throw new FuzzFailure(`decoder refused with ${r.code}, not an MQTT error`)
          out.push({ error: r.code })
          stopped = true
          return false
        }
        viewsInside(r, whole, `decoded ${r.cmd}`)
        onPacket?.(r, whole)
        out.push({ cmd: r.cmd })
        return true
      })
    } catch (err) {
      if (err instanceof FuzzFailure) throw err
      if (!(err instanceof SpoolError) || !err.code.startsWith('MQTT_')) throw new FuzzFailure(`framing threw ${(err as Error)?.name}: ${(err as Error)?.message}`)
      out.push({ error: err.code })
      stopped = true
    }
  }
  return out
}

/** mqtt-packet's reading of one PUBLISH packet (null if it refuses it). */
function referencePublish (whole: Uint8Array, version: 4 | 5): Packet | null {
  const parser = mqttPacket.parser({ protocolVersion: version })
  let got: Packet | null = null
  let failed = false
  parser.on('packet', p => { got = p })
  parser.on('error', () => { failed = true })
  try {
    parser.parse(Buffer.from(whole.buffer, whole.byteOffset, whole.byteLength))
  } catch {
    return null
  }
  return failed ? null : got
}

function comparePublish (p: PublishPacket, whole: Uint8Array, version: 4 | 5): void {
  const ref = referencePublish(whole, version) as (Packet & { topic: string, payload: Buffer, qos: number, retain: boolean, dup: boolean, messageId?: number }) | null
  if (ref === null || ref.cmd !== 'publish') return // mqtt-packet is laxer or stricter elsewhere; fields are compared when both read it
  if (ref.topic !== p.topic || !same(new Uint8Array(ref.payload), p.payload) || ref.qos !== p.qos || ref.retain !== p.retain || ref.dup !== p.dup ||
    (p.qos > 0 && ref.messageId !== p.packetId)) {
    throw new FuzzFailure(`PUBLISH read differently by mqtt-packet: topic ${JSON.stringify(ref.topic)} vs ${JSON.stringify(p.topic)}, payload ${ref.payload.length} vs ${p.payload.length} bytes, qos ${ref.qos}/${p.qos}, id ${ref.messageId}/${p.packetId}`)
  }
}

function check (input: Uint8Array, rng: Rng): string {
  if (input.length === 0) return 'empty'
  const version = input[0] === 5 ? 5 : 4
  const stream = input.subarray(1)
  const whole = decodeStream(stream, version, [stream.length], (p, bytes) => { if (p.cmd === 'publish') comparePublish(p, bytes, version) })
  const split = decodeStream(stream, version, chunking(stream.length, rng))
  if (!same(whole, split)) throw new FuzzFailure(`packets depend on chunking: ${JSON.stringify(whole)} whole, ${JSON.stringify(split)} chunked`)
  const refused = whole.some(o => 'error' in o)
  const decoded = whole.filter(o => 'cmd' in o).length
  return refused ? (decoded > 0 ? 'packets, then refused' : 'refused') : decoded > 0 ? 'packets' : 'incomplete'
}

// ----- property: valid packets of every client type -----

const topicName = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter(s => !/[+#\u0000-\u001f\u007f-\u009f\ufdd0-\ufdef\ufffe\uffff]/.test(s))
const filter = fc.oneof(topicName, fc.constantFrom('#', '+', 'a/+/b', 'a/#', '$share/g/a'))
const userProps = fc.dictionary(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 6 }), fc.string({ unit: 'grapheme-ascii', maxLength: 6 }), { minKeys: 1, maxKeys: 2 })
const id = fc.integer({ min: 1, max: 0xffff })

function packetArb (version: 4 | 5): fc.Arbitrary<Packet> {
  const v5 = version === 5
  const props = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => (v5 ? fc.option(arb, { nil: undefined }) : fc.constant(undefined))
  const publish = fc.record({
    topic: topicName, payload: fc.uint8Array({ maxLength: 100 }), qos: fc.constantFrom(0, 1, 2), retain: fc.boolean(), dup: fc.boolean(), messageId: id,
    properties: props(fc.record({ messageExpiryInterval: fc.nat(), contentType: topicName, userProperties: userProps }, { requiredKeys: [] })),
  }).map(p => ({ cmd: 'publish', ...p, dup: p.qos === 0 ? false : p.dup, payload: Buffer.from(p.payload), ...(p.properties === undefined ? { properties: undefined } : {}) }) as unknown as Packet)
  const ack = fc.record({ cmd: fc.constantFrom('puback', 'pubrec', 'pubrel', 'pubcomp'), messageId: id, reasonCode: v5 ? fc.constantFrom(0, 0x10, 0x80, 0x92) : fc.constant(undefined) })
    .map(a => ({ cmd: a.cmd, messageId: a.messageId, ...(a.reasonCode === undefined ? {} : { reasonCode: a.reasonCode }) }) as unknown as Packet)
  const connect = fc.record({
    clientId: fc.string({ unit: 'grapheme-ascii', maxLength: 20 }), clean: fc.boolean(), keepalive: fc.integer({ min: 0, max: 600 }),
    username: fc.option(fc.string({ unit: 'grapheme-ascii', maxLength: 8 }), { nil: undefined }),
  }).map(c => ({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, ...c, ...(c.username === undefined ? {} : { username: c.username }) }) as unknown as Packet)
  const subscribe = fc.record({ messageId: id, subscriptions: fc.array(fc.record({ topic: filter, qos: fc.constantFrom(0, 1, 2) }), { minLength: 1, maxLength: 4 }) })
    .map(s => ({ cmd: 'subscribe', ...s }) as unknown as Packet)
  const unsubscribe = fc.record({ messageId: id, unsubscriptions: fc.array(filter, { minLength: 1, maxLength: 4 }) }).map(u => ({ cmd: 'unsubscribe', ...u }) as unknown as Packet)
  const disconnect = fc.constant({ cmd: 'disconnect' } as Packet)
  const ping = fc.constant({ cmd: 'pingreq' } as Packet)
  return fc.oneof(publish, ack, connect, subscribe, unsubscribe, disconnect, ping)
}

function expectPacket (sent: Record<string, unknown>, got: IncomingPacket, version: 4 | 5): void {
  if (got.cmd !== sent.cmd) throw new FuzzFailure(`sent ${String(sent.cmd)}, decoded ${got.cmd}`)
  if (got.cmd === 'publish') {
    const p = got as PublishPacket
    if (p.topic !== sent.topic || !same(p.payload, new Uint8Array(sent.payload as Buffer)) || p.qos !== sent.qos || p.retain !== sent.retain ||
      (p.qos > 0 && (p.packetId !== sent.messageId || p.dup !== sent.dup))) {
      throw new FuzzFailure(`PUBLISH v${version} differs`)
    }
  } else if (['puback', 'pubrec', 'pubrel', 'pubcomp'].includes(got.cmd)) {
    const a = got as { packetId: number, reasonCode: number }
    if (a.packetId !== sent.messageId || a.reasonCode !== ((sent.reasonCode as number | undefined) ?? 0)) throw new FuzzFailure(`${got.cmd} v${version} differs`)
  } else if (got.cmd === 'subscribe' || got.cmd === 'unsubscribe') {
    const list = got.cmd === 'subscribe' ? (got as { subscriptions: Array<{ topic: string }> }).subscriptions.map(s => s.topic) : (got as { unsubscriptions: string[] }).unsubscriptions
    const want = got.cmd === 'subscribe' ? (sent.subscriptions as Array<{ topic: string }>).map(s => s.topic) : sent.unsubscriptions as string[]
    if (!same(list, want)) throw new FuzzFailure(`${got.cmd} v${version} filters differ`)
  } else if (got.cmd === 'connect') {
    if ((got as { clientId: string }).clientId !== sent.clientId) throw new FuzzFailure(`CONNECT v${version} client id differs`)
  }
}

function property (): fc.IRawProperty<unknown[]> {
  const v = fc.constantFrom(4 as const, 5 as const)
  return fc.property(v.chain(version => fc.tuple(fc.constant(version), packetArb(version), fc.boolean())), ([version, packet, ownEncoder]) => {
    const sent = packet as unknown as Record<string, unknown>
    let bytes: Uint8Array
    if (ownEncoder && sent.cmd === 'publish') {
      bytes = encodePublish({ topicBytes: new TextEncoder().encode(sent.topic as string), packetId: sent.messageId as number, qos: sent.qos as 0 | 1 | 2, retain: sent.retain as boolean, dup: sent.dup as boolean, payload: new Uint8Array(sent.payload as Buffer), properties: null }, version)
    } else if (ownEncoder && ['puback', 'pubrec', 'pubrel', 'pubcomp'].includes(sent.cmd as string)) {
      bytes = encodeAck(sent.cmd as AckCmd, sent.messageId as number, (sent.reasonCode as number | undefined) ?? 0, version)
    } else {
      // mqtt-packet refuses some packets (an empty client id without clean) and writes nothing
      // for others it cannot encode (an empty userProperties): those are not cases.
      let generated: Buffer | null = null
      try {
        generated = mqttPacket.generate(packet, { protocolVersion: version })
      } catch {
        generated = null
      }
      fc.pre(generated !== null && generated.length > 0)
      bytes = generated!
    }
    const decoded: IncomingPacket[] = []
    const outcome = decodeStream(bytes, version, [bytes.length], p => { decoded.push(p) })
    if (decoded.length !== 1) throw new FuzzFailure(`v${version} ${String(sent.cmd)}: ${JSON.stringify(outcome)}`)
    expectPacket(sent, decoded[0]!, version)
  }) as fc.IRawProperty<unknown[]>
}

export const mqttTarget: CodecTarget = {
  name: 'mqtt',
  summary: 'MQTT 3.1.1 and 5 framing and packet decoding, every packet type',
  propertyShare: 0.2,
  property,
  generate,
  check,
}
