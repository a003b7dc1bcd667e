// What differs between the Node.js versions Spool supports (20, 22, 24), checked on the
// runtime that runs this file — .ci/run runs it on all three:
//   - what the SDK and the codecs pick: the global WebSocket on Node >= 22 and `ws` on 20;
//     zstd from node:zlib on Node >= 22.15 and zstd-napi on 20; every native add-on (all
//     N-API, installed once by the system Node's `npm ci`) loads;
//   - zstd written by node:zlib and by zstd-napi read by each other and by fzstd;
//   - how each WebSocket (`ws`, and the global one where there is one) behaves where they are
//     known to differ: a refused connection (Node 22's global WebSocket fires `error` and
//     never `close`), a refused handshake (only `ws` reports the HTTP status), the headers
//     of the handshake (no Origin), and backpressure through bufferedAmount;
//   - package.json `engines`, the README's table and .ci/run's pinned versions agree (and the
//     integration files .ci/run runs on Node 24 exist), and
//     this runtime is inside `engines`.
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { isNativeAccelerationEnabled } from 'msgpackr'
import t, { type Test } from 'tap'
import { WebSocketServer, WebSocket as WsWebSocket } from 'ws'
import { BrokerUnreachableError, Client, OriginNotAllowedError, webSocketTransport, type WebSocketConstructor } from '../../client/index.js'
import { defaultWebSocket } from '../../client/client.js'
import { napiZstd, zlibZstd } from '../../platform/native-codecs.js'
import { bestNodeCodecs, decompressSync, nodeCodecs } from '../../platform/node-codecs.js'
import { zstdDecodeJs } from '../../platform/zstd-js.js'
import { hasNativeCrc32c } from '../../protocol/bytes/crc32c.js'
import { Compression } from '../../protocol/record-batch/header.js'

const root = new URL('../../../', import.meta.url)
const [major, minor] = process.versions.node.split('.').map(Number) as [number, number]
const hasGlobalWebSocket = typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'function'

/** The WebSocket constructors this runtime has: `ws` everywhere, the global one from Node 22. */
const CONSTRUCTORS: Array<[string, WebSocketConstructor]> = [['ws', WsWebSocket as unknown as WebSocketConstructor]]
if (hasGlobalWebSocket) CONSTRUCTORS.push([`global WebSocket (Node ${process.version})`, (globalThis as unknown as { WebSocket: WebSocketConstructor }).WebSocket])

/** An HTTP server on 127.0.0.1 port 0, closed at teardown (its sockets destroyed). */
async function httpServer (t: Test, onUpgrade: (req: IncomingMessage, socket: Socket, head: Buffer) => void): Promise<{ server: Server, port: number }> {
  const server = createServer((_req, res) => res.writeHead(404).end())
  const sockets = new Set<Socket>()
  server.on('connection', s => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => onUpgrade(req, socket, head))
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => {
    for (const s of sockets) s.destroy()
    server.close(() => resolve())
  }))
  return { server, port: (server.address() as AddressInfo).port }
}

/** A port nothing listens on (bound once, then closed). */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}

