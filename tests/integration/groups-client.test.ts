// Consumer groups through the SDK against a real broker (docs/architecture.md §4): members in
// this process and as processes (tests/helpers/group-member.ts), every assign, revoke and
// processed message recorded on one timeline (tests/helpers/group-events.ts). It proves:
// a join moves only the partitions that must move; a member killed with SIGKILL loses its
// partitions after its session timeout and nothing is skipped or owned twice; committed
// offsets and membership survive a SIGKILL of the broker (`spool broker start` child); a
// zombie's commit is refused and it rejoins; static membership keeps partitions in place;
// the README's demo (examples/node-consumer.js --group in three shells) does what it says.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { Client, type GroupDescription } from '../../client/index.js'
import { startBroker } from '../helpers/broker.js'
import { freePort } from '../helpers/client-cli.js'
import {
  MemberInProcess, MemberProcess, missing, overlaps, ownedFrom, until, type GroupEvent,
} from '../helpers/group-events.js'
import { spawnCollected, spawnSpool, type Spawned } from '../helpers/processes.js'

const HEARTBEAT_MS = 200

async function produce (address: string, topic: string, count: number, from = 0): Promise<void> {
  const client = new Client({ brokers: [address] })
  const producer = client.producer({ lingerMs: 2 })
  await producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ key: `k${from + i}`, value: String(from + i) })) })
  await producer.close()
  await client.close()
}

async function describe (address: string, group: string): Promise<GroupDescription> {
  const client = new Client({ brokers: [address] })
  try {
    return (await client.admin().describeGroups([group]))[0]!
  } finally {
    await client.close()
  }
}

