// The HTTP port from Node (no browser): the JSON api under /api (shapes, named errors and
// their statuses, 404/405, the body bound, the Origin check on every request and CORS for
// listed origins), the static files (the SDK bundle's content type and ETag revalidation,
// a clear 404 when the bundle was not built, no way out of the served directory), and the
// Origin check on the /ws and /mqtt WebSocket upgrades, including the DNS-rebinding case.
import t from 'tap'
import { request } from 'node:http'
import { WebSocket } from 'ws'
import { Client, utf8 } from '../../client/index.js'
import { RawClient } from '../helpers/raw-client.js'
import { startBroker, tempDir } from '../helpers/broker.js'
import { waitFor } from '../helpers/processes.js'
import { ensureWebBuild } from '../helpers/browser.js'
import { ERROR_TABLE } from '../../protocol/errors.js'
import { decodeBody, parseResponseFrame } from '../../protocol/native/frame.js'

await ensureWebBuild()
const broker = await startBroker(t, { httpMaxBodyBytes: 4096 })
const base = `http://127.0.0.1:${broker.ports.http}`
const listed = 'http://app.example:8080'
const open = await startBroker(t, { httpAllowedOrigins: [listed], mqttPort: 0 })
const openBase = `http://127.0.0.1:${open.ports.http}`

interface Answer { status: number, headers: Headers, json: Record<string, unknown> & { error?: { code: string, message: string } } }

async function api (path: string, init: RequestInit & { base?: string } = {}): Promise<Answer> {
  const res = await fetch(`${init.base ?? base}${path}`, init)
  const text = await res.text()
  return { status: res.status, headers: res.headers, json: text === '' ? {} : JSON.parse(text) as Answer['json'] }
}

function post (path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return api(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })
}

/** A raw HTTP request with a chosen Host header (fetch does not let one set Host). */
function rawRequest (port: number, options: { method: string, path: string, headers: Record<string, string> }): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, ...options }, res => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** Opens a WebSocket with the given Origin: resolves 'open' or the refusal's HTTP status. */
function tryWebSocket (url: string, headers: Record<string, string>, protocol?: string): Promise<string> {
  return new Promise(resolve => {
    const ws = new WebSocket(url, protocol === undefined ? [] : [protocol], { headers })
    ws.on('open', () => { ws.close(); resolve('open') })
    ws.on('unexpected-response', (_req, res) => { resolve(String(res.statusCode)); ws.terminate() })
    ws.on('error', err => resolve(`error: ${err.message}`))
  })
}

t.test('/api lists its endpoints; /api/overview has broker, totals and rates', async t => {
  const index = await api('/api')
  t.equal(index.status, 200)
  const endpoints = (index.json.endpoints as Array<{ method: string, path: string }>).map(e => `${e.method} ${e.path}`)
  for (const e of ['GET /api/overview', 'GET /api/topics', 'POST /api/topics', 'GET /api/topics/:name', 'DELETE /api/topics/:name', 'GET /api/groups', 'GET /api/groups/:id', 'GET /api/traffic']) {
    t.ok(endpoints.includes(e), e)
  }
  const o = await api('/api/overview')
  t.equal(o.status, 200)
  t.equal(o.headers.get('content-type'), 'application/json; charset=utf-8')
  t.equal(o.headers.get('cache-control'), 'no-store')
  t.match(o.json, {
    broker: { version: String, nodeId: 0, clusterId: String, uptimeMs: Number, ports: { native: broker.ports.native, http: broker.ports.http } },
    topics: { count: Number, partitions: Number, sizeBytes: Number },
    groups: { count: Number },
    connections: { count: Number },
    rates: { recordsInPerSec: Number, recordsOutPerSec: Number, bytesInPerSec: Number, bytesOutPerSec: Number },
  })
})

