// Failures of real broker processes (tests/helpers/cluster-processes.ts: `spool broker start`
// per broker, one etcd, loopback, ports 0, process groups killed at teardown):
// 1. kill -9 of a partition leader under idempotent acks=all load: writes to its partitions
//    resume within a bounded wait (the time is printed), no acknowledged record is lost, none
//    is duplicated, every partition keeps its order; the killed broker comes back, catches up
//    and rejoins the ISR, and its logs end up byte for byte the leader's;
// 2. a divergent tail: a leader whose followers are paused (SIGSTOP) takes acks=1 writes they
//    never fetch, then dies; the new leader goes on without them, and the old leader, back,
//    truncates them (OffsetForLeaderEpoch) and holds exactly the new leader's log.
// (Network partitions, a paused follower and a rolling restart: cluster-partition.test.ts.)
import t from 'tap'
import { Client } from '../../client/index.js'
import { startEtcd } from '../helpers/etcd.js'
import { logBytes, startProcessCluster, type ProcessCluster } from '../helpers/cluster-processes.js'
import { sleep } from '../helpers/wait.js'
import { Load, checkRecords, waitForPartitions } from '../helpers/cluster-load.js'

type T = Parameters<Parameters<typeof t.test>[0]>[0]

function client (t: T, c: ProcessCluster): Client {
  const cl = new Client({ brokers: c.addresses(), requestTimeoutMs: 10_000, retry: { retries: 1000, initialRetryTimeMs: 50, maxRetryTimeMs: 500 } })
  t.teardown(() => cl.close())
  return cl
}

async function createTopic (c: ProcessCluster, cl: Client, topic: string, partitions: number): Promise<void> {
  await cl.admin().createTopics([{ topic, partitions, replicationFactor: 3 }])
  await waitForPartitions(() => c.addresses(), topic, ps => ps.length === partitions && ps.every(p => p.isr.length === 3 && p.leader > 0), `${topic}: three in-sync replicas everywhere`)
}

t.test('kill -9 of a leader under acks=all load: writes resume, nothing acknowledged is lost or doubled', async t => {
  const etcd = await startEtcd(t)
  const c = await startProcessCluster(t, { etcd, brokers: 3, args: ['--min-insync-replicas', '2'] })
  const cl = client(t, c)
  await createTopic(c, cl, 'load', 3)
  const load = new Load(cl, { topic: 'load', partitions: 3 })
  load.start()
  await sleep(1500)
  const before = await waitForPartitions(() => c.addresses(), 'load', () => true, 'metadata')
  const victim = before[0]!.leader
  const killedAt = Date.now()
  await c.broker(victim).kill()
  // Writes resume on every partition the victim led (bounded wait; the time is reported).
  const led = before.filter(p => p.leader === victim).map(p => p.partition)
  const deadline = Date.now() + 30_000
  while (led.some(p => load.firstAckAfter(p, killedAt) === null) && Date.now() < deadline) await sleep(20)
  const resumedMs = Math.max(...led.map(p => (load.firstAckAfter(p, killedAt)?.atMs ?? Infinity) - killedAt))
  t.ok(Number.isFinite(resumedMs), `writes to the killed leader's partitions resumed (after ${resumedMs} ms)`)
  t.comment(`failover: first acknowledged write ${resumedMs} ms after kill -9 of broker ${victim}`)
  const after = await waitForPartitions(() => c.addresses(), 'load', ps => ps.every(p => p.leader !== victim && p.leader > 0), 'new leaders')
  t.ok(after.filter(p => led.includes(p.partition)).every(p => p.leaderEpoch > before[p.partition]!.leaderEpoch), 'the moved partitions have a higher leader epoch')
  await sleep(1500)
  await c.broker(victim).start()
  await waitForPartitions(() => c.addresses(), 'load', ps => ps.every(p => p.isr.length === 3), 'the restarted broker back in every ISR', 60_000)
  await sleep(500)
  await load.stop()
  t.same(load.failures, [], 'no send failed for good')
  const result = await checkRecords(cl, 'load', 3, load.acked)
  t.ok(result.acked > 100, `records were acknowledged throughout (${result.acked})`)
  t.same(result.lost, [], 'no acknowledged record is lost')
  t.equal(result.duplicates, 0, 'the idempotent producer wrote no duplicate', { details: result.details })
  t.equal(result.misordered, 0, 'offsets increase and every partition holds its values in send order')
  t.equal(result.wrong, 0, 'every acknowledged offset holds the acknowledged value')
  t.equal(result.records, result.acked, 'the log holds exactly the acknowledged records')
  // Quiet now: every replica holds the same bytes.
  await waitForPartitions(() => c.addresses(), 'load', ps => ps.every(p => p.isr.length === 3), 'stable ISR')
  const deadlineBytes = Date.now() + 20_000
  let same = false
  while (!same && Date.now() < deadlineBytes) {
    same = [0, 1, 2].every(p => {
      const ref = logBytes(c.broker(1).dataDir, 'load', p)
      return c.brokers.every(b => logBytes(b.dataDir, 'load', p).equals(ref))
    })
    if (!same) await sleep(200)
  }
  t.ok(same, 'every replica of every partition holds the same bytes, the restarted one included')
})

