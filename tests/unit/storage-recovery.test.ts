// Recovery (broker/storage/recovery.ts): garbage at a random point truncates exactly there,
// the recovery point limits what is scanned, torn tails are cut, and index files that are
// missing, of a bad size or full of garbage are rebuilt with reads still correct.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { forEachBatch, readBatchHeader } from '../../protocol/record-batch/index.js'
import { LOG_CHECKPOINT_FILE } from '../../broker/storage/checkpoint.js'
import { rng } from '../helpers/bytes.js'
import { batchOf, captureLogger, openLog, readAllRecords, tempDir, text } from '../helpers/storage.js'

const T0 = 1_700_000_000_000
const CONFIG = { segmentBytes: 2000, indexIntervalBytes: 200 }

interface OnDisk { segment: string, start: number, end: number, base: number, last: number }

/** Every batch in every .log file of `dir`, in offset order. */
function batchesOnDisk (dir: string): OnDisk[] {
  const out: OnDisk[] = []
  for (const name of fs.readdirSync(dir).filter(n => n.endsWith('.log')).sort()) {
    const bytes = fs.readFileSync(path.join(dir, name))
    forEachBatch(bytes, (pos, size) => {
      const h = readBatchHeader(bytes, pos)
      out.push({ segment: name, start: pos, end: pos + size, base: h.baseOffset, last: h.baseOffset + h.lastOffsetDelta })
    })
  }
  return out
}

/** Appends batches of 1-6 records tagged `b<i>` with growing timestamps. */
async function buildLog (dir: string, batches: number, seed: number): Promise<Awaited<ReturnType<typeof openLog>>> {
  const log = await openLog({ dir, config: CONFIG })
  const random = rng(seed)
  for (let i = 0; i < batches; i++) log.append(batchOf(`b${i}`, 1 + Math.floor(random() * 6), { timestamp: T0 + i * 10 }))
  return log
}

for (const mode of ['active segment, crash without close', 'any segment, checkpoint lost'] as const) {
  t.test(`garbage at a random point (${mode}): exactly the earlier batches survive`, async t => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const dir = tempDir(t)
      const log = await buildLog(dir, 120, seed)
      if (mode === 'any segment, checkpoint lost') await log.close()
      const before = batchesOnDisk(dir)
      const segments = [...new Set(before.map(b => b.segment))]
      const random = rng(seed * 7919)
      const victim = mode === 'active segment, crash without close' ? segments.at(-1)! : segments[Math.floor(random() * segments.length)]!
      const victimPath = path.join(dir, victim)
      const size = fs.statSync(victimPath).size
      const point = Math.floor(random() * size)
      const garbage = crypto.randomBytes(Math.max(32, Math.floor(random() * 500)))
      const fd = fs.openSync(victimPath, 'r+')
      fs.writeSync(fd, garbage, 0, garbage.length, point)
      fs.closeSync(fd)
      if (mode === 'any segment, checkpoint lost') fs.rmSync(path.join(dir, LOG_CHECKPOINT_FILE))

      const survivors = before.filter(b => b.segment < victim || (b.segment === victim && b.end <= point))
      const { logger, lines } = captureLogger()
      const recovered = await openLog({ dir, config: CONFIG, recover: true, logger })
      const expectedLeo = survivors.length === 0 ? 0 : survivors.at(-1)!.last + 1
      t.equal(recovered.logEndOffset, expectedLeo, `seed ${seed}: log end offset follows the last good batch`)
      const records = await readAllRecords(recovered)
      t.equal(records.length, expectedLeo, `seed ${seed}: every surviving record readable`)
      t.same(batchesOnDisk(dir), survivors, `seed ${seed}: exactly the batches before the garbage, later segments deleted`)
      const warn = lines.find(l => l.level === 40 && l.msg === 'recovery truncated a torn or corrupt log tail')
      const cut = survivors.filter(b => b.segment === victim).at(-1)?.end ?? 0
      const laterBytes = before.filter(b => b.segment > victim).reduce((n, b) => n + b.end - b.start, 0)
      const expectedDropped = Math.max(size, point + garbage.length) - cut + laterBytes
      t.equal(warn?.droppedBytes, expectedDropped, `seed ${seed}: warn line says how many bytes were dropped`)
      const next = recovered.append(batchOf('after', 3, { timestamp: T0 }))
      t.equal(next.baseOffset, expectedLeo, `seed ${seed}: appends continue`)
      const tail = await readAllRecords(recovered, expectedLeo)
      t.same(tail.map(r => text(r.value)), ['after:0', 'after:1', 'after:2'])
      await recovered.close()
    }
  })
}