t.test('topics: create, list, describe, delete, with named errors as 4xx', async t => {
  const created = await post('/api/topics', { topic: 'api-orders', partitions: 3, config: { retentionMs: 3_600_000, cleanupPolicy: 'compact' } })
  t.equal(created.status, 201)
  t.match(created.json, { topic: { topic: 'api-orders', internal: false, cleanupPolicy: 'compact', retentionMs: 3_600_000, config: { retentionMs: 3_600_000, cleanupPolicy: 'compact' } } })
  t.equal((created.json.topic as { partitions: unknown[] }).partitions.length, 3)

  const client = new Client({ brokers: [`127.0.0.1:${broker.ports.native}`] })
  t.teardown(() => client.close())
  const producer = client.producer({ lingerMs: 0 })
  await producer.send({ topic: 'api-orders', messages: Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, value: utf8(`v${i}`) })) })
  await producer.close()

  const list = await api('/api/topics')
  const row = (list.json.topics as Array<Record<string, unknown>>).find(x => x.topic === 'api-orders')
  t.match(row, { topic: 'api-orders', partitions: 3, records: 5, cleanupPolicy: 'compact', retentionMs: 3_600_000, retentionBytes: -1 })
  t.ok((row?.sizeBytes as number) > 0, 'bytes on disk')
  t.notOk((list.json.topics as Array<{ topic: string }>).some(x => x.topic.startsWith('__')), 'internal topics hidden')
  const withInternal = await api('/api/topics?internal=true')
  t.ok((withInternal.json.topics as Array<{ topic: string }>).some(x => x.topic === '__consumer_offsets'), '?internal=true shows them')

  const one = await api('/api/topics/api-orders')
  t.equal(one.status, 200)
  const parts = (one.json.topic as { partitions: Array<{ partition: number, logStartOffset: number, logEndOffset: number, highWatermark: number, sizeBytes: number, segments: number }> }).partitions
  t.same(parts.map(p => p.partition), [0, 1, 2])
  t.equal(parts.reduce((s, p) => s + p.logEndOffset - p.logStartOffset, 0), 5)
  t.ok(parts.every(p => p.segments === 1 && p.highWatermark === p.logEndOffset))

  const errors: Array<[unknown, number, string]> = [
    [{ topic: 'api-orders' }, 409, 'TOPIC_ALREADY_EXISTS'],
    [{ topic: 'bad name!' }, 400, 'INVALID_TOPIC'],
    [{ topic: '__mine' }, 400, 'INVALID_TOPIC'],
    [{ topic: 42 }, 400, 'INVALID_TOPIC'],
    [{ topic: 'p0', partitions: 0 }, 400, 'INVALID_PARTITIONS'],
    [{ topic: 'p1', partitions: 1.5 }, 400, 'INVALID_REQUEST'],
    [{ topic: 'c1', config: { retentionMs: 'soon' } }, 400, 'INVALID_CONFIG'],
    [{ topic: 'c2', config: { noSuchSetting: 1 } }, 400, 'INVALID_CONFIG'],
    [{ topic: 'c3', config: { cleanupPolicy: 'shred' } }, 400, 'INVALID_CONFIG'],
    [{ topic: 'x', replicas: 3 }, 400, 'INVALID_REQUEST'],
    [[1, 2], 400, 'INVALID_REQUEST'],
    ['{"topic":', 400, 'INVALID_REQUEST'],
    ['', 400, 'INVALID_REQUEST'],
  ]
  for (const [body, status, code] of errors) {
    const r = await post('/api/topics', body)
    t.equal(r.status, status, `${JSON.stringify(body)} → ${status}`)
    t.equal(r.json.error?.code, code, `${JSON.stringify(body)} → ${code}`)
    t.type(r.json.error?.message, 'string')
  }
  const notJson = await api('/api/topics', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=x' })
  t.equal(notJson.status, 415)
  t.equal(notJson.json.error?.code, 'HTTP_UNSUPPORTED_MEDIA_TYPE')

  const missing = await api('/api/topics/no-such-topic')
  t.equal(missing.status, 404)
  t.equal(missing.json.error?.code, 'UNKNOWN_TOPIC_OR_PARTITION')
  const internal = await api('/api/topics/__consumer_offsets', { method: 'DELETE' })
  t.equal(internal.status, 400, 'internal topics cannot be deleted')
  const deleted = await api('/api/topics/api-orders', { method: 'DELETE' })
  t.same([deleted.status, deleted.json], [200, { deleted: 'api-orders' }])
  t.equal((await api('/api/topics/api-orders')).status, 404, 'gone')
  t.equal((await api('/api/topics/api-orders', { method: 'DELETE' })).status, 404, 'deleting twice is a 404')
})

