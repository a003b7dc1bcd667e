// LogManager (broker/storage/log-manager.ts): topics created, listed, deleted and validated;
// metadata surviving restarts; crashes between directories and metadata; the data dir
// lock; descriptors bounded across 300 partitions; retention and compaction runs.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import {
  InvalidConfigError, InvalidPartitionsError, InvalidTopicError, StorageError, TopicAlreadyExistsError,
  UnknownTopicOrPartitionError,
} from '../../protocol/errors.js'
import { encodeBatch } from '../../protocol/record-batch/records.js'
import { LogManager, type LogManagerOptions } from '../../broker/storage/log-manager.js'
import { faultPoints } from '../../broker/storage/testing/fault-points.js'
import { utf8 } from '../helpers/bytes.js'
import { FakeClock, batchOf, captureLogger, readAllRecords, silentLogger, tempDir, text, type TestContext } from '../helpers/storage.js'

const T0 = 1_700_000_000_000

async function open (t: TestContext, dataDir: string, extra: Partial<LogManagerOptions> = {}): Promise<LogManager> {
  const manager = await LogManager.open({ dataDir, logger: silentLogger, retentionCheckIntervalMs: 0, compactionIntervalMs: 0, ...extra })
  t.teardown(() => manager.close().catch(() => {}))
  return manager
}

t.test('create, list, use and delete topics', async t => {
  const dataDir = tempDir(t)
  const clock = new FakeClock(T0)
  const manager = await open(t, dataDir, { now: clock.now })
  t.equal(manager.recoveredUncleanly, false, 'a new data dir is not a recovery')
  const info = await manager.createTopic('orders.v1-eu', { partitions: 3, config: { retentionMs: 1000 } })
  t.same(info, { name: 'orders.v1-eu', partitions: 3, config: { ...info.config, retentionMs: 1000 }, internal: false, createdAtMs: T0 })
  t.equal(info.config.segmentBytes, 1073741824, 'defaults fill the rest')
  await manager.createTopic('__consumer_offsets', { partitions: 2, internal: true, config: { cleanupPolicy: 'compact' } })
  t.same(manager.topics().map(x => x.name), ['__consumer_offsets', 'orders.v1-eu'])
  t.ok(manager.hasTopic('orders.v1-eu'))
  t.equal(manager.topic('nope'), undefined)
  const log = manager.partition('orders.v1-eu', 2)
  log.append(batchOf('x', 2))
  t.same((await readAllRecords(log)).map(r => text(r.value)), ['x:0', 'x:1'])
  t.throws(() => manager.partition('orders.v1-eu', 3), UnknownTopicOrPartitionError)
  t.throws(() => manager.partition('nope', 0), UnknownTopicOrPartitionError)
  await t.rejects(manager.createTopic('orders.v1-eu'), TopicAlreadyExistsError)
  const racing = await Promise.allSettled([manager.createTopic('race'), manager.createTopic('race')])
  t.same(racing.map(r => r.status).sort(), ['fulfilled', 'rejected'], 'concurrent creates: one wins')
  t.ok((racing.find(r => r.status === 'rejected') as PromiseRejectedResult).reason instanceof TopicAlreadyExistsError)

  await manager.deleteTopic('orders.v1-eu')
  t.notOk(manager.hasTopic('orders.v1-eu'))
  t.throws(() => manager.partition('orders.v1-eu', 0), UnknownTopicOrPartitionError)
  t.notOk(fs.readdirSync(dataDir).some(n => n.startsWith('orders.v1-eu')), 'directories removed, no -delete left')
  await t.rejects(manager.deleteTopic('orders.v1-eu'), UnknownTopicOrPartitionError)
  const again = await manager.createTopic('orders.v1-eu')
  t.equal(again.partitions, 1, 'a deleted name can be reused')
  t.equal(manager.partition('orders.v1-eu', 0).logEndOffset, 0, 'with an empty log')
})

t.test('topic names, partition counts and configs are validated', async t => {
  const manager = await open(t, tempDir(t), { maxPartitionsPerTopic: 50 })
  const names: Array<[unknown, RegExp]> = [
    ['', /empty/],
    ['a'.repeat(250), /250 characters/],
    ['a/b', /contains "\/"/],
    ['a b', /contains " "/],
    ['ü', /contains "ü"/],
    ['.', /cannot be "."/],
    ['..', /cannot be ".."/],
    ['__private', /reserved for internal topics/],
  ]
  for (const [name, reason] of names) {
    await t.rejects(manager.createTopic(name as string), InvalidTopicError)
    await t.rejects(manager.createTopic(name as string), reason)
  }
  await manager.createTopic('a'.repeat(249))
  await manager.createTopic('A-z_0.9')
  for (const partitions of [0, -1, 1.5, 51, Number.NaN]) {
    await t.rejects(manager.createTopic(`p${String(partitions).replace(/\W/g, '')}`, { partitions }), InvalidPartitionsError, `partitions ${partitions}`)
  }
  await t.rejects(manager.createTopic('c1', { config: { bogus: 1 } as never }), InvalidConfigError)
  await t.rejects(manager.createTopic('c2', { config: { segmentBytes: 'big' } as never }), /segmentBytes must be an integer/)
  t.same(manager.topics().map(x => x.name).sort(), ['A-z_0.9', 'a'.repeat(249)], 'nothing else was created')
  await t.rejects(manager.updateTopicConfig('A-z_0.9', { retentionMs: -5 }), InvalidConfigError)
  await t.rejects(manager.updateTopicConfig('missing', { retentionMs: 5 }), UnknownTopicOrPartitionError)
})

