/**
 * kcat (librdkafka) as a benchmark load: an input file of values, one per line, and a
 * bounded kcat run with stdin from it (or none) and stdout to /dev/null.
 */

import { spawn } from 'node:child_process'
import { closeSync, createWriteStream, openSync } from 'node:fs'
import { makeValue } from './spool.js'

/** Writes `records` lines of `valueBytes` letters (the same bytes as the SDK's makeValue). */
export async function writeKcatInput (path: string, records: number, valueBytes: number): Promise<void> {
  const line = Buffer.concat([Buffer.from(makeValue(valueBytes)), Buffer.from('\n')])
  const chunk = Buffer.concat(Array.from({ length: 1000 }, () => line))
  const out = createWriteStream(path)
  for (let written = 0; written < records; written += 1000) {
    const n = Math.min(1000, records - written)
    if (!out.write(n === 1000 ? chunk : chunk.subarray(0, n * line.length))) await new Promise<void>(resolve => out.once('drain', () => resolve()))
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())))
}

/** Runs kcat with stdin from `input` (or none) and stdout to /dev/null; rejects on a failure. */
export function runKcat (args: string[], input: string | null, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const stdin = input === null ? 'ignore' : openSync(input, 'r')
    const stdout = openSync('/dev/null', 'w')
    const child = spawn('kcat', args, { stdio: [stdin, stdout, 'pipe'], detached: true })
    let stderr = ''
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL') } catch {} }, timeoutMs)
    child.once('exit', code => {
      clearTimeout(timer)
      if (typeof stdin === 'number') closeSync(stdin)
      closeSync(stdout)
      if (code === 0) resolve()
      else reject(new Error(`kcat ${args.filter(a => !a.startsWith('sasl.password=')).join(' ')} exited ${code}: ${stderr.slice(-500)}`))
    })
  })
}
