// `spool consume --group` and `spool group ...` as spawned processes against a real broker
// (docs/architecture.md §7): a group consumer commits exactly what it printed, whatever ends it
// (--max-messages, SIGINT, SIGTERM, a closed stdout) and the next run continues after it;
// `group describe` (table and JSON) shows members with client ids and hosts and lag per
// partition and in total; `reset-offsets` is refused while the group has members and sets
// offsets with each --to-* form once it is empty; `group list` and `group delete`.
import t from 'tap'
import { Client, type Consumer } from '../../client/index.js'
import { startTestBroker } from '../helpers/client-broker.js'
import { runCli, spawnCli } from '../helpers/client-cli.js'
import { until } from '../helpers/group-events.js'

const broker = await startTestBroker(t, { groupHeartbeatIntervalMs: 200 })
const b = ['--broker', broker.address]
const client = new Client({ brokers: [broker.address] })
t.teardown(() => client.close())
const admin = client.admin()

async function committed (group: string, topic: string): Promise<number[]> {
  return (await admin.fetchOffsets(group, [topic])).map(o => o.offset)
}

interface Line { partition: number, offset: number, value: string }
const parse = (stdout: string): Line[] => stdout.trimEnd().split('\n').filter(l => l !== '').map(l => JSON.parse(l) as Line)

/** A `spool` child whose whole stdout is collected; exits are awaited with `exited`. */
function spawnCollecting (t: Parameters<typeof spawnCli>[0], args: string[]): { child: ReturnType<typeof spawnCli>, out: () => string, err: () => string, exited: Promise<number | null> } {
  const child = spawnCli(t, args)
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d })
  child.stdin!.end()
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  return { child, out: () => out, err: () => err, exited }
}

/**
 * Per partition, the offset after the highest printed one, or where the member started
 * (`start`: 0 with --from-beginning) when it printed none: what must be committed.
 */
function expectedCommits (lines: Line[], partitions: number, start = 0): number[] {
  const out = new Array<number>(partitions).fill(start)
  for (const l of lines) out[l.partition] = Math.max(out[l.partition]!, l.offset + 1)
  return out
}

t.test('consume --group --max-messages commits exactly what it printed; the next run continues after it', async t => {
  await admin.createTopics([{ topic: 'gq', partitions: 3 }])
  await client.producer().send({ topic: 'gq', messages: Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `m${i}` })) })
  const first = await runCli(t, ['consume', 'gq', '--group', 'cq', '--from-beginning', '--max-messages', '7', '--format', 'json', ...b])
  t.equal(first.code, 0, first.stderr)
  const printed = parse(first.stdout)
  t.equal(printed.length, 7, 'exactly 7 printed')
  t.same(await committed('cq', 'gq'), expectedCommits(printed, 3), 'and exactly those committed')
  // --from-beginning applies to partitions without a committed offset (the others continue).
  const second = await runCli(t, ['consume', 'gq', '--group', 'cq', '--from-beginning', '--format', 'json', ...b])
  t.equal(second.code, 0, second.stderr)
  const rest = parse(second.stdout)
  t.equal(rest.length, 23, 'without -f the second run reads to the end and stops')
  t.same([...printed, ...rest].map(l => l.value).sort(), Array.from({ length: 30 }, (_, i) => `m${i}`).sort(), 'each message once over both runs')
  t.same(await committed('cq', 'gq'), [0, 1, 2].map(p => rest.concat(printed).filter(l => l.partition === p).length), 'everything committed')
  const none = await runCli(t, ['consume', 'gq', '--group', 'cq', ...b])
  t.equal(none.stdout, '', 'a third run has nothing left')
  const usage = await runCli(t, ['consume', 'gq', '--group', 'cq', '--offset', '3', ...b])
  t.equal(usage.code, 1)
  t.match(usage.stderr, /^error: --group reads from the group's committed offsets/)
})

