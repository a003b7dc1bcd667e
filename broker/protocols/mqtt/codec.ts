/**
 * MQTT packet decoding and encoding for the gateway. The hot packets (PUBLISH, the four
 * acknowledgements, PINGREQ/PINGRESP) are read and written here directly, without
 * intermediate objects beyond the packet itself; the rest (CONNECT, SUBSCRIBE, UNSUBSCRIBE,
 * DISCONNECT, AUTH in, CONNACK, SUBACK, UNSUBACK, DISCONNECT out) go through mqtt-packet,
 * fed one whole, already size-checked packet at a time (framer.ts).
 *
 * PUBLISH (3.1.1 §3.3, 5.0 §3.3):
 *   fixed header  0x30 | dup << 3 | qos << 1 | retain
 *   topic         uint16 length + UTF-8                                 [MQTT-3.3.2-1]
 *   packet id     uint16, only when qos > 0, never 0                    [MQTT-2.3.1-1]
 *   properties    (v5) variable byte integer length + properties        §3.3.2.3
 *   payload       the rest of the packet
 * PUBACK/PUBREC/PUBREL/PUBCOMP: packet id uint16, then (v5, optional) reason code and
 * properties; a v5 sender may omit the reason code when it is 0 and there are no
 * properties [MQTT-3.4.2-1]. PUBREL's header flags must be 0b0010 [MQTT-3.6.1-1].
 */

import mqttPacket from 'mqtt-packet'
import type {
  IAuthPacket, IConnectPacket, IDisconnectPacket, ISubscribePacket, IUnsubscribePacket, Packet,
} from 'mqtt-packet'
import { MqttMalformedPacketError, MqttProtocolError, type SpoolError } from '../../../protocol/errors.js'
import { DISALLOWED_CODE_POINTS } from './topics.js'

export type QoS = 0 | 1 | 2
export type UserProperty = [string, string]

export interface PublishProperties {
  payloadFormatIndicator?: boolean
  messageExpiryInterval?: number
  topicAlias?: number
  responseTopic?: string
  correlationData?: Uint8Array
  userProperties?: UserProperty[]
  subscriptionIdentifiers?: number[]
  contentType?: string
}

export interface PublishPacket {
  cmd: 'publish'
  qos: QoS
  dup: boolean
  retain: boolean
  topic: string
  /** The topic as it arrived (a view into the packet). */
  topicBytes: Uint8Array
  /** 0 for QoS 0. */
  packetId: number
  payload: Uint8Array
  properties: PublishProperties | null
}

export type AckCmd = 'puback' | 'pubrec' | 'pubrel' | 'pubcomp'

export interface AckPacket {
  cmd: AckCmd
  packetId: number
  reasonCode: number
}

export interface PingPacket { cmd: 'pingreq' }

export type IncomingPacket =
  | PublishPacket | AckPacket | PingPacket
  | IConnectPacket | ISubscribePacket | IUnsubscribePacket | IDisconnectPacket | IAuthPacket

export const PacketType = {
  connect: 1, connack: 2, publish: 3, puback: 4, pubrec: 5, pubrel: 6, pubcomp: 7,
  subscribe: 8, suback: 9, unsubscribe: 10, unsuback: 11, pingreq: 12, pingresp: 13, disconnect: 14, auth: 15,
} as const

const ACK_CMDS: Record<number, AckCmd> = { 4: 'puback', 5: 'pubrec', 6: 'pubrel', 7: 'pubcomp' }
const ACK_TYPES: Record<AckCmd, number> = { puback: 4, pubrec: 5, pubrel: 6, pubcomp: 7 }

// mqtt-packet pre-builds 65,536 two-byte buffers (~8 MB) the first time it encodes unless
// told not to; the gateway encodes only the rarer packets with it, so it allocates per use.
mqttPacket.writeToStream.cacheNumbers = false

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
const utf8 = new TextEncoder()

/**
 * A UTF-8 string from the wire: well-formed, without U+0000 [MQTT-1.5.3-1, MQTT-1.5.3-2]
 * and without the control characters and non-characters Mosquitto refuses (topics.ts).
 */
