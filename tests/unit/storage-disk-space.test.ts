// A write that fails (a full disk, simulated here at the storage's fault points with the
// error Node raises, ENOSPC; tests/integration/disk-full.test.ts does it on a real tmpfs):
// - the failed-append invariant, over random operation sequences: after any failed append
//   the partition's producer state, offsets and .log files are exactly as before (a roll
//   that succeeded before the write failed may leave an empty new segment); a
//   retry of the same batch once space is back is written once; a "duplicate" answer is only
//   ever given for a batch that is in the log, at the offsets answered, with its bytes;
// - read-only mode (broker/storage/disk-space.ts): entered on the first no-space error,
//   refuses appends and topic creation, keeps reads, duplicate answers and events, left by
//   the probe; a LogManager opening without enough free space starts read-only;
// - shutdown on a full disk: every log is closed as far as it goes, the marker is written
//   when every log's data is fsynced, close() says what could not be done, the next open
//   rebuilds what is missing.
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { StorageError } from '../../protocol/errors.js'
import { readBatchHeader } from '../../protocol/record-batch/header.js'
import { decodeBatch, encodeBatch, forEachBatch } from '../../protocol/record-batch/records.js'
import { DEFAULT_LOG_CONFIG } from '../../broker/storage/config.js'
import { DiskSpace, isNoSpaceError } from '../../broker/storage/disk-space.js'
import { FileHandleCache } from '../../broker/storage/file-handle-cache.js'
import { LogManager, type LogManagerOptions } from '../../broker/storage/log-manager.js'
import { PartitionLog } from '../../broker/storage/partition-log.js'
import { faultPoints } from '../../broker/storage/testing/fault-points.js'
import { rng, utf8 } from '../helpers/bytes.js'
import { batchOf, captureLogger, hashDir, readAllRecords, silentLogger, tempDir, text, type TestContext } from '../helpers/storage.js'

function noSpace (): Error {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' })
}

const throwNoSpace = (): void => { throw noSpace() }

async function openLog (t: TestContext, dir: string, disk: DiskSpace, recover = false): Promise<PartitionLog> {
  const log = await PartitionLog.open({
    dir, topic: 't', partition: 0, logger: silentLogger, recover, handles: new FileHandleCache(32), disk,
    config: { ...DEFAULT_LOG_CONFIG, segmentBytes: 4096, indexIntervalBytes: 256 },
  })
  t.teardown(() => log.close().catch(() => {}))
  return log
}

/** Sizes of the .log files: what a failed append must not change (index files and snapshots are caches). */
function logFiles (dir: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const name of fs.readdirSync(dir).sort()) if (name.endsWith('.log')) out[name] = fs.statSync(path.join(dir, name)).size
  return out
}

/**
 * A failed append may leave one thing behind: the roll that came before the write (an empty
 * new active segment at the log end offset), as Kafka's does. Removes it from `after`.
 */
function withoutEmptyRoll (before: { segments: number[], files: Record<string, number> }, after: { leo: number, segments: number[], files: Record<string, number> }): void {
  const name = `${String(after.leo).padStart(20, '0')}.log`
  if (after.segments.length === before.segments.length + 1 && after.segments.at(-1) === after.leo && after.files[name] === 0 && before.files[name] === undefined) {
    after.segments.pop()
    delete after.files[name]
  }
}

interface Sent { pid: number, seq: number, count: number, tag: string, bytes: Uint8Array }

function makeBatch (pid: number, seq: number, count: number, tag: string): Sent {
  const records = Array.from({ length: count }, (_, j) => ({ key: utf8(`k${j}`), value: utf8(`${tag}:${j}:${'v'.repeat(40 + (seq * 7 + j) % 90)}`), timestamp: 1_700_000_000_000 + seq }))
  return { pid, seq, count, tag, bytes: encodeBatch(records, { producerId: pid, producerEpoch: 0, baseSequence: seq }) }
}

