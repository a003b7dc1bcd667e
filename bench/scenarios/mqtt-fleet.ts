/**
 * A fleet of lean MQTT 3.1.1 devices for the device-scale benchmark (mqtt-devices.ts): raw
 * sockets, hand-encoded packets, one small object per device, so thousands of devices cost
 * the client little and the broker is what is measured. Not a program: the scenario drives it.
 *
 * Device i is client id `dev-<i>` and subscribes at QoS 1 to `dev/<i>/cfg` (or to a filter
 * the caller gives, e.g. one every device shares). Loopback source
 * ports run out near 28k per address pair, so devices are spread over the source addresses
 * 127.0.0.2 … 127.0.0.(1 + SOURCE_ADDRESSES) (`localAddress`; every 127/8 address is the
 * loopback interface's on Linux).
 *
 * Every wait is bounded: a device that gets no answer in time is counted as failed, never
 * waited for forever.
 */

import { connect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { MQTT_MAX_HEADER_BYTES, bodyStart, mqttHeaderReader } from '../../broker/protocols/mqtt/framer.js'
import { FrameAssembler } from '../../protocol/bytes/frame-assembler.js'

export const SOURCE_ADDRESSES = 64

export function sourceAddress (i: number): string {
  return `127.0.0.${2 + (i % SOURCE_ADDRESSES)}`
}

function str (s: string): Buffer {
  const b = Buffer.from(s)
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
}

function packet (first: number, body: Buffer): Buffer {
  const len: number[] = []
  let n = body.length
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    len.push(b)
  } while (n > 0)
  return Buffer.concat([Buffer.from([first, ...len]), body])
}

export function connectPacket (clientId: string, clean: boolean, keepAliveSec = 300): Buffer {
  return packet(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, clean ? 0x02 : 0, keepAliveSec >> 8, keepAliveSec & 0xff]), str(clientId)]))
}

export function subscribePacket (packetId: number, filter: string, qos: 0 | 1): Buffer {
  return packet(0x82, Buffer.concat([Buffer.from([packetId >> 8, packetId & 0xff]), str(filter), Buffer.from([qos])]))
}

export function publishPacket (topic: string, qos: 0 | 1, packetId: number, payload: Uint8Array): Buffer {
  const id = qos > 0 ? Buffer.from([packetId >> 8, packetId & 0xff]) : Buffer.alloc(0)
  return packet(0x30 | (qos << 1), Buffer.concat([str(topic), id, payload]))
}

const DISCONNECT = Buffer.from([0xe0, 0x00])
const PINGREQ = Buffer.from([0xc0, 0x00])

export function deviceTopic (i: number): string {
  return `dev/${i}/cfg`
}

/** Packet types (the high nibble of the first byte). */
const CONNACK = 2
const PUBLISH = 3
const PUBACK = 4
const SUBACK = 9

/** One device: a socket and what it is waiting for. */
export class Device {
  readonly index: number
  socket: Socket | null = null
  /** Messages received (QoS 1 ones are acknowledged at once). */
  received = 0
  connackAtMs = 0
  sessionPresent = false
  returnCode = -1
  closed = false
  /** Why the last socket ended without a CONNACK, when it did: an error code, or the peer's close. */
  failure: string | null = null
  #waiting: ((type: number) => void) | null = null
  #onPublish: ((d: Device) => void) | null = null

  constructor (index: number) {
    this.index = index
  }

  get clientId (): string { return `dev-${this.index}` }

  /**
   * Connects and sends CONNECT (and SUBSCRIBE to its own topic when `subscribe`); resolves
   * with the CONNACK return code, or -1 when nothing came within `timeoutMs`.
   */
  open (port: number, options: { clean: boolean, subscribe: boolean, timeoutMs: number, onPublish?: (d: Device) => void, filter?: string, keepAliveSec?: number }): Promise<number> {
    this.#onPublish = options.onPublish ?? null
    this.closed = false
    this.returnCode = -1
    this.failure = null
    const socket = connect({ host: '127.0.0.1', port, localAddress: sourceAddress(this.index), noDelay: true })
    this.socket = socket
    const framer = new FrameAssembler(mqttHeaderReader(1 << 20), MQTT_MAX_HEADER_BYTES)
    socket.on('data', chunk => {
      framer.push(chunk, whole => {
        this.#packet(whole)
        return true
      })
    })
    socket.on('error', err => { this.failure ??= (err as NodeJS.ErrnoException).code ?? err.message })
    socket.on('close', () => {
      if (this.returnCode === -1) this.failure ??= 'closed by the server before CONNACK'
      this.closed = true
      this.#wake(-1)
    })
    return new Promise(resolve => {
      const timer = setTimeout(() => { this.#waiting = null; resolve(-1) }, options.timeoutMs)
      this.#waiting = type => {
        if (type !== CONNACK && type !== -1) return
        clearTimeout(timer)
        this.#waiting = null
        if (type === -1) {
          resolve(-1)
          return
        }
        if (this.returnCode !== 0 || !options.subscribe) {
          resolve(this.returnCode)
          return
        }
        const subTimer = setTimeout(() => { this.#waiting = null; resolve(-1) }, options.timeoutMs)
        this.#waiting = t => {
          if (t !== SUBACK && t !== -1) return
          clearTimeout(subTimer)
          this.#waiting = null
          resolve(t === SUBACK ? 0 : -1)
        }
      }
      const parts = [connectPacket(this.clientId, options.clean, options.keepAliveSec)]
      if (options.subscribe) parts.push(subscribePacket(1, options.filter ?? deviceTopic(this.index), 1))
      socket.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts))
    })
  }

