/**
 * Storage engine benchmark: append throughput per GB as the log grows, then a full read-back.
 *
 *   node dist/bench/storage.js [--gb 1] [--dir /tmp/somewhere] [--keep] [--quick|--tiny] [--json out.json] [--tmp dir]
 *
 * (--quick = 0.25 GB, --tiny = 0.02 GB unless --gb is given; --json writes the rows for
 * the runner, bench/run.ts, which runs it with --gb 2 in a full run.)
 *
 * One batch of 1,000 records with 100-byte values is built once with RecordBatchBuilder and
 * appended again and again (append rewrites its baseOffset in place), so the numbers are the
 * log's cost — validation (CRC-32C over the batch, record walk), offset assignment, one write
 * into the page cache, index upkeep, rolls — not the encoder's. The read-back calls
 * `read()` in 1 MiB steps from offset 0 to the end and walks the batch headers it gets.
 *
 * The rival in the same run is the machine itself: before the log, the same number of
 * bytes is written with plain `fs.writeSync` of the same buffer into one file (then fsynced
 * and deleted), per GB. Beyond a few GB the kernel throttles writers to the disk's
 * writeback speed (vm.dirty_ratio), so wall-clock MB/s falls for both; the process CPU time
 * per GB (user + system) shows whether the log's own cost stays flat as it grows.
 * Prints a markdown table. Not a test: it never passes or fails on a time.
 */

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import pino from 'pino'
import { installNodeCodecs } from '../platform/node-codecs.js'
import { hasNativeCrc32c } from '../protocol/bytes/crc32c.js'
import { RecordBatchBuilder } from '../protocol/record-batch/records.js'
import { DEFAULT_LOG_CONFIG } from '../broker/storage/config.js'
import { FileHandleCache } from '../broker/storage/file-handle-cache.js'
import { PartitionLog } from '../broker/storage/partition-log.js'
import { bySize, numberArg, parseArgs } from './lib/cli.js'
import { Recorder, SPOOL } from './lib/result.js'

const GIB = 1024 ** 3
const MIB = 1024 ** 2
const RECORDS_PER_BATCH = 1000
const VALUE_BYTES = 100
const READ_STEP_BYTES = MIB

function buildBatch (): Uint8Array {
  const builder = new RecordBatchBuilder(RECORDS_PER_BATCH * (VALUE_BYTES + 16))
  const value = new Uint8Array(VALUE_BYTES)
  for (let i = 0; i < VALUE_BYTES; i++) value[i] = 97 + (i % 26)
  for (let i = 0; i < RECORDS_PER_BATCH; i++) builder.append({ key: null, value, timestamp: 1_700_000_000_000 + i })
  return builder.build()
}

interface GibRow { gb: number, seconds: number, cpuSeconds: number, userSeconds: number, systemSeconds: number, bytes: number, records: number }

/**
 * Calls `step` until `totalBytes` went in, timing each GiB (wall clock and process CPU).
 * Yields to the event loop every 64 MiB so background work (the flush of a rolled segment)
 * runs as it would in a broker.
 */
async function timedPerGib (totalBytes: number, step: () => { bytes: number, records: number }): Promise<GibRow[]> {
  const rows: GibRow[] = []
  let written = 0
  let sinceYield = 0
  let start = performance.now()
  let cpu = process.cpuUsage()
  let bytes = 0
  let records = 0
  while (written < totalBytes) {
    const r = step()
    written += r.bytes
    bytes += r.bytes
    records += r.records
    sinceYield += r.bytes
    if (sinceYield >= 64 * MIB) {
      sinceYield = 0
      await new Promise(resolve => setImmediate(resolve))
    }
    if (bytes >= GIB || written >= totalBytes) {
      const used = process.cpuUsage(cpu)
      rows.push({
        gb: rows.length + 1, seconds: (performance.now() - start) / 1000, cpuSeconds: (used.user + used.system) / 1e6,
        userSeconds: used.user / 1e6, systemSeconds: used.system / 1e6, bytes, records,
      })
      start = performance.now()
      cpu = process.cpuUsage()
      bytes = 0
      records = 0
    }
  }
  return rows
}

