// The replication side of PartitionLog (broker/storage/replica-log.ts, docs/cluster.md): leader
// epochs stamped and recorded on append, a follower's copy made with appendAsFollower (same
// bytes, same offsets, same producer state and epochs as the leader's), the high watermark
// owned by the replica manager once replicated (reads stop below it, it survives a reopen),
// truncateTo across segments, inside a segment and inside a batch (indexes, producer state,
// epochs and the checkpoint follow; appends go on), truncateFullyAndStartAt, and a random
// comparison of truncations against the untruncated log.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { readBatchHeader } from '../../protocol/record-batch/header.js'
import { encodeBatch, forEachBatch } from '../../protocol/record-batch/records.js'
import { CorruptRecordError, FencedLeaderEpochError, InvalidRecordError, OffsetOutOfRangeError } from '../../protocol/errors.js'
import { LEADER_EPOCH_CHECKPOINT_FILE, UNDEFINED_EPOCH } from '../../broker/storage/leader-epoch-cache.js'
import type { PartitionLog } from '../../broker/storage/partition-log.js'
import { rng, utf8 } from '../helpers/bytes.js'
import { batchOf, openLog, readAllRecords, tempDir, text } from '../helpers/storage.js'

const SMALL = { segmentBytes: 2048, indexIntervalBytes: 256 }

/** Copies every batch of `from` in [offset, log end) into `to` with appendAsFollower, chunk by chunk. */
async function replicate (from: PartitionLog, to: PartitionLog, maxBytes = 1500): Promise<void> {
  for (let guard = 0; to.logEndOffset < from.logEndOffset && guard < 10_000; guard++) {
    const r = await from.read(to.logEndOffset, maxBytes, { maxOffset: from.logEndOffset })
    to.appendAsFollower(new Uint8Array(r.bytes))
  }
}

/** Raw stored bytes of every batch, in order. */
async function storedBatches (log: PartitionLog): Promise<string[]> {
  const out: string[] = []
  for (let offset = log.logStartOffset, guard = 0; offset < log.logEndOffset && guard < 10_000; guard++) {
    const r = await log.read(offset, 1 << 20, { maxOffset: log.logEndOffset })
    forEachBatch(r.bytes, (pos, size) => { out.push(Buffer.from(r.bytes.subarray(pos, pos + size)).toString('hex')) })
    offset = r.nextOffset
  }
  return out
}

function epochsOf (log: PartitionLog): Array<[number, number]> {
  return log.epochEntries().map(e => [e.epoch, e.startOffset])
}

t.test('a leader stamps its epoch on every batch and records where each epoch starts', async t => {
  const dir = tempDir(t)
  const log = await openLog({ dir, config: SMALL })
  t.equal(log.latestEpoch, UNDEFINED_EPOCH, 'a new log knows no epoch')
  log.append(batchOf('a', 3))
  t.same(epochsOf(log), [[0, 0]], 'a single node writes epoch 0 from its first batch')
  log.becomeLeader(3)
  t.same(epochsOf(log), [[0, 0], [3, 3]], 'becoming leader starts the epoch at the log end, before any batch')
  log.append(batchOf('b', 2))
  log.becomeLeader(3)
  log.append(batchOf('c', 2))
  log.becomeLeader(5)
  log.append(batchOf('d', 1))
  t.same(epochsOf(log), [[0, 0], [3, 3], [5, 7]])
  const r = await log.read(0, 1 << 20)
  const stamped: number[] = []
  forEachBatch(r.bytes, pos => { stamped.push(readBatchHeader(r.bytes, pos).partitionLeaderEpoch) })
  t.same(stamped, [0, 3, 3, 5], 'each batch carries the epoch it was written in')
  t.same(log.endOffsetForEpoch(0), { epoch: 0, endOffset: 3 })
  t.same(log.endOffsetForEpoch(4), { epoch: 3, endOffset: 7 }, 'an unknown epoch answers with the largest known below it')
  t.same(log.endOffsetForEpoch(5), { epoch: 5, endOffset: 8 }, 'the latest epoch ends at the log end')
  t.throws(() => log.becomeLeader(4), FencedLeaderEpochError, 'an epoch below the latest is fenced')
  t.throws(() => log.append(batchOf('x', 1), { leaderEpoch: 2 }), FencedLeaderEpochError)
  await log.close()
  const again = await openLog({ dir, config: SMALL })
  t.same(epochsOf(again), [[0, 0], [3, 3], [5, 7]], 'the epochs survive a reopen')
  t.equal(again.leaderEpoch, 5, 'appends go on in the latest epoch')
  await again.close()
  fs.rmSync(path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE))
  const rebuilt = await openLog({ dir, config: SMALL, recover: true })
  t.same(epochsOf(rebuilt), [[0, 0], [3, 3], [5, 7]], 'a lost checkpoint is rebuilt from the batch headers')
  await rebuilt.close()
})

