/**
 * What the listener fuzzer sends, one connection per case, each case made from its own seeded
 * generator (so the bytes of case i of a seed are the same in every run):
 *
 *   native, ws   random bytes; captured SDK frames mutated as bytes; captured frames with their
 *                msgpack body mutated structurally (framing intact, so the request reaches its
 *                handler with odd values); length prefixes past maxFrameBytes, at its limit,
 *                below the smallest header; byte-at-a-time trickles; floods of pipelined
 *                requests; Produce requests carrying the RecordBatch fuzzer's batches, each
 *                followed by a Fetch of that partition. Over /ws the same bytes are cut into
 *                1–3 binary messages, or a raw
 *                stream of (mutated, maybe invalid) WebSocket frames is sent instead.
 *   mqtt, mqtt-ws  a captured CONNECT (3.1.1 or 5) and captured client packets of that version,
 *                mutated or not; a mutated CONNECT alone; random bytes; remaining lengths past
 *                the limit or longer than 4 bytes; trickles; floods of PUBLISH.
 *   http         requests built from parts: methods, paths (every route, percent-encodings
 *                good and bad, dot segments, long, absolute-form), headers (Origin, Host,
 *                Content-Type, Content-Length right and wrong, chunked bodies, long values),
 *                JSON bodies for /api mutated structurally, invalid JSON, oversize bodies.
 *
 * Every case ends with a probe the broker must answer if its framing is intact (ApiVersions,
 * PINGREQ); `framing` in wire.ts says whether it is.
 */

import { concatParts, decodeBody, encodeClientId, encodeRequestFrame, parseRequestFrame } from '../../protocol/native/frame.js'
import type { CapturedFrame } from './capture.js'
import { mutate, type Rng } from './engine.js'
import { mutateValue, oddValue } from './values.js'
import { webSocketTarget } from './codecs/websocket.js'
import { recordBatchTarget } from './codecs/record-batch.js'
import { PINGREQ, nativeProbe, wsBinary } from './wire.js'

export interface Corpora {
  native: Uint8Array[]
  /** Topics the `produce` mode writes fuzzed record batches to (created by the run). */
  produceTopics: string[]
  mqttConnect: Record<4 | 5, Uint8Array[]>
  mqttPackets: Record<4 | 5, Uint8Array[]>
  mqttAll: Uint8Array[]
}

/** Requests from the SDK and client packets from mqtt.js (fixtures and this run's capture). */
export function corpora (native: readonly CapturedFrame[], mqttFrames: readonly CapturedFrame[], produceTopics: string[] = []): Corpora {
  const c: Corpora = { native: [], produceTopics, mqttConnect: { 4: [], 5: [] }, mqttPackets: { 4: [], 5: [] }, mqttAll: [] }
  for (const f of native) if (f.direction === 'request') c.native.push(f.bytes)
  for (const f of mqttFrames) {
    if (f.direction !== 'request') continue
    const v = f.flow === 'mqtt-v5' ? 5 : 4
    if (f.kind === 1) c.mqttConnect[v].push(f.bytes)
    else c.mqttPackets[v].push(f.bytes)
    c.mqttAll.push(f.bytes)
  }
  return c
}

export interface SocketCase {
  mode: string
  /** What is written (already cut into the pieces written one after another for trickles). */
  bytes: Uint8Array
  /** Write one byte at a time. */
  trickle: boolean
}

function structural (frame: Uint8Array, rng: Rng): Uint8Array {
  try {
    const req = parseRequestFrame(frame)
    const body = mutateValue(decodeBody(req.bodyBytes), rng)
    return concatParts(encodeRequestFrame(req.apiKey, rng.chance(0.95) ? req.apiVersion : rng.int(3), (rng.u32() >>> 1) || 1,
      encodeClientId(rng.chance(0.9) ? req.clientId.slice(0, 64) : 'fuzz'), body, [req.records]))
  } catch {
    return frame
  }
}

function lengthPrefix (n: number, rest: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + rest.length)
  new DataView(out.buffer).setUint32(0, n >>> 0)
  out.set(rest, 4)
  return out
}

/**
 * A Produce of record batches from the RecordBatch fuzzer (mutated, CRCs mostly fixed up, so
 * some pass the append checks and land in the log), then a Fetch of that partition from the
 * start: what the broker accepts it must also serve, compact and recover.
 */