t.test('consume --group -f ends on SIGINT, SIGTERM and a closed stdout, committing what it printed', async t => {
  await admin.createTopics([{ topic: 'gf', partitions: 2 }])
  const producer = client.producer()
  let n = 0
  const send = (count: number): Promise<unknown> => producer.send({ topic: 'gf', messages: Array.from({ length: count }, () => ({ key: `k${n}`, value: `v${n++}` })) })
  await send(20)
  const seen: Line[] = []
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const run = spawnCollecting(t, ['consume', 'gf', '--group', 'cf', '--from-beginning', '-f', '--format', 'json', ...b])
    await until(() => run.out().split('\n').length > 10, 10_000, `the ${signal} run to print`)
    await new Promise(resolve => setTimeout(resolve, 300)) // everything so far is printed
    run.child.kill(signal)
    t.equal(await run.exited, 0, `${signal}: exit 0 (${run.err()})`)
    seen.push(...parse(run.out()))
    t.same(await committed('cf', 'gf'), expectedCommits(seen, 2), `${signal}: committed exactly what was printed`)
    await send(10)
  }
  t.equal(new Set(seen.map(l => l.value)).size, seen.length, 'no message printed twice across the runs')
  t.equal(seen.length, 30, 'and none skipped')

  // stdout closed by the reader: noticed at the next write (EPIPE); what was written is committed.
  const run = spawnCollecting(t, ['consume', 'gf', '--group', 'cf', '-f', '--format', 'json', ...b])
  await send(10)
  await until(() => run.out().split('\n').length > 10, 10_000, 'the last run to print')
  const read = parse(run.out())
  run.child.stdout!.destroy()
  await send(50)
  await new Promise(resolve => setTimeout(resolve, 300))
  await send(50)
  t.equal(await run.exited, 0, 'exit 0 once stdout is gone')
  const after = await committed('cf', 'gf')
  const floor = expectedCommits([...seen, ...read], 2)
  t.ok(after.every((c, p) => c >= floor[p]!), `commits ${after.join(',')} cover what the reader saw (${floor.join(',')})`)
  t.ok(after.reduce((a, c) => a + c, 0) < 150, 'but not what came after the pipe closed')
})

t.test('group describe (table and JSON) and group list, with a live member', async t => {
  await admin.createTopics([{ topic: 'gd', partitions: 3 }])
  await client.producer().send({ topic: 'gd', messages: Array.from({ length: 30 }, (_, i) => ({ value: `m${i}`, partition: i % 3 })) })
  await admin.setOffsets('cd', [{ topic: 'gd', partition: 0, offset: 4 }, { topic: 'gd', partition: 1, offset: 10 }])
  const member = new Client({ brokers: [broker.address], clientId: 'describe-me' })
  t.teardown(() => member.close())
  const consumer: Consumer = member.consumer({ groupId: 'cd', autoCommit: false })
  await consumer.subscribe({ topics: ['gd'] })
  await until(() => consumer.assignment().length === 3, 10_000, 'the member to own every partition')
  await new Promise(resolve => setTimeout(resolve, 300)) // the coordinator marks the group stable

  const text = await runCli(t, ['group', 'describe', 'cd', ...b])
  t.equal(text.code, 0, text.stderr)
  const memberId = consumer.member!.memberId
  t.match(text.stdout, /^Group: cd {2}State: stable {2}Members: 1 {2}Epoch: \d+ {2}Total lag: 6\n\n/)
  t.match(text.stdout, /TOPIC +PARTITION +COMMITTED +LOG END +LAG +MEMBER +CLIENT ID\n/)
  // Text tables show the member id's first 8 characters (as the console does) and fit 80 columns.
  const short = `${memberId.slice(0, 8)}…`
  t.match(text.stdout, new RegExp(`gd +0 +4 +10 +6 +${short} +describe-me\\n`))
  t.match(text.stdout, new RegExp(`gd +1 +10 +10 +0 +${short} +describe-me\\n`))
  t.match(text.stdout, new RegExp(`gd +2 +- +10 +- +${short} +describe-me\\n`), 'no committed offset: no lag')
  t.match(text.stdout, new RegExp(`MEMBER +CLIENT ID +HOST +INSTANCE +PARTITIONS\\n${short} +describe-me +127\\.0\\.0\\.1 +- +gd:0,1,2\\n`))
  t.notOk(text.stdout.includes(memberId), 'the full member id is left to --format json')
  t.same(text.stdout.split('\n').filter(l => l.length > 80), [], 'every line fits 80 columns')

  const json = await runCli(t, ['group', 'describe', 'cd', '--format', 'json', ...b])
  t.equal(json.code, 0, json.stderr)
  t.equal(json.stdout.split('\n').length, 2, 'one line of JSON')
  const d = JSON.parse(json.stdout) as { groupId: string, state: string, totalLag: number, members: Array<{ memberId: string, clientId: string, clientHost: string, assignment: unknown }>, offsets: Array<{ partition: number, committedOffset: number, logEndOffset: number, lag: number, memberId: string }> }
  t.match(d, { groupId: 'cd', state: 'stable', totalLag: 6 })
  t.same(d.members.map(m => [m.memberId, m.clientId, m.clientHost, m.assignment]), [[memberId, 'describe-me', '127.0.0.1', [{ topic: 'gd', partitions: [0, 1, 2] }]]])
  t.same(d.offsets.map(o => [o.partition, o.committedOffset, o.logEndOffset, o.lag, o.memberId]), [[0, 4, 10, 6, memberId], [1, 10, 10, 0, memberId], [2, -1, 10, -1, memberId]])

  const list = await runCli(t, ['group', 'list', ...b])
  t.match(list.stdout, /^GROUP +STATE +MEMBERS\n/)
  t.match(list.stdout, /\ncd +stable +1\n/)
  const listJson = JSON.parse((await runCli(t, ['group', 'list', '--format', 'json', ...b])).stdout) as Array<{ groupId: string }>
  t.has(listJson.find(g => g.groupId === 'cd'), { groupId: 'cd', state: 'stable', members: 1 })
  const unknown = await runCli(t, ['group', 'describe', 'nope', ...b])
  t.equal(unknown.code, 1)
  t.equal(unknown.stderr, 'error: group "nope" does not exist\n')
  await consumer.close()
})

