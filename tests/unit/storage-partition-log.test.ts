// PartitionLog: append validation leaves the directory untouched, reads across many segments
// and index intervals, KIP-74, timestamp lookups, retention, DeleteRecords, group commit
// and idempotent-producer state (broker/storage/partition-log.ts).
import fs from 'node:fs'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import t from 'tap'
import {
  CorruptRecordError, InvalidProducerEpochError, InvalidRecordError, LogClosedError, MessageTooLargeError,
  OffsetOutOfRangeError, OutOfOrderSequenceError, UnsupportedCompressionTypeError,
} from '../../protocol/errors.js'
import {
  BATCH_HEADER_SIZE, Compression, OFFSET_ATTRIBUTES, OFFSET_LAST_OFFSET_DELTA, OFFSET_MAGIC, OFFSET_RECORDS_COUNT, readBatchHeader, updateCrc,
} from '../../protocol/record-batch/header.js'
import { encodeBatch, encodeBatchCompressed, forEachBatch } from '../../protocol/record-batch/records.js'
import { installNodeCodecs } from '../../platform/node-codecs.js'
import { faultPoints } from '../../broker/storage/testing/fault-points.js'
import { rng, utf8 } from '../helpers/bytes.js'
import {
  FakeClock, batchOf, captureLogger, concat, hashDir, openLog, readAllRecords, tempDir, text,
} from '../helpers/storage.js'

installNodeCodecs()

const T0 = 1_700_000_000_000

t.test('bad batches are rejected with a named error and the directory stays byte-for-byte unchanged', async t => {
  const dir = tempDir(t)
  const log = await openLog({ dir, config: { segmentBytes: 1024, maxBatchBytes: 2000 } })
  t.teardown(() => log.close())
  for (let i = 0; i < 12; i++) log.append(batchOf(`a${i}`, 5))
  const compacted = await openLog({ dir: path.join(dir, 'c'), config: { cleanupPolicy: 'compact' } })
  t.teardown(() => compacted.close())
  compacted.append(batchOf('c', 2))

  const good = batchOf('x', 3)
  const badCrc = good.slice()
  badCrc[badCrc.length - 1] ^= 0xff
  const badMagic = good.slice()
  badMagic[OFFSET_MAGIC] = 1
  const badCount = good.slice()
  new DataView(badCount.buffer).setInt32(OFFSET_RECORDS_COUNT, 4)
  new DataView(badCount.buffer).setInt32(OFFSET_LAST_OFFSET_DELTA, 3)
  updateCrc(badCount, 0, badCount.length)
  const tooBig = encodeBatch([{ value: new Uint8Array(2500) }])
  const nullKey = encodeBatch([{ key: utf8('k'), value: utf8('v') }, { key: null, value: utf8('v') }])
  const gzipped = await encodeBatchCompressed([{ key: utf8('k'), value: utf8('v') }], Compression.gzip)

  /** `batch` with other compression bits (CRC refreshed): records left as they are. */
  const withAttributes = (batch: Uint8Array, compression: number): Uint8Array => {
    const b = batch.slice()
    b[OFFSET_ATTRIBUTES + 1] = (b[OFFSET_ATTRIBUTES + 1]! & ~7) | compression
    updateCrc(b, 0, b.length)
    return b
  }
  /** A gzip batch whose decompressed records section is `records` (count in the header). */
  const gzipOver = async (records: Uint8Array, count: number): Promise<Uint8Array> => {
    const shell = await encodeBatchCompressed([{ value: utf8('x') }], Compression.gzip)
    const blob = gzipSync(records)
    const b = new Uint8Array(BATCH_HEADER_SIZE + blob.length)
    b.set(shell.subarray(0, BATCH_HEADER_SIZE))
    b.set(blob, BATCH_HEADER_SIZE)
    new DataView(b.buffer).setInt32(8, b.length - 12)
    new DataView(b.buffer).setInt32(OFFSET_RECORDS_COUNT, count)
    new DataView(b.buffer).setInt32(OFFSET_LAST_OFFSET_DELTA, count - 1)
    updateCrc(b, 0, b.length)
    return b
  }
  const cases: Array<[string, typeof log, Uint8Array, new (...a: never[]) => Error]> = [
    ['wrong CRC', log, badCrc, CorruptRecordError],
    ['wrong magic', log, badMagic, CorruptRecordError],
    ['length shorter than the bytes', log, concat(good, new Uint8Array(7)), CorruptRecordError],
    ['length longer than the bytes', log, good.subarray(0, good.length - 5), CorruptRecordError],
    ['record count disagrees with the records', log, badCount, InvalidRecordError],
    ['over maxBatchBytes', log, tooBig, MessageTooLargeError],
    ['good batch followed by a corrupt one', log, concat(batchOf('y', 2), badCrc), CorruptRecordError],
    ['null key on a compacted topic', compacted, nullKey, InvalidRecordError],
    ['compressed batch on a compacted topic', compacted, gzipped, InvalidRecordError],
    ['empty payload', log, new Uint8Array(0), InvalidRecordError],
    ['gzip attribute over records that are not gzip', log, withAttributes(good, Compression.gzip), InvalidRecordError],
    ['zstd attribute over records that are not zstd', log, withAttributes(good, Compression.zstd), InvalidRecordError],
    ['codec bits 5 (no such codec)', log, withAttributes(good, 5), UnsupportedCompressionTypeError],
    ['gzip whose records are garbage', log, await gzipOver(new Uint8Array(20).fill(0xff), 1), CorruptRecordError],
  ]
  for (const [name, target, payload, errorClass] of cases) {
    const before = hashDir(dir)
    const leo = target.logEndOffset
    const segments = target.segmentCount
    const copy = payload.slice()
    t.throws(() => target.append(payload), errorClass, name)
    t.same(hashDir(dir), before, `${name}: files unchanged`)
    t.equal(target.logEndOffset, leo, `${name}: log end offset unchanged`)
    t.equal(target.segmentCount, segments, `${name}: no roll`)
    t.same(payload, copy, `${name}: payload not rewritten`)
  }
  t.equal(log.append(batchOf('z', 1)).baseOffset, 60, 'appending continues at the right offset')
  await log.close()
  t.throws(() => log.append(batchOf('late', 1)), LogClosedError)
  await t.rejects(log.read(0, 100), LogClosedError)
})

