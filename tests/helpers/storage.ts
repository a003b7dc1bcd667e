/** Shared helpers for the storage engine tests: temp dirs, logs, batches, full reads. */

import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { Writable } from 'node:stream'
import pino from 'pino'
import { decodeBatchAsync, encodeBatch, type DecodedRecord, type RecordInput, type BuildOptions } from '../../protocol/record-batch/records.js'
import { forEachBatch } from '../../protocol/record-batch/records.js'
import { DEFAULT_LOG_CONFIG, type LogConfig } from '../../broker/storage/config.js'
import { FileHandleCache } from '../../broker/storage/file-handle-cache.js'
import { PartitionLog } from '../../broker/storage/partition-log.js'
import { utf8 } from './bytes.js'
import { tempDir as makeTempDir } from './temp.js'

export interface TestContext {
  teardown (fn: () => void | Promise<void>): void
}

/** A fresh temp dir, removed in teardown (helpers/temp.ts, with the storage prefix). */
export function tempDir (t: TestContext, prefix = 'spool-storage-'): string {
  return makeTempDir(t, prefix)
}

export interface LogLine { level: number, msg: string, [key: string]: unknown }

/** A pino logger whose lines are collected in `lines` (level debug). */
export function captureLogger (): { logger: pino.Logger, lines: LogLine[] } {
  const lines: LogLine[] = []
  const stream = new Writable({
    write (chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as LogLine)
      cb()
    },
  })
  return { logger: pino({ level: 'debug' }, stream), lines }
}

export const silentLogger = pino({ level: 'silent' })

/** A settable clock for retention, segmentMs and tombstone horizons. */
export class FakeClock {
  constructor (public nowMs = 1_700_000_000_000) {}
  readonly now = (): number => this.nowMs
  advance (ms: number): void { this.nowMs += ms }
}

export interface OpenLogOptions {
  dir: string
  config?: Partial<LogConfig>
  recover?: boolean
  handles?: FileHandleCache
  logger?: pino.Logger
  now?: () => number
  topic?: string
  partition?: number
}

export function openLog (o: OpenLogOptions): Promise<PartitionLog> {
  return PartitionLog.open({
    dir: o.dir,
    topic: o.topic ?? 't',
    partition: o.partition ?? 0,
    config: { ...DEFAULT_LOG_CONFIG, ...o.config },
    logger: o.logger ?? silentLogger,
    now: o.now,
    recover: o.recover ?? false,
    handles: o.handles ?? new FileHandleCache(100),
  })
}

/** One batch of `count` records with values `${tag}:${i}` (keys `k${i}` unless keyless). */
export function batchOf (tag: string, count: number, options: BuildOptions & { timestamp?: number, keyed?: boolean } = {}): Uint8Array {
  const records: RecordInput[] = []
  for (let i = 0; i < count; i++) {
    records.push({
      key: options.keyed === false ? null : utf8(`k${i}`),
      value: utf8(`${tag}:${i}`),
      timestamp: options.timestamp ?? 1_700_000_000_000,
    })
  }
  return encodeBatch(records, options)
}

/** Concatenates batches into one payload. */
export function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let pos = 0
  for (const p of parts) {
    out.set(p, pos)
    pos += p.length
  }
  return out
}

/** Every record from `from` to the high watermark, reading in `maxBytes` steps. */
export async function readAllRecords (log: PartitionLog, from = log.logStartOffset, maxBytes = 64 * 1024): Promise<DecodedRecord[]> {
  const out: DecodedRecord[] = []
  let offset = from
  for (let guard = 0; offset < log.highWatermark && guard < 1_000_000; guard++) {
    const r = await log.read(offset, maxBytes)
    const batches: Array<[number, number]> = []
    forEachBatch(r.bytes, (pos, size) => batches.push([pos, size]))
    for (const [pos] of batches) {
      const { records } = await decodeBatchAsync(r.bytes, pos)
      for (const rec of records) if (rec.offset >= offset) out.push(rec)
    }
    if (r.nextOffset <= offset) throw new Error(`read at ${offset} made no progress`)
    offset = r.nextOffset
  }
  return out
}

/** sha256 of every file in a directory tree (relative path → hash). */
export function hashDir (dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (d: string): void => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name)
      if (fs.statSync(p).isDirectory()) walk(p)
      else out[path.relative(dir, p)] = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex')
    }
  }
  walk(dir)
  return out
}

export const text = (b: Uint8Array | null): string | null => (b === null ? null : Buffer.from(b).toString('utf8'))
