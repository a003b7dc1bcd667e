// The Kafka codec layer piece by piece: the byte Reader/Writer (every form, every bound,
// every error typed), schema semantics (versions, nullability, tagged fields, defaults),
// frame headers (v0/v1/v2, ApiVersions' fixed v0 response header, the UNSUPPORTED_VERSION
// answer), zero-copy records, the advertised ranges, error codes and the consumer protocol.
import t from 'tap'
import { Reader } from '../../protocol/bytes/reader.js'
import { Writer, joinParts, utf8Length } from '../../protocol/bytes/writer.js'
import {
  ADVERTISED_APIS, KAFKA_APIS, KAFKA_ERRORS, KafkaErrorCode, Message, apiKeyName, decodeAssignment, decodeRequest, decodeRequestHeader,
  decodeResponse, decodeSubscription, encodeApiVersionsUnsupported, encodeAssignment, encodeRequest, encodeResponse, encodeSubscription,
  isRetriableKafkaError, kafkaErrorCodeOf, kafkaErrorName, spoolErrorFromKafka,
} from '../../protocol/kafka/index.js'
import { array, int16, int32, string, struct } from '../../protocol/kafka/schema.js'
import {
  ERROR_TABLE, InvalidArgumentError, LogClosedError, MalformedFrameError, NotCoordinatorError, UnknownServerError,
  UnsupportedApiError, UnsupportedVersionError, InvalidRecordError,
} from '../../protocol/errors.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const fromHex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'))
const written = (fn: (w: Writer) => void): string => {
  const w = new Writer(16)
  fn(w)
  return hex(w.toBytes())
}

t.test('Reader and Writer: fixed-width, varint and compact forms', async t => {
  t.equal(written(w => { w.int8(-1); w.int16(-2); w.int32(0x01020304); w.uint32(0xfffffffe); w.int64(-3); w.int64(2 ** 40) }),
    'ff' + 'fffe' + '01020304' + 'fffffffe' + 'fffffffffffffffd' + '0000010000000000')
  t.equal(written(w => { w.uvarint(0); w.uvarint(127); w.uvarint(128); w.uvarint(300); w.uvarint(0xffffffff) }), '00' + '7f' + '8001' + 'ac02' + 'ffffffff0f')
  t.equal(written(w => { w.varint(0); w.varint(-1); w.varint(1); w.varint(-65); w.varint(300) }), '00' + '01' + '02' + '8101' + 'd804')
  t.equal(written(w => { w.compactString('ab'); w.compactNullableString(null); w.string('é'); w.nullableString(null) }), '03' + '6162' + '00' + '0002c3a9' + 'ffff')
  t.equal(written(w => { w.compactBytes(Uint8Array.of(9)); w.compactNullableBytes(null); w.bytes(new Uint8Array(0)); w.nullableBytes(null) }), '0209' + '00' + '00000000' + 'ffffffff')
  t.equal(written(w => w.uuid('000102030405060708090a0b0c0d0e0f')), '000102030405060708090a0b0c0d0e0f')

  const r = new Reader(fromHex('ff fffe 01020304 fffffffe fffffffffffffffd 0000010000000000 00 7f 8001 ac02 ffffffff0f 00 01 02 8101 d804'))
  t.same([r.int8(), r.int16(), r.int32(), r.uint32(), r.int64(), r.int64()], [-1, -2, 0x01020304, 0xfffffffe, -3, 2 ** 40])
  t.same([r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint()], [0, 127, 128, 300, 0xffffffff])
  t.same([r.varint(), r.varint(), r.varint(), r.varint(), r.varint()], [0, -1, 1, -65, 300])
  r.expectEnd('vectors')
  const s = new Reader(fromHex('03 6162 00 0002c3a9 ffff 0209 00 00000000 ffffffff 000102030405060708090a0b0c0d0e0f'))
  t.same([s.compactString(), s.compactNullableString(), s.string(), s.nullableString()], ['ab', null, 'é', null])
  t.same([hex(s.compactBytes()), s.compactNullableBytes(), hex(s.bytes()), s.nullableBytes()], ['09', null, '', null])
  t.equal(s.uuid(), '000102030405060708090a0b0c0d0e0f')
  const long = 'ü'.repeat(40) + 'x'.repeat(30)
  const w = new Writer()
  w.compactString(long)
  t.equal(new Reader(w.toBytes()).compactString(), long, 'multi-byte strings longer than the ASCII fast path')
  t.equal(utf8Length('a\u00e9\u4e2d\ud83d\ude00\ud800'), 1 + 2 + 3 + 4 + 3, 'UTF-8 length counts lone surrogates as U+FFFD')
  const v = new Writer()
  v.varlong(-(2 ** 50))
  v.varlong(2 ** 40)
  const vr = new Reader(v.toBytes())
  t.same([vr.varlong(), vr.varlong()], [-(2 ** 50), 2 ** 40])
})

