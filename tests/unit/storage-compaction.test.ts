// Compaction (broker/storage/compaction.ts) against an in-memory model over random operation
// sequences; offsets and batch fields preserved; a producer's last batch kept empty;
// compressed batches; appends continuing while a pass runs; crashes at every swap step.
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { Compression, readBatchHeader } from '../../protocol/record-batch/header.js'
import { decodeBatchAsync, encodeBatch, encodeBatchCompressed, forEachBatch } from '../../protocol/record-batch/records.js'
import { installNodeCodecs } from '../../platform/node-codecs.js'
import { FaultInjectedError, faultPoints } from '../../broker/storage/testing/fault-points.js'
import type { PartitionLog } from '../../broker/storage/partition-log.js'
import { rng, utf8 } from '../helpers/bytes.js'
import { FakeClock, openLog, readAllRecords, tempDir, text } from '../helpers/storage.js'

installNodeCodecs()

const DELETE_RETENTION_MS = 10_000

interface ModelRecord { key: string, value: string | null, firstSeenMs?: number }

/**
 * The model: which records the log must hold. A pass that cleaned everything below C at time
 * `now` keeps, among records below C, only the latest per key; a tombstone is first seen by
 * the first pass whose C is above it and removed by the first pass at or after
 * firstSeen + deleteRetentionMs.
 */
class Model {
  readonly present = new Map<number, ModelRecord>()
  readonly latest = new Map<string, number>()

  append (offset: number, key: string, value: string | null): void {
    this.present.set(offset, { key, value })
    this.latest.set(key, offset)
  }

  compacted (cleanedUpTo: number, nowMs: number): void {
    const latestBelow = new Map<string, number>()
    for (const [offset, r] of this.present) {
      if (offset < cleanedUpTo && (latestBelow.get(r.key) ?? -1) < offset) latestBelow.set(r.key, offset)
    }
    for (const [offset, r] of [...this.present]) {
      if (offset >= cleanedUpTo) continue
      if (latestBelow.get(r.key) !== offset) {
        this.present.delete(offset)
      } else if (r.value === null) {
        if (r.firstSeenMs === undefined) r.firstSeenMs = nowMs
        else if (r.firstSeenMs + DELETE_RETENTION_MS <= nowMs) this.present.delete(offset)
      }
    }
  }

  expected (): Array<[number, string, string | null]> {
    return [...this.present].sort((a, b) => a[0] - b[0]).map(([o, r]) => [o, r.key, r.value])
  }
}

async function logContents (log: PartitionLog): Promise<Array<[number, string, string | null]>> {
  return (await readAllRecords(log, log.logStartOffset, 700)).map(r => [r.offset, text(r.key)!, text(r.value)])
}

