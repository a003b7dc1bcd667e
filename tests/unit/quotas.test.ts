// Quotas and `spool top`, the pure parts, on an injected clock: the windowed rate is
// Kafka's (a first burst is averaged over the whole window, old windows expire), the
// throttle is (observed − limit) / limit × span — in proportion to the excess — and capped;
// every matching quota applies (client id, else the default per client id; group;
// principal) and the strictest wins; changes are checked, stored durably and read back;
// byte units parse as documented; the top view fits 80 columns, sorts, filters and
// aggregates by key; the screen writes only changed lines, in one write, and gives the
// terminal back.
import t from 'tap'
import { pino } from 'pino'
import { WindowedRate, throttleTimeMs } from '../../broker/quotas/rate.js'
import { QuotaManager } from '../../broker/quotas/quota-manager.js'
import { QuotaStore } from '../../broker/quotas/quota-store.js'
import { ANONYMOUS, userPrincipal, type Principal } from '../../broker/security/principal.js'
import { ALLOW_ALL } from '../../broker/services/access.js'
import { INTERNAL_CALLER } from '../../broker/security/principal.js'
import { connectionRows, connectionTotals } from '../../broker/observability/connections.js'
import type { ConnectionRate } from '../../broker/observability/stats.js'
import { formatLimit, parseBytes } from '../../cli/units.js'
import { initialState, onKey, renderFrame, renderText, splitKeys, visibleRows } from '../../cli/top/view.js'
import { Screen, type Input, type Output } from '../../cli/top/screen.js'
import { tempDir } from '../helpers/temp.js'
import type { ConnectionsDescription } from '../../protocol/native/apis/describe-connections.js'

const silent = pino({ level: 'silent' })

t.test('windowed rate: a first burst is averaged over the whole window; old windows expire', async t => {
  const r = new WindowedRate(11, 1000)
  r.record(10_000, 0)
  t.equal(r.spanMs(0), 10_000, 'a new rate spans samples − 1 whole windows')
  t.equal(r.perSecond(0), 1000, '10 000 bytes over 10 s')
  for (let ms = 100; ms <= 20_000; ms += 100) r.record(100, ms)
  t.ok(Math.abs(r.perSecond(20_000) - 1000) < 120, `a steady 1000 B/s measures ~1000 (${r.perSecond(20_000).toFixed(0)})`)
  t.equal(r.perSecond(60_000), 0, 'after samples × window of silence nothing is left')
  t.throws(() => new WindowedRate(1, 1000), RangeError)
})

t.test('throttle time is (observed − limit) / limit × span, 0 within the limit', async t => {
  t.equal(throttleTimeMs(3000, 1000, 10_000), 20_000)
  t.equal(throttleTimeMs(1500, 1000, 10_000), 5_000, 'half the excess, half the wait')
  t.equal(throttleTimeMs(1000, 1000, 10_000), 0)
  t.equal(throttleTimeMs(10, 1000, 10_000), 0)
})

interface Subject { clientId: string, principal: Principal, group: string | null }

function manager (t: { teardown (fn: () => unknown): void }, clock: { now: number }, windowNum = 10, windowSizeMs = 100): { quotas: QuotaManager, dir: string } {
  const dir = tempDir(t)
  const quotas = new QuotaManager({ store: QuotaStore.open(dir), settings: { quotaWindowNum: windowNum, quotaWindowSizeMs: windowSizeMs }, access: ALLOW_ALL, logger: silent, now: () => clock.now })
  t.teardown(() => quotas.close())
  return { quotas, dir }
}