t.test('unknown paths are 404 and wrong methods 405 with Allow', async t => {
  const r = await api('/api/nothing-here')
  t.equal(r.status, 404)
  t.equal(r.json.error?.code, 'HTTP_NOT_FOUND')
  const m = await api('/api/topics', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal(m.status, 405)
  t.equal(m.json.error?.code, 'HTTP_METHOD_NOT_ALLOWED')
  t.equal(m.headers.get('allow'), 'GET, POST, HEAD, OPTIONS')
  t.equal((await api('/api/traffic', { method: 'DELETE' })).status, 405)
  const head = await fetch(`${base}/api/overview`, { method: 'HEAD' })
  t.equal(head.status, 200, 'HEAD is GET without a body')
  t.equal((await head.text()), '')
  t.equal((await api('/api/topics/%E0%A4%A')).status, 404, 'a path parameter that does not decode')
})

t.test('request bodies are bounded by httpMaxBodyBytes with a named error', async t => {
  const big = JSON.stringify({ topic: 'big', config: { pad: 'x'.repeat(8000) } })
  const r = await post('/api/topics', big)
  t.equal(r.status, 413)
  t.equal(r.json.error?.code, 'HTTP_BODY_TOO_LARGE')
  t.match(r.json.error?.message, /4096/)
  // Chunked (no Content-Length): counted while it arrives.
  const chunks = new ReadableStream({
    start (c) {
      for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode('x'.repeat(1000)))
      c.close()
    },
  })
  const chunked = await fetch(`${base}/api/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chunks, duplex: 'half' } as RequestInit)
  t.equal(chunked.status, 413)
  t.equal(((await chunked.json()) as Answer['json']).error?.code, 'HTTP_BODY_TOO_LARGE')
  t.equal((await api('/api/overview')).status, 200, 'the broker serves on')
})

t.test('groups: list and describe with members, assignment, committed/end offsets and lag', async t => {
  t.equal((await post('/api/topics', { topic: 'api-g', partitions: 2 })).status, 201)
  const client = new Client({ brokers: [`127.0.0.1:${broker.ports.native}`] })
  t.teardown(() => client.close())
  const producer = client.producer({ lingerMs: 0 })
  for (const p of [0, 1]) await producer.send({ topic: 'api-g', messages: Array.from({ length: 10 }, () => ({ value: utf8('x'), partition: p })) })
  await producer.close()
  const raw = await RawClient.connect(broker.ports.native!)
  t.teardown(() => raw.close())
  const beat = await raw.call('GroupHeartbeat', {
    groupId: 'api-group', memberId: '', memberEpoch: 0, instanceId: null, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000,
    subscribedTopics: ['api-g'], ownedPartitions: [],
  })
  t.equal(beat.errorCode, 0)
  const commit = await raw.call('OffsetCommit', {
    groupId: 'api-group', memberId: beat.memberId, memberEpoch: beat.memberEpoch,
    topics: [{ topic: 'api-g', partitions: [{ partition: 0, offset: 4, metadata: null }, { partition: 1, offset: 10, metadata: null }] }],
  })
  t.equal(commit.errorCode, 0)

  broker.stats.sample()
  const list = await api('/api/groups')
  const g = (list.json.groups as Array<Record<string, unknown>>).find(x => x.groupId === 'api-group')
  t.match(g, { groupId: 'api-group', members: 1, topics: ['api-g'], totalLag: 6 })
  t.ok((g?.lagHistory as Array<[number, number]>).some(([, lag]) => lag === 6), 'lag history has the sample')
  const later = await api(`/api/groups?sinceMs=${Date.now() + 60_000}`)
  t.same((later.json.groups as Array<{ lagHistory: unknown[] }>)[0]?.lagHistory, [], 'sinceMs limits the history')
  t.equal((await api('/api/groups?sinceMs=soon')).status, 400)

  const one = await api('/api/groups/api-group')
  t.equal(one.status, 200)
  t.match(one.json.group, {
    groupId: 'api-group',
    state: String,
    members: [{ memberId: beat.memberId, clientId: 'raw-test', clientHost: '127.0.0.1', assignment: [{ topic: 'api-g', partitions: [0, 1] }] }],
    offsets: [
      { topic: 'api-g', partition: 0, committedOffset: 4, logEndOffset: 10, lag: 6, memberId: beat.memberId },
      { topic: 'api-g', partition: 1, committedOffset: 10, logEndOffset: 10, lag: 0, memberId: beat.memberId },
    ],
    totalLag: 6,
  })
  t.notOk('errorCode' in (one.json.group as object), 'no wire error fields')
  const busy = await api('/api/groups/api-group', { method: 'DELETE' })
  t.same([busy.status, busy.json.error?.code], [409, 'NON_EMPTY_GROUP'])
  const none = await api('/api/groups/no-such-group')
  t.same([none.status, none.json.error?.code], [404, 'GROUP_ID_NOT_FOUND'])
  await raw.call('GroupHeartbeat', { groupId: 'api-group', memberId: beat.memberId, memberEpoch: -1, instanceId: null, subscribedTopics: null, ownedPartitions: null })
  const gone = await api('/api/groups/api-group', { method: 'DELETE' })
  t.same([gone.status, gone.json], [200, { deleted: 'api-group' }])
})

t.test('traffic: per-topic rates and connections sorted by egress', async t => {
  const client = new Client({ brokers: [`127.0.0.1:${broker.ports.native}`], clientId: 'traffic-test' })
  t.teardown(() => client.close())
  const producer = client.producer({ lingerMs: 0 })
  broker.stats.sample()
  const before = Date.now()
  await producer.send({ topic: 'api-traffic', messages: Array.from({ length: 100 }, () => ({ value: utf8('y'.repeat(100)) })) })
  await new Promise(resolve => setTimeout(resolve, 20))
  broker.stats.sample()
  const r = await api(`/api/traffic?sinceMs=${before - 1}`)
  t.equal(r.status, 200)
  const history = r.json.history as Array<{ timeMs: number, topics: Record<string, { recordsInPerSec: number, bytesInPerSec: number }> }>
  t.ok(history.length >= 1 && history.every(s => s.timeMs > before - 1), 'only samples after sinceMs')
  t.ok(history.some(s => (s.topics['api-traffic']?.recordsInPerSec ?? 0) > 0), 'the produce shows as a rate')
  const conns = r.json.connections as Array<{ clientId: string, remoteAddress: string, protocol: string, group: string | null, bytesInPerSec: number, bytesOutPerSec: number }>
  const mine = conns.find(c => c.clientId === 'traffic-test')
  t.match(mine, { protocol: 'native-tcp', remoteAddress: /^127\.0\.0\.1:\d+$/, group: null })
  t.ok((mine?.bytesInPerSec ?? 0) > 0, 'ingress rate')
  for (let i = 1; i < conns.length; i++) t.ok(conns[i - 1]!.bytesOutPerSec >= conns[i]!.bytesOutPerSec, 'sorted by egress')
})

t.test('MQTT connections appear in the connections table', async t => {
  const ws = new WebSocket(`ws://127.0.0.1:${open.ports.http}/mqtt`, ['mqtt'])
  t.teardown(() => ws.terminate())
  await new Promise<void>((resolve, reject) => { ws.on('open', () => resolve()); ws.on('error', reject) })
  // MQTT 3.1.1 CONNECT, client id "console-mqtt".
  const id = Buffer.from('console-mqtt')
  const body = Buffer.concat([Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 60, 0, id.length]), id])
  ws.send(Buffer.concat([Buffer.from([0x10, body.length]), body]))
  await new Promise<void>(resolve => ws.once('message', () => resolve()))
  await waitFor(() => { open.stats.sample(); return open.stats.connections().some(c => c.clientId === 'console-mqtt') }, 5000, 'the MQTT connection in stats')
  const r = await api('/api/traffic', { base: openBase })
  t.match((r.json.connections as unknown[]).find(c => (c as { clientId: string }).clientId === 'console-mqtt'), { protocol: 'mqtt-ws', group: null, bytesIn: Number, bytesOut: Number })
})

