// What the README tells a new user to run, run as they would: both SDK examples against a
// broker (as child processes, broker address from SPOOL_BROKER), and the compose file
// validated offline with Debian's docker-compose.
import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { startBroker } from '../helpers/broker.js'
import { waitFor } from '../helpers/processes.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))

function run (t: { teardown (fn: () => void): void }, cmd: string, args: string[], env: Record<string, string> = {}): { out: () => string, err: () => string, exited: Promise<number | null>, kill: (s: NodeJS.Signals) => void } {
  const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  return { out: () => out, err: () => err, exited, kill: s => child.kill(s) }
}

t.test('examples/node-producer.js and examples/node-consumer.js', async t => {
  const broker = await startBroker(t, { mqttPort: null })
  const env = { SPOOL_BROKER: `127.0.0.1:${broker.ports.native}` }
  await broker.logs.createTopic('orders', { partitions: 3 })
  const producer = run(t, process.execPath, ['examples/node-producer.js', 'orders', '50'], env)
  t.equal(await producer.exited, 0, producer.err())
  t.match(producer.out(), /produced 50 messages to orders/)
  const consumer = run(t, process.execPath, ['examples/node-consumer.js', 'orders', '--from-beginning'], env)
  await waitFor(() => consumer.out().split('\n').filter(l => l.includes('customer-')).length >= 50, 15_000, 'the consumer to print 50 orders')
  consumer.kill('SIGINT')
  t.equal(await consumer.exited, 0, 'Ctrl-C stops the consumer cleanly')
  t.match(consumer.err(), /read 50 messages/)
})

t.test('docker-compose.yml is valid (offline check, no engine needed)', async t => {
  const check = run(t, 'docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'])
  t.equal(await check.exited, 0, check.err())
})
