/**
 * The WebSocket frame gatherer in front of `ws` (broker/network/websocket.ts): the frame
 * header reader (wsFrameSize) under the FrameAssembler, which hands `ws` whole frames only.
 *
 * Differential: the same client byte stream goes (a) straight into a `ws` Receiver, as `ws`
 * would read the socket itself, and (b) through the gatherer, frame by frame (the pass-through
 * after a frame over maxPayload included), into a second Receiver. Both must see the same
 * messages, pings, pongs, closes and errors in the same order — except that (a) may refuse a
 * frame from its first bytes while (b) still gathers it. The gatherer never holds more than
 * one frame (maxPayload + its header).
 *
 * Inputs: streams of masked client frames of every opcode (fragmented messages, control
 * frames, close codes and reasons, text that is and is not UTF-8, lengths in every encoding
 * including non-minimal ones and 64-bit ones past 2^32), some mutated, some not masked.
 */

import fc from 'fast-check'
import { createRequire } from 'node:module'
import type { EventEmitter } from 'node:events'
import { FrameAssembler } from '../../../protocol/bytes/frame-assembler.js'
import { MAX_WS_HEADER_BYTES, wsFrameSize } from '../../../broker/network/websocket.js'
import { FuzzFailure, chunking, copyBytes, chunks, hex, mutate, same, type CodecTarget, type Rng } from '../engine.js'

const MAX_PAYLOAD = 4096

/** `ws`'s frame parser (exported by ws, not described by @types/ws). */
type ReceiverClass = new (options: Record<string, unknown>) => EventEmitter
const Receiver = (createRequire(import.meta.url)('ws') as { Receiver: ReceiverClass }).Receiver

interface FrameSpec {
  fin: boolean
  rsv: number
  opcode: number
  masked: boolean
  payload: Uint8Array
  /** The length written in the header (may differ from the payload's: a lie). */
  declared: number
  /** 7, 16 or 64-bit length field (non-minimal when larger than needed). */
  lengthBits: 7 | 16 | 64
}

/** Encodes a client frame (masked as RFC 6455 §5.3 says, with a fixed key for replays). */
export function encodeFrame (f: FrameSpec, key: Uint8Array = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d)): Uint8Array {
  const head: number[] = [(f.fin ? 0x80 : 0) | ((f.rsv & 7) << 4) | (f.opcode & 0x0f)]
  const mask = f.masked ? 0x80 : 0
  if (f.lengthBits === 7) head.push(mask | Math.min(f.declared, 125))
  else if (f.lengthBits === 16) head.push(mask | 126, (f.declared >> 8) & 0xff, f.declared & 0xff)
  else {
    const high = Math.floor(f.declared / 2 ** 32)
    const low = f.declared >>> 0
    head.push(mask | 127, (high >>> 24) & 0xff, (high >>> 16) & 0xff, (high >>> 8) & 0xff, high & 0xff, low >>> 24, (low >>> 16) & 0xff, (low >>> 8) & 0xff, low & 0xff)
  }
  if (f.masked) head.push(...key)
  const out = new Uint8Array(head.length + f.payload.length)
  out.set(head, 0)
  for (let i = 0; i < f.payload.length; i++) out[head.length + i] = f.masked ? f.payload[i]! ^ key[i % 4]! : f.payload[i]!
  return out
}

function randomPayload (rng: Rng, opcode: number): Uint8Array {
  if (opcode === 8) {
    // Close: nothing, or a code (valid, reserved, out of range) and a reason (maybe not UTF-8).
    if (rng.chance(0.2)) return new Uint8Array(0)
    const code = rng.pick([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 3000, 4999, 1004, 1005, 1006, 1015, 999, 5000, 0, 65535])
    const reason = rng.chance(0.8) ? new TextEncoder().encode('bye'.repeat(rng.small(30))) : Uint8Array.of(0xc3, 0x28)
    const out = new Uint8Array(2 + reason.length)
    out[0] = code >> 8
    out[1] = code & 0xff
    out.set(reason, 2)
    return rng.chance(0.1) ? out.subarray(0, 1) : out
  }
  if (opcode === 1 && rng.chance(0.7)) return new TextEncoder().encode('héllo wörld '.repeat(rng.small(40)))
  return rng.bytes(rng.small(300))
}

