/**
 * Child programs of the runner (bench/run.ts) and of `--compare` (bench/compare.ts): each
 * runs in its own process group, its stderr lines are passed on prefixed with its name, and
 * the whole group is killed when it ends, times out or the runner is interrupted, so a
 * server a crashed program started cannot outlive it. One program runs at a time.
 *
 * Temp dirs registered here are removed by `removeTempDirs()` (the runner calls it at its
 * end and on SIGINT/SIGTERM/SIGHUP).
 */

import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'

export interface ProgramOutcome {
  code: number | null
  signal: string | null
  /** The last ~4,000 characters of its stderr. */
  stderrTail: string
  /** Its whole stdout when asked for (`captureStdout`), else ''. */
  stdout: string
  timedOut: boolean
}

export interface ProgramOptions {
  /** Prefix of its stderr lines, and what an interruption names. */
  name: string
  command: string
  args: string[]
  cwd: string
  env?: NodeJS.ProcessEnv
  timeoutSeconds: number
  captureStdout?: boolean
  /** Pass its stderr lines on (default true). */
  echoStderr?: boolean
}

let running: { child: ChildProcess, name: string } | null = null
const tempDirs: string[] = []

function killGroup (child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, signal)
  } catch { /* already gone */ }
}

/** The name of the program running now, if any. */
export function runningName (): string | null {
  return running?.name ?? null
}

/** Stops the running program's whole process group: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopRunning (graceMs = 8000): Promise<void> {
  const r = running
  if (r === null) return
  const exited = new Promise<void>(resolve => {
    if (r.child.exitCode !== null || r.child.signalCode !== null) resolve()
    else r.child.once('exit', () => resolve())
  })
  killGroup(r.child, 'SIGTERM')
  const timer = setTimeout(() => killGroup(r.child, 'SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
  // Anything of the group still alive (a server that ignored SIGTERM) goes now.
  killGroup(r.child, 'SIGKILL')
}

/** Runs one program to its end (or its timeout) in its own process group. */
export function runProgram (options: ProgramOptions): Promise<ProgramOutcome> {
  return new Promise(resolve => {
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
    })
    running = { child, name: options.name }
    let tail = ''
    let partial = ''
    let stdout = ''
    const echo = options.echoStderr !== false
    child.stdout!.on('data', (d: Buffer) => { if (options.captureStdout === true) stdout += d.toString() })
    child.stderr!.on('data', (d: Buffer) => {
      const text = partial + d.toString()
      const lines = text.split('\n')
      partial = lines.pop() ?? ''
      if (echo) for (const line of lines) process.stderr.write(`[${options.name}] ${line}\n`)
      tail = (tail + d.toString()).slice(-4000)
    })
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      process.stderr.write(`[${options.name}] timed out after ${options.timeoutSeconds} s: stopping it\n`)
      void stopRunning()
    }, options.timeoutSeconds * 1000)
    let finished = false
    const finish = (code: number | null, signal: string | null): void => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      // The group may hold servers the program did not stop (it crashed): stop them too.
      killGroup(child, 'SIGKILL')
      running = null
      if (partial !== '' && echo) process.stderr.write(`[${options.name}] ${partial}\n`)
      resolve({ code, signal, stderrTail: tail, stdout, timedOut })
    }
    child.once('error', err => {
      tail += `\n${err.message}`
      finish(null, null)
    })
    child.once('exit', (code, signal) => finish(code, signal))
  })
}

/** Registers a directory that `removeTempDirs()` deletes. */
export function registerTempDir (dir: string): void {
  tempDirs.push(dir)
}

/** Stops deleting `dir` (kept on purpose, e.g. `--keep`). */
export function unregisterTempDir (dir: string): void {
  const at = tempDirs.indexOf(dir)
  if (at >= 0) tempDirs.splice(at, 1)
}

/** Deletes every registered temp dir (safe to call more than once). */
export function removeTempDirs (): void {
  while (tempDirs.length > 0) rmSync(tempDirs.pop()!, { recursive: true, force: true })
}