export function decodeMqttString (bytes: Uint8Array): string | null {
  let s: string
  try {
    s = strictUtf8.decode(bytes)
  } catch {
    return null
  }
  return DISALLOWED_CODE_POINTS.test(s) ? null : s
}

const PROP = {
  payloadFormatIndicator: 0x01, messageExpiryInterval: 0x02, contentType: 0x03, responseTopic: 0x08,
  correlationData: 0x09, subscriptionIdentifier: 0x0b, topicAlias: 0x23, userProperty: 0x26,
} as const

/**
 * mqtt-packet parsers shared by every connection — one for CONNECT, one per protocol version
 * for the packets after it: each is fed one whole, size-checked packet at a time and so is
 * back in its initial state after each parse; one that failed or stopped mid-packet is
 * replaced. (A parser costs ~1.5 KB — an EventEmitter, a BufferList stream, a Packet — which a
 * parser per connection, or per CONNECT, would cost per device.) CONNECT has its own because
 * mqtt-packet takes its settings from a CONNECT it parses; its parsing reads only the packet.
 */
type MqttParser = ReturnType<typeof mqttPacket.parser>
interface ParseOutcome { packet: Packet | null, error: Error | null }
const sharedParsers = new Map<4 | 5 | 'connect', { parser: MqttParser, outcome: ParseOutcome }>()

function newParser (version: 4 | 5 | null): { parser: MqttParser, outcome: ParseOutcome } {
  const parser = version === null ? mqttPacket.parser() : mqttPacket.parser({ protocolVersion: version })
  const outcome: ParseOutcome = { packet: null, error: null }
  parser.on('packet', (p: Packet) => { outcome.packet = p })
  parser.on('error', (err: Error) => { outcome.error = err })
  return { parser, outcome }
}

/** Decodes one packet per call; one instance per connection (it tracks the protocol version). */
export class PacketDecoder {
  /** 4 (3.1.1) or 5, fixed by CONNECT; 3 (3.1) is decoded as 4. */
  version: 4 | 5 = 4

  decode (first: number, body: Uint8Array, whole: Uint8Array): IncomingPacket | SpoolError {
    const type = first >> 4
    const flags = first & 0x0f
    switch (type) {
      case PacketType.publish: return this.#publish(flags, body)
      case PacketType.puback:
      case PacketType.pubrec:
      case PacketType.pubrel:
      case PacketType.pubcomp: {
        const expected = type === PacketType.pubrel ? 0b0010 : 0
        if (flags !== expected) return new MqttMalformedPacketError(`${ACK_CMDS[type]!} with header flags ${flags} [MQTT-2.2.2-2]`)
        return this.#ack(ACK_CMDS[type]!, body)
      }
      case PacketType.pingreq:
        if (flags !== 0 || body.length !== 0) return new MqttMalformedPacketError('PINGREQ with flags or a body [MQTT-2.2.2-2]')
        return { cmd: 'pingreq' }
      case PacketType.connect:
      case PacketType.subscribe:
      case PacketType.unsubscribe:
      case PacketType.disconnect:
      case PacketType.auth:
        return this.#viaMqttPacket(type, whole)
      default:
        return new MqttProtocolError(`packet type ${type} is not sent by clients (${first.toString(16)})`)
    }
  }

