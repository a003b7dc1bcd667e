// `spool broker start` as a user runs it: starts on the given ports, answers /healthz, exits
// 0 after a clean shutdown on SIGTERM and on SIGINT, refuses a second broker on the same data
// dir, reports bad flags in one line, and recovers its data after SIGKILL.
import t from 'tap'
import { encodeBatch } from '../../protocol/record-batch/records.js'
import { RawClient } from '../helpers/raw-client.js'
import { tempDir } from '../helpers/broker.js'
import { freePort, spawnBroker, spawnSpool, waitFor } from '../helpers/processes.js'
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
  const second = spawnSpool(t, ['broker', 'start', '--data-dir', dir, '--port', '0', '--http-port', '0', '--kafka-port', '0'])
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
  await pollFor('the tail to fetch', () => requestCount(first.ports.http, 'Fetch'), n => {
    if (tail.child.exitCode !== null) throw new Error(`spool tail exited ${tail.child.exitCode}: ${tail.stderr()}`)
    return n > 0
  }, 30_000)
  const one = spawnSpool(t, ['--broker', broker, 'produce', 'follow'], { input: 'before\n' })
  t.equal(await one.exited, 0)
  await waitFor(() => tail.stdout().includes('before'), 30_000, 'the first line')
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
