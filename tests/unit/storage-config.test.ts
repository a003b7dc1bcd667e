// Small pieces with no files of their own: log config validation, retention decisions,
// producer-state rules and snapshot format, checksummed files, fault points, and the
// RecordBatchBuilder additions the cleaner uses (explicit offsetDelta / lastOffsetDelta).
import t from 'tap'
import { DEFAULT_LOG_CONFIG, resolveLogConfig, validateLogConfig, type LogConfig } from '../../broker/storage/config.js'
import { decideRetention } from '../../broker/storage/retention.js'
import { ProducerStateManager, incrementSequence } from '../../broker/storage/producer-state.js'
import { decodeCheckedFile, encodeCheckedFile } from '../../broker/storage/checkpoint.js'
import { FaultInjectedError, FaultPoints } from '../../broker/storage/testing/fault-points.js'
import { InvalidConfigError, InvalidProducerEpochError, InvalidRecordError, OutOfOrderSequenceError } from '../../protocol/errors.js'
import { RecordBatchBuilder, decodeBatch } from '../../protocol/record-batch/records.js'
import { readBatchHeader, validateBatch, type BatchHeader } from '../../protocol/record-batch/header.js'
import { utf8 } from '../helpers/bytes.js'

t.test('validateLogConfig names the key and the value', async t => {
  t.same(validateLogConfig({ segmentBytes: 4096, cleanupPolicy: 'compact', retentionMs: -1 }), { segmentBytes: 4096, cleanupPolicy: 'compact', retentionMs: -1 })
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ segmentBytes: 1.5 }, /segmentBytes must be an integer, got 1.5/],
    [{ segmentBytes: -1 }, /segmentBytes must be 1024\.\.2147483647, got -1/],
    [{ retentionMs: -2 }, /retentionMs must be -1 or 0\.\./],
    [{ maxBatchBytes: 2 ** 31 }, /maxBatchBytes/],
    [{ cleanupPolicy: 'delete,compact' }, /cleanupPolicy must be 'delete' or 'compact', got "delete,compact"/],
    [{ minCleanableDirtyRatio: 2 }, /minCleanableDirtyRatio/],
    [{ retention: 5 }, /unknown log config key "retention"/],
    [{ segmentMs: '100' }, /segmentMs must be an integer, got "100"/],
  ]
  for (const [partial, message] of bad) {
    t.throws(() => validateLogConfig(partial as Partial<LogConfig>), InvalidConfigError)
    t.throws(() => validateLogConfig(partial as Partial<LogConfig>), message)
  }
  t.equal(resolveLogConfig({ retentionBytes: 5 }, undefined, { retentionBytes: 7 }).retentionBytes, 7)
  t.equal(DEFAULT_LOG_CONFIG.segmentBytes, 1073741824)
  t.equal(DEFAULT_LOG_CONFIG.maxBatchBytes, 1048576)
})

t.test('retention decisions: oldest first, stop at the first survivor, roll when all expired', async t => {
  const config = { ...DEFAULT_LOG_CONFIG, retentionMs: 100, retentionBytes: -1 }
  const seg = (baseOffset: number, sizeBytes: number, largestTimestampMs: number) => ({ baseOffset, sizeBytes, largestTimestampMs })
  const segments = [seg(0, 10, 0), seg(10, 10, 950), seg(20, 10, 0), seg(30, 10, 900)]
  t.same(decideRetention(segments, config, 1000, 40, 40, false), { deleteCount: 1, rollFirst: false, reason: 'time' }, 'stops at the first survivor')
  t.same(decideRetention(segments, config, 2000, 40, 40, false), { deleteCount: 4, rollFirst: true, reason: 'time' })
  t.same(decideRetention(segments, config, 2000, 40, 40, true), { deleteCount: 3, rollFirst: false, reason: 'time' }, 'empty active: no roll')
  t.same(decideRetention(segments, config, 2000, 15, 40, false).deleteCount, 1, 'never past the high watermark')
  t.same(decideRetention(segments, config, 2000, 35, 40, false), { deleteCount: 3, rollFirst: false, reason: 'time' }, 'no roll past the high watermark')
  const bytes = { ...config, retentionMs: -1, retentionBytes: 25 }
  t.same(decideRetention(segments, bytes, 0, 40, 40, false), { deleteCount: 1, rollFirst: false, reason: 'size' })
  t.equal(decideRetention(segments, { ...bytes, cleanupPolicy: 'compact' }, 0, 40, 40, false).deleteCount, 0)
})

function header (producerId: number, producerEpoch: number, baseSequence: number, lastOffsetDelta = 0): BatchHeader {
  return {
    baseOffset: 0, batchLength: 0, partitionLeaderEpoch: 0, magic: 2, crc: 0, attributes: 0, lastOffsetDelta,
    baseTimestamp: 0, maxTimestamp: 0, producerId, producerEpoch, baseSequence, recordsCount: lastOffsetDelta + 1,
  }
}

