// The leader-epoch cache (broker/storage/leader-epoch-cache.ts): Kafka's assign, endOffsetFor
// (OffsetForLeaderEpoch, with its UNDEFINED answers) and truncation rules, the checkpoint file
// (atomic, survives reopen), rebuilding a damaged or missing file from real segments written
// by PartitionLog, and a randomized comparison against a plain model, reopening from disk
// along the way.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import fc from 'fast-check'
import {
  LEADER_EPOCH_CHECKPOINT_FILE, LeaderEpochCache, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET, scanLeaderEpochs, type EpochEntry,
} from '../../broker/storage/leader-epoch-cache.js'
import { InvalidArgumentError } from '../../protocol/errors.js'
import { batchOf, captureLogger, openLog, tempDir } from '../helpers/storage.js'

const pairs = (c: LeaderEpochCache): Array<[number, number]> => c.entries.map(e => [e.epoch, e.startOffset])

t.test('assign keeps epochs and offsets increasing, dropping conflicting entries', async t => {
  const dir = tempDir(t)
  const c = new LeaderEpochCache(dir, [], { fsync: false })
  t.equal(c.latestEpoch, UNDEFINED_EPOCH)
  t.equal(c.assign(2, 6), true)
  t.equal(c.assign(2, 10), false, 'same epoch at a later offset: nothing to record')
  t.equal(c.assign(3, 8), true)
  t.equal(c.assign(4, 11), true)
  t.same(pairs(c), [[2, 6], [3, 8], [4, 11]])
  t.equal(c.assign(-1, 20), false, 'negative (pre-epoch) batches are ignored')
  t.equal(c.assign(3, 12), true, 'a lower epoch than the latest drops the entries at or above it')
  t.same(pairs(c), [[2, 6], [3, 12]])
  t.equal(c.assign(5, 7), true, 'an earlier start offset drops the entries at or after it')
  t.same(pairs(c), [[2, 6], [5, 7]])
  t.equal(c.assign(5, 6), true, 'same epoch, earlier offset: moves the start back (and drops the older epoch starting there)')
  t.same(pairs(c), [[5, 6]])
  t.throws(() => c.assign(1, -1), InvalidArgumentError)
  t.throws(() => c.assign(2 ** 31, 0), InvalidArgumentError)
  t.equal(c.epochForOffset(5), UNDEFINED_EPOCH)
  t.equal(c.epochForOffset(6), 5)
  t.equal(c.epochForOffset(600), 5)
})

t.test('endOffsetFor answers as Kafka\'s OffsetForLeaderEpoch does', async t => {
  const c = new LeaderEpochCache(tempDir(t), [{ epoch: 2, startOffset: 6 }, { epoch: 3, startOffset: 8 }, { epoch: 5, startOffset: 11 }], { fsync: false })
  const leo = 20
  t.same(c.endOffsetFor(UNDEFINED_EPOCH, leo), { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET }, 'undefined epoch asked')
  t.same(c.endOffsetFor(5, leo), { epoch: 5, endOffset: leo }, 'latest epoch: the log end offset')
  t.same(c.endOffsetFor(6, leo), { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET }, 'above every known epoch')
  t.same(c.endOffsetFor(2, leo), { epoch: 2, endOffset: 8 }, 'a known epoch ends where the next starts')
  t.same(c.endOffsetFor(4, leo), { epoch: 3, endOffset: 11 }, 'an unknown epoch in a gap: the floor epoch, ending at the next start')
  t.same(c.endOffsetFor(1, leo), { epoch: 1, endOffset: 6 }, 'below every known epoch: the first start offset')
  const empty = new LeaderEpochCache(tempDir(t), [], { fsync: false })
  t.same(empty.endOffsetFor(0, leo), { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET }, 'empty cache')
})