interface Appended { base: number, last: number, tag: string, count: number, timestamps: number[] }

/** Appends `n` batches of 1-8 records with growing (occasionally equal or earlier) timestamps. */
function fill (log: Awaited<ReturnType<typeof openLog>>, n: number, seed: number): Appended[] {
  const random = rng(seed)
  const out: Appended[] = []
  let ts = T0
  for (let i = 0; i < n; i++) {
    const count = 1 + Math.floor(random() * 8)
    const timestamps: number[] = []
    const records = []
    for (let j = 0; j < count; j++) {
      ts += Math.floor(random() * 3) * 10 - (random() < 0.05 ? 25 : 0)
      timestamps.push(ts)
      records.push({ key: utf8(`k${i}`), value: utf8(`b${i}:${j}:${'v'.repeat(Math.floor(random() * 60))}`), timestamp: ts })
    }
    const r = log.append(encodeBatch(records))
    out.push({ base: r.baseOffset, last: r.lastOffset, tag: `b${i}`, count, timestamps })
  }
  return out
}

t.test('reads from every offset across many segments and index intervals return the batch containing it', async t => {
  const dir = tempDir(t)
  const config = { segmentBytes: 3000, indexIntervalBytes: 300 }
  let log = await openLog({ dir, config })
  const batches = fill(log, 400, 1)
  t.ok(log.segmentCount > 20, `${log.segmentCount} segments`)
  const leo = log.logEndOffset
  t.equal(leo, batches.at(-1)!.last + 1)
  const batchOf = (offset: number): Appended => batches.find(b => b.base <= offset && offset <= b.last)!

  const checkAll = async (label: string): Promise<void> => {
    let bad = 0
    for (let offset = 0; offset < leo; offset++) {
      const r = await log.read(offset, 1)
      const h = readBatchHeader(r.bytes, 0)
      const expected = batchOf(offset)
      if (h.baseOffset !== expected.base || r.firstOffset !== expected.base || r.nextOffset !== expected.last + 1 ||
        r.bytes.length !== h.batchLength + 12) bad++
    }
    t.equal(bad, 0, `${label}: every offset`)
    for (const base of log.segmentBaseOffsets().slice(0, -1)) {
      const r = await log.read(base, 1)
      t.equal(r.firstOffset, base, `${label}: segment boundary ${base}`)
    }
    t.equal((await readAllRecords(log, 0, 1)).length, leo, `${label}: sequential read`)
  }
  await checkAll('live')
  await log.close()
  const indexSizes = fs.readdirSync(dir).filter(n => n.endsWith('.index')).map(n => fs.statSync(path.join(dir, n)).size / 8)
  t.ok(indexSizes.length === log.segmentCount && indexSizes.slice(0, -1).every(n => n >= 5), `every full segment has index entries (${indexSizes.join(',')})`)
  log = await openLog({ dir, config })
  await checkAll('reopened')
  await log.close()
  for (const name of fs.readdirSync(dir)) if (name.endsWith('.index') || name.endsWith('.timeindex')) fs.rmSync(path.join(dir, name))
  log = await openLog({ dir, config, recover: true })
  await checkAll('recovered without index files')
  t.teardown(() => log.close())

  // maxBytes: whole batches only, never more than maxBytes except a lone first batch (KIP-74).
  const random = rng(2)
  let violations = 0
  for (let i = 0; i < 300; i++) {
    const offset = Math.floor(random() * leo)
    const maxBytes = Math.floor(random() * 2000)
    const r = await log.read(offset, maxBytes)
    const sizes: number[] = []
    const consumed = forEachBatch(r.bytes, (_p, size) => sizes.push(size))
    if (consumed !== r.bytes.length || sizes.length === 0) violations++
    else if (r.bytes.length > maxBytes && sizes.length !== 1) violations++
    const strict = await log.read(offset, maxBytes, { minOneBatch: false })
    if (strict.bytes.length > maxBytes) violations++
    if (strict.bytes.length === 0 && strict.nextOffset !== offset) violations++
  }
  t.equal(violations, 0, 'maxBytes respected')

  const capped = await log.read(0, 1 << 20, { maxOffset: 50 })
  forEachBatch(capped.bytes, (pos) => {
    const h = readBatchHeader(capped.bytes, pos)
    if (h.baseOffset + h.lastOffsetDelta >= 50) t.fail('batch past maxOffset returned')
  })
  t.ok(capped.nextOffset <= 50)

  const atEnd = await log.read(leo, 100)
  t.equal(atEnd.bytes.length, 0, 'read at the high watermark is empty')
  t.equal(atEnd.nextOffset, leo)
  t.equal(atEnd.highWatermark, leo)
  await t.rejects(log.read(leo + 1, 100), OffsetOutOfRangeError)
  await t.rejects(log.read(-1, 100), OffsetOutOfRangeError)
})