  #wake (type: number): void {
    const w = this.#waiting
    if (w !== null) w(type)
  }

  #packet (whole: Uint8Array): void {
    const first = whole[0]!
    const type = first >> 4
    const body = whole.subarray(bodyStart(whole))
    if (type === PUBLISH) {
      const qos = (first >> 1) & 3
      if (qos > 0) {
        const topicLength = (body[0]! << 8) | body[1]!
        const at = 2 + topicLength
        this.socket?.write(Buffer.from([0x40, 2, body[at]!, body[at + 1]!]))
      }
      this.received++
      this.#onPublish?.(this)
      return
    }
    if (type === CONNACK) {
      this.connackAtMs = performance.now()
      this.sessionPresent = (body[0]! & 1) === 1
      this.returnCode = body[1]!
    }
    this.#wake(type)
  }

  /** PINGREQ (the broker answers PINGRESP, which is ignored): what keeps a keep-alive connection open. */
  ping (): void {
    if (this.socket !== null && !this.closed) this.socket.write(PINGREQ)
  }

  /** Resolves when the socket closes. */
  closedPromise (): Promise<void> {
    const socket = this.socket
    if (socket === null || this.closed) return Promise.resolve()
    return new Promise(resolve => socket.once('close', () => resolve()))
  }

  /** DISCONNECT (no will), then the socket is ended; resolves once it closed (bounded). */
  disconnect (timeoutMs = 5000): Promise<void> {
    const socket = this.socket
    if (socket === null || this.closed) return Promise.resolve()
    return new Promise(resolve => {
      const timer = setTimeout(() => { socket.destroy(); resolve() }, timeoutMs)
      socket.once('close', () => { clearTimeout(timer); resolve() })
      socket.end(DISCONNECT)
    })
  }

  destroy (): void {
    this.socket?.destroy()
  }
}

/** Runs `fn` over `items` with at most `concurrency` at once. */
export async function eachLimited<T> (items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!
      await fn(item)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
}

/**
 * A publisher: one connection sending QoS 1 publishes with at most `window` unacknowledged;
 * resolves with how many were acknowledged within `timeoutMs`.
 */
export async function publishEach (port: number, clientId: string, topics: readonly string[], payload: Uint8Array, timeoutMs: number, window = 1000): Promise<number> {
  const socket = connect({ host: '127.0.0.1', port, noDelay: true })
  socket.on('error', () => {})
  const framer = new FrameAssembler(mqttHeaderReader(1 << 20), MQTT_MAX_HEADER_BYTES)
  let connected = false
  let acked = 0
  let sent = 0
  let wake: () => void = () => {}
  socket.on('data', chunk => {
    framer.push(chunk, whole => {
      const type = whole[0]! >> 4
      if (type === CONNACK) connected = true
      else if (type === PUBACK) acked++
      wake()
      return true
    })
  })
  socket.on('close', () => wake())
  const deadline = performance.now() + timeoutMs
  const waitFor = (done: () => boolean): Promise<boolean> => new Promise(resolve => {
    const check = (): void => {
      if (done()) { clearTimeout(timer); resolve(true) } else if (socket.destroyed || performance.now() > deadline) { clearTimeout(timer); resolve(false) }
    }
    const timer = setTimeout(() => { wake = () => {}; resolve(done()) }, Math.max(0, deadline - performance.now()))
    wake = check
    check()
  })
  socket.write(connectPacket(clientId, true))
  if (!await waitFor(() => connected)) {
    socket.destroy()
    return 0
  }
  while (sent < topics.length) {
    const parts: Buffer[] = []
    while (sent < topics.length && sent - acked < window && parts.length < 256) {
      parts.push(publishPacket(topics[sent]!, 1, (sent % 65535) + 1, payload))
      sent++
    }
    if (parts.length > 0) socket.write(Buffer.concat(parts))
    if (!await waitFor(() => sent - acked < window || acked >= topics.length)) break
  }
  await waitFor(() => acked >= sent)
  socket.end(DISCONNECT)
  setTimeout(() => socket.destroy(), 1000).unref()
  return acked
}

/** Resolves when `done()` holds (checked every `stepMs`), or false after `timeoutMs`. */
export async function until (done: () => boolean, timeoutMs: number, stepMs = 5): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (!done()) {
    if (performance.now() > deadline) return false
    await new Promise(resolve => setTimeout(resolve, stepMs))
  }
  return true
}