t.test('isNoSpaceError looks through causes', async t => {
  t.ok(isNoSpaceError(noSpace()))
  t.ok(isNoSpaceError(new StorageError('write failed', { cause: noSpace() })))
  t.ok(isNoSpaceError(Object.assign(new Error('quota'), { code: 'EDQUOT' })))
  t.notOk(isNoSpaceError(Object.assign(new Error('io'), { code: 'EIO' })))
  t.notOk(isNoSpaceError('ENOSPC'))
})

t.test('failed appends leave the partition exactly as it was; retries are written once; duplicates are in the log', async t => {
  t.teardown(() => faultPoints.reset())
  const random = rng(5)
  const dir = tempDir(t)
  const { logger } = captureLogger()
  const disk = new DiskSpace({ dir, logger })
  t.teardown(() => disk.stop())
  let log = await openLog(t, dir, disk)
  const pids = [301, 302, 303]
  const nextSeq = new Map(pids.map(p => [p, 0]))
  /** Batches the log acknowledged, by "pid:seq". */
  const written = new Map<string, { sent: Sent, base: number }>()
  const pendingRetry: Sent[] = []
  let failures = 0
  let duplicates = 0
  let problems = 0
  const points = ['segment.midWrite', 'segment.midWrite', 'segment.midWrite', 'roll.beforeCreate', 'snapshot.midWrite']
  for (let op = 0; op < 600; op++) {
    const r = random()
    let sent: Sent
    if (pendingRetry.length > 0 && r < 0.3) {
      sent = pendingRetry.shift()!
    } else if (written.size > 0 && r < 0.4) {
      // A retry of an acknowledged batch (its answer was lost): one of the producer's last 5.
      const pid = pids[Math.floor(random() * pids.length)]!
      const mine = [...written.values()].filter(w => w.sent.pid === pid).slice(-5)
      if (mine.length === 0) continue
      sent = mine[Math.floor(random() * mine.length)]!.sent
    } else {
      const pid = pids[Math.floor(random() * pids.length)]!
      if (pendingRetry.some(p => p.pid === pid)) continue // a producer retries its failed batch first
      const count = 1 + Math.floor(random() * 6)
      sent = makeBatch(pid, nextSeq.get(pid)!, count, `${pid}:${op}`)
      nextSeq.set(pid, sent.seq + count)
    }
    const fail = random() < 0.3
    const point = points[Math.floor(random() * points.length)]!
    if (fail) faultPoints.arm(point, throwNoSpace, { times: 1 })
    const before = {
      leo: log.logEndOffset, hw: log.highWatermark, segments: log.segmentBaseOffsets(), files: logFiles(dir),
      producers: pids.map(p => log.producerState(p)),
    }
    let result: ReturnType<PartitionLog['append']> | null = null
    let error: unknown = null
    try {
      result = log.append(sent.bytes.slice())
    } catch (err) {
      error = err
    }
    faultPoints.reset()
    if (error !== null) {
      failures++
      if (!(error instanceof StorageError)) problems++
      const after = {
        leo: log.logEndOffset, hw: log.highWatermark, segments: log.segmentBaseOffsets(), files: logFiles(dir),
        producers: pids.map(p => log.producerState(p)),
      }
      withoutEmptyRoll(before, after)
      if (JSON.stringify(after) !== JSON.stringify(before)) {
        problems++
        t.fail(`op ${op}: a failed append changed the log: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`)
      }
      if (!pendingRetry.includes(sent) && !written.has(`${sent.pid}:${sent.seq}`)) pendingRetry.push(sent)
      // Space is back (the real disk has plenty): the probe makes the log writable again.
      if (!disk.readOnly) {
        problems++
        t.fail(`op ${op}: a no-space error did not make the directory read-only`)
      }
      disk.probe()
      continue
    }
    const key = `${sent.pid}:${sent.seq}`
    if (result!.duplicate) {
      duplicates++
      const w = written.get(key)
      if (w === undefined || w.base !== result!.baseOffset) {
        problems++
        t.fail(`op ${op}: duplicate answer for ${key} at ${result!.baseOffset}, which the log does not hold there`)
        continue
      }
      // The batch answered as a duplicate is in the log at that offset with these bytes.
      const read = await log.read(result!.baseOffset, 1 << 20)
      const h = readBatchHeader(read.bytes, 0)
      const stored = decodeBatch(read.bytes, 0).records.map(x => text(x.value))
      const mine = decodeBatch(sent.bytes, 0).records.map(x => text(x.value))
      if (h.producerId !== sent.pid || h.baseSequence !== sent.seq || JSON.stringify(stored) !== JSON.stringify(mine)) {
        problems++
        t.fail(`op ${op}: the duplicate of ${key} is not what the log holds`)
      }
    } else {
      if (written.has(key)) {
        problems++
        t.fail(`op ${op}: ${key} was written twice`)
      }
      if (result!.baseOffset !== before.leo) problems++
      written.set(key, { sent, base: result!.baseOffset })
      const at = pendingRetry.indexOf(sent)
      if (at >= 0) pendingRetry.splice(at, 1)
    }
    if (op % 97 === 96) {
      // Reopen (clean, or as after a crash): the state holds on disk as well.
      const recover = op % 2 === 0
      await log.close().catch(() => {})
      log = await openLog(t, dir, disk, recover)
    }
  }
  t.ok(failures > 40, `failures were injected (${failures})`)
  t.ok(duplicates > 20, `duplicates were answered (${duplicates})`)
  t.equal(problems, 0, 'no failed append changed anything, nothing was written twice, every duplicate is in the log')
  // Every acknowledged batch is in the log exactly once at its offset; nothing else is.
  const records = await readAllRecords(log)
  const expected = [...written.values()].sort((a, b) => a.base - b.base)
    .flatMap(w => decodeBatch(w.sent.bytes, 0).records.map((r, j) => `${w.base + j}=${text(r.value)}`))
  t.same(records.map(r => `${r.offset}=${text(r.value)}`), expected, 'the log is exactly the acknowledged batches, in order')
  // Producer state agrees with the log: each producer's next sequence follows its last written batch.
  for (const pid of pids) {
    const last = [...written.values()].filter(w => w.sent.pid === pid).sort((a, b) => a.sent.seq - b.sent.seq).at(-1)
    t.equal(log.producerState(pid)?.batches.at(-1)?.lastSeq, last === undefined ? undefined : last.sent.seq + last.sent.count - 1, `producer ${pid}: last sequence`)
  }
  t.notOk(fs.readdirSync(dir).some(n => n.endsWith('.tmp')), 'no temp file left behind')
})