t.test('offsetForTimestamp: exact, between, before the first and after the last record', async t => {
  const dir = tempDir(t)
  const config = { segmentBytes: 2500, indexIntervalBytes: 200 }
  let log = await openLog({ dir, config })
  const batches = fill(log, 250, 3)
  const records: Array<{ offset: number, ts: number }> = []
  for (const b of batches) b.timestamps.forEach((ts, j) => records.push({ offset: b.base + j, ts }))
  const expected = (target: number): { offset: number, timestamp: number } | null => {
    const r = records.find(x => x.ts >= target)
    return r === undefined ? null : { offset: r.offset, timestamp: r.ts }
  }
  const maxTs = Math.max(...records.map(r => r.ts))
  const check = async (label: string): Promise<void> => {
    let bad = 0
    const targets = [T0 - 1000, maxTs, maxTs + 1, ...records.map(r => r.ts), ...records.map(r => r.ts + 5)]
    for (const target of targets) {
      if (JSON.stringify(await log.offsetForTimestamp(target)) !== JSON.stringify(expected(target))) bad++
    }
    t.equal(bad, 0, `${label}: ${targets.length} lookups`)
    t.same(await log.offsetForTimestamp(T0 - 1000), { offset: 0, timestamp: records[0]!.ts }, `${label}: before the first`)
    t.equal(await log.offsetForTimestamp(maxTs + 1), null, `${label}: after the last`)
  }
  await check('live')
  await log.close()
  log = await openLog({ dir, config })
  await check('reopened')
  await log.close()
  for (const name of fs.readdirSync(dir)) {
    if (name.endsWith('.timeindex')) fs.writeFileSync(path.join(dir, name), Buffer.alloc(7, 0xab))
  }
  log = await openLog({ dir, config })
  t.teardown(() => log.close())
  await check('time index files of a bad size')
})

