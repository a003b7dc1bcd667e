// The native protocol against a real broker over raw TCP and WebSocket sockets (no SDK):
// every api answers, responses come out of order, long polls wake on append, and every kind
// of bad input is answered or closes only the connection that sent it while another client
// keeps producing and fetching.
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { WebSocket } from 'ws'
import { encodeBatch, decodeBatch } from '../../protocol/record-batch/records.js'
import { ERROR_TABLE } from '../../protocol/errors.js'
import { concatParts, encodeClientId, encodeRequestFrame, parseResponseFrame, decodeBody } from '../../protocol/native/frame.js'
import { APIS } from '../../protocol/native/api-keys.js'
import { RawClient } from '../helpers/raw-client.js'
import { httpGet, startBroker } from '../helpers/broker.js'
import { utf8, text } from '../helpers/bytes.js'
import { waitFor } from '../helpers/wait.js'

const code = (name: keyof typeof ERROR_TABLE): number => ERROR_TABLE[name].code

function batchOf (values: string[], key?: string): Uint8Array {
  return encodeBatch(values.map(v => ({ key: key === undefined ? null : utf8(key), value: utf8(v) })))
}

function produceBody (topic: string, partitions: Array<[number, Uint8Array]>, acks: -1 | 0 | 1 = 1): { body: unknown, records: Uint8Array[] } {
  return {
    body: { acks, timeoutMs: 5000, topics: [{ topic, partitions: partitions.map(([partition, r]) => ({ partition, recordsBytes: r.length })) }] },
    records: partitions.map(([, r]) => r),
  }
}

function fetchBody (topic: string, partition: number, fetchOffset: number, maxWaitMs = 0, minBytes = 1): unknown {
  return { maxWaitMs, minBytes, maxBytes: 1 << 20, topics: [{ topic, partitions: [{ partition, fetchOffset, maxBytes: 1 << 20 }] }] }
}

function values (records: Uint8Array): string[] {
  const out: string[] = []
  let pos = 0
  while (pos < records.length) {
    const { header, records: rs } = decodeBatch(records, pos)
    for (const r of rs) out.push(text(r.value)!)
    pos += header.batchLength + 12
  }
  return out
}