function randomFrame (rng: Rng, state: { fragmented: boolean }): FrameSpec {
  const r = rng.int(100)
  let opcode: number
  if (r < 8) opcode = rng.int(16)
  else if (r < 30) opcode = rng.pick([8, 9, 10])
  else if (state.fragmented) opcode = rng.chance(0.85) ? 0 : rng.pick([1, 2])
  else opcode = rng.chance(0.6) ? 2 : 1
  const control = opcode >= 8
  const fin = control ? rng.chance(0.95) : rng.chance(0.7)
  if (!control && opcode !== 0 && !fin) state.fragmented = true
  if (!control && fin) state.fragmented = false
  const payload = randomPayload(rng, opcode)
  let declared = payload.length
  if (rng.chance(0.12)) declared = rng.pick([MAX_PAYLOAD - 1, MAX_PAYLOAD, MAX_PAYLOAD + 1, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, 2 ** 53 - 1, 126, 127, 0])
  let lengthBits: 7 | 16 | 64 = declared < 126 ? 7 : declared < 65536 ? 16 : 64
  if (rng.chance(0.1)) lengthBits = rng.pick([16, 64] as const)
  if (lengthBits === 16 && declared > 0xffff) lengthBits = 64
  return { fin, rsv: rng.chance(0.05) ? rng.int(8) : 0, opcode, masked: rng.chance(0.96), payload: declared === payload.length ? payload : payload.subarray(0, Math.min(payload.length, declared)), declared, lengthBits }
}

function generate (rng: Rng): Uint8Array {
  const state = { fragmented: false }
  const frames: Uint8Array[] = []
  const n = 1 + rng.small(8)
  for (let i = 0; i < n; i++) frames.push(encodeFrame(randomFrame(rng, state), rng.chance(0.5) ? undefined : Uint8Array.from(rng.bytes(4))))
  const stream = Buffer.concat(frames)
  return rng.chance(0.3) ? mutate(stream, rng, frames) : stream
}

type Event = Array<string | number | boolean>

/** A server-side `ws` Receiver whose events are written down (its write path driven directly, synchronously). */
function recorder (): { write (chunk: Uint8Array): void, events: Event[], done: () => boolean } {
  const events: Event[] = []
  let finished = false
  const r = new Receiver({ isServer: true, maxPayload: MAX_PAYLOAD, binaryType: 'nodebuffer', extensions: {}, allowSynchronousEvents: true })
  r.on('message', (data: Buffer, isBinary: boolean) => events.push(['message', isBinary, hex(data, 64), data.length]))
  r.on('ping', (data: Buffer) => events.push(['ping', hex(data, 64)]))
  r.on('pong', (data: Buffer) => events.push(['pong', hex(data, 64)]))
  r.on('conclude', (code: number, reason: Buffer) => { events.push(['close', code, hex(reason, 64)]); finished = true })
  const internal = r as unknown as { _write (chunk: Buffer, encoding: string | null, cb: (err?: Error & { code?: string, [k: symbol]: unknown }) => void): void }
  return {
    events,
    done: () => finished,
    write (chunk) {
      if (finished) return
      internal._write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength), null, err => {
        if (err !== undefined && err !== null) {
          events.push(['error', err.code ?? err.message])
          finished = true
        }
      })
    },
  }
}

