// MQTT gateway pure parts: the framer bounds packets from the fixed header and survives
// byte-at-a-time and garbage input; the codec round-trips PUBLISH (3.1.1 and 5) and acks;
// topic validation and matching follow the spec ($ topics, +, #, $share); the filter trie
// agrees with the matcher; the log mapping round-trips MQTT 5 properties as headers.
import t from 'tap'
import mqttPacket from 'mqtt-packet'
import { MQTT_MAX_HEADER_BYTES, bodyStart, mqttHeaderReader } from '../../broker/protocols/mqtt/framer.js'
import { FrameAssembler } from '../../protocol/bytes/frame-assembler.js'
import { PacketDecoder, encodeAck, encodePublish, type PublishPacket } from '../../broker/protocols/mqtt/codec.js'
import { parseSubscriptionFilter, topicFilterError, topicMatches, topicNameError } from '../../broker/protocols/mqtt/topics.js'
import { SubscriptionIndex } from '../../broker/protocols/mqtt/subscription-index.js'
import { TopicMapper, messageHeaders, parseMapRules, recordToMessage, remainingExpirySec, type MqttMessage } from '../../broker/protocols/mqtt/mapping.js'
import { decodeBatch, encodeBatch } from '../../protocol/record-batch/records.js'
import { SpoolError } from '../../protocol/errors.js'

const limits = { maxTopicBytes: 64, maxTopicLevels: 5 }
const enc = new TextEncoder()

/** The broker's MQTT framing: the one FrameAssembler with the MQTT fixed-header reader. */
class PacketFramer {
  readonly #assembler: FrameAssembler
  constructor (max: number) { this.#assembler = new FrameAssembler(mqttHeaderReader(max), MQTT_MAX_HEADER_BYTES) }
  push (bytes: Uint8Array, onPacket: (first: number, body: Uint8Array, whole: Uint8Array) => boolean): SpoolError | null {
    try {
      this.#assembler.push(bytes, whole => onPacket(whole[0]!, whole.subarray(bodyStart(whole)), whole))
      return null
    } catch (err) {
      if (err instanceof SpoolError) return err
      throw err
    }
  }
}

function frame (bytes: Uint8Array, max: number, step: number): { packets: number[][], err: SpoolError | null } {
  const f = new PacketFramer(max)
  const packets: number[][] = []
  let err: SpoolError | null = null
  for (let i = 0; i < bytes.length && err === null; i += step) {
    err = f.push(bytes.subarray(i, i + step), (_first, _body, whole) => { packets.push([...whole]); return true })
  }
  return { packets, err }
}

t.test('framer: whole packets at any split, bounded before buffering', async t => {
  const a = mqttPacket.generate({ cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(300, 1), qos: 1, messageId: 7, retain: false, dup: false })
  const b = mqttPacket.generate({ cmd: 'pingreq' })
  const stream = Buffer.concat([a, b, a])
  for (const step of [1, 2, 3, 7, 64, stream.length]) {
    const { packets, err } = frame(stream, 1024, step)
    t.equal(err, null)
    t.same(packets.map(p => p.length), [a.length, b.length, a.length], `split every ${step} bytes`)
    t.same(packets[0], [...a])
  }
  const tooBig = frame(a, 100, 2)
  t.equal(tooBig.err?.code, 'MQTT_PACKET_TOO_LARGE', 'oversize is refused from the header')
  t.same(tooBig.packets, [])
  const five = frame(Uint8Array.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), 1 << 30, 1)
  t.equal(five.err?.code, 'MQTT_MALFORMED_PACKET', 'a 5-byte remaining length is malformed [MQTT-1.5.5-1]')
  // A header claiming 256 MB: refused with only 5 bytes held.
  const claim = new PacketFramer(1024)
  t.equal(claim.push(Uint8Array.from([0x30, 0xff, 0xff, 0xff, 0x7f]), () => true)?.code, 'MQTT_PACKET_TOO_LARGE')
})