t.test('apis over raw TCP', async t => {
  const broker = await startBroker(t)
  const c = await RawClient.connect(broker.ports.native!)
  t.teardown(() => c.close())

  const versions = await c.call('ApiVersions', {})
  const names = versions.apis.map(a => a.name).sort()
  t.same(names, ['AlterClientQuotas', 'ApiVersions', 'CreateTopics', 'DeleteGroups', 'DeleteTopics', 'DescribeClientQuotas', 'DescribeConnections',
    'DescribeGroups', 'DescribeTopics', 'Fetch', 'FindCoordinator', 'GroupHeartbeat', 'InitProducerId', 'ListGroups', 'ListOffsets', 'Metadata', 'OffsetCommit',
    'OffsetFetch', 'Produce', 'SaslAuthenticate', 'SaslHandshake'])

  const created = await c.call('CreateTopics', { topics: [{ topic: 'orders', partitions: 3 }, { topic: 'bad/name', partitions: 1 }, { topic: 'zero', partitions: 0 }] })
  t.same(created.topics.map(x => [x.topic, x.errorCode]), [['orders', 0], ['bad/name', code('INVALID_TOPIC')], ['zero', code('INVALID_PARTITIONS')]])
  const again = await c.call('CreateTopics', { topics: [{ topic: 'orders', partitions: 3 }] })
  t.equal(again.topics[0]!.errorCode, code('TOPIC_ALREADY_EXISTS'))

  const md = await c.call('Metadata', { topics: ['orders', 'auto-made', 'missing'], allowAutoCreate: false })
  t.same(md.topics.map(x => [x.topic, x.errorCode, x.partitions.length]), [['orders', 0, 3], ['auto-made', code('UNKNOWN_TOPIC_OR_PARTITION'), 0], ['missing', code('UNKNOWN_TOPIC_OR_PARTITION'), 0]])
  t.equal(md.brokers[0]!.port, broker.ports.native)
  const auto = await c.call('Metadata', { topics: ['auto-made'], allowAutoCreate: true })
  t.same(auto.topics.map(x => [x.topic, x.errorCode, x.partitions.length]), [['auto-made', 0, 1]], 'auto-created with the default partitions')

  const p1 = produceBody('orders', [[0, batchOf(['a', 'b', 'c'])], [2, batchOf(['x'])]])
  const r1 = await c.call('Produce', p1.body, p1.records)
  t.same(r1.topics[0]!.partitions.map(p => [p.partition, p.errorCode, p.baseOffset]), [[0, 0, 0], [2, 0, 0]])
  const p2 = produceBody('orders', [[0, batchOf(['d', 'e'])]], -1)
  const r2 = await c.call('Produce', p2.body, p2.records)
  t.equal(r2.topics[0]!.partitions[0]!.baseOffset, 3, 'acks=all answers with the next offsets')
  const p3 = produceBody('orders', [[0, batchOf(['f'])]], 0)
  const silent = c.send('Produce', p3.body, p3.records)

  const f = await c.call('Fetch', fetchBody('orders', 0, 0))
  t.same(values(f.records), ['a', 'b', 'c', 'd', 'e', 'f'], 'acks=0 data is there too, in order')
  t.equal(f.topics[0]!.partitions[0]!.highWatermark, 6)
  t.notOk(c.responses.some(r => r.correlationId === silent), 'acks=0 was not answered')
  const mid = await c.call('Fetch', fetchBody('orders', 0, 4))
  t.same(values(mid.records), ['d', 'e', 'f'], 'a fetch starts with the batch that contains the offset')

  const oor = await c.call('Fetch', fetchBody('orders', 0, 99))
  t.equal(oor.topics[0]!.partitions[0]!.errorCode, code('OFFSET_OUT_OF_RANGE'))
  const unk = await c.call('Fetch', fetchBody('nope', 0, 0))
  t.equal(unk.topics[0]!.partitions[0]!.errorCode, code('UNKNOWN_TOPIC_OR_PARTITION'))

  const lo = await c.call('ListOffsets', { topics: [{ topic: 'orders', partitions: [{ partition: 0, timestamp: -2 }, { partition: 0, timestamp: -1 }, { partition: 1, timestamp: -1 }, { partition: 0, timestamp: Date.now() + 60_000 }, { partition: 0, timestamp: 0 }] }] })
  t.same(lo.topics[0]!.partitions.map(p => p.offset), [0, 6, 0, -1, 0])

  const d = await c.call('DescribeTopics', { topics: ['orders'] })
  t.same(d.topics[0]!.partitions.map(p => [p.logStartOffset, p.logEndOffset]), [[0, 6], [0, 0], [0, 1]])
  t.ok(d.topics[0]!.partitions[0]!.sizeBytes > 0)

  const del = await c.call('DeleteTopics', { topics: ['auto-made', 'never-was'] })
  t.same(del.topics.map(x => x.errorCode), [0, code('UNKNOWN_TOPIC_OR_PARTITION')])
})

t.test('a produced batch comes back byte for byte (only baseOffset and leader epoch rewritten)', async t => {
  const broker = await startBroker(t)
  const c = await RawClient.connect(broker.ports.native!)
  t.teardown(() => c.close())
  await c.call('CreateTopics', { topics: [{ topic: 'bytes', partitions: 1 }] })
  await c.call('Produce', produceBody('bytes', [[0, batchOf(['first'])]]).body, [batchOf(['first'])])
  const batch = encodeBatch([{ key: utf8('k'), value: utf8('v'), headers: [{ key: 'h', value: utf8('1') }] }])
  const sent = batch.slice()
  await c.call('Produce', produceBody('bytes', [[0, batch]]).body, [batch])
  const f = await c.call('Fetch', fetchBody('bytes', 0, 1))
  t.equal(f.records.length, sent.length)
  t.same(Buffer.from(f.records.subarray(16)), Buffer.from(sent.subarray(16)), 'bytes from magic on (CRC range and records) are identical')
  t.same(Buffer.from(f.records.subarray(8, 12)), Buffer.from(sent.subarray(8, 12)), 'batchLength unchanged')
  const view = new DataView(f.records.buffer, f.records.byteOffset)
  t.equal(view.getUint32(4), 1, 'baseOffset rewritten to 1')
  t.equal(view.getInt32(12), 0, 'partitionLeaderEpoch set to the leader epoch (0)')
})

