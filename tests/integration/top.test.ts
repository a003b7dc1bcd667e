// `spool top` and the views beside it, on the incident's scene: a consumer stuck re-reading
// a topic from the beginning (client id `replayer`, group `replay`), a consumer at the end
// of the same topic (`billing`), a producer adding records (`loader`).
// - `spool top --once --format json` puts the re-reader first, with its group, host and
//   topic and how far behind the log end it reads; `--by group|topic|client|host`
//   aggregate (its group first); `--format text` fits 80 columns;
// - `/api/connections` has the same rows and the egress notice; `/metrics` has per-topic
//   egress/ingress ratios and an egress gauge for the top N connections only; the broker
//   logs one warning line naming the re-reader; the console's Traffic page says "egress is
//   N× ingress" and links to the re-reader's row;
// - in a real terminal (tmux, 80×24): it draws, sorts on a key, aggregates on a key,
//   filters, and q and Ctrl-C leave the terminal as it was (alternate screen left, cursor
//   shown, `stty` back to canonical mode with echo).
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { Client } from '../../client/index.js'
import type { ConnectionsDescription } from '../../protocol/native/apis/describe-connections.js'
import { startBroker } from '../helpers/broker.js'
import { ensureWebBuild, launchBrowser, openPage, saveScreenshot } from '../helpers/browser.js'
import { CLI, runCli } from '../helpers/client-cli.js'
import { metricValue, scrape } from '../helpers/metrics.js'
import { spawnCollected } from '../helpers/processes.js'
import { connectionOf, fill, startRereader } from '../helpers/rereader.js'
import { pollFor, sleep, waitFor } from '../helpers/wait.js'

t.setTimeout(300_000)

const logLines: Array<Record<string, unknown>> = []
const logger = pino({ level: 'warn' }, new Writable({
  write (chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logLines.push(JSON.parse(line) as Record<string, unknown>)
    done()
  },
}))

const broker = await startBroker(t, {
  mqttPort: null,
  logger,
  egressWarnSeconds: 2,
  egressWarnPercent: 50,
  egressWarnRatio: 3,
  egressWarnMinBytesPerSec: 100_000,
  egressTopConnections: 2,
})
const port = broker.ports.native!
const address = `127.0.0.1:${port}`
await fill(port, 'orders', 1, 3000, 1000)

const live = new Client({ brokers: [address], clientId: 'billing' })
t.teardown(() => live.close())
const billing = live.consumer({ groupId: 'billing' })
await billing.subscribe({ topics: ['orders'] })
void billing.run({ eachMessage: async () => {} }).catch(() => {})

const loaderClient = new Client({ brokers: [address], clientId: 'loader' })
t.teardown(() => loaderClient.close())
const loader = loaderClient.producer({ acks: 1, lingerMs: 0 })
let producing = true
const loading = (async () => {
  while (producing) {
    await loader.send({ topic: 'orders', messages: Array.from({ length: 40 }, (_, i) => ({ value: `order-${i}-${'o'.repeat(500)}` })) })
    await sleep(50)
  }
})()
t.teardown(async () => {
  producing = false
  await loading
})

const rereader = await startRereader(t, port, 'orders', 3000, 'replayer', 'replay')
const replayerConn = await connectionOf(broker, 'replayer')
await waitFor(() => rereader.passes() >= 2, 30_000, 'the re-reader to read the topic twice')

