/**
 * The data directory's `.lock` (see log-manager.ts for its format): one LogManager per data
 * directory, across processes (the owner's pid, checked for liveness) and within this one.
 */

import fs from 'node:fs'
import path from 'node:path'
import type pino from 'pino'
import { StorageError } from '../../protocol/errors.js'
import { isNoSpaceError } from './disk-space.js'

const LOCK_FILE = '.lock'

/** Data directories locked by LogManagers of this process (a second one is refused). */
const lockedInProcess = new Set<string>()

/**
 * Whether `pid` is a running process. A zombie (killed, not yet reaped by its parent —
 * common right after `kill -9` under a minimal init) still answers signal 0 but holds no
 * files: on Linux /proc says so, and it counts as dead.
 */
function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch {
    return true
  }
}

export function acquireLock (dataDir: string, logger: pino.Logger): void {
  if (lockedInProcess.has(dataDir)) throw new StorageError(`data dir ${dataDir} is already open in this process`)
  const lockPath = path.join(dataDir, LOCK_FILE)
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      createLockFile(lockPath)
      lockedInProcess.add(dataDir)
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new StorageError(`cannot create ${lockPath}: ${(err as Error).message}`, { cause: err })
    }
    let pid = Number.NaN
    try {
      const link = fs.lstatSync(lockPath).isSymbolicLink()
      pid = Number.parseInt((link ? fs.readlinkSync(lockPath) : fs.readFileSync(lockPath, 'utf8')).trim(), 10)
    } catch { /* vanished or unreadable: treat as stale */ }
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new StorageError(`data dir ${dataDir} is locked by running process ${pid} (${lockPath}); stop it first, or remove the file if that process is not a Spool broker`)
    }
    logger.warn({ lockPath, stalePid: pid }, 'taking over a stale data dir lock')
    fs.rmSync(lockPath, { force: true })
  }
  throw new StorageError(`could not lock ${dataDir}`)
}

/** `.lock` holding our pid; a symbolic link to it when the disk has no room for the bytes. */
function createLockFile (lockPath: string): void {
  const fd = fs.openSync(lockPath, 'wx')
  try {
    fs.writeSync(fd, `${process.pid}\n`)
  } catch (err) {
    fs.closeSync(fd)
    fs.rmSync(lockPath, { force: true })
    if (!isNoSpaceError(err)) throw err
    fs.symlinkSync(String(process.pid), lockPath)
    return
  }
  fs.closeSync(fd)
}

export function releaseLock (dataDir: string): void {
  lockedInProcess.delete(dataDir)
  try {
    fs.rmSync(path.join(dataDir, LOCK_FILE), { force: true })
  } catch { /* best effort */ }
}