t.test('out-of-order responses: a long poll does not hold up a produce; an append wakes it', async t => {
  const broker = await startBroker(t)
  const c = await RawClient.connect(broker.ports.native!)
  t.teardown(() => c.close())
  await c.call('CreateTopics', { topics: [{ topic: 'ooo', partitions: 1 }] })
  const started = Date.now()
  const fetchId = c.send('Fetch', fetchBody('ooo', 0, 0, 10_000))
  await new Promise(resolve => setTimeout(resolve, 100))
  const p = produceBody('ooo', [[0, batchOf(['wake'])]])
  const produceId = c.send('Produce', p.body, p.records)
  const produced = await c.response(produceId)
  const fetched = await c.response(fetchId)
  t.ok(c.responses.indexOf(produced) < c.responses.indexOf(fetched), 'produce answered before the earlier fetch')
  t.same(values(fetched.records), ['wake'])
  t.ok(Date.now() - started < 3000, 'the fetch was woken by the append, not by maxWaitMs')

  const idle = c.send('Fetch', fetchBody('ooo', 0, 1, 300))
  const r = await c.response(idle, 3000)
  t.equal((r.body.topics as Array<{ partitions: Array<{ recordsBytes: number }> }>)[0]!.partitions[0]!.recordsBytes, 0, 'maxWaitMs ends an empty long poll')
})

t.test('bad input closes or answers only that connection; others keep working', async t => {
  const broker = await startBroker(t, { maxFrameBytes: 64 * 1024, maxBatchBytes: 32 * 1024 })
  const good = await RawClient.connect(broker.ports.native!)
  t.teardown(() => good.close())
  await good.call('CreateTopics', { topics: [{ topic: 'safe', partitions: 1 }] })
  let sent = 0
  const produceAndCheck = async (): Promise<void> => {
    sent++
    const p = produceBody('safe', [[0, batchOf([`m${sent}`])]])
    const r = await good.call('Produce', p.body, p.records)
    t.equal(r.topics[0]!.partitions[0]!.errorCode, 0)
    const f = await good.call('Fetch', fetchBody('safe', 0, sent - 1))
    t.same(values(f.records), [`m${sent}`], 'the good client still produces and fetches')
  }

  await t.test('unknown api key → UNSUPPORTED_API, connection stays', async t => {
    const c = await RawClient.connect(broker.ports.native!)
    t.teardown(() => c.close())
    const r = await c.response(c.sendKey(4242, {}))
    t.equal(r.body.errorCode, code('UNSUPPORTED_API'))
    const v = await c.response(c.send('Metadata', { topics: [] }, [], 9))
    t.equal(v.body.errorCode, code('UNSUPPORTED_VERSION'))
    const bad = await c.response(c.send('Produce', { acks: 7, topics: 'x' }))
    t.equal(bad.body.errorCode, code('INVALID_REQUEST'))
    t.match(bad.body.errorMessage, /acks/)
    const ok = await c.call('ApiVersions', {})
    t.equal(ok.errorCode, 0, 'still usable')
    await produceAndCheck()
  })

  await t.test('garbage bytes → MALFORMED_FRAME notice and close', async t => {
    const c = await RawClient.connect(broker.ports.native!)
    t.teardown(() => c.close())
    c.write(Buffer.from('\x00\x00\x00\x20GET / HTTP/1.1\r\nHost: x\r\n\r\n........'))
    await c.until(() => c.closed)
    t.equal(c.responses[0]?.correlationId, 0, 'a notice came first')
    t.equal(c.responses[0]?.body.errorCode, code('MALFORMED_FRAME'))
    await produceAndCheck()
  })

  await t.test('oversized length prefix → FRAME_TOO_LARGE before any buffering', async t => {
    const c = await RawClient.connect(broker.ports.native!)
    t.teardown(() => c.close())
    c.write(Uint8Array.of(0x10, 0, 0, 0))
    await c.until(() => c.closed)
    t.equal(c.responses[0]?.body.errorCode, code('FRAME_TOO_LARGE'))
    await produceAndCheck()
  })

  await t.test('truncated frame then the client vanishes', async () => {
    const c = await RawClient.connect(broker.ports.native!)
    const frame = concatParts(encodeRequestFrame(APIS.Metadata.key, 0, 1, encodeClientId('x'), { topics: null }))
    c.write(frame.subarray(0, frame.length - 3))
    await new Promise(resolve => setTimeout(resolve, 50))
    c.close()
    await produceAndCheck()
  })

  await t.test('corrupt batch → CORRUPT_MESSAGE for that partition; log unchanged', async t => {
    const before = broker.logs.partition('safe', 0).logEndOffset
    const bad = batchOf(['evil'])
    bad[bad.length - 1] ^= 0x55
    const p = produceBody('safe', [[0, bad]])
    const r = await good.call('Produce', p.body, p.records)
    t.equal(r.topics[0]!.partitions[0]!.errorCode, code('CORRUPT_MESSAGE'))
    t.equal(broker.logs.partition('safe', 0).logEndOffset, before)
    const big = encodeBatch([{ value: new Uint8Array(40 * 1024) }])
    const pb = produceBody('safe', [[0, big]])
    const rb = await good.call('Produce', pb.body, pb.records)
    t.equal(rb.topics[0]!.partitions[0]!.errorCode, code('MESSAGE_TOO_LARGE'))
    const lying = produceBody('safe', [[0, batchOf(['x'])]])
    const rl = await good.response(good.send('Produce', lying.body, [lying.records[0]!.subarray(0, 20)]))
    t.equal(rl.body.errorCode, code('INVALID_REQUEST'), 'declared record bytes disagree with the frame')
    t.equal(broker.logs.partition('safe', 0).logEndOffset, before)
    await produceAndCheck()
  })

  await t.test('random garbage from many connections', async () => {
    let seed = 5
    const next = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff)
    for (let i = 0; i < 30; i++) {
      const c = await RawClient.connect(broker.ports.native!)
      const junk = Buffer.alloc(1 + (next() % 500))
      for (let j = 0; j < junk.length; j++) junk[j] = next() & 0xff
      if (i % 2 === 0 && junk.length > 4) junk.writeUInt32BE(junk.length - 4, 0)
      c.write(junk)
      await new Promise(resolve => setTimeout(resolve, 5))
      c.close()
    }
    await produceAndCheck()
  })
})

