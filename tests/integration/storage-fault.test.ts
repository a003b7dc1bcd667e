// Storage faults at named points (broker/storage/testing/fault-points.ts).
//
// 1. Crashes: a child process (this file, run with SPOOL_STORAGE_FAULT_CHILD) appends
//    idempotent batches to a partition log and prints each one the log acknowledged; a fault
//    point armed with 'exit' ends it at an exact step: after a write before the index and
//    offsets move, half-way through a batch, at each step of a segment roll, half-way through
//    and just before the rename of a producer snapshot, in a background fsync, at each step of
//    a compaction swap, of a retention delete, of close, and of a truncation (a follower
//    cutting a divergent tail across segments and leader epochs). The parent then recovers the
//    directory and checks the log: every acknowledged batch is there (or, past retention and
//    compaction, exactly what those keep) with its offsets and bytes, nothing else but the
//    batch the crash interrupted; no torn batch, temp, .deleted or .cleaned file is left;
//    index files written after recovery agree with the .log; the producer state agrees with
//    the log, a retry of each producer's last batch is answered as a duplicate and appends go
//    on; a clean reopen reads the same.
// 2. A failed write seen through the SDK (defect 5): the first batch of an idempotent
//    producer on a partition fails to be written (the write is torn half-way and undone)
//    while the next batch of that partition is ready. The broker holds no state for the
//    producer there yet and would accept the next batch out of order; the producer must keep
//    the second batch back until the first is acknowledged, so both are written once, in
//    order, and no send fails with OUT_OF_ORDER_SEQUENCE_NUMBER.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { crc32c } from '../../protocol/bytes/crc32c.js'
import { MAGIC_V2, OFFSET_ATTRIBUTES, OFFSET_CRC, OFFSET_MAGIC, readBatchHeader } from '../../protocol/record-batch/header.js'
import { decodeBatch, encodeBatch, forEachBatch } from '../../protocol/record-batch/records.js'
import { installNodeCodecs } from '../../platform/node-codecs.js'
import { DEFAULT_LOG_CONFIG, type LogConfig } from '../../broker/storage/config.js'
import { FileHandleCache } from '../../broker/storage/file-handle-cache.js'
import { PartitionLog } from '../../broker/storage/partition-log.js'
import type { ProducerBatchMeta } from '../../broker/storage/producer-state.js'
import { faultPoints } from '../../broker/storage/testing/fault-points.js'
import { utf8 } from '../helpers/bytes.js'
import { silentLogger, text } from '../helpers/storage.js'

const CHILD_ENV = 'SPOOL_STORAGE_FAULT_CHILD'
const PIDS = [500, 501, 502]
const KEYS = 16

type Workload = 'append' | 'compact' | 'retention' | 'close' | 'truncate'

interface ChildSpec { dir: string, workload: Workload, point: string, skip: number }

const CONFIGS: Record<Workload, Partial<LogConfig>> = {
  append: { segmentBytes: 8192, indexIntervalBytes: 512 },
  compact: { segmentBytes: 4096, indexIntervalBytes: 256, cleanupPolicy: 'compact', minCleanableDirtyRatio: 0.01 },
  retention: { segmentBytes: 4096, indexIntervalBytes: 256, retentionBytes: 16384, retentionMs: -1 },
  close: { segmentBytes: 1024 * 1024, indexIntervalBytes: 512 },
  truncate: { segmentBytes: 4096, indexIntervalBytes: 256 },
}

/** The truncate workload: epoch 1 from batch 0, epoch 2 from TRUNCATE_EPOCH_AT; the cut is at batch TRUNCATE_AT. */
const TRUNCATE_EPOCH_AT = 200
const TRUNCATE_AT = 150

