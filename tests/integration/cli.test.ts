// The `spool` CLI end to end, as spawned processes against a real broker: topic commands,
// 10,000 lines through `produce` (keys by separator) and back through `consume --format
// json` in order per partition on murmur2(key) % partitions, exit codes and one-line errors
// for an unknown topic and an unreachable broker, and clean exits of `consume -f` on SIGINT
// and when its stdout is closed.
import t from 'tap'
import { Client, text, utf8 } from '../../client/index.js'
import { partitionForKey } from '../../protocol/bytes/murmur2.js'
import { startTestBroker } from '../helpers/client-broker.js'
import { finished, firstLines, freePort, runCli, spawnCli } from '../helpers/client-cli.js'

const broker = await startTestBroker(t)
const b = ['--broker', broker.address]
const client = new Client({ brokers: [broker.address] })
t.teardown(() => client.close())

t.test('topic create, produce 10,000 keyed lines, consume them back as JSON', async t => {
  const created = await runCli(t, ['topic', 'create', 'lines', '--partitions', '3', ...b])
  t.equal(created.code, 0, created.stderr)
  t.equal(created.stdout, 'created topic "lines" with 3 partitions\n')

  const input = Array.from({ length: 10_000 }, (_, i) => `user-${i % 97}:line ${i}`).join('\n') + '\n'
  const produced = await runCli(t, ['produce', 'lines', '--key-separator', ':', ...b], { input })
  t.equal(produced.code, 0, produced.stderr)
  t.equal(produced.stderr, 'produced 10000 messages to lines\n')
  t.equal(produced.stdout, '')
  t.ok(produced.ms < 10_000, `produce took ${produced.ms} ms`)

  const consumed = await runCli(t, ['consume', 'lines', '--from-beginning', '--max-messages', '10000', '--format', 'json', ...b])
  t.equal(consumed.code, 0, consumed.stderr)
  const lines = consumed.stdout.trimEnd().split('\n')
  t.equal(lines.length, 10_000)
  const records = lines.map(l => JSON.parse(l) as { topic: string, partition: number, offset: number, key: string, value: string, headers: unknown[] })
  let misplaced = 0
  let disordered = 0
  const lastOffset = new Map<number, number>()
  const lastLineByKey = new Map<string, number>()
  for (const r of records) {
    if (r.partition !== partitionForKey(utf8(r.key), 3)) misplaced++
    if ((lastOffset.get(r.partition) ?? -1) >= r.offset) disordered++
    lastOffset.set(r.partition, r.offset)
    const n = Number(r.value.slice('line '.length))
    if ((lastLineByKey.get(r.key) ?? -1) >= n) disordered++
    lastLineByKey.set(r.key, n)
  }
  t.equal(misplaced, 0, 'each key on murmur2(key) % 3')
  t.equal(disordered, 0, 'in order per partition and per key')
  t.equal(new Set(records.map(r => r.value)).size, 10_000, 'every line once')
  t.same(Object.keys(records[0]!), ['topic', 'partition', 'offset', 'timestamp', 'key', 'value', 'headers'])

  const toEnd = await runCli(t, ['consume', 'lines', '--from-beginning', ...b])
  t.equal(toEnd.code, 0, toEnd.stderr)
  t.equal(toEnd.stdout.split('\n').length - 1, 10_000, 'without -f it stops at the end offsets of when it started')
  const oneLine = await runCli(t, ['consume', 'lines', '--partition', '0', '--offset', '2', '--max-messages', '1', '--print-key', ...b])
  t.match(oneLine.stdout, /^user-\d+\tline \d+\n$/)
})

t.test('topic list and describe: tables, and JSON with --format json', async t => {
  const list = await runCli(t, ['topic', 'list', ...b])
  t.equal(list.code, 0, list.stderr)
  t.match(list.stdout, /^TOPIC\s+PARTITIONS\s+RECORDS\s+SIZE\n/)
  t.match(list.stdout, /\nlines\s+3\s+10000\s+\d/)
  const listJson = JSON.parse((await runCli(t, ['topic', 'list', '--format', 'json', ...b])).stdout) as Array<{ topic: string, partitions: number, records: number }>
  t.has(listJson.find(r => r.topic === 'lines'), { topic: 'lines', partitions: 3, records: 10_000 })
  const describe = await runCli(t, ['topic', 'describe', 'lines', ...b])
  t.equal(describe.code, 0, describe.stderr)
  t.match(describe.stdout, /^Topic: lines {2}Partitions: 3 {2}Records: 10000/)
  t.match(describe.stdout, /PARTITION\s+LOG START\s+LOG END\s+HIGH WATERMARK\s+RECORDS\s+SIZE\n/)
  const json = JSON.parse((await runCli(t, ['topic', 'describe', 'lines', '--format', 'json', ...b])).stdout) as { partitions: Array<{ logEndOffset: number }> }
  t.equal(json.partitions.reduce((n, p) => n + p.logEndOffset, 0), 10_000)
})