t.test('segments roll on size, on age (first batch max timestamp) and on demand', async t => {
  const dir = tempDir(t)
  const log = await openLog({ dir, config: { segmentMs: 1000 } })
  t.teardown(() => log.close())
  log.append(batchOf('a', 1, { timestamp: T0 }))
  log.append(batchOf('b', 1, { timestamp: T0 + 1000 }))
  t.equal(log.segmentCount, 1, 'age == segmentMs does not roll')
  log.append(batchOf('c', 1, { timestamp: T0 + 1001 }))
  t.equal(log.segmentCount, 2, 'age > segmentMs rolls')
  t.same(log.segmentBaseOffsets(), [0, 2])
  log.roll()
  log.roll()
  t.same(log.segmentBaseOffsets(), [0, 2, 3], 'an empty active segment is not rolled again')
  log.updateConfig({ segmentBytes: 1024 })
  for (let i = 0; i < 20; i++) log.append(batchOf(`s${i}`, 3, { timestamp: T0 + 1001 }))
  const sizes = fs.readdirSync(dir).filter(n => n.endsWith('.log')).map(n => fs.statSync(path.join(dir, n)).size)
  t.ok(sizes.every(s => s <= 1024), `segments within segmentBytes: ${sizes.join(',')}`)
  t.ok(fs.readdirSync(dir).some(n => n.endsWith('.snapshot')), 'a producer snapshot is written on roll')
})

t.test('retention by time: oldest closed segments go, the log start offset moves, everything expired rolls first', async t => {
  const dir = tempDir(t)
  const clock = new FakeClock(T0)
  const { logger, lines } = captureLogger()
  const log = await openLog({ dir, now: clock.now, logger, config: { segmentBytes: 1024, retentionMs: 10_000 } })
  t.teardown(() => log.close())
  for (let i = 0; i < 60; i++) log.append(batchOf(`r${i}`, 4, { timestamp: T0 + i * 500 }))
  const bases = log.segmentBaseOffsets()
  t.ok(bases.length > 4)
  t.same(await log.enforceRetention(), { deletedSegments: 0, deletedBytes: 0 }, 'nothing old enough')
  clock.nowMs = T0 + 20_500
  const result = await log.enforceRetention()
  t.ok(result.deletedSegments > 0 && result.deletedBytes > 0, `deleted ${result.deletedSegments}`)
  t.equal(log.logStartOffset, log.segmentBaseOffsets()[0])
  t.ok(lines.some(l => l.level === 30 && l.msg === 'deleted old segments' && l.reason === 'retention.time'), 'logged at info')
  // Every remaining segment holds a record newer than the horizon.
  const all = await readAllRecords(log)
  t.ok(all.length > 0 && all[0]!.offset === log.logStartOffset)
  await t.rejects(log.read(log.logStartOffset - 1, 100), OffsetOutOfRangeError, 'reads below the start offset fail')
  const leo = log.logEndOffset
  clock.nowMs = T0 + 1_000_000
  await log.enforceRetention()
  t.equal(log.segmentCount, 1, 'only the (new, empty) active segment is left')
  t.equal(log.logStartOffset, leo)
  t.equal(log.logEndOffset, leo, 'log end offset kept')
  t.equal((await log.read(leo, 100)).bytes.length, 0)
  t.equal(log.append(batchOf('after', 1, { timestamp: clock.nowMs })).baseOffset, leo, 'appends continue')
  await log.close()
  const reopened = await openLog({ dir, now: clock.now })
  t.equal(reopened.logStartOffset, leo, 'log start offset survives a restart')
  await reopened.close()
  t.notOk(fs.readdirSync(dir).some(n => n.endsWith('.deleted')), 'deleted files are gone')
})

t.test('retention by bytes keeps the newest segments under the limit', async t => {
  const dir = tempDir(t)
  const log = await openLog({ dir, config: { segmentBytes: 1024, retentionMs: -1, retentionBytes: 3000 } })
  t.teardown(() => log.close())
  for (let i = 0; i < 40; i++) log.append(batchOf(`b${i}`, 4))
  const before = log.sizeBytes
  const result = await log.enforceRetention()
  t.ok(result.deletedSegments > 0)
  t.equal(log.sizeBytes, before - result.deletedBytes)
  t.ok(log.sizeBytes >= 3000 - 1024 && log.sizeBytes <= 3000 + 1024, `size ${log.sizeBytes}`)
  t.equal(log.logStartOffset, log.segmentBaseOffsets()[0])
  t.same(await log.enforceRetention(), { deletedSegments: 0, deletedBytes: 0 }, 'stable')
})

