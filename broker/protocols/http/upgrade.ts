/**
 * WebSocket endpoints on the HTTP port: `/ws` (the native protocol, the same frames as TCP,
 * one per binary message) and `/mqtt` (MQTT over WebSocket). Each upgrade passes the Origin
 * check, then network/websocket.ts upgrades it and the connection registry accepts it as a
 * connection of the endpoint's protocol — the same connection code as the protocol's TCP
 * listener, with the upgrade request kept as the peer's.
 *
 * Origin check (protocols/http/origin.ts): a browser page from an Origin that is neither this
 * broker's host nor in httpAllowedOrigins is answered 403 before any WebSocket is created.
 *
 * Who: `login(req)` may name the connection's principal from the upgrade request (the
 * console's session cookie: its live tail needs no token), until the session ends. Without
 * one, a connection authenticates in-band like any native connection (a token for browsers).
 */

import type { IncomingMessage } from 'node:http'
import type { Logger } from 'pino'
import { webSocketChannel } from '../../network/channel.js'
import type { WireProtocol } from '../../network/connection.js'
import type { ConnectionRegistry } from '../../network/registry.js'
import { refuseUpgrade, type UpgradeHandler, type WebSocketAcceptor } from '../../network/websocket.js'
import type { HttpLogin } from './auth.js'
import { originAllowed } from './origin.js'

export { originAllowed } from './origin.js'
export { refuseUpgrade }

/** Wraps an upgrade handler with the Origin check. */
export function originCheckedUpgrade (handler: UpgradeHandler, allowedOrigins: readonly string[] | null, logger: Logger): UpgradeHandler {
  let loggedMs = 0
  let suppressed = 0
  return (req, socket, head) => {
    if (!originAllowed(req, allowedOrigins)) {
      const now = Date.now()
      if (now - loggedMs >= 1000) {
        logger.warn({ origin: req.headers.origin?.slice(0, 200), path: req.url?.slice(0, 200), peer: socket.remoteAddress, suppressed: suppressed || undefined }, 'websocket origin refused')
        loggedMs = now
        suppressed = 0
      } else {
        suppressed++
      }
      refuseUpgrade(socket, 403, 'Origin not allowed (httpAllowedOrigins)')
      return
    }
    handler(req, socket, head)
  }
}

/** An upgrade endpoint whose WebSockets become connections of `protocol`. */
export function webSocketEndpoint (options: {
  acceptor: WebSocketAcceptor
  registry: ConnectionRegistry
  protocol: WireProtocol
  allowedOrigins: readonly string[] | null
  logger: Logger
  /** The principal the upgrade request itself proves (a login session), or null. */
  login?: (req: IncomingMessage) => HttpLogin | null
}): UpgradeHandler {
  return originCheckedUpgrade((req, socket, head) => {
    options.acceptor.upgrade(req, socket, head, (ws, raw) => {
      options.registry.accept(webSocketChannel(ws, raw, req), options.protocol, options.login?.(req) ?? null)
    })
  }, options.allowedOrigins, options.logger)
}
