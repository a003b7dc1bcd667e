// Partitions and pauses of real broker processes:
// 1. a network partition (tests/helpers/cluster-netns.ts: every broker and etcd in a network
//    namespace of its own, on one bridge; needs root, says so and fails without it): the
//    leader of a partition is cut off from the other brokers and from etcd. On its side,
//    acks=all writes are never acknowledged (its followers cannot fetch, its ISR cannot
//    shrink without etcd) while acks=1 writes are, as Kafka's would be; the majority elects a
//    new leader and the SDK's acks=all load goes on there. After healing, the old leader
//    truncates what only it had and holds the new leader's log byte for byte: one history,
//    with every acknowledged acks=all record once and in order;
// 2. a paused follower (SIGSTOP longer than replicaLagTimeMs, shorter than its session) drops
//    out of the ISR, acks=all goes on without it, and it rejoins after SIGCONT;
// 3. a rolling restart (SIGTERM, one broker after the other) under acks=all load loses nothing;
// 4. the namespaces, veth pairs and bridge of a lab are gone once the process that made them
//    is killed with SIGKILL (no teardown runs): they die with it.
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { Client } from '../../client/index.js'
import { startEtcd } from '../helpers/etcd.js'
import { logBytes, startProcessCluster, type ProcessCluster } from '../helpers/cluster-processes.js'
import { sleep } from '../helpers/wait.js'
import { Load, checkRecords, waitForAgreement, waitForPartitions } from '../helpers/cluster-load.js'
import { createNetnsLab, startNetnsEtcd } from '../helpers/cluster-netns.js'

// Real clusters one after the other: longer than the suite's 120 s per file on a loaded machine.
t.setTimeout(300_000)

type T = Parameters<Parameters<typeof t.test>[0]>[0]

const WRITER = fileURLToPath(new URL('../helpers/cluster-writer.js', import.meta.url))
const NETNS = fileURLToPath(new URL('../helpers/cluster-netns.js', import.meta.url))

function client (t: T, c: ProcessCluster): Client {
  // Short timeouts: a broker behind a cut link answers nothing, and the client finds out by timing out.
  const cl = new Client({ brokers: c.addresses(), requestTimeoutMs: 4000, connectTimeoutMs: 2000, retry: { retries: 1000, initialRetryTimeMs: 50, maxRetryTimeMs: 500 } })
  t.teardown(() => cl.close())
  return cl
}

async function waitUntil (predicate: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(25)
  }
}

async function createTopic (c: ProcessCluster, cl: Client, topic: string, partitions: number): Promise<void> {
  await cl.admin().createTopics([{ topic, partitions, replicationFactor: 3 }])
  await waitForPartitions(() => c.addresses(), topic, ps => ps.length === partitions && ps.every(p => p.isr.length === 3 && p.leader > 0), `${topic}: three in-sync replicas everywhere`)
}

/** Runs cluster-writer.js inside a namespace; resolves with its outcome lines once it exits (bounded). */
function writeFrom (t: T, inNamespace: string[], args: string[], timeoutMs: number): Promise<Array<{ i: number, ok: boolean, offset?: number, code?: string }>> {
  const child = spawn(inNamespace[0]!, [...inNamespace.slice(1), 'setpriv', '--pdeathsig', 'KILL', '--', process.execPath, WRITER, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL') })
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { process.kill(-child.pid!, 'SIGKILL'); reject(new Error(`the writer did not finish within ${timeoutMs} ms: ${err.slice(-500)}`)) }, timeoutMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve(out.split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as { i: number, ok: boolean, offset?: number, code?: string }))
    })
  })
}

