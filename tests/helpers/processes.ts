/** Spawning Spool's CLI as a child process in tests: bounded waits, always killed at teardown. */

import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { waitFor } from './wait.js'
import type { TestLike } from './broker.js'

export const SPOOL_BIN = fileURLToPath(new URL('../../cli/spool.js', import.meta.url))

export interface Spawned {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Resolves with the exit code (or the signal name) once the process has ended. */
  exited: Promise<number | string>
}

/** Process groups started here and not yet seen to exit (killed when this process exits). */
const live = new Set<number>()
process.once('exit', () => {
  for (const pid of live) {
    try { process.kill(-pid, 'SIGKILL') } catch { /* already gone */ }
  }
})

/** Kills a child's whole process group (the child and anything it started). */
export function killGroup (child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    child.kill(signal)
  }
}

/**
 * Spawns `cmd` as the leader of its own process group, collecting its output. The group is
 * killed at teardown if still running, and when this test process exits. A Spool broker
 * started here also stops when its stdin closes (SPOOL_STOP_ON_STDIN_CLOSE), which is what
 * happens when this process is killed outright: no broker is left behind either way.
 */
export function spawnCollected (t: TestLike, cmd: string, args: string[], options: { input?: string, env?: Record<string, string>, cwd?: string } = {}): Spawned {
  const child = spawn(cmd, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, SPOOL_STOP_ON_STDIN_CLOSE: '1', ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  })
  if (child.pid !== undefined) live.add(child.pid)
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d })
  child.stdin!.on('error', () => { /* the child may exit before reading its input */ })
  const exited = new Promise<number | string>(resolve => child.once('exit', (code, signal) => {
    if (child.pid !== undefined) live.delete(child.pid)
    resolve(code ?? signal ?? -1)
  }))
  if (options.input !== undefined) child.stdin!.end(options.input)
  t.teardown(() => killGroup(child))
  return { child, stdout: () => out, stderr: () => err, exited }
}

export function spawnSpool (t: TestLike, args: string[], options: { input?: string, env?: Record<string, string> } = {}): Spawned {
  return spawnCollected(t, process.execPath, [SPOOL_BIN, ...args], options)
}

export { waitFor }

/**
 * Runs one of the campaign programs of bench/ (torture, soak, fuzz) to its end, in its own
 * process group with the brokers it starts; rejects, with the end of its output, when it runs
 * past `timeoutMs`. Resolves with its exit code and everything it printed (stdout, then stderr).
 */
export async function runToEnd (t: TestLike, script: string, args: string[], timeoutMs: number): Promise<{ code: number | string, output: string }> {
  // Its brokers have stdin closed from the start: they must not take that as a signal to stop.
  const p = spawnCollected(t, process.execPath, [script, ...args], { env: { SPOOL_STOP_ON_STDIN_CLOSE: '0' } })
  const output = (): string => p.stdout() + p.stderr()
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${script} did not finish within ${timeoutMs / 1000} s:\n${output().slice(-3000)}`)), timeoutMs)
  })
  try {
    return { code: await Promise.race([p.exited, late]), output: output() }
  } finally {
    clearTimeout(timer)
  }
}

/** A TCP port nothing listens on (bound, then released). */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
  })
}

/** Starts `spool broker start` with every listener on a free port and waits for its 'broker started' log line. */
export async function spawnBroker (t: TestLike, dataDir: string, extra: string[] = [], env: Record<string, string> = {}): Promise<Spawned & { ports: { native: number, http: number, mqtt: number, kafka: number } }> {
  const p = spawnSpool(t, ['broker', 'start', '--data-dir', dataDir, '--port', '0', '--http-port', '0', '--mqtt-port', '0', '--kafka-port', '0', ...extra], { env })
  let ports: { native: number, http: number, mqtt: number, kafka: number } | null = null
  await waitFor(() => {
    for (const line of p.stdout().split('\n')) {
      if (!line.includes('"broker started"')) continue
      ports = (JSON.parse(line) as { ports: { native: number, http: number, mqtt: number, kafka: number } }).ports
    }
    if (p.child.exitCode !== null) throw new Error(`broker exited: ${p.stderr()}`)
    return ports !== null
  }, 15_000, 'the broker to start')
  return { ...p, ports: ports! }
}