t.test('reset-offsets: refused while the group has members, then every --to-* form; delete', async t => {
  await admin.createTopics([{ topic: 'gr', partitions: 2 }])
  const t0 = 1_700_000_000_000
  await client.producer().send({ topic: 'gr', messages: Array.from({ length: 20 }, (_, i) => ({ value: `m${i}`, partition: i % 2, timestamp: t0 + i * 1000 })) })
  const member = new Client({ brokers: [broker.address] })
  t.teardown(() => member.close())
  const consumer = member.consumer({ groupId: 'cr' })
  await consumer.subscribe({ topics: 'gr' })
  const busy = await runCli(t, ['group', 'reset-offsets', 'cr', '--topic', 'gr', '--to-earliest', ...b])
  t.equal(busy.code, 1)
  t.equal(busy.stderr, 'error: group "cr" has 1 active member: stop it before resetting its offsets\n', 'one clear line')
  const busyDelete = await runCli(t, ['group', 'delete', 'cr', ...b])
  t.equal(busyDelete.code, 1)
  t.match(busyDelete.stderr, /^error: group "cr" has 1 active member: stop it before deleting it\n$/)
  await consumer.close()

  const reset = async (...how: string[]): Promise<number[]> => {
    const r = await runCli(t, ['group', 'reset-offsets', 'cr', '--topic', 'gr', ...how, ...b])
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /^reset group "cr" on topic "gr" \(2 partitions\)\nTOPIC +PARTITION +PREVIOUS +NEW\n/)
    return committed('cr', 'gr')
  }
  // The member left without committing anything, so no group "cr" is left: the first reset
  // needs --create (without it, it says the group does not exist).
  const gone = await runCli(t, ['group', 'reset-offsets', 'cr', '--topic', 'gr', '--to-latest', ...b])
  t.equal(gone.code, 1)
  t.equal(gone.stderr, 'error: group "cr" does not exist (give --create to create it with these offsets)\n')
  t.same(await reset('--to-latest', '--create'), [10, 10], '--to-latest')
  t.same(await reset('--to-earliest'), [0, 0], '--to-earliest')
  t.same(await reset('--to-offset', '7'), [7, 7], '--to-offset')
  t.same(await reset('--to-offset', '99'), [10, 10], '--to-offset is clamped to the log end')
  // Partition 0 holds t0, t0+2s, ...; partition 1 t0+1s, t0+3s, ...
  t.same(await reset('--to-time', new Date(t0 + 5000).toISOString()), [3, 2], '--to-time: the first message at or after it')
  t.same(await reset('--to-time', new Date(t0 + 60_000).toISOString()), [10, 10], '--to-time after everything: the end')
  const two = await runCli(t, ['group', 'reset-offsets', 'cr', '--topic', 'gr', '--to-earliest', '--to-latest', ...b])
  t.equal(two.code, 1)
  t.match(two.stderr, /^error: give exactly one of/)
  const deleted = await runCli(t, ['group', 'delete', 'cr', ...b])
  t.equal(deleted.code, 0, deleted.stderr)
  t.equal(deleted.stdout, 'deleted group "cr"\n')
  t.same(await committed('cr', 'gr'), [-1, -1], 'its offsets are gone')
  const again = await runCli(t, ['group', 'delete', 'cr', ...b])
  t.equal(again.code, 1)
  t.equal(again.stderr, 'error: group "cr" does not exist\n')
})