for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
  t.test(`compaction matches the model over random operations (seed ${seed})`, async t => {
    const dir = tempDir(t)
    const clock = new FakeClock()
    const random = rng(seed)
    const config = {
      cleanupPolicy: 'compact' as const, segmentBytes: 1024 + Math.floor(random() * 2048), indexIntervalBytes: 128,
      deleteRetentionMs: DELETE_RETENTION_MS, minCleanableDirtyRatio: [0, 0.2, 0.5][seed % 3]!,
    }
    let log = await openLog({ dir, config, now: clock.now })
    t.teardown(() => log.close())
    const model = new Model()
    const keys = 6 + Math.floor(random() * 20)
    let passes = 0
    let tombstonesDropped = 0
    for (let step = 0; step < 160; step++) {
      const op = random()
      if (op < 0.62) {
        const count = 1 + Math.floor(random() * 5)
        const records = []
        for (let i = 0; i < count; i++) {
          const key = `key-${Math.floor(random() * keys)}`
          const value = random() < 0.2 ? null : `v${step}.${i}.${'x'.repeat(Math.floor(random() * 40))}`
          records.push({ key, value })
        }
        const r = log.append(encodeBatch(records.map(x => ({ key: utf8(x.key), value: x.value === null ? null : utf8(x.value), timestamp: clock.nowMs }))))
        records.forEach((x, i) => model.append(r.baseOffset + i, x.key, x.value))
      } else if (op < 0.67) {
        log.roll()
      } else if (op < 0.82) {
        const before = model.present.size
        const result = await log.compact()
        if (result !== null) {
          passes++
          model.compacted(result.cleanedUpToOffset, clock.nowMs)
          t.equal(result.cleanedUpToOffset, log.segmentBaseOffsets().at(-1), 'cleans up to the active segment')
          tombstonesDropped += result.tombstonesRemoved
          t.equal(before - model.present.size, result.recordsRemoved, `step ${step}: removed count`)
          t.same(await logContents(log), model.expected(), `step ${step}: after compaction`)
        }
      } else if (op < 0.94) {
        clock.advance(Math.floor(random() * DELETE_RETENTION_MS * 0.6))
      } else if (random() < 0.5) {
        await log.close()
        log = await openLog({ dir, config, now: clock.now })
        t.same(await logContents(log), model.expected(), `step ${step}: after a clean restart`)
      } else {
        await log.sync()
        log = await openLog({ dir, config, now: clock.now, recover: true })
        t.same(await logContents(log), model.expected(), `step ${step}: after a crash restart`)
      }
    }
    const contents = await logContents(log)
    t.same(contents, model.expected(), 'final contents')
    const offsets = contents.map(c => c[0])
    t.ok(offsets.every((o, i) => i === 0 || o > offsets[i - 1]!), 'offsets strictly increase')
    // Latest per key: the last record of each key is the latest written, unless that was a
    // tombstone whose horizon passed.
    for (const [key, offset] of model.latest) {
      const last = contents.filter(c => c[1] === key).at(-1)
      if (last !== undefined) t.equal(last[0], offset, `${key}: latest survives`)
    }
    t.ok(passes > 0, `${passes} passes, ${tombstonesDropped} tombstones dropped`)
  })
}

t.test('offsets and batch fields survive; a producer keeps its last batch, emptied', async t => {
  const dir = tempDir(t)
  const clock = new FakeClock()
  const log = await openLog({ dir, config: { cleanupPolicy: 'compact', minCleanableDirtyRatio: 0 }, now: clock.now })
  t.teardown(() => log.close())
  const kv = (k: string, v: string | null) => ({ key: utf8(k), value: v === null ? null : utf8(v), timestamp: clock.nowMs })
  log.append(encodeBatch([kv('a', '1'), kv('b', '1'), kv('c', '1')], { producerId: 9, producerEpoch: 2, baseSequence: 0 }))
  log.append(encodeBatch([kv('a', '2'), kv('b', '2')], { producerId: 9, producerEpoch: 2, baseSequence: 3 }))
  log.append(encodeBatch([kv('d', '1')], { producerId: 11, producerEpoch: 0, baseSequence: 0 }))
  log.append(encodeBatch([kv('d', '2')]))
  log.roll()
  const result = await log.compact()
  t.ok(result)
  const r = await log.read(0, 1 << 20)
  const batches: Array<{ base: number, delta: number, count: number, pid: number, seq: number, values: Array<string | null> }> = []
  const positions: number[] = []
  forEachBatch(r.bytes, pos => positions.push(pos))
  for (const pos of positions) {
    const h = readBatchHeader(r.bytes, pos)
    const { records } = await decodeBatchAsync(r.bytes, pos)
    batches.push({ base: h.baseOffset, delta: h.lastOffsetDelta, count: h.recordsCount, pid: h.producerId, seq: h.baseSequence, values: records.map(x => `${text(x.key)}=${text(x.value)}@${x.offset}`) })
  }
  t.same(batches, [
    { base: 0, delta: 2, count: 1, pid: 9, seq: 0, values: ['c=1@2'] },
    { base: 3, delta: 1, count: 2, pid: 9, seq: 3, values: ['a=2@3', 'b=2@4'] },
    { base: 5, delta: 0, count: 0, pid: 11, seq: 0, values: [] },
    { base: 6, delta: 0, count: 1, pid: -1, seq: -1, values: ['d=2@6'] },
  ], 'records keep their offsets; batches keep base, delta and producer fields; producer 11 keeps an empty last batch')
  t.equal(log.append(encodeBatch([kv('e', '1')], { producerId: 11, producerEpoch: 0, baseSequence: 1 })).baseOffset, 7, 'its sequence continues')
  t.equal(log.append(encodeBatch([kv('d', '1')], { producerId: 11, producerEpoch: 0, baseSequence: 0 })).duplicate, true)
  t.equal(await log.compact(), null, 'nothing dirty in closed segments: nothing to do')
})

