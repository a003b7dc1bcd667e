/**
 * TCP transport on node:net (Node only; the Node entry `client/index.ts` registers it).
 *
 * - `setNoDelay(true)`: requests are written as whole frames already, so Nagle would only
 *   add latency (measured here: ~20 ms instead of ~0.2 ms).
 * - A frame's parts are written between cork() and uncork(), so Node hands them to the
 *   kernel in one writev: one syscall per frame, and record batches are not copied.
 * - Incoming bytes go through the push FrameDecoder, which checks each length prefix
 *   against maxFrameBytes before buffering and returns frames that lie within one chunk as
 *   views (no copy).
 * - With `tls` options the socket is a node:tls one: the broker's certificate must verify
 *   against `ca` (or the system's CAs) and name the host (SNI for DNS names only), and the
 *   transport opens once the handshake is done. A certificate that does not verify rejects
 *   with Node's error (its `code`, e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE, names why).
 */

import { Socket, connect, isIP } from 'node:net'
import { connect as connectTls, type ConnectionOptions, type TLSSocket } from 'node:tls'
import { BrokerUnreachableError } from '../../protocol/errors.js'
import { FrameDecoder, RESPONSE_HEADER_BYTES } from '../../protocol/native/frame.js'
import type { TlsClientOptions, Transport, TransportFactory, TransportHandlers, TransportOptions } from './transport.js'

/** Splits "host:port" (IPv6 as "[::1]:7420"). */
export function parseHostPort (address: string): { host: string, port: number } {
  const match = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(address.trim())
  const port = match === null ? NaN : Number(match[2])
  if (match === null || match[1] === '' || port > 65535) throw new TypeError(`"${address}" is not host:port`)
  return { host: match[1]!, port }
}

class NodeTcpTransport implements Transport {
  readonly #socket: Socket
  readonly #handlers: TransportHandlers
  readonly #decoder: FrameDecoder
  #closed = false
  #framed = false

  constructor (socket: Socket, handlers: TransportHandlers, maxFrameBytes: number) {
    this.#socket = socket
    this.#handlers = handlers
    this.#decoder = new FrameDecoder(maxFrameBytes, RESPONSE_HEADER_BYTES)
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    socket.on('drain', () => handlers.onDrain())
    socket.on('error', err => this.#finish(this.#framed ? err : refusedTls(err, socket)))
    socket.on('close', () => this.#finish(this.#framed || !(socket as Partial<TLSSocket>).encrypted
      ? undefined
      : new BrokerUnreachableError(`cannot reach broker at ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}: it closed the TLS connection before answering (does it require a client certificate from its CA?)`)))
  }

  #onData (chunk: Buffer): void {
    let frames: Uint8Array[]
    try {
      // A plain Uint8Array view of the Buffer: views taken from it later (keys, values)
      // are then plain Uint8Arrays too, which V8 creates about twice as fast as Buffers.
      frames = this.#decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    } catch (err) {
      // The stream's framing is lost: nothing after this can be trusted. Before any frame
      // at all it is most likely not a Spool broker (`--broker` given the HTTP port, say).
      this.#finish(this.#framed
        ? err as Error
        : new BrokerUnreachableError(`cannot reach broker at ${this.#socket.remoteAddress ?? '?'}:${this.#socket.remotePort ?? '?'} (it does not speak the Spool protocol: another port, e.g. the HTTP or MQTT one?)`, { cause: err }))
      return
    }
    if (frames.length > 0) this.#framed = true
    for (let i = 0; i < frames.length && !this.#closed; i++) this.#handlers.onFrame(frames[i]!)
  }

  write (parts: readonly Uint8Array[]): boolean {
    if (this.#closed) return true
    const socket = this.#socket
    if (parts.length === 1) return socket.write(parts[0]!)
    socket.cork()
    let ok = true
    for (let i = 0; i < parts.length; i++) ok = socket.write(parts[i]!)
    socket.uncork()
    return ok
  }

  close (): void {
    this.#finish()
  }

  #finish (error?: Error): void {
    if (this.#closed) return
    this.#closed = true
    this.#socket.destroy()
    this.#handlers.onClose(error)
  }
}

/**
 * With TLS 1.3 a broker checks the client's certificate after the client's side of the
 * handshake is done: a refusal arrives as an alert on the first read. Named as unreachable,
 * with the alert, rather than as a connection that merely closed.
 */
function refusedTls (err: Error, socket: Socket): Error {
  const code = (err as NodeJS.ErrnoException).code
  if (code === undefined || !code.startsWith('ERR_SSL_')) return err
  return new BrokerUnreachableError(`cannot reach broker at ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}: it refused the TLS connection (${code}; does it require a client certificate from its CA?)`, { cause: err })
}

type Pem = string | Uint8Array
const pem = (v: Pem): string | Buffer => typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength)

function nodeTlsOptions (tls: TlsClientOptions): ConnectionOptions {
  return {
    ...(tls.ca === undefined ? {} : { ca: Array.isArray(tls.ca) ? tls.ca.map(pem) : pem(tls.ca) }),
    ...(tls.cert === undefined ? {} : { cert: pem(tls.cert) }),
    ...(tls.key === undefined ? {} : { key: pem(tls.key) }),
    ...(tls.passphrase === undefined ? {} : { passphrase: tls.passphrase }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
  }
}

/** Opens a TCP connection to "host:port" (TLS with `options.tls`). */
export const nodeTcpTransport: TransportFactory = (address, handlers, options: TransportOptions) => {
  const { host, port } = parseHostPort(address)
  return new Promise<Transport>((resolve, reject) => {
    const tls = options.tls
    const socket = tls === undefined
      ? connect({ host, port, noDelay: true })
      : connectTls({
        host, port, ...nodeTlsOptions(tls),
        ...(tls.servername === undefined && isIP(host) === 0 ? { servername: host } : {}),
      })
    const timer = setTimeout(() => {
      const err = Object.assign(new Error(`connect to ${address} timed out after ${options.connectTimeoutMs} ms`), { code: 'ETIMEDOUT' })
      socket.destroy()
      reject(err)
    }, options.connectTimeoutMs)
    const onError = (err: Error): void => {
      clearTimeout(timer)
      socket.destroy()
      reject(err)
    }
    socket.once('error', onError)
    socket.once(tls === undefined ? 'connect' : 'secureConnect', () => {
      clearTimeout(timer)
      socket.off('error', onError)
      socket.setNoDelay(true)
      resolve(new NodeTcpTransport(socket, handlers, options.maxFrameBytes))
    })
  })
}
