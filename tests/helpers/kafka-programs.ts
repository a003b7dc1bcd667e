/**
 * Real Kafka clients as child processes for the Kafka listener's tests: kcat, the Python
 * clients (run with /usr/bin/python3, which sees Debian's python3-kafka and
 * python3-confluent-kafka), Node scripts. Each runs in its own process group with a time
 * bound; the group is killed when the bound passes, at the test's teardown, and when the
 * test process exits.
 */

import { spawn, type ChildProcess } from 'node:child_process'
import type { TestLike } from './broker.js'

export const PYTHON = '/usr/bin/python3'

const running = new Set<number>()
process.on('exit', () => { for (const pid of running) try { process.kill(-pid, 'SIGKILL') } catch {} })

export interface Program {
  readonly child: ChildProcess
  stdout (): string
  stderr (): string
  /** The exit code, or the signal's name; 'timeout' when the time bound killed it. */
  readonly exited: Promise<number | string>
  /** Signals the whole process group. */
  kill (signal?: NodeJS.Signals): void
}

export interface ProgramOptions {
  input?: string | Uint8Array
  timeoutMs?: number
  env?: Record<string, string>
  cwd?: string
}

export function startProgram (t: TestLike, cmd: string, args: string[], options: ProgramOptions = {}): Program {
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  })
  const pid = child.pid!
  running.add(pid)
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout!.on('data', (d: Buffer) => out.push(d))
  child.stderr!.on('data', (d: Buffer) => err.push(d))
  child.stdin!.on('error', () => {})
  let timedOut = false
  const kill = (signal: NodeJS.Signals = 'SIGKILL'): void => { try { process.kill(-pid, signal) } catch {} }
  const timer = setTimeout(() => { timedOut = true; kill() }, options.timeoutMs ?? 60_000)
  const exited = new Promise<number | string>(resolve => child.once('exit', (code, signal) => {
    clearTimeout(timer)
    running.delete(pid)
    resolve(timedOut ? 'timeout' : code ?? signal ?? -1)
  }))
  if (options.input !== undefined) child.stdin!.end(options.input)
  t.teardown(() => { if (running.has(pid)) kill() })
  return { child, stdout: () => Buffer.concat(out).toString('utf8'), stderr: () => Buffer.concat(err).toString('utf8'), exited, kill }
}

/** Runs a program to its end; its exit and output. */
export async function runProgram (t: TestLike, cmd: string, args: string[], options: ProgramOptions = {}): Promise<{ code: number | string, stdout: string, stderr: string }> {
  const p = startProgram(t, cmd, args, options)
  const code = await p.exited
  return { code, stdout: p.stdout(), stderr: p.stderr() }
}

/** kcat against a broker address, bounded. */
export function kcat (t: TestLike, broker: string, args: string[], options: ProgramOptions = {}): Promise<{ code: number | string, stdout: string, stderr: string }> {
  return runProgram(t, 'kcat', ['-b', broker, ...args], { timeoutMs: 60_000, ...options })
}