/** Batch `i` of the workload: producer PIDS[i % 3], 1..5 keyed records; the parent rebuilds it to compare and retry. */
function workloadBatch (i: number, seq: number): Uint8Array {
  const count = 1 + ((i * 7) % 5)
  const records = Array.from({ length: count }, (_, j) => ({
    key: utf8(`k${(i + j) % KEYS}`),
    value: utf8(`${i}:${j}:${'p'.repeat(30 + ((i * 13 + j) % 120))}`),
    timestamp: 1_700_000_000_000 + i,
  }))
  return encodeBatch(records, { producerId: PIDS[i % PIDS.length]!, producerEpoch: 0, baseSequence: seq })
}

const countOf = (i: number): number => 1 + ((i * 7) % 5)

function openLog (dir: string, workload: Workload, recover: boolean): Promise<PartitionLog> {
  return PartitionLog.open({
    dir, topic: 'fault', partition: 0, config: { ...DEFAULT_LOG_CONFIG, ...CONFIGS[workload] }, logger: silentLogger, recover, handles: new FileHandleCache(16),
  })
}

// ---------------------------------------------------------------- child

/**
 * Writes a line to stdout, whole, before going on: stdout is a pipe the parent may be slow to
 * read on a loaded machine, and a non-blocking pipe answers EAGAIN when it is full.
 */
function writeLine (text: string): void {
  const bytes = Buffer.from(text)
  const pause = new Int32Array(new SharedArrayBuffer(4))
  for (let at = 0, tries = 0; at < bytes.length;) {
    try {
      at += fs.writeSync(1, bytes, at)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || ++tries > 10_000) throw err
      Atomics.wait(pause, 0, 0, 1)
    }
  }
}

async function runChild (spec: ChildSpec): Promise<void> {
  installNodeCodecs()
  const log = await openLog(spec.dir, spec.workload, true)
  if (spec.workload !== 'truncate') faultPoints.arm(spec.point, 'exit', { skip: spec.skip, times: 1 })
  const batches = spec.workload === 'append' ? 3000 : spec.workload === 'close' ? 200 : 400
  const seqs = new Map(PIDS.map(p => [p, 0]))
  const bases: number[] = []
  for (let i = 0; i < batches; i++) {
    if (spec.workload === 'truncate' && (i === 0 || i === TRUNCATE_EPOCH_AT)) log.becomeLeader(i === 0 ? 1 : 2)
    bases.push(log.logEndOffset)
    const pid = PIDS[i % PIDS.length]!
    const seq = seqs.get(pid)!
    const r = log.append(workloadBatch(i, seq))
    seqs.set(pid, seq + countOf(i))
    writeLine(`acked ${i} ${seq} ${r.baseOffset}\n`)
    if (i % 8 === 0) await new Promise(resolve => setImmediate(resolve))
  }
  if (spec.workload === 'compact') {
    log.roll()
    await log.compact()
  }
  if (spec.workload === 'retention') await log.enforceRetention()
  if (spec.workload === 'close') await log.close()
  if (spec.workload === 'truncate') {
    faultPoints.arm(spec.point, 'exit', { skip: spec.skip, times: 1 })
    await log.truncateTo(bases[TRUNCATE_AT]!)
  }
  process.exit(0) // the point was never reached: the parent says so
}

// ---------------------------------------------------------------- parent

/**
 * What recovery checks of a stored batch: magic and CRC-32C. (Not validateBatch: a batch the
 * cleaner rewrote keeps its lastOffsetDelta with fewer records, which a producer may not send.)
 */
function checkStoredBatch (bytes: Buffer, pos: number, size: number): void {
  if (bytes[pos + OFFSET_MAGIC] !== MAGIC_V2) throw new Error(`magic ${bytes[pos + OFFSET_MAGIC]} at ${pos}`)
  if (crc32c(bytes, pos + OFFSET_ATTRIBUTES, pos + size) !== bytes.readUInt32BE(pos + OFFSET_CRC)) throw new Error(`CRC mismatch at ${pos}`)
}

interface Acked { i: number, seq: number, base: number }

interface StoredBatch { base: number, last: number, pid: number, seq: number, values: Array<string | null>, offsets: number[], keys: Array<string | null>, maxTimestamp: number }

