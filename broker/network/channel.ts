/**
 * A ByteChannel is what a Connection needs from a transport: ordered writes of frame parts,
 * how much is queued, pause/resume of reading, close, and who is on the other end (the
 * Peer: address, the HTTP upgrade request of a WebSocket, the TLS certificate). TCP sockets
 * and WebSocket connections adapt to it here, so every protocol shares one connection
 * layer (any byte stream becomes a connection through one door).
 */

import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { PeerCertificate, TLSSocket } from 'node:tls'
import type { WebSocket } from 'ws'

export type TransportName = 'tcp' | 'ws'

/** Who is on the other end of a channel, as an authenticator or an ACL needs it. */
export interface Peer {
  /** `host:port` (`[v6]:port`), for logs and the connections table. */
  readonly address: string
  /** The address without the port, as ACLs and auth throttling use it. */
  readonly host: string
  readonly port: number
  readonly transport: TransportName
  /** True when the bytes travel over TLS (a TLS socket, or a WebSocket over HTTPS). */
  readonly encrypted: boolean
  /** The HTTP request that opened a WebSocket (headers, URL), null for plain TCP. */
  readonly upgrade: IncomingMessage | null
  /** The peer's verified TLS client certificate, null when none was presented. */
  certificate (): PeerCertificate | null
}

export interface ByteChannel {
  readonly transport: TransportName
  readonly peer: Peer
  /** Bytes written but not yet handed to the kernel. */
  readonly queuedBytes: number
  /** Writes one frame given as parts, in order, without joining them. */
  write (parts: readonly Uint8Array[]): void
  pause (): void
  resume (): void
  /**
   * Flushes what is queued, then closes; a peer that does not read within END_GRACE_MS is
   * cut off (an ended socket is not left half-open).
   */
  end (): void
  /** Closes now, dropping what is queued. */
  destroy (): void
  /** Delivers what the transport reports to `sink` from now on (called once). */
  attach (sink: ChannelSink): void
}

/**
 * What a channel reports to its connection. An object rather than three callbacks, so a
 * channel holds one reference and no connection needs closures of its own to listen.
 */
export interface ChannelSink {
  channelData (chunk: Uint8Array): void
  /** The transport's queue was written out (after queuedBytes grew). */
  channelDrain (): void
  /** The transport is closed, by either side. */
  channelClosed (): void
}

/** How long an ended channel waits for the peer to read what is queued before it is destroyed. */
export const END_GRACE_MS = 2000

function ignoreErrors (): void { /* 'close' follows an 'error'; the connection logs why it ended */ }

/** The peer of a socket: address fields at hand, the certificate read when asked. */
class SocketPeer implements Peer {
  readonly address: string
  readonly host: string
  readonly port: number
  readonly transport: TransportName
  readonly encrypted: boolean
  readonly upgrade: IncomingMessage | null
  readonly #tls: TLSSocket | null

  constructor (socket: Socket, transport: TransportName, upgrade: IncomingMessage | null) {
    const raw = socket.remoteAddress ?? 'unknown'
    // IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is shown and matched as the IPv4 address.
    const host = raw.startsWith('::ffff:') && raw.includes('.') ? raw.slice(7) : raw
    const port = socket.remotePort ?? 0
    this.#tls = (socket as Partial<TLSSocket>).encrypted === true ? socket as TLSSocket : null
    this.address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
    this.host = host
    this.port = port
    this.transport = transport
    this.encrypted = this.#tls !== null
    this.upgrade = upgrade
  }

  certificate (): PeerCertificate | null {
    const tls = this.#tls
    if (tls === null || !tls.authorized) return null
    const cert = tls.getPeerCertificate()
    return cert === null || Object.keys(cert).length === 0 ? null : cert
  }
}

/** The peer of a socket (TCP, or the one under a WebSocket). */
export function peerOf (socket: Socket, transport: TransportName, upgrade: IncomingMessage | null): Peer {
  return new SocketPeer(socket, transport, upgrade)
}

/** Where a socket's events go: its channel's sink, set on the socket by attach(). */
const SINK = Symbol('spool.channelSink')
interface AttachedSocket extends Socket { [SINK]: ChannelSink }

