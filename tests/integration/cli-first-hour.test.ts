// What a new user trips over in the first hour with the `spool` CLI, each as spawned
// processes against real brokers: `--broker` without a port (port 7420, as kcat and nats),
// a produce that creates a topic says so and `--no-create` refuses an unknown topic,
// `group reset-offsets` on a group that does not exist says so unless `--create`, every size
// limit on the produce path is raisable and its error names the setting (and a producer
// limit above the broker's gets the broker's error, never a hang), the CLI, `/api` and the
// SDK say "topic" and "records" alike, and an idle `spool tail` long-polls instead of
// asking several times a second.
import t from 'tap'
import { brokerAddress } from '../../client/address.js'
import { Client } from '../../client/index.js'
import { startTestBroker } from '../helpers/client-broker.js'
import { runCli, spawnCli } from '../helpers/client-cli.js'
import { waitFor } from '../helpers/processes.js'

const broker = await startTestBroker(t)
const b = ['--broker', broker.address]
const client = new Client({ brokers: [broker.address] })
t.teardown(() => client.close())

t.test('broker addresses: a missing port means 7420', async t => {
  const cases: Array<[string, string]> = [
    ['localhost', 'localhost:7420'],
    ['localhost:9000', 'localhost:9000'],
    ['127.0.0.1', '127.0.0.1:7420'],
    [' spool.internal ', 'spool.internal:7420'],
    ['[::1]', '[::1]:7420'],
    ['[::1]:7421', '[::1]:7421'],
    ['::1', '[::1]:7420'],
    ['fe80::1%eth0', '[fe80::1%eth0]:7420'],
    ['[2001:db8::5]:65535', '[2001:db8::5]:65535'],
  ]
  for (const [input, want] of cases) t.equal(brokerAddress(input), want, input)
  for (const bad of ['', ':7420', 'host:', 'host:0', 'host:65536', 'host:x', '[::1]:', '[nope]:1', 'a b', 'user@host']) {
    t.throws(() => brokerAddress(bad), { code: 'INVALID_ARGUMENT' }, JSON.stringify(bad))
  }
  t.equal(brokerAddress('127.0.0.1', 1234), '127.0.0.1:1234', 'the default is a parameter')
  t.doesNotThrow(() => new Client({ brokers: ['localhost'] }).close(), 'the SDK takes a host without a port too')
})

t.test('--broker localhost and SPOOL_BROKER=localhost are not refused: they mean localhost:7420', async t => {
  // Whether something listens on 7420 on this machine is not the test's to decide: either
  // the command reached it, or it says it could not reach localhost:7420 (exit 2).
  for (const [args, env] of [[['--broker', 'localhost'], {}], [[], { SPOOL_BROKER: 'localhost' }], [['--broker', '[::1]'], {}]] as Array<[string[], Record<string, string>]>) {
    const r = await runCli(t, [...args, 'topic', 'list', '--format', 'json'], { env })
    const what = JSON.stringify({ args, env })
    t.notMatch(r.stderr, /not host/, `${what}: accepted`)
    if (r.code !== 0) t.match(r.stderr, /(localhost|\[::1\]):7420/, `${what}: the address it tried has port 7420`)
  }
  const bad = await runCli(t, ['--broker', 'host:notaport', 'topic', 'list'])
  t.equal(bad.code, 1)
  t.equal(bad.stderr, 'error: broker "host:notaport" is not host[:port] (port must be 1-65535, got "notaport")\n')
  const ok = await runCli(t, ['--broker', `localhost:${broker.nativePort}`, 'topic', 'list'], {})
  t.equal(ok.code, 0, ok.stderr)
})

t.test('produce: a topic it created is said on stderr; --no-create refuses an unknown topic', async t => {
  const first = await runCli(t, ['produce', 'typo-topic', ...b], { input: 'x\n' })
  t.equal(first.code, 0, first.stderr)
  t.equal(first.stderr, 'created topic typo-topic (1 partition)\nproduced 1 message to typo-topic\n')
  const second = await runCli(t, ['produce', 'typo-topic', ...b], { input: 'y\n' })
  t.equal(second.stderr, 'produced 1 message to typo-topic\n', 'said only when it was created')

  const refused = await runCli(t, ['produce', 'not-there', '--no-create', ...b], { input: 'x\n' })
  t.equal(refused.code, 1)
  t.equal(refused.stderr, 'error: topic "not-there" does not exist (--no-create: create it first with `spool topic create not-there`)\n')
  t.notOk((await client.admin().listTopics()).includes('not-there'), 'and it was not created')
  const existing = await runCli(t, ['produce', 'typo-topic', '--no-create', ...b], { input: 'z\n' })
  t.equal(existing.code, 0, existing.stderr)
  t.equal(existing.stderr, 'produced 1 message to typo-topic\n', '--no-create produces to a topic that exists')
})