function produceCase (c: Corpora, rng: Rng): SocketCase {
  const records = recordBatchTarget.generate(rng)
  const topic = rng.pick(c.produceTopics)
  const partition = rng.int(2)
  const id = encodeClientId('fuzz-producer')
  const produce = concatParts(encodeRequestFrame(0, 0, (rng.u32() >>> 1) || 1, id, {
    acks: rng.pick([1, 1, -1, 0]), timeoutMs: 5000, topics: [{ topic, partitions: [{ partition, recordsBytes: records.length }] }],
  }, [records]))
  const fetch = concatParts(encodeRequestFrame(1, 0, (rng.u32() >>> 1) || 1, id, {
    maxWaitMs: 0, minBytes: 0, maxBytes: 1024 * 1024, topics: [{ topic, partitions: [{ partition, fetchOffset: rng.chance(0.5) ? 0 : rng.int(50), maxBytes: 512 * 1024 }] }],
  }))
  return { mode: 'produce', bytes: concatParts([produce, fetch]), trickle: false }
}

/** The native bytes of a case (before the probe). */
export function nativeCase (c: Corpora, rng: Rng, maxFrameBytes: number): SocketCase {
  const r = rng.int(100)
  if (r < 5) return { mode: 'random', bytes: rng.bytes(1 + rng.small(200)), trickle: false }
  if (r >= 90 && c.produceTopics.length > 0) return produceCase(c, rng)
  if (r < 10) {
    const n = rng.pick([maxFrameBytes - 3, maxFrameBytes - 4, maxFrameBytes + 1, 0xffffffff, 0x7fffffff, 0, 3, 11, 15, 1 + rng.small(maxFrameBytes)])
    return { mode: 'oversize', bytes: lengthPrefix(n, rng.bytes(rng.small(64))), trickle: false }
  }
  if (r < 20) {
    const base = rng.pick(c.native)
    return { mode: 'trickle', bytes: rng.chance(0.5) ? base : mutate(base, rng, c.native, 2), trickle: true }
  }
  if (r < 25) {
    const base = rng.pick(c.native)
    const n = 20 + rng.small(400)
    const parts: Uint8Array[] = []
    for (let i = 0; i < n; i++) parts.push(rng.chance(0.9) ? base : structural(base, rng))
    return { mode: 'flood', bytes: concatParts(parts), trickle: false }
  }
  if (r < 55) {
    const n = rng.chance(0.8) ? 1 : rng.range(2, 4)
    const parts = Array.from({ length: n }, () => structural(rng.pick(c.native), rng))
    return { mode: 'structured', bytes: concatParts(parts), trickle: false }
  }
  const n = rng.chance(0.7) ? 1 : rng.range(2, 4)
  const parts = Array.from({ length: n }, () => {
    const base = rng.pick(c.native)
    return rng.chance(0.85) ? mutate(base, rng, c.native) : base
  })
  return { mode: 'mutated', bytes: concatParts(parts), trickle: false }
}

/** Native bytes for a whole case: the case, then the probe. */
export function withNativeProbe (k: SocketCase): Uint8Array {
  return concatParts([k.bytes, nativeProbe()])
}

/** The MQTT bytes of a case (before the PINGREQ). */
export function mqttCase (c: Corpora, rng: Rng, maxPacketBytes: number): SocketCase {
  const v = rng.chance(0.5) ? 4 : 5
  const connect = (): Uint8Array => rng.pick(c.mqttConnect[v].length > 0 ? c.mqttConnect[v] : c.mqttConnect[4])
  const packets = c.mqttPackets[v].length > 0 ? c.mqttPackets[v] : c.mqttPackets[4]
  const r = rng.int(100)
  if (r < 5) return { mode: 'random', bytes: rng.bytes(1 + rng.small(200)), trickle: false }
  if (r < 10) {
    const header = rng.pick([
      Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0x7f),
      Uint8Array.of(0x10, 0xff, 0xff, 0xff, 0xff, 0x01),
      Uint8Array.of(0x30, 0x80 | ((maxPacketBytes + 1) & 0x7f), 0x80 | (((maxPacketBytes + 1) >> 7) & 0x7f), ((maxPacketBytes + 1) >> 14) & 0x7f),
    ])
    return { mode: 'oversize', bytes: concatParts(rng.chance(0.5) ? [connect(), header] : [header]), trickle: false }
  }
  if (r < 30) return { mode: 'mutated-connect', bytes: mutate(connect(), rng, c.mqttAll), trickle: false }
  if (r < 38) {
    const publish = packets.find(p => (p[0]! >> 4) === 3) ?? packets[0]!
    const n = 20 + rng.small(300)
    return { mode: 'flood', bytes: concatParts([connect(), ...Array.from({ length: n }, () => publish)]), trickle: false }
  }
  const parts: Uint8Array[] = [rng.chance(0.85) ? connect() : mutate(connect(), rng, c.mqttAll, 1)]
  const n = 1 + rng.small(6)
  for (let i = 0; i < n; i++) {
    const p = rng.pick(packets)
    parts.push(rng.chance(0.6) ? mutate(p, rng, c.mqttAll) : p)
  }
  return { mode: r < 48 ? 'trickle' : 'session', bytes: concatParts(parts), trickle: r < 48 }
}

