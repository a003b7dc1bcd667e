/** The native protocol on a TCP port: each accepted socket becomes a Connection. */

import { createServer, type Server, type Socket } from 'node:net'
import type { Logger } from 'pino'
import { tcpChannel } from './channel.js'
import type { Connections } from './registry.js'

export interface Listener {
  readonly name: string
  readonly port: number
  close (): Promise<void>
}

export async function startTcpListener (options: {
  host: string
  port: number
  connections: Connections
  logger: Logger
}): Promise<Listener> {
  const sockets = new Set<Socket>()
  const server: Server = createServer({ noDelay: true }, socket => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    options.connections.accept(tcpChannel(socket))
  })
  await listen(server, options.host, options.port)
  const port = (server.address() as { port: number }).port
  options.logger.info({ listener: 'tcp', host: options.host, port }, 'native protocol listening')
  return {
    name: 'tcp',
    port,
    close: () => closeServer(server, sockets),
  }
}

/** Listens, turning an 'error' (EADDRINUSE, EACCES) into a rejected promise. */
export function listen (server: { listen (port: number, host: string): unknown, once (ev: string, fn: (...a: unknown[]) => void): unknown, removeListener (ev: string, fn: (...a: unknown[]) => void): unknown }, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: unknown): void => reject(err)
    server.once('error', onError)
    server.once('listening', () => {
      server.removeListener('error', onError)
      resolve()
    })
    server.listen(port, host)
  })
}

/** Stops accepting, waits for the sockets to close (they are ended by their owners; destroyed after 3 s). */
export async function closeServer (server: Server | import('node:http').Server, sockets: Set<Socket>): Promise<void> {
  const closed = new Promise<void>(resolve => server.close(() => resolve()))
  // Not unref'd: this wait must keep the process alive until the sockets are gone, or a
  // stopping broker could exit before its logs are closed cleanly.
  const deadline = setTimeout(() => { for (const s of sockets) s.destroy() }, 3000)
  await closed
  clearTimeout(deadline)
}