t.test('a fetch quota throttles in proportion to the excess, capped at the window', async t => {
  const clock = { now: 1_000_000 }
  const { quotas } = manager(t, clock)
  const x: Subject = { clientId: 'x', principal: ANONYMOUS, group: null }
  t.equal(quotas.charge(x, 'fetch', 1_000_000), 0, 'no quota: never throttled')
  await quotas.alter(INTERNAL_CALLER, [{ entity: { type: 'client-id', name: 'x' }, ops: [{ key: 'fetchBytesPerSec', value: 1000 }] }])
  // Window: 10 × 100 ms, a fresh rate spans 900 ms.
  t.equal(quotas.charge(x, 'fetch', 450), 0, '450 B over 0.9 s = 500 B/s: within 1000 B/s')
  const t1 = quotas.charge(x, 'fetch', 900) // 1350 B / 0.9 s = 1500 B/s: 50 % over
  t.equal(t1, 450, '(1500 − 1000) / 1000 × 900 ms')
  await quotas.alter(INTERNAL_CALLER, [{ entity: { type: 'client-id', name: 'z' }, ops: [{ key: 'fetchBytesPerSec', value: 1000 }] }])
  const z: Subject = { clientId: 'z', principal: ANONYMOUS, group: null }
  t.equal(quotas.charge(z, 'fetch', 1800), 900, 'twice the excess (2000 B/s), twice the wait')
  clock.now += 450
  t.equal(quotas.charge(x, 'fetch', 450), 850, 'later: 1800 B over 450 ms + 5 padding windows = 1895 B/s: (1895 − 1000) / 1000 × 950 ms')
  t.equal(quotas.charge(x, 'fetch', 1e9), 1000, 'capped at quotaWindowNum × quotaWindowSizeMs')
  t.equal(quotas.charge(x, 'produce', 1e9), 0, 'other kinds have no quota')
  t.equal(quotas.charge({ ...x, clientId: 'y' }, 'fetch', 1e9), 0, 'another client id is not limited')
})

t.test('every matching quota applies; the default is per client id; a principal is shared', async t => {
  const clock = { now: 5_000_000 }
  const { quotas } = manager(t, clock)
  const alice = userPrincipal('alice', 'plain')
  await quotas.alter(INTERNAL_CALLER, [
    { entity: { type: 'default', name: null }, ops: [{ key: 'fetchBytesPerSec', value: 1000 }] },
    { entity: { type: 'client-id', name: 'fast' }, ops: [{ key: 'fetchBytesPerSec', value: 100_000 }] },
    { entity: { type: 'group', name: 'replay' }, ops: [{ key: 'fetchBytesPerSec', value: 2000 }] },
    { entity: { type: 'principal', name: 'alice' }, ops: [{ key: 'produceBytesPerSec', value: 1000 }] },
  ])
  const a: Subject = { clientId: 'a', principal: ANONYMOUS, group: null }
  const b: Subject = { clientId: 'b', principal: ANONYMOUS, group: null }
  t.equal(quotas.charge(a, 'fetch', 900), 0, 'a is at the default')
  t.equal(quotas.charge(b, 'fetch', 900), 0, 'b has a default budget of its own')
  t.ok(quotas.charge(a, 'fetch', 900) > 0, 'a over its default')
  const fast: Subject = { clientId: 'fast', principal: ANONYMOUS, group: null }
  t.equal(quotas.charge(fast, 'fetch', 50_000), 0, 'its own quota replaces the default')
  const member: Subject = { clientId: 'fast', principal: ANONYMOUS, group: 'replay' }
  t.ok(quotas.charge(member, 'fetch', 5000) > 0, 'in group replay, the group limit applies too: the strictest wins')
  const p1: Subject = { clientId: 'p1', principal: alice, group: null }
  const p2: Subject = { clientId: 'p2', principal: alice, group: null }
  t.equal(quotas.charge(p1, 'produce', 800), 0)
  t.ok(quotas.charge(p2, 'produce', 800) > 0, 'two client ids of one principal share its budget')
  t.equal(quotas.charge({ clientId: 'p3', principal: ANONYMOUS, group: null }, 'produce', 1e6), 0, 'other principals are not limited')
  // A connection that joins a group later is looked up again.
  const joining: Subject = { clientId: 'fast', principal: ANONYMOUS, group: null }
  t.equal(quotas.charge(joining, 'fetch', 5000), 0)
  joining.group = 'replay'
  t.ok(quotas.charge(joining, 'fetch', 5000) > 0, 'the group quota applies once it is in the group')
})

t.test('a request-rate quota counts requests', async t => {
  const clock = { now: 9_000_000 }
  const { quotas } = manager(t, clock)
  await quotas.alter(INTERNAL_CALLER, [{ entity: { type: 'client-id', name: 'loop' }, ops: [{ key: 'requestsPerSec', value: 10 }] }])
  const loop: Subject = { clientId: 'loop', principal: ANONYMOUS, group: null }
  let first = -1
  for (let i = 0; i < 20 && first < 0; i++) if (quotas.charge(loop, 'request', 1) > 0) first = i
  t.equal(first, 9, '10 requests/s over 0.9 s: the tenth request is over')
})