  #viaMqttPacket (type: number, whole: Uint8Array): IncomingPacket | SpoolError {
    const key = type === PacketType.connect ? 'connect' : this.version
    let entry = sharedParsers.get(key)
    if (entry === undefined) {
      entry = newParser(key === 'connect' ? null : key)
      sharedParsers.set(key, entry)
    }
    const outcome = entry.outcome
    outcome.packet = null
    outcome.error = null
    let thrown: unknown = null
    try {
      entry.parser.parse(Buffer.from(whole.buffer, whole.byteOffset, whole.byteLength))
    } catch (err) {
      thrown = err
    }
    const p = outcome.packet as Packet | null
    const parseError = outcome.error as Error | null
    outcome.packet = null
    outcome.error = null
    if (thrown !== null || parseError !== null || p === null) sharedParsers.delete(key)
    // The CONNECT parser keeps the last CONNECT as its settings: let go of it (credentials).
    else if (key === 'connect') (entry.parser as unknown as { settings: object }).settings = {}
    if (thrown !== null) return new MqttMalformedPacketError(`undecodable packet: ${(thrown as Error).message}`, { cause: thrown })
    if (parseError !== null) return new MqttMalformedPacketError(parseError.message, { cause: parseError })
    if (p === null) return new MqttMalformedPacketError('packet shorter than its remaining length')
    if (p.cmd === 'connect') this.version = p.protocolVersion === 5 ? 5 : 4
    return p as IncomingPacket
  }

  #ack (cmd: AckCmd, body: Uint8Array): AckPacket | SpoolError {
    if (body.length < 2) return new MqttMalformedPacketError(`${cmd} shorter than a packet id`)
    if (this.version === 4 && body.length !== 2) return new MqttMalformedPacketError(`${cmd} of ${body.length} bytes (3.1.1 allows 2)`)
    const packetId = (body[0]! << 8) | body[1]!
    if (packetId === 0) return new MqttProtocolError(`${cmd} with packet id 0 [MQTT-2.3.1-1]`)
    return { cmd, packetId, reasonCode: body.length > 2 ? body[2]! : 0 }
  }

  #publish (flags: number, body: Uint8Array): PublishPacket | SpoolError {
    const qos = (flags >> 1) & 3
    if (qos === 3) return new MqttMalformedPacketError('PUBLISH with QoS 3 [MQTT-3.3.1-4]')
    const dup = (flags & 8) !== 0
    if (dup && qos === 0) return new MqttProtocolError('PUBLISH QoS 0 with DUP set [MQTT-3.3.1-2]')
    if (body.length < 2) return new MqttMalformedPacketError('PUBLISH without a topic length')
    const topicLength = (body[0]! << 8) | body[1]!
    let pos = 2 + topicLength
    if (pos > body.length) return new MqttMalformedPacketError('PUBLISH topic runs past the packet')
    const topicBytes = body.subarray(2, pos)
    const topic = decodeMqttString(topicBytes)
    if (topic === null) return new MqttMalformedPacketError('PUBLISH topic is not well-formed UTF-8 [MQTT-1.5.3-1]')
    let packetId = 0
    if (qos > 0) {
      if (pos + 2 > body.length) return new MqttMalformedPacketError('PUBLISH without a packet id')
      packetId = (body[pos]! << 8) | body[pos + 1]!
      if (packetId === 0) return new MqttProtocolError('PUBLISH with packet id 0 [MQTT-2.3.1-1]')
      pos += 2
    }
    let properties: PublishProperties | null = null
    if (this.version === 5) {
      const len = readVarint(body, pos)
      if (len === null) return new MqttMalformedPacketError('PUBLISH properties length is malformed')
      pos = len.next
      const end = pos + len.value
      if (end > body.length) return new MqttMalformedPacketError('PUBLISH properties run past the packet')
      if (len.value > 0) {
        const decoded = decodePublishProperties(body, pos, end)
        if (!('kind' in decoded)) properties = decoded
        else return decoded.error
      }
      pos = end
    }
    return { cmd: 'publish', qos: qos as QoS, dup, retain: (flags & 1) !== 0, topic, topicBytes, packetId, payload: body.subarray(pos), properties }
  }
}

function readVarint (bytes: Uint8Array, start: number): { value: number, next: number } | null {
  let value = 0
  let multiplier = 1
  for (let i = start; i < bytes.length && i < start + 4; i++) {
    const b = bytes[i]!
    value += (b & 0x7f) * multiplier
    if ((b & 0x80) === 0) return { value, next: i + 1 }
    multiplier *= 128
  }
  return null
}