t.test('truncation from the end and from the start', async t => {
  const c = new LeaderEpochCache(tempDir(t), [{ epoch: 2, startOffset: 6 }, { epoch: 3, startOffset: 8 }, { epoch: 4, startOffset: 11 }], { fsync: false })
  c.truncateFromEnd(12)
  t.same(pairs(c), [[2, 6], [3, 8], [4, 11]], 'entries before the end stay')
  c.truncateFromEnd(11)
  t.same(pairs(c), [[2, 6], [3, 8]], 'an entry starting at the end goes')
  c.assign(4, 11)
  c.truncateFromStart(5)
  t.same(pairs(c), [[2, 6], [3, 8], [4, 11]], 'start before the first entry: unchanged')
  c.truncateFromStart(9)
  t.same(pairs(c), [[3, 9], [4, 11]], 'entries at or before the start collapse into one at the start')
  c.truncateFromStart(11)
  t.same(pairs(c), [[4, 11]], 'exclusive: an entry at the new start stays')
  c.truncateFromEnd(0)
  t.same(pairs(c), [], 'truncating to 0 empties it')
})

t.test('the checkpoint is written atomically and read back', async t => {
  const dir = tempDir(t)
  const c = await LeaderEpochCache.open(dir)
  t.same(c.entries, [], 'new partition: empty')
  t.notOk(fs.existsSync(path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE)), 'nothing written until something is assigned')
  c.assign(0, 0)
  c.assign(3, 1200)
  c.assign(4, 5077)
  const file = path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE)
  const text = fs.readFileSync(file, 'utf8')
  t.match(text, /^spool-leader-epoch-checkpoint 1\n\{"entries":\[\[0,0\],\[3,1200\],\[4,5077\]\]\}\n[0-9a-f]{8}\n$/)
  t.same(fs.readdirSync(dir), [LEADER_EPOCH_CHECKPOINT_FILE], 'no temp file left behind')
  const again = await LeaderEpochCache.open(dir)
  t.same(pairs(again), [[0, 0], [3, 1200], [4, 5077]])
  const trimmed = await LeaderEpochCache.open(dir, { logStartOffset: 2000, logEndOffset: 5077 })
  t.same(pairs(trimmed), [[3, 2000]], 'open applies the recovered log start and end')
  t.same(pairs(await LeaderEpochCache.open(dir)), [[3, 2000]], 'and persists that')
})

t.test('a damaged or missing checkpoint is rebuilt from the segments\' batch headers', async t => {
  const dir = tempDir(t)
  const log = await openLog({ dir, config: { segmentBytes: 1024 } })
  const epochs = [0, 0, 2, 2, 2, 5, 7, 7]
  const starts = new Map<number, number>()
  for (const epoch of epochs) {
    const r = log.append(batchOf(`e${epoch}`, 20), { leaderEpoch: epoch })
    if (!starts.has(epoch)) starts.set(epoch, r.baseOffset)
  }
  await log.close()
  t.ok(fs.readdirSync(dir).filter(f => f.endsWith('.log')).length > 1, 'several segments')
  const expected: EpochEntry[] = [...starts].map(([epoch, startOffset]) => ({ epoch, startOffset }))
  t.same(await scanLeaderEpochs(dir), expected)

  const { logger, lines } = captureLogger()
  const missing = await LeaderEpochCache.open(dir, { logger })
  t.same(missing.entries, expected, 'missing file: rebuilt')
  t.equal(lines.filter(l => l.msg.includes('damaged')).length, 0, 'a missing file is not reported as damage')
  const file = path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE)
  t.ok(fs.existsSync(file), 'and written back')

  const damages: Array<[string, (b: Buffer) => Buffer]> = [
    ['flipped byte', b => { const c = Buffer.from(b); c[c.indexOf('[') + 3] ^= 0x01; return c }],
    ['torn', b => b.subarray(0, Math.floor(b.length / 2))],
    ['empty', () => Buffer.alloc(0)],
    ['out of order', () => Buffer.from('spool-leader-epoch-checkpoint 1\n{"entries":[[3,5],[2,9]]}\n' +
      'ffffffff\n')],
  ]
  for (const [name, damage] of damages) {
    fs.writeFileSync(file, damage(fs.readFileSync(file)))
    lines.length = 0
    const c = await LeaderEpochCache.open(dir, { logger })
    t.same(c.entries, expected, `${name}: rebuilt`)
    t.equal(lines.filter(l => l.msg === 'leader-epoch checkpoint damaged; rebuilt from the log').length, 1, `${name}: one warning`)
    t.same((await LeaderEpochCache.open(dir)).entries, expected, `${name}: the rebuilt file reads back`)
  }
})