t.test('Origin: other sites are refused on /api; listed origins get CORS', async t => {
  const evil = await post('/api/topics', { topic: 'csrf' }, { origin: 'http://evil.example' })
  t.same([evil.status, evil.json.error?.code], [403, 'ORIGIN_NOT_ALLOWED'])
  t.equal((await api('/api/topics/csrf')).status, 404, 'nothing was created')
  const evilRead = await api('/api/overview', { headers: { origin: 'http://evil.example' } })
  t.equal(evilRead.status, 403, 'reads are refused too')
  t.equal((await api('/api/topics/x', { method: 'DELETE', headers: { origin: 'null' } })).status, 403, 'file:// pages (Origin null) are refused')
  const same = await post('/api/topics', { topic: 'same-origin' }, { origin: base })
  t.equal(same.status, 201, 'a page from the broker itself may')
  t.equal(same.headers.get('access-control-allow-origin'), null, 'no CORS header needed for it')

  const refused = await api('/api/overview', { base: openBase, headers: { origin: 'http://other.example:8080' } })
  t.equal(refused.status, 403)
  const ok = await api('/api/overview', { base: openBase, headers: { origin: 'HTTP://App.Example:8080/' } })
  t.equal(ok.status, 200, 'listed origins compare case-insensitively, trailing slash ignored')
  t.equal(ok.headers.get('access-control-allow-origin'), 'HTTP://App.Example:8080/')
  t.equal(ok.headers.get('vary'), 'Origin')
  const preflight = await fetch(`${openBase}/api/topics`, { method: 'OPTIONS', headers: { origin: listed, 'access-control-request-method': 'POST' } })
  t.equal(preflight.status, 204)
  t.equal(preflight.headers.get('access-control-allow-origin'), listed)
  t.match(preflight.headers.get('access-control-allow-methods'), /POST/)
  t.equal((await fetch(`${openBase}/api/topics`, { method: 'OPTIONS', headers: { origin: 'http://evil.example' } })).status, 403)
})

