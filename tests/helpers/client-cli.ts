/**
 * Running `spool` as a child process in tests: `node dist/cli/spool.js ...` with a bounded
 * run time, stdout/stderr captured, and every child killed in teardown.
 */

import { spawn, type ChildProcess } from 'node:child_process'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

export const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../cli/spool.js')

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
}

/** Spawns `spool args...`; the child is killed in the test's teardown if still running. */
export function spawnCli (t: Test, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return child
}

/** Runs `spool args...` to completion (killed after timeoutMs), feeding `input` to stdin. */
export function runCli (t: Test, args: string[], options: { input?: string | Uint8Array, timeoutMs?: number, env?: Record<string, string> } = {}): Promise<CliResult> {
  const started = Date.now()
  const child = spawnCli(t, args, options.env)
  return finished(child, started, options.timeoutMs ?? 20_000, options.input)
}

/** Collects a child's output until it exits (SIGKILL after timeoutMs). */
export function finished (child: ChildProcess, started = Date.now(), timeoutMs = 20_000, input?: string | Uint8Array): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  child.stdin?.on('error', () => {})
  if (input !== undefined) child.stdin?.end(input)
  else child.stdin?.end()
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  return new Promise(resolve => {
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started })
    })
  })
}

/** Resolves with the first `n` lines the child prints on stdout (or fewer on timeout). */
export function firstLines (child: ChildProcess, n: number, timeoutMs = 10_000): Promise<string[]> {
  return new Promise(resolve => {
    let buffered = ''
    const lines: string[] = []
    const done = (): void => {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      resolve(lines)
    }
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8')
      let at = buffered.indexOf('\n')
      while (at >= 0 && lines.length < n) {
        lines.push(buffered.slice(0, at))
        buffered = buffered.slice(at + 1)
        at = buffered.indexOf('\n')
      }
      if (lines.length >= n) done()
    }
    const timer = setTimeout(done, timeoutMs)
    child.stdout?.on('data', onData)
  })
}

export { freePort } from './processes.js'