t.test('produce to a broker without autoCreateTopics: the unknown topic is an error, no "created" line', async t => {
  const strict = await startTestBroker(t, { autoCreateTopics: false })
  const r = await runCli(t, ['produce', 'nope', '--broker', strict.address], { input: 'x\n' })
  t.equal(r.code, 1)
  t.equal(r.stderr, 'error: topic "nope" does not exist\n')
})

t.test('group reset-offsets on a group that does not exist: an error unless --create', async t => {
  await client.admin().createTopics([{ topic: 'rs', partitions: 2 }])
  const missing = await runCli(t, ['group', 'reset-offsets', 'no-such-group', '--topic', 'rs', '--to-earliest', ...b])
  t.equal(missing.code, 1)
  t.equal(missing.stderr, 'error: group "no-such-group" does not exist (give --create to create it with these offsets)\n')
  t.notOk((await client.admin().listGroups()).some(g => g.groupId === 'no-such-group'), 'nothing was created')
  const created = await runCli(t, ['group', 'reset-offsets', 'no-such-group', '--topic', 'rs', '--to-earliest', '--create', ...b])
  t.equal(created.code, 0, created.stderr)
  t.same((await client.admin().fetchOffsets('no-such-group', ['rs'])).map(o => o.offset), [0, 0], '--create makes it with the offsets')
  const again = await runCli(t, ['group', 'reset-offsets', 'no-such-group', '--topic', 'rs', '--to-latest', ...b])
  t.equal(again.code, 0, 'an existing group needs no --create')
})

const line = (bytes: number): string => 'y'.repeat(bytes) + '\n'