/** The model: a plain list, with each rule written the obvious way. */
class Model {
  entries: EpochEntry[] = []
  assign (epoch: number, startOffset: number): void {
    const last = this.entries.at(-1)
    if (epoch < 0 || (last !== undefined && last.epoch === epoch && startOffset >= last.startOffset)) return
    this.entries = this.entries.filter(e => e.epoch < epoch && e.startOffset < startOffset).concat([{ epoch, startOffset }])
  }

  truncateFromEnd (end: number): void { this.entries = this.entries.filter(e => e.startOffset < end) }
  truncateFromStart (start: number): void {
    const before = this.entries.filter(e => e.startOffset <= start)
    if (before.length === 0) return
    this.entries = [{ epoch: before.at(-1)!.epoch, startOffset: start }, ...this.entries.filter(e => e.startOffset > start)]
  }

  endOffsetFor (epoch: number, leo: number): { epoch: number, endOffset: number } {
    if (epoch === UNDEFINED_EPOCH) return { epoch: -1, endOffset: -1 }
    const epochs = this.entries.map(e => e.epoch)
    if (epochs.length > 0 && Math.max(...epochs) === epoch) return { epoch, endOffset: leo }
    const higher = this.entries.filter(e => e.epoch > epoch)
    if (higher.length === 0) return { epoch: -1, endOffset: -1 }
    const floor = this.entries.filter(e => e.epoch <= epoch)
    return { epoch: floor.length === 0 ? epoch : floor.at(-1)!.epoch, endOffset: higher[0]!.startOffset }
  }
}

t.test('randomized operations match the model, also across reopening from disk', async t => {
  const root = tempDir(t)
  let run = 0
  const command = fc.oneof(
    fc.record({ op: fc.constant('assign' as const), epoch: fc.integer({ min: -1, max: 12 }), offset: fc.integer({ min: 0, max: 60 }) }),
    fc.record({ op: fc.constant('end' as const), offset: fc.integer({ min: 0, max: 60 }) }),
    fc.record({ op: fc.constant('start' as const), offset: fc.integer({ min: 0, max: 60 }) }),
    fc.record({ op: fc.constant('reopen' as const) }),
  )
  await fc.assert(fc.asyncProperty(fc.array(command, { maxLength: 30 }), fc.array(fc.integer({ min: -1, max: 14 }), { minLength: 3, maxLength: 3 }), async (commands, probes) => {
    const dir = path.join(root, String(run++))
    fs.mkdirSync(dir)
    const model = new Model()
    let cache = await LeaderEpochCache.open(dir, { fsync: false, rebuild: async () => [] })
    for (const c of commands) {
      if (c.op === 'assign') { cache.assign(c.epoch, c.offset); model.assign(c.epoch, c.offset) }
      if (c.op === 'end') { cache.truncateFromEnd(c.offset); model.truncateFromEnd(c.offset) }
      if (c.op === 'start') { cache.truncateFromStart(c.offset); model.truncateFromStart(c.offset) }
      if (c.op === 'reopen') {
        cache = await LeaderEpochCache.open(dir, {
          fsync: false,
          rebuild: async () => {
            if (fs.existsSync(path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE))) throw new Error('a written file must not need a rebuild')
            return []
          },
        })
      }
      if (JSON.stringify(cache.entries) !== JSON.stringify(model.entries)) {
        throw new Error(`after ${JSON.stringify(c)}: ${JSON.stringify(cache.entries)} != model ${JSON.stringify(model.entries)}`)
      }
      for (const epoch of probes) {
        const got = cache.endOffsetFor(epoch, 100)
        const want = model.endOffsetFor(epoch, 100)
        if (got.epoch !== want.epoch || got.endOffset !== want.endOffset) throw new Error(`endOffsetFor(${epoch}): ${JSON.stringify(got)} != ${JSON.stringify(want)}`)
      }
    }
    fs.rmSync(dir, { recursive: true })
  }), { numRuns: 200 })
  t.pass('200 random runs')
})