t.test('deleteRecordsBefore moves the start offset inside a segment and deletes whole segments below it', async t => {
  const dir = tempDir(t)
  let log = await openLog({ dir, config: { segmentBytes: 1024 } })
  for (let i = 0; i < 30; i++) log.append(batchOf(`d${i}`, 4))
  const bases = log.segmentBaseOffsets()
  const target = bases[3]! + 2
  log.deleteRecordsBefore(target)
  t.equal(log.logStartOffset, target)
  t.equal(log.segmentBaseOffsets()[0], bases[3])
  await t.rejects(log.read(target - 1, 10), OffsetOutOfRangeError)
  const r = await log.read(target, 10)
  t.ok(r.firstOffset <= target && r.nextOffset > target, 'the batch containing the start offset is returned')
  t.throws(() => log.deleteRecordsBefore(log.highWatermark + 1), OffsetOutOfRangeError)
  log.deleteRecordsBefore(5)
  t.equal(log.logStartOffset, target, 'never moves back')
  // Survives a crash (no close): the checkpoint is written and fsynced before returning.
  log = await openLog({ dir, config: { segmentBytes: 1024 }, recover: true })
  t.teardown(() => log.close())
  t.equal(log.logStartOffset, target)
  t.equal((await readAllRecords(log)).length, log.logEndOffset - target)
})

t.test('group commit: many concurrent sync() callers share a few fdatasync rounds', async t => {
  const dir = tempDir(t)
  const log = await openLog({ dir })
  t.teardown(() => { faultPoints.reset(); return log.close() })
  faultPoints.count()
  await log.sync()
  t.equal(faultPoints.hits('sync.beforeFdatasync'), 0, 'nothing to sync: no fdatasync')
  log.append(batchOf('a', 10))
  await Promise.all(Array.from({ length: 100 }, () => log.sync()))
  t.equal(faultPoints.hits('sync.beforeFdatasync'), 1, '100 callers in one tick share one fdatasync')
  t.equal(log.recoveryPoint, log.logEndOffset, 'everything appended before the calls is durable')

  // Callers that arrive while a round runs share the next round, and only one.
  log.append(batchOf('b', 10))
  const during: Array<Promise<void>> = []
  faultPoints.arm('sync.beforeFdatasync', () => {
    log.append(batchOf('c', 10))
    for (let i = 0; i < 100; i++) during.push(log.sync())
  }, { times: 1 })
  const first = Array.from({ length: 100 }, () => log.sync())
  await Promise.all(first)
  await Promise.all(during)
  t.equal(during.length, 100)
  t.equal(faultPoints.hits('sync.beforeFdatasync'), 3, '200 more callers: two more fdatasyncs')
  t.equal(log.recoveryPoint, log.logEndOffset)
  t.equal(log.syncRounds, 3)
  await Promise.all(Array.from({ length: 10 }, () => log.sync()))
  t.equal(faultPoints.hits('sync.beforeFdatasync'), 3, 'nothing new: no more fdatasyncs')
})