export function withPing (k: SocketCase): Uint8Array {
  return concatParts([k.bytes, PINGREQ])
}

/** Bytes of a protocol cut into 1–3 binary WebSocket messages (masked client frames). */
export function inMessages (bytes: Uint8Array, rng: Rng): Uint8Array {
  if (bytes.length === 0) return wsBinary(bytes)
  const cuts = new Set<number>()
  const n = rng.int(3)
  for (let i = 0; i < n; i++) cuts.add(1 + rng.int(bytes.length))
  const points = [0, ...[...cuts].filter(x => x < bytes.length).sort((a, b) => a - b), bytes.length]
  const frames: Uint8Array[] = []
  for (let i = 0; i + 1 < points.length; i++) frames.push(wsBinary(bytes.subarray(points[i]!, points[i + 1]!)))
  return concatParts(frames)
}

/** A raw, likely invalid, stream of WebSocket frames (the codec fuzzer's generator). */
export function rawWebSocketFrames (rng: Rng): Uint8Array {
  return webSocketTarget.generate(rng)
}

// ----- HTTP -----

export interface HttpCase {
  mode: string
  bytes: Uint8Array
  /** Whether the request is complete and well-formed HTTP (the broker owes an answer). */
  complete: boolean
  summary: string
}

const ROUTES = ['/api', '/api/overview', '/api/topics', '/api/topics/:topic', '/api/groups', '/api/groups/:group', '/api/traffic', '/healthz', '/metrics',
  '/', '/console/', '/console/index.html', '/sdk/spool.js', '/examples/', '/examples/browser/', '/ws', '/mqtt', '/nothing', '/api/nothing', '/api/topics/a/b']
/** Topics /api may create and delete: a small set, so the fuzzer does not fill the disk. */
export const HTTP_TOPICS = Array.from({ length: 8 }, (_, i) => `fuzz-http-${i}`)

function oddSegment (rng: Rng): string {
  return rng.pick(['%00', '%2F', '%2e%2e', '..', '.', '%zz', '%', '%E9', '%C3%A9', 'é', '\u00ff', 'a'.repeat(rng.pick([10, 300, 3000, 9000])), '%ff%fe', '__consumer_offsets',
    ';x', '?', '#frag', '%20', '+', `fuzz-http-${rng.int(8)}`, String(rng.u32())])
}

function path (rng: Rng): string {
  let p = rng.pick(ROUTES)
    .replace(':topic', rng.chance(0.6) ? rng.pick(HTTP_TOPICS) : oddSegment(rng))
    .replace(':group', rng.chance(0.5) ? `fuzz-group-${rng.int(4)}` : oddSegment(rng))
  const r = rng.int(10)
  if (r === 0) p = p + '/' + oddSegment(rng)
  else if (r === 1) p = p.replace(/\//g, () => rng.chance(0.3) ? '//' : '/')
  else if (r === 2) p = `http://127.0.0.1${p}`
  else if (r === 3) p = rng.pick(['*', '', 'api', '/%', '/..%2f..%2fetc/passwd', '/api/topics/%00'])
  if (rng.chance(0.3)) p += rng.pick(['?internal=true', '?internal=1&internal=0', '?' + 'q'.repeat(2000), '?%zz', '?a=%00', '?internal'])
  return p
}

function jsonBody (rng: Rng): { text: string, valid: boolean } {
  const r = rng.int(10)
  if (r === 0) return { text: rng.pick(['{', '{"topic":', 'null', '[]', '"x"', '1e999', '{"topic":"a","topic":"b"}', '\u0000', '']), valid: false }
  if (r === 1) return { text: JSON.stringify({ topic: rng.pick(HTTP_TOPICS), pad: 'x'.repeat(rng.pick([70_000, 200_000])) }), valid: true }
  const base = { topic: rng.pick(HTTP_TOPICS), partitions: rng.range(1, 4), config: { retentionMs: 3_600_000, cleanupPolicy: 'delete' } }
  const value = rng.chance(0.2) ? base : mutateValue(base, rng)
  return { text: JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)) ?? 'null', valid: true }
}