t.test('changes are checked, written durably, read back, and removed', async t => {
  const clock = { now: 1 }
  const { quotas, dir } = manager(t, clock)
  const results = await quotas.alter(INTERNAL_CALLER, [
    { entity: { type: 'client-id', name: 'ok' }, ops: [{ key: 'fetchBytesPerSec', value: 1_000_000 }, { key: 'produceBytesPerSec', value: 5 }] },
    { entity: { type: 'client-id', name: 'zero' }, ops: [{ key: 'fetchBytesPerSec', value: 0 }] },
    { entity: { type: 'planet', name: 'x' }, ops: [{ key: 'fetchBytesPerSec', value: 1 }] },
    { entity: { type: 'client-id', name: 'k' }, ops: [{ key: 'bytesPerSec', value: 1 }] },
    { entity: { type: 'principal', name: 'bob' }, ops: [{ key: 'requestsPerSec', value: 3 }] },
    { entity: { type: 'default', name: 'named' }, ops: [{ key: 'requestsPerSec', value: 3 }] },
  ])
  t.same(results.map(r => r.error === null ? 'ok' : (r.error as { code: string }).code), ['ok', 'INVALID_REQUEST', 'INVALID_REQUEST', 'INVALID_REQUEST', 'ok', 'INVALID_REQUEST'])
  t.same(results[4]!.entity, { type: 'principal', name: 'User:bob' }, 'a principal without its type is User:')
  const reread = QuotaStore.open(dir).list()
  t.same(reread, [
    { entity: { type: 'client-id', name: 'ok' }, limits: { fetchBytesPerSec: 1_000_000, produceBytesPerSec: 5 } },
    { entity: { type: 'principal', name: 'User:bob' }, limits: { requestsPerSec: 3 } },
  ], 'what a restart reads is what was set')
  await quotas.alter(INTERNAL_CALLER, [{ entity: { type: 'client-id', name: 'ok' }, ops: [{ key: 'produceBytesPerSec', value: null }] }])
  t.same(QuotaStore.open(dir).list()[0]!.limits, { fetchBytesPerSec: 1_000_000 }, 'one limit removed, the other kept')
  await quotas.alter(INTERNAL_CALLER, [{ entity: { type: 'client-id', name: 'ok' }, ops: [{ key: 'fetchBytesPerSec', value: null }] }])
  t.same(QuotaStore.open(dir).list().map(e => e.entity.name), ['User:bob'], 'an entity without limits is gone')
  t.same((await quotas.alter(INTERNAL_CALLER, [{ entity: { type: 'group', name: 'g' }, ops: [{ key: 'fetchBytesPerSec', value: 9 }] }], true)).map(r => r.error), [null])
  t.equal(QuotaStore.open(dir).list().length, 1, 'validateOnly changes nothing')
})

t.test('byte units: decimal, binary, per second', async t => {
  const cases: Array<[string, number | null]> = [['1048576', 1048576], ['1MB', 1_000_000], ['1mb/s', 1_000_000], ['512KiB', 524_288], ['2.5MiB', 2_621_440], ['1.5k', 1500], ['1 GB/sec', 1e9], ['x', null], ['1XB', null], ['-1', null]]
  for (const [text, bytes] of cases) t.equal(parseBytes(text), bytes, text)
  t.equal(formatLimit(1_000_000), '1 MB')
  t.equal(formatLimit(1_048_576), '1 MiB')
  t.equal(formatLimit(1_234_567), '1234567 B (1.2 MiB)')
})

function rate (over: Partial<ConnectionRate> & { id: string }): ConnectionRate {
  return {
    clientId: 'c', principal: 'User:ANONYMOUS', remoteAddress: '127.0.0.1:5000', host: '127.0.0.1', protocol: 'native-tcp', group: null,
    bytesIn: 0, bytesOut: 0, connectedAtMs: 1_000, bytesInPerSec: 0, bytesOutPerSec: 0, recordsInPerSec: 0, recordsOutPerSec: 0,
    messagesInPerSec: 0, messagesOutPerSec: 0, requestsPerSec: 0, fetchesPerSec: 0, producesPerSec: 0, fetchLag: -1, throttledMs: 0,
    throttledPct: 0, throttleMs: 0, topics: [], ...over,
  }
}

