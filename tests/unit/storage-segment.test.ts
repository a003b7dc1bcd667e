// Building blocks of a segment: offset and time indexes, the batch scanner, the shared file
// handle cache (lazy open, LRU close, reference counts, retirement) and file naming.
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { OffsetIndex } from '../../broker/storage/offset-index.js'
import { TimeIndex } from '../../broker/storage/time-index.js'
import { FileHandleCache, FileRetiredError } from '../../broker/storage/file-handle-cache.js'
import { scanBatches } from '../../broker/storage/batch-scan.js'
import { offsetFileName, parseOffsetFileName } from '../../broker/storage/segment.js'
import { setBaseOffset } from '../../protocol/record-batch/header.js'
import { batchOf, concat, tempDir } from '../helpers/storage.js'

t.test('offset index: floor lookup, strictly increasing entries, validation of file bytes', async t => {
  const index = new OffsetIndex(1)
  t.equal(index.lookup(100), 0, 'empty index: scan from the start')
  for (let i = 1; i <= 100; i++) index.append(i * 10, i * 1000)
  index.append(500, 1) // not increasing: ignored
  t.equal(index.entryCount, 100)
  t.equal(index.lookup(5), 0)
  t.equal(index.lookup(10), 1000, 'exact entry')
  t.equal(index.lookup(19), 1000, 'between entries')
  t.equal(index.lookup(20), 2000)
  t.equal(index.lookup(5000), 100000, 'past the last entry')
  const bytes = Buffer.from(index.toBytes())
  const loaded = OffsetIndex.fromBytes(bytes, 100001)
  t.ok(loaded instanceof OffsetIndex)
  t.equal((loaded as OffsetIndex).lookup(555), 55000)
  t.match(OffsetIndex.fromBytes(bytes, 100000), /past the log/)
  t.match(OffsetIndex.fromBytes(bytes.subarray(0, 13), 1e9), /multiple of 8/)
  const swapped = Buffer.from(bytes)
  swapped.writeInt32BE(999, 8)
  t.match(OffsetIndex.fromBytes(swapped, 1e9), /does not increase/)
})

t.test('time index: entries only when the timestamp grows, floor lookup by time', async t => {
  const index = new TimeIndex(1)
  t.equal(index.lookup(5), 0)
  index.maybeAppend(1_700_000_000_000, 0)
  index.maybeAppend(1_700_000_000_000, 5) // not larger: ignored
  index.maybeAppend(1_700_000_000_500, 7)
  index.maybeAppend(-1, 9) // no timestamp
  index.maybeAppend(2 ** 41, 12)
  t.equal(index.entryCount, 3)
  t.equal(index.lastTimestamp, 2 ** 41)
  t.equal(index.lookup(1_699_999_999_999), 0)
  t.equal(index.lookup(1_700_000_000_499), 0)
  t.equal(index.lookup(1_700_000_000_500), 7)
  t.equal(index.lookup(2 ** 42), 12)
  const loaded = TimeIndex.fromBytes(Buffer.from(index.toBytes()))
  t.ok(loaded instanceof TimeIndex)
  t.equal((loaded as TimeIndex).timestampAt(2), 2 ** 41)
  t.match(TimeIndex.fromBytes(Buffer.alloc(13)), /multiple of 12/)
  t.match(TimeIndex.fromBytes(Buffer.alloc(24)), /does not increase/)
})

t.test('segment file names are 20-digit base offsets', async t => {
  t.equal(offsetFileName(368769, '.log'), '00000000000000368769.log')
  t.equal(parseOffsetFileName('00000000000000368769.log', '.log'), 368769)
  t.equal(parseOffsetFileName('00000000000000368769.index', '.log'), -1)
  t.equal(parseOffsetFileName('0000000000000036876x.log', '.log'), -1)
  t.equal(parseOffsetFileName('368769.log', '.log'), -1)
})

t.test('batch scanner: accepts whole valid batches and names the first problem', async t => {
  const dir = tempDir(t)
  const a = batchOf('a', 3)
  const b = batchOf('b', 2)
  setBaseOffset(b, 0, 3)
  const file = path.join(dir, 'x.log')
  fs.writeFileSync(file, concat(a, b, b.subarray(0, 20)))
  const fd = fs.openSync(file, 'r')
  t.teardown(() => fs.closeSync(fd))
  const size = fs.fstatSync(fd).size
  const seen: number[] = []
  const result = await scanBatches(fd, 0, size, { segmentBaseOffset: 0, verifyCrc: true, chunkBytes: 64 }, (_buf, _at, position) => { seen.push(position) })
  t.same(seen, [0, a.length], 'both whole batches, across small chunks')
  t.equal(result.validEnd, a.length + b.length)
  t.equal(result.nextOffset, 5)
  t.match(result.problem, /torn batch/)
  const stopped = await scanBatches(fd, 0, size, { segmentBaseOffset: 0, verifyCrc: false }, () => false)
  t.equal(stopped.validEnd, a.length, 'a visitor may stop early')
  const overlap = await scanBatches(fd, 0, size, { segmentBaseOffset: 0, verifyCrc: false, minNextOffset: 1 }, () => {})
  t.match(overlap.problem, /expected a start at or after 1/)
  const corrupt = Buffer.from(concat(a, b))
  corrupt[a.length + 40] ^= 1
  fs.writeFileSync(file, corrupt)
  const crc = await scanBatches(fd, 0, corrupt.length, { segmentBaseOffset: 0, verifyCrc: true }, () => {})
  t.equal(crc.validEnd, a.length)
  t.match(crc.problem, /CRC32C/)
})

