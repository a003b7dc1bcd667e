// Native frame codec: round trips, byte-at-a-time and random chunking through the push
// decoder, size limits checked from the length prefix, and random or mutated input that
// must always end in a named error (never a crash, never a hang).
import t from 'tap'
import {
  FrameDecoder, concatParts, decodeBody, encodeClientId, encodeRequestFrame, encodeResponseFrame,
  parseRequestFrame, parseResponseFrame, REQUEST_HEADER_FIXED_BYTES,
} from '../../protocol/native/frame.js'
import { APIS, ApiKey } from '../../protocol/native/api-keys.js'
import { FrameTooLargeError, InvalidRequestError, MalformedFrameError, SpoolError } from '../../protocol/errors.js'
import { rng, utf8 } from '../helpers/bytes.js'

const clientId = encodeClientId('test-client')
const records = [utf8('batch-one-bytes'), utf8('second')]
const produceBody = { acks: 1, timeoutMs: 1000, topics: [{ topic: 'orders', partitions: [{ partition: 0, recordsBytes: 15 }, { partition: 1, recordsBytes: 6 }] }] }

t.test('request frame round trip', async t => {
  const frame = concatParts(encodeRequestFrame(ApiKey.Produce, 0, 77, clientId, produceBody, records))
  const parsed = parseRequestFrame(frame)
  t.equal(parsed.apiKey, ApiKey.Produce)
  t.equal(parsed.apiVersion, 0)
  t.equal(parsed.correlationId, 77)
  t.equal(parsed.clientId, 'test-client')
  t.same(Buffer.from(parsed.records).toString(), 'batch-one-bytessecond')
  const body = APIS.Produce.request.parse(decodeBody(parsed.bodyBytes), '')
  t.same(body, produceBody)
})

t.test('response frame round trip with large offsets', async t => {
  const body = { topics: [{ topic: 'a', partitions: [{ partition: 3, errorCode: 0, errorMessage: null, baseOffset: 2 ** 40 + 5, logAppendTimeMs: -1, logStartOffset: 0 }] }] }
  const frame = concatParts(encodeResponseFrame(9, body, [utf8('xyz')]))
  const parsed = parseResponseFrame(frame)
  t.equal(parsed.correlationId, 9)
  // throttleTimeMs is optional on the wire and reads back as 0 when absent.
  t.same(APIS.Produce.response.parse(decodeBody(parsed.bodyBytes), ''), { errorCode: 0, errorMessage: null, throttleTimeMs: 0, ...body })
  t.equal(Buffer.from(parsed.records).toString(), 'xyz')
})

t.test('push decoder: byte at a time, random chunks, many frames per chunk', async t => {
  const frames = Array.from({ length: 20 }, (_, i) => concatParts(encodeRequestFrame(ApiKey.Fetch, 0, i + 1, clientId, { i, pad: 'x'.repeat(i * 37) }, i % 3 === 0 ? [new Uint8Array(i * 100).fill(i)] : [])))
  const stream = concatParts(frames)
  const check = (out: Uint8Array[], label: string): void => {
    t.equal(out.length, frames.length, `${label}: frame count`)
    t.ok(out.every((f, i) => Buffer.compare(f, frames[i]!) === 0), `${label}: identical frames`)
  }
  const oneByOne = new FrameDecoder(1 << 20, REQUEST_HEADER_FIXED_BYTES)
  const got: Uint8Array[] = []
  for (let i = 0; i < stream.length; i++) got.push(...oneByOne.push(stream.subarray(i, i + 1)))
  check(got, 'byte at a time')
  t.equal(oneByOne.bufferedBytes, 0)
  const random = rng(7)
  for (let round = 0; round < 20; round++) {
    const d = new FrameDecoder(1 << 20, REQUEST_HEADER_FIXED_BYTES)
    const out: Uint8Array[] = []
    let pos = 0
    while (pos < stream.length) {
      const n = 1 + Math.floor(random() * 3000)
      out.push(...d.push(stream.subarray(pos, pos + n)))
      pos += n
    }
    check(out, `random chunks ${round}`)
  }
  check(new FrameDecoder(1 << 20).push(stream), 'one chunk')
})

t.test('oversized length prefix is refused from the prefix alone', async t => {
  const d = new FrameDecoder(1024)
  t.throws(() => d.push(Uint8Array.of(0x7f, 0xff, 0xff, 0xff)), FrameTooLargeError)
  const d2 = new FrameDecoder(1024)
  d2.push(Uint8Array.of(0x00, 0x00))
  t.throws(() => d2.push(Uint8Array.of(0x08, 0x00)), FrameTooLargeError, 'split prefix')
  t.throws(() => new FrameDecoder(1024, REQUEST_HEADER_FIXED_BYTES).push(Uint8Array.of(0, 0, 0, 2, 1, 2)), MalformedFrameError, 'shorter than any header')
})