async function crashAt (t: Test, spec: Omit<ChildSpec, 'dir'>, dir: string): Promise<Acked[]> {
  const self = fileURLToPath(import.meta.url)
  const child = spawn(process.execPath, [self], {
    env: { ...process.env, [CHILD_ENV]: JSON.stringify({ ...spec, dir }) }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL') })
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d })
  const code = await new Promise<number | string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the child at ${spec.point} did not end within 30 s`)), 30_000)
    child.once('exit', (c, s) => { clearTimeout(timer); resolve(c ?? s ?? -1) })
  })
  t.equal(code, 137, `the child crashed at ${spec.point}${code === 137 ? '' : `: ${err.slice(-500)}`}`)
  return out.split('\n').filter(l => l.startsWith('acked ')).map(l => {
    const [, i, seq, base] = l.split(' ').map(Number)
    return { i: i!, seq: seq!, base: base! }
  })
}

async function readBatches (log: PartitionLog): Promise<StoredBatch[]> {
  const out: StoredBatch[] = []
  let offset = log.logStartOffset
  for (let guard = 0; offset < log.highWatermark && guard < 100_000; guard++) {
    const r = await log.read(offset, 1 << 20)
    forEachBatch(r.bytes, (pos, size) => {
      checkStoredBatch(r.bytes, pos, size)
      const h = readBatchHeader(r.bytes, pos)
      const records = decodeBatch(r.bytes, pos).records
      out.push({
        base: h.baseOffset, last: h.baseOffset + h.lastOffsetDelta, pid: h.producerId, seq: h.baseSequence, maxTimestamp: h.maxTimestamp,
        values: records.map(x => text(x.value)), offsets: records.map(x => x.offset), keys: records.map(x => text(x.key)),
      })
    })
    if (r.nextOffset <= offset) throw new Error(`no progress reading at ${offset}`)
    offset = r.nextOffset
  }
  return out
}

/** Every .log holds whole valid batches only; no temp, .deleted, .cleaned or swap file is left. */
function checkFiles (t: Test, dir: string): void {
  const names = fs.readdirSync(dir)
  t.same(names.filter(n => /\.tmp$|\.deleted$|\.cleaned$|^cleaner\.swap$/.test(n)), [], 'no leftover file')
  let bad = 0
  for (const name of names.filter(n => n.endsWith('.log'))) {
    const bytes = fs.readFileSync(path.join(dir, name))
    const consumed = forEachBatch(bytes, (pos, size) => {
      try {
        checkStoredBatch(bytes, pos, size)
      } catch {
        bad++
      }
    })
    if (consumed !== bytes.length) bad++
  }
  t.equal(bad, 0, 'every .log holds whole batches with valid CRCs, nothing torn')
}

/** Index files (written by close) agree with their .log. */
function checkIndexes (t: Test, dir: string): void {
  let problems = 0
  for (const name of fs.readdirSync(dir).filter(n => n.endsWith('.log'))) {
    const base = Number(name.slice(0, 20))
    const log = fs.readFileSync(path.join(dir, name))
    const starts = new Map<number, number>()
    let lastOffset = base - 1
    forEachBatch(log, pos => {
      starts.set(pos, readBatchHeader(log, pos).baseOffset)
      lastOffset = readBatchHeader(log, pos).baseOffset + readBatchHeader(log, pos).lastOffsetDelta
    })
    const index = fs.readFileSync(path.join(dir, name.replace(/\.log$/, '.index')))
    let prevRel = -1
    let prevPos = -1
    for (let p = 0; p + 8 <= index.length; p += 8) {
      const rel = index.readInt32BE(p)
      const pos = index.readInt32BE(p + 4)
      if (rel <= prevRel || pos <= prevPos || starts.get(pos) !== base + rel) problems++
      prevRel = rel
      prevPos = pos
    }
    if (index.length % 8 !== 0) problems++
    const time = fs.readFileSync(path.join(dir, name.replace(/\.log$/, '.timeindex')))
    let prevTs = -1
    for (let p = 0; p + 12 <= time.length; p += 12) {
      const ts = time.readInt32BE(p) * 0x100000000 + time.readUInt32BE(p + 4)
      const rel = time.readInt32BE(p + 8)
      if (ts <= prevTs || rel < 0 || base + rel > lastOffset) problems++
      prevTs = ts
    }
    if (time.length % 12 !== 0) problems++
  }
  t.equal(problems, 0, 'offset and time index entries point at batches of their .log')
}

/** The last 5 batches of each producer, replayed from the log's own batches (what producer state must say). */
function replayProducers (batches: StoredBatch[]): Map<number, ProducerBatchMeta[]> {
  const out = new Map<number, ProducerBatchMeta[]>()
  for (const b of batches) {
    if (b.pid < 0) continue
    const list = out.get(b.pid) ?? []
    list.push({ firstSeq: b.seq, lastSeq: b.seq + (b.last - b.base), baseOffset: b.base, lastOffset: b.last, maxTimestampMs: b.maxTimestamp })
    out.set(b.pid, list.slice(-5))
  }
  return out
}

interface Wrote { i: number, seq: number, base: number, acked: boolean, values: string[] }

/** What the child wrote: the acknowledged batches and, when it crashed inside an append, the next one. */
function whatTheChildWrote (workload: Workload, acked: Acked[]): Wrote[] {
  const attempts = [...acked, ...(workload === 'append' ? [{ i: acked.length, seq: -1, base: -1 }] : [])]
  const seqs = new Map(PIDS.map(p => [p, 0]))
  return attempts.map(a => {
    const pid = PIDS[a.i % PIDS.length]!
    const seq = seqs.get(pid)!
    seqs.set(pid, seq + countOf(a.i))
    return { i: a.i, seq, base: a.base, acked: a.seq >= 0, values: decodeBatch(workloadBatch(a.i, seq), 0).records.map(r => text(r.value)!) }
  })
}

/** Append, close and retention: the acknowledged batches from the log start on, contiguous, and at most the interrupted one. */
function checkBatches (t: Test, log: PartitionLog, batches: StoredBatch[], wrote: Wrote[]): { missing: number, wrong: number } {
  const stored = new Map(batches.map(b => [b.base, b]))
  const lso = log.logStartOffset
  let missing = 0
  let wrong = 0
  for (const w of wrote.filter(x => x.acked && x.base >= lso)) {
    const s = stored.get(w.base)
    if (s === undefined) missing++
    else if (JSON.stringify(s.values) !== JSON.stringify(w.values)) wrong++
  }
  const ackedBases = new Set(wrote.filter(x => x.acked).map(x => x.base))
  const extra = batches.filter(b => !ackedBases.has(b.base))
  const inFlight = wrote.at(-1)!
  t.ok(extra.length === 0 || (extra.length === 1 && extra[0] === batches.at(-1) && JSON.stringify(extra[0]!.values) === JSON.stringify(inFlight.values)),
    `nothing but acknowledged batches, and perhaps the one the crash interrupted (${extra.length} extra)`)
  let next = lso
  for (const b of batches) {
    if (b.base !== next) wrong++
    next = b.last + 1
  }
  t.equal(next, log.logEndOffset, 'offsets contiguous up to the log end')
  t.ok(lso === 0 || log.segmentBaseOffsets()[0] === lso, 'the log starts at a segment boundary')
  return { missing, wrong }
}

/** Compaction: the latest record of each key at its offset, and nothing that was not written. */
function checkCompacted (batches: StoredBatch[], wrote: Wrote[]): { missing: number, wrong: number } {
  const written = new Map<number, { key: string, value: string }>()
  for (const w of wrote.filter(x => x.acked)) w.values.forEach((v, j) => written.set(w.base + j, { key: `k${(w.i + j) % KEYS}`, value: v }))
  const latest = new Map<string, number>()
  for (const [offset, r] of written) latest.set(r.key, Math.max(latest.get(r.key) ?? -1, offset))
  const have = new Map<number, string | null>()
  for (const b of batches) b.offsets.forEach((o, j) => have.set(o, b.values[j]!))
  let missing = 0
  let wrong = 0
  for (const [offset, value] of have) if (written.get(offset)?.value !== value) wrong++
  for (const offset of latest.values()) if (!have.has(offset)) missing++
  return { missing, wrong }
}

/** Producer state agrees with the log; a retry of each producer's last batch is a duplicate; appends go on. */
function checkProducers (t: Test, log: PartitionLog, batches: StoredBatch[], wrote: Wrote[], workload: Workload): void {
  const replayed = replayProducers(batches)
  let disagree = 0
  for (const pid of PIDS) {
    const state = log.producerState(pid)?.batches ?? []
    const fromLog = replayed.get(pid) ?? []
    // Compaction may empty a producer's older batches (its last batch is kept); retention removes old ones.
    if (workload === 'compact' ? JSON.stringify(state.at(-1)) !== JSON.stringify(fromLog.at(-1))
      : JSON.stringify(state.filter(b => b.baseOffset >= log.logStartOffset)) !== JSON.stringify(fromLog)) disagree++
  }
  t.equal(disagree, 0, 'producer state agrees with the batches in the log')
  const bySeq = new Map(wrote.map(w => [`${PIDS[w.i % PIDS.length]}:${w.seq}`, w]))
  for (const pid of PIDS) {
    const state = log.producerState(pid)?.batches.at(-1)
    if (state === undefined) continue
    const w = bySeq.get(`${pid}:${state.firstSeq}`)
    if (w === undefined) {
      t.fail(`producer ${pid}: its last batch in the state (sequence ${state.firstSeq}) is not one the child wrote`)
      continue
    }
    const retry = log.append(workloadBatch(w.i, w.seq))
    t.same({ duplicate: retry.duplicate, base: retry.baseOffset }, { duplicate: true, base: state.baseOffset }, `producer ${pid}: a retry of its last batch is a duplicate`)
  }
  const leo = log.logEndOffset
  const last = log.producerState(PIDS[0]!)?.batches.at(-1)
  t.equal(log.append(workloadBatch(PIDS.length * 10_000, last === undefined ? 0 : last.lastSeq + 1)).baseOffset, leo, 'appends go on at the log end')
}

async function checkRecovered (t: Test, dir: string, workload: Workload, acked: Acked[]): Promise<void> {
  const log = await openLog(dir, workload, true)
  t.teardown(() => log.close().catch(() => {}))
  checkFiles(t, dir)
  const batches = await readBatches(log)
  const wrote = whatTheChildWrote(workload, acked)
  if (workload === 'truncate') {
    await checkTruncated(t, log, batches, wrote)
    return
  }
  const { missing, wrong } = workload === 'compact' ? checkCompacted(batches, wrote) : checkBatches(t, log, batches, wrote)
  t.equal(missing, 0, `every acknowledged batch that should survive is there (${acked.length} acknowledged)`)
  t.equal(wrong, 0, 'at its offsets, with its bytes')
  checkProducers(t, log, batches, wrote, workload)
  const before = await readBatches(log)
  await log.close()
  checkIndexes(t, dir)
  const again = await openLog(dir, workload, false)
  t.teardown(() => again.close().catch(() => {}))
  t.same(await readBatches(again), before, 'a clean reopen reads the same')
  await again.close()
}

/**
 * A crash inside truncateTo: the log is a prefix of what was written, from the cut on at
 * most (never shorter), its epochs match its batch headers and end before the log end,
 * producer state agrees with it; the truncation can be done again, appends go on.
 */
async function checkTruncated (t: Test, log: PartitionLog, batches: StoredBatch[], wrote: Wrote[]): Promise<void> {
  const byBase = new Map(wrote.map(w => [w.base, w]))
  const target = wrote[TRUNCATE_AT]!.base
  let next = 0
  let bad = 0
  for (const b of batches) {
    if (b.base !== next || JSON.stringify(byBase.get(b.base)?.values) !== JSON.stringify(b.values)) bad++
    next = b.last + 1
  }
  t.equal(bad, 0, 'a prefix of the written batches, contiguous, with their bytes')
  t.ok(log.logEndOffset >= target && log.logEndOffset <= wrote.at(-1)!.base + countOf(wrote.at(-1)!.i), `the log ends between the cut and the old end (${target} <= ${log.logEndOffset})`)
  await checkEpochs(t, log)
  const replayed = replayProducers(batches)
  t.equal(PIDS.filter(pid => JSON.stringify(log.producerState(pid)?.batches ?? []) !== JSON.stringify(replayed.get(pid) ?? [])).length, 0, 'producer state agrees with the log')
  t.equal(await log.truncateTo(target), target, 'the truncation completes when done again')
  await checkEpochs(t, log)
  t.same(log.epochEntries().map(e => e.epoch), [1], 'only the epoch below the cut is left')
  const kept = (await readBatches(log)).length
  t.equal(kept, TRUNCATE_AT, 'exactly the batches below the cut')
  const pid = PIDS[0]!
  const last = log.producerState(pid)?.batches.at(-1)
  t.equal(log.append(workloadBatch(PIDS.length * 10_000, last === undefined ? 0 : last.lastSeq + 1)).baseOffset, target, 'appends go on at the cut')
}

/** Every batch's stamped epoch is the one the epoch cache says wrote it; no epoch starts at or past the end. */
async function checkEpochs (t: Test, log: PartitionLog): Promise<void> {
  const entries = log.epochEntries()
  let mismatched = 0
  for (let offset = log.logStartOffset, guard = 0; offset < log.logEndOffset && guard < 100_000; guard++) {
    const r = await log.read(offset, 1 << 20)
    forEachBatch(r.bytes, pos => {
      const h = readBatchHeader(r.bytes, pos)
      const epoch = entries.filter(e => e.startOffset <= h.baseOffset).at(-1)?.epoch
      if (epoch !== h.partitionLeaderEpoch) mismatched++
    })
    offset = r.nextOffset
  }
  t.equal(mismatched, 0, 'the leader-epoch cache agrees with the batch headers')
  t.equal(entries.filter(e => e.startOffset >= log.logEndOffset).length, 0, 'no epoch starts at or past the log end')
}

const CASES: Array<{ workload: Workload, point: string, skip: number }> = [
  { workload: 'append', point: 'append.afterWrite', skip: 300 },
  { workload: 'append', point: 'segment.midWrite', skip: 250 },
  { workload: 'append', point: 'roll.beforeCreate', skip: 4 },
  { workload: 'append', point: 'roll.beforeSnapshot', skip: 5 },
  { workload: 'append', point: 'segment.afterRoll', skip: 6 },
  { workload: 'append', point: 'snapshot.midWrite', skip: 3 },
  { workload: 'append', point: 'snapshot.beforeRename', skip: 7 },
  { workload: 'append', point: 'sync.beforeFdatasync', skip: 2 },
  { workload: 'compact', point: 'compaction.beforeSwap', skip: 0 },
  { workload: 'compact', point: 'compaction.afterManifest', skip: 0 },
  { workload: 'compact', point: 'compaction.midSwap', skip: 0 },
  { workload: 'retention', point: 'retention.beforeDelete', skip: 0 },
  { workload: 'retention', point: 'segment.midRetire', skip: 1 },
  { workload: 'close', point: 'close.beforeSnapshot', skip: 0 },
  { workload: 'close', point: 'snapshot.midWrite', skip: 0 },
  { workload: 'close', point: 'snapshot.beforeRename', skip: 0 },
  { workload: 'truncate', point: 'truncate.afterSegments', skip: 0 },
  { workload: 'truncate', point: 'segment.midRetire', skip: 2 },
  { workload: 'truncate', point: 'truncate.afterCut', skip: 0 },
]

async function runTests (): Promise<void> {
  const { default: t } = await import('tap')
  const { Client } = await import('../../client/index.js')
  const { startBroker, tempDir } = await import('../helpers/broker.js')
  const { collect } = await import('../helpers/conformance.js')

  t.test('a crash at each fault point recovers to a consistent log', async t => {
    for (const c of CASES) {
      await t.test(`${c.workload}: crash at ${c.point}`, async t => {
        const dir = tempDir(t, 'spool-fault-')
        const acked = await crashAt(t, c, dir)
        t.ok(acked.length > 0, `the child acknowledged batches before the crash (${acked.length})`)
        await checkRecovered(t, dir, c.workload, acked)
      })
    }
  })

  /**
   * A failed write (the segment undoes the half written and wraps it in a StorageError). EIO,
   * not ENOSPC: a full disk also makes the broker read-only for every partition (see
   * disk-full.test.ts), which hides the ordering question this test asks of the producer.
   */
  function ioError (): Error {
    return Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO', errno: -5, syscall: 'write' })
  }

  t.test('defect 5: a failed first batch is not overtaken by the next one (idempotent SDK, real broker)', async t => {
    const broker = await startBroker(t, { mqttPort: null })
    const client = new Client({ brokers: [`127.0.0.1:${broker.ports.native}`] })
    t.teardown(() => client.close())
    t.teardown(() => faultPoints.reset())
    await client.admin().createTopics([{ topic: 'd5', partitions: 2 }])
    for (const acks of [1, 'all'] as const) {
      const producer = client.producer({ acks, lingerMs: 0, retry: { retries: 5, initialRetryTimeMs: 20, maxRetryTimeMs: 100 } })
      // Producer id and metadata first, on the other partition: partition 1 has never seen this producer.
      await producer.send({ topic: 'd5', messages: [{ value: 'warm-up', partition: 0 }] })
      const before = broker.logs.partition('d5', 1).logEndOffset
      faultPoints.arm('segment.midWrite', () => { throw ioError() }, { times: 1 })
      const first = producer.send({ topic: 'd5', messages: [{ value: `${acks}:first`, partition: 1 }] })
      // Let the first batch leave (linger 0 closes it in a microtask), then build the second.
      for (let i = 0; i < 5; i++) await null
      const second = producer.send({ topic: 'd5', messages: [{ value: `${acks}:second`, partition: 1 }] })
      const results = await Promise.allSettled([first, second])
      t.equal(faultPoints.hits('segment.midWrite') > 0, true, 'the write failed once')
      faultPoints.reset()
      t.same(results.map(r => r.status === 'rejected' ? `${(r.reason as Error & { code?: string }).code}: ${(r.reason as Error).message}` : 'ok'),
        ['ok', 'ok'], `acks=${acks}: both sends succeed`)
      const offsets = results.map(r => (r.status === 'fulfilled' ? r.value[0]!.offset : -1))
      t.same(offsets, [before, before + 1], `acks=${acks}: written in send order, once each`)
      const log = broker.logs.partition('d5', 1)
      t.equal(log.logEndOffset, before + 2, `acks=${acks}: nothing else was written`)
      const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 50 })
      await consumer.assign({ topic: 'd5', partition: 1 })
      consumer.seek({ topic: 'd5', partition: 1, offset: before })
      const values = (await collect(consumer, log.logEndOffset - before, 10_000)).map(m => text(m.value))
      await consumer.close()
      t.same(values, [`${acks}:first`, `${acks}:second`], `acks=${acks}: the log holds both records in order`)
      await producer.close()
    }
  })
}

const childSpec = process.env[CHILD_ENV]
if (childSpec !== undefined) await runChild(JSON.parse(childSpec) as ChildSpec)
else await runTests()
