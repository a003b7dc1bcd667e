/**
 * Small files replaced whole (checkpoints, index files, snapshots, producer-id blocks,
 * security stores): written to `<file>.tmp`, then renamed over the old one, so a reader or
 * a crash sees the old file or the new one, never half of one.
 *
 * `durable` says what a crash may take: durable writes fsync the file before the rename
 * and the directory after it (the rename itself survives power loss); non-durable writes
 * are for caches that recovery rebuilds (offset and time indexes) and skip both fsyncs.
 * Callers must choose: there is no default.
 */

import fs from 'node:fs'
import path from 'node:path'
import { faultPoints } from './testing/fault-points.js'

/**
 * On failure the temp file is removed (on a full disk it would hold space) and `filePath` is
 * as it was. `point` names fault points `<point>.midWrite` (half the bytes in the temp file)
 * and `<point>.beforeRename` (temp file complete, not renamed).
 */
export function writeFileAtomic (filePath: string, bytes: Uint8Array, durable: boolean, point?: string): void {
  const tmp = `${filePath}.tmp`
  try {
    const fd = fs.openSync(tmp, 'w', 0o600)
    try {
      let written = 0
      if (point !== undefined && faultPoints.active && bytes.length > 1) {
        written = fs.writeSync(fd, bytes, 0, bytes.length >> 1)
        faultPoints.hit(`${point}.midWrite`)
      }
      while (written < bytes.length) written += fs.writeSync(fd, bytes, written, bytes.length - written)
      if (durable) fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    if (point !== undefined && faultPoints.active) faultPoints.hit(`${point}.beforeRename`)
    fs.renameSync(tmp, filePath)
  } catch (err) {
    fs.rmSync(tmp, { force: true })
    throw err
  }
  if (durable) fsyncDir(path.dirname(filePath))
}

/** fsync a directory so renames and creations in it are durable. */
export function fsyncDir (dir: string): void {
  const fd = fs.openSync(dir, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}