t.test('framer + decoder: random garbage yields named errors, never a throw', async t => {
  let seed = 42
  const rand = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed }
  for (let i = 0; i < 2000; i++) {
    const bytes = Uint8Array.from({ length: 1 + (rand() % 40) }, () => rand() & 0xff)
    const decoder = new PacketDecoder()
    if (i % 2 === 0) decoder.version = 5
    const f = new PacketFramer(1024)
    const err = f.push(bytes, (first, body, whole) => {
      const r = decoder.decode(first, body, whole)
      if (r instanceof SpoolError) t.ok(r.code.startsWith('MQTT_'), r.code)
      return !(r instanceof SpoolError)
    })
    if (err !== null) t.ok(err.code.startsWith('MQTT_'))
  }
})

t.test('codec: PUBLISH round-trips through mqtt-packet both ways, v4 and v5', async t => {
  for (const version of [4, 5] as const) {
    const props = version === 5 ? { contentType: 'text/plain', messageExpiryInterval: 60, userProperties: [['a', '1'], ['a', '2'], ['b', 'x']] as Array<[string, string]>, correlationData: Buffer.from('cd'), responseTopic: 'r/t', payloadFormatIndicator: true, subscriptionIdentifiers: [3, 300] } : null
    const out = encodePublish({ topicBytes: enc.encode('x/y'), packetId: 9, qos: 2, retain: true, dup: true, payload: enc.encode('hello'), properties: props }, version)
    const parser = mqttPacket.parser({ protocolVersion: version })
    let parsed: mqttPacket.IPublishPacket | null = null
    parser.on('packet', (p: mqttPacket.Packet) => { parsed = p as mqttPacket.IPublishPacket })
    parser.parse(out)
    const p = parsed as mqttPacket.IPublishPacket | null
    t.equal(p?.topic, 'x/y')
    t.equal(p?.messageId, 9)
    t.equal(p?.qos, 2)
    t.equal(p?.retain, true)
    t.equal(p?.dup, true)
    t.equal(p?.payload.toString(), 'hello')
    if (version === 5) {
      t.equal(p?.properties?.contentType, 'text/plain')
      t.same(p?.properties?.userProperties, { a: ['1', '2'], b: 'x' })
      t.same(p?.properties?.subscriptionIdentifier, [3, 300])
    }
    const generated = mqttPacket.generate({
      cmd: 'publish', topic: 's/1', payload: Buffer.from('pl'), qos: 1, messageId: 5, retain: false, dup: false,
      ...(version === 5 ? { properties: { topicAlias: 3, userProperties: { k: 'v' }, messageExpiryInterval: 10 } } : {}),
    }, { protocolVersion: version })
    const decoder = new PacketDecoder()
    decoder.version = version
    const d = decoder.decode(generated[0]!, generated.subarray(2), generated) as PublishPacket
    t.equal(d.topic, 's/1')
    t.equal(d.packetId, 5)
    t.equal(Buffer.from(d.payload).toString(), 'pl')
    if (version === 5) t.same(d.properties, { topicAlias: 3, userProperties: [['k', 'v']], messageExpiryInterval: 10 })
  }
  t.same([...encodeAck('puback', 258, 0, 5)], [0x40, 2, 1, 2], 'v5 success ack omits the reason [MQTT-3.4.2-1]')
  t.same([...encodeAck('pubrel', 1, 0x92, 5)], [0x62, 3, 0, 1, 0x92])
  const decoder = new PacketDecoder()
  t.equal((decoder.decode(0x30 | 6, Uint8Array.from([0, 1, 0x61]), Uint8Array.from([])) as SpoolError).code, 'MQTT_MALFORMED_PACKET', 'QoS 3')
  t.equal((decoder.decode(0x32, Uint8Array.from([0, 1, 0x61, 0, 0]), Uint8Array.from([])) as SpoolError).code, 'MQTT_PROTOCOL_ERROR', 'packet id 0')
  t.equal((decoder.decode(0x30, Uint8Array.from([0, 2, 0xc3, 0x28]), Uint8Array.from([])) as SpoolError).code, 'MQTT_MALFORMED_PACKET', 'ill-formed UTF-8 topic')
  t.equal((decoder.decode(0x60, Uint8Array.from([0, 1]), Uint8Array.from([])) as SpoolError).code, 'MQTT_MALFORMED_PACKET', 'PUBREL flags must be 0010')
  const v5 = new PacketDecoder()
  v5.version = 5
  // topic "a", QoS 0, properties: Response Topic (0x08) "r/+"
  t.equal((v5.decode(0x30, Uint8Array.from([0, 1, 0x61, 6, 0x08, 0, 3, 0x72, 0x2f, 0x2b]), Uint8Array.from([])) as SpoolError).code, 'MQTT_PROTOCOL_ERROR', 'a wildcard in the Response Topic')
})