t.test('compressed batches are cleaned and stay compressed; keyless records are dropped', async t => {
  const dir = tempDir(t)
  const log = await openLog({ dir, config: { cleanupPolicy: 'delete' } })
  t.teardown(() => log.close())
  const records = Array.from({ length: 50 }, (_, i) => ({ key: i % 10 === 0 ? null : utf8(`k${i % 7}`), value: utf8(`value-${i}`), timestamp: 1 }))
  log.append(await encodeBatchCompressed(records, Compression.gzip))
  log.roll()
  log.updateConfig({ cleanupPolicy: 'compact', minCleanableDirtyRatio: 0 })
  const result = await log.compact()
  t.equal(result?.recordsRemoved, 50 - 7)
  const r = await log.read(0, 1 << 20)
  const h = readBatchHeader(r.bytes, 0)
  t.equal(h.attributes & 7, Compression.gzip, 'still gzip')
  t.equal(h.lastOffsetDelta, 49)
  const { records: kept } = await decodeBatchAsync(r.bytes, 0)
  t.same(kept.map(x => `${text(x.key)}@${x.offset}`), ['k1@43', 'k2@44', 'k3@45', 'k4@46', 'k5@47', 'k6@48', 'k0@49'])
})

t.test('appends and reads keep going while a compaction pass runs', async t => {
  const dir = tempDir(t)
  const config = { cleanupPolicy: 'compact' as const, segmentBytes: 4096, minCleanableDirtyRatio: 0 }
  const log = await openLog({ dir, config })
  t.teardown(() => { faultPoints.reset(); return log.close() })
  const model = new Model()
  const add = (tag: string): void => {
    const key = `key-${model.present.size % 50}`
    const r = log.append(encodeBatch([{ key: utf8(key), value: utf8(tag), timestamp: 1 }]))
    model.append(r.baseOffset, key, tag)
  }
  for (let i = 0; i < 3000; i++) add(`before-${i}`)
  log.roll()
  let duringSwap = 0
  faultPoints.arm('compaction.beforeSwap', () => {
    for (let i = 0; i < 10; i++) add(`at-swap-${i}`)
    duringSwap += 10
  })
  let done = false
  const pass = log.compact().finally(() => { done = true })
  let during = 0
  let readsDuring = 0
  for (let i = 0; i < 100_000 && !done; i++) {
    add(`during-${i}`)
    during++
    if (i % 10 === 0) {
      const r = await log.read(Math.floor(i * 7) % log.logEndOffset, 2048)
      if (r.bytes.length > 0) readsDuring++
    }
    await new Promise(resolve => setImmediate(resolve))
  }
  const result = await pass
  t.ok(result, 'the pass completed')
  t.ok(during > 0, `${during} appends interleaved with the pass`)
  t.ok(readsDuring > 0, `${readsDuring} reads interleaved with the pass`)
  t.equal(duringSwap, 10)
  model.compacted(result!.cleanedUpToOffset, Date.now())
  t.same(await logContents(log), model.expected())
})

