/** Spawning Spool's CLI as a child process in tests: bounded waits, always killed at teardown. */

import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { TestLike } from './broker.js'

export const SPOOL_BIN = fileURLToPath(new URL('../../cli/spool.js', import.meta.url))

export interface Spawned {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Resolves with the exit code (or the signal name) once the process has ended. */
  exited: Promise<number | string>
}

/** Spawns `cmd`, collecting its output; killed at teardown if still running. */
export function spawnCollected (t: TestLike, cmd: string, args: string[], options: { input?: string, env?: Record<string, string>, cwd?: string } = {}): Spawned {
  const child = spawn(cmd, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  })
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d })
  const exited = new Promise<number | string>(resolve => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  if (options.input !== undefined) child.stdin!.end(options.input)
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  return { child, stdout: () => out, stderr: () => err, exited }
}

export function spawnSpool (t: TestLike, args: string[], options: { input?: string, env?: Record<string, string> } = {}): Spawned {
  return spawnCollected(t, process.execPath, [SPOOL_BIN, ...args], options)
}

/** Waits (bounded) until `predicate` holds. */
export async function waitFor (predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** Starts `spool broker start` on free ports and waits for its 'broker started' log line. */
export async function spawnBroker (t: TestLike, dataDir: string, extra: string[] = [], env: Record<string, string> = {}): Promise<Spawned & { ports: { native: number, http: number } }> {
  const p = spawnSpool(t, ['broker', 'start', '--data-dir', dataDir, '--port', '0', '--http-port', '0', ...extra], { env })
  let ports: { native: number, http: number } | null = null
  await waitFor(() => {
    for (const line of p.stdout().split('\n')) {
      if (!line.includes('"broker started"')) continue
      ports = (JSON.parse(line) as { ports: { native: number, http: number } }).ports
    }
    if (p.child.exitCode !== null) throw new Error(`broker exited: ${p.stderr()}`)
    return ports !== null
  }, 15_000, 'the broker to start')
  return { ...p, ports: ports! }
}