async function openManager (t: TestContext, dataDir: string, extra: Partial<LogManagerOptions> = {}): Promise<LogManager> {
  const manager = await LogManager.open({ dataDir, logger: silentLogger, retentionCheckIntervalMs: 0, compactionIntervalMs: 0, diskProbeIntervalMs: 60_000, ...extra })
  t.teardown(() => manager.close().catch(() => {}))
  return manager
}

t.test('read-only mode: entered on a no-space error, refuses writes, keeps reads and duplicates, left by the probe', async t => {
  t.teardown(() => faultPoints.reset())
  const dataDir = tempDir(t)
  const { logger, lines } = captureLogger()
  const manager = await openManager(t, dataDir, { logger })
  await manager.createTopic('a', { partitions: 2 })
  await manager.createTopic('c', { partitions: 1, config: { cleanupPolicy: 'compact' } })
  await manager.createTopic('r', { partitions: 1, config: { segmentBytes: 1024, retentionBytes: 2048 } })
  const r0 = manager.partition('r', 0)
  for (let i = 0; i < 40; i++) r0.append(batchOf(`r${i}`, 2))
  const events: boolean[] = []
  manager.onReadOnlyChange(s => events.push(s.readOnly))
  const a0 = manager.partition('a', 0)
  const a1 = manager.partition('a', 1)
  const idem = encodeBatch([{ key: null, value: utf8('once'), timestamp: 1 }], { producerId: 9, producerEpoch: 0, baseSequence: 0 })
  t.equal(a1.append(idem.slice()).duplicate, false)
  a0.append(batchOf('before', 3))
  t.equal(manager.readOnly, false)

  faultPoints.arm('segment.midWrite', throwNoSpace, { times: 1 })
  t.throws(() => a0.append(batchOf('full', 2)), StorageError, 'the write fails')
  t.equal(manager.readOnly, true, 'the data directory is read-only')
  t.match(manager.diskState, { readOnly: true, reason: /no space left on device/ })
  t.same(events, [true], 'one event')
  t.equal(lines.filter(l => l.msg.startsWith('storage is read-only')).length, 1, 'one log line')

  const files = hashDir(dataDir)
  t.throws(() => a1.append(batchOf('other partition', 1)), /read-only/, 'another partition is refused too')
  t.throws(() => a0.append(batchOf('again', 1)), /read-only/)
  t.same(hashDir(dataDir), files, 'refused appends write nothing')
  t.same(a1.append(idem.slice()), { ...a1.append(idem.slice()), duplicate: true, baseOffset: 0 }, 'a retry of a written batch is still answered as a duplicate')
  t.same((await readAllRecords(a0)).map(r => text(r.value)), ['before:0', 'before:1', 'before:2'], 'reads go on')
  await t.rejects(manager.createTopic('new'), /read-only/, 'topic creation is refused')
  t.equal(await manager.partition('c', 0).compact(), null, 'compaction is skipped')
  const segments = r0.segmentCount
  await manager.runRetention()
  t.ok(r0.segmentCount < segments && r0.logStartOffset > 0, `retention still deletes segments, freeing space (${segments} -> ${r0.segmentCount})`)

  t.equal(manager.probeDiskSpace(), true, 'space is back')
  t.equal(manager.readOnly, false)
  t.same(events, [true, false])
  t.equal(lines.filter(l => l.msg === 'storage is writable again').length, 1)
  t.equal(a0.append(batchOf('after', 1)).baseOffset, 3, 'appends resume where the log ended')
  t.notOk(fs.readdirSync(dataDir).includes('.space-probe.tmp'), 'the probe file is gone')
})

