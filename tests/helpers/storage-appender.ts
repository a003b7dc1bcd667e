/**
 * Child process for tests/integration/storage-crash.test.ts: appends to the partition in
 * `<dir>` forever (bounded) with acks=1 semantics and prints one line per acknowledged
 * batch AFTER `append` returned:
 *
 *   <baseOffset>,<lastOffset>,<run>:<i>,<count>
 *
 * Batch i of run r holds `count` records with values `<r>:<i>:<j>`; it is idempotent
 * (producerId 7000 + r, epoch 0, sequences from 0) so the parent can check that producer
 * state survives the kill. Small segments make rolls (and their background flushes) happen
 * while the parent's SIGKILL may land. Usage: node storage-appender.js <dir> <run>
 */
import fs from 'node:fs'
import { installNodeCodecs } from '../../platform/node-codecs.js'
import { DEFAULT_LOG_CONFIG } from '../../broker/storage/config.js'
import { FileHandleCache } from '../../broker/storage/file-handle-cache.js'
import { PartitionLog } from '../../broker/storage/partition-log.js'
import { silentLogger } from './storage.js'
import { appenderBatch } from './storage-crash-batches.js'

const [dir, runArg] = process.argv.slice(2)
if (dir === undefined || runArg === undefined) {
  process.stderr.write('usage: storage-appender.js <dir> <run>\n')
  process.exit(2)
}
const run = Number(runArg)
installNodeCodecs()
const log = await PartitionLog.open({
  dir,
  topic: 'crash',
  partition: 0,
  config: { ...DEFAULT_LOG_CONFIG, segmentBytes: 32 * 1024, indexIntervalBytes: 1024 },
  logger: silentLogger,
  recover: true,
  handles: new FileHandleCache(8),
})
for (let i = 0; i < 200_000; i++) {
  const { batch, count } = appenderBatch(run, i)
  const r = log.append(batch)
  report(`${r.baseOffset},${r.lastOffset},${run}:${i},${count}\n`)
  // Give background flushes a turn, and let the kill land anywhere in the cycle.
  if (i % 8 === 0) await new Promise(resolve => setImmediate(resolve))
}
process.exit(0)

/**
 * Writes one acknowledgement line to stdout, retrying while the pipe is full (EAGAIN: the
 * parent reads slower than we append under load); exits only when the parent went away.
 */
function report (line: string): void {
  const bytes = Buffer.from(line)
  let written = 0
  for (let attempt = 0; written < bytes.length; attempt++) {
    try {
      written += fs.writeSync(1, bytes, written)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || attempt > 100_000) process.exit(0) // EPIPE: the parent went away
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1)
    }
  }
}
