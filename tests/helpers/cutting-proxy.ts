/**
 * A TCP proxy between a client and a broker that can lose an answer on purpose: armed, it
 * forwards the next Produce request to the broker as usual, and when the broker's response
 * to it arrives it destroys both sockets instead of forwarding it. The batch is then written
 * but its producer never hears so: the case an idempotent producer's retry must not
 * duplicate. Real sockets both ways; the broker is not told anything.
 */

import { connect, createServer, type Server, type Socket } from 'node:net'
import { ApiKey } from '../../protocol/native/api-keys.js'
import { FrameDecoder } from '../../protocol/native/frame.js'
import type { TestLike } from './broker.js'

const MAX_FRAME_BYTES = 256 * 1024 * 1024

export class CuttingProxy {
  readonly port: number
  /** Connections destroyed instead of forwarding a Produce response. */
  cuts = 0
  /** Produce requests forwarded (over every connection). */
  produceRequests = 0
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  #armed = false

  private constructor (server: Server, port: number) {
    this.#server = server
    this.port = port
  }

  /** A proxy on a free 127.0.0.1 port to `targetPort`, closed at teardown. */
  static async start (t: TestLike, targetPort: number): Promise<CuttingProxy> {
    let proxy: CuttingProxy | null = null
    const server = createServer(socket => proxy!.#pipe(socket, targetPort))
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    proxy = new CuttingProxy(server, (server.address() as { port: number }).port)
    t.teardown(() => proxy!.close())
    return proxy
  }

  get address (): string {
    return `127.0.0.1:${this.port}`
  }

  /** The next Produce request is forwarded; its response is not (both sides are destroyed). */
  armCutAfterProduce (): void {
    this.#armed = true
  }

  close (): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    return new Promise(resolve => this.#server.close(() => resolve()))
  }

  #pipe (client: Socket, targetPort: number): void {
    const upstream = connect({ port: targetPort, host: '127.0.0.1', noDelay: true })
    client.setNoDelay(true)
    this.#sockets.add(client)
    this.#sockets.add(upstream)
    const cutOn = new Set<number>()
    const cut = (): void => {
      client.destroy()
      upstream.destroy()
    }
    const requests = new FrameDecoder(MAX_FRAME_BYTES)
    const responses = new FrameDecoder(MAX_FRAME_BYTES)
    client.on('data', chunk => {
      for (const frame of requests.push(chunk)) {
        const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
        if (view.getUint16(4) === ApiKey.Produce) {
          this.produceRequests++
          if (this.#armed) {
            this.#armed = false
            cutOn.add(view.getUint32(8))
          }
        }
        upstream.write(frame)
      }
    })
    upstream.on('data', chunk => {
      for (const frame of responses.push(chunk)) {
        const correlationId = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(4)
        if (cutOn.has(correlationId)) {
          this.cuts++
          cut()
          return
        }
        client.write(frame)
      }
    })
    for (const s of [client, upstream]) {
      s.on('error', () => {})
      s.on('close', () => {
        this.#sockets.delete(s)
        cut()
      })
    }
  }
}