// One listener function of each kind for every socket (`this` is the socket): thousands of
// idle device connections hold no closures for their events.
function socketData (this: AttachedSocket, chunk: Uint8Array): void { this[SINK].channelData(chunk) }
function socketDrain (this: AttachedSocket): void { this[SINK].channelDrain() }
function socketClose (this: AttachedSocket): void { this[SINK].channelClosed() }

/** Uncorks the sockets corked in this tick (one shared callback, no closure per socket). */
function uncork (channel: TcpChannel): void {
  channel.uncork()
}

/**
 * TCP: Nagle off, and writes corked until the end of the tick so that every response
 * produced in one turn of the event loop leaves in one writev (header + body + file slices
 * of a fetch are written as they are, never joined). A class, so that thousands of idle
 * connections share its methods instead of holding a dozen closures each.
 */
class TcpChannel implements ByteChannel {
  readonly transport = 'tcp'
  readonly peer: Peer
  readonly #socket: Socket
  #corked = false

  constructor (socket: Socket) {
    this.#socket = socket
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 60_000)
    // From the start, not only once a Connection listens: a refused socket that the peer
    // resets must not become an unhandled 'error' event.
    socket.on('error', ignoreErrors)
    this.peer = peerOf(socket, 'tcp', null)
  }

  get queuedBytes (): number { return this.#socket.writableLength }

  write (parts: readonly Uint8Array[]): void {
    const socket = this.#socket
    if (socket.destroyed) return
    if (!this.#corked) {
      this.#corked = true
      socket.cork()
      process.nextTick(uncork, this)
    }
    for (const p of parts) socket.write(p)
  }

  uncork (): void {
    this.#corked = false
    this.#socket.uncork()
  }

  pause (): void { this.#socket.pause() }
  resume (): void { this.#socket.resume() }

  end (): void {
    const socket = this.#socket
    socket.end()
    setTimeout(destroySocket, END_GRACE_MS, socket).unref()
  }

  destroy (): void { this.#socket.destroy() }

  attach (sink: ChannelSink): void {
    const socket = this.#socket as AttachedSocket
    socket[SINK] = sink
    socket.on('data', socketData)
    socket.on('drain', socketDrain)
    socket.on('close', socketClose)
  }
}

function destroySocket (socket: Socket): void {
  socket.destroy()
}

export function tcpChannel (socket: Socket): ByteChannel {
  return new TcpChannel(socket)
}

/**
 * WebSocket: one native frame per binary message. A frame's parts are sent as fragments of
 * one message (fin on the last), so fetched record bytes are not copied into a joined
 * buffer. `socket` is the upgraded TCP socket underneath, for queue size and drain.
 */
export function webSocketChannel (ws: WebSocket, socket: Socket, upgrade: IncomingMessage): ByteChannel {
  socket.setNoDelay(true)
  ws.on('error', ignoreErrors)
  return {
    transport: 'ws',
    peer: peerOf(socket, 'ws', upgrade),
    get queuedBytes () { return ws.bufferedAmount },
    write (parts) {
      if (ws.readyState !== ws.OPEN) return
      const last = parts.length - 1
      for (let i = 0; i <= last; i++) ws.send(parts[i]!, { binary: true, fin: i === last, compress: false })
    },
    pause () { ws.pause() },
    resume () { ws.resume() },
    end () {
      ws.close(1000)
      setTimeout(() => ws.terminate(), END_GRACE_MS).unref()
    },
    destroy () { ws.terminate() },
    attach (sink) {
      ws.on('message', (data, isBinary) => {
        if (!isBinary) {
          // A text message is not a frame: the peer is told why it is closed.
          ws.close(1003, 'binary frames only')
          return
        }
        if (Array.isArray(data)) for (const d of data) sink.channelData(d)
        else sink.channelData(data instanceof ArrayBuffer ? new Uint8Array(data) : data)
      })
      socket.on('drain', () => sink.channelDrain())
      ws.on('close', () => sink.channelClosed())
    },
  }
}
