/**
 * Listening and closing, the same for every listener: a TCP server on host:port whose
 * accepted sockets go to `onSocket`, with the listener's name in every log line and error.
 *
 * A bind that fails (a port in use, an address that is not this machine's, a port below
 * 1024 without the right) is a ListenFailedError naming the listener, the address and the
 * setting that moves it, so `spool broker start` can say what to change.
 *
 * With the default 127.0.0.1 and a fixed port, the listener also binds ::1 on the same
 * port when the machine has IPv6 loopback: Node, browsers and librdkafka resolve
 * `localhost` to ::1 first, and a client told `localhost:9092` should not depend on falling
 * back. Port 0 (tests) binds 127.0.0.1 only.
 *
 * TLS listeners (`startTlsServer`) take their certificate from the TlsContextManager, which
 * swaps it on every server it is attached to when the files change or on SIGHUP (open
 * connections keep theirs). A handshake must finish within TLS_HANDSHAKE_TIMEOUT_MS; a
 * failed one (no client certificate where one is required, TLS 1.1, not TLS at all) ends
 * that socket with one debug line and a count, nothing else.
 */

import { createServer, type Server, type Socket } from 'node:net'
import type { Server as HttpServer } from 'node:http'
import { createServer as createTlsServer, type TLSSocket } from 'node:tls'
import type { Logger } from 'pino'
import { ListenFailedError } from '../../protocol/errors.js'
import type { TlsContextManager } from '../security/tls.js'

/** How long a TLS client may take to finish its handshake. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000

export interface Listener {
  readonly name: string
  readonly host: string
  readonly port: number
  close (): Promise<void>
}

export interface ListenTarget {
  /** The listener's name in logs and errors (`native`, `http`, `mqtt`, `kafka`). */
  name: string
  host: string
  port: number
  /** The setting that moves it, for the error message (`--mqtt-port`). */
  flag: string
}

type Listenable = Server | HttpServer

/** Starts a TCP listener; every accepted socket is handed to `onSocket`. */
export async function startTcpServer (target: ListenTarget, onSocket: (socket: Socket) => void, logger: Logger): Promise<Listener> {
  const sockets = new Set<Socket>()
  // One listener function for every socket (`this` is the socket), not a closure each.
  const forget = function (this: Socket): void { sockets.delete(this) }
  const make = (): Server => createServer({ noDelay: true }, socket => {
    sockets.add(socket)
    socket.on('close', forget)
    onSocket(socket)
  })
  return serve(target, make, sockets, logger)
}

/** Starts a TLS listener with the manager's certificate; every socket that finishes its handshake goes to `onSocket`. */
export async function startTlsServer (target: ListenTarget, tls: TlsContextManager, onSocket: (socket: TLSSocket) => void, logger: Logger, onHandshakeError?: () => void): Promise<Listener> {
  const sockets = new Set<Socket>()
  const forget = function (this: Socket): void { sockets.delete(this) }
  const make = (): Server => {
    const server = createTlsServer({ ...tls.serverOptions(), handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS }, onSocket)
    // The TCP sockets, handshaking or not, so a closing listener can end them all.
    server.on('connection', (raw: Socket) => {
      raw.setNoDelay(true)
      sockets.add(raw)
      raw.on('close', forget)
    })
    server.on('tlsClientError', (err, socket) => {
      logger.debug({ listener: target.name, err: err.message, peer: socket.remoteAddress }, 'TLS handshake failed')
      onHandshakeError?.()
      socket.destroy()
    })
    tls.attach(server)
    return server
  }
  return serve(target, make, sockets, logger)
}

/**
 * Binds `make()`'s server on the target (and ::1, see the file header); the returned
 * listener closes them all, waiting for the sockets in `sockets` to go.
 */
export async function serve (target: ListenTarget, make: () => Listenable, sockets: Set<Socket>, logger: Logger): Promise<Listener> {
  const main = make()
  await listenOn(main, target, target.host, target.port)
  const port = (main.address() as { port: number }).port
  const servers: Listenable[] = [main]
  if (target.host === '127.0.0.1' && target.port !== 0) {
    const v6 = make()
    try {
      await listenOn(v6, target, '::1', port)
      servers.push(v6)
    } catch (err) {
      // No IPv6 loopback here, or ::1 is taken by something else: 127.0.0.1 still serves.
      logger.debug({ listener: target.name, err: (err as Error).message }, 'not listening on ::1')
    }
  }
  // Debug: the one readiness line is the broker's "broker started", once every listener is up.
  logger.debug({ listener: target.name, host: target.host, port, ipv6Loopback: servers.length > 1 || undefined }, `${target.name} listening`)
  let closing: Promise<void> | null = null
  return {
    name: target.name,
    host: target.host,
    port,
    close () {
      closing ??= closeServers(servers, sockets)
      return closing
    },
  }
}

/** Listens, turning an 'error' (EADDRINUSE, EACCES, EADDRNOTAVAIL) into a ListenFailedError. */
export function listenOn (server: Listenable, target: ListenTarget, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => reject(listenError(target, host, port, err))
    server.once('error', onError)
    server.once('listening', () => {
      server.removeListener('error', onError)
      resolve()
    })
    server.listen({ port, host, backlog: LISTEN_BACKLOG })
  })
}

/**
 * Connections the kernel holds for a listener until the broker accepts them (Linux caps it
 * at net.core.somaxconn, 4096 by default). Node's default, 511, overflows when thousands of
 * devices reconnect at once: the kernel then drops their SYNs and each waits 1 s, 3 s, 7 s
 * to try again, while a deeper queue lets the broker accept them as fast as it can.
 */
const LISTEN_BACKLOG = 4096

function listenError (target: ListenTarget, host: string, port: number, err: NodeJS.ErrnoException): ListenFailedError {
  const at = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
  const fix = `move it with ${target.flag} N (0 picks a free port) or switch it off with ${target.flag} off`
  const why = err.code === 'EADDRINUSE' ? `${at} is already in use (EADDRINUSE) — another broker or program listens there`
    : err.code === 'EACCES' ? `binding ${at} is not permitted (EACCES)`
      : err.code === 'EADDRNOTAVAIL' ? `${host} is not an address of this machine (EADDRNOTAVAIL); --host chooses the address`
        : `binding ${at} failed: ${err.message}`
  return new ListenFailedError(`${target.name} listener: ${why}; ${fix}`, { cause: err })
}

/** Stops accepting, waits for the sockets to close (they are ended by their owners; destroyed after 3 s). */
async function closeServers (servers: Listenable[], sockets: Set<Socket>): Promise<void> {
  const closed = Promise.all(servers.map(s => new Promise<void>(resolve => s.close(() => resolve()))))
  // Not unref'd: this wait must keep the process alive until the sockets are gone, or a
  // stopping broker could exit before its logs are closed cleanly.
  const deadline = setTimeout(() => { for (const s of sockets) s.destroy() }, 3000)
  await closed
  clearTimeout(deadline)
}