async function topJson (...args: string[]): Promise<ConnectionsDescription & { broker: string, sort: string }> {
  const r = await runCli(t, ['--broker', address, 'top', '--once', '--format', 'json', ...args])
  if (r.code !== 0) throw new Error(`spool top exited ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as ConnectionsDescription & { broker: string, sort: string }
}

t.test('spool top --once --format json: the re-reader first, with its group, host and topic', async t => {
  const d = await pollFor('the re-reader first in spool top', () => topJson(), d => d.rows[0]?.clientId === 'replayer', 20_000)
  const first = d.rows[0]!
  t.equal(first.group, 'replay')
  t.equal(first.host, '127.0.0.1')
  t.equal(first.protocol, 'native')
  t.equal(first.id, `native-${replayerConn.id}`)
  t.same(first.topics.map(x => x.topic), ['orders'])
  t.ok(first.bytesOutPerSec > 100_000, `it pulls ${(first.bytesOutPerSec / 1e6).toFixed(1)} MB/s`)
  t.ok(first.recordsOutPerSec > 0 && first.fetchesPerSec > 0, 'records and fetches per second')
  t.ok(first.bytesOutPerSec >= d.rows[1]!.bytesOutPerSec, 'heaviest egress first')
  const others = new Map(d.rows.map(r => [r.clientId, r]))
  t.ok(others.has('billing') && others.has('loader'), 'every connection is listed')
  t.ok(others.get('loader')!.bytesInPerSec > 0 && others.get('loader')!.recordsInPerSec > 0, 'the producer\'s ingress and records in')
  t.ok(d.totals.egressRatio !== null && d.totals.egressRatio > 3, `egress/ingress ${d.totals.egressRatio?.toFixed(0)}×`)
  t.equal(d.broker, address)
  const lagged = await pollFor('the re-reader to show as behind the log end', () => topJson(), d => (d.rows.find(r => r.clientId === 'replayer')?.fetchLag ?? 0) > 0, 10_000)
  t.ok(lagged.rows.find(r => r.clientId === 'replayer')!.fetchLag > 0, 'the re-reader reads behind the log end')
})

t.test('--by group puts its group first; --by topic, client and host aggregate', async t => {
  const groups = await pollFor('its group first', () => topJson('--by', 'group'), d => d.rows[0]?.key === 'replay', 20_000)
  t.equal(groups.by, 'group')
  t.same(groups.rows[0]!.clientIds, ['replayer'])
  t.ok(groups.rows.some(r => r.key === 'billing'), 'the other group is there too')
  const topics = await topJson('--by', 'topic')
  const orders = topics.rows.find(r => r.key === 'orders')!
  t.ok(orders.connections >= 3, `${orders.connections} connections on orders`)
  t.ok(orders.groups.includes('replay') && orders.groups.includes('billing'))
  const clients = await topJson('--by', 'client', '--sort', 'in')
  t.equal(clients.rows[0]!.key, 'loader', '--sort in: the producer first')
  const hosts = await topJson('--by', 'host')
  t.equal(hosts.rows[0]!.key, '127.0.0.1')
  const filtered = await topJson('--filter', 'billing')
  t.same(filtered.rows.map(r => r.clientId), ['billing'], '--filter keeps matching rows only')
})

t.test('--once --format text fits 80 columns', async t => {
  const r = await runCli(t, ['--broker', address, 'top', '--once'], { env: { COLUMNS: '80' } })
  t.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trimEnd().split('\n')
  for (const line of lines) t.ok(line.length <= 80, `${line.length} columns: ${line}`)
  t.match(lines[1]!, /egress\/ingress \d+×/)
  t.match(lines[2]!, /CLIENT ID\s+GROUP\s+HOST\s+TOPICS\s+OUT\/s/)
  t.ok(lines.some(l => /^replayer\s+replay\s+127\.0\.0\.1\s+orders\s/.test(l)), 'the re-reader\'s row')
})

t.test('/api/connections, the egress notice, /metrics and one warning line', async t => {
  const http = `http://127.0.0.1:${broker.ports.http}`
  const answer = await pollFor('the re-reader first in /api/connections', async () => await (await fetch(`${http}/api/connections`)).json() as { rows: Array<{ clientId: string, id: string }>, egress: { anomaly: boolean, heaviest: { id: string, clientId: string } | null, ratio: number | null } },
    a => a.rows[0]?.clientId === 'replayer' && a.egress.anomaly, 20_000)
  t.equal(answer.egress.heaviest?.clientId, 'replayer', 'the notice names the heaviest connection')
  t.ok((answer.egress.ratio ?? 0) > 3)
  const byGroup = await (await fetch(`${http}/api/connections?by=group`)).json() as { rows: Array<{ key: string }> }
  t.ok(byGroup.rows.some(r => r.key === 'replay'))
  t.equal((await fetch(`${http}/api/connections?by=planet`)).status, 400, 'an unknown view is a 400')
  const overview = await pollFor('the notice on /api/overview', async () => await (await fetch(`${http}/api/overview`)).json() as { egress: { anomaly: boolean } }, o => o.egress.anomaly, 20_000)
  t.equal(overview.egress.anomaly, true, '/api/overview carries the notice for the console header')

  const metrics = await scrape(broker.ports.http!)
  t.ok(metricValue(metrics, 'spool_topic_egress_ratio', { topic: 'orders' }) > 1, 'per-topic egress/ingress ratio')
  t.ok(metricValue(metrics, 'spool_connection_egress_bytes_per_second', { client_id: 'replayer', group: 'replay' }) > 0, 'the re-reader has an egress gauge')
  const gauges = metrics.split('\n').filter(l => l.startsWith('spool_connection_egress_bytes_per_second{'))
  t.ok(gauges.length >= 1 && gauges.length <= 2, `the top 2 connections only (egressTopConnections): ${gauges.length}`)

  await waitFor(() => logLines.some(l => l.clientId === 'replayer' && String(l.msg).startsWith('egress anomaly')), 15_000, 'the egress warning line')
  const warned = logLines.filter(l => String(l.msg).startsWith('egress anomaly'))
  t.equal(warned.length, 1, 'one line, not one a second')
  t.equal(warned[0]!.group, 'replay')
  t.same(warned[0]!.topics, ['orders'])
  t.ok(Number(warned[0]!.sharePct) > 50)
})

