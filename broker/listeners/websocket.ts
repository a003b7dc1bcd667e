/**
 * The native protocol over WebSocket (`/ws` on the HTTP port): the same frames as TCP, one
 * per binary message, handled by the same Connection code. `maxPayload` bounds a message
 * before ws buffers it, as maxFrameBytes bounds a TCP frame.
 *
 * Origin check (browsers send Origin; other clients usually do not): with no allow-list,
 * requests without Origin and requests whose Origin host equals the Host header are
 * accepted; with a list, the Origin must be in it (`*` allows any). A refused upgrade is
 * answered 403 before any WebSocket is created.
 */

import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import { WebSocketServer } from 'ws'
import { webSocketChannel } from './channel.js'
import type { Connections } from './connections.js'
import type { UpgradeHandler } from './http.js'

/** Whether a browser Origin may open a WebSocket (see file header). */
export function originAllowed (req: IncomingMessage, allowedOrigins: readonly string[] | null): boolean {
  const origin = req.headers.origin
  if (origin === undefined) return true
  if (allowedOrigins !== null && allowedOrigins.length > 0) return allowedOrigins.includes('*') || allowedOrigins.includes(origin)
  try {
    return new URL(origin).host === req.headers.host
  } catch {
    return false
  }
}

export function refuseUpgrade (socket: Socket, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length}\r\n\r\n${reason}`)
}

export function nativeWebSocketUpgrade (options: {
  connections: Connections
  maxFrameBytes: number
  allowedOrigins: readonly string[] | null
  logger: Logger
}): { handler: UpgradeHandler, close (): void } {
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxFrameBytes, perMessageDeflate: false, clientTracking: false })
  const handler: UpgradeHandler = (req, socket, head) => {
    if (!originAllowed(req, options.allowedOrigins)) {
      options.logger.warn({ origin: req.headers.origin, remote: socket.remoteAddress }, 'websocket origin refused')
      refuseUpgrade(socket, 403, 'Origin not allowed')
      return
    }
    wss.handleUpgrade(req, socket, head, ws => {
      ws.binaryType = 'nodebuffer'
      options.connections.accept(webSocketChannel(ws, socket))
    })
  }
  return { handler, close: () => wss.close() }
}
