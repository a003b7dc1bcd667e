/**
 * The layout of a data directory as LogManager (log-manager.ts) keeps it, apart from the
 * partition logs' own files (partition-log.ts) and the `.lock` (data-dir-lock.ts): topic
 * metadata, partition directory names, the clean-shutdown marker, and the leftovers of
 * interrupted topic changes.
 *
 * Files in `dataDir`:
 *   .clean-shutdown         empty; written and fsynced by LogManager.close() once every log's
 *                           data is fsynced (even if some cache file could not be written),
 *                           removed (and the removal fsynced) by open() before any log is
 *                           opened, so a crash at any later point means "recover".
 *   topics.json             checked file (checkpoint.ts), kind "topics", body:
 *                             { "topics": [ { "name": "orders", "partitions": 3,
 *                               "config": { ...overrides only... }, "internal": false,
 *                               "createdAtMs": 1700000000000 } ] }
 *                           written tmp + fsync + rename + fsync(dir). It is the source of
 *                           truth: partition directories are found from it, never by parsing
 *                           directory names (topic names may contain '-'). It is created at the
 *                           first open; if it is missing in a non-empty data dir, or damaged, open
 *                           refuses with a StorageError instead of guessing.
 *   <topic>-<partition>/    one PartitionLog each (partition-log.ts)
 *   <dir>.<id>-delete/      a deleted partition being removed (finished at the next open)
 *
 * Crash safety of topic changes: createTopic creates the partition directories, then writes
 * topics.json; deleteTopic writes topics.json, then renames the directories to `-delete` and
 * removes them. A crash in between leaves directories topics.json does not name; open()
 * removes those (removeLeftovers, with a warn line) and starts normally.
 */

import fs from 'node:fs'
import path from 'node:path'
import type pino from 'pino'
import { StorageError } from '../../protocol/errors.js'
import { validateTopicName } from '../../protocol/topic-name.js'
import { validateLogConfig, type LogConfig } from './config.js'
import { fsyncDir, readCheckedFile, writeCheckedFile } from './checkpoint.js'

/** One topic as topics.json stores it (its config: the overrides only). */
export interface TopicMeta {
  name: string
  partitions: number
  config: Partial<LogConfig>
  internal: boolean
  createdAtMs: number
}

const CLEAN_SHUTDOWN_FILE = '.clean-shutdown'
const TOPICS_FILE = 'topics.json'
const TOPICS_KIND = 'topics'
const DELETE_SUFFIX = '-delete'
/** `<topic>-<partition>`: the only directories besides DELETE_SUFFIX ones that the log manager owns. */
const PARTITION_DIR = /-\d+$/

export function partitionDirName (topic: string, partition: number): string {
  return `${topic}-${partition}`
}

/** The directory of partition `partition` of `topic`. */
export function partitionDir (dataDir: string, topic: string, partition: number): string {
  return path.join(dataDir, partitionDirName(topic, partition))
}

/** The suffix a deleted topic's directories are renamed with (unique per deletion). */
export function deletedDirSuffix (nowMs: number): string {
  return `.${nowMs.toString(36)}${Math.random().toString(36).slice(2, 8)}${DELETE_SUFFIX}`
}

/** Removes the directories of partitions `from` (inclusive) to `to` (exclusive) of `topic`. */
export function removePartitionDirs (dataDir: string, topic: string, from: number, to: number): void {
  for (let p = from; p < to; p++) fs.rmSync(partitionDir(dataDir, topic, p), { recursive: true, force: true })
}

export function hasCleanShutdownMarker (dataDir: string): boolean {
  return fs.existsSync(path.join(dataDir, CLEAN_SHUTDOWN_FILE))
}

/** Removes the marker, durably (before any log is opened). */
export function removeCleanShutdownMarker (dataDir: string): void {
  fs.rmSync(path.join(dataDir, CLEAN_SHUTDOWN_FILE))
  fsyncDir(dataDir)
}

/** Writes and fsyncs the marker and fsyncs the directory (throws when it cannot). */
export function writeCleanShutdownMarker (dataDir: string): void {
  const fd = fs.openSync(path.join(dataDir, CLEAN_SHUTDOWN_FILE), 'w')
  try { fs.fsyncSync(fd) } finally { fs.closeSync(fd) }
  fsyncDir(dataDir)
}

/** Replaces topics.json durably (the file, then the directory). */
export function writeTopics (dataDir: string, metas: TopicMeta[]): void {
  writeCheckedFile(TOPICS_KIND, path.join(dataDir, TOPICS_FILE), { topics: metas }, true)
  fsyncDir(dataDir)
}

/** topics.json: its topics, or `existed: false` for a new data dir; StorageError when unusable. */
export function readTopics (dataDir: string): { existed: boolean, topics: TopicMeta[] } {
  const file = path.join(dataDir, TOPICS_FILE)
  const read = readCheckedFile(TOPICS_KIND, file)
  if (read === null) {
    // Partition directories (`<topic>-<n>`) without topics.json are a lost topic list; other
    // directories (`security/`, written by `spool user add` before the first start) are not.
    const others = fs.readdirSync(dataDir, { withFileTypes: true }).filter(e => e.isDirectory() && PARTITION_DIR.test(e.name) && !e.name.endsWith(DELETE_SUFFIX))
    if (others.length > 0) {
      throw new StorageError(`${file} is missing but ${dataDir} holds ${others.length} directories (e.g. ${others[0]!.name}); refusing to guess the topics`)
    }
    return { existed: false, topics: [] }
  }
  if ('problem' in read) throw new StorageError(`${file} is damaged (${read.problem}); refusing to start`)
  const topics = (read.body as { topics?: unknown }).topics
  if (!Array.isArray(topics)) throw new StorageError(`${file} has no topics list`)
  for (const t of topics as TopicMeta[]) {
    validateTopicName(t.name, true)
    if (!Number.isSafeInteger(t.partitions) || t.partitions < 1) throw new StorageError(`${file}: topic ${t.name} has ${String(t.partitions)} partitions`)
    validateLogConfig(t.config)
  }
  return { existed: true, topics: topics as TopicMeta[] }
}

/**
 * Removes `-delete` directories, partition directories `metas` does not name and stray
 * `.tmp` files; every other directory (`security/` and the like) stays.
 */
export function removeLeftovers (dataDir: string, metas: TopicMeta[], logger: pino.Logger): void {
  const expected = new Set<string>()
  for (const m of metas) for (let p = 0; p < m.partitions; p++) expected.add(partitionDirName(m.name, p))
  for (const entry of fs.readdirSync(dataDir, { withFileTypes: true })) {
    const full = path.join(dataDir, entry.name)
    if (!entry.isDirectory()) {
      if (entry.name.endsWith('.tmp')) fs.rmSync(full, { force: true })
      continue
    }
    if (expected.has(entry.name)) continue
    // Only what a partition directory can be named: `security/` (users, ACLs, token keys) and the like stay.
    if (!PARTITION_DIR.test(entry.name) && !entry.name.endsWith(DELETE_SUFFIX)) continue
    if (!entry.name.endsWith(DELETE_SUFFIX)) {
      logger.warn({ dir: entry.name }, 'removing a partition directory that topics.json does not name (left by an interrupted create or delete)')
    }
    fs.rmSync(full, { recursive: true, force: true })
  }
}