const RATES: ConnectionRate[] = [
  rate({ id: 'native-1', clientId: 'dashboard-with-a-very-long-client-identifier', group: 'dash', host: '10.0.0.7', bytesOutPerSec: 2e5, bytesInPerSec: 100, fetchLag: 0, topics: [{ topic: 'orders', bytesInPerSec: 0, bytesOutPerSec: 2e5, recordsInPerSec: 0, recordsOutPerSec: 100, bytesIn: 0, bytesOut: 1, fetchLag: 0 }] }),
  rate({ id: 'native-2', clientId: 'replayer', group: 'replay', host: '10.0.0.9', bytesOutPerSec: 9e7, bytesInPerSec: 300, fetchLag: 3_000_000, throttledMs: 500, throttledPct: 40, topics: [{ topic: 'orders', bytesInPerSec: 0, bytesOutPerSec: 9e7, recordsInPerSec: 0, recordsOutPerSec: 9e4, bytesIn: 0, bytesOut: 1, fetchLag: 3_000_000 }] }),
  rate({ id: 'native-3', clientId: 'loader', host: '10.0.0.9', bytesInPerSec: 1e6, recordsInPerSec: 1000, topics: [{ topic: 'orders', bytesInPerSec: 1e6, bytesOutPerSec: 0, recordsInPerSec: 1000, recordsOutPerSec: 0, bytesIn: 1, bytesOut: 0, fetchLag: -1 }] }),
  rate({ id: 'mqtt-4', clientId: 'sensor-1', protocol: 'mqtt-tcp', host: '10.0.0.3', bytesInPerSec: 50, messagesInPerSec: 5 }),
]

function description (by: ConnectionsDescription['by'] = 'connection'): ConnectionsDescription {
  return { timeMs: 61_000, intervalMs: 1000, by, totals: connectionTotals(RATES), rows: connectionRows(RATES, by) }
}

t.test('aggregation: by group, topic and host, heaviest egress first', async t => {
  const d = description()
  t.same(d.rows.map(r => r.id), ['native-2', 'native-1', 'native-3', 'mqtt-4'], 'connections by egress')
  t.equal(Math.round(d.totals.egressRatio!), Math.round((9e7 + 2e5) / (100 + 300 + 1e6 + 50)))
  const groups = connectionRows(RATES, 'group')
  t.same(groups.map(r => [r.key, r.connections]), [['replay', 1], ['dash', 1], ['', 2]], 'the re-reader\'s group first')
  const hosts = connectionRows(RATES, 'host')
  t.same(hosts[0]!.key, '10.0.0.9')
  t.same(hosts[0]!.clientIds, ['replayer', 'loader'])
  const topics = connectionRows(RATES, 'topic')
  t.same(topics.map(r => [r.key, r.connections, r.bytesOutPerSec, r.fetchLag]), [['orders', 3, 9e7 + 2e5, 3_000_000]])
})

t.test('the top frame fits 80 columns; wider terminals get more columns', async t => {
  const state = initialState('127.0.0.1:7420')
  const narrow = renderFrame(description(), state, 80, 24)
  for (const line of narrow.lines) t.ok(line.length <= 80, `${line.length} ≤ 80: ${line}`)
  const titles = narrow.lines[narrow.titleRow]!
  for (const col of ['CLIENT ID', 'GROUP', 'TOPICS', 'OUT/s', 'IN/s', 'LAG']) t.match(titles, col, `80 columns show ${col}`)
  t.notMatch(titles, 'PRINCIPAL')
  t.match(narrow.lines[1]!, /egress\/ingress \d+×/, 'the totals line has the egress/ingress ratio')
  t.match(narrow.lines[narrow.titleRow + 1]!, /^replayer\s+replay\s/, 'the heaviest egress first, with its group')
  t.match(narrow.lines.join('\n'), /dashboard-\w*…/, 'long names are cut with an ellipsis')
  const wide = renderFrame(description(), state, 180, 24)
  for (const col of ['HOST', 'PROTO', 'PRINCIPAL', 'FETCH/s', 'AGE']) t.match(wide.lines[wide.titleRow]!, col, `180 columns show ${col}`)
  for (const line of wide.lines) t.ok(line.length <= 180)
  const short = renderFrame(description(), state, 80, 6)
  t.equal(short.lines.length, 6, 'never taller than the terminal')
  t.match(short.lines[5]!, /… 3 more/, 'says how many rows did not fit')
  t.ok(short.lines[5]!.length <= 79, 'the last line leaves the last column free (no scroll)')
  t.match(renderText(description(), state, 80), /^replayer /m, '--once text')
})

