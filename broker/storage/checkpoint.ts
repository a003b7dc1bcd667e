/**
 * Small checksummed text files the storage engine keeps beside the data: the per-partition
 * `log-checkpoint` and the cleaner's swap manifest `cleaner.swap` (compaction.ts), and the
 * LogManager's `topics.json` (data-dir.ts).
 *
 * Format (UTF-8, three lines):
 *
 *   spool-<kind> 1               kind and format version
 *   {...}                        one line of JSON, the body
 *   1a2b3c4d                     CRC-32C of the JSON line's bytes, 8 lowercase hex digits
 *
 * Files are replaced atomically: written to `<name>.tmp`, optionally fsynced, renamed over
 * the old one (and the directory fsynced when durability matters). A file that fails to
 * parse or whose CRC disagrees reads as "absent", and every caller treats "absent" as the
 * conservative choice (recover more, clean again, keep tombstones longer) — except
 * topics.json, whose corruption stops the broker with a StorageError instead of guessing.
 *
 * `log-checkpoint` body:
 *   { "recoveryPoint": N,        offsets below N are fsynced (log, indexes): unclean
 *                                recovery scans only segments holding offsets >= N
 *     "logStartOffset": N,       may lie inside the first segment (deleteRecordsBefore)
 *     "firstDirtyOffset": N,     the cleaner's position: offsets below N were compacted
 *     "tombstoneHorizons": [[segmentBaseOffset, deleteHorizonMs], ...],
 *                                per cleaned segment still holding tombstones: when they may go
 *     "highWatermark": N }       optional: the high watermark when written (replicated
 *                                partitions resume from it; never above the log end offset)
 */

import fs from 'node:fs'
import { crc32c } from '../../protocol/bytes/crc32c.js'
import { writeFileAtomic } from './atomic-file.js'

const encoder = new TextEncoder()

function crcHex (text: string): string {
  return crc32c(encoder.encode(text)).toString(16).padStart(8, '0')
}

/** Serializes `body` as a checksummed `kind` file. */
export function encodeCheckedFile (kind: string, body: unknown): Buffer {
  const json = JSON.stringify(body)
  return Buffer.from(`spool-${kind} 1\n${json}\n${crcHex(json)}\n`)
}

/** Parses a checksummed file's bytes; returns the body or a reason it is unusable. */
export function decodeCheckedFile (kind: string, bytes: Buffer): { body: unknown } | { problem: string } {
  const lines = bytes.toString('utf8').split('\n')
  if (lines[0] !== `spool-${kind} 1`) return { problem: `first line is not "spool-${kind} 1"` }
  const json = lines[1] ?? ''
  if (lines[2] !== crcHex(json)) return { problem: 'checksum mismatch' }
  try {
    return { body: JSON.parse(json) }
  } catch (err) {
    return { problem: `bad JSON: ${(err as Error).message}` }
  }
}

/** Reads a checksummed file: body, null when missing, or { problem } when unusable. */
export function readCheckedFile (kind: string, filePath: string): { body: unknown } | { problem: string } | null {
  let bytes: Buffer
  try {
    bytes = fs.readFileSync(filePath)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  return decodeCheckedFile(kind, bytes)
}

export function writeCheckedFile (kind: string, filePath: string, body: unknown, fsync: boolean): void {
  writeFileAtomic(filePath, encodeCheckedFile(kind, body), fsync)
}

export { fsyncDir } from './atomic-file.js'

export interface LogCheckpointState {
  recoveryPoint: number
  logStartOffset: number
  firstDirtyOffset: number
  tombstoneHorizons: Array<[number, number]>
  /**
   * The high watermark when written (replicated partitions: the replica manager moves it
   * apart from the log end offset and a restart resumes from here). Absent in checkpoints
   * written before replication; the log end offset is used then.
   */
  highWatermark?: number
}

export const LOG_CHECKPOINT_FILE = 'log-checkpoint'
const LOG_CHECKPOINT_KIND = 'log-checkpoint'

function isOffset (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/** The checkpoint in `filePath`, or null when missing or unusable (reported via onProblem). */
export function readLogCheckpoint (filePath: string, onProblem: (reason: string) => void): LogCheckpointState | null {
  const read = readCheckedFile(LOG_CHECKPOINT_KIND, filePath)
  if (read === null) return null
  if ('problem' in read) {
    onProblem(read.problem)
    return null
  }
  const b = read.body as Partial<LogCheckpointState>
  const horizonsOk = Array.isArray(b.tombstoneHorizons) &&
    b.tombstoneHorizons.every(e => Array.isArray(e) && e.length === 2 && isOffset(e[0]) && typeof e[1] === 'number')
  if (!isOffset(b.recoveryPoint) || !isOffset(b.logStartOffset) || !isOffset(b.firstDirtyOffset) || !horizonsOk ||
    (b.highWatermark !== undefined && !isOffset(b.highWatermark))) {
    onProblem('fields missing or of the wrong type')
    return null
  }
  return b as LogCheckpointState
}

export function writeLogCheckpoint (filePath: string, state: LogCheckpointState, fsync: boolean): void {
  writeCheckedFile(LOG_CHECKPOINT_KIND, filePath, state, fsync)
}
