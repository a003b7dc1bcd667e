/**
 * Server processes for benchmarks (Spool brokers and peers): spawned with their output
 * captured, waited for with bounded waits, stopped at cleanup (SIGTERM, then SIGKILL after
 * a grace period). Also what /proc tells about a process: CPU seconds, resident memory,
 * open file descriptors.
 */

import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { delimiter, join } from 'node:path'
import { onCleanup } from './cleanup.js'

export interface ServerProcess {
  readonly name: string
  readonly child: ChildProcess
  readonly pid: number
  /** The last 16 KiB of stdout and stderr together. */
  output (): string
  /** SIGTERM, SIGKILL after `graceMs`; resolves once the process has exited. */
  stop (graceMs?: number): Promise<void>
  readonly exited: Promise<void>
}

const TAIL_BYTES = 16 * 1024

/** Spawns a server; it is stopped at cleanup if still running. */
export function spawnServer (name: string, command: string, args: string[], options: SpawnOptions = {}): ServerProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options })
  let tail = ''
  const onOutput = (d: Buffer): void => {
    tail += d.toString()
    if (tail.length > TAIL_BYTES * 2) tail = tail.slice(-TAIL_BYTES)
  }
  child.stdout?.on('data', onOutput)
  child.stderr?.on('data', onOutput)
  const exited = new Promise<void>(resolve => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    child.once('exit', () => resolve())
    child.once('error', () => resolve())
  })
  let stopping: Promise<void> | null = null
  const stop = (graceMs = 5000): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        child.kill('SIGTERM')
        const killer = setTimeout(() => child.kill('SIGKILL'), graceMs)
        await exited
        clearTimeout(killer)
      }
    })()
    return stopping
  }
  const unregister = onCleanup(() => stop())
  void exited.then(() => unregister())
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`)
  return {
    name,
    child,
    pid: child.pid,
    output: () => tail.slice(-TAIL_BYTES),
    stop,
    exited,
  }
}

/** Resolves with the first output line that matches, or rejects on exit or timeout. */
export function waitForLine (server: ServerProcess, match: (line: string) => boolean, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = ''
    const finish = (err: Error | null, line?: string): void => {
      clearTimeout(timer)
      server.child.stdout?.off('data', on)
      server.child.stderr?.off('data', on)
      if (err !== null) reject(err)
      else resolve(line!)
    }
    const on = (d: Buffer): void => {
      buffered += d.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      const line = lines.find(match)
      if (line !== undefined) finish(null, line)
    }
    const timer = setTimeout(() => finish(new Error(`${server.name} did not start within ${timeoutMs} ms: ${server.output().slice(-800)}`)), timeoutMs)
    server.child.stdout?.on('data', on)
    server.child.stderr?.on('data', on)
    void server.exited.then(() => finish(new Error(`${server.name} exited (${server.child.exitCode ?? server.child.signalCode}): ${server.output().slice(-800)}`)))
  })
}

/** Waits until something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort (port: number, server: ServerProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (server.child.exitCode !== null || server.child.signalCode !== null) {
      throw new Error(`${server.name} exited (${server.child.exitCode ?? server.child.signalCode}): ${server.output().slice(-800)}`)
    }
    const ok = await new Promise<boolean>(resolve => {
      const s = connect({ host: '127.0.0.1', port })
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`${server.name} did not listen on ${port} within ${timeoutMs} ms: ${server.output().slice(-800)}`)
    await sleep(25)
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const port = (server.address() as { port: number }).port
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}

export function sleep (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** The absolute path of an executable on PATH (Debian keeps servers in /usr/sbin), or null. */
export function findExecutable (name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin']
  for (const dir of dirs) {
    if (dir === '') continue
    const p = join(dir, name)
    if (existsSync(p)) return p
  }
  return null
}

/** First line of `command args` (stdout or stderr), or null when it cannot run. */
export function commandOutput (command: string, args: string[]): string | null {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 5000 })
  if (r.error !== undefined || r.status === null) return null
  const text = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim()
  return text.split('\n')[0]?.trim() ?? null
}

// ----- /proc -----

const CLOCK_TICKS_PER_SECOND = 100

/**
 * User and system CPU time of a process (all its threads) so far, in clock ticks (whole
 * numbers, so a difference of two readings is exact); NaN when unreadable.
 */
export function cpuTicks (pid: number): { user: number, system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return { user: Number(fields[11]), system: Number(fields[12]) }
  } catch {
    return { user: NaN, system: NaN }
  }
}

/** CPU seconds between two `cpuTicks` readings: user + system, and the system part alone. */
export function cpuSecondsBetween (before: { user: number, system: number }, after: { user: number, system: number }): { total: number, system: number } {
  const user = after.user - before.user
  const system = after.system - before.system
  return { total: (user + system) / CLOCK_TICKS_PER_SECOND, system: system / CLOCK_TICKS_PER_SECOND }
}

/** User + system CPU seconds of a process (all its threads) so far; NaN when unreadable. */
export function cpuSeconds (pid: number): number {
  const t = cpuTicks(pid)
  return (t.user + t.system) / CLOCK_TICKS_PER_SECOND
}

function statusField (pid: number, field: string): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
    return m === null ? NaN : Number(m[1]) * 1024
  } catch {
    return NaN
  }
}

/** Resident set size now, in bytes. */
export function rssBytes (pid: number): number {
  return statusField(pid, 'VmRSS')
}

/** Bytes a process has read through read-like syscalls so far (/proc/<pid>/io rchar). */
export function bytesRead (pid: number): number {
  try {
    const m = /^rchar:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))
    return m === null ? NaN : Number(m[1])
  } catch {
    return NaN
  }
}

/** Open file descriptors of a process (sockets included). */
export function openFds (pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return NaN
  }
}

/** Open descriptors that are regular files under `dir` (segment and index files). */
export function openFilesUnder (pid: number, dir: string): number {
  let n = 0
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      if ((readlinkSafe(`/proc/${pid}/fd/${fd}`) ?? '').startsWith(dir)) n++
    }
  } catch {
    return NaN
  }
  return n
}

function readlinkSafe (p: string): string | null {
  try {
    return readlinkSync(p)
  } catch {
    return null
  }
}

/**
 * Samples the resident memory of some processes every `intervalMs` while running, keeping
 * the peak of each.
 */
export class RssSampler {
  readonly #pids: number[]
  readonly #peaks = new Map<number, number>()
  #timer: ReturnType<typeof setInterval> | null = null

  constructor (pids: number[], intervalMs = 100) {
    this.#pids = pids
    this.#sample()
    this.#timer = setInterval(() => this.#sample(), intervalMs)
    this.#timer.unref()
  }

  #sample (): void {
    for (const pid of this.#pids) {
      const rss = rssBytes(pid)
      if (Number.isFinite(rss) && rss > (this.#peaks.get(pid) ?? 0)) this.#peaks.set(pid, rss)
    }
  }

  /** Stops sampling; the peak per pid in bytes (NaN when never readable). */
  stop (): Map<number, number> {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    this.#sample()
    return new Map(this.#pids.map(pid => [pid, this.#peaks.get(pid) ?? NaN]))
  }
}