t.test('idempotent producer: duplicates, gaps, stale epochs, wrap-around, state across restarts', async t => {
  const dir = tempDir(t)
  const config = { segmentBytes: 2048 }
  let log = await openLog({ dir, config })
  const idem = (seq: number, count: number, epoch = 0, pid = 42): Uint8Array =>
    batchOf(`p${pid}e${epoch}s${seq}`, count, { producerId: pid, producerEpoch: epoch, baseSequence: seq })

  const r0 = log.append(idem(0, 3))
  const r1 = log.append(idem(3, 2))
  t.same([r0.baseOffset, r0.lastOffset, r1.baseOffset, r1.lastOffset], [0, 2, 3, 4])
  const size = log.sizeBytes
  const dup = log.append(idem(0, 3))
  t.same({ duplicate: dup.duplicate, baseOffset: dup.baseOffset, lastOffset: dup.lastOffset, bytes: dup.bytes },
    { duplicate: true, baseOffset: 0, lastOffset: 2, bytes: 0 }, 'a retry gets the original offsets')
  t.equal(log.sizeBytes, size, 'and is not written')
  t.equal(log.logEndOffset, 5)
  t.throws(() => log.append(idem(6, 1)), OutOfOrderSequenceError, 'gap')
  t.throws(() => log.append(idem(4, 1)), OutOfOrderSequenceError, 'overlap that is not a duplicate')
  t.equal(log.append(idem(0, 1, 1)).baseOffset, 5, 'new epoch starts at 0')
  t.throws(() => log.append(idem(1, 1, 0)), InvalidProducerEpochError, 'stale epoch')
  t.throws(() => log.append(idem(7, 1, 2)), OutOfOrderSequenceError, 'new epoch not at 0')
  t.equal(log.append(idem(12345, 2, 0, 99)).baseOffset, 6, 'unknown producer: any sequence')
  t.equal(log.append(idem(0x7fffffff - 1, 2, 0, 7)).lastOffset, 9)
  t.equal(log.append(idem(0, 1, 0, 7)).baseOffset, 10, 'sequence wraps from INT32_MAX to 0')
  t.equal(log.append(batchOf('plain', 2)).baseOffset, 11, 'producerId -1 is not idempotent')
  // Only the last five batches are remembered.
  for (let s = 1; s <= 6; s++) log.append(idem(s, 1, 1))
  t.throws(() => log.append(idem(1, 1, 1)), OutOfOrderSequenceError, 'a batch older than the window is not a duplicate')
  t.equal(log.append(idem(2, 1, 1)).duplicate, true, 'the oldest batch in the window is')
  const state = log.producerState(42)
  t.equal(state?.epoch, 1)
  t.equal(state?.batches.length, 5)
  // An idempotent batch must be the only one in its payload (Kafka: one batch per partition).
  const lengthBefore = log.logEndOffset
  t.throws(() => log.append(concat(idem(7, 1, 1), idem(8, 2, 1))), InvalidRecordError, 'two idempotent batches in one payload')
  t.equal(log.logEndOffset, lengthBefore, 'nothing written')
  log.append(idem(7, 1, 1))
  log.append(idem(8, 2, 1))
  const leo = log.logEndOffset
  const before = log.producerState(42)

  await log.close()
  log = await openLog({ dir, config })
  t.same(log.producerState(42), before, 'state reloaded from the snapshot')
  t.equal(log.append(idem(8, 2, 1)).duplicate, true, 'duplicate detected after a clean restart')
  t.equal(log.append(idem(10, 1, 1)).baseOffset, leo)
  // Unclean: no close, snapshots removed; state is rebuilt from batch headers.
  for (const name of fs.readdirSync(dir)) if (name.endsWith('.snapshot')) fs.rmSync(path.join(dir, name))
  log = await openLog({ dir, config, recover: true })
  t.teardown(() => log.close())
  t.equal(log.append(idem(10, 1, 1)).duplicate, true, 'duplicate detected after an unclean restart')
  t.equal(log.append(idem(0x7fffffff - 1, 2, 0, 7)).duplicate, true, 'the batch before the wrap is remembered')
  t.equal(log.append(idem(1, 1, 0, 7)).duplicate, false, 'and the sequence continues after the wrap')
  t.throws(() => log.append(idem(5, 1, 0)), InvalidProducerEpochError, 'epoch rebuilt from headers')
  t.equal(log.producerState(42)?.epoch, 1)
})

t.test('reads racing with segment deletion return data or OffsetOutOfRange, never a broken batch', async t => {
  const dir = tempDir(t)
  const log = await openLog({ dir, config: { segmentBytes: 1024 } })
  t.teardown(() => log.close())
  for (let i = 0; i < 60; i++) log.append(batchOf(`r${i}`, 4))
  const reads = []
  for (let offset = 0; offset < 200; offset += 3) reads.push(log.read(offset, 300))
  log.deleteRecordsBefore(120)
  const settled = await Promise.allSettled(reads)
  let ok = 0
  for (const s of settled) {
    if (s.status === 'fulfilled') {
      const consumed = forEachBatch(s.value.bytes, () => {})
      if (consumed === s.value.bytes.length && s.value.bytes.length > 0) ok++
      else t.fail('partial or empty read')
    } else if (!(s.reason instanceof OffsetOutOfRangeError)) {
      t.fail(`unexpected ${String(s.reason)}`)
    }
  }
  t.ok(ok > 0, `${ok} reads completed`)
  await log.close()
  t.notOk(fs.readdirSync(dir).some(n => n.endsWith('.deleted')))
  t.equal(text((await (async () => {
    const again = await openLog({ dir })
    const records = await readAllRecords(again)
    await again.close()
    return records
  })())[0]!.value), 'r30:0')
})