t.test('file handle cache: lazy opens, LRU closes beyond the cap, held descriptors never close', async t => {
  const dir = tempDir(t)
  const cache = new FileHandleCache(3)
  const files = Array.from({ length: 6 }, (_, i) => {
    const p = path.join(dir, `f${i}`)
    fs.writeFileSync(p, `file ${i}`)
    return cache.file(p)
  })
  t.equal(cache.openCount, 0, 'nothing is opened until used')
  for (const f of files) {
    const fd = await f.acquire()
    const buf = Buffer.alloc(6)
    fs.readSync(fd, buf, 0, 6, 0)
    t.equal(buf.toString(), 'file ' + files.indexOf(f))
    f.release()
    t.ok(cache.openCount <= 3, `open ${cache.openCount}`)
  }
  t.equal(files.filter(f => f.fd >= 0).length, 3, 'the three most recently used stay open')
  t.ok(files.slice(3).every(f => f.fd >= 0))
  // Readers wait for a free slot when every descriptor is held.
  const held = await Promise.all(files.slice(0, 3).map(f => f.acquire()))
  t.equal(held.length, 3)
  t.equal(cache.openCount, 3)
  let waited = false
  const waiting = Promise.resolve(files[4]!.acquire()).then(fd => { waited = true; return fd })
  await new Promise(resolve => setImmediate(resolve))
  t.notOk(waited, 'a fourth reader waits')
  files[0]!.release()
  const fd4 = await waiting
  t.ok(fd4 >= 0 && cache.openCount <= 3, 'and gets a descriptor after a release')
  // A synchronous (append) acquire never waits: the cap is exceeded while all are held.
  files[5]!.acquireSync()
  t.equal(cache.openCount, 4)
  files[5]!.release()
  t.equal(cache.openCount, 3, 'back under the cap once idle')
  // Retiring a held file keeps the descriptor until the holder releases it.
  let closed = false
  const heldFd = files[1]!.fd
  files[1]!.retire(() => { closed = true })
  t.notOk(closed)
  t.throws(() => files[1]!.acquire(), FileRetiredError)
  fs.readSync(heldFd, Buffer.alloc(1), 0, 1, 0)
  files[1]!.release()
  t.ok(closed, 'closed after the last release')
  files[2]!.release()
  files[4]!.release()
  const reopened = cache.opensTotal
  await files[4]!.acquire()
  files[4]!.release()
  t.equal(cache.opensTotal, reopened, 'an idle descriptor is reused, not reopened')
})

t.test('file handle cache: a reader queued for a file another holder opens is served, under load', async t => {
  const dir = tempDir(t)
  const cache = new FileHandleCache(5)
  const files = Array.from({ length: 20 }, (_, i) => {
    const p = path.join(dir, `f${i}`)
    fs.writeFileSync(p, 'x')
    return cache.file(p)
  })
  // Fill the cache with held descriptors, queue a reader for a closed file, then open and
  // release that file synchronously (as an append would): the reader must be served.
  for (let i = 0; i < 5; i++) files[i]!.acquireSync()
  let served = false
  const queued = Promise.resolve(files[10]!.acquire()).then(fd => { served = true; return fd })
  files[10]!.acquireSync()
  files[10]!.release()
  await new Promise(resolve => setImmediate(resolve))
  t.ok(served, 'served with the descriptor the other holder opened')
  files[10]!.release()
  await queued
  for (let i = 0; i < 5; i++) files[i]!.release()
  // Many readers: never more descriptors than the cap. Then readers mixed with synchronous
  // users (appends), which may open past the cap while every descriptor is held: everyone
  // finishes and the cache is back under the cap afterwards.
  const run = async (withSyncUsers: boolean): Promise<{ finished: number, max: number }> => {
    let finished = 0
    let max = 0
    await Promise.all(Array.from({ length: 30 }, async (_, i) => {
      for (let k = 0; k < 40; k++) {
        const f = files[(i * 7 + k) % files.length]!
        const fd = await f.acquire()
        max = Math.max(max, cache.openCount)
        await new Promise(resolve => setImmediate(resolve))
        fs.fstatSync(fd)
        f.release()
        if (withSyncUsers && k % 3 === 0) {
          const g = files[(i + k) % files.length]!
          g.acquireSync()
          g.release()
        }
      }
      finished++
    }))
    return { finished, max }
  }
  const readersOnly = await run(false)
  t.equal(readersOnly.finished, 30)
  t.ok(readersOnly.max <= 5, `readers never exceeded the cap (${readersOnly.max})`)
  const mixed = await run(true)
  t.equal(mixed.finished, 30, 'mixed with synchronous users: everyone finishes')
  t.ok(files.every(f => f.refs === 0))
  t.ok(cache.openCount <= 5, 'back under the cap')
})