t.test('size limits: a 5 MB line fails naming the setting, goes through once the limits are raised', async t => {
  await client.admin().createTopics([{ topic: 'small', partitions: 1 }])
  const refused = await runCli(t, ['produce', 'small', ...b], { input: line(5_000_000) })
  t.equal(refused.code, 1)
  t.match(refused.stderr, /^error: line 1 makes a record batch of about 50000\d\d bytes, more than --max-message-bytes 1048576 \(by default topic "small"'s maxBatchBytes\): raise --max-message-bytes, and the topic's maxBatchBytes to match\n$/)
  const slightly = await runCli(t, ['produce', 'small', ...b], { input: line(1_100_000) })
  t.match(slightly.stderr, /more than --max-message-bytes 1048576/, 'a 1.1 MB line too')

  // A producer limit above the broker's: the broker's own error, with the setting to raise.
  const above = await runCli(t, ['produce', 'small', '--max-message-bytes', '6000000', ...b], { input: line(5_000_000), timeoutMs: 30_000 })
  t.equal(above.signal, null, 'ends by itself (no hang)')
  t.equal(above.code, 1)
  t.match(above.stderr, /^error: record batch of \d+ bytes exceeds maxBatchBytes 1048576: topic "small" accepts batches up to its maxBatchBytes \(default: the broker's --max-batch-bytes; per topic: `spool topic create <topic> --config maxBatchBytes=N`\)\n$/)
  const frame = await runCli(t, ['produce', 'small', '--max-message-bytes', '30000000', ...b], { input: line(20_000_000), timeoutMs: 30_000 })
  t.equal(frame.signal, null, 'a request past the broker\'s frame limit ends by itself (no hang)')
  t.equal(frame.code, 1)
  t.match(frame.stderr, /^error: frame of \d+ bytes exceeds maxFrameBytes 16777216: raise the broker's --max-frame-bytes/)

  // Per topic: --config maxBatchBytes=N, and the CLI follows the topic's limit by itself.
  const created = await runCli(t, ['topic', 'create', 'large', '--config', 'maxBatchBytes=8388608', ...b])
  t.equal(created.code, 0, created.stderr)
  const produced = await runCli(t, ['produce', 'large', ...b], { input: line(5_000_000), timeoutMs: 30_000 })
  t.equal(produced.code, 0, produced.stderr)
  t.equal(produced.stderr, 'produced 1 message to large\n')
  const consumed = await runCli(t, ['consume', 'large', '--from-beginning', ...b], { timeoutMs: 30_000 })
  t.equal(consumed.code, 0, consumed.stderr)
  t.equal(consumed.stdout.length, 5_000_001, 'and consumed back whole')
})

t.test('size limits: a broker started with --max-batch-bytes takes 5 MB lines on new topics', async t => {
  const roomy = await startTestBroker(t, { maxBatchBytes: 8 * 1024 * 1024 })
  const r = await runCli(t, ['produce', 'fresh', '--broker', roomy.address], { input: line(5_000_000), timeoutMs: 30_000 })
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stderr, 'created topic fresh (1 partition)\nproduced 1 message to fresh\n')
})

t.test('one vocabulary: "topic" and "records" in the CLI\'s JSON, /api and the SDK', async t => {
  await client.admin().createTopics([{ topic: 'vocab', partitions: 2 }])
  await client.producer().send({ topic: 'vocab', messages: [{ value: 'a' }, { value: 'b' }, { value: 'c' }] })
  const cli = (JSON.parse((await runCli(t, ['topic', 'list', '--format', 'json', ...b])).stdout) as Array<Record<string, unknown>>).find(r => r.topic === 'vocab')
  const api = ((await (await fetch(`http://127.0.0.1:${broker.httpPort}/api/topics`)).json()) as { topics: Array<Record<string, unknown>> }).topics.find(r => r.topic === 'vocab')
  const [sdk] = await client.admin().describeTopics(['vocab'])
  t.match(cli, { topic: 'vocab', partitions: 2, records: 3 }, 'CLI topic list --format json')
  t.match(api, { topic: 'vocab', partitions: 2, records: 3 }, 'GET /api/topics')
  t.equal(sdk?.topic, 'vocab', 'SDK describeTopics')
  for (const row of [cli, api]) t.notOk(row !== undefined && ('name' in row || 'messages' in row), 'no name/messages fields')
  const detail = (await (await fetch(`http://127.0.0.1:${broker.httpPort}/api/topics/vocab`)).json()) as { topic: Record<string, unknown> }
  t.same(Object.keys((detail.topic.partitions as object[])[0]!).filter(k => k !== 'segments'), Object.keys(sdk!.partitions[0]!), 'partition fields as the SDK names them')
  const created = await fetch(`http://127.0.0.1:${broker.httpPort}/api/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ topic: 'vocab-2' }) })
  t.equal(created.status, 201, 'POST /api/topics takes { topic }')
  const text = await runCli(t, ['topic', 'list', ...b])
  t.match(text.stdout, /^TOPIC +PARTITIONS +RECORDS +SIZE\n/)
  const describe = await runCli(t, ['topic', 'describe', 'vocab', ...b])
  t.match(describe.stdout, /^Topic: vocab {2}Partitions: 2 {2}Records: 3 /)
  t.match(describe.stdout, /PARTITION +LOG START +LOG END +HIGH WATERMARK +RECORDS +SIZE\n/)
  t.ok(describe.stdout.split('\n').every(l => l.length <= 80), 'topic describe fits 80 columns')
})

/** The broker's count of Fetch requests (its /metrics). */
async function fetchRequests (httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  let n = 0
  for (const m of text.matchAll(/^spool_requests_total\{[^}]*api="Fetch"[^}]*\} (\d+)$/gm)) n += Number(m[1])
  return n
}

t.test('an idle `spool tail` long-polls: one fetch parked in the broker, not several a second', async t => {
  const quiet = await startTestBroker(t)
  const admin = new Client({ brokers: [quiet.address] })
  t.teardown(() => admin.close())
  await admin.admin().createTopics([{ topic: 'idle', partitions: 3 }])
  const tail = spawnCli(t, ['tail', 'idle', '--broker', quiet.address])
  let out = ''
  tail.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d })
  // Wait (bounded) until the tail has sent its first fetch, then watch a 3 s window.
  let started = 0
  for (let i = 0; i < 200 && (started = await fetchRequests(quiet.httpPort)) === 0; i++) await new Promise(resolve => setTimeout(resolve, 50))
  t.ok(started > 0, 'the tail is fetching')
  await new Promise(resolve => setTimeout(resolve, 3000))
  const during = await fetchRequests(quiet.httpPort) - started
  t.ok(during <= 1, `${during} fetches in 3 s of idling (a 500 ms poll makes 6)`)
  // ...and a record still shows at once: the parked fetch is answered by the append.
  await admin.producer().send({ topic: 'idle', messages: [{ value: 'wake up' }] })
  await waitFor(() => out.includes('wake up\n'), 5_000, 'the record to be printed')
  t.pass('a record arriving ends the long poll')
  const exited = new Promise(resolve => tail.once('exit', code => resolve(code)))
  tail.kill('SIGINT')
  t.equal(await exited, 0, 'Ctrl-C ends it at once, long poll or not')
})