t.test('connection limits are named: in-flight, connections, idle', async t => {
  const broker = await startBroker(t, { maxInFlightRequests: 2, maxConnections: 3, idleTimeoutMs: 400 })
  const a = await RawClient.connect(broker.ports.native!)
  t.teardown(() => a.close())
  await a.call('CreateTopics', { topics: [{ topic: 'lim', partitions: 1 }] })
  a.send('Fetch', fetchBody('lim', 0, 0, 2000))
  a.send('Fetch', fetchBody('lim', 0, 0, 2000))
  const third = await a.response(a.send('Fetch', fetchBody('lim', 0, 0, 2000)))
  t.equal(third.body.errorCode, code('TOO_MANY_IN_FLIGHT'))

  const b = await RawClient.connect(broker.ports.native!)
  const c = await RawClient.connect(broker.ports.native!)
  const d = await RawClient.connect(broker.ports.native!)
  t.teardown(() => { b.close(); c.close(); d.close() })
  await d.until(() => d.closed)
  t.equal(d.responses[0]?.body.errorCode, code('TOO_MANY_CONNECTIONS'))

  await b.until(() => b.closed, 5000)
  t.equal(b.responses[0]?.body.errorCode, code('IDLE_TIMEOUT'), 'an idle connection is told why it is closed')

  // Trickling a frame a byte at a time is not activity: the request never completes.
  const slowloris = await RawClient.connect(broker.ports.native!)
  t.teardown(() => slowloris.close())
  slowloris.socket.write(Buffer.from([0, 0, 0xea, 0x60]))
  const trickle = setInterval(() => { if (!slowloris.closed) slowloris.socket.write(Buffer.from([1])) }, 50)
  t.teardown(() => clearInterval(trickle))
  await slowloris.until(() => slowloris.closed, 5000)
  clearInterval(trickle)
  t.equal(slowloris.responses[0]?.body.errorCode, code('IDLE_TIMEOUT'), 'a peer trickling bytes of a frame is closed as idle')
})