t.test('a LogManager opening without enough free space starts read-only', async t => {
  const dataDir = tempDir(t)
  const first = await LogManager.open({ dataDir, logger: silentLogger, retentionCheckIntervalMs: 0, compactionIntervalMs: 0 })
  await first.createTopic('a')
  first.partition('a', 0).append(batchOf('x', 2))
  await first.close()
  const { logger, lines } = captureLogger()
  // More free space required than any disk has: the same as opening on a full one.
  const manager = await openManager(t, dataDir, { logger, minFreeBytes: Number.MAX_SAFE_INTEGER })
  t.equal(manager.readOnly, true)
  t.match(lines.find(l => l.msg.startsWith('storage is read-only')), { reason: /free at start/ })
  t.throws(() => manager.partition('a', 0).append(batchOf('y', 1)), /read-only/)
  t.same((await readAllRecords(manager.partition('a', 0))).map(r => text(r.value)), ['x:0', 'x:1'])
  t.equal(manager.probeDiskSpace(), false, 'still not enough space')
  t.equal(manager.readOnly, true)
})

t.test('shutdown on a full disk: every log closes as far as it can, the marker is written when the data is safe', async t => {
  t.teardown(() => faultPoints.reset())
  const dataDir = tempDir(t)
  const { logger, lines } = captureLogger()
  const manager = await LogManager.open({ dataDir, logger, retentionCheckIntervalMs: 0, compactionIntervalMs: 0 })
  await manager.createTopic('a', { partitions: 3 })
  const idem = (seq: number): Uint8Array => encodeBatch([{ key: null, value: utf8(`i${seq}`), timestamp: 1 }], { producerId: 4, producerEpoch: 0, baseSequence: seq })
  for (let p = 0; p < 3; p++) for (let s = 0; s < 3; s++) manager.partition('a', p).append(idem(s))
  // Snapshots and index files cannot be written (no space), the data fsync works.
  faultPoints.arm('close.beforeSnapshot', throwNoSpace)
  faultPoints.arm('snapshot.midWrite', throwNoSpace)
  const err = await manager.close().then(() => null, (e: unknown) => e)
  faultPoints.reset()
  t.type(err, StorageError, 'close() says the shutdown was incomplete')
  t.match((err as Error).message, /shutdown incomplete: 3 of 3 logs could not write producer snapshot.*clean-shutdown marker was written/)
  t.ok(fs.existsSync(path.join(dataDir, '.clean-shutdown')), 'the marker was written: all data is fsynced')
  t.notOk(fs.existsSync(path.join(dataDir, '.lock')), 'the lock was released')
  const line = lines.find(l => l.msg === 'shutdown incomplete')
  t.match(line, { failedLogs: 3, markerWritten: true, dataDurable: true, steps: ['producer snapshot'] })
  t.notOk(fs.readdirSync(path.join(dataDir, 'a-0')).some(n => n.endsWith('.tmp')), 'no temp file left behind')

  const again = await openManager(t, dataDir)
  t.equal(again.recoveredUncleanly, false, 'the next start needs no recovery')
  for (let p = 0; p < 3; p++) {
    const log = again.partition('a', p)
    t.equal(log.append(idem(2)).duplicate, true, `a-${p}: producer state rebuilt without the snapshot`)
    t.equal(log.append(idem(3)).baseOffset, 3)
  }
})

