/**
 * Scenario "machine": the machine's own limits, measured in the same run as the brokers,
 * so the other tables can be read against them (the rival is the machine itself).
 *
 *   node dist/bench/scenarios/machine.js [--quick|--tiny] [--json out.json]
 *
 *   page-cache write, fresh file   fs.writeSync of 1 MiB blocks into a new file (what a
 *                                  log append pays), then the file is deleted
 *   page-cache write, again        the same right after the delete: the kernel reuses
 *                                  the pages just freed (in this VM fresh pages cost more;
 *                                  see bench/RESULTS.md)
 *   fdatasync of 100-byte appends  one write + fdatasync per loop turn (the cap of one
 *                                  fsync per message)
 *   loopback TCP                   1 MiB writes from this process to a Node child that
 *                                  counts the bytes
 */

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { bySize, parseArgs } from '../lib/cli.js'
import { runMain, tempDir, onCleanup } from '../lib/cleanup.js'
import { Recorder } from '../lib/result.js'

const MACHINE = 'machine'
const MIB = 1024 * 1024

function pageCacheWrite (file: string, bytes: number): { mbps: number, cpuSecondsPerGb: number } {
  const block = Buffer.alloc(MIB, 97)
  const fd = fs.openSync(file, 'w')
  const cpu = process.cpuUsage()
  const started = performance.now()
  for (let pos = 0; pos < bytes; pos += MIB) fs.writeSync(fd, block, 0, MIB, pos)
  const seconds = (performance.now() - started) / 1000
  const used = process.cpuUsage(cpu)
  fs.closeSync(fd)
  fs.rmSync(file)
  return { mbps: bytes / seconds / 1e6, cpuSecondsPerGb: (used.user + used.system) / 1e6 / (bytes / 1e9) }
}

function fdatasyncRate (file: string, seconds: number): number {
  const b = Buffer.alloc(100, 97)
  const fd = fs.openSync(file, 'w')
  let pos = 0
  let n = 0
  const end = performance.now() + seconds * 1000
  while (performance.now() < end) {
    fs.writeSync(fd, b, 0, b.length, pos)
    pos += b.length
    fs.fdatasyncSync(fd)
    n++
  }
  fs.closeSync(fd)
  fs.rmSync(file)
  return n / seconds
}

const SINK = `
const server = require('node:net').createServer(s => {
  let n = 0
  s.on('data', d => { n += d.length })
  s.on('end', () => s.end(String(n)))
})
server.listen(0, '127.0.0.1', () => console.log(server.address().port))
process.on('SIGTERM', () => process.exit(0))
`

async function loopback (seconds: number): Promise<number> {
  const child = spawn(process.execPath, ['-e', SINK], { stdio: ['ignore', 'pipe', 'inherit'] })
  const stop = onCleanup(() => { child.kill('SIGKILL') })
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', d => resolve(Number(String(d).trim())))
    child.once('exit', code => reject(new Error(`sink exited ${code}`)))
  })
  const socket = connect({ host: '127.0.0.1', port, noDelay: true })
  await new Promise(resolve => socket.once('connect', resolve))
  const block = Buffer.alloc(MIB, 97)
  const started = performance.now()
  const end = started + seconds * 1000
  while (performance.now() < end) {
    if (!socket.write(block)) await new Promise(resolve => socket.once('drain', resolve))
  }
  const counted = await new Promise<number>(resolve => {
    let reply = ''
    socket.on('data', d => { reply += String(d) })
    socket.on('end', () => resolve(Number(reply)))
    socket.end()
  })
  const mbps = counted / ((performance.now() - started) / 1000) / 1e6
  socket.destroy()
  await stop()
  return mbps
}

await runMain(async () => {
  const args = parseArgs()
  const writeBytes = bySize(args.mode, { full: 1024, quick: 256, tiny: 16 }) * MIB
  const seconds = bySize(args.mode, { full: 2, quick: 0.5, tiny: 0.2 })
  const rec = new Recorder('machine', 'The machine itself: page-cache writes, fdatasync, loopback TCP',
    `Baselines measured in the same run: ${writeBytes / MIB} MiB of 1 MiB page-cache writes (fresh, then again), ${seconds} s of fdatasync and of loopback TCP.`)
  const dir = tempDir('machine', args.tmp)
  const fresh = pageCacheWrite(join(dir, 'fresh.bin'), writeBytes)
  const again = pageCacheWrite(join(dir, 'again.bin'), writeBytes)
  const add = (name: string, metric: string, value: number, unit: string, better: 'higher' | 'lower' = 'higher'): void => rec.add({ name, system: MACHINE, metric, value, unit, better })
  add('page-cache write (fs.writeSync, 1 MiB blocks), fresh file', 'MB/s', fresh.mbps, 'MB/s')
  add('page-cache write (fs.writeSync, 1 MiB blocks), fresh file', 'CPU s per GB', fresh.cpuSecondsPerGb, 's', 'lower')
  add('page-cache write, again right after deleting the first file', 'MB/s', again.mbps, 'MB/s')
  add('page-cache write, again right after deleting the first file', 'CPU s per GB', again.cpuSecondsPerGb, 's', 'lower')
  add('fdatasync after each 100-byte append', 'fdatasync/s', fdatasyncRate(join(dir, 'sync.bin'), seconds), '/s')
  add('loopback TCP, 1 MiB writes to another Node process', 'MB/s', await loopback(seconds), 'MB/s')
  rec.finish(args.json)
})