/** The baseline: plain positional writes of the same buffer into one file. */
function rawWriter (dir: string, batch: Uint8Array): { step: () => { bytes: number, records: number }, finish: () => void } {
  const file = path.join(dir, 'baseline.bin')
  const fd = fs.openSync(file, 'w')
  let position = 0
  return {
    step: () => {
      position += fs.writeSync(fd, batch, 0, batch.length, position)
      return { bytes: batch.length, records: 0 }
    },
    // Untimed: make it durable and delete it so the log phase starts from a clean cache.
    finish: () => {
      fs.fdatasyncSync(fd)
      fs.closeSync(fd)
      fs.rmSync(file)
    },
  }
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

async function main (): Promise<void> {
  const args = parseArgs()
  const gb = numberArg(args, 'gb', bySize(args.mode, { full: 1, quick: 0.25, tiny: 0.02 }))
  if (!(gb > 0)) throw new Error('--gb must be a positive number')
  if (args.tmp !== null) fs.mkdirSync(args.tmp, { recursive: true })
  const dir = args.values.get('dir') ?? fs.mkdtempSync(path.join(args.tmp ?? os.tmpdir(), 'spool-bench-storage-'))
  const keep = args.flags.has('keep')
  installNodeCodecs()
  const batch = buildBatch()
  const log = await PartitionLog.open({
    dir,
    topic: 'bench',
    partition: 0,
    config: { ...DEFAULT_LOG_CONFIG },
    logger: pino({ level: 'warn' }),
    recover: false,
    handles: new FileHandleCache(),
  })

  // Appends, timed per GB. The loop yields every 64 MiB so the background flush of a rolled
  // segment (and anything else on the event loop) can run, as it would in a broker.
  const totalBytes = gb * GIB
  const baseline = rawWriter(dir, batch)
  const baselineRows = await timedPerGib(totalBytes, baseline.step)
  baseline.finish()
  const appendRows = await timedPerGib(totalBytes, () => {
    const r = log.append(batch)
    return { bytes: r.bytes, records: r.recordCount }
  })
  const written = appendRows.reduce((s, r) => s + r.bytes, 0)
  const syncStart = performance.now()
  await log.sync()
  const syncSeconds = (performance.now() - syncStart) / 1000

  // Read everything back in 1 MiB steps.
  const readCpuStart = process.cpuUsage()
  const readStart = performance.now()
  let offset = log.logStartOffset
  let readBytes = 0
  let readRecords = 0
  let reads = 0
  while (offset < log.highWatermark) {
    const r = await log.read(offset, READ_STEP_BYTES)
    reads++
    readBytes += r.bytes.length
    for (let pos = 0; pos < r.bytes.length;) {
      readRecords += r.bytes.readInt32BE(pos + 57)
      pos += r.bytes.readInt32BE(pos + 8) + 12
    }
    if (r.nextOffset <= offset) throw new Error(`no progress at ${offset}`)
    offset = r.nextOffset
  }
  const readSeconds = (performance.now() - readStart) / 1000
  const readCpuUsage = process.cpuUsage(readCpuStart)
  const segments = log.segmentCount
  await log.close()
  if (!keep) fs.rmSync(dir, { recursive: true, force: true })

  const cpus = os.cpus()
  console.log(`# Storage engine benchmark (bench/storage)`)
  console.log('')
  console.log(`command: node dist/bench/storage.js ${process.argv.slice(2).join(' ')}`.trimEnd())
  console.log(`date: ${new Date().toISOString()}, node ${process.version}, ${cpus.length} CPUs (${cpus[0]?.model ?? '?'}), ${os.platform()} ${os.release()}`)
  console.log(`batch: ${RECORDS_PER_BATCH} records x ${VALUE_BYTES}-byte values = ${batch.length} bytes; segmentBytes ${DEFAULT_LOG_CONFIG.segmentBytes}; native CRC-32C: ${hasNativeCrc32c()}; dir ${dir}${keep ? '' : ' (deleted)'}`)
  console.log('')
  console.log('| phase | GB | seconds | MB/s | records/s | CPU s per GB: user / system |')
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
  for (const [name, rows] of [['raw fs.writeSync (baseline)', baselineRows], ['PartitionLog.append', appendRows]] as const) {
    for (const row of rows) {
      console.log(`| ${name} | ${row.gb} | ${fmt(row.seconds, 2)} | ${fmt(row.bytes / MIB / row.seconds)} | ${row.records > 0 ? fmt(row.records / row.seconds) : '-'} | ${fmt(row.userSeconds * GIB / row.bytes, 2)} / ${fmt(row.systemSeconds * GIB / row.bytes, 2)} |`)
    }
  }
  const appendSeconds = appendRows.reduce((s, r) => s + r.seconds, 0)
  const appendUser = appendRows.reduce((s, r) => s + r.userSeconds, 0)
  const appendSystem = appendRows.reduce((s, r) => s + r.systemSeconds, 0)
  console.log(`| append, all | ${fmt(written / GIB, 2)} | ${fmt(appendSeconds, 2)} | ${fmt(written / MIB / appendSeconds)} | ${fmt(readRecords / appendSeconds)} | ${fmt(appendUser * GIB / written, 2)} / ${fmt(appendSystem * GIB / written, 2)} |`)
  console.log(`| read, 1 MiB steps (${reads} calls) | ${fmt(readBytes / GIB, 2)} | ${fmt(readSeconds, 2)} | ${fmt(readBytes / MIB / readSeconds)} | ${fmt(readRecords / readSeconds)} | ${fmt(readCpuUsage.user / 1e6 * GIB / readBytes, 2)} / ${fmt(readCpuUsage.system / 1e6 * GIB / readBytes, 2)} |`)
  console.log('')
  const first = appendRows[0]!
  const last = appendRows.at(-1)!
  console.log(`final sync(): ${fmt(syncSeconds * 1000)} ms; segments: ${segments}; last GB vs first GB: ` +
    `${fmt(100 * (last.bytes / last.seconds) / (first.bytes / first.seconds), 1)}% of the MB/s, ` +
    `${fmt(100 * (last.userSeconds / last.bytes) / (first.userSeconds / first.bytes), 1)}% of the user CPU per byte, ` +
    `${fmt(100 * (last.systemSeconds / last.bytes) / (first.systemSeconds / first.bytes), 1)}% of the system CPU per byte`)

  // Rows for the runner (bench/run.ts): the log next to the plain-write baseline.
  const rec = new Recorder('storage', 'Storage engine: PartitionLog.append and read, next to plain fs.writeSync of the same bytes',
    `One pre-built batch of ${RECORDS_PER_BATCH} records × ${VALUE_BYTES}-byte values (${batch.length} bytes) appended until ${gb} GiB, timed per GiB; then read() of the whole log in 1 MiB steps. The baseline writes the same bytes with fs.writeSync into one file first.`)
  rec.config({ gb, batchBytes: batch.length, nativeCrc32c: hasNativeCrc32c() })
  const MACHINE = 'machine (fs.writeSync)'
  const total = (rows: GibRow[]): GibRow => rows.reduce((a, r) => ({ gb: 0, seconds: a.seconds + r.seconds, cpuSeconds: a.cpuSeconds + r.cpuSeconds, userSeconds: a.userSeconds + r.userSeconds, systemSeconds: a.systemSeconds + r.systemSeconds, bytes: a.bytes + r.bytes, records: a.records + r.records }))
  const gibRows = (name: string, system: string, r: GibRow): void => {
    rec.add({ name, system, metric: 'MB/s', value: r.bytes / MIB / r.seconds, unit: 'MB/s' })
    rec.add({ name, system, metric: 'user CPU s per GiB', value: r.userSeconds * GIB / r.bytes, unit: 's', better: 'lower' })
    rec.add({ name, system, metric: 'system CPU s per GiB', value: r.systemSeconds * GIB / r.bytes, unit: 's', better: 'lower' })
  }
  for (const [system, rows] of [[SPOOL, appendRows], [MACHINE, baselineRows]] as const) {
    gibRows('append, first GiB', system, rows[0]!)
    if (rows.length > 1) gibRows(`append, GiB ${rows.length} (the last)`, system, rows.at(-1)!)
    gibRows(`append, all ${fmt(written / GIB, 2)} GiB`, system, total(rows))
  }
  rec.add({ name: 'read back in 1 MiB steps (page cache)', system: SPOOL, metric: 'MB/s', value: readBytes / MIB / readSeconds, unit: 'MB/s' })
  rec.add({ name: 'read back in 1 MiB steps (page cache)', system: SPOOL, metric: 'records/s', value: readRecords / readSeconds, unit: 'rec/s' })
  rec.add({ name: 'final sync() of the active segment', system: SPOOL, metric: 'fdatasync', value: syncSeconds * 1000, unit: 'ms', better: 'lower' })
  rec.finish(args.json)
}

await main()