t.test('a follower copy is byte for byte the leader log, with its producer state and epochs', async t => {
  const leader = await openLog({ dir: tempDir(t), config: SMALL })
  const follower = await openLog({ dir: tempDir(t), config: SMALL })
  t.teardown(async () => { await leader.close(); await follower.close() })
  leader.becomeLeader(1)
  let seq = 0
  for (let i = 0; i < 40; i++) {
    if (i === 20) leader.becomeLeader(4)
    const count = 1 + (i % 4)
    leader.append(encodeBatch(Array.from({ length: count }, (_, j) => ({ key: utf8(`k${j}`), value: utf8(`${i}:${j}`) })), { producerId: 77, producerEpoch: 0, baseSequence: seq }))
    seq += count
  }
  follower.setReplicated(true)
  await replicate(leader, follower)
  t.equal(follower.logEndOffset, leader.logEndOffset)
  t.same(await storedBatches(follower), await storedBatches(leader), 'same batches, same bytes, same offsets')
  t.same(epochsOf(follower), epochsOf(leader), 'the follower learned the epochs from the batches')
  t.same(follower.producerState(77), leader.producerState(77), 'and the producer state')
  t.ok(follower.segmentCount > 1, 'across several segments')
  t.equal(follower.highWatermark, 0, 'a replicated follower does not move its high watermark by appending')
  t.same(await readAllRecords(follower), [], 'so consumers read nothing yet')
  follower.setHighWatermark(leader.logEndOffset)
  t.equal((await readAllRecords(follower)).length, leader.logEndOffset)
  // The follower becomes leader: a retry of the producer's last batch is a duplicate there.
  follower.becomeLeader(5)
  const lastCount = 1 + (39 % 4)
  const retry = follower.append(encodeBatch(Array.from({ length: lastCount }, (_, j) => ({ key: utf8(`k${j}`), value: utf8(`39:${j}`) })), { producerId: 77, producerEpoch: 0, baseSequence: seq - lastCount }))
  t.same({ duplicate: retry.duplicate, base: retry.baseOffset }, { duplicate: true, base: leader.logEndOffset - lastCount }, 'the new leader answers a retried batch with its offsets')
  const early = (await leader.read(0, 100, { maxOffset: leader.logEndOffset })).bytes
  t.throws(() => follower.appendAsFollower(new Uint8Array(early)), InvalidRecordError, 'batches below the log end are refused')
  const bad = new Uint8Array(early)
  bad[bad.length - 1]! ^= 0xff
  const fresh = await openLog({ dir: tempDir(t), config: SMALL })
  t.throws(() => fresh.appendAsFollower(bad), CorruptRecordError, 'a damaged batch is refused')
  t.equal(fresh.logEndOffset, 0, 'and nothing is written')
  await fresh.close()
})

