/**
 * The idle phase of the listener fuzzer: thousands of connections held open at once, of
 * kinds a broker meets from broken or hostile clients —
 *
 *   native-idle          connected, never sends a byte
 *   native-half-header   2 bytes of a length prefix
 *   native-half-frame    a frame that claims 64 KiB, 100 bytes of it sent
 *   native-half-closed   half a frame, then FIN (the client's half of the connection closed)
 *   native-non-reading   pipelines Metadata requests and never reads an answer (its socket
 *                        paused, this side cannot see the broker close it: not judged here)
 *   mqtt-idle            connected, no CONNECT
 *   mqtt-connected-idle  CONNECT with keep-alive 0 (no timeout), then nothing
 *   ws-idle              /ws upgraded, then nothing
 *   http-keep-alive      one request answered, the connection kept open
 *   http-half-headers    a request line and one header, never finished
 *
 * — held past the broker's idle timeouts (native idleTimeoutMs, MQTT's 10 s for CONNECT),
 * while the canaries keep working. Then: the broker must have closed every native and
 * WebSocket connection that sent no whole request (idle timeout), every MQTT connection
 * without CONNECT, and every half-closed connection; memory stays within the run's bound
 * (checked by the caller); and after this side closes the rest, the broker's socket count
 * returns to its baseline (checked by the caller).
 */

import { concatParts, encodeClientId, encodeRequestFrame } from '../../protocol/native/frame.js'
import { sleep } from '../lib/procs.js'
import type { BrokerPorts, ResourceSampler } from './broker-child.js'
import { RawConn, openWebSocket } from './wire.js'
import type { IdleReport, ListenerFailure } from './listener-report.js'

export type { IdleReport }

export const IDLE_KINDS = ['native-idle', 'native-half-header', 'native-half-frame', 'native-half-closed', 'native-non-reading', 'mqtt-idle',
  'mqtt-connected-idle', 'ws-idle', 'http-keep-alive', 'http-half-headers'] as const
export type IdleKind = (typeof IDLE_KINDS)[number]

/** Kinds the broker must have closed by itself by the end of the hold. */
const MUST_CLOSE: readonly IdleKind[] = ['native-idle', 'native-half-header', 'native-half-frame', 'native-half-closed', 'mqtt-idle', 'ws-idle']


const MQTT_CONNECT_KEEPALIVE_0 = Uint8Array.from([0x10, 0x10, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x00, 0x00, 0x04, 0x69, 0x64, 0x6c, 0x65])