async function stable (address: string, group: string, members: number, timeoutMs = 10_000): Promise<GroupDescription> {
  let d: GroupDescription | null = null
  const deadline = Date.now() + timeoutMs
  for (;;) {
    d = await describe(address, group)
    if (d.state === 'stable' && d.members.length === members) return d
    if (Date.now() > deadline) throw new Error(`group ${group} not stable with ${members} members: ${d.state}, ${d.members.length}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

t.test('three members own two partitions each; a fourth joins: balanced, and what stays was never revoked', async t => {
  const broker = await startBroker(t, { groupHeartbeatIntervalMs: HEARTBEAT_MS, mqttPort: null })
  const address = `127.0.0.1:${broker.ports.native}`
  await broker.logs.createTopic('six', { partitions: 6 })
  await produce(address, 'six', 60)
  const events: GroupEvent[] = []
  const members = ['a', 'b', 'c'].map(name => new MemberInProcess(t, events, name, { broker: address, group: 'g-balance', topics: ['six'] }))
  await Promise.all(members.map(m => m.joined))
  for (const m of members) m.run()
  await until(() => members.every(m => m.owned().length === 2), 10_000, 'three members with two partitions each')
  await stable(address, 'g-balance', 3)
  const before = new Map(members.map(m => [m.name, m.owned()]))
  t.same([...before.values()].flat().sort(), [0, 1, 2, 3, 4, 5], 'every partition owned once')
  const mark = events.length

  const d = new MemberInProcess(t, events, 'd', { broker: address, group: 'g-balance', topics: ['six'] })
  await d.joined
  d.run()
  const all = [...members, d]
  await until(() => all.map(m => m.owned().length).sort().join() === '1,1,2,2', 10_000, 'a balanced assignment of four')
  await stable(address, 'g-balance', 4)
  const after = events.slice(mark)
  const revoked = after.filter(e => e.ev === 'revoke').flatMap(e => (e.p as number[]).map(p => ({ name: e.name, p })))
  t.equal(revoked.length, 1, 'exactly one partition moved')
  t.same(d.owned(), revoked.map(r => r.p), 'to the new member')
  for (const m of members) {
    for (const p of before.get(m.name)!) {
      if (revoked.some(r => r.name === m.name && r.p === p)) continue
      t.ok(m.owned().includes(p), `${m.name} kept partition ${p}`)
    }
  }
  t.same(after.filter(e => e.ev === 'assign' && e.name !== 'd'), [], 'the others were assigned nothing new')
  t.same(overlaps(events), [], 'no partition was owned by two members at once')
  await Promise.all(all.map(m => m.close()))
  const left = await describe(address, 'g-balance')
  t.equal(left.state, 'empty', 'close() left the group')
  t.equal(left.totalLag, 0, 'and committed what was processed')
})

t.test('a member process killed with SIGKILL: taken over after its session timeout, nothing skipped or owned twice', async t => {
  const broker = await startBroker(t, { groupHeartbeatIntervalMs: HEARTBEAT_MS, mqttPort: null })
  const address = `127.0.0.1:${broker.ports.native}`
  await broker.logs.createTopic('work', { partitions: 6 })
  await produce(address, 'work', 900)
  const events: GroupEvent[] = []
  const sessionTimeoutMs = 1500
  const procs = ['a', 'b', 'c'].map(name => new MemberProcess(t, events, { broker: address, group: 'g-kill', topic: 'work', name, sessionTimeoutMs, processMs: 1 }))
  await until(() => procs.every(p => ownedFrom(events, p.name).length === 2), 15_000, 'three processes with two partitions each')
  await until(() => events.filter(e => e.ev === 'processed' && e.name === 'b').length >= 50, 10_000, 'b to process some messages')
  const victim = procs[1]!
  const victimOwned = ownedFrom(events, 'b')
  await victim.kill()
  const killedAt = events.find(e => e.ev === 'death')!.t
  await produce(address, 'work', 900, 900)
  const ends = new Map<number, number>()
  for (let p = 0; p < 6; p++) ends.set(p, broker.logs.partition('work', p).highWatermark)
  t.equal([...ends.values()].reduce((a, b) => a + b, 0), 1800)
  await until(() => missing(events, ends).length === 0, 30_000, 'every message to be processed')

  for (const p of victimOwned) {
    const takeover = events.find(e => e.ev === 'assign' && e.t >= killedAt && (e.p as number[]).includes(p))
    t.ok(takeover, `partition ${p} was taken over`)
    const after = takeover!.t - killedAt
    // Not before the session ran out; how long after it depends on the machine's load, and
    // the wait for every message above bounds it.
    t.ok(after >= sessionTimeoutMs - HEARTBEAT_MS - 100, `partition ${p} taken over ${after} ms after the kill (session timeout ${sessionTimeoutMs})`)
  }
  const survivors = [procs[0]!, procs[2]!]
  for (const s of survivors) s.child.kill('SIGTERM')
  for (const s of survivors) t.equal(await s.exited, 0, `${s.name} exits 0 after SIGTERM (${s.stderr})`)
  t.equal(events.filter(e => e.ev === 'closed').length, 2, 'the survivors closed cleanly')
  t.same(overlaps(events), [], 'no partition was owned by two live members at once')
  t.same(events.filter(e => e.ev === 'revoke' && e.lost === true), [], 'no member lost partitions')
  const d = await describe(address, 'g-kill')
  t.equal(d.members.length, 0)
  t.same(d.offsets.map(o => [o.partition, o.committedOffset]), [...ends].map(([p, end]) => [p, end]), 'committed offsets equal the end offsets')
  t.equal(d.totalLag, 0)
})

t.test('broker killed with SIGKILL: committed offsets and membership survive, members continue from their commits', async t => {
  const dataDir = mkdtempSync(join(tmpdir(), 'spool-groups-restart-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const port = await freePort()
  const address = `127.0.0.1:${port}`
  let broker: Spawned | null = null
  const start = async (): Promise<void> => {
    broker = spawnSpool(t, ['broker', 'start', '--data-dir', dataDir, '--port', String(port), '--http-port', 'off', '--mqtt-port', 'off', '--kafka-port', 'off', '--group-heartbeat-interval-ms', String(HEARTBEAT_MS)])
    await until(() => broker!.stdout().includes('"broker started"') || broker!.child.exitCode !== null, 15_000, 'the broker to start')
    t.match(broker!.stdout(), /"broker started"/, broker!.stderr())
  }
  await start()
  const admin = new Client({ brokers: [address] })
  t.teardown(() => admin.close())
  await admin.admin().createTopics([{ topic: 'durable', partitions: 4 }])
  await produce(address, 'durable', 400)
  const events: GroupEvent[] = []
  const members = ['a', 'b'].map(name => new MemberInProcess(t, events, name, { broker: address, group: 'g-restart', topics: ['durable'], sessionTimeoutMs: 30_000 }))
  await Promise.all(members.map(m => m.joined))
  for (const m of members) m.run()
  const ends = new Map([0, 1, 2, 3].map(p => [p, 0]))
  for (const o of await admin.admin().fetchTopicOffsets('durable')) ends.set(o.partition, o.high)
  await until(() => missing(events, ends).length === 0, 15_000, 'the first 400 to be processed')
  await until(() => members.every(m => m.owned().length === 2), 10_000, 'two partitions each')
  let before = await describe(address, 'g-restart')
  for (let i = 0; i < 100 && before.totalLag !== 0; i++) {
    await new Promise(resolve => setTimeout(resolve, 50))
    before = await describe(address, 'g-restart')
  }
  t.equal(before.totalLag, 0, 'all of it committed')
  const mark = events.length

  broker!.child.kill('SIGKILL')
  await broker!.exited
  await start()
  const after = await describe(address, 'g-restart')
  t.same(after.offsets.map(o => [o.partition, o.committedOffset]), before.offsets.map(o => [o.partition, o.committedOffset]), 'committed offsets survived the kill')
  t.same(after.members.map(m => m.memberId).sort(), before.members.map(m => m.memberId).sort(), 'so did the membership')
  await produce(address, 'durable', 200, 400)
  for (const o of await admin.admin().fetchTopicOffsets('durable')) ends.set(o.partition, o.high)
  await until(() => missing(events, ends).length === 0, 20_000, 'the next 200 to be processed')
  const later = events.slice(mark)
  t.same(later.filter(e => e.ev === 'revoke' || e.ev === 'assign'), [], 'members resumed with their partitions: nothing revoked or assigned')
  const processed = later.filter(e => e.ev === 'processed')
  t.ok(processed.every(e => e.o! >= before.offsets.find(o => o.partition === e.p)!.committedOffset), 'nothing before the commits was read again')
  t.equal(new Set(processed.map(e => `${e.p as number}:${e.o!}`)).size, processed.length, 'and nothing twice')
  const current = await describe(address, 'g-restart')
  t.same(current.members.map(m => m.memberId).sort(), before.members.map(m => m.memberId).sort(), 'the same members')
  await Promise.all(members.map(m => m.close()))
  const closed = await describe(address, 'g-restart')
  t.same(closed.offsets.map(o => o.committedOffset), [...ends.values()], 'close() committed up to the end')
  broker!.child.kill('SIGTERM')
  t.equal(await broker!.exited, 0)
})

t.test("a zombie's commit is refused, and the member rejoins", async t => {
  const broker = await startBroker(t, { groupHeartbeatIntervalMs: HEARTBEAT_MS, mqttPort: null })
  const address = `127.0.0.1:${broker.ports.native}`
  await broker.logs.createTopic('zombie', { partitions: 2 })
  const events: GroupEvent[] = []
  const w = new MemberInProcess(t, events, 'w', { broker: address, group: 'g-zombie', topics: ['zombie'] })
  await w.joined
  w.run()
  await until(() => w.owned().length === 2, 10_000, 'w to own both partitions')
  // z blocks its event loop for 2 s on its first message: its 600 ms session runs out.
  const z = new MemberProcess(t, events, { broker: address, group: 'g-zombie', topic: 'zombie', name: 'z', sessionTimeoutMs: 600, stallMs: 2000 })
  await until(() => ownedFrom(events, 'z').length === 1, 10_000, 'z to get a partition')
  const zPartition = ownedFrom(events, 'z')[0]!
  await produce(address, 'zombie', 10)
  await until(() => events.some(e => e.ev === 'commit'), 10_000, 'z to try its commit')
  const commit = events.find(e => e.ev === 'commit')!
  t.equal(commit.ok, false, 'the zombie commit was refused')
  t.ok(commit.code === 'UNKNOWN_MEMBER_ID' || commit.code === 'FENCED_MEMBER_EPOCH', `with ${commit.code}`)
  const takeover = events.find(e => e.ev === 'assign' && e.name === 'w' && e.t > events.find(x => x.name === 'z' && x.ev === 'assign')!.t)
  t.ok(takeover !== undefined && (takeover.p as number[]).includes(zPartition), 'w took the partition over while z was stuck')
  await until(() => events.some(e => e.name === 'z' && e.ev === 'revoke' && e.lost === true), 5_000, 'z to drop its partitions as lost')
  const lostAt = events.find(e => e.name === 'z' && e.ev === 'revoke' && e.lost === true)!.t
  await until(() => events.some(e => e.name === 'z' && e.ev === 'assign' && e.t >= lostAt), 10_000, 'z to rejoin and get a partition again')
  await stable(address, 'g-zombie', 2)
  const committed = (await describe(address, 'g-zombie')).offsets.find(o => o.partition === zPartition)!
  t.not(committed.memberId, null, 'the partition has an owner again')
  z.child.kill('SIGTERM')
  t.equal(await z.exited, 0, z.stderr)
  await w.close()
})

t.test('static membership: a member back under its instanceId gets its partitions, nothing else moves', async t => {
  const broker = await startBroker(t, { groupHeartbeatIntervalMs: HEARTBEAT_MS, mqttPort: null })
  const address = `127.0.0.1:${broker.ports.native}`
  await broker.logs.createTopic('static', { partitions: 4 })
  const events: GroupEvent[] = []
  const make = (name: string, instanceId: string): { client: Client, consumer: ReturnType<Client['consumer']> } => {
    const client = new Client({ brokers: [address] })
    t.teardown(() => client.close())
    const consumer = client.consumer({
      groupId: 'g-static', instanceId, sessionTimeoutMs: 5000,
      onAssigned: ps => { events.push({ ev: 'assign', name, t: Date.now(), p: ps.map(tp => tp.partition) }) },
      onRevoked: ps => { events.push({ ev: 'revoke', name, t: Date.now(), p: ps.map(tp => tp.partition) }) },
    })
    return { client, consumer }
  }
  const a = make('a', 'node-a')
  const b = make('b', 'node-b')
  await a.consumer.subscribe({ topics: 'static' })
  await b.consumer.subscribe({ topics: 'static' })
  await until(() => a.consumer.assignment().length === 2 && b.consumer.assignment().length === 2, 10_000, 'two partitions each')
  const aOwned = ownedFrom(events, 'a')
  const mark = events.length
  await a.consumer.close()
  const a2 = make('a2', 'node-a')
  await a2.consumer.subscribe({ topics: 'static' })
  await until(() => a2.consumer.assignment().length === 2, 10_000, 'the restarted member to get partitions')
  t.same(ownedFrom(events, 'a2'), aOwned, 'the same partitions as before')
  t.same(events.slice(mark).filter(e => e.name === 'b'), [], 'b was not touched')
  await a2.consumer.close()
  await b.consumer.close()
})

t.test('examples/node-consumer.js --group: three instances share the partitions; one stopped hands its partitions on', async t => {
  const broker = await startBroker(t, { groupHeartbeatIntervalMs: HEARTBEAT_MS, mqttPort: null })
  const address = `127.0.0.1:${broker.ports.native}`
  await broker.logs.createTopic('orders', { partitions: 3 })
  await produce(address, 'orders', 60)
  const root = fileURLToPath(new URL('../../../', import.meta.url))
  const instances = [0, 1, 2].map(() => {
    const p = spawnCollected(t, process.execPath, ['examples/node-consumer.js', 'orders', '--group', 'billing', '--from-beginning'], { cwd: root, env: { SPOOL_BROKER: address } })
    return { child: p.child, out: p.stdout, err: p.stderr, exited: p.exited }
  })
  const lines = (): string[] => instances.flatMap(i => i.out().split('\n').filter(l => l !== ''))
  await until(() => lines().length >= 60, 15_000, 'the three instances to print the 60 orders')
  const d = await stable(address, 'billing', 3)
  t.same(d.members.map(m => m.assignment[0]!.partitions.length), [1, 1, 1], 'one partition each')
  t.equal(new Set(lines().map(l => l.split(' ')[0])).size, 60, 'each order printed once')
  instances[0]!.child.kill('SIGINT')
  t.equal(await instances[0]!.exited, 0, 'Ctrl-C stops an instance cleanly')
  t.match(instances[0]!.err(), /revoked partitions \d/)
  const after = await stable(address, 'billing', 2)
  t.same(after.members.map(m => m.assignment[0]!.partitions.length).sort(), [1, 2], 'its partition moved to another instance')
  await produce(address, 'orders', 30, 60)
  await until(() => lines().length >= 90, 15_000, 'the two left to print the next 30')
  t.equal(new Set(lines().map(l => l.split(' ')[0])).size, 90, 'from the committed offsets: nothing printed twice')
  for (const i of instances.slice(1)) i.child.kill('SIGINT')
  for (const i of instances.slice(1)) t.equal(await i.exited, 0, i.err())
  t.equal((await describe(address, 'billing')).totalLag, 0)
})

t.test('close() rejects with the final commit error when the broker is gone (after giving up the partitions)', async t => {
  const broker = await startBroker(t, { groupHeartbeatIntervalMs: HEARTBEAT_MS, mqttPort: null })
  const address = `127.0.0.1:${broker.ports.native}`
  await broker.logs.createTopic('gone', { partitions: 1 })
  await produce(address, 'gone', 5)
  const client = new Client({ brokers: [address], retry: { retries: 1, initialRetryTimeMs: 20, maxRetryTimeMs: 50 } })
  t.teardown(() => client.close().catch(() => {}))
  const revoked: boolean[] = []
  const consumer = client.consumer({ groupId: 'g-gone', fromBeginning: true, autoCommitIntervalMs: 60_000, onRevoked: (_ps, { lost }) => { revoked.push(lost) } })
  await consumer.subscribe({ topics: 'gone' })
  let seen = 0
  const running = consumer.run({ eachMessage: () => { seen++ } })
  await until(() => seen === 5, 10_000, 'the five messages')
  await broker.close()
  const error = await consumer.close().then(() => null, (err: Error) => err)
  t.ok(error !== null && ['BROKER_UNREACHABLE', 'CONNECTION_ERROR'].includes((error as { code?: string }).code ?? ''), `close() rejected with ${String(error)}`)
  t.same(revoked, [false], 'onRevoked was still called')
  await running
})

/** A broker, a 1-partition topic with `count` messages, and one member of `group` subscribed to it. */
async function oneMember (t: Parameters<typeof startBroker>[0], topic: string, group: string, count: number, options: { sessionTimeoutMs?: number } = {}): Promise<{ address: string, client: Client, consumer: ReturnType<Client['consumer']> }> {
  const broker = await startBroker(t, { groupHeartbeatIntervalMs: HEARTBEAT_MS, mqttPort: null })
  const address = `127.0.0.1:${broker.ports.native}`
  await broker.logs.createTopic(topic, { partitions: 1 })
  await produce(address, topic, count)
  const client = new Client({ brokers: [address] })
  t.teardown(() => client.close())
  const consumer = client.consumer({ groupId: group, fromBeginning: true, ...options })
  await consumer.subscribe({ topics: [topic] })
  return { address, client, consumer }
}

t.test('close() from outside while a slow callback awaits I/O waits, commits what was processed and leaves', async t => {
  const { address, consumer } = await oneMember(t, 'slow', 'g-slow', 200, { sessionTimeoutMs: 30_000 })
  let processed = 0
  const running = consumer.run({ eachMessage: async () => { await new Promise(resolve => setTimeout(resolve, 20)); processed++ } })
  await until(() => processed >= 5, 10_000, '5 messages processed')
  // A SIGTERM handler's situation: called from outside the callback, while one is running.
  await new Promise<void>((resolve, reject) => setImmediate(() => { consumer.close().then(resolve, reject) }))
  const processedAtClose = processed
  await running
  t.equal(processed, processedAtClose, 'close() resolved after the running callback finished, not before')
  const d = await describe(address, 'g-slow')
  t.equal(d.members.length, 0, 'the member left the group')
  t.equal(d.offsets.find(o => o.partition === 0)?.committedOffset, processed, 'exactly what was processed is committed')
})

t.test('close() awaited from inside a callback does not wait for itself', async t => {
  const { address, consumer } = await oneMember(t, 'inside', 'g-inside', 20)
  let seen = 0
  await consumer.run({ eachMessage: async () => { if (++seen === 3) await consumer.close() } })
  t.equal(seen, 3, 'run() resolved after the close from inside')
  const d = await describe(address, 'g-inside')
  t.equal(d.members.length, 0)
  t.equal(d.offsets.find(o => o.partition === 0)?.committedOffset, 3)
})

t.test('a member whose callback throws commits what it processed, leaves, and its partitions move on', async t => {
  const { address, client, consumer: failing } = await oneMember(t, 'fail', 'g-fail', 10)
  let n = 0
  await t.rejects(failing.run({ eachMessage: () => { if (++n === 5) throw new Error('boom') } }), { message: 'boom' })
  const d = await describe(address, 'g-fail')
  t.equal(d.members.length, 0, 'the failed member left')
  t.equal(d.offsets.find(o => o.partition === 0)?.committedOffset, 4, 'the four handled messages are committed, not the failed one')
  const next = client.consumer({ groupId: 'g-fail', fromBeginning: true })
  await next.subscribe({ topics: ['fail'] })
  const seen: string[] = []
  await next.run({ eachMessage: async ({ message }) => { seen.push(new TextDecoder().decode(message.value!)); if (seen.length === 6) await next.close() } })
  t.same(seen, ['4', '5', '6', '7', '8', '9'], 'the next member starts at the failed message')
})