t.test('Origin on WebSocket upgrades: /ws and /mqtt refuse other sites and rebound DNS names', async t => {
  const ws = `ws://127.0.0.1:${broker.ports.http}/ws`
  t.equal(await tryWebSocket(ws, {}), 'open', 'no Origin (a program, not a page)')
  t.equal(await tryWebSocket(ws, { origin: base }), 'open', 'the broker\'s own origin')
  t.equal(await tryWebSocket(ws, { origin: `http://localhost:${broker.ports.http}`, host: `localhost:${broker.ports.http}` }), 'open', 'localhost')
  t.equal(await tryWebSocket(ws, { origin: 'http://evil.example' }), '403', 'another site')
  t.equal(await tryWebSocket(ws, { origin: 'null' }), '403', 'a file:// page')
  const port = broker.ports.http!
  t.equal(await tryWebSocket(ws, { origin: `http://rebound.example:${port}`, host: `rebound.example:${port}` }), '403', 'DNS rebinding: Origin equals Host but is a DNS name')
  const rebound = await rawRequest(port, { method: 'DELETE', path: '/api/topics/same-origin', headers: { origin: `http://rebound.example:${port}`, host: `rebound.example:${port}` } })
  t.equal(rebound.status, 403, 'the same on /api')
  t.equal(await tryWebSocket(`ws://127.0.0.1:${open.ports.http}/mqtt`, { origin: 'http://evil.example' }, 'mqtt'), '403', '/mqtt refuses other sites')
  t.equal(await tryWebSocket(`ws://127.0.0.1:${open.ports.http}/ws`, { origin: listed }), 'open', 'a listed origin')
  t.equal(await tryWebSocket(`ws://127.0.0.1:${open.ports.http}/mqtt`, { origin: listed }, 'mqtt'), 'open', 'a listed origin on /mqtt')
})