/** A raw socket that stays half-open after the broker ends its side, then resets. */
async function halfOpen (port: number, request?: string): Promise<{ socket: Socket, received: () => string }> {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true })
  socket.on('error', () => { /* the reset is ours */ })
  await new Promise(resolve => socket.once('connect', resolve))
  let got = ''
  socket.on('data', (d: Buffer) => { got += d.toString('latin1') })
  if (request !== undefined) socket.write(request)
  return { socket, received: () => got }
}


t.test('refused sockets that the peer then resets do not take the broker down', async t => {
  const broker = await startBroker(t, { maxConnections: 2 })
  const held = [await RawClient.connect(broker.ports.native!), await RawClient.connect(broker.ports.native!)]
  t.teardown(() => { for (const h of held) h.close() })

  // TCP past maxConnections: the notice arrives, the peer keeps its half open and resets.
  const tcp = await halfOpen(broker.ports.native!)
  await waitFor(() => tcp.received().length > 0)
  t.ok(tcp.received().length > 0, 'the refused TCP client got its notice')
  tcp.socket.resetAndDestroy()

  // WebSocket past maxConnections, then a frame with a reserved opcode and a reset.
  const ws = new WebSocket(`ws://127.0.0.1:${broker.ports.http}/ws`)
  ws.on('error', () => { /* expected */ })
  await new Promise(resolve => ws.once('open', resolve))
  const raw = (ws as unknown as { _socket: Socket })._socket
  raw.write(Buffer.from([0x83, 0x80, 1, 2, 3, 4]))
  raw.resetAndDestroy()

  // Upgrades the HTTP layer refuses (unknown path 404, foreign Origin 403), then a reset.
  for (const [path, origin] of [['/nope', null], ['/ws', 'http://elsewhere.example']] as const) {
    const up = await halfOpen(broker.ports.http!, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${origin === null ? '' : `Origin: ${origin}\r\n`}\r\n`)
    await waitFor(() => up.received().includes('\r\n\r\n'))
    t.match(up.received(), origin === null ? /^HTTP\/1\.1 404 / : /^HTTP\/1\.1 403 /, `${path} refused`)
    up.socket.write('x'.repeat(1000))
    up.socket.resetAndDestroy()
  }
  await new Promise(resolve => setTimeout(resolve, 300))

  held[0]!.close()
  await waitFor(() => broker.connections.size < 2)
  const after = await RawClient.connect(broker.ports.native!)
  t.teardown(() => after.close())
  const created = await after.call('CreateTopics', { topics: [{ topic: 'still-up', partitions: 1 }] })
  t.equal(created.topics[0]!.errorCode, 0, 'the broker still serves')
})

/**
 * A writer connection that filled `topic` with `batches` batches of one `valueBytes` value,
 * and a second connection that never reads (its socket is paused).
 */
async function filledAndSlow (t: Parameters<typeof startBroker>[0], broker: Awaited<ReturnType<typeof startBroker>>, topic: string, batches: number, valueBytes: number): Promise<{ writer: RawClient, slow: RawClient }> {
  const writer = await RawClient.connect(broker.ports.native!)
  t.teardown(() => writer.close())
  await writer.call('CreateTopics', { topics: [{ topic, partitions: 1 }] })
  const chunk = encodeBatch([{ value: new Uint8Array(valueBytes).fill(7) }])
  for (let i = 0; i < batches; i++) await writer.call('Produce', produceBody(topic, [[0, chunk]]).body, [chunk])
  const slow = await RawClient.connect(broker.ports.native!)
  t.teardown(() => slow.close())
  slow.socket.pause()
  return { writer, slow }
}

t.test('a reader that never reads is held to maxQueuedBytes, then closed; the broker keeps serving', async t => {
  const broker = await startBroker(t, { maxQueuedBytes: 2 * 1024 * 1024, idleTimeoutMs: 1500 })
  const { slow } = await filledAndSlow(t, broker, 'big', 5, 200 * 1024)
  // One fetch after another, each answered with 1 MB that is never read: once the kernel's
  // buffers are full the responses queue in the broker, which stops reading requests from it
  // past a quarter of the limit, never queues more than the limit, and closes it once idle.
  const slowId = Math.max(...broker.connections.list().map(c => c.id))
  const slowOpen = (): boolean => broker.connections.list().some(c => c.id === slowId)
  const deadline = Date.now() + 15_000
  let sent = 0
  while (slowOpen() && Date.now() < deadline) {
    slow.send('Fetch', fetchBody('big', 0, 0))
    sent++
    const held = broker.connections.list().find(c => c.id === slowId)
    if (held !== undefined && held.bytesOut > 64 * 1024 * 1024) t.fail(`${held.bytesOut} bytes sent to a reader that does not read`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  t.notOk(slowOpen(), `the reader that does not read was closed (after ${sent} requests)`)
  const again = await RawClient.connect(broker.ports.native!)
  t.teardown(() => again.close())
  const f = await again.call('Fetch', fetchBody('big', 0, 4))
  t.equal(f.topics[0]!.partitions[0]!.errorCode, 0, 'others are served')
  t.ok(process.memoryUsage().rss < 1024 * 1024 * 1024, 'memory stayed bounded')
})

t.test('pipelined fetches that are never read cannot make the broker read more than maxQueuedBytes for them', async t => {
  const broker = await startBroker(t, { maxQueuedBytes: 4 * 1024 * 1024 })
  const { writer: w, slow } = await filledAndSlow(t, broker, 'pile', 16, 512 * 1024)
  const reservedPeak = { bytes: 0 }
  const baseline = process.memoryUsage().arrayBuffers
  const sampler = setInterval(() => { reservedPeak.bytes = Math.max(reservedPeak.bytes, process.memoryUsage().arrayBuffers - baseline) }, 5)
  const huge = { maxWaitMs: 0, minBytes: 1, maxBytes: 0x7fffffff, topics: [{ topic: 'pile', partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 0x7fffffff }] }] }
  for (let i = 0; i < 200; i++) slow.send('Fetch', huge)
  // They all arrive at once: the first ones read what fits in maxQueuedBytes, the rest find
  // no room and answer empty.
  await new Promise(resolve => setTimeout(resolve, 1000))
  clearInterval(sampler)
  const held = broker.connections.list().find(c => c.clientId === 'raw-test' && c.bytesOut > 0 && c !== broker.connections.list()[0])
  t.ok(held === undefined || held.bytesOut < 3 * 4 * 1024 * 1024, `at most about maxQueuedBytes was answered with data (${held?.bytesOut ?? 0} bytes)`)
  // 200 fetches × 2 MiB each (half of maxQueuedBytes) would be 400 MiB read into memory.
  t.ok(reservedPeak.bytes < 32 * 1024 * 1024, `memory read for it stayed near maxQueuedBytes (peak growth ${Math.round(reservedPeak.bytes / 1e6)} MB)`)
  const f = await w.call('Fetch', fetchBody('pile', 0, 15))
  t.equal(f.topics[0]!.partitions[0]!.errorCode, 0, 'others are served')
})

t.test('/healthz and /metrics', async t => {
  const broker = await startBroker(t)
  const c = await RawClient.connect(broker.ports.native!)
  t.teardown(() => c.close())
  await c.call('CreateTopics', { topics: [{ topic: 'm', partitions: 1 }] })
  const p = produceBody('m', [[0, batchOf(['1', '2', '3'])]])
  await c.call('Produce', p.body, p.records)
  await c.call('Fetch', fetchBody('m', 0, 0))
  const health = await httpGet(broker, '/healthz')
  t.equal(health.status, 200)
  t.equal(JSON.parse(health.text).status, 'ok')
  const metrics = await httpGet(broker, '/metrics')
  t.match(metrics.headers.get('content-type'), /text\/plain/)
  t.match(metrics.text, /spool_topic_records_in_total\{topic="m"\} 3/)
  t.match(metrics.text, /spool_topic_records_out_total\{topic="m"\} 3/)
  t.match(metrics.text, /spool_topic_bytes_out_total\{topic="m"\} \d+/)
  t.match(metrics.text, /spool_requests_total\{protocol="native",api="Produce"\} 1/)
  t.match(metrics.text, /spool_connection_sent_bytes_total\{connection="\d+",protocol="native",client_id="raw-test",peer="127\.0\.0\.1:\d+"\} \d+/)
  t.match(metrics.text, /spool_connections\{protocol="native",transport="tcp"\} 1/, 'open connections by protocol')
  t.match(metrics.text, /spool_partition_log_end_offset\{topic="m",partition="0"\} 3/, 'per-partition offsets')
  t.match(metrics.text, /spool_partition_size_bytes\{topic="m",partition="0"\} \d+/, 'per-partition size')
  // The standard families Prometheus users know.
  for (const family of ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'process_open_fds', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_gc_duration_seconds']) {
    t.match(metrics.text, new RegExp(`^# TYPE ${family} `, 'm'), family)
  }
  t.equal((await httpGet(broker, '/nope')).status, 404)
  for (const path of ['/healthz', '/metrics']) {
    const posted = await fetch(`http://127.0.0.1:${broker.ports.http}${path}`, { method: 'POST' })
    t.equal(posted.status, 405, `POST ${path} is not allowed`)
    t.equal(posted.headers.get('allow'), 'GET, HEAD')
    await posted.text()
  }
})

t.test('the same frames over WebSocket at /ws', async t => {
  const broker = await startBroker(t)
  const ws = new WebSocket(`ws://127.0.0.1:${broker.ports.http}/ws`)
  ws.binaryType = 'nodebuffer'
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  t.teardown(() => ws.terminate())
  const responses = new Map<number, { body: Record<string, unknown>, records: Uint8Array }>()
  ws.on('message', (data: Buffer) => {
    const r = parseResponseFrame(new Uint8Array(data))
    responses.set(r.correlationId, { body: decodeBody(r.bodyBytes) as Record<string, unknown>, records: r.records })
  })
  const clientId = encodeClientId('ws-test')
  const call = async (id: number, api: keyof typeof APIS, body: unknown, records: Uint8Array[] = []): Promise<{ body: Record<string, unknown>, records: Uint8Array }> => {
    ws.send(concatParts(encodeRequestFrame(APIS[api].key, 0, id, clientId, body, records)))
    const deadline = Date.now() + 5000
    while (!responses.has(id) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 5))
    return responses.get(id)!
  }
  await call(1, 'CreateTopics', { topics: [{ topic: 'web', partitions: 1 }] })
  const p = produceBody('web', [[0, batchOf(['over', 'ws'])]])
  const r = await call(2, 'Produce', p.body, p.records)
  t.equal((r.body.topics as Array<{ partitions: Array<{ errorCode: number }> }>)[0]!.partitions[0]!.errorCode, 0)
  const f = await call(3, 'Fetch', fetchBody('web', 0, 0))
  t.same(values(f.records), ['over', 'ws'], 'fetched over ws (response sent as fragments of one message)')
  const closed = new Promise<number>(resolve => ws.once('close', (c: number) => resolve(c)))
  ws.send('text is not a frame')
  t.equal(await closed, 1003, 'a text message closes the socket')
})

t.test('data survives a broker restart', async t => {
  const first = await startBroker(t)
  const dataDir = first.config.dataDir
  const c = await RawClient.connect(first.ports.native!)
  await c.call('CreateTopics', { topics: [{ topic: 'keep', partitions: 2 }] })
  const p = produceBody('keep', [[1, batchOf(['persist', 'me'])]])
  await c.call('Produce', p.body, p.records)
  c.close()
  await first.close()
  const second = await startBroker(t, { dataDir })
  const c2 = await RawClient.connect(second.ports.native!)
  t.teardown(() => c2.close())
  const f = await c2.call('Fetch', fetchBody('keep', 1, 0))
  t.same(values(f.records), ['persist', 'me'])
  const md = await c2.call('Metadata', { topics: null })
  t.same(md.topics.map(x => [x.topic, x.partitions.length]), [['keep', 2]])
})