t.test('a leader cut off from its followers and from etcd: no acks=all write there, one history after healing', async t => {
  const lab = await createNetnsLab(t, ['e1', 'b1', 'b2', 'b3'])
  const etcd = await startNetnsEtcd(t, lab, ['e1'])
  const perBroker = Object.fromEntries([1, 2, 3].map(id => [id, { inNamespace: lab.exec(`b${id}`), host: lab.address(`b${id}`) }]))
  const c = await startProcessCluster(t, { etcd, brokers: 3, args: ['--min-insync-replicas', '2'], perBroker })
  const cl = client(t, c)
  await createTopic(c, cl, 'split', 1)
  const load = new Load(cl, { topic: 'split', partitions: 1, window: 8, timeoutMs: 3000 })
  load.start()
  await sleep(1500)
  const before = (await waitForPartitions(() => c.addresses(), 'split', () => true, 'metadata'))[0]!
  const old = c.broker(before.leader)
  const majority = (): string[] => c.brokers.filter(b => b !== old && b.running).map(b => b.address)
  const cutAt = Date.now()
  lab.cut(`b${old.nodeId}`)
  // On the cut-off side: a writer next to the old leader.
  const minorityAll = writeFrom(t, lab.exec(`b${old.nodeId}`), [old.address, 'split', '0', 'all', 'minority-all', '4', '2000'], 60_000)
  const minorityOne = writeFrom(t, lab.exec(`b${old.nodeId}`), [old.address, 'split', '0', '1', 'minority-one', '5', '2000'], 60_000)
  const moved = await waitForPartitions(majority, 'split', ps => ps[0]!.leader > 0 && ps[0]!.leader !== old.nodeId, 'a new leader on the majority side', 30_000)
  t.ok(moved[0]!.leaderEpoch > before.leaderEpoch, `broker ${moved[0]!.leader} leads in a newer epoch`)
  const deadline = Date.now() + 30_000
  while (load.firstAckAfter(0, cutAt + 1000) === null && Date.now() < deadline) await sleep(50)
  const resumed = load.firstAckAfter(0, cutAt + 1000)
  t.ok(resumed !== null, `acks=all writes go on on the majority side${resumed === null ? '' : ` (an acknowledgement ${resumed.atMs - cutAt} ms after the cut)`}`)
  const all = await minorityAll
  const one = await minorityOne
  t.equal(all.length, 4, 'the minority acks=all writer tried four times')
  t.same(all.filter(r => r.ok), [], 'no acks=all write was acknowledged on the minority side')
  t.ok(one.filter(r => r.ok).length > 0, `acks=1 writes were taken by the old leader (${one.filter(r => r.ok).length} of ${one.length}), as Kafka's would be`)
  await sleep(1000)
  lab.heal(`b${old.nodeId}`)
  // Every broker agreeing: right after healing, the old leader still describes its own stale view.
  const healed = await waitForAgreement(() => c.addresses(), 'split', ps => ps[0]!.isr.includes(old.nodeId) && ps[0]!.isr.length === 3 && ps[0]!.leaderEpoch >= moved[0]!.leaderEpoch, 'the old leader back in the ISR after healing', 60_000)
  t.not(healed[0]!.leader, old.nodeId, 'the old leader follows now')
  await load.stop()
  // Counted by the broker (its log tail may have rolled past the line under load).
  const metrics = await (await fetch(`http://${old.options.host!}:${old.ports.http!}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
  const truncations = Number(/^spool_cluster_truncations_total (\d+)/m.exec(metrics)?.[1] ?? 0)
  const told = old.stdout.split('\n').filter(l => (/truncat|emptied|following partition|leading partition/.test(l) && l.includes('"split"')) || /fenced|registration lost/.test(l)).map(l => l.slice(0, 300))
  t.ok(truncations > 0, `the old leader truncated what only it had (${truncations} truncation(s))`, { lines: told })
  const leader = c.broker(healed[0]!.leader)
  const bytesDeadline = Date.now() + 20_000
  while (!c.brokers.every(b => logBytes(b.dataDir, 'split', 0).equals(logBytes(leader.dataDir, 'split', 0))) && Date.now() < bytesDeadline) await sleep(100)
  t.ok(c.brokers.every(b => logBytes(b.dataDir, 'split', 0).equals(logBytes(leader.dataDir, 'split', 0))), 'every replica holds the same bytes: one history')
  const result = await checkRecords(cl, 'split', 1, load.acked)
  t.same(result.lost, [], `no acknowledged acks=all record lost (${result.acked})`)
  t.equal(result.duplicates + result.misordered + result.wrong, 0, 'none doubled, every one in order', { details: result.details })
  t.equal(result.records, result.acked, 'the log holds the acknowledged records and nothing from the minority side')
})

t.test('a paused follower leaves the ISR after replicaLagTimeMs and rejoins after SIGCONT', async t => {
  const etcd = await startEtcd(t)
  const c = await startProcessCluster(t, { etcd, brokers: 3, args: ['--replica-lag-time-ms', '1500', '--lease-ttl-ms', '8000', '--min-insync-replicas', '2'] })
  const cl = client(t, c)
  await createTopic(c, cl, 'lag', 1)
  const leader = (await waitForPartitions(() => c.addresses(), 'lag', () => true, 'metadata'))[0]!.leader
  const follower = c.brokers.find(b => b.nodeId !== leader)!
  const load = new Load(cl, { topic: 'lag', partitions: 1, window: 4 })
  load.start()
  // Warmed up first (producer id, metadata): the paused broker may be the client's bootstrap.
  await waitUntil(() => load.acked.length > 10, 'the first acknowledgements')
  follower.pause()
  await waitForPartitions(() => c.addresses().filter(a => a !== follower.address), 'lag', ps => !ps[0]!.isr.includes(follower.nodeId), 'the paused follower out of the ISR', 20_000)
  const acksBefore = load.acked.length
  await waitUntil(() => load.acked.length > acksBefore + 10, 'acknowledgements without the paused follower')
  t.pass('acks=all goes on with the two in-sync replicas left')
  follower.resume()
  await waitForPartitions(() => c.addresses(), 'lag', ps => ps[0]!.isr.includes(follower.nodeId), 'the follower back in the ISR', 30_000)
  await load.stop()
  const result = await checkRecords(cl, 'lag', 1, load.acked)
  t.same(result.lost, [], 'nothing acknowledged is lost')
  t.equal(result.duplicates + result.wrong, 0, 'no duplicate, every acknowledged offset holds its value', { details: result.details })
  t.equal(result.misordered, 0, 'every record in send order', { details: result.details })
})

t.test('a rolling restart under acks=all load loses nothing', async t => {
  const etcd = await startEtcd(t)
  const c = await startProcessCluster(t, { etcd, brokers: 3, args: ['--min-insync-replicas', '2'] })
  const cl = client(t, c)
  await createTopic(c, cl, 'roll', 3)
  const load = new Load(cl, { topic: 'roll', partitions: 3 })
  load.start()
  for (const b of c.brokers) {
    await sleep(800)
    t.equal(await b.stop(), 0, `broker ${b.nodeId} stopped cleanly`)
    await b.start()
    await waitForPartitions(() => c.addresses(), 'roll', ps => ps.every(p => p.isr.length === 3), `broker ${b.nodeId} back in every ISR`, 60_000)
  }
  await sleep(500)
  await load.stop()
  t.same(load.failures, [], 'no send failed for good')
  const result = await checkRecords(cl, 'roll', 3, load.acked)
  t.same(result.lost, [], `no acknowledged record is lost (${result.acked} acknowledged)`)
  t.equal(result.duplicates + result.wrong, 0, 'no duplicate, every acknowledged offset holds its value', { details: result.details })
  t.equal(result.misordered, 0, 'every record in send order', { details: result.details })
})

t.test('a lab leaves no namespace, veth or bridge behind when the process that made it is killed', async t => {
  const child = spawn(process.execPath, [NETNS, 'hold'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let made: { hostLink: string, holders: number[] } | null = null
  t.teardown(() => {
    try { process.kill(-child.pid!, 'SIGKILL') } catch { /* gone */ }
    for (const pid of made?.holders ?? []) { try { process.kill(-pid, 'SIGKILL') } catch { /* gone */ } }
  })
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d })
  await waitUntil(() => out.includes('\n') || child.exitCode !== null, 'the lab maker to report', 30_000)
  t.ok(out.includes('\n'), `the lab maker made a lab ${err.slice(-500)}`)
  made = JSON.parse(out.split('\n')[0]!) as { hostLink: string, holders: number[] }
  const linkExists = (): boolean => {
    try {
      execFileSync('ip', ['link', 'show', made!.hostLink], { stdio: 'ignore', timeout: 5000 })
      return true
    } catch {
      return false
    }
  }
  // A zombie (state Z, not reaped yet by whoever inherited it) has left its namespaces.
  const alive = (pid: number): boolean => {
    try {
      return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))
    } catch {
      return false
    }
  }
  const own = fs.readlinkSync('/proc/self/ns/net')
  t.ok(linkExists(), `the test-side veth ${made.hostLink} exists while the lab does`)
  t.equal(made.holders.length, 3, 'a hub and two node namespaces')
  t.ok(made.holders.every(pid => alive(pid) && fs.readlinkSync(`/proc/${pid}/ns/net`) !== own), 'each held by a process in a namespace of its own')
  process.kill(child.pid!, 'SIGKILL')
  await waitUntil(() => !linkExists() && made!.holders.every(pid => !alive(pid)), 'the lab to vanish with its maker', 20_000)
  t.pass('after SIGKILL of the maker: the holders are gone, and with them the namespaces, the bridge and every veth')
})