/** One HTTP request (or, rarely, random bytes or several pipelined requests). */
export function httpCase (rng: Rng, port: number): HttpCase {
  if (rng.chance(0.04)) return { mode: 'random', bytes: rng.bytes(1 + rng.small(300)), complete: false, summary: 'random bytes' }
  const method = rng.chance(0.85) ? rng.pick(['GET', 'GET', 'GET', 'POST', 'POST', 'DELETE', 'HEAD', 'OPTIONS']) : rng.pick(['PUT', 'PATCH', 'TRACE', 'CONNECT', 'FOO', 'get', 'G E T'])
  const target = path(rng)
  const headers: string[] = []
  let complete = !method.includes(' ') && !/[\s\u0000-\u001f\u007f-\uffff]/.test(target) && target !== '' && method !== 'CONNECT'
  const host = rng.int(10)
  if (host < 8) headers.push(`Host: 127.0.0.1:${port}`)
  else if (host === 8) headers.push(rng.pick(['Host: evil.example', 'Host: ', 'Host: [::1]:1', `Host: localhost:${port}`]))
  const origin = rng.int(8)
  if (origin === 1) headers.push(`Origin: http://127.0.0.1:${port}`)
  else if (origin === 2) headers.push(rng.pick(['Origin: null', 'Origin: http://evil.example', 'Origin: ::', 'Origin: http://localhost:1', `Origin: ${'o'.repeat(500)}`]))
  if (rng.chance(0.05)) headers.push(`X-Long: ${'v'.repeat(rng.pick([1000, 20_000]))}`)
  if (rng.chance(0.05)) headers.push(rng.pick(['Upgrade: websocket', 'Connection: Upgrade', 'Expect: 100-continue', 'Content-Encoding: gzip', 'Accept: */*', 'X-\u00e9: 1']))
  let body: Uint8Array = new Uint8Array(0)
  if (method === 'POST' || rng.chance(0.05)) {
    const json = jsonBody(rng)
    body = Buffer.from(json.text)
    headers.push(`Content-Type: ${rng.chance(0.85) ? 'application/json' : rng.pick(['text/plain', 'application/json; charset=latin1', 'APPLICATION/JSON', '', 'multipart/form-data; boundary=x'])}`)
    const framing = rng.int(10)
    if (framing < 7) headers.push(`Content-Length: ${body.length}`)
    else if (framing === 7) {
      // Chunked, in pieces of random sizes.
      headers.push('Transfer-Encoding: chunked')
      const pieces: Uint8Array[] = []
      for (let i = 0; i < body.length;) {
        const n = Math.min(body.length - i, 1 + rng.small(300))
        pieces.push(Buffer.from(`${n.toString(16)}\r\n`), body.subarray(i, i + n), Buffer.from('\r\n'))
        i += n
      }
      pieces.push(Buffer.from('0\r\n\r\n'))
      body = concatParts(pieces)
    } else if (framing === 8) {
      headers.push(`Content-Length: ${body.length + rng.range(1, 100)}`)
      complete = false // the server waits for the rest
    } else {
      headers.push(`Content-Length: ${rng.pick(['-1', 'abc', '1, 2', ' ' + String(body.length)])}`)
    }
  }
  headers.push('Connection: close')
  const head = Buffer.from(`${method} ${target} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`, 'latin1')
  let bytes = concatParts([head, body])
  if (rng.chance(0.05)) {
    bytes = mutate(bytes, rng, [], 2)
    complete = false
  }
  return { mode: method, bytes, complete, summary: `${method} ${target.slice(0, 120)}` }
}

export { oddValue }