/** Resolves when `check` holds, polling every 5 ms; rejects after `timeoutMs`. */
async function waitFor (check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

/** Byte equality (t.same walks a Uint8Array element by element: seconds for 400 KB). */
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0

/** `^a.b.c || ^d.e.f` (the only form package.json uses): does `version` satisfy it? */
function satisfiesCaretRanges (range: string, version: string): boolean {
  const v = version.replace(/^v/, '').split('.').map(Number)
  return range.split('||').some(part => {
    const m = /^\s*\^(\d+)\.(\d+)\.(\d+)\s*$/.exec(part)
    if (m === null) throw new Error(`engines alternative "${part}" is not ^major.minor.patch`)
    const [a, b, c] = [Number(m[1]), Number(m[2]), Number(m[3])]
    return v[0] === a && (v[1]! > b || (v[1] === b && v[2]! >= c))
  })
}

t.test(`what Spool picks on Node ${process.version}`, async t => {
  t.equal(hasGlobalWebSocket, major >= 22, 'Node >= 22 has a global WebSocket, Node 20 none')
  t.equal(defaultWebSocket(), hasGlobalWebSocket ? (globalThis as { WebSocket?: unknown }).WebSocket : WsWebSocket,
    `a url client without { WebSocket } uses ${hasGlobalWebSocket ? 'the global WebSocket' : 'ws (the Node entry\'s fallback)'}`)

  const zlibHasZstd = major > 22 || (major === 22 && minor >= 15)
  t.equal(zlibZstd() !== null, zlibHasZstd, `node:zlib has zstd on Node >= 22.15 (${zlibHasZstd ? 'here' : 'not here'})`)
  const zstdName = zlibHasZstd ? /^node:zlib zstd \(Node v/ : /^zstd-napi 0\.0\.13 \(native\)$/
  t.match(bestNodeCodecs().get(Compression.zstd)!.implementation, zstdName, 'the best zstd')
  t.match(nodeCodecs().get(Compression.zstd)!.implementation, zstdName, 'and the one installed (the broker\'s and the SDK\'s)')

  // Installed by the system Node's `npm ci`, loaded here: N-API add-ons need no rebuild.
  t.ok(hasNativeCrc32c(), '@node-rs/crc32 loads (native CRC-32C in use)')
  t.match(bestNodeCodecs().get(Compression.snappy)!.implementation, /\(native\)$/, 'snappy (napi-rs) loads')
  t.match(bestNodeCodecs().get(Compression.lz4)!.implementation, /^lz4-napi .*native/, 'lz4-napi loads')
  t.not(napiZstd(), null, 'zstd-napi (compiled at install) loads')
  t.equal(isNativeAccelerationEnabled, true, 'msgpackr-extract (its N-API prebuild) loads')
})

t.test('zstd from node:zlib and from zstd-napi read each other (and fzstd reads both)', async t => {
  const zlib = zlibZstd()
  const napi = napiZstd()!
  const input = new TextEncoder().encode(Array.from({ length: 20_000 }, (_, i) => `order-${i % 97};amount=${i * 7 % 1000}|`).join(''))
  const writers = zlib === null ? [napi] : [zlib, napi]
  const readers = zlib === null ? [napi] : [zlib, napi]
  for (const writer of writers) {
    const compressed = writer.compressSync!(input)
    t.ok(compressed.length < input.length / 4, `${writer.implementation} compresses (${input.length} -> ${compressed.length} bytes)`)
    for (const reader of readers) {
      t.ok(sameBytes(reader.decompressSync(compressed, input.length), input), `${writer.implementation} -> ${reader.implementation}`)
    }
    t.ok(sameBytes(zstdDecodeJs(compressed, input.length), input), `${writer.implementation} -> fzstd`)
    t.ok(sameBytes(decompressSync(Compression.zstd, compressed, input.length), input), `${writer.implementation} -> the broker's append path`)
  }
  if (zlib === null) t.comment(`node:zlib has no zstd on Node ${process.version}: zstd-napi writes and reads`)
})

for (const [name, WebSocketImpl] of CONSTRUCTORS) {
  t.test(`${name}: a refused connection fails at once, not at connectTimeoutMs`, async t => {
    const port = await closedPort()
    const client = new Client({ url: `ws://127.0.0.1:${port}/ws`, WebSocket: WebSocketImpl, connectTimeoutMs: 60_000, retry: { retries: 0 } })
    t.teardown(() => client.close())
    // Node 22's global WebSocket fires `error` and never `close` here: the open settles on the error.
    const err = await client.connect().then(() => null, (e: unknown) => e)
    t.type(err, BrokerUnreachableError, 'BrokerUnreachableError')
    const message = (err as Error).message
    t.notMatch(message, /timed out/, 'from the error event, not the connect timer')
    if (WebSocketImpl === (WsWebSocket as unknown)) t.match(message, /ECONNREFUSED/, 'ws names the system error')
    else t.match(message, /the broker is down, or refused it/, 'no reason from the runtime: the likely causes')
  })

  t.test(`${name}: a handshake refused with 403`, async t => {
    const { port } = await httpServer(t, (_req, socket) => { socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n') })
    const client = new Client({ url: `ws://127.0.0.1:${port}/ws`, WebSocket: WebSocketImpl, connectTimeoutMs: 60_000, retry: { retries: 0 } })
    t.teardown(() => client.close())
    const err = await client.connect().then(() => null, (e: unknown) => e)
    if (WebSocketImpl === (WsWebSocket as unknown)) {
      t.type(err, OriginNotAllowedError, 'ws reports the status: ORIGIN_NOT_ALLOWED')
    } else {
      t.type(err, BrokerUnreachableError, 'the global WebSocket gives no status: BROKER_UNREACHABLE')
      t.match((err as Error).message, /refused it/, 'naming the likely causes')
    }
  })

  t.test(`${name}: the handshake carries no Origin; bufferedAmount gives backpressure and drain`, async t => {
    const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 })
    t.teardown(() => wss.close())
    const seen: { upgrade?: IncomingMessage, socket?: Socket } = {}
    let received = 0
    const { port } = await httpServer(t, (req, socket, head) => {
      seen.upgrade = req
      seen.socket = socket
      socket.pause() // read nothing until told: the client's buffer fills
      wss.handleUpgrade(req, socket, head, ws => {
        ws.on('error', () => {})
        ws.on('message', (data: Buffer) => { received += data.length })
      })
    })
    let drains = 0
    let closed = false
    const transport = await webSocketTransport(WebSocketImpl)(`ws://127.0.0.1:${port}/ws`, {
      onFrame: () => {},
      onDrain: () => { drains++ },
      onClose: () => { closed = true },
    }, { connectTimeoutMs: 10_000, maxFrameBytes: 1 << 20 })
    t.teardown(() => transport.close())
    t.ok(seen.upgrade !== undefined && !('origin' in seen.upgrade.headers), 'no Origin header (the broker treats it as a program, not a page)')

    // 1 MiB frames (length prefix + payload) until write() reports a full buffer; at most 64.
    const frame = new Uint8Array(1 << 20)
    new DataView(frame.buffer).setUint32(0, frame.length - 4)
    let written = 0
    let full = false
    while (!full && written < 64) {
      full = !transport.write([frame])
      written++
    }
    t.ok(full, `write() returned false after ${written} MiB with the peer not reading`)
    t.equal(drains, 0, 'no drain while the peer reads nothing')
    seen.socket!.resume()
    await waitFor(() => drains === 1, 20_000, 'onDrain')
    t.equal(drains, 1, 'onDrain once the peer read the buffer down')
    await waitFor(() => received === written * frame.length, 20_000, 'every byte at the server')
    t.equal(received, written * frame.length, 'every frame arrived')
    t.notOk(closed, 'still open')
  })
}

t.test('package.json engines, the README table and .ci/run name the same Node versions', async t => {
  const engines = (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { engines: { node: string } }).engines.node
  t.ok(satisfiesCaretRanges(engines, process.version), `this runtime (${process.version}) is inside engines "${engines}"`)
  const ciRun = readFileSync(new URL('.ci/run', root), 'utf8')
  const pinned = [...ciRun.matchAll(/^NODE_(?:LTS|MAINT)=(\d+\.\d+\.\d+)/gm)].map(m => m[1]!)
  t.equal(pinned.length, 2, '.ci/run pins two extra runtimes')
  for (const v of pinned) t.ok(satisfiesCaretRanges(engines, v), `.ci/run's ${v} is inside engines`)
  // The integration files run again on Node 24 exist (a renamed one would fail that run only
  // on CI, after the full suite).
  const ltsFiles = (ciRun.match(/^NODE_LTS_FILES="([^"]*)"/m)?.[1] ?? '').split(/\s+/).filter(f => f !== '')
  t.ok(ltsFiles.length > 10, `.ci/run names the integration files Node 24 runs (${ltsFiles.length})`)
  for (const f of ltsFiles) t.ok(existsSync(new URL(`tests/integration/${f}.test.ts`, root)), `tests/integration/${f}.test.ts exists`)

  const readme = readFileSync(new URL('README.md', root), 'utf8')
  const section = readme.split(/^## Node\.js versions\s*$/m)[1]?.split(/^## /m)[0] ?? ''
  t.ok(section.includes(`\`${engines}\``), 'the README quotes engines')
  const majors = [...section.matchAll(/^\| (\d+) \(/gm)].map(m => Number(m[1]))
  const engineMajors = [...engines.matchAll(/\^(\d+)\./g)].map(m => Number(m[1]))
  t.same([...majors].sort(), [...engineMajors].sort(), 'the README table has a row for each line engines allows')
  for (const v of pinned) t.ok(section.includes(v), `the README names ${v}`)
  t.ok(section.includes(`scripts/setup-node.sh ${pinned[0]}`), 'and shows how to install it')
})
