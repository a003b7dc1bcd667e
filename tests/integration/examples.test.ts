// What the README tells a new user to run, run as they would: both SDK examples against a
// broker (as child processes, broker address from SPOOL_BROKER), and the compose file
// validated offline with Debian's docker-compose.
import t from 'tap'
import { fileURLToPath } from 'node:url'
import { startBroker, type TestLike } from '../helpers/broker.js'
import { spawnCollected, waitFor } from '../helpers/processes.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))

function run (t: TestLike, cmd: string, args: string[], env: Record<string, string> = {}): { out: () => string, err: () => string, exited: Promise<number | string>, kill: (s: NodeJS.Signals) => void } {
  const p = spawnCollected(t, cmd, args, { cwd: root, env })
  return { out: p.stdout, err: p.stderr, exited: p.exited, kill: s => p.child.kill(s) }
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