function decodePublishProperties (b: Uint8Array, start: number, end: number): PublishProperties | { kind: 'error', error: SpoolError } {
  const props: PublishProperties = {}
  const seen = new Set<number>()
  const bad = (why: string, protocol = false): { kind: 'error', error: SpoolError } =>
    ({ kind: 'error', error: protocol ? new MqttProtocolError(why) : new MqttMalformedPacketError(why) })
  let pos = start
  const str = (): string | null => {
    if (pos + 2 > end) return null
    const n = (b[pos]! << 8) | b[pos + 1]!
    if (pos + 2 + n > end) return null
    const s = decodeMqttString(b.subarray(pos + 2, pos + 2 + n))
    pos += 2 + n
    return s
  }
  while (pos < end) {
    const id = b[pos++]!
    if (id !== PROP.userProperty) {
      // Every PUBLISH property but User Property may appear once [MQTT-2.2.2-2 / 5.0 §2.2.2.2].
      if (seen.has(id)) return bad(`PUBLISH property 0x${id.toString(16)} repeated`, true)
      seen.add(id)
    }
    switch (id) {
      case PROP.payloadFormatIndicator:
        if (pos >= end) return bad('truncated payload format indicator')
        props.payloadFormatIndicator = b[pos++] === 1
        break
      case PROP.messageExpiryInterval:
        if (pos + 4 > end) return bad('truncated message expiry interval')
        props.messageExpiryInterval = ((b[pos]! << 24) >>> 0) + (b[pos + 1]! << 16) + (b[pos + 2]! << 8) + b[pos + 3]!
        pos += 4
        break
      case PROP.topicAlias:
        if (pos + 2 > end) return bad('truncated topic alias')
        props.topicAlias = (b[pos]! << 8) | b[pos + 1]!
        pos += 2
        break
      case PROP.contentType:
      case PROP.responseTopic: {
        const s = str()
        if (s === null) return bad('malformed string property')
        if (id === PROP.contentType) props.contentType = s
        else if (s === '' || s.includes('+') || s.includes('#')) return bad('Response Topic must be a topic name, without wildcards [MQTT-3.3.2-14]', true)
        else props.responseTopic = s
        break
      }
      case PROP.correlationData: {
        if (pos + 2 > end) return bad('truncated correlation data')
        const n = (b[pos]! << 8) | b[pos + 1]!
        if (pos + 2 + n > end) return bad('truncated correlation data')
        props.correlationData = b.subarray(pos + 2, pos + 2 + n)
        pos += 2 + n
        break
      }
      case PROP.userProperty: {
        const k = str()
        const v = k === null ? null : str()
        if (k === null || v === null) return bad('malformed user property')
        ;(props.userProperties ??= []).push([k, v])
        break
      }
      case PROP.subscriptionIdentifier:
        return bad('a client PUBLISH carries a subscription identifier [MQTT-3.3.4-6]', true)
      default:
        return bad(`unknown PUBLISH property 0x${id.toString(16)}`)
    }
  }
  return props
}

// ----- encoding -----

function varintSize (n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4
}

/** Writes MQTT's variable byte integer at `pos` (into a buffer, or onto the end of an array); returns the next position. */
function writeVarint (buf: Uint8Array | number[], pos: number, n: number): number {
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    buf[pos++] = b
  } while (n > 0)
  return pos
}

/** What an outgoing PUBLISH needs; `topicBytes` is the UTF-8 topic (shared across subscribers). */
export interface OutgoingPublish {
  topicBytes: Uint8Array
  packetId: number
  qos: QoS
  retain: boolean
  dup: boolean
  payload: Uint8Array
  properties: PublishProperties | null
}

/** Encodes a PUBLISH into one buffer (v5 properties included when `version` is 5). */
export function encodePublish (p: OutgoingPublish, version: 4 | 5): Buffer {
  const props = version === 5 ? encodeProperties(p.properties) : null
  const propsLength = props === null ? 0 : props.length
  const remaining = 2 + p.topicBytes.length + (p.qos > 0 ? 2 : 0) +
    (version === 5 ? varintSize(propsLength) + propsLength : 0) + p.payload.length
  const buf = Buffer.allocUnsafe(1 + varintSize(remaining) + remaining)
  buf[0] = 0x30 | (p.dup ? 8 : 0) | (p.qos << 1) | (p.retain ? 1 : 0)
  let pos = writeVarint(buf, 1, remaining)
  buf[pos++] = p.topicBytes.length >> 8
  buf[pos++] = p.topicBytes.length & 0xff
  buf.set(p.topicBytes, pos)
  pos += p.topicBytes.length
  if (p.qos > 0) {
    buf[pos++] = p.packetId >> 8
    buf[pos++] = p.packetId & 0xff
  }
  if (version === 5) {
    pos = writeVarint(buf, pos, propsLength)
    if (props !== null) {
      buf.set(props, pos)
      pos += props.length
    }
  }
  buf.set(p.payload, pos)
  return buf
}

