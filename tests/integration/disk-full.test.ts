// A full disk, for real: each subtest mounts a small tmpfs (`mount -t tmpfs -o size=…`,
// which needs root — CI runs as root; without root this test says so and FAILS), runs a real
// `spool broker start` process on it and fills the file system with a filler file.
//
// 1. Fill and free, three times, under load from idempotent producers (acks=1 and all, gzip
//    on some) and a committing consumer group of the public SDK: while full the broker is
//    read-only (/healthz, one log line), sends fail only with KAFKA_STORAGE_ERROR (never
//    OUT_OF_ORDER_SEQUENCE_NUMBER: defect 5), the group keeps reading; once the filler is
//    gone the broker is writable again by itself and the sends resume. In the end the log
//    holds every acknowledged record exactly once, at its offset, with its bytes, in per-key
//    order, and nothing whose send failed.
// 2. Shutdown and start on a full disk (defect 7): SIGTERM exits 3 ("not clean": the log
//    line and stderr say what could not be written) after writing the clean-shutdown marker;
//    the broker starts on the full disk (also after a kill -9) read-only: it serves fetches
//    and committed offsets, refuses produce and InitProducerId with KAFKA_STORAGE_ERROR, and
//    becomes writable by itself when space returns; then SIGTERM exits 0 and the next start
//    needs no recovery.
// The mount is removed at teardown, also when a subtest fails, and at exit; mounts left by
// a killed run of this file are removed at the start.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { Client, text } from '../../client/index.js'
import { collect } from '../helpers/conformance.js'
import { spawnBroker } from '../helpers/processes.js'
import { GroupReaders, Ledger, ProducerFleet, RecordShape, anomalies, verify } from '../../bench/torture/workload.js'

const MOUNT_PREFIX = 'spool-diskfull-'
const mounted = new Set<string>()

function unmount (dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'ignore' })
  } catch {
    try { execFileSync('umount', ['-l', dir], { stdio: 'ignore' }) } catch { /* not mounted */ }
  }
  fs.rmSync(dir, { recursive: true, force: true })
  mounted.delete(dir)
}

process.on('exit', () => { for (const dir of [...mounted]) unmount(dir) })

/** Mounts left behind by a run of this file that was killed (its pid is in the name). */
function removeStaleMounts (): void {
  const tmp = os.tmpdir()
  for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const target = line.split(' ')[1]
    if (target === undefined || path.dirname(target) !== tmp || !path.basename(target).startsWith(MOUNT_PREFIX)) continue
    const pid = Number(path.basename(target).slice(MOUNT_PREFIX.length).split('-')[0])
    let alive = false
    try { process.kill(pid, 0); alive = true } catch { /* gone */ }
    if (!alive) unmount(target)
  }
}

/** A tmpfs of `mib` MiB, unmounted at teardown. Fails the test (with what it needs) when it cannot mount. */
function smallDisk (t: Test, mib: number): string | null {
  if (process.getuid?.() !== 0) {
    t.fail('this test fills a real file system: it mounts a tmpfs (mount -t tmpfs -o size=…), which needs root. CI runs it as root; run `npm test` as root.')
    return null
  }
  removeStaleMounts()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${MOUNT_PREFIX}${process.pid}-`))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m`, 'tmpfs', dir], { stdio: 'pipe' })
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true })
    t.fail(`mount -t tmpfs failed: ${(err as Error).message}`)
    return null
  }
  mounted.add(dir)
  t.teardown(() => unmount(dir))
  return dir
}

/** Fills the file system holding `dir` with `dir/filler` until nothing more fits. */
function fill (dir: string): string {
  const file = path.join(dir, 'filler')
  const fd = fs.openSync(file, 'a')
  try {
    for (const size of [1 << 20, 1 << 16, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size, 0x5a)
      try {
        for (let i = 0; i < 1_000_000; i++) fs.writeSync(fd, chunk)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
      }
    }
  } finally {
    fs.closeSync(fd)
  }
  return file
}

interface Health { status: string, storage?: { readOnly: boolean, reason: string | null } }

async function health (httpPort: number): Promise<Health> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/healthz`)
  return await res.json() as Health
}

/** Waits (bounded) until the async predicate holds. */
async function until (what: string, timeoutMs: number, predicate: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
const lines = (out: string, msg: string): number => out.split('\n').filter(l => l.includes(`"msg":"${msg}`)).length