t.test('truncated and inconsistent frames are named errors', async t => {
  const frame = concatParts(encodeRequestFrame(ApiKey.Metadata, 0, 1, clientId, { topics: null }))
  t.throws(() => parseRequestFrame(frame.subarray(0, 10)), MalformedFrameError)
  t.throws(() => parseRequestFrame(frame.subarray(0, frame.length - 1)), MalformedFrameError, 'length prefix disagrees')
  const badBodyLength = frame.slice()
  new DataView(badBodyLength.buffer).setUint32(14 + clientId.length, 100000)
  t.throws(() => parseRequestFrame(badBodyLength), MalformedFrameError)
  const badClientId = frame.slice()
  new DataView(badClientId.buffer).setUint16(12, 5000)
  t.throws(() => parseRequestFrame(badClientId), MalformedFrameError)
  t.throws(() => decodeBody(Uint8Array.of(0x81)), MalformedFrameError, 'truncated msgpack')
  t.throws(() => decodeBody(Uint8Array.of(0x80, 1, 2)), MalformedFrameError, 'trailing bytes after the body')
  t.throws(() => decodeBody(new Uint8Array(0)), MalformedFrameError)
})

t.test('schemas name the offending field', async t => {
  const bad = { acks: 2, topics: [] }
  t.throws(() => APIS.Produce.request.parse(bad, ''), { name: 'InvalidRequestError', message: /acks/ })
  const badPartition = { acks: 1, topics: [{ topic: 'a', partitions: [{ partition: -1, recordsBytes: 0 }] }] }
  t.throws(() => APIS.Produce.request.parse(badPartition, ''), { message: /topics\[0\]\.partitions\[0\]\.partition/ })
  t.throws(() => APIS.Fetch.request.parse('nope', ''), InvalidRequestError)
  t.throws(() => APIS.Metadata.request.parse({ topics: ['x'.repeat(300)] }, ''), InvalidRequestError, 'topic name bound')
  t.same(APIS.Metadata.request.parse({ topics: null }, ''), { topics: null, allowAutoCreate: false }, 'defaults fill optional fields')
})

t.test('random and mutated input only ever yields named errors', async t => {
  const random = rng(99)
  const valid = concatParts(encodeRequestFrame(ApiKey.Produce, 0, 5, clientId, produceBody, records))
  let unnamed = 0
  let framesSeen = 0
  for (let i = 0; i < 3000; i++) {
    let input: Uint8Array
    if (i % 2 === 0) {
      input = new Uint8Array(1 + Math.floor(random() * 200))
      for (let j = 0; j < input.length; j++) input[j] = Math.floor(random() * 256)
      if (i % 4 === 0 && input.length >= 4) new DataView(input.buffer).setUint32(0, Math.max(0, input.length - 4))
    } else {
      input = valid.slice()
      const flips = 1 + Math.floor(random() * 5)
      for (let f = 0; f < flips; f++) input[4 + Math.floor(random() * (input.length - 4))] = Math.floor(random() * 256)
    }
    try {
      for (const frame of new FrameDecoder(4096, REQUEST_HEADER_FIXED_BYTES).push(input)) {
        framesSeen++
        const parsed = parseRequestFrame(frame)
        const spec = Object.values(APIS).find(a => a.key === parsed.apiKey)
        if (spec !== undefined) spec.request.parse(decodeBody(parsed.bodyBytes), '')
      }
    } catch (err) {
      if (!(err instanceof SpoolError)) unnamed++
    }
  }
  t.equal(unnamed, 0, 'every failure is a SpoolError')
  t.ok(framesSeen > 100, 'mutations reached the body parser')
})

t.test('a frame arriving one byte per chunk is gathered into one buffer: memory ≈ the frame, not ≈ chunks × overhead', async t => {
  // Campaign finding: one byte per write cost the broker ~100-160 bytes per byte (every
  // chunk kept until the frame completed). Here 200,000 one-byte chunks, each its own
  // buffer as a socket read would be, must not stay alive while the frame is incomplete.
  const { setFlagsFromString } = await import('node:v8')
  const { runInNewContext } = await import('node:vm')
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const total = 200_004
  const frame = new Uint8Array(total)
  new DataView(frame.buffer).setUint32(0, total - 4)
  const decoder = new FrameDecoder(1 << 20, 4)
  gc()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < total - 1; i++) decoder.push(frame.slice(i, i + 1))
  gc()
  const grown = process.memoryUsage().heapUsed - before
  t.equal(decoder.bufferedBytes, total, 'one buffer of the frame size is held')
  t.ok(grown < 4 * 1024 * 1024, `heap grew ${(grown / 1024 / 1024).toFixed(1)} MB for ${total - 1} chunks (the chunks are not kept)`)
  const out = decoder.push(frame.slice(total - 1))
  t.equal(out.length, 1)
  t.equal(out[0]!.length, total, 'the whole frame comes out')
})
