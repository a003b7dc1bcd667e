/**
 * Aedes (npm) as a benchmark peer, in its own process: `node dist/bench/peers/aedes-server.js <port>`
 * prints "ready <port>" once listening. In-memory persistence (its default), noDelay sockets.
 */

import { createServer } from 'node:net'
import { Aedes } from 'aedes'

const port = Number(process.argv[2] ?? 0)
const broker = await Aedes.createBroker()
const server = createServer({ noDelay: true }, socket => { broker.handle(socket) })
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${(server.address() as { port: number }).port}\n`)
})
const stop = (): void => { server.close(); broker.close(() => process.exit(0)) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