t.test('Reader rejects every impossible input with MalformedFrameError', async t => {
  const bad: Array<[string, string, (r: Reader) => unknown]> = [
    ['truncated int32', '000000', r => r.int32()],
    ['unsafe int64', '7fffffffffffffff', r => r.int64()],
    ['uvarint past the end', '80', r => r.uvarint()],
    ['uvarint over 32 bits', 'ffffffff1f', r => r.uvarint()],
    ['varlong past 10 bytes', 'ffffffffffffffffffff01', r => r.varlong()],
    ['negative string length', 'fffe', r => r.nullableString()],
    ['null where a string is required', 'ffff', r => r.string()],
    ['null compact string where required', '00', r => r.compactString()],
    ['string longer than the frame', '0005616263', r => r.string()],
    ['negative bytes length', 'fffffffe', r => r.nullableBytes()],
    ['bytes longer than the frame', '7fffffff00', r => r.bytes()],
    ['compact bytes longer than the frame', 'ff0100', r => r.compactBytes()],
    ['negative array count', 'fffffffe', r => r.arrayLength(1)],
    ['array count larger than the frame could hold', '00100000' + '00'.repeat(8), r => r.arrayLength(4)],
    ['compact array count larger than the frame', 'ffffff7f', r => r.compactArrayLength(1)],
    ['truncated uuid', '00'.repeat(15), r => r.uuid()],
    ['raw past the end', '0102', r => r.raw(3)],
  ]
  for (const [what, input, read] of bad) t.throws(() => read(new Reader(fromHex(input))), MalformedFrameError, what)
  const r = new Reader(fromHex('0102'))
  r.int8()
  t.throws(() => r.expectEnd('x'), MalformedFrameError, 'trailing bytes')
  t.throws(() => new Reader(new Uint8Array(2), 1, 5), MalformedFrameError, 'window outside the input')
  t.equal(new Reader(fromHex('ff')).text(1), '\ufffd', 'invalid UTF-8 decodes like Java, to U+FFFD, without throwing')
})

t.test('Writer checks values and keeps referenced parts uncopied', async t => {
  const w = new Writer(16)
  for (const [what, fn] of [
    ['int8 range', () => w.int8(128)], ['int16 range', () => w.int16(-40000)], ['int32 fraction', () => w.int32(1.5)],
    ['int64 unsafe', () => w.int64(2 ** 60)], ['uvarint negative', () => w.uvarint(-1)], ['uuid form', () => w.uuid('xyz')],
    ['string length', () => w.string('x'.repeat(40000))], ['string type', () => w.string(null as unknown as string)],
    ['bytes type', () => w.bytes('x' as unknown as Uint8Array)],
  ] as Array<[string, () => void]>) t.throws(fn, InvalidArgumentError, what)

  const big = new Uint8Array(1000).fill(7)
  const out = new Writer(16)
  const slot = out.reserveInt32()
  for (let i = 0; i < 20; i++) out.int32(i)
  out.ref(big)
  out.int16(1)
  out.patchInt32(slot, out.length - 4)
  const parts = out.finish()
  t.ok(parts.includes(big), 'the referenced slice is a part itself, not a copy')
  const all = joinParts(parts)
  t.equal(all.length, 4 + 80 + 1000 + 2)
  t.equal(new DataView(all.buffer).getInt32(0), all.length - 4, 'a slot reserved before the buffer grew is still patched')
})