t.test('produce options: --key, --partition, --acks, --header; consume --from-time', async t => {
  await runCli(t, ['topic', 'create', 'opts', '--partitions', '2', ...b])
  const before = Date.now()
  const r = await runCli(t, ['produce', 'opts', '--key', 'k1', '--partition', '1', '--acks', 'all', '--header', 'source=cli', '--header', 'n=1', ...b], { input: 'a\nb\nc' })
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stderr, 'produced 3 messages to opts\n')
  const r0 = await runCli(t, ['produce', 'opts', '--acks', '0', '--partition', '0', ...b], { input: 'x\n' })
  t.equal(r0.code, 0, r0.stderr)
  const out = await runCli(t, ['consume', 'opts', '--partition', '1', '--from-time', new Date(before - 1000).toISOString(), '--format', 'json', ...b])
  const records = out.stdout.trimEnd().split('\n').map(l => JSON.parse(l) as { key: string, value: string, partition: number, headers: unknown })
  t.same(records.map(m => [m.key, m.value, m.partition]), [['k1', 'a', 1], ['k1', 'b', 1], ['k1', 'c', 1]])
  t.same(records[0]!.headers, [{ key: 'source', value: 'cli' }, { key: 'n', value: '1' }])
  const consumer = client.consumer({ fromBeginning: true })
  await consumer.assign({ topic: 'opts', partition: 0 })
  const [m] = await firstMessages(consumer, 1)
  t.equal(text(m ?? null), 'x', 'the acks=0 line arrived')
  await consumer.close()
  const usage = await runCli(t, ['consume', 'opts', '--from-beginning', '--offset', '3', ...b])
  t.equal(usage.code, 1)
  t.equal(usage.stderr, 'error: give at most one of --from-beginning, --offset and --from-time\n')
})

async function firstMessages (consumer: ReturnType<Client['consumer']>, n: number): Promise<Array<Uint8Array | null>> {
  const out: Array<Uint8Array | null> = []
  const deadline = setTimeout(() => { void consumer.close() }, 10_000)
  for await (const m of consumer) {
    out.push(m.value)
    if (out.length >= n) break
  }
  clearTimeout(deadline)
  return out
}

t.test('unknown topic: exit 1 with one line', async t => {
  for (const args of [['consume', 'nope'], ['topic', 'describe', 'nope'], ['topic', 'delete', 'nope'], ['tail', 'nope']]) {
    const r = await runCli(t, [...args, ...b])
    t.equal(r.code, 1, args.join(' '))
    t.equal(r.stderr, 'error: topic "nope" does not exist\n', args.join(' '))
    t.equal(r.stdout, '')
  }
})

t.test('unreachable broker: exit 2 with one line, promptly', async t => {
  const port = await freePort()
  for (const args of [['topic', 'list'], ['consume', 'x', '-f'], ['produce', 'x']]) {
    // What starting the CLI costs on this machine right now (seconds on a loaded one).
    const startUp = (await runCli(t, ['--version'])).ms
    const r = await runCli(t, [...args, '--broker', `127.0.0.1:${port}`], { input: 'a\n' })
    t.equal(r.code, 2, args.join(' '))
    t.equal(r.stderr, `error: cannot reach broker at 127.0.0.1:${port} (ECONNREFUSED)\n`, args.join(' '))
    // Not the SDK's ~9 s of retries (a CLI command without -f gives up at once): less than
    // the start-up just measured plus 6 s (on a quiet machine it is about 1 s over it).
    t.ok(r.ms < startUp + 6_000, `${args.join(' ')} gave up after ${r.ms} ms (start-up ${startUp} ms)`)
  }
  const env = await runCli(t, ['topic', 'list'], { env: { SPOOL_BROKER: `127.0.0.1:${port}` } })
  t.equal(env.code, 2, 'SPOOL_BROKER is used')
})

/**
 * Produces `prefix-N` every 100 ms until `until` settles: a follower started at the end
 * prints the first of them whenever it is ready, however slow its start on a busy machine.
 */
async function tickUntil<T> (topic: string, prefix: string, until: Promise<T>): Promise<T> {
  const producer = client.producer({ lingerMs: 0 })
  let i = 0
  const ticker = setInterval(() => { void producer.send({ topic, messages: [{ value: `${prefix}-${i++}` }] }) }, 100)
  try {
    return await until
  } finally {
    clearInterval(ticker)
  }
}

