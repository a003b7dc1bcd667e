/**
 * A minimal Kafka-protocol client over a raw TCP socket, built on protocol/kafka, for tests
 * of the Kafka listener that must pin an exact api version or send bad bytes: send requests
 * (or arbitrary bytes), read answers in order, see the close.
 */

import { connect, type Socket } from 'node:net'
import { joinParts } from '../../protocol/bytes/writer.js'
import { KAFKA_APIS, decodeResponse, encodeRequest } from '../../protocol/kafka/index.js'
import type { KafkaApiName, RequestInput, ResponseBody } from '../../protocol/kafka/index.js'

export class KafkaRawClient {
  readonly socket: Socket
  /** Response frames without their size prefix, in arrival order. */
  readonly frames: Uint8Array[] = []
  closed = false
  #buffer = new Uint8Array(0)
  #nextId = 1
  #waiters: Array<() => void> = []
  readonly #clientId: string | null

  private constructor (socket: Socket, clientId: string | null) {
    this.socket = socket
    this.#clientId = clientId
    socket.on('data', (chunk: Buffer) => {
      const merged = new Uint8Array(this.#buffer.length + chunk.length)
      merged.set(this.#buffer)
      merged.set(chunk, this.#buffer.length)
      let pos = 0
      while (merged.length - pos >= 4) {
        const size = new DataView(merged.buffer, merged.byteOffset + pos).getInt32(0)
        if (merged.length - pos - 4 < size) break
        this.frames.push(merged.slice(pos + 4, pos + 4 + size))
        pos += 4 + size
      }
      this.#buffer = merged.slice(pos)
      this.#notify()
    })
    socket.on('close', () => { this.closed = true; this.#notify() })
    socket.on('error', () => {})
  }

  static connect (port: number, clientId: string | null = 'kafka-raw', host = '127.0.0.1'): Promise<KafkaRawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host, noDelay: true }, () => resolve(new KafkaRawClient(socket, clientId)))
      socket.once('error', reject)
    })
  }

  #notify (): void {
    const w = this.#waiters
    this.#waiters = []
    for (const fn of w) fn()
  }

  /** Waits (bounded) until `predicate` holds or the socket closes. */
  async until (predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!predicate() && !this.closed) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms`)
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, left)
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  write (bytes: Uint8Array): void { this.socket.write(bytes) }

  /** Sends a request; its correlation id. */
  send<N extends KafkaApiName> (name: N, version: number, body: RequestInput<N>, correlationId = this.#nextId++): number {
    this.write(joinParts(encodeRequest(KAFKA_APIS[name] as never, version, correlationId, this.#clientId, body as never).parts))
    return correlationId
  }

  /** Sends a request and reads the next frame as its answer (the listener answers in order). */
  async call<N extends KafkaApiName> (name: N, version: number, body: RequestInput<N>, timeoutMs = 10_000): Promise<ResponseBody<N>> {
    const before = this.frames.length
    const id = this.send(name, version, body)
    await this.until(() => this.frames.length > before, timeoutMs)
    const frame = this.frames[before]
    if (frame === undefined) throw new Error(`connection closed before the answer to ${name} v${version}`)
    const decoded = decodeResponse(KAFKA_APIS[name] as never, version, frame)
    if (decoded.correlationId !== id) throw new Error(`answer ${decoded.correlationId} to request ${id}`)
    return decoded.body as ResponseBody<N>
  }

  close (): void { this.socket.destroy() }
}
