/**
 * The HTTP port: small JSON/text routes (`/healthz`, `/metrics`, later `/api/...` and the
 * console) and WebSocket upgrades by path (`/ws` for the native protocol). Routes are
 * registered by the parts of the broker that own them; this file only serves them.
 */

import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { HttpMethodNotAllowedError, HttpNotFoundError, InvalidRequestError, UnknownServerError, type SpoolError } from '../../../protocol/errors.js'
import type { ConnectionRegistry } from '../../network/registry.js'
import { TLS_HANDSHAKE_TIMEOUT_MS, serve, type Listener, type ListenTarget } from '../../network/server.js'
import type { TlsContextManager } from '../../security/tls.js'
import { refuseUpgrade, type UpgradeHandler } from '../../network/websocket.js'
import { errorBody, statusFor } from './api/router.js'
import { faultPoints } from '../../storage/testing/fault-points.js'

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>
export type { UpgradeHandler }

export interface HttpRoutes {
  /** Exact path → handler for GET/HEAD (and other methods the handler checks itself). */
  routes: Map<string, RouteHandler>
  /** Path prefix → handler, tried when no exact route matches (longest first). */
  prefixes: Map<string, RouteHandler>
  upgrades: Map<string, UpgradeHandler>
}

export function newRoutes (): HttpRoutes {
  return { routes: new Map(), prefixes: new Map(), upgrades: new Map() }
}

export function sendJson (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
  res.end(text)
}

export function sendText (res: ServerResponse, status: number, text: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' })
  res.end(text)
}

/** GET and HEAD only: anything else is answered 405 with an Allow header; false then. */
export function readOnly (req: IncomingMessage, res: ServerResponse, what: string): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return true
  sendError(res, new HttpMethodNotAllowedError(`method ${(req.method ?? '').slice(0, 16)} not allowed: ${(req.url ?? '').slice(0, 200)} is ${what} (GET, HEAD)`), { allow: 'GET, HEAD' })
  return false
}

/** One error body shape for the whole HTTP port: `{ "error": { "code", "message", "retriable" } }`. */
export function sendError (res: ServerResponse, err: SpoolError, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(errorBody(err))
  res.writeHead(statusFor(err), { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers })
  res.end(text)
}

export async function startHttpListener (options: {
  target: ListenTarget
  routes: HttpRoutes
  registry: ConnectionRegistry
  logger: Logger
  /** HTTPS with this certificate (the same routes; WebSockets become wss://). */
  tls?: TlsContextManager | null
}): Promise<Listener> {
  const { routes, logger, registry } = options
  const tls = options.tls ?? null
  const sockets = new Set<Socket>()
  const prefixes = () => [...routes.prefixes.entries()].sort((a, b) => b[0].length - a[0].length)
  const make = (): ReturnType<typeof createServer> => {
    const onRequest: RequestListener = (req, res) => {
      let url: URL
      try {
        url = new URL(req.url ?? '/', 'http://localhost')
      } catch {
        sendError(res, new InvalidRequestError('the request URL cannot be parsed'))
        return
      }
      const handler = routes.routes.get(url.pathname) ?? prefixes().find(([p]) => url.pathname.startsWith(p))?.[1]
      if (handler === undefined) {
        sendError(res, new HttpNotFoundError(`nothing at ${url.pathname.slice(0, 200)}`))
        return
      }
      // The failure rule for HTTP: an unexpected exception answers 500 (if nothing was sent
      // yet) and closes that connection; the broker keeps serving everyone else.
      Promise.resolve()
        .then(() => {
          if (faultPoints.active) faultPoints.hit('http.request', url.pathname)
          return handler(req, res, url)
        })
        .catch((err: unknown) => {
          logger.error({ err, protocol: 'http', path: url.pathname.slice(0, 200), peer: req.socket.remoteAddress }, 'closing connection after an internal error')
          registry.counters('http').errors.set('INTERNAL_ERROR', (registry.counters('http').errors.get('INTERNAL_ERROR') ?? 0) + 1)
          if (!res.headersSent) sendError(res, new UnknownServerError('internal error (see the broker log)'), { connection: 'close' })
          else res.destroy()
        })
    }
    const server = tls === null ? createServer(onRequest) : createHttpsServer({ ...tls.serverOptions(), handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS }, onRequest)
    if (tls !== null) {
      tls.attach(server as import('node:https').Server)
      server.on('tlsClientError', (err: Error, socket: Duplex) => {
        logger.debug({ listener: options.target.name, err: err.message }, 'TLS handshake failed')
        socket.destroy()
      })
    }
    server.headersTimeout = 10_000
    server.requestTimeout = 30_000
    // HTTP sockets are not counted against maxConnections, so /healthz and /metrics answer
    // while the broker is full; a WebSocket upgrade becomes a counted connection.
    server.on('connection', (socket: Socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
    })
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // The HTTP server stops handling this socket's errors once it is upgraded: a peer that
      // resets it (refused or not) must not become an unhandled 'error' event.
      socket.on('error', () => { /* it closes; nothing else to do */ })
      const path = (req.url ?? '/').split('?')[0]!
      const handler = routes.upgrades.get(path)
      if (handler === undefined) {
        refuseUpgrade(socket as Socket, 404, 'Not Found')
        return
      }
      try {
        handler(req, socket as Socket, head)
      } catch (err) {
        logger.error({ err, protocol: 'http', path: path.slice(0, 200) }, 'closing connection after an internal error')
        socket.destroy()
      }
    })
    server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
    })
    return server
  }
  const listener = await serve(options.target, make, sockets, logger)
  return listener
}