t.test('consume -f: SIGINT ends it with exit 0', async t => {
  await runCli(t, ['topic', 'create', 'follow', '--partitions', '1', ...b])
  await client.producer({ lingerMs: 0 }).send({ topic: 'follow', messages: [{ value: 'old' }] })
  const child = spawnCli(t, ['consume', 'follow', '-f', ...b])
  const result = finished(child)
  const [line] = await tickUntil('follow', 'hello', firstLines(child, 1))
  t.match(line, /^hello-\d+$/, 'from the end: the message produced before it started is not printed')
  child.kill('SIGINT')
  const r = await result
  t.equal(r.code, 0)
  t.equal(r.stderr, '')
  const tail = spawnCli(t, ['tail', 'follow', ...b])
  const tailed = finished(tail)
  const [tailLine] = await tickUntil('follow', 'tailed', firstLines(tail, 1))
  t.match(tailLine, /^tailed-\d+$/, 'tail prints only new messages')
  tail.kill('SIGTERM')
  t.equal((await tailed).code, 0)
})

t.test('consume -f | head -3: exits 0 once its stdout is closed', async t => {
  await runCli(t, ['topic', 'create', 'headed', '--partitions', '1', ...b])
  const producer = client.producer({ lingerMs: 0 })
  await producer.send({ topic: 'headed', messages: Array.from({ length: 10 }, (_, i) => ({ value: `m${i}` })) })
  const child = spawnCli(t, ['consume', 'headed', '-f', '--from-beginning', ...b])
  const result = finished(child)
  t.same(await firstLines(child, 3), ['m0', 'm1', 'm2'])
  child.stdout!.destroy() // what `head -3` does after three lines
  let i = 0
  const ticker = setInterval(() => { void producer.send({ topic: 'headed', messages: [{ value: `more${i++}` }] }) }, 100)
  const r = await result
  clearInterval(ticker)
  t.equal(r.code, 0)
  t.equal(r.stderr, '')
})

t.test('topic delete', async t => {
  const r = await runCli(t, ['topic', 'delete', 'opts', ...b])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, 'deleted topic "opts"\n')
  t.equal((await runCli(t, ['topic', 'describe', 'opts', ...b])).code, 1)
})

t.test('a send that fails at the end of the input ends produce with the error (never hangs)', async t => {
  const big = 'x'.repeat(2_000_000) + '\n'
  for (let i = 0; i < 4; i++) {
    const r = await runCli(t, ['produce', 'too-big', ...b], { input: big, timeoutMs: 15_000 })
    t.equal(r.signal, null, `run ${i}: not killed by the timeout`)
    t.equal(r.code, 1, `run ${i}: exit 1`)
    t.match(r.stderr, /(exceeds maxBatchBytes|more than --max-message-bytes) 1048576/, `run ${i}: the reason, naming the limit (the broker's for a new topic, then the topic's)`)
  }
})

t.test('--version; --acks -1; CRLF lines; --broker given a port that is not Spool', async t => {
  const version = await runCli(t, ['--version'])
  t.equal(version.code, 0)
  t.match(version.stdout, /^\d+\.\d+\.\d+\n$/)
  const produced = await runCli(t, ['produce', 'crlf', '--acks', '-1', ...b], { input: 'one\r\ntwo\r\n' })
  t.equal(produced.code, 0, produced.stderr)
  const consumed = await runCli(t, ['consume', 'crlf', '--from-beginning', '--format', 'json', ...b])
  t.same(consumed.stdout.trimEnd().split('\n').map(l => (JSON.parse(l) as { value: string }).value), ['one', 'two'], 'the \\r of CRLF input is not part of the value')
  const wrong = await runCli(t, ['--broker', `127.0.0.1:${broker.httpPort}`, 'topic', 'list'])
  t.equal(wrong.code, 2, 'exit 2, as for an unreachable broker')
  t.match(wrong.stderr, /^error: cannot reach broker at 127\.0\.0\.1:\d+ \(it does not speak the Spool protocol: another port, e\.g\. the HTTP or MQTT one\?\)\n$/)
})

t.test('--offset outside a partition is said: past the end is an error, before the log start a note', async t => {
  await client.admin().createTopics([{ topic: 'range', partitions: 1 }])
  await client.producer().send({ topic: 'range', messages: [{ value: 'a' }, { value: 'b' }, { value: 'c' }] })
  for (const follow of [[], ['-f']]) {
    const past = await runCli(t, ['consume', 'range', '--offset', '50', ...follow, ...b])
    t.equal(past.code, 1, `past the end ${follow.join('')}: exit 1`)
    t.match(past.stderr, /^error: --offset 50 is past the end of range \(next offset per partition: 0: 3\)\n$/)
  }
  const last = await runCli(t, ['consume', 'range', '--offset', '2', ...b])
  t.equal(last.stdout, 'c\n', 'an offset inside the range reads from there')
})