t.test('the console\'s Traffic page: "egress is N× ingress" and a link to the heaviest connection', async t => {
  await ensureWebBuild()
  const context = await launchBrowser(t)
  const { page, errors } = await openPage(context, `http://127.0.0.1:${broker.ports.http}/#/traffic`)
  t.teardown(() => page.close())
  const notice = await pollFor('the egress notice', () => page.locator('.notice.egress').textContent({ timeout: 15_000 }), text => /Egress is [\d.]+× ingress/.test(text ?? ''), 20_000)
  t.match(notice, /Heaviest: replayer \(group replay\) on 127\.0\.0\.1, \d+% of egress, reading orders/)
  await page.locator('.notice.egress a.heaviest').click()
  await pollFor('the re-reader\'s row highlighted', () => page.locator('table.connections tr.highlight').innerText({ timeout: 15_000 }), text => /replayer/.test(text), 15_000)
  t.match(page.url(), new RegExp(`#/traffic/native-${replayerConn.id}$`))
  const headers = await page.$$eval('table.connections thead th', ths => ths.map(th => th.textContent ?? ''))
  for (const h of ['Group', 'Topics', 'Behind', 'Throttled']) t.ok(headers.includes(h), `a ${h} column`)
  await page.selectOption('select[name="by"]', 'group')
  await pollFor('the group view', () => page.locator('table.connections.aggregate tbody tr').first().innerText({ timeout: 15_000 }), text => /^replay\b/.test(text), 15_000)
  await saveScreenshot(page, 'console-traffic-egress')
  t.same(errors, [], 'no page errors')
})