t.test('keys: sort, reverse, aggregate and back, filter, pause, quit', async t => {
  const state = initialState('b')
  const d = description()
  t.equal(onKey(state, 'i'), 'redraw')
  t.same(visibleRows(d, state).map(r => r.id)[0], 'native-3', 'i sorts by ingress')
  onKey(state, 'i')
  t.equal(state.reverse, true, 'the same key again reverses')
  onKey(state, 'l')
  t.same(visibleRows(d, state)[0]!.id, 'native-2', 'l sorts by lag')
  t.equal(onKey(state, 'g'), 'refetch', 'g asks for the group view')
  t.equal(state.view, 'group')
  onKey(state, 'g')
  t.equal(state.view, 'connection', 'g again goes back')
  onKey(state, '/')
  for (const k of splitKeys('sens')) onKey(state, k)
  t.equal(state.filter, 'sens')
  t.same(visibleRows(d, state).map(r => r.id), ['mqtt-4'], 'the filter matches any name')
  t.match(renderFrame(d, state, 80, 24).lines[2]!, /^filter: sens_/, 'the filter shows while typed')
  onKey(state, '\u007f')
  onKey(state, '\r')
  t.equal(state.filter, 'sen')
  t.equal(state.editing, false)
  onKey(state, '\u001b')
  t.equal(state.filter, '', 'Esc clears it')
  onKey(state, 'p')
  t.equal(state.paused, true)
  t.match(renderFrame(d, state, 80, 24).lines[2]!, /^\[paused\]/)
  t.same(splitKeys('\u001b[Aq'), ['\u001b[A', 'q'], 'an arrow key is one key')
  t.equal(onKey(state, '\u001b[A'), null, 'and ignored')
  t.equal(onKey(state, 'q'), 'quit')
  t.equal(onKey(state, '\u0003'), 'quit', 'Ctrl-C quits')
})

t.test('the screen writes only changed lines, in one write, and gives the terminal back', async t => {
  const writes: string[] = []
  const raw: boolean[] = []
  const out: Output = { columns: 40, rows: 10, write: s => { writes.push(s); return true }, on: () => out, off: () => out }
  const input: Input = { isTTY: true, setRawMode: m => raw.push(m), setEncoding: () => {}, on: () => {}, off: () => {}, resume: () => {}, pause: () => {} }
  const screen = new Screen(out, input)
  screen.start(() => {})
  t.match(writes[0]!, /\u001b\[\?1049h\u001b\[\?25l/, 'alternate screen, cursor hidden')
  t.same(raw, [true], 'raw mode on')
  screen.draw(['a', 'b', 'c'])
  t.equal(writes.length, 2, 'one write per frame')
  screen.draw(['a', 'B', 'c'])
  t.equal(writes.length, 3)
  t.equal(writes[2], '\u001b[2;1HB\u001b[K', 'only the changed line, cursor moved to it')
  screen.draw(['a', 'B', 'c'])
  t.equal(writes.length, 3, 'nothing changed: nothing written')
  screen.draw(['a'])
  t.match(writes[3]!, /\u001b\[2;1H\u001b\[K\u001b\[3;1H\u001b\[K/, 'lines that went away are cleared')
  screen.stop()
  screen.stop()
  t.same(raw, [true, false], 'raw mode off, once')
  t.match(writes.at(-1)!, /\u001b\[\?25h\u001b\[\?1049l$/, 'cursor shown, alternate screen left')
})

t.test('an exempt principal (a cluster\'s inter-broker user) is never throttled', async t => {
  const clock = { now: 1_000_000 }
  const dir = tempDir(t)
  const quotas = new QuotaManager({
    store: QuotaStore.open(dir), settings: { quotaWindowNum: 10, quotaWindowSizeMs: 100 }, access: ALLOW_ALL, logger: silent, now: () => clock.now,
    exempt: principal => principal === 'User:broker',
  })
  t.teardown(() => quotas.close())
  await quotas.alter(INTERNAL_CALLER, [
    { entity: { type: 'default', name: null }, ops: [{ key: 'fetchBytesPerSec', value: 1000 }, { key: 'requestsPerSec', value: 1 }] },
    { entity: { type: 'principal', name: 'broker' }, ops: [{ key: 'fetchBytesPerSec', value: 1 }] },
  ])
  const peer: Subject = { clientId: 'spool-broker-2', principal: userPrincipal('broker', 'scram-sha-512'), group: null }
  const other: Subject = { clientId: 'spool-broker-2', principal: userPrincipal('mallory', 'scram-sha-512'), group: null }
  t.equal(quotas.charge(peer, 'fetch', 1e9), 0, 'the default and its own principal quota do not apply to it')
  t.equal(quotas.charge(peer, 'request', 1000), 0, 'nor a request rate')
  t.ok(quotas.charge(other, 'fetch', 1e9) > 0, 'another principal with the same client id is throttled')
})