function encodeProperties (p: PublishProperties | null): Uint8Array | null {
  if (p === null) return null
  const parts: number[] = []
  const pushString = (id: number, s: string): void => {
    parts.push(id)
    pushBinary(utf8.encode(s))
  }
  const pushBinary = (bytes: Uint8Array): void => {
    parts.push(bytes.length >> 8, bytes.length & 0xff)
    for (const x of bytes) parts.push(x)
  }
  if (p.payloadFormatIndicator !== undefined) parts.push(PROP.payloadFormatIndicator, p.payloadFormatIndicator ? 1 : 0)
  if (p.messageExpiryInterval !== undefined) {
    const v = p.messageExpiryInterval
    parts.push(PROP.messageExpiryInterval, (v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff)
  }
  if (p.topicAlias !== undefined) parts.push(PROP.topicAlias, p.topicAlias >> 8, p.topicAlias & 0xff)
  if (p.contentType !== undefined) pushString(PROP.contentType, p.contentType)
  if (p.responseTopic !== undefined) pushString(PROP.responseTopic, p.responseTopic)
  if (p.correlationData !== undefined) {
    parts.push(PROP.correlationData)
    pushBinary(p.correlationData)
  }
  for (const [k, v] of p.userProperties ?? []) {
    pushString(PROP.userProperty, k)
    pushBinary(utf8.encode(v))
  }
  for (const id of p.subscriptionIdentifiers ?? []) {
    parts.push(PROP.subscriptionIdentifier)
    writeVarint(parts, parts.length, id)
  }
  return parts.length === 0 ? null : Uint8Array.from(parts)
}

/** PUBACK/PUBREC/PUBREL/PUBCOMP; a v5 non-zero reason code is written, 0 is omitted [MQTT-3.4.2-1]. */
export function encodeAck (cmd: AckCmd, packetId: number, reasonCode: number, version: 4 | 5): Buffer {
  const withReason = version === 5 && reasonCode !== 0
  const buf = Buffer.allocUnsafe(withReason ? 5 : 4)
  buf[0] = (ACK_TYPES[cmd] << 4) | (cmd === 'pubrel' ? 0b0010 : 0)
  buf[1] = withReason ? 3 : 2
  buf[2] = packetId >> 8
  buf[3] = packetId & 0xff
  if (withReason) buf[4] = reasonCode
  return buf
}

export const PINGRESP = Buffer.from([0xd0, 0x00])

/** Any other packet, through mqtt-packet (v5 fields when version is 5). */
export function encodeOther (packet: Packet, version: 4 | 5): Buffer {
  // The packets every connection gets once, written here without mqtt-packet's per-call
  // stream object: a 3.1.1 CONNACK, and a SUBACK without properties (3.1.1 §3.9, 5.0 §3.9).
  if (packet.cmd === 'connack' && version === 4) {
    return Buffer.from([0x20, 2, packet.sessionPresent ? 1 : 0, packet.returnCode ?? 0])
  }
  if (packet.cmd === 'suback' && packet.properties === undefined && packet.granted.length < 100) {
    const v5 = version === 5 ? 1 : 0
    const out = Buffer.allocUnsafe(4 + v5 + packet.granted.length)
    out[0] = 0x90
    out[1] = 2 + v5 + packet.granted.length
    out[2] = packet.messageId! >> 8
    out[3] = packet.messageId! & 0xff
    if (v5 === 1) out[4] = 0 // property length
    for (let i = 0; i < packet.granted.length; i++) out[4 + v5 + i] = packet.granted[i] as number
    return out
  }
  return mqttPacket.generate(packet, { protocolVersion: version })
}

/** mqtt-packet's user properties object ({ k: v | [v, …] }) as ordered pairs. */
export function userPropertiesFromObject (obj: Record<string, string | string[]> | undefined): UserProperty[] | undefined {
  if (obj === undefined) return undefined
  const out: UserProperty[] = []
  for (const [k, v] of Object.entries(obj)) {
    if (Array.isArray(v)) for (const x of v) out.push([k, String(x)])
    else out.push([k, String(v)])
  }
  return out.length === 0 ? undefined : out
}
