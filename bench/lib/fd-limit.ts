/**
 * File descriptor limits of device-scale scenarios (mqtt-devices, mqtt-connections): Node
 * cannot raise its own RLIMIT_NOFILE, so a program that needs more than its soft limit
 * re-runs itself under `ulimit -n "$(ulimit -Hn)"` — only the program and what it spawns
 * (its brokers, its fleet workers) get the raised limit, nothing else on the machine. The
 * hard limit itself is never raised: where it is too low, a scenario measures what fits.
 */

import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const FD_ENV = 'SPOOL_BENCH_FD_RAISED'

/** `ulimit -n` (soft) or `ulimit -Hn` (hard) of this process, as a shell sees it. */
export function shellLimit (flag: '-n' | '-Hn'): number {
  const r = spawnSync('sh', ['-c', `ulimit ${flag}`], { encoding: 'utf8' })
  const n = Number(r.stdout.trim())
  return r.stdout.trim() === 'unlimited' ? 1 << 20 : Number.isFinite(n) ? n : 1024
}

/**
 * Re-runs the program at `scriptUrl` (its import.meta.url) with its soft fd limit raised to
 * the hard limit, once; resolves true when it did (the exit code is the child's), false when
 * the limit is already the hard one (then the caller runs its main itself).
 */
export async function raiseFdLimit (scriptUrl: string): Promise<boolean> {
  if (process.env[FD_ENV] === '1' || shellLimit('-n') >= shellLimit('-Hn')) return false
  const script = fileURLToPath(scriptUrl)
  const child = spawn('sh', ['-c', 'ulimit -n "$(ulimit -Hn)" && exec "$0" "$@"', process.execPath, ...process.execArgv, script, ...process.argv.slice(2)], {
    stdio: 'inherit', env: { ...process.env, [FD_ENV]: '1' },
  })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal))
  const code = await new Promise<number>(resolve => child.on('exit', (c, s) => resolve(c ?? (s === null ? 1 : 128))))
  process.exitCode = code
  return true
}
