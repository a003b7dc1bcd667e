/**
 * A minimal native-protocol client over a raw TCP socket, for broker tests that must not
 * depend on the SDK: send frames (or arbitrary bytes), collect responses by correlation id,
 * see notices and the close.
 */

import { connect, type Socket } from 'node:net'
import { APIS, type ApiName, type ResponseOf } from '../../protocol/native/api-keys.js'
import { FrameDecoder, concatParts, decodeBody, encodeClientId, encodeRequestFrame, parseResponseFrame } from '../../protocol/native/frame.js'

export interface RawResponse {
  correlationId: number
  body: Record<string, unknown>
  records: Uint8Array
}

export class RawClient {
  readonly socket: Socket
  readonly responses: RawResponse[] = []
  closed = false
  #nextId = 1
  #waiters: Array<() => void> = []
  readonly #decoder = new FrameDecoder(256 * 1024 * 1024)
  readonly #clientId: Uint8Array

  private constructor (socket: Socket, clientId: string) {
    this.socket = socket
    this.#clientId = encodeClientId(clientId)
    socket.on('data', chunk => {
      for (const frame of this.#decoder.push(chunk)) {
        const parsed = parseResponseFrame(frame)
        this.responses.push({ correlationId: parsed.correlationId, body: decodeBody(parsed.bodyBytes) as Record<string, unknown>, records: parsed.records })
      }
      this.#notify()
    })
    socket.on('close', () => {
      this.closed = true
      this.#notify()
    })
    socket.on('error', () => {})
  }

  static connect (port: number, host = '127.0.0.1', clientId = 'raw-test'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host, noDelay: true }, () => resolve(new RawClient(socket, clientId)))
      socket.once('error', reject)
    })
  }

  #notify (): void {
    const w = this.#waiters
    this.#waiters = []
    for (const fn of w) fn()
  }

  /** Writes raw bytes. */
  write (bytes: Uint8Array): void {
    this.socket.write(bytes)
  }

  /** Sends a request; returns its correlation id. */
  send (api: ApiName, body: unknown, records: Uint8Array[] = [], version = 0): number {
    const id = this.#nextId++
    this.socket.write(concatParts(encodeRequestFrame(APIS[api].key, version, id, this.#clientId, body, records)))
    return id
  }

  /** Sends a request with an arbitrary api key. */
  sendKey (apiKey: number, body: unknown, version = 0): number {
    const id = this.#nextId++
    this.socket.write(concatParts(encodeRequestFrame(apiKey, version, id, this.#clientId, body)))
    return id
  }

  /** Waits (bounded) until `predicate` holds. */
  async until (predicate: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the broker')
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()))
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  async response (correlationId: number, timeoutMs = 5000): Promise<RawResponse> {
    await this.until(() => this.responses.some(r => r.correlationId === correlationId) || this.closed, timeoutMs)
    const r = this.responses.find(r => r.correlationId === correlationId)
    if (r === undefined) throw new Error(`connection closed before response ${correlationId}`)
    return r
  }

  /** Sends and waits for the typed response body. */
  async call<N extends ApiName> (api: N, body: unknown, records: Uint8Array[] = []): Promise<ResponseOf<N> & { records: Uint8Array }> {
    const r = await this.response(this.send(api, body, records))
    // A request-level error carries only errorCode/errorMessage: return it unparsed.
    if (typeof r.body.errorCode === 'number' && r.body.errorCode !== 0) return { ...(r.body as ResponseOf<N>), records: r.records }
    return { ...(APIS[api].response.parse(r.body, '') as ResponseOf<N>), records: r.records }
  }

  close (): void {
    this.socket.destroy()
  }
}
