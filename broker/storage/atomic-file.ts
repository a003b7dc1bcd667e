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

export function writeFileAtomic (filePath: string, bytes: Uint8Array, durable: boolean): void {
  const tmp = `${filePath}.tmp`
  const fd = fs.openSync(tmp, 'w', 0o600)
  try {
    let written = 0
    while (written < bytes.length) written += fs.writeSync(fd, bytes, written, bytes.length - written)
    if (durable) fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(tmp, filePath)
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