async function openKind (kind: IdleKind, ports: BrokerPorts, n: number): Promise<RawConn | null> {
  switch (kind) {
    case 'native-idle': return RawConn.open(ports.native)
    case 'native-half-header': { const c = await RawConn.open(ports.native); c.write(Uint8Array.of(0, 1)); return c }
    case 'native-half-frame': {
      const c = await RawConn.open(ports.native)
      const head = new Uint8Array(104)
      new DataView(head.buffer).setUint32(0, 64 * 1024)
      c.write(head)
      return c
    }
    case 'native-half-closed': {
      const c = await RawConn.open(ports.native)
      const head = new Uint8Array(50)
      new DataView(head.buffer).setUint32(0, 4096)
      c.socket.end(head)
      return c
    }
    case 'native-non-reading': {
      const c = await RawConn.open(ports.native)
      c.socket.pause()
      const id = encodeClientId(`non-reading-${n}`)
      const frames = Array.from({ length: 50 }, (_, i) => concatParts(encodeRequestFrame(3, 0, i + 1, id, { topics: null })))
      c.write(concatParts(frames))
      return c
    }
    case 'mqtt-idle': return RawConn.open(ports.mqtt)
    case 'mqtt-connected-idle': {
      const c = await RawConn.open(ports.mqtt)
      const connect = MQTT_CONNECT_KEEPALIVE_0.slice()
      // Client id "idle" + 4 hex digits would change the length; vary the last two bytes instead.
      connect[16] = 0x61 + (n % 26)
      connect[17] = 0x61 + (Math.floor(n / 26) % 26)
      c.write(connect)
      return c
    }
    case 'ws-idle': return openWebSocket(ports.http, '/ws', null)
    case 'http-keep-alive': {
      const c = await RawConn.open(ports.http)
      c.write(Buffer.from(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${ports.http}\r\n\r\n`))
      return c
    }
    case 'http-half-headers': {
      const c = await RawConn.open(ports.http)
      c.write(Buffer.from(`GET /api HTTP/1.1\r\nHost: 127.0.0.1:${ports.http}\r\n`))
      return c
    }
  }
}

export async function runIdlePhase (o: {
  ports: BrokerPorts
  connections: number
  sampler: ResourceSampler
  baselineSockets: number
  idleTimeoutMs: number
  failures: ListenerFailure[]
  log: (line: string) => void
}): Promise<IdleReport> {
  const held: Array<{ kind: IdleKind, conn: RawConn }> = []
  const opened: Record<string, number> = {}
  let failedToOpen = 0
  const started = performance.now()
  for (let i = 0; i < o.connections; i += 200) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(200, o.connections - i) }, async (_, j) => {
      const kind = IDLE_KINDS[(i + j) % IDLE_KINDS.length]!
      const conn = await openKind(kind, o.ports, i + j)
      return conn === null ? null : { kind, conn }
    }))
    for (const r of batch) {
      if (r.status === 'fulfilled' && r.value !== null) {
        held.push(r.value)
        opened[r.value.kind] = (opened[r.value.kind] ?? 0) + 1
      } else {
        failedToOpen++
      }
    }
  }
  // Past every idle timeout that applies (native idle, MQTT CONNECT) for the last connection
  // opened, with a margin for the broker's once-a-second sweep.
  const openedMs = performance.now() - started
  const holdUntil = performance.now() + Math.max(o.idleTimeoutMs, 10_000) + 3000
  let peakSockets = 0
  let peakRssBytes = 0
  while (performance.now() < holdUntil) {
    const s = o.sampler.now()
    if (s !== null) {
      peakSockets = Math.max(peakSockets, s.sockets)
      peakRssBytes = Math.max(peakRssBytes, s.rssBytes)
    }
    await sleep(250)
  }
  const closedByBroker: Record<string, number> = {}
  for (const h of held) if (h.conn.closed) closedByBroker[h.kind] = (closedByBroker[h.kind] ?? 0) + 1
  const heldMs = performance.now() - started
  for (const kind of MUST_CLOSE) {
    const open = (opened[kind] ?? 0) - (closedByBroker[kind] ?? 0)
    if (open > 0) {
      o.failures.push({
        target: 'listener:idle', case: -1, mode: kind, input: '',
        message: `${open} of ${opened[kind]} ${kind} connections were still open after ${Math.round(heldMs)} ms (idle timeout ${o.idleTimeoutMs} ms, MQTT CONNECT 10 s)`,
        reproduce: 'npm run fuzz -- --target listener:idle',
      })
    }
  }
  if (failedToOpen > 0) {
    o.failures.push({ target: 'listener:idle', case: -1, mode: 'open', input: '', message: `${failedToOpen} of ${o.connections} connections could not be opened`, reproduce: 'npm run fuzz -- --target listener:idle' })
  }
  for (const h of held) h.conn.destroy()
  o.log(`listener:idle     ${held.length} connections (opened in ${Math.round(openedMs / 1000)} s) held ${Math.round(heldMs / 1000)} s (peak ${peakSockets} broker sockets, rss ${Math.round(peakRssBytes / 1024 / 1024)} MiB); ` +
    `closed by the broker: ${IDLE_KINDS.map(k => `${k} ${closedByBroker[k] ?? 0}/${opened[k] ?? 0}`).join(', ')}`)
  return { connections: o.connections, openingMs: openedMs, opened, failedToOpen, heldMs, closedByBroker, peakSockets, peakRssBytes }
}