for (const point of ['compaction.beforeSwap', 'compaction.afterManifest', 'compaction.midSwap'] as const) {
  t.test(`a crash at ${point} leaves a valid log after recovery`, async t => {
    const dir = tempDir(t)
    const config = { cleanupPolicy: 'compact' as const, segmentBytes: 1024, minCleanableDirtyRatio: 0, deleteRetentionMs: 0 }
    const log = await openLog({ dir, config })
    t.teardown(() => faultPoints.reset())
    const model = new Model()
    for (let i = 0; i < 300; i++) {
      const key = `key-${i % 17}`
      const value = i % 5 === 4 ? null : `value-${i}`
      const r = log.append(encodeBatch([{ key: utf8(key), value: value === null ? null : utf8(value), timestamp: 1 }]))
      model.append(r.baseOffset, key, value)
    }
    log.roll()
    const before = model.expected()
    faultPoints.arm(point, 'throw', { times: 1 })
    await t.rejects(log.compact(), FaultInjectedError)
    t.equal(faultPoints.hits(point), 1)
    // The process "dies" here: reopen the directory as after a crash.
    const recovered = await openLog({ dir, config, recover: true })
    t.teardown(() => recovered.close())
    const contents = await logContents(recovered)
    model.compacted(log.segmentBaseOffsets().at(-1)!, 0)
    const after = model.expected()
    if (point === 'compaction.beforeSwap') t.same(contents, before, 'the old segments are intact')
    else t.same(contents, after, 'the swap was completed by recovery')
    const names = fs.readdirSync(dir)
    t.notOk(names.some(n => n.endsWith('.cleaned') || n.endsWith('.deleted') || n === 'cleaner.swap'), 'no leftovers')
    // And the recovered log compacts and appends normally.
    recovered.append(encodeBatch([{ key: utf8('new'), value: utf8('1'), timestamp: 1 }]))
    recovered.roll()
    await recovered.compact()
    await recovered.compact()
    const final = await logContents(recovered)
    t.same(final.filter(c => c[1] !== 'new'), after.filter(c => c[2] !== null), 'a later pass converges')
    t.ok(fs.existsSync(path.join(dir, 'log-checkpoint')))
  })
}

t.test('a bounded key map cleans part of the dirty range; the next pass continues', async t => {
  const dir = tempDir(t)
  const log = await openLog({ dir, config: { cleanupPolicy: 'compact', segmentBytes: 1024, minCleanableDirtyRatio: 0 } })
  t.teardown(() => log.close())
  const model = new Model()
  for (let i = 0; i < 200; i++) {
    const key = `key-${i % 40}`
    const r = log.append(encodeBatch([{ key: utf8(key), value: utf8(`v${i}`), timestamp: 1 }]))
    model.append(r.baseOffset, key, `v${i}`)
  }
  log.roll()
  const first = await log.compact({ maxKeys: 10 })
  t.ok(first !== null && first.cleanedUpToOffset < log.segmentBaseOffsets().at(-1)!, `stopped at ${first?.cleanedUpToOffset}`)
  model.compacted(first!.cleanedUpToOffset, 0)
  t.same(await logContents(log), model.expected(), 'exactly the part below the stop was cleaned')
  for (let pass = 0; pass < 50; pass++) {
    const next = await log.compact({ maxKeys: 10 })
    if (next === null) break
    model.compacted(next.cleanedUpToOffset, 0)
    t.same(await logContents(log), model.expected())
  }
  t.same((await logContents(log)).map(c => c[1]).sort(), Array.from({ length: 40 }, (_, i) => `key-${i}`).sort(), 'one record per key in the end')
})

t.test('segments deleted by DeleteRecords during a pass: their group is skipped and cleaned later', async t => {
  const dir = tempDir(t)
  const log = await openLog({ dir, config: { cleanupPolicy: 'compact', segmentBytes: 1024, minCleanableDirtyRatio: 0 } })
  t.teardown(() => { faultPoints.reset(); return log.close() })
  for (let i = 0; i < 300; i++) log.append(encodeBatch([{ key: utf8(`key-${i % 7}`), value: utf8(`v${i}`), timestamp: 1 }]))
  log.roll()
  const bases = log.segmentBaseOffsets()
  faultPoints.arm('compaction.beforeSwap', () => log.deleteRecordsBefore(bases[1]!), { times: 1 })
  const result = await log.compact()
  t.ok(result)
  t.equal(log.logStartOffset, bases[1])
  await log.compact()
  const contents = await logContents(log)
  const perKey = new Map<string, number>()
  for (const [, key] of contents) perKey.set(key, (perKey.get(key) ?? 0) + 1)
  t.same([...perKey.values()], Array(7).fill(1), 'a later pass leaves one record per key')
  t.same(contents.map(c => c[2]).sort(), ['v293', 'v294', 'v295', 'v296', 'v297', 'v298', 'v299'])
})