t.test('schemas: version ranges, defaults, nullability and tagged fields', async t => {
  const msg = new Message('Test', {
    a: int32(),
    b: string({ versions: '1+', nullable: '2+', default: null }),
    c: array({ x: int16() }, { versions: '0-1' }),
    t: int32({ versions: '3+', tag: 5, taggedVersions: '3+', default: -1 }),
    s: struct({ y: int32({ default: 9 }) }, { versions: '3+', tag: 1, taggedVersions: '3+' }),
  }, 0, 3, 3)
  t.equal(hex(msg.encode(0, { a: 1, b: 'ignored in v0', c: [{ x: 2 }] })), '00000001' + '00000001' + '0002', 'v0: b absent, c present')
  t.same(msg.decode(0, fromHex('00000001000000010002')), { a: 1, b: null, c: [{ x: 2 }], t: -1, s: { y: 9 } }, 'absent fields hold defaults')
  t.throws(() => msg.encode(1, { a: 1, b: null }), InvalidArgumentError, 'null is refused where the version does not allow it')
  t.throws(() => msg.decode(1, fromHex('00000001' + 'ffff' + '00000000')), MalformedFrameError, 'and rejected when decoding it')
  t.equal(hex(msg.encode(2, { a: 1, b: null })), '00000001ffff', 'v2: b nullable, c gone')
  t.equal(hex(msg.encode(3, { a: 1, b: 'z' })), '00000001' + '027a' + '00', 'v3 flexible: compact string, empty tag section')
  t.equal(hex(msg.encode(3, { a: 1, b: 'z', t: 7, s: { y: 3 } })), '00000001' + '027a' + '02' + '01' + '05' + '0000000300' + '05' + '04' + '00000007',
    'non-default tagged fields are written in tag order with their sizes')
  t.same(msg.decode(3, fromHex('00000001027a02' + '0105000000030' + '0' + '050400000007')), { a: 1, b: 'z', c: [], t: 7, s: { y: 3 } })
  t.same(msg.decode(3, fromHex('00000001027a01' + '0903' + 'aabbcc')).t, -1, 'unknown tags are skipped')
  t.throws(() => msg.decode(3, fromHex('00000001027a01' + '0505' + '0000000700')), MalformedFrameError, 'a tagged field must fill its declared size')
  t.throws(() => msg.decode(3, fromHex('00000001027a01' + '0509' + '00000007')), MalformedFrameError, 'a tagged field larger than the frame')
  t.throws(() => msg.decode(2, fromHex('00000001ffff00')), MalformedFrameError, 'trailing garbage after the body')
  t.throws(() => msg.encode(4, { a: 1 }), UnsupportedVersionError, 'versions outside the range')
})