t.test('the recovery point limits the scan to the segments that may be unflushed', async t => {
  const dir = tempDir(t)
  const log = await buildLog(dir, 120, 9)
  const segments = log.segmentCount
  t.ok(segments > 3)
  await log.close()
  const { logger, lines } = captureLogger()
  const reopened = await openLog({ dir, config: CONFIG, recover: true, logger })
  const info = lines.find(l => l.msg === 'log recovered')
  t.equal(info?.recoveredSegments, 1, 'after a clean close only the last segment is scanned')
  t.equal(reopened.logEndOffset, log.logEndOffset)
  // Now crash after more rolls: the background flush moves the recovery point on each roll.
  const random = rng(10)
  for (let i = 0; i < 60; i++) reopened.append(batchOf(`c${i}`, 1 + Math.floor(random() * 6), { timestamp: T0 }))
  await reopened.sync()
  const rp = reopened.recoveryPoint
  const bases = reopened.segmentBaseOffsets()
  let firstScanned = 0
  while (firstScanned < bases.length - 1 && bases[firstScanned + 1]! <= rp) firstScanned++
  const expectedScanned = bases.length - firstScanned
  const lines2 = captureLogger()
  const crashed = await openLog({ dir, config: CONFIG, recover: true, logger: lines2.logger })
  t.ok(expectedScanned < reopened.segmentCount, `${expectedScanned} of ${reopened.segmentCount} segments to scan`)
  t.ok((lines2.lines.find(l => l.msg === 'log recovered')?.recoveredSegments as number) <= expectedScanned)
  t.equal(crashed.logEndOffset, reopened.logEndOffset)
  await crashed.close()
})

t.test('a torn tail found after a "clean" shutdown is truncated', async t => {
  const dir = tempDir(t)
  const log = await buildLog(dir, 30, 11)
  const leo = log.logEndOffset
  await log.close()
  const last = fs.readdirSync(dir).filter(n => n.endsWith('.log')).sort().at(-1)!
  const extra = batchOf('torn', 5, { timestamp: T0 })
  fs.appendFileSync(path.join(dir, last), extra.subarray(0, extra.length - 9))
  const { logger, lines } = captureLogger()
  const reopened = await openLog({ dir, config: CONFIG, logger })
  t.equal(reopened.logEndOffset, leo)
  t.ok(lines.some(l => l.level === 40 && l.droppedBytes === extra.length - 9))
  t.equal(reopened.append(batchOf('x', 1)).baseOffset, leo)
  await reopened.close()
})

t.test('index files deleted, truncated, of a garbage size or pointing past the log are rebuilt', async t => {
  const damages: Array<[string, (file: string) => void]> = [
    ['deleted', file => fs.rmSync(file)],
    ['truncated to a partial entry', file => fs.truncateSync(file, Math.max(0, fs.statSync(file).size - 3))],
    ['garbage of a non-multiple size', file => fs.writeFileSync(file, crypto.randomBytes(29))],
    ['garbage of a valid size', file => fs.writeFileSync(file, crypto.randomBytes(24 * 4))],
    ['pointing past the log', file => {
      const b = Buffer.alloc(24)
      b.writeInt32BE(1, 0); b.writeInt32BE(10, 4); b.writeInt32BE(2, 8); b.writeInt32BE(1 << 30, 12)
      b.writeInt32BE(3, 16); b.writeInt32BE((1 << 30) + 1, 20)
      if (file.endsWith('.index')) fs.writeFileSync(file, b)
    }],
  ]
  for (const [name, damage] of damages) {
    const dir = tempDir(t)
    const log = await buildLog(dir, 150, 12)
    const expected = await readAllRecords(log)
    const probes: Array<[number, unknown]> = []
    for (let ts = T0 - 5; ts < T0 + 1500; ts += 37) probes.push([ts, await log.offsetForTimestamp(ts)])
    await log.close()
    for (const file of fs.readdirSync(dir)) {
      if (file.endsWith('.index') || file.endsWith('.timeindex')) damage(path.join(dir, file))
    }
    const { logger, lines } = captureLogger()
    const reopened = await openLog({ dir, config: CONFIG, logger })
    const records = await readAllRecords(reopened, 0, 100)
    t.same(records.map(r => [r.offset, text(r.value)]), expected.map(r => [r.offset, text(r.value)]), `${name}: reads`)
    let bad = 0
    for (const [ts, answer] of probes) if (JSON.stringify(await reopened.offsetForTimestamp(ts)) !== JSON.stringify(answer)) bad++
    t.equal(bad, 0, `${name}: timestamp lookups`)
    for (let offset = 0; offset < reopened.logEndOffset; offset += 7) {
      const r = await reopened.read(offset, 1)
      const h = readBatchHeader(r.bytes, 0)
      if (!(h.baseOffset <= offset && offset <= h.baseOffset + h.lastOffsetDelta)) bad++
    }
    t.equal(bad, 0, `${name}: reads from scattered offsets`)
    if (name !== 'garbage of a valid size') {
      t.ok(lines.some(l => l.msg === 'rebuilding segment indexes'), `${name}: rebuild logged`)
    }
    await reopened.close()
    const sizes = fs.readdirSync(dir).filter(f => f.endsWith('.index')).map(f => fs.statSync(path.join(dir, f)).size)
    t.ok(sizes.every(s => s % 8 === 0), `${name}: index files valid again`)
  }
})