t.test('shutdown when the data cannot be fsynced: no marker, the next open recovers', async t => {
  t.teardown(() => faultPoints.reset())
  const dataDir = tempDir(t)
  const manager = await LogManager.open({ dataDir, logger: silentLogger, retentionCheckIntervalMs: 0, compactionIntervalMs: 0 })
  await manager.createTopic('a', { partitions: 2 })
  manager.partition('a', 0).append(batchOf('x', 2))
  manager.partition('a', 1).append(batchOf('y', 2))
  faultPoints.arm('sync.beforeFdatasync', () => { throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }) }, { times: 1 })
  const err = await manager.close().then(() => null, (e: unknown) => e)
  faultPoints.reset()
  t.match((err as Error).message, /shutdown incomplete: 1 of 2 logs could not write fsync.*no clean-shutdown marker/)
  t.notOk(fs.existsSync(path.join(dataDir, '.clean-shutdown')))
  const again = await openManager(t, dataDir)
  t.equal(again.recoveredUncleanly, true)
  t.same((await readAllRecords(again.partition('a', 1))).map(r => text(r.value)), ['y:0', 'y:1'], 'the other log closed normally')
})

t.test('a roll that cannot write the old segment\'s index files leaves the segment active and usable', async t => {
  t.teardown(() => faultPoints.reset())
  const dir = tempDir(t)
  const disk = new DiskSpace({ dir, logger: silentLogger })
  t.teardown(() => disk.stop())
  const log = await openLog(t, dir, disk)
  let count = 0
  while (log.segmentCount === 1 && count < 200) log.append(batchOf(`r${count++}`, 4))
  // The next roll's new .log cannot be created: nothing changes, the old segment takes writes again later.
  faultPoints.arm('roll.beforeCreate', throwNoSpace, { times: 1 })
  let failedAt = -1
  let segmentsBefore: number[] = []
  for (let i = 0; i < 200 && failedAt < 0; i++) {
    const leo = log.logEndOffset
    segmentsBefore = log.segmentBaseOffsets()
    try {
      log.append(batchOf(`s${i}`, 4))
    } catch {
      failedAt = leo
    }
  }
  t.ok(failedAt >= 0, 'a roll failed')
  t.equal(log.logEndOffset, failedAt)
  t.same(log.segmentBaseOffsets(), segmentsBefore, 'segments as before the failed roll')
  t.notOk(fs.existsSync(path.join(dir, `${String(failedAt).padStart(20, '0')}.log`)), 'no new segment file')
  disk.probe()
  const r = log.append(batchOf('after', 4))
  t.equal(r.baseOffset, failedAt, 'the next append takes the failed one\'s offsets')
  const all = await readAllRecords(log)
  t.equal(all.length, log.logEndOffset, 'every offset readable, no gap')
  t.equal(all.at(-1)!.offset, log.logEndOffset - 1)
  let bad = 0
  for (const name of fs.readdirSync(dir).filter(n => n.endsWith('.log'))) {
    const bytes = fs.readFileSync(path.join(dir, name))
    if (forEachBatch(bytes, () => {}) !== bytes.length) bad++
  }
  t.equal(bad, 0, 'every .log holds whole batches only')
})