t.test('in a terminal (tmux 80×24): draws, sorts, aggregates, filters; q and Ctrl-C leave it as it was', async t => {
  t.ok(spawnSync('sh', ['-c', 'command -v tmux']).status === 0, 'tmux is installed (scripts/setup-system.sh)')
  const socket = `spool-top-${process.pid}`
  const tmux = (...args: string[]): string => {
    const r = spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`)
    return r.stdout
  }
  // The tmux server is a daemon: a watchdog stops it if this test process dies.
  spawnCollected(t, 'sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; tmux -L ${socket} kill-server 2>/dev/null`])
  t.teardown(() => { spawnSync('tmux', ['-L', socket, 'kill-server']) })
  tmux('-f', '/dev/null', 'new-session', '-d', '-s', 'top', '-x', '80', '-y', '24', 'env', `SPOOL_BROKER=${address}`, 'PS1=$ ', 'bash', '--norc', '--noprofile')
  const screen = (): string[] => tmux('capture-pane', '-p', '-t', 'top').split('\n')
  const state = (): string => tmux('display', '-p', '-t', 'top', '#{alternate_on} #{cursor_flag}').trim()
  const until = (what: string, ok: (lines: string[]) => boolean): Promise<string[]> => pollFor(what, screen, ok, 20_000)
  // What stty says of canonical mode and echo, as one line: "icanon echo STTY" when sane.
  const STTY = 'clear; stty -a | tr " ;" "\\n\\n" | grep -xE -- "-?(icanon|echo)" | tr "\\n" " "; echo STTY'
  const sttyLine = async (what: string): Promise<string> => {
    tmux('send-keys', '-t', 'top', STTY, 'Enter')
    const lines = await until(what, l => l.some(x => /^-?icanon -?echo STTY$/.test(x)))
    return lines.find(x => /^-?icanon -?echo STTY$/.test(x))!
  }
  await pollFor('the shell to start', screen, l => l.some(x => x.startsWith('$')), 10_000)
  t.equal(await sttyLine('stty before'), 'icanon echo STTY', 'the terminal starts in canonical mode with echo')

  for (const exit of ['q', 'C-c']) {
    tmux('send-keys', '-t', 'top', 'clear', 'Enter')
    tmux('send-keys', '-t', 'top', `node ${CLI} top --interval 0.5`, 'Enter')
    const drawn = await until('spool top to draw the re-reader first', l => /^spool top /.test(l[0] ?? '') && /^replayer\s/.test(l[4] ?? ''))
    t.equal(state(), '1 0', 'alternate screen on, cursor hidden')
    t.ok(drawn.every(l => l.length <= 80), 'every line fits 80 columns')
    t.match(drawn[3]!, /^CLIENT ID\s+GROUP\s+HOST\s+TOPICS\s+OUT\/s▼/, 'sorted by egress')
    if (exit === 'q') {
      tmux('send-keys', '-t', 'top', 'i')
      await until('i to sort by ingress, the producer first', l => /IN\/s▼/.test(l[3] ?? '') && /^loader\s/.test(l[4] ?? ''))
      tmux('send-keys', '-t', 'top', 'g')
      await until('g to aggregate by group', l => /^GROUP\s+CONNS/.test(l[3] ?? '') && /by groups/.test(l[0] ?? ''))
      tmux('send-keys', '-t', 'top', 'o')
      await until('its group first by egress', l => /^replay\s+1\s+replayer/.test(l[4] ?? ''))
      tmux('send-keys', '-t', 'top', 'g')
      await until('g again: back to connections', l => /^CLIENT ID/.test(l[3] ?? ''))
      tmux('send-keys', '-t', 'top', '/', 'b', 'i', 'l', 'l')
      await until('the filter as it is typed', l => /^filter: bill_/.test(l[2] ?? ''))
      tmux('send-keys', '-t', 'top', 'Enter')
      // The list is filtered while the filter is typed: wait for the screen drawn after Enter.
      const filtered = await until('Enter to keep the filter, only billing left', l => !/^filter:/.test(l[2] ?? '') && /^billing\s/.test(l[4] ?? '') && (l[5] ?? '').trim() === '')
      t.match(filtered[2]!, /^filter "bill"/, 'the filter stays in sight')
      tmux('send-keys', '-t', 'top', 'Escape')
      await until('Esc clears the filter', l => /^replayer\s/.test(l[4] ?? ''))
      tmux('send-keys', '-t', 'top', 'p')
      await until('p pauses', l => /^\[paused\]/.test(l[2] ?? ''))
    }
    tmux('send-keys', '-t', 'top', exit)
    await pollFor(`${exit} to end spool top`, state, s => s === '0 1', 10_000)
    t.equal(state(), '0 1', `${exit}: alternate screen left, cursor shown`)
    t.equal(await sttyLine(`stty after ${exit}`), 'icanon echo STTY', `${exit}: canonical mode and echo are back (raw mode off)`)
  }
})

t.test('spool top in a pipe prints a table per interval until SIGINT', async t => {
  const child = spawn(process.execPath, [CLI, '--broker', address, 'top', '--interval', '0.5'], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  await waitFor(() => (out.match(/^spool top /gm) ?? []).length >= 2, 15_000, 'two tables')
  t.notMatch(out, /\u001b\[/, 'no escape sequences in a pipe')
  child.kill('SIGINT')
  const code = await new Promise<number | null>(resolve => child.once('exit', c => resolve(c)))
  t.equal(code, 0, 'SIGINT ends it cleanly')
})
