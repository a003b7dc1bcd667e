// `spool broker start` as a user runs it: starts on the given ports, answers /healthz, exits
// 0 after a clean shutdown on SIGTERM and on SIGINT, refuses a second broker on the same data
// dir, reports bad flags in one line, and recovers its data after SIGKILL.
import t from 'tap'
import { encodeBatch } from '../../protocol/record-batch/records.js'
import { RawClient } from '../helpers/raw-client.js'
import { tempDir } from '../helpers/broker.js'
import { freePort, spawnBroker, spawnCollected, spawnSpool, waitFor } from '../helpers/processes.js'
import { REPO_ROOT } from '../helpers/browser.js'
import { utf8 } from '../helpers/bytes.js'
import { pollFor } from '../helpers/wait.js'
import { requestCount } from '../helpers/metrics.js'

t.test('SIGTERM and SIGINT stop it cleanly with exit 0', async t => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const dir = tempDir(t)
    const b = await spawnBroker(t, dir)
    const res = await fetch(`http://127.0.0.1:${b.ports.http}/healthz`)
    t.equal(res.status, 200)
    t.equal(((await res.json()) as { status: string }).status, 'ok')
    b.child.kill(signal)
    t.equal(await b.exited, 0, `${signal} → exit 0`)
    t.match(b.stdout(), /"broker stopped"/)
  }
})

t.test('a second broker on the same data dir is refused; bad flags are one line', async t => {
  const dir = tempDir(t)
  const first = await spawnBroker(t, dir)
  const second = spawnSpool(t, ['broker', 'start', '--data-dir', dir, '--port', '0', '--http-port', '0'])
  t.equal(await second.exited, 1)
  t.match(second.stderr(), /^error: broker did not start: .*lock/m)
  t.notMatch(second.stderr(), /\n\s+at /, 'no stack trace')
  const bad = spawnSpool(t, ['broker', 'start', '--data-dir', dir, '--port', 'seventy'])
  t.equal(await bad.exited, 1)
  t.match(bad.stderr(), /flag --port: port must be a port number/)
  first.child.kill('SIGTERM')
  t.equal(await first.exited, 0)
})

t.test('data written before SIGKILL is there after a restart', async t => {
  const dir = tempDir(t)
  const b = await spawnBroker(t, dir)
  const c = await RawClient.connect(b.ports.native)
  await c.call('CreateTopics', { topics: [{ topic: 'crash', partitions: 1 }] })
  const acked: number[] = []
  for (let i = 0; i < 50; i++) {
    const batch = encodeBatch([{ value: utf8(`m${i}`) }])
    const r = await c.call('Produce', { acks: 1, topics: [{ topic: 'crash', partitions: [{ partition: 0, recordsBytes: batch.length }] }] }, [batch])
    acked.push(r.topics[0]!.partitions[0]!.baseOffset)
  }
  c.close()
  b.child.kill('SIGKILL')
  await b.exited
  const again = await spawnBroker(t, dir)
  t.match(again.stdout(), /"recoveredUncleanly":true/)
  const c2 = await RawClient.connect(again.ports.native)
  t.teardown(() => c2.close())
  const d = await c2.call('DescribeTopics', { topics: ['crash'] })
  t.equal(d.topics[0]!.partitions[0]!.logEndOffset, 50, 'all 50 acknowledged records survived')
  t.same(acked, Array.from({ length: 50 }, (_, i) => i))
  again.child.kill('SIGTERM')
  t.equal(await again.exited, 0)
})

t.test('`spool tail` waits out a broker restart (kill -9, start again on the same port)', async t => {
  const dir = tempDir(t)
  const port = await freePort()
  const args = ['--port', String(port), '--mqtt-port', 'off']
  const first = await spawnBroker(t, dir, args)
  const broker = `127.0.0.1:${port}`
  const create = spawnSpool(t, ['--broker', broker, 'topic', 'create', 'follow'])
  t.equal(await create.exited, 0)
  const tail = spawnSpool(t, ['--broker', broker, 'tail', 'follow'])
  // The tail reads from the end: produce only once its first fetch is parked in the broker.
  await pollFor('the tail to fetch', () => requestCount(first.ports.http, 'Fetch'), n => n > 0)
  const one = spawnSpool(t, ['--broker', broker, 'produce', 'follow'], { input: 'before\n' })
  t.equal(await one.exited, 0)
  await waitFor(() => tail.stdout().includes('before'), 10_000, 'the first line')
  first.child.kill('SIGKILL')
  await first.exited
  await new Promise(resolve => setTimeout(resolve, 1500))
  t.equal(tail.child.exitCode, null, 'tail is still running while the broker is down')
  const second = await spawnBroker(t, dir, args)
  const two = spawnSpool(t, ['--broker', broker, 'produce', 'follow'], { input: 'after\n' })
  t.equal(await two.exited, 0)
  await waitFor(() => tail.stdout().includes('after'), 15_000, 'the line produced after the restart')
  tail.child.kill('SIGINT')
  t.equal(await tail.exited, 0)
  second.child.kill('SIGTERM')
  t.equal(await second.exited, 0)
})