t.test('WebSocket bad input gets what TCP gets: size bound, malformed frame, maxConnections', async t => {
  const small = await startBroker(t, { maxFrameBytes: 64 * 1024, maxBatchBytes: 32 * 1024, maxConnections: 2, mqttPort: null })
  const url = `ws://127.0.0.1:${small.ports.http}/ws`
  const open = async (): Promise<{ ws: WebSocket, notices: Array<{ errorCode: number }>, closed: Promise<number> }> => {
    const ws = new WebSocket(url)
    t.teardown(() => ws.terminate())
    const notices: Array<{ errorCode: number }> = []
    ws.on('message', (data: Buffer) => {
      const r = parseResponseFrame(new Uint8Array(data))
      if (r.correlationId === 0) notices.push(decodeBody(r.bodyBytes) as { errorCode: number })
    })
    const closed = new Promise<number>(resolve => ws.once('close', (code: number) => resolve(code)))
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
    return { ws, notices, closed }
  }
  const big = await open()
  const oversized = new Uint8Array(100_000)
  new DataView(oversized.buffer).setUint32(0, oversized.length - 4)
  big.ws.send(oversized)
  t.equal(await big.closed, 1009, 'a message over maxFrameBytes: close 1009 before it is buffered')

  const bad = await open()
  bad.ws.send(Uint8Array.from([0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))
  await bad.closed
  t.same(bad.notices.map(n => n.errorCode), [ERROR_TABLE.MALFORMED_FRAME.code], 'a malformed frame: MALFORMED_FRAME notice, then close')

  const a = await open()
  const b = await open()
  const c = await open()
  await c.closed
  t.same(c.notices.map(n => n.errorCode), [ERROR_TABLE.TOO_MANY_CONNECTIONS.code], 'WebSocket connections count toward maxConnections')
  t.same([a.notices, b.notices], [[], []], 'the others are untouched')
  t.equal(small.connections.size, 2)
})

t.test('static files: the SDK bundle with content type and ETag; 404s', async t => {
  const res = await fetch(`${base}/sdk/spool.js`)
  t.equal(res.status, 200)
  t.equal(res.headers.get('content-type'), 'text/javascript; charset=utf-8')
  t.equal(res.headers.get('cache-control'), 'no-cache')
  t.equal(res.headers.get('x-content-type-options'), 'nosniff')
  const etag = res.headers.get('etag')
  t.match(etag, /^"[A-Za-z0-9_-]{27}"$/)
  const source = await res.text()
  t.match(source, /export\s*\{[^}]*\bClient\b/, 'an ES module exporting Client')
  t.notMatch(source, /^\s*(import|export)\b[^\n]*["'](node:[a-z_/]+|ws)["']/m, 'no Node imports')
  t.notMatch(source, /\brequire\(/, 'no require')
  const again = await fetch(`${base}/sdk/spool.js`, { headers: { 'if-none-match': etag! } })
  t.equal(again.status, 304, 'revalidation answers 304')
  t.equal(await again.text(), '')
  t.equal((await fetch(`${base}/sdk/spool.js`, { method: 'POST' })).status, 405)
  t.equal((await fetch(`${base}/sdk/nothing.js`)).status, 404)
  t.equal((await fetch(`${base}/sdk/%2e%2e/%2e%2e/package.json`)).status, 404, 'no way out of the directory')
  t.equal((await fetch(`${base}/sdk/..%2fconsole%2findex.html`)).status, 404)
  const index = await fetch(`${base}/`)
  t.equal(index.status, 200)
  t.equal(index.headers.get('content-type'), 'text/html; charset=utf-8')
  t.match(index.headers.get('content-security-policy'), /default-src 'self'/)
  t.match(index.headers.get('content-security-policy'), /frame-ancestors 'none'/)

  const empty = await startBroker(t, { webRoot: tempDir(t) })
  const missing = await fetch(`http://127.0.0.1:${empty.ports.http}/sdk/spool.js`)
  t.equal(missing.status, 404)
  t.match(await missing.text(), /browser SDK bundle .*spool\.js is missing: run `npm run build`/)
  t.match(await (await fetch(`http://127.0.0.1:${empty.ports.http}/`)).text(), /web console is missing/)
})