t.test('metadata and data survive a restart; config updates are persisted and applied', async t => {
  const dataDir = tempDir(t)
  let manager = await LogManager.open({ dataDir, logger: silentLogger, retentionCheckIntervalMs: 0, compactionIntervalMs: 0, defaults: { segmentBytes: 4096 } })
  await manager.createTopic('events', { partitions: 2, config: { retentionBytes: 100000 } })
  await manager.createTopic('__state', { internal: true, config: { cleanupPolicy: 'compact' } })
  manager.partition('events', 1).append(batchOf('e', 3))
  const updated = await manager.updateTopicConfig('events', { retentionMs: 60000 })
  t.equal(updated.config.retentionMs, 60000)
  t.equal(manager.partition('events', 0).config.retentionMs, 60000, 'applied to the logs')
  const before = manager.topics()
  await manager.close()
  t.ok(fs.existsSync(path.join(dataDir, '.clean-shutdown')), 'clean-shutdown marker written')
  t.notOk(fs.existsSync(path.join(dataDir, '.lock')), 'lock released')
  manager = await open(t, dataDir, { defaults: { segmentBytes: 4096 } })
  t.notOk(fs.existsSync(path.join(dataDir, '.clean-shutdown')), 'marker removed while open')
  t.equal(manager.recoveredUncleanly, false)
  t.same(manager.topics(), before, 'topics, overrides, internal flag and creation time')
  t.equal(manager.topic('events')?.config.segmentBytes, 4096, 'broker defaults apply under the overrides')
  t.same((await readAllRecords(manager.partition('events', 1))).map(r => text(r.value)), ['e:0', 'e:1', 'e:2'])
})

t.test('a crash between creating directories and writing metadata does not stop the next start', async t => {
  const dataDir = tempDir(t)
  const snapshot = tempDir(t)
  const manager = await open(t, dataDir)
  await manager.createTopic('kept')
  manager.partition('kept', 0).append(batchOf('k', 1))
  await manager.partition('kept', 0).sync()
  // Take a copy of the data dir at the fault point: that is what a crash would leave.
  faultPoints.arm('topics.beforeCreateMetadata', () => fs.cpSync(dataDir, snapshot, { recursive: true }), { times: 1 })
  t.teardown(() => faultPoints.reset())
  await manager.createTopic('half', { partitions: 2 })
  t.ok(fs.existsSync(path.join(snapshot, 'half-1')), 'the copy holds the new directories')
  fs.mkdirSync(path.join(snapshot, 'old-0.xyz-delete'))
  const { logger, lines } = captureLogger()
  const recovered = await open(t, snapshot, { logger })
  t.equal(recovered.recoveredUncleanly, true, 'no marker: recovered')
  t.same(recovered.topics().map(x => x.name), ['kept'])
  t.notOk(fs.existsSync(path.join(snapshot, 'half-0')), 'orphan directories removed')
  t.notOk(fs.existsSync(path.join(snapshot, 'old-0.xyz-delete')), 'unfinished deletions removed')
  t.ok(lines.some(l => l.level === 40 && l.dir === 'half-0'))
  t.equal((await readAllRecords(recovered.partition('kept', 0))).length, 1)
  await recovered.createTopic('half', { partitions: 2 })
  t.equal(recovered.partition('half', 1).logEndOffset, 0)

  // Same for a delete: metadata written, directories not yet renamed.
  const snapshot2 = tempDir(t)
  faultPoints.arm('topics.afterDeleteMetadata', () => fs.cpSync(snapshot, snapshot2, { recursive: true }), { times: 1 })
  await recovered.deleteTopic('half')
  const afterDelete = await open(t, snapshot2)
  t.same(afterDelete.topics().map(x => x.name), ['kept'])
  t.notOk(fs.readdirSync(snapshot2).some(n => n.startsWith('half')))
})

t.test('damaged or missing metadata refuses to start instead of guessing', async t => {
  const dataDir = tempDir(t)
  const manager = await LogManager.open({ dataDir, logger: silentLogger, retentionCheckIntervalMs: 0, compactionIntervalMs: 0 })
  await manager.createTopic('x')
  await manager.close()
  const file = path.join(dataDir, 'topics.json')
  const good = fs.readFileSync(file)
  fs.writeFileSync(file, good.toString().replace('"x"', '"y"'))
  await t.rejects(LogManager.open({ dataDir, logger: silentLogger }), StorageError)
  fs.rmSync(file)
  await t.rejects(LogManager.open({ dataDir, logger: silentLogger }), /topics.json is missing/)
  fs.writeFileSync(file, good)
  const ok = await open(t, dataDir)
  t.ok(ok.hasTopic('x'))
})