t.test('a port in use: the listener and the flag that moves it are named, nothing claims readiness, exit 1', async t => {
  const { createServer } = await import('node:net')
  const holder = createServer()
  await new Promise<void>(resolve => holder.listen(0, '127.0.0.1', resolve))
  t.teardown(() => holder.close())
  const taken = (holder.address() as { port: number }).port
  const b = spawnSpool(t, ['broker', 'start', '--data-dir', tempDir(t), '--port', '0', '--http-port', '0', '--mqtt-port', String(taken)])
  t.equal(await b.exited, 1, 'exit 1')
  t.match(b.stderr(), new RegExp(`^error: broker did not start: mqtt listener: 127\\.0\\.0\\.1:${taken} is already in use \\(EADDRINUSE\\).*move it with --mqtt-port N .*--mqtt-port off\\n$`))
  t.notMatch(b.stdout(), /"broker started"|"broker ready"|listening/, 'no line claims readiness')
})

t.test('logs: JSON when stdout is not a terminal, readable lines with --log-format pretty; the banner whatever the level', async t => {
  const json = await spawnBroker(t, tempDir(t))
  const lines = json.stdout().split('\n').filter(l => l.length > 0)
  t.ok(lines.every(l => { try { JSON.parse(l); return true } catch { return false } }), 'every line is JSON')
  const ready = lines.map(l => JSON.parse(l) as { msg: string, ports?: Record<string, number>, consoleUrl?: string, dataDir?: string, auth?: boolean }).find(l => l.msg === 'broker ready')
  t.equal(ready?.consoleUrl, `http://127.0.0.1:${json.ports.http}/`, 'the banner: the console URL')
  t.same(ready?.ports, { native: json.ports.native, http: json.ports.http, mqtt: json.ports.mqtt }, '… the ports')
  t.equal(ready?.auth, false, '… whether authentication is on')

  const dir = tempDir(t)
  const pretty = spawnSpool(t, ['broker', 'start', '--data-dir', dir, '--port', '0', '--http-port', '0', '--mqtt-port', '0', '--log-format', 'pretty', '--log-level', 'warn'])
  await waitFor(() => pretty.stdout().includes('Ctrl-C stops it cleanly.'), 15_000, 'the banner')
  const out = pretty.stdout()
  t.match(out, /^Spool broker ready\n {2}native protocol {3}127\.0\.0\.1:\d+/m, 'a readable banner, even at --log-level warn')
  t.match(out, new RegExp(`data dir {10}${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))
  t.notMatch(out, /^\{"level"/m, 'no JSON lines')
  pretty.child.kill('SIGTERM')
  t.equal(await pretty.exited, 0)
})

t.test('SIGTERM sent to `npm start` reaches the broker: it stops cleanly, nothing is left running', async t => {
  const dir = tempDir(t)
  const npm = spawnCollectedNpm(t, ['start', '--', '--data-dir', dir, '--port', '0', '--http-port', '0', '--mqtt-port', '0'])
  let brokerPid = 0
  await waitFor(() => {
    for (const line of npm.stdout().split('\n')) {
      if (line.includes('"broker started"')) brokerPid = (JSON.parse(line) as { pid: number }).pid
    }
    return brokerPid !== 0
  }, 20_000, 'the broker to start under npm')
  npm.child.kill('SIGTERM') // npm only, not its process group
  await npm.exited
  const alive = (): boolean => { try { process.kill(brokerPid, 0); return true } catch { return false } }
  await waitFor(() => !alive(), 10_000, 'the broker process to end')
  t.notOk(alive(), 'the broker is gone (it was orphaned before)')
  t.match(npm.stdout(), /"broker stopped"/, 'after a clean shutdown')
  const { existsSync } = await import('node:fs')
  t.ok(existsSync(`${dir}/.clean-shutdown`), 'with its clean-shutdown marker')
})

function spawnCollectedNpm (t: Parameters<typeof spawnSpool>[0], args: string[]): ReturnType<typeof spawnSpool> {
  return spawnCollected(t, 'npm', args, { cwd: REPO_ROOT })
}

t.test('a test process killed outright leaves no broker behind (its stdin closes, the broker stops)', async t => {
  // An intermediate process starts a broker the way tests/helpers/processes.ts does, then is
  // killed with SIGKILL — no teardown of its own runs.
  const { SPOOL_BIN } = await import('../helpers/processes.js')
  const script = `const { spawn } = require('node:child_process')
const b = spawn(process.execPath, [${JSON.stringify(SPOOL_BIN)}, 'broker', 'start', '--data-dir', process.argv[1], '--port', '0', '--http-port', '0', '--mqtt-port', '0'],
  { stdio: ['pipe', 'inherit', 'inherit'], detached: true, env: { ...process.env, SPOOL_STOP_ON_STDIN_CLOSE: '1' } })
setInterval(() => {}, 1000)`
  const dir = tempDir(t)
  const parent = spawnCollected(t, process.execPath, ['-e', script, dir])
  let brokerPid = 0
  await waitFor(() => {
    for (const line of parent.stdout().split('\n')) if (line.includes('"broker started"')) brokerPid = (JSON.parse(line) as { pid: number }).pid
    return brokerPid !== 0
  }, 20_000, 'the broker to start')
  parent.child.kill('SIGKILL')
  await parent.exited
  const alive = (): boolean => { try { process.kill(brokerPid, 0); return true } catch { return false } }
  await waitFor(() => !alive(), 10_000, 'the orphaned broker to stop')
  t.notOk(alive(), 'the broker stopped by itself')
  const { existsSync } = await import('node:fs')
  t.ok(existsSync(`${dir}/.clean-shutdown`), 'cleanly')
})