function check (original: Uint8Array, rng: Rng): string {
  let input = original
  const cuts = chunking(input.length, rng)
  const direct = recorder()
  // ws unmasks payloads in place: each reader gets its own copy of the bytes.
  for (const chunk of chunks(copyBytes(input), cuts)) if (!direct.done()) direct.write(chunk)
  input = copyBytes(input)

  // The gatherer, as network/websocket.ts drives it.
  const gathered = recorder()
  let passThrough = false
  const assembler = new FrameAssembler(wsFrameSize(MAX_PAYLOAD, () => { passThrough = true }), MAX_WS_HEADER_BYTES)
  const sink = (frame: Uint8Array): boolean => {
    const size = frame.length
    if (size > MAX_PAYLOAD + MAX_WS_HEADER_BYTES) throw new FuzzFailure(`the gatherer handed ws a frame of ${size} bytes, above maxPayload + header`)
    gathered.write(frame)
    return !passThrough && !gathered.done()
  }
  for (const chunk of chunks(input, cuts)) {
    if (gathered.done()) break
    if (passThrough) {
      gathered.write(chunk)
      continue
    }
    try {
      assembler.push(chunk, sink)
    } catch (err) {
      if (err instanceof FuzzFailure) throw err
      throw new FuzzFailure(`the gatherer's framing threw ${(err as Error).name}: ${(err as Error).message}`)
    }
    if (assembler.bufferedBytes > MAX_PAYLOAD + MAX_WS_HEADER_BYTES) throw new FuzzFailure(`the gatherer holds ${assembler.bufferedBytes} bytes`)
  }
  const a = direct.events
  const b = gathered.events
  const pending = assembler.bufferedBytes > 0
  const prefix = a.slice(0, b.length)
  const extraAllowed = pending && a.length === b.length + 1 && a[a.length - 1]![0] === 'error'
  if (!same(prefix, b) || (a.length !== b.length && !extraAllowed)) {
    throw new FuzzFailure(`ws reading the socket saw ${JSON.stringify(a).slice(0, 600)}; through the gatherer ${JSON.stringify(b).slice(0, 600)}`)
  }
  const messages = b.some(e => e[0] === 'message')
  const error = b.some(e => e[0] === 'error')
  return messages ? (error ? 'messages, then error' : 'messages') : error ? 'error' : 'no message'
}

function property (): fc.IRawProperty<unknown[]> {
  // Valid messages, split into frames and then into chunks anyhow: the same messages arrive.
  const message = fc.record({ binary: fc.boolean(), payload: fc.uint8Array({ maxLength: 600 }), fragments: fc.integer({ min: 1, max: 5 }) })
  return fc.property(fc.array(message, { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 0xffffffff }), (messages, seed) => {
    const frames: Uint8Array[] = []
    for (const m of messages) {
      const text = !m.binary
      const payload = text ? new TextEncoder().encode(Buffer.from(m.payload).toString('base64')) : m.payload
      const per = Math.ceil(payload.length / m.fragments) || 1
      for (let i = 0, part = 0; i < Math.max(1, payload.length); i += per, part++) {
        const slice = payload.subarray(i, i + per)
        const last = i + per >= payload.length
        frames.push(encodeFrame({ fin: last, rsv: 0, opcode: part === 0 ? (text ? 1 : 2) : 0, masked: true, payload: slice, declared: slice.length, lengthBits: slice.length < 126 ? 7 : 16 }))
      }
    }
    const stream = Buffer.concat(frames)
    const r = { int: (n: number) => seed % Math.max(1, n), range: (a: number, b: number) => a + (seed % (b - a + 1)) } as unknown as Rng
    const gathered = recorder()
    const assembler = new FrameAssembler(wsFrameSize(MAX_PAYLOAD, () => { throw new FuzzFailure('a valid frame was called too large') }), MAX_WS_HEADER_BYTES)
    for (const chunk of chunks(stream, chunking(stream.length, r))) assembler.push(chunk, f => { gathered.write(f); return true })
    const got = gathered.events.filter(e => e[0] === 'message')
    if (got.length !== messages.length) throw new FuzzFailure(`${got.length} of ${messages.length} messages arrived: ${JSON.stringify(gathered.events).slice(0, 300)}`)
  }) as fc.IRawProperty<unknown[]>
}

export const webSocketTarget: CodecTarget = {
  name: 'websocket',
  summary: 'WebSocket frame gathering in front of ws, differential against ws reading the socket itself',
  propertyShare: 0.1,
  property,
  generate,
  check,
}
