// The listener fuzzer (`npm run fuzz -- --target listener`, bench/fuzz/listeners.ts) at its
// npm-test size, against a real `spool broker start` process with every port 0: random
// bytes, mutated frames captured from the SDK and mqtt.js (in this run, against this broker,
// and from the fixtures), structurally mutated requests, oversize lengths, byte-at-a-time
// trickles and floods on the native TCP port, /ws, the MQTT TCP port, /mqtt and the Kafka port
// (600 cases each; Kafka frames captured from seven Kafka clients),
// HTTP requests with odd methods, paths, headers and /api bodies (2,000); then
// 2,000 idle, half-header, half-frame, half-closed and non-reading connections at once. Must
// hold: the broker stays up and stops with exit 0, logs no error, every case ends (the probe
// is answered or the connection closed, unless the bytes leave a frame unfinished), no HTTP
// 5xx, memory stays bounded, both canaries keep their round trips, idle and half-closed
// connections are closed by the broker, and its sockets return to the baseline.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { tempDir } from '../helpers/broker.js'
import { runToEnd } from '../helpers/processes.js'
import type { FuzzReport } from '../../bench/fuzz/fuzz.js'

const FUZZ = fileURLToPath(new URL('../../bench/fuzz/fuzz.js', import.meta.url))
const CASES = 600
const HTTP_CASES = 2000

t.test('every listener over real sockets: no crash, no hang, no internal error, memory bounded, canaries unharmed', async t => {
  const dir = tempDir(t, 'spool-fuzz-listeners-test-')
  const json = path.join(dir, 'result.json')
  const { code, output: out } = await runToEnd(t, FUZZ, ['--target', 'listener', '--socket-cases', String(CASES), '--http-cases', String(HTTP_CASES), '--idle-connections', '2000',
    '--seed', process.env.FUZZ_SEED ?? '20261201', '--json', json], 240_000)
  t.equal(code, 0, 'fuzz exits 0', { output: out.slice(-4000) })
  const r = JSON.parse(fs.readFileSync(json, 'utf8')) as FuzzReport
  const l = r.listeners!
  t.same(l.failures.map(f => `${f.target} case ${f.case} (${f.mode}): ${f.message}`), [], 'no failure')
  t.ok(l.brokerAlive, 'the broker process stayed up')
  t.equal(l.cleanStopExit, 0, 'SIGTERM stopped it with exit 0')
  t.same(l.brokerErrors.map(e => e.raw), [], 'it logged no error (no internal error from any input)')
  for (const name of ['native', 'ws', 'mqtt', 'mqtt-ws', 'kafka', 'http']) {
    const target = l.targets.find(x => x.target === name)
    const want = name === 'http' ? HTTP_CASES : CASES
    t.equal(target?.cases, want, `${name}: ${want} cases`)
    t.notOk(target?.outcomes.hang, `${name}: no case hung`)
    // Cases must get past the first check as well as be refused, or they prove little.
    if (name !== 'http') t.ok((target?.outcomes.answered ?? 0) > 0 && (target?.outcomes.closed ?? 0) > 0, `${name}: probes answered and connections closed: ${JSON.stringify(Object.fromEntries(Object.entries(target?.outcomes ?? {}).filter(([k]) => !k.includes(':'))))}`)
  }
  const httpTarget = l.targets.find(x => x.target === 'http')
  const statuses = Object.keys(httpTarget?.outcomes ?? {}).filter(k => /^\S+ [1-5]xx:answered$/.test(k))
  t.ok(statuses.some(s => / 2xx:/.test(s)) && statuses.some(s => / 4xx:/.test(s)), `HTTP answers of several kinds: ${statuses.join(', ')}`)
  t.notOk(statuses.some(s => / 5xx:/.test(s)), 'no HTTP 5xx')
  t.ok(l.idle !== null && l.idle.connections === 2000 && l.idle.failedToOpen === 0, `2000 idle connections opened (${l.idle?.peakSockets} broker sockets at the peak)`)
  t.ok(l.memory.maxRssBytes <= l.memory.boundBytes, `resident memory ${Math.round(l.memory.maxRssBytes / 1048576)} MiB within ${Math.round(l.memory.boundBytes / 1048576)} MiB`)
  t.ok(l.sockets.end <= l.sockets.baseline + 4, `sockets back to the baseline: ${l.sockets.baseline} → max ${l.sockets.max} → ${l.sockets.end}`)
  for (const c of l.canaries) t.ok(c.roundTrips > 20 && c.failures === 0 && c.consumed === c.acknowledged, `canary ${c.name}: ${c.roundTrips} round trips, longest gap ${Math.round(c.maxGapMs)} ms`)
})
