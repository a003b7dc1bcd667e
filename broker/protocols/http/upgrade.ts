/**
 * The native protocol over WebSocket (`/ws` on the HTTP port): the same frames as TCP, one
 * per binary message, handled by the same Connection code. `maxPayload` bounds a message
 * before ws buffers it, as maxFrameBytes bounds a TCP frame.
 *
 * Origin check (protocols/http/origin.ts): a browser page from an Origin that is neither this
 * broker's host nor in httpAllowedOrigins is answered 403 before any WebSocket is created.
 */

import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import { WebSocketServer } from 'ws'
import { END_GRACE_MS, webSocketChannel } from '../../network/channel.js'
import type { Connections } from '../../network/registry.js'
import type { UpgradeHandler } from './server.js'
import { originAllowed } from './origin.js'

export { originAllowed } from './origin.js'

/** Answers an upgrade request with an HTTP error and closes (destroyed if the peer never reads). */
export function refuseUpgrade (socket: Socket, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length}\r\n\r\n${reason}`)
  // An upgraded socket is paused: read (and drop) what the peer still sends, so that its
  // FIN or reset is seen and the socket closes; cut it off if the peer keeps it open.
  socket.resume()
  setTimeout(() => socket.destroy(), END_GRACE_MS).unref()
}

/** Wraps an upgrade handler with the Origin check (used for /ws here and for /mqtt in broker.ts). */
export function originCheckedUpgrade (handler: UpgradeHandler, allowedOrigins: readonly string[] | null, logger: Logger): UpgradeHandler {
  return (req, socket, head) => {
    if (!originAllowed(req, allowedOrigins)) {
      logger.warn({ origin: req.headers.origin?.slice(0, 200), path: req.url?.slice(0, 200), remote: socket.remoteAddress }, 'websocket origin refused')
      refuseUpgrade(socket, 403, 'Origin not allowed (httpAllowedOrigins)')
      return
    }
    handler(req, socket, head)
  }
}

export function nativeWebSocketUpgrade (options: {
  connections: Connections
  maxFrameBytes: number
  allowedOrigins: readonly string[] | null
  logger: Logger
}): { handler: UpgradeHandler, close (): void } {
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxFrameBytes, perMessageDeflate: false, clientTracking: false })
  const handler = originCheckedUpgrade((req, socket, head) => {
    wss.handleUpgrade(req, socket, head, ws => {
      ws.binaryType = 'nodebuffer'
      options.connections.accept(webSocketChannel(ws, socket))
    })
  }, options.allowedOrigins, options.logger)
  return { handler, close: () => wss.close() }
}
