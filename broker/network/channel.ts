/**
 * A ByteChannel is what a Connection needs from a transport: ordered writes of frame parts,
 * how much is queued, pause/resume of reading, close. TCP sockets and WebSocket
 * connections adapt to it here, so every listener shares one connection handler (style.md:
 * any byte stream becomes a connection).
 */

import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'

export type ListenerName = 'tcp' | 'ws'

export interface ByteChannel {
  readonly listener: ListenerName
  readonly remoteAddress: string
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
  onData (fn: (chunk: Uint8Array) => void): void
  onDrain (fn: () => void): void
  onClose (fn: () => void): void
}

/** How long an ended channel waits for the peer to read what is queued before it is destroyed. */
export const END_GRACE_MS = 2000

function ignoreErrors (): void { /* 'close' follows an 'error'; the connection logs why it ended */ }

function addressOf (socket: Socket): string {
  const host = socket.remoteAddress ?? 'unknown'
  return host.includes(':') ? `[${host}]:${socket.remotePort ?? 0}` : `${host}:${socket.remotePort ?? 0}`
}

/**
 * TCP: Nagle off, and writes corked until the end of the tick so that every response
 * produced in one turn of the event loop leaves in one writev (header + body + file slices
 * of a fetch are written as they are, never joined).
 */
export function tcpChannel (socket: Socket): ByteChannel {
  socket.setNoDelay(true)
  socket.setKeepAlive(true, 60_000)
  // From the start, not only once a Connection listens: a refused socket that the peer
  // resets must not become an unhandled 'error' event.
  socket.on('error', ignoreErrors)
  let corked = false
  const uncork = (): void => {
    corked = false
    socket.uncork()
  }
  return {
    listener: 'tcp',
    remoteAddress: addressOf(socket),
    get queuedBytes () { return socket.writableLength },
    write (parts) {
      if (socket.destroyed) return
      if (!corked) {
        corked = true
        socket.cork()
        process.nextTick(uncork)
      }
      for (const p of parts) socket.write(p)
    },
    pause () { socket.pause() },
    resume () { socket.resume() },
    end () {
      socket.end()
      setTimeout(() => socket.destroy(), END_GRACE_MS).unref()
    },
    destroy () { socket.destroy() },
    onData (fn) { socket.on('data', fn) },
    onDrain (fn) { socket.on('drain', fn) },
    onClose (fn) { socket.on('close', fn) },
  }
}

/**
 * WebSocket: one native frame per binary message. A frame's parts are sent as fragments of
 * one message (fin on the last), so fetched record bytes are not copied into a joined
 * buffer. `socket` is the upgraded TCP socket underneath, for queue size and drain.
 */
export function webSocketChannel (ws: WebSocket, socket: Socket): ByteChannel {
  socket.setNoDelay(true)
  ws.on('error', ignoreErrors)
  return {
    listener: 'ws',
    remoteAddress: addressOf(socket),
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
    onData (fn) {
      ws.on('message', (data, isBinary) => {
        if (!isBinary) {
          fn(new Uint8Array(0)) // a text message is not a frame: the empty chunk is ignored,
          ws.close(1003, 'binary frames only') // and the peer is told why it is closed
          return
        }
        if (Array.isArray(data)) for (const d of data) fn(d)
        else fn(data instanceof ArrayBuffer ? new Uint8Array(data) : data)
      })
    },
    onDrain (fn) { socket.on('drain', fn) },
    onClose (fn) { ws.on('close', fn) },
  }
}
