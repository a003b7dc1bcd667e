/**
 * The HTTP port: small JSON/text routes (`/healthz`, `/metrics`, later `/api/...` and the
 * console) and WebSocket upgrades by path (`/ws` for the native protocol). Routes are
 * registered by the parts of the broker that own them; this file only serves them.
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { closeServer, listen, type Listener } from '../../network/server.js'
import { refuseUpgrade } from './upgrade.js'

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>
export type UpgradeHandler = (req: IncomingMessage, socket: Socket, head: Buffer) => void

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
  res.setHeader('allow', 'GET, HEAD')
  sendText(res, 405, `method ${req.method ?? ''} not allowed: ${(req.url ?? '').slice(0, 200)} is ${what} (GET, HEAD)\n`)
  return false
}

export async function startHttpListener (options: {
  host: string
  port: number
  routes: HttpRoutes
  logger: Logger
}): Promise<Listener> {
  const { routes, logger } = options
  const sockets = new Set<Socket>()
  const prefixes = () => [...routes.prefixes.entries()].sort((a, b) => b[0].length - a[0].length)
  const server = createServer((req, res) => {
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://localhost')
    } catch {
      sendText(res, 400, 'bad request url\n')
      return
    }
    const handler = routes.routes.get(url.pathname) ?? prefixes().find(([p]) => url.pathname.startsWith(p))?.[1]
    if (handler === undefined) {
      sendText(res, 404, 'not found\n')
      return
    }
    Promise.resolve()
      .then(() => handler(req, res, url))
      .catch((err: unknown) => {
        logger.error({ err, path: url.pathname }, 'http handler failed')
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' })
        else res.destroy()
      })
  })
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
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
    handler(req, socket as Socket, head)
  })
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
  })
  await listen(server, options.host, options.port)
  const port = (server.address() as { port: number }).port
  logger.info({ listener: 'http', host: options.host, port }, 'http listening')
  return {
    name: 'http',
    port,
    close: async () => {
      server.closeIdleConnections()
      await closeServer(server, sockets)
    },
  }
}