t.test('fill and free under load: read-only while full, only storage errors, writable again by itself, nothing lost', async t => {
  const disk = smallDisk(t, 32)
  if (disk === null) return
  const dataDir = path.join(disk, 'data')
  const b = await spawnBroker(t, dataDir, ['--mqtt-port', 'off', '--segment-bytes', String(1024 * 1024)])
  const address = `127.0.0.1:${b.ports.native}`
  const client = new Client({ brokers: [address] })
  t.teardown(() => client.close())
  await client.admin().createTopics([{ topic: 'df', partitions: 3 }])
  const shape = new RecordShape(11, 12)
  const ledger = new Ledger()
  const fleet = new ProducerFleet(client, { topic: 'df', shape, ledger, outstanding: 16, retry: { retries: 40, initialRetryTimeMs: 50, maxRetryTimeMs: 300 } })
  const failures: string[] = []
  fleet.onFailure = err => { if (failures.length < 10) failures.push(`${err.code}: ${err.message}`) }
  const readers = new GroupReaders([address], 'df', 'df-group', 2)
  t.teardown(() => readers.stop())
  t.teardown(() => fleet.stop())
  fleet.start()
  readers.start()
  const filler = path.join(disk, 'filler')
  try {
    for (let cycle = 0; cycle < 3; cycle++) {
      const ackedBefore = ledger.acked
      await until('records to be acknowledged', 15_000, async () => ledger.acked > ackedBefore + 500)
      fill(disk)
      await until('the broker to go read-only', 10_000, async () => (await health(b.ports.http)).storage?.readOnly === true)
      const h = await health(b.ports.http)
      t.match(h, { status: 'read-only', storage: { readOnly: true, reason: /no space left on device/ } }, `cycle ${cycle}: /healthz says read-only`)
      const deliveredWhileFull = readers.deliveredCount
      await sleep(800)
      t.ok(readers.deliveredCount >= deliveredWhileFull, `cycle ${cycle}: the group keeps reading`)
      fs.rmSync(filler)
      await until('the broker to be writable again', 10_000, async () => (await health(b.ports.http)).storage?.readOnly === false)
      const ackedAtFree = ledger.acked
      await until('sends to resume', 15_000, async () => ledger.acked > ackedAtFree + 200)
    }
  } finally {
    fs.rmSync(filler, { force: true })
    await fleet.stop()
  }
  t.equal(lines(b.stdout(), 'storage is read-only'), 3, 'one read-only line per fill')
  t.equal(lines(b.stdout(), 'storage is writable again'), 3, 'one writable line per free')
  t.same([...ledger.failures.keys()].filter(code => code !== 'KAFKA_STORAGE_ERROR'), [], `sends failed with the storage error only${failures.length > 0 ? ` (${failures[0]})` : ''}`)
  t.equal(ledger.failures.get('OUT_OF_ORDER_SEQUENCE_NUMBER') ?? 0, 0, 'no OUT_OF_ORDER_SEQUENCE_NUMBER (defect 5)')
  const ends = await client.admin().fetchTopicOffsets('df')
  await until('the group to read everything', 20_000, async () => ends.every(e => e.high === 0 || (readers.delivered.get(e.partition) ?? -1) >= e.high - 1))
  await readers.stop()
  const committed = await client.admin().fetchOffsets('df-group', ['df'])
  const verdict = await verify([address], 'df', shape, ledger, committed, readers.delivered)
  t.ok(verdict.checked > 1500, `${verdict.checked} acknowledged records checked`)
  t.equal(anomalies(verdict), 0, `lost ${verdict.lost}, duplicated ${verdict.duplicated}, reordered ${verdict.reordered}, corrupted ${verdict.corrupted}, commits ahead ${verdict.commitsAhead}${verdict.examples.length > 0 ? `: ${verdict.examples.slice(0, 3).join('; ')}` : ''}`)
  t.equal(verdict.unacked, 0, 'no record whose send failed was written')
  b.child.kill('SIGTERM')
  t.equal(await b.exited, 0, 'SIGTERM with space: exit 0')
})

