// kill -9 of a process appending with acks=1 (docs/architecture.md §3): every batch whose append
// returned is there after recovery exactly once with its content, nothing partial is
// readable, producer state is rebuilt, and appends continue. Runs the appender three times
// on the same directory, each run killed at a different point.
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { readBatchHeader, validateBatch } from '../../protocol/record-batch/header.js'
import { decodeBatch, forEachBatch } from '../../protocol/record-batch/records.js'
import { rng } from '../helpers/bytes.js'
import { appenderBatch } from '../helpers/storage-crash-batches.js'
import { openLog, tempDir, text, type TestContext } from '../helpers/storage.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const appender = path.join(here, '..', 'helpers', 'storage-appender.js')
const CONFIG = { segmentBytes: 32 * 1024, indexIntervalBytes: 1024 }

interface Acked { base: number, last: number, run: number, i: number, count: number }

/** Starts the appender, kills it with SIGKILL after `killAfter` acknowledged lines (bounded wait). */
async function runAndKill (t: TestContext, dir: string, run: number, killAfter: number): Promise<Acked[]> {
  const child: ChildProcess = spawn(process.execPath, [appender, dir, String(run)], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const acked: Acked[] = []
  let partial = ''
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${acked.length} lines after 30 s`)), 30_000)
    child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n')
      partial = lines.pop()!
      for (const line of lines) {
        const [base, last, id, count] = line.split(',')
        const [r, i] = id!.split(':').map(Number)
        acked.push({ base: Number(base), last: Number(last), run: r!, i: i!, count: Number(count) })
      }
      if (acked.length >= killAfter && child.signalCode === null) {
        child.kill('SIGKILL')
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      if (signal === 'SIGKILL') resolve()
      else reject(new Error(`appender exited early: code ${code}, signal ${signal}`))
    })
  })
  await exited
  return acked
}

t.test('acknowledged batches survive SIGKILL exactly once; nothing partial is readable', async t => {
  const dir = tempDir(t)
  const random = rng(42)
  const allAcked: Acked[] = []
  for (let run = 0; run < 3; run++) {
    const acked = await runAndKill(t, dir, run, 300 + Math.floor(random() * 700))
    allAcked.push(...acked)
    const log = await openLog({ dir, config: CONFIG, recover: true })

    // Every stored batch is whole and valid; offsets are contiguous from 0.
    const seen = new Map<string, { base: number, last: number, values: string[] }>()
    let next = 0
    let bad = 0
    for (let guard = 0; next < log.highWatermark && guard < 1_000_000; guard++) {
      const r = await log.read(next, 256 * 1024)
      const consumed = forEachBatch(r.bytes, (pos, size) => {
        const h = readBatchHeader(r.bytes, pos)
        try {
          validateBatch(r.bytes, pos, pos + size)
        } catch {
          bad++
        }
        if (h.baseOffset !== next) bad++
        const values = decodeBatch(r.bytes, pos).records.map(x => text(x.value)!)
        const id = values[0]!.split(':').slice(0, 2).join(':')
        if (seen.has(id)) bad++
        seen.set(id, { base: h.baseOffset, last: h.baseOffset + h.lastOffsetDelta, values })
        next = h.baseOffset + h.lastOffsetDelta + 1
      })
      if (consumed !== r.bytes.length) bad++
    }
    t.equal(bad, 0, `run ${run}: every stored batch is whole, valid, contiguous and unique`)
    t.equal(next, log.logEndOffset, `run ${run}: log end offset follows the last batch`)

    // Every acknowledged batch is there, once, at its offsets, with its content.
    let missing = 0
    for (const a of allAcked) {
      const stored = seen.get(`${a.run}:${a.i}`)
      const ok = stored !== undefined && stored.base === a.base && stored.last === a.last &&
        stored.values.length === a.count && stored.values.every((v, j) => v.startsWith(`${a.run}:${a.i}:${j}:`))
      if (!ok) missing++
    }
    t.equal(missing, 0, `run ${run}: all ${allAcked.length} acknowledged batches present (${acked.length} this run, ${seen.size} stored)`)

    // The producer state was rebuilt: a retry of the last acknowledged batch is a duplicate.
    const lastAcked = acked.at(-1)!
    const retry = log.append(appenderBatch(run, lastAcked.i).batch)
    t.same({ duplicate: retry.duplicate, base: retry.baseOffset }, { duplicate: true, base: lastAcked.base }, `run ${run}: retry answered with the original offsets`)
    await log.close()
  }
})
