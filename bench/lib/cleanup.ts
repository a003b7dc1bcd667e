/**
 * What a benchmark program started, stopped again whatever happens: normal end, a thrown
 * error, SIGINT (Ctrl-C) or SIGTERM (the runner's timeout or its own Ctrl-C). Cleanups run
 * last-registered first (clients before servers before temp dirs), each at most once, and
 * a failing cleanup does not stop the others. A closed stdout or an uncaught exception also
 * runs them before the process exits.
 */

import { mkdtempSync, mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

type Task = () => unknown

const tasks: Task[] = []
let running: Promise<void> | null = null

/** Registers a cleanup; returns a function that runs it now (and unregisters it). */
export function onCleanup (task: Task): () => Promise<void> {
  tasks.push(task)
  return async () => {
    const at = tasks.indexOf(task)
    if (at < 0) return
    tasks.splice(at, 1)
    await task()
  }
}

/** Runs every registered cleanup (LIFO). Safe to call more than once. */
export function runCleanups (): Promise<void> {
  running ??= (async () => {
    while (tasks.length > 0) {
      const task = tasks.pop()!
      try {
        await task()
      } catch (err) {
        process.stderr.write(`cleanup failed: ${(err as Error).message}\n`)
      }
    }
    running = null
  })()
  return running
}

let handlersInstalled = false

function installSignalHandlers (): void {
  if (handlersInstalled) return
  handlersInstalled = true
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.once(signal, () => {
      process.stderr.write(`${signal}: stopping what this benchmark started\n`)
      // A second signal while cleaning up kills at once.
      process.once(signal, () => process.exit(code))
      void runCleanups().finally(() => process.exit(code))
    })
  }
  // A closed stdout (`npm run bench | head`) is an EPIPE error on the stream; a stray error
  // anywhere else is a crash. Either way what the program started is stopped before it exits.
  const stopAndExit = (why: string, code: number): void => {
    process.stderr.write(`${why}: stopping what this benchmark started\n`)
    void runCleanups().finally(() => process.exit(code))
  }
  process.stdout.on('error', err => {
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') stopAndExit('stdout closed', 0)
    else stopAndExit(`stdout: ${err.message}`, 1)
  })
  process.once('uncaughtException', err => {
    process.stderr.write(`${err.stack ?? String(err)}\n`)
    stopAndExit('uncaught exception', 1)
  })
}

/**
 * Runs a benchmark program's main function: cleanups run on success, on error (exit code
 * 1) and on signals.
 */
export async function runMain (fn: () => Promise<void>): Promise<void> {
  installSignalHandlers()
  try {
    await fn()
  } catch (err) {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
    process.exitCode = 1
  } finally {
    await runCleanups()
  }
}

/**
 * A fresh directory under `root` (the runner's --tmp) or the system temp dir, removed at
 * cleanup.
 */
export function tempDir (prefix: string, root: string | null = null): string {
  let dir: string
  if (root !== null) {
    mkdirSync(root, { recursive: true })
    dir = mkdtempSync(join(root, `${prefix}-`))
  } else {
    dir = mkdtempSync(join(tmpdir(), `spool-bench-${prefix}-`))
  }
  onCleanup(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