t.test('shutdown and start on a full disk: exit 3 with the marker, start read-only, writable again when space returns', async t => {
  const disk = smallDisk(t, 16)
  if (disk === null) return
  const dataDir = path.join(disk, 'data')
  let b = await spawnBroker(t, dataDir, ['--mqtt-port', 'off'])
  let address = `127.0.0.1:${b.ports.native}`
  let client = new Client({ brokers: [address] })
  await client.admin().createTopics([{ topic: 'd7', partitions: 2 }])
  const producer = client.producer({ acks: 'all' })
  const sent = new Map<string, string>() // "partition@offset" -> value
  for (let i = 0; i < 200; i++) {
    const value = `d7-${i}-${'v'.repeat(i % 50)}`
    const [meta] = await producer.send({ topic: 'd7', messages: [{ key: `k${i % 7}`, value }] })
    sent.set(`${meta!.partition}@${meta!.offset}`, value)
  }
  await producer.close()
  const group = client.consumer({ groupId: 'd7-group', fromBeginning: true, maxWaitMs: 100 })
  await group.subscribe({ topics: ['d7'] })
  t.equal((await collect(group, 200, 15_000)).length, 200, 'the group read everything')
  await group.commit()
  await group.close()
  const committedBefore = (await client.admin().fetchOffsets('d7-group', ['d7'])).map(c => [c.partition, c.offset]).sort()

  const filler = fill(disk)
  const full = client.producer({ acks: 1, retry: { retries: 0 } })
  let refusal: (Error & { code?: string }) | null = null
  for (let i = 0; i < 500 && refusal === null; i++) {
    refusal = await full.send({ topic: 'd7', messages: [{ key: 'k0', value: 'x'.repeat(1000) }] }).then(() => null, (err: Error & { code?: string }) => err)
  }
  t.equal(refusal?.code, 'KAFKA_STORAGE_ERROR', `a send on the full disk fails with the storage error (${refusal?.message ?? 'none failed'})`)
  t.equal((await health(b.ports.http)).storage?.readOnly, true, 'the broker is read-only')
  await full.close().catch(() => {})
  await client.close()

  b.child.kill('SIGTERM')
  t.equal(await b.exited, 3, 'SIGTERM on a full disk: exit 3 (the shutdown was not clean)')
  t.match(b.stderr(), /unclean shutdown: shutdown incomplete: .*could not write .*clean-shutdown marker was written/, 'stderr says what could not be done')
  t.equal(lines(b.stdout(), 'shutdown incomplete'), 1, 'one log line lists it')
  t.ok(fs.existsSync(path.join(dataDir, '.clean-shutdown')), 'every log\'s data was fsynced: the marker was written')
  t.notOk(fs.existsSync(path.join(dataDir, '.lock')), 'the lock was released')

  const readOnlyStart = async (what: string): Promise<void> => {
    fill(disk) // take back what the stop freed (its lock file, temp files)
    b = await spawnBroker(t, dataDir, ['--mqtt-port', 'off'])
    address = `127.0.0.1:${b.ports.native}`
    t.equal(lines(b.stdout(), 'storage is read-only'), 1, `${what}: it starts, and says read-only in one line`)
    t.match(await health(b.ports.http), { status: 'read-only', storage: { readOnly: true } }, `${what}: /healthz says read-only`)
    t.ok(fs.lstatSync(path.join(dataDir, '.lock')).isSymbolicLink(), `${what}: the lock is a symlink (no room for a pid file)`)
    // Few retries: InitProducerId is refused while read-only, and the client would retry it for seconds.
    client = new Client({ brokers: [address], retry: { retries: 1, initialRetryTimeMs: 50 } })
    const reader = client.consumer({ fromBeginning: true, maxWaitMs: 100 })
    await reader.assign({ topic: 'd7' })
    const got = new Map((await collect(reader, sent.size, 15_000)).map(m => [`${m.partition}@${m.offset}`, text(m.value) ?? '']))
    await reader.close()
    t.same(got, sent, `${what}: every record is served, at its offset`)
    t.same((await client.admin().fetchOffsets('d7-group', ['d7'])).map(c => [c.partition, c.offset]).sort(), committedBefore, `${what}: committed offsets are served`)
    const p = client.producer({ acks: 1, retry: { retries: 0 } })
    const err = await p.send({ topic: 'd7', messages: [{ value: 'refused' }] }).then(() => null, (e: Error & { code?: string }) => e)
    t.equal(err?.code, 'KAFKA_STORAGE_ERROR', `${what}: produce is refused with the storage error`)
    t.match(err?.message, /read-only|reserve producer ids/, `${what}: saying why`)
    await p.close().catch(() => {})
    await client.close()
  }
  await readOnlyStart('restart on the full disk')

  // kill -9 on the full disk: the next start recovers the logs without room to rewrite indexes.
  b.child.kill('SIGKILL')
  await b.exited
  await readOnlyStart('restart after kill -9 on the full disk')

  fs.rmSync(filler)
  await until('the broker to be writable again', 10_000, async () => (await health(b.ports.http)).status === 'ok')
  // The line travels through the child's stdout pipe: it may reach us a moment after /healthz answered.
  await until('the log line that storage is writable', 5_000, async () => lines(b.stdout(), 'storage is writable again') > 0)
  t.equal(lines(b.stdout(), 'storage is writable again'), 1, 'one log line says so')
  client = new Client({ brokers: [address] })
  const after = client.producer({ acks: 'all' })
  const [meta] = await after.send({ topic: 'd7', messages: [{ key: 'k1', value: 'after' }] })
  t.ok(meta!.offset >= 0, 'produce works again')
  sent.set(`${meta!.partition}@${meta!.offset}`, 'after')
  await after.close()
  await client.close()
  b.child.kill('SIGTERM')
  t.equal(await b.exited, 0, 'SIGTERM with space: exit 0')

  b = await spawnBroker(t, dataDir, ['--mqtt-port', 'off'])
  t.match(b.stdout(), /"recoveredUncleanly":false/, 'the next start needs no recovery')
  client = new Client({ brokers: [`127.0.0.1:${b.ports.native}`] })
  const reader = client.consumer({ fromBeginning: true, maxWaitMs: 100 })
  await reader.assign({ topic: 'd7' })
  const got = new Map((await collect(reader, sent.size + 1, 3_000)).map(m => [`${m.partition}@${m.offset}`, text(m.value) ?? '']))
  await reader.close()
  await client.close()
  t.same(got, sent, 'every record, once, at its offset')
  b.child.kill('SIGTERM')
  t.equal(await b.exited, 0)
})