t.test('producer state rules and snapshot round trip', async t => {
  const state = new ProducerStateManager()
  t.equal(incrementSequence(0x7fffffff, 1), 0)
  t.equal(incrementSequence(0x7ffffffe, 3), 1)
  t.equal(state.check([header(1, 0, 17)]), null, 'unknown producer: any sequence')
  state.update(1, 0, 17, 2, 100, 5)
  t.same(state.check([header(1, 0, 17, 2)]), { firstSeq: 17, lastSeq: 19, baseOffset: 100, lastOffset: 102, maxTimestampMs: 5 })
  t.throws(() => state.check([header(1, 0, 21)]), OutOfOrderSequenceError)
  t.throws(() => state.check([header(1, 0, 20), header(1, 0, 21)]), InvalidRecordError, 'an idempotent batch must be alone in its payload')
  t.throws(() => state.check([header(-1, 0, 0), header(1, 0, 20)]), InvalidRecordError, 'also behind a plain batch')
  t.equal(state.check([header(-1, 0, 0), header(-1, 0, 0)]), null, 'several plain batches are fine')
  t.throws(() => state.check([header(1, 1, 3)]), OutOfOrderSequenceError, 'epoch bump must restart at 0')
  t.throws(() => state.check([header(1, -1 + 0, 20)].map(h => ({ ...h, producerEpoch: -1 }))), InvalidProducerEpochError)
  t.equal(state.check([header(-1, 0, 99)]), null, 'producerId -1 is ignored')
  state.update(2, 3, 0, 0, 103, 6)
  const copy = new ProducerStateManager()
  t.equal(copy.loadSnapshot(state.toSnapshot(104)), 104)
  t.same(copy.get(1), state.get(1))
  t.same(copy.get(2), state.get(2))
  const torn = state.toSnapshot(104)
  torn[torn.length - 1] ^= 1
  t.equal(copy.loadSnapshot(torn), 'checksum mismatch')
  state.truncateHead(103)
  t.equal(state.get(1), undefined, 'producers wholly below the log start offset are dropped')
  t.ok(state.get(2))
})

t.test('checksummed files detect damage', async t => {
  const bytes = encodeCheckedFile('thing', { a: 1 })
  t.same(decodeCheckedFile('thing', bytes), { body: { a: 1 } })
  t.same(decodeCheckedFile('other', bytes), { problem: 'first line is not "spool-other 1"' })
  const damaged = Buffer.from(bytes.toString().replace('"a":1', '"a":2'))
  t.same(decodeCheckedFile('thing', damaged), { problem: 'checksum mismatch' })
})

t.test('fault points: throw, skip, count, callback, spec', async t => {
  const points = new FaultPoints()
  t.equal(points.active, false)
  points.arm('x', 'throw', { skip: 1, times: 1 })
  t.equal(points.active, true)
  points.hit('x')
  t.throws(() => points.hit('x'), FaultInjectedError)
  points.hit('x')
  t.equal(points.active, false, 'disarmed after `times`')
  const seen: string[] = []
  points.arm('y', name => seen.push(name))
  points.hit('y')
  t.same(seen, ['y'])
  points.reset()
  points.count()
  points.hit('z')
  points.hit('z')
  t.equal(points.hits('z'), 2)
  points.reset()
  points.armFromSpec('a:throw:1, b:throw')
  points.hit('a')
  t.throws(() => points.hit('a'), /fault injected at a/)
  t.throws(() => points.armFromSpec('a:explode'), /bad fault point spec/)
})

t.test('RecordBatchBuilder keeps explicit offset deltas and lastOffsetDelta (for the cleaner)', async t => {
  const builder = new RecordBatchBuilder()
  builder.append({ key: utf8('a'), value: utf8('1'), timestamp: 10 }, 2)
  builder.append({ key: utf8('b'), value: null, timestamp: 12 }, 7)
  const batch = builder.build({ baseOffset: 100, lastOffsetDelta: 9, producerId: 5, producerEpoch: 1, baseSequence: 40 })
  const h = readBatchHeader(batch)
  t.equal(h.lastOffsetDelta, 9)
  t.equal(h.recordsCount, 2)
  t.same(decodeBatch(batch).records.map(r => r.offset), [102, 107])
  t.throws(() => validateBatch(batch), /lastOffsetDelta 9 disagrees/, 'client-origin validation still refuses such a batch')
  const plain = new RecordBatchBuilder()
  plain.append({ value: utf8('x'), timestamp: 1 })
  plain.append({ value: utf8('y'), timestamp: 1 })
  t.equal(readBatchHeader(plain.build()).lastOffsetDelta, 1, 'default unchanged')
})