t.test('the data dir lock refuses a second owner and takes over a stale one', async t => {
  const dataDir = tempDir(t)
  const first = await open(t, dataDir)
  await t.rejects(LogManager.open({ dataDir, logger: silentLogger }), /already open in this process/)
  await first.close()

  const other = tempDir(t)
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' })
  t.teardown(() => { child.kill('SIGKILL') })
  fs.writeFileSync(path.join(other, '.lock'), `${child.pid}\n`)
  await t.rejects(LogManager.open({ dataDir: other, logger: silentLogger }), new RegExp(`locked by running process ${child.pid}`))
  child.kill('SIGKILL')
  await new Promise(resolve => child.once('exit', resolve))
  const { logger, lines } = captureLogger()
  const taken = await open(t, other, { logger })
  t.ok(lines.some(l => l.msg === 'taking over a stale data dir lock'))
  t.equal(fs.readFileSync(path.join(other, '.lock'), 'utf8').trim(), String(process.pid))
  await taken.close()
})

t.test('a lock held by a zombie (killed, not yet reaped) is stale', async t => {
  // A perl parent forks a child that exits at once and never waits for it: the child stays a
  // zombie, as a kill -9'd broker does under an init that is slow to reap. (A shell was used
  // before; dash may reap its background child before its `exec`, and then there was no zombie.)
  const parent = spawn('perl', ['-e', '$| = 1; my $p = fork(); if ($p == 0) { exit 0 } print "$p\\n"; sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] })
  t.teardown(() => { parent.kill('SIGKILL') })
  const zombiePid = await new Promise<number>(resolve => parent.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))))
  const deadline = Date.now() + 5000
  const state = (): string => { try { const s = fs.readFileSync(`/proc/${zombiePid}/stat`, 'utf8'); return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3) } catch { return '?' } }
  while (state() !== 'Z' && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  t.equal(state(), 'Z', 'the child is a zombie')
  const dataDir = tempDir(t)
  fs.writeFileSync(path.join(dataDir, '.lock'), `${zombiePid}\n`)
  const manager = await open(t, dataDir)
  t.equal(fs.readFileSync(path.join(dataDir, '.lock'), 'utf8').trim(), String(process.pid), 'the lock was taken over')
  await manager.close()
})

t.test('300 partitions with maxOpenFiles 50: descriptors stay bounded while every partition is read', async t => {
  const dataDir = tempDir(t)
  const manager = await open(t, dataDir, { maxOpenFiles: 50, defaults: { segmentBytes: 1024 } })
  for (const name of ['a', 'b', 'c']) await manager.createTopic(name, { partitions: 100 })
  const logs = ['a', 'b', 'c'].flatMap(name => Array.from({ length: 100 }, (_, p) => manager.partition(name, p)))
  let max = 0
  const sample = (): void => { max = Math.max(max, manager.fileHandles.openCount) }
  for (let round = 0; round < 5; round++) {
    for (const log of logs) {
      log.append(batchOf(`${log.topic}${log.partition}r${round}`, 10))
      sample()
    }
  }
  t.ok(logs.every(l => l.segmentCount > 1), 'every partition has rolled segments')
  let sampling = true
  const poll = async (): Promise<void> => {
    for (let i = 0; sampling && i < 1_000_000; i++) {
      sample()
      await new Promise(resolve => setImmediate(resolve))
    }
  }
  const polling = poll()
  const results = await Promise.all(logs.map(async log => {
    const records = await readAllRecords(log, 0, 300)
    sample()
    return records.length
  }))
  sampling = false
  await polling
  t.ok(results.every(n => n === 50), 'every record of every partition read')
  t.ok(max <= 50, `open descriptors peaked at ${max}`)
  t.ok(manager.fileHandles.openCount <= 50)
})

t.test('runRetention and runCompaction act on the right topics', async t => {
  const dataDir = tempDir(t)
  const clock = new FakeClock(T0)
  const manager = await open(t, dataDir, { now: clock.now, defaults: { segmentBytes: 1024 } })
  await manager.createTopic('timed', { config: { retentionMs: 1000 } })
  await manager.createTopic('keyed', { config: { cleanupPolicy: 'compact', minCleanableDirtyRatio: 0 } })
  const timed = manager.partition('timed', 0)
  const keyed = manager.partition('keyed', 0)
  for (let i = 0; i < 40; i++) {
    timed.append(batchOf(`t${i}`, 3, { timestamp: T0 }))
    keyed.append(encodeBatch([{ key: utf8(`k${i % 3}`), value: utf8(`v${i}`), timestamp: T0 }]))
  }
  keyed.roll()
  clock.advance(5000)
  await Promise.all([manager.runRetention(), manager.runRetention()])
  t.ok(timed.logStartOffset > 0, 'retention ran on the delete topic')
  t.equal(keyed.logStartOffset, 0, 'not on the compacted one')
  await manager.runCompaction()
  t.same((await readAllRecords(keyed)).map(r => text(r.value)), ['v37', 'v38', 'v39'])
})