t.test('topics: validation, matching, $ topics, shares', async t => {
  t.equal(topicNameError('a/b', limits), null)
  t.match(topicNameError('', limits), /empty/)
  t.match(topicNameError('a/+', limits), /wildcard/)
  t.match(topicNameError('a/b/c/d/e/f', limits), /mqttMaxTopicLevels/)
  t.match(topicNameError('x'.repeat(65), limits), /mqttMaxTopicLength/)
  t.equal(topicFilterError('a/+/#', limits), null)
  t.match(topicFilterError('a/#/b', limits), /whole last level/)
  t.match(topicFilterError('a+/b', limits), /whole level/)
  t.match(topicNameError('a/\u0001b', limits), /control character/)
  t.match(topicNameError('a/b\u0085', limits), /control character/, 'C1 controls too')
  t.match(topicFilterError('a/\u0000b', limits), /control character/)
  t.equal(topicNameError('caf\u00e9/\u6e29\u5ea6', limits), null, 'other non-ASCII is fine')
  const cases: Array<[string, string, boolean]> = [
    ['sport/tennis/player1/#', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/#', 'sport', true],
    ['sport/+', 'sport', false],
    ['sport/+', 'sport/', true],
    ['+/+', '/finance', true],
    ['/+', '/finance', true],
    ['+', '/finance', false],
    ['#', '$SYS/x', false],
    ['+/monitor/Clients', '$SYS/monitor/Clients', false],
    ['$SYS/#', '$SYS/monitor/Clients', true],
    ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
    ['a/b', 'a/b', true],
    ['a/b', 'a/bc', false],
    ['a/#', 'ab', false],
  ]
  const index = new SubscriptionIndex<string>()
  for (const [f] of cases) index.add(f, f)
  for (const [f, topic, expected] of cases) {
    t.equal(topicMatches(f, topic), expected, `${f} ~ ${topic}`)
    const out: string[] = []
    index.match(topic, out)
    t.equal(out.includes(f), expected, `trie: ${f} ~ ${topic}`)
  }
  index.remove('sport/#', 'sport/#')
  const out: string[] = []
  index.match('sport', out)
  t.notOk(out.includes('sport/#'), 'removed')
  t.same(parseSubscriptionFilter('$share/g1/a/+', limits), { filter: 'a/+', shareGroup: 'g1' })
  t.type(parseSubscriptionFilter('$share/g1', limits), 'string')
  t.type(parseSubscriptionFilter('$share//a', limits), 'string')
  t.type(parseSubscriptionFilter('$share/g+/a', limits), 'string')
})

t.test('mapping: first matching rule wins; records round-trip properties', async t => {
  const rules = parseMapRules(['sensors/#=sensors', 'sensors/x/#=never', 'devices/+/state=states'], limits)
  const mapper = new TopicMapper(rules, 'mqtt')
  mapper.setPartitions('sensors', 4)
  t.equal(mapper.logTopicFor('sensors/x/1'), 'sensors', 'first rule wins')
  t.equal(mapper.logTopicFor('devices/d1/state'), 'states')
  t.equal(mapper.logTopicFor('other'), 'mqtt')
  t.same(mapper.logTopics(), ['mqtt', 'sensors', 'never', 'states'])
  t.throws(() => parseMapRules(['a/#'], limits), { code: 'INVALID_CONFIG' })
  t.throws(() => parseMapRules(['a/#=__x'], limits), { code: 'INVALID_CONFIG' })
  t.throws(() => parseMapRules(['a/#/b=x'], limits), { code: 'INVALID_CONFIG' })
  const r = mapper.route('sensors/x/1', enc.encode('sensors/x/1'))
  t.equal(r.logTopic, 'sensors')
  t.ok(r.partition >= 0 && r.partition < 4)

  const m: MqttMessage = {
    topic: 'a/b', topicBytes: enc.encode('a/b'), payload: enc.encode('v'), qos: 2, retain: true, timestampMs: 1000,
    properties: { contentType: 'application/json', messageExpiryInterval: 30, userProperties: [['u', '1'], ['u', '2'], ['mqtt.qos', 'no']], responseTopic: 'r', correlationData: enc.encode('c'), payloadFormatIndicator: true },
  }
  const batch = decodeBatch(encodeBatch([{ key: m.topicBytes, value: m.payload, headers: messageHeaders(m), timestamp: m.timestampMs }]))
  const back = recordToMessage(batch.records[0]!, limits)!
  t.equal(back.topic, 'a/b')
  t.equal(back.qos, 2)
  t.equal(back.retain, true)
  t.same(back.properties, { ...m.properties, userProperties: [['u', '1'], ['u', '2']], correlationData: enc.encode('c') }, 'reserved user property names are not stored')
  t.equal(remainingExpirySec(back, 1000 + 10_500), 20)
  t.equal(remainingExpirySec(back, 1000 + 30_000), -1)
  const sdk = decodeBatch(encodeBatch([{ key: enc.encode('sensors/x'), value: enc.encode('hi'), headers: [{ key: 'trace', value: enc.encode('t1') }] }, { key: null, value: enc.encode('n') }, { key: enc.encode('bad/#'), value: null }]))
  const sm = recordToMessage(sdk.records[0]!, limits)!
  t.equal(sm.qos, 1, 'a record without mqtt.qos counts as QoS 1')
  t.same(sm.properties?.userProperties, [['trace', 't1']])
  t.equal(recordToMessage(sdk.records[1]!, limits), null, 'null key is not delivered')
  t.equal(recordToMessage(sdk.records[2]!, limits), null, 'a key that is not a topic name is not delivered')
})

t.test('config: mqttMap from a flag (comma list), the environment and a config file (JSON array)', async t => {
  const { resolveConfig } = await import('../../broker/config/settings.js')
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { tmpdir } = await import('node:os')
  t.same(resolveConfig({ flags: { mqttMap: 'sensors/#=sensors, devices/+/state=states' } }).mqttMap, ['sensors/#=sensors', 'devices/+/state=states'])
  t.same(resolveConfig({ env: { SPOOL_MQTT_MAP: 'a/#=a' } }).mqttMap, ['a/#=a'])
  t.equal(resolveConfig({}).mqttMap, null)
  const dir = mkdtempSync(join(tmpdir(), 'spool-mqtt-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'c.json')
  writeFileSync(file, JSON.stringify({ mqttMap: ['x/#=x'], mqttPort: 'off', mqttFsyncAcks: true }))
  const c = resolveConfig({ flags: { configFile: file } })
  t.same(c.mqttMap, ['x/#=x'])
  t.equal(c.mqttPort, null)
  t.equal(c.mqttFsyncAcks, true)
})