t.test('the high watermark: set apart from appends, reads stop below it, it survives a reopen', async t => {
  const dir = tempDir(t)
  const log = await openLog({ dir, config: SMALL })
  log.append(batchOf('a', 5))
  t.equal(log.highWatermark, 5, 'single node: it follows the log end')
  log.setReplicated(true)
  log.append(batchOf('b', 5))
  t.equal(log.highWatermark, 5, 'replicated: appends leave it')
  t.equal((await readAllRecords(log)).length, 5, 'reads stop at the high watermark')
  const past = await log.read(5, 1 << 20, { maxOffset: log.logEndOffset })
  t.equal(past.nextOffset, 10, 'a replica fetch reads past it (maxOffset)')
  t.equal(log.setHighWatermark(8), true)
  t.equal(log.setHighWatermark(50), true, 'clamped to the log end')
  t.equal(log.highWatermark, 10)
  t.equal(log.setHighWatermark(10), false, 'no change reported')
  log.setHighWatermark(7)
  t.equal(log.highWatermark, 7, 'it may move back (a follower learning a new leader\'s lower value)')
  log.checkpointHighWatermark()
  await log.close()
  const again = await openLog({ dir, config: SMALL })
  t.equal(again.highWatermark, 10, 'a single-node open starts at the log end')
  again.setReplicated(true)
  t.equal(again.highWatermark, 7, 'a replicated one resumes from the checkpoint')
  again.setReplicated(false)
  t.equal(again.highWatermark, 10)
  await again.close()
})

t.test('truncateTo: across segments, inside a segment, inside a batch; everything follows', async t => {
  const dir = tempDir(t)
  const log = await openLog({ dir, config: SMALL })
  t.teardown(() => log.close())
  log.setReplicated(true)
  const bases: number[] = []
  let seq = 0
  for (let i = 0; i < 60; i++) {
    if (i === 30) log.becomeLeader(2)
    if (i === 45) log.becomeLeader(6)
    bases.push(log.logEndOffset)
    log.append(encodeBatch([{ key: utf8('k'), value: utf8(`v${i}:${'x'.repeat(i % 50)}`) }, { key: null, value: utf8(`w${i}`) }], { producerId: 9, producerEpoch: 0, baseSequence: seq }))
    seq += 2
  }
  log.setHighWatermark(log.logEndOffset)
  const segmentsBefore = log.segmentCount
  t.ok(segmentsBefore >= 4, `several segments (${segmentsBefore})`)
  // Inside a batch: the batch holding the offset goes whole.
  let end = await log.truncateTo(bases[50]! + 1)
  t.equal(end, bases[50], 'a batch holding the offset is cut whole')
  t.equal(log.logEndOffset, bases[50])
  t.equal(log.highWatermark, bases[50], 'the high watermark is capped at the new end')
  t.same(epochsOf(log), [[0, 0], [2, bases[30]], [6, bases[45]]])
  // Across segments, into epoch 0.
  end = await log.truncateTo(bases[20]!)
  t.equal(end, bases[20])
  t.same(epochsOf(log), [[0, 0]], 'epochs that started past the end are gone')
  t.ok(log.segmentCount < segmentsBefore, 'later segments were deleted')
  const records = await readAllRecords(log)
  t.equal(records.length, bases[20], 'every remaining offset reads')
  t.same(records.filter((_, i) => i % 2 === 0).map(r => text(r.value)!.split(':')[0]), Array.from({ length: 20 }, (_, i) => `v${i}`))
  for (let o = 0; o < bases[20]!; o++) {
    const r = await log.read(o, 1)
    t.ok(r.firstOffset <= o && r.nextOffset > o, `offset ${o} is found`)
  }
  t.same(log.producerState(9)?.batches.at(-1)?.lastOffset, bases[20]! - 1, 'producer state was rebuilt to the new end')
  t.throws(() => log.append(encodeBatch([{ value: utf8('dup') }], { producerId: 9, producerEpoch: 0, baseSequence: 60 })), Error, 'a sequence past the cut is out of order')
  const next = log.append(encodeBatch([{ value: utf8('after') }], { producerId: 9, producerEpoch: 0, baseSequence: 40 }))
  t.equal(next.baseOffset, bases[20], 'the producer goes on from the cut; appends continue at the new end')
  t.equal(log.latestEpoch, 0)
  t.equal(await log.truncateTo(log.logEndOffset + 10), log.logEndOffset, 'past the end: nothing to do')
  await log.close()
  const again = await openLog({ dir, config: SMALL, recover: true })
  t.equal(again.logEndOffset, bases[20]! + 1, 'the truncation is durable')
  t.same(epochsOf(again), [[0, 0]])
  again.setReplicated(true)
  t.equal(again.highWatermark, bases[20], 'with its checkpointed high watermark')
  t.equal((await readAllRecords(again, 0)).length, bases[20])
  await again.close()
})