t.test('a divergent tail written by a dying leader is truncated when it comes back', async t => {
  const etcd = await startEtcd(t)
  const c = await startProcessCluster(t, { etcd, brokers: 3 })
  const cl = client(t, c)
  await createTopic(c, cl, 'div', 1)
  const producer = cl.producer({ acks: 'all', lingerMs: 0, retry: { retries: 100, initialRetryTimeMs: 50, maxRetryTimeMs: 400 } })
  for (let i = 0; i < 20; i++) await producer.send({ topic: 'div', messages: [{ value: `committed:${i}` }] })
  const leader = (await waitForPartitions(() => c.addresses(), 'div', () => true, 'metadata'))[0]!.leader
  const followers = c.brokers.filter(b => b.nodeId !== leader)
  for (const f of followers) f.pause()
  const acks1 = cl.producer({ acks: 1, lingerMs: 0, idempotent: false, retry: { retries: 0 } })
  const uncommitted = []
  for (let i = 0; i < 10; i++) uncommitted.push((await acks1.send({ topic: 'div', messages: [{ value: `uncommitted:${i}` }] }))[0]!.offset)
  t.same(uncommitted, Array.from({ length: 10 }, (_, i) => 20 + i), 'the old leader took ten acks=1 writes its paused followers never fetched')
  await c.broker(leader).kill()
  for (const f of followers) f.resume()
  const moved = await waitForPartitions(() => c.addresses(), 'div', ps => ps[0]!.leader > 0 && ps[0]!.leader !== leader, 'a new leader')
  const newLeader = moved[0]!.leader
  for (let i = 0; i < 5; i++) await producer.send({ topic: 'div', messages: [{ value: `new:${i}` }] })
  await c.broker(leader).start()
  await waitForPartitions(() => c.addresses(), 'div', ps => ps[0]!.isr.length === 3, 'the old leader back in the ISR', 60_000)
  const truncated = c.broker(leader).logLines('truncated a divergent tail before following the leader')
  t.ok(truncated.length > 0, 'the old leader truncated before following')
  t.ok(truncated.some(l => Number(l.from) > Number(l.to) && Number(l.to) <= 21), `from its old end down to the new leader's history (${JSON.stringify(truncated.map(l => [l.from, l.to]))})`)
  const deadline = Date.now() + 20_000
  while (!logBytes(c.broker(leader).dataDir, 'div', 0).equals(logBytes(c.broker(newLeader).dataDir, 'div', 0)) && Date.now() < deadline) await sleep(100)
  t.ok(logBytes(c.broker(leader).dataDir, 'div', 0).equals(logBytes(c.broker(newLeader).dataDir, 'div', 0)), 'and now holds the new leader\'s log byte for byte: one history')
  const consumer = cl.consumer({ fromBeginning: true, maxWaitMs: 50 })
  await consumer.assign({ topic: 'div' })
  const { collect } = await import('../helpers/conformance.js')
  const values = (await collect(consumer, 26, 5000)).map(m => Buffer.from(m.value!).toString())
  await consumer.close()
  t.same(values.filter(v => v.startsWith('committed:')), Array.from({ length: 20 }, (_, i) => `committed:${i}`), 'every acks=all record survived')
  t.same(values.filter(v => v.startsWith('new:')), Array.from({ length: 5 }, (_, i) => `new:${i}`), 'with what the new leader took')
  t.ok(values.filter(v => v.startsWith('uncommitted:')).length <= 1, 'the acks=1 tail is gone (at most the batch a follower had fetched survives), as with Kafka')
  await producer.close()
  await acks1.close()
})