t.test('request and response headers by version, and typed header errors', async t => {
  const hb = encodeRequest(KAFKA_APIS.Heartbeat, 4, 7, 'cid', { groupId: 'g', generationId: 1, memberId: 'm' })
  t.equal(hex(joinParts(hb.parts)), '00000018' + '000c0004' + '00000007' + '0003636964' + '00' + '0267' + '00000001' + '026d' + '00' + '00',
    'flexible request: header v2 (int16 client id, then tags) and compact body')
  const hb3 = encodeRequest(KAFKA_APIS.Heartbeat, 3, 7, null, { groupId: 'g', generationId: 1, memberId: 'm' })
  t.equal(hex(joinParts(hb3.parts)), '00000016' + '000c0003' + '00000007' + 'ffff' + '000167' + '00000001' + '00016d' + 'ffff', 'header v1, null client id')
  t.equal(hex(joinParts(encodeResponse(KAFKA_APIS.Heartbeat, 4, 9, { errorCode: 27 }).parts)), '0000000c' + '00000009' + '00' + '00000000' + '001b' + '00', 'response header v1 has tags')
  const av = encodeResponse(KAFKA_APIS.ApiVersions, 3, 9, { apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 3 }] })
  t.equal(hex(joinParts(av.parts)), '00000013' + '00000009' + '0000' + '02' + '0012' + '0000' + '0003' + '00' + '00000000' + '00',
    'ApiVersions v3 response: header v0 (no tag byte), flexible body')
  t.equal(decodeResponse(KAFKA_APIS.ApiVersions, 3, joinParts(av.parts).subarray(4)).body.apiKeys[0]!.maxVersion, 3)

  const tagged = fromHex('000c0004' + '00000007' + '0003636964' + '01' + '0002' + 'abcd' + '0267' + '00000001' + '026d' + '00' + '00')
  const req = decodeRequest(tagged)
  t.same([req.apiName, req.clientId, req.body], ['Heartbeat', 'cid', { groupId: 'g', generationId: 1, memberId: 'm', groupInstanceId: null }], 'header tagged fields are skipped')
  t.throws(() => decodeRequest(fromHex('03e70000000000010000')), UnsupportedApiError, 'unknown api key')
  t.throws(() => decodeRequest(fromHex('000c0063000000010000')), UnsupportedVersionError, 'unknown version of a known api')
  t.throws(() => decodeRequest(fromHex('000c00')), MalformedFrameError, 'truncated header')
  t.equal(decodeRequestHeader(fromHex('000c0063000000010000')).bodyOffset, -1)
})

t.test('ApiVersions of an unknown version gets a v0 UNSUPPORTED_VERSION body any client can read', async t => {
  const f = encodeApiVersionsUnsupported(42)
  const bytes = joinParts(f.parts)
  t.equal(hex(bytes), '00000010' + '0000002a' + '0023' + '00000001' + '0012' + '0000' + '0003', 'header v0, error 35, int32 count, ApiVersions 0-3')
  t.equal(f.size, bytes.length)
  const asV3 = decodeResponse(KAFKA_APIS.ApiVersions, 3, bytes.subarray(4))
  t.same([asV3.version, asV3.body.errorCode, asV3.body.apiKeys], [0, KafkaErrorCode.UNSUPPORTED_VERSION, [{ apiKey: 18, minVersion: 0, maxVersion: 3 }]],
    'a client that asked v3 reads the answer as v0')
})

t.test('Produce records are views of the frame; Fetch records come out as the given slices', async t => {
  const batch = new Uint8Array(200).fill(5)
  const frame = joinParts(encodeRequest(KAFKA_APIS.Produce, 7, 1, 'p', { acks: 1, timeoutMs: 10, topicData: [{ name: 't', partitionData: [{ index: 0, records: batch }] }] }).parts)
  const body = frame.subarray(4)
  const req = decodeRequest(body)
  const records = req.apiName === 'Produce' ? req.body.topicData[0]!.partitionData[0]!.records! : new Uint8Array(0)
  t.equal(records.buffer, body.buffer, 'same underlying buffer')
  t.equal(records.byteOffset, body.byteOffset + body.length - 200, 'the last 200 bytes of the frame, not a copy')

  const slices = [new Uint8Array(300).fill(1), new Uint8Array(50).fill(2)]
  for (const version of [4, 11, 12]) {
    const f = encodeResponse(KAFKA_APIS.Fetch, version, 3, {
      responses: [{ topic: 't', partitions: [{ partitionIndex: 0, highWatermark: 10, records: slices }, { partitionIndex: 1, records: null }] }],
    })
    t.ok(f.parts.includes(slices[0]!) && f.parts.includes(slices[1]!), `v${version}: both segment slices are parts, uncopied`)
    t.equal(f.size, f.parts.reduce((n, p) => n + p.length, 0), 'size is the sum of the parts')
    const back = decodeResponse(KAFKA_APIS.Fetch, version, joinParts(f.parts).subarray(4))
    const p0 = back.body.responses[0]!.partitions
    t.same([p0[0]!.records!.length, p0[0]!.highWatermark, p0[1]!.records], [350, 10, null])
  }
  t.throws(() => encodeResponse(KAFKA_APIS.Fetch, 12, 1, { responses: [{ topic: 't', partitions: [{ records: ['x'] as unknown as Uint8Array[] }] }] }), InvalidArgumentError)
})