t.test('truncateFullyAndStartAt: an empty log at the leader\'s start', async t => {
  const dir = tempDir(t)
  const log = await openLog({ dir, config: SMALL })
  for (let i = 0; i < 30; i++) log.append(batchOf(`b${i}`, 3))
  log.becomeLeader(4)
  await log.truncateFullyAndStartAt(500)
  t.same([log.logStartOffset, log.logEndOffset, log.highWatermark, log.segmentCount], [500, 500, 500, 1])
  t.same(epochsOf(log), [], 'no epochs')
  await t.rejects(log.read(10, 100), OffsetOutOfRangeError, 'old offsets are gone')
  t.equal(log.append(batchOf('x', 1)).baseOffset, 500, 'appends start at the new offset')
  log.append(batchOf('y', 1))
  t.same(fs.readdirSync(dir).filter(n => n.endsWith('.log')), ['00000000000000000500.log'])
  await log.close()
  const again = await openLog({ dir, config: SMALL, recover: true })
  t.same([again.logStartOffset, again.logEndOffset], [500, 502])
  t.equal(await again.truncateTo(501), 501, 'truncation inside the only segment')
  t.equal(await again.truncateTo(500), 500, 'down to the log start: empty again')
  t.same([again.logStartOffset, again.logEndOffset], [500, 500])
  await again.close()
})

t.test('random truncations leave exactly a prefix of the log, with consistent epochs', async t => {
  const random = rng(2024)
  for (let round = 0; round < 6; round++) {
    const reference = await openLog({ dir: tempDir(t), config: SMALL })
    const log = await openLog({ dir: tempDir(t), config: SMALL })
    let epoch = 0
    for (let i = 0; i < 80; i++) {
      if (random() < 0.1) epoch += 1 + Math.floor(random() * 3)
      reference.becomeLeader(Math.max(epoch, reference.latestEpoch))
      reference.append(batchOf(`r${round}:${i}`, 1 + Math.floor(random() * 4)))
    }
    log.setReplicated(true)
    await replicate(reference, log, 700)
    const full = await storedBatches(reference)
    for (let cut = 0; cut < 4; cut++) {
      const target = Math.floor(random() * log.logEndOffset)
      const end = await log.truncateTo(target)
      t.ok(end <= target, `round ${round}: the end ${end} is at or before ${target}`)
      const have = await storedBatches(log)
      t.same(have, full.slice(0, have.length), `round ${round}: a prefix of the original batches`)
      t.equal(log.epochEntries().filter(e => e.startOffset >= log.logEndOffset).length, 0, 'no epoch starts at or past the end')
      t.same(epochsOf(log), reference.epochEntries().filter(e => e.startOffset < end).map(e => [e.epoch, e.startOffset]), 'the epochs of that prefix')
      await replicate(reference, log, 700)
      t.same(await storedBatches(log), full, `round ${round}: fetching again restores the whole log`)
    }
    await reference.close()
    await log.close()
  }
})
