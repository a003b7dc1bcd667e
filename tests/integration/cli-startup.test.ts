// `spool broker start` from a user's first minutes: a port in use names its listener and the
// flag that moves it; logs are JSON off a terminal and readable with --log-format pretty, with
// one readiness banner whatever the level; SIGTERM sent to `npm start` reaches the broker; a
// test process killed outright leaves no broker behind.
import t from 'tap'
import { tempDir } from '../helpers/broker.js'
import { REPO_ROOT } from '../helpers/browser.js'
import { spawnBroker, spawnCollected, spawnSpool, waitFor } from '../helpers/processes.js'

t.test('a port in use: the listener and the flag that moves it are named, nothing claims readiness, exit 1', async t => {
  const { createServer } = await import('node:net')
  const holder = createServer()
  await new Promise<void>(resolve => holder.listen(0, '127.0.0.1', resolve))
  t.teardown(() => holder.close())
  const taken = (holder.address() as { port: number }).port
  const b = spawnSpool(t, ['broker', 'start', '--data-dir', tempDir(t), '--port', '0', '--http-port', '0', '--kafka-port', '0', '--mqtt-port', String(taken)])
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
  t.match(ready?.ports, { native: json.ports.native, http: json.ports.http, mqtt: json.ports.mqtt, kafka: json.ports.kafka }, '… the ports')
  t.equal(ready?.auth, false, '… whether authentication is on')

  const dir = tempDir(t)
  const pretty = spawnSpool(t, ['broker', 'start', '--data-dir', dir, '--port', '0', '--http-port', '0', '--mqtt-port', '0', '--kafka-port', '0', '--log-format', 'pretty', '--log-level', 'warn'])
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
  const npm = spawnCollectedNpm(t, ['start', '--', '--data-dir', dir, '--port', '0', '--http-port', '0', '--mqtt-port', '0', '--kafka-port', '0'])
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
const b = spawn(process.execPath, [${JSON.stringify(SPOOL_BIN)}, 'broker', 'start', '--data-dir', process.argv[1], '--port', '0', '--http-port', '0', '--mqtt-port', '0', '--kafka-port', '0'],
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