t.test('the advertised ranges are exactly the ones the listener must serve', async t => {
  const expected: Record<string, [number, number]> = {
    Produce: [0, 7], Fetch: [4, 12], ListOffsets: [1, 5], Metadata: [0, 9], OffsetCommit: [2, 8], OffsetFetch: [1, 8], FindCoordinator: [0, 4],
    JoinGroup: [0, 6], Heartbeat: [0, 4], LeaveGroup: [0, 4], SyncGroup: [0, 4], DescribeGroups: [0, 5], ListGroups: [0, 4], SaslHandshake: [0, 1],
    ApiVersions: [0, 3], CreateTopics: [0, 7], DeleteTopics: [0, 6], DeleteRecords: [0, 2], InitProducerId: [0, 3], OffsetForLeaderEpoch: [2, 4],
    DescribeAcls: [0, 3], CreateAcls: [0, 3], DeleteAcls: [0, 3], DescribeConfigs: [0, 2], AlterConfigs: [0, 2], SaslAuthenticate: [0, 2],
    CreatePartitions: [0, 3], DeleteGroups: [0, 2], IncrementalAlterConfigs: [0, 1], OffsetDelete: [0, 0], DescribeClientQuotas: [0, 1],
    AlterClientQuotas: [0, 1], DescribeCluster: [0, 0],
  }
  t.same(Object.fromEntries(ADVERTISED_APIS.map(a => [apiKeyName(a.apiKey), [a.minVersion, a.maxVersion]])), expected)
  t.same(ADVERTISED_APIS.map(a => a.apiKey), [...ADVERTISED_APIS.map(a => a.apiKey)].sort((a, b) => a - b), 'sorted by key')
  t.equal(apiKeyName(9999), 'Unknown(9999)')
  const flexibleFrom: Record<string, number> = { ApiVersions: 3, Metadata: 9, Fetch: 12, JoinGroup: 6, OffsetFetch: 6, InitProducerId: 2, DescribeCluster: 0 }
  for (const [name, v] of Object.entries(flexibleFrom)) t.equal(KAFKA_APIS[name as keyof typeof KAFKA_APIS].flexibleFrom, v, `${name} flexible from v${v}`)
  t.equal(KAFKA_APIS.Produce.flexibleFrom, 9, 'Produce 0-7 is never flexible')
  t.equal(KAFKA_APIS.SaslHandshake.flexibleFrom, Infinity)
})

t.test('Kafka error codes and the mapping from SpoolError', async t => {
  const required: Record<string, number> = {
    NONE: 0, UNKNOWN_TOPIC_OR_PARTITION: 3, NOT_LEADER_OR_FOLLOWER: 6, COORDINATOR_NOT_AVAILABLE: 15, NOT_COORDINATOR: 16, ILLEGAL_GENERATION: 22,
    UNKNOWN_MEMBER_ID: 25, REBALANCE_IN_PROGRESS: 27, MEMBER_ID_REQUIRED: 79, UNSUPPORTED_VERSION: 35, TOPIC_AUTHORIZATION_FAILED: 29,
    GROUP_AUTHORIZATION_FAILED: 30, CLUSTER_AUTHORIZATION_FAILED: 31, SASL_AUTHENTICATION_FAILED: 58, UNSUPPORTED_SASL_MECHANISM: 33,
    ILLEGAL_SASL_STATE: 34, TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 53, INVALID_TXN_STATE: 48, FENCED_INSTANCE_ID: 82, GROUP_ID_NOT_FOUND: 69,
    NON_EMPTY_GROUP: 68, INCONSISTENT_GROUP_PROTOCOL: 23, UNSTABLE_OFFSET_COMMIT: 88, THROTTLING_QUOTA_EXCEEDED: 89, UNKNOWN_SERVER_ERROR: -1,
  }
  for (const [name, code] of Object.entries(required)) t.equal(KafkaErrorCode[name as keyof typeof KafkaErrorCode], code, `${name} = ${code}`)
  const codes = Object.values(KAFKA_ERRORS).map(r => r.code)
  t.equal(new Set(codes).size, codes.length, 'Kafka codes are unique')
  for (const [name, row] of Object.entries(ERROR_TABLE)) {
    if (row.code < 1000) t.ok(kafkaErrorName(row.code) !== undefined, `Spool's ${name} (${row.code}) is a Kafka code`)
  }
  t.equal(kafkaErrorName(16), 'NOT_COORDINATOR')
  t.ok(isRetriableKafkaError(16) && !isRetriableKafkaError(22) && !isRetriableKafkaError(12345))
  t.equal(kafkaErrorCodeOf(new NotCoordinatorError()), 16)
  t.equal(kafkaErrorCodeOf(new InvalidRecordError()), 87)
  t.equal(kafkaErrorCodeOf(new LogClosedError()), 6, 'a closed log sends the client to refresh metadata')
  t.equal(kafkaErrorCodeOf(new MalformedFrameError()), 42)
  t.equal(kafkaErrorCodeOf(new Error('boom')), -1)
  t.ok(spoolErrorFromKafka(16) instanceof NotCoordinatorError)
  const unknown = spoolErrorFromKafka(86, null)
  t.ok(unknown instanceof UnknownServerError && unknown.message.includes('GROUP_SUBSCRIBED_TO_TOPIC'), 'Kafka-only codes keep their name')
})

t.test('consumer protocol: librdkafka bytes, forward versions, garbage', async t => {
  // librdkafka 2.0.2 style: v1, one topic, empty user data, no owned partitions.
  const rdk = fromHex('0001' + '00000001' + '0001' + '74' + '00000000' + '00000000')
  t.same(decodeSubscription(rdk), { version: 1, layoutVersion: 1, topics: ['t'], userData: new Uint8Array(0), ownedPartitions: [], generationId: -1, rackId: null })
  const v3 = encodeSubscription({ topics: ['a'], generationId: 4, rackId: 'r1' }, 3)
  const future = new Uint8Array([...v3, 0xde, 0xad])
  new DataView(future.buffer).setInt16(0, 7)
  t.same(decodeSubscription(future), { version: 7, layoutVersion: 3, topics: ['a'], userData: null, ownedPartitions: [], generationId: 4, rackId: 'r1' }, 'v7 is read as v3, appended bytes ignored')
  t.throws(() => decodeSubscription(new Uint8Array([...v3, 0])), MalformedFrameError, 'trailing garbage at a known version')
  t.throws(() => decodeSubscription(fromHex('ffff0000')), MalformedFrameError, 'negative version')
  t.same(decodeAssignment(new Uint8Array(0)), { version: 0, layoutVersion: 0, assignedPartitions: [], userData: null }, 'an empty assignment')
  const a = encodeAssignment({ assignedPartitions: [{ topic: 't', partitions: [0, 2] }] }, 0)
  t.equal(hex(a), '0000' + '00000001' + '000174' + '00000002' + '00000000' + '00000002' + 'ffffffff')
})
