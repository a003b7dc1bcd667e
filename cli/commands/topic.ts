/**
 * `spool topic create|list|describe|delete` (docs/architecture.md §7).
 *
 *   spool topic create <topic> [--partitions N] [--replication-factor N] [--retention-ms N] [--retention-bytes N]
 *                              [--cleanup-policy delete|compact] [--config key=value]...
 *   spool topic reassign <topic> --partition P --replicas 1,2,3     (cluster mode)
 *   spool topic reassign --plan moves.json                          ([{ "topic", "partition", "replicas" }, ...])
 *   spool topic list [--format text|json]
 *   spool topic describe <topic> [--format text|json]
 *   spool topic delete <topic>
 *
 * Text output is a table for people; `--format json` prints one JSON document on one line
 * (an array for list, an object for describe) for scripts.
 */

import { readFileSync } from 'node:fs'
import { Command, Option } from 'commander'
import type { Client, TopicConfig, TopicDescription } from '../../client/index.js'
import { choiceArg, intArg, withClient } from '../context.js'
import { UsageError } from '../exit-codes.js'
import { humanBytes, table } from '../output.js'

type Format = 'text' | 'json'

function formatOption (): Option {
  return new Option('--format <format>', 'text or json').argParser(choiceArg(['text', 'json'] as const)).default('text')
}

/** Records held: log end minus log start, summed over partitions (fewer on a compacted topic). */
function recordsIn (t: TopicDescription): number {
  return t.partitions.reduce((sum, p) => sum + (p.logEndOffset - p.logStartOffset), 0)
}

function sizeOf (t: TopicDescription): number {
  return t.partitions.reduce((sum, p) => sum + p.sizeBytes, 0)
}

interface CreateOptions {
  partitions?: number
  replicationFactor?: number
  retentionMs?: number
  retentionBytes?: number
  cleanupPolicy?: 'delete' | 'compact'
  config: string[]
}

/** `--config key=value` pairs (topic config names as in the README: maxBatchBytes, segmentMs, ...); numbers as numbers. */
function parseConfig (pairs: string[]): TopicConfig {
  const out: TopicConfig = {}
  for (const pair of pairs) {
    const at = pair.indexOf('=')
    if (at <= 0) throw new UsageError(`--config takes key=value, got "${pair}"`)
    const value = pair.slice(at + 1)
    out[pair.slice(0, at)] = /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value
  }
  return out
}

async function create (client: Client, _broker: string, topic: string, options: CreateOptions): Promise<void> {
  const config: TopicConfig = parseConfig(options.config)
  if (options.retentionMs !== undefined) config.retentionMs = options.retentionMs
  if (options.retentionBytes !== undefined) config.retentionBytes = options.retentionBytes
  if (options.cleanupPolicy !== undefined) config.cleanupPolicy = options.cleanupPolicy
  const [created] = await client.admin().createTopics([{ topic, partitions: options.partitions, config, ...(options.replicationFactor === undefined ? {} : { replicationFactor: options.replicationFactor }) }])
  const partitions = created?.partitions ?? options.partitions
  const rf = options.replicationFactor === undefined ? '' : ` and ${options.replicationFactor} replica${options.replicationFactor === 1 ? '' : 's'} each`
  process.stdout.write(`created topic "${topic}"${partitions === undefined ? '' : ` with ${partitions} partition${partitions === 1 ? '' : 's'}`}${rf}\n`)
}

async function list (client: Client, _broker: string, options: { format: Format }): Promise<void> {
  const topics = (await client.admin().describeTopics()).sort((a, b) => a.topic.localeCompare(b.topic))
  if (options.format === 'json') {
    const rows = topics.map(t => ({ topic: t.topic, partitions: t.partitions.length, records: recordsIn(t), sizeBytes: sizeOf(t) }))
    process.stdout.write(JSON.stringify(rows) + '\n')
    return
  }
  if (topics.length === 0) {
    process.stdout.write('no topics\n')
    return
  }
  process.stdout.write(table(['TOPIC', 'PARTITIONS', 'RECORDS', 'SIZE'],
    topics.map(t => [t.topic, t.partitions.length, recordsIn(t), humanBytes(sizeOf(t))])))
}

async function describe (client: Client, _broker: string, topic: string, options: { format: Format }): Promise<void> {
  const [t] = await client.admin().describeTopics([topic])
  if (t === undefined) throw new Error(`no description returned for topic "${topic}"`)
  if (options.format === 'json') {
    process.stdout.write(JSON.stringify(t) + '\n')
    return
  }
  const config = Object.entries(t.config).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`)
  process.stdout.write(`Topic: ${t.topic}  Partitions: ${t.partitions.length}  Records: ${recordsIn(t)}  Size: ${humanBytes(sizeOf(t))}${t.internal ? '  (internal)' : ''}\n`)
  process.stdout.write(`${wrap('Config:', config.length === 0 ? ['(defaults)'] : config, 80)}\n\n`)
  process.stdout.write(table(['PARTITION', 'LOG START', 'LOG END', 'HIGH WATERMARK', 'RECORDS', 'SIZE'],
    t.partitions.map(p => [p.partition, p.logStartOffset, p.logEndOffset, p.highWatermark, p.logEndOffset - p.logStartOffset, humanBytes(p.sizeBytes)])))
}

/** `label word word ...` wrapped at `width` columns, continuation lines indented under the first word. */
function wrap (label: string, words: string[], width: number): string {
  const indent = ' '.repeat(label.length + 1)
  const lines: string[] = []
  let line = label
  for (const word of words) {
    if (line.length > label.length && line.length + 1 + word.length > width) {
      lines.push(line)
      line = indent + word
    } else line += ' ' + word
  }
  lines.push(line)
  return lines.join('\n')
}

interface ReassignOptions { partition?: number, replicas?: number[], plan?: string }

/** The moves of `spool topic reassign`: one partition from the flags, or a JSON plan file. */
function reassignMoves (topic: string | undefined, options: ReassignOptions): Array<{ topic: string, partition: number, replicas: number[] }> {
  if (options.plan !== undefined) {
    if (topic !== undefined || options.partition !== undefined || options.replicas !== undefined) throw new UsageError('give either --plan or <topic> --partition --replicas')
    let parsed: unknown
    try {
      parsed = JSON.parse(readFileSync(options.plan, 'utf8'))
    } catch (err) {
      throw new UsageError(`--plan ${options.plan}: ${(err as Error).message}`)
    }
    const ok = Array.isArray(parsed) && parsed.every(m => typeof m === 'object' && m !== null && typeof m.topic === 'string' &&
      Number.isInteger(m.partition) && Array.isArray(m.replicas) && m.replicas.every((r: unknown) => Number.isInteger(r)))
    if (!ok) throw new UsageError(`--plan ${options.plan}: expected [{ "topic": "t", "partition": 0, "replicas": [1, 2, 3] }, ...]`)
    return parsed as Array<{ topic: string, partition: number, replicas: number[] }>
  }
  if (topic === undefined || options.partition === undefined || options.replicas === undefined) throw new UsageError('give <topic> --partition P --replicas 1,2,3 (or --plan file.json)')
  return [{ topic, partition: options.partition, replicas: options.replicas }]
}

async function reassign (client: Client, _broker: string, topic: string | undefined, options: ReassignOptions): Promise<void> {
  const moves = reassignMoves(topic, options)
  const { started, completed } = await client.admin().reassignPartitions(moves)
  process.stdout.write(`reassignment: ${started} started, ${completed} already complete (watch spool cluster status)\n`)
}

function nodeList (value: string): number[] {
  const list = value.split(',').map(x => x.trim()).filter(x => x !== '')
  if (list.length === 0 || !list.every(x => /^\d+$/.test(x))) throw new UsageError(`--replicas takes node ids like 1,2,3, got "${value}"`)
  return list.map(Number)
}

async function remove (client: Client, _broker: string, topic: string): Promise<void> {
  await client.admin().deleteTopics([topic])
  process.stdout.write(`deleted topic "${topic}"\n`)
}

export function topicCommand (): Command {
  const topic = new Command('topic').description('create, list, describe and delete topics')
  topic.command('create')
    .description('create a topic')
    .argument('<topic>', 'topic name ([A-Za-z0-9._-], at most 249 characters)')
    .option('--partitions <n>', 'number of partitions (default: the broker\'s)', intArg(1))
    .option('--replication-factor <n>', 'copies of each partition in a cluster (default: the brokers\' defaultReplicationFactor)', intArg(1))
    .option('--retention-ms <n>', 'keep records this long (-1: forever)', intArg(-1))
    .option('--retention-bytes <n>', 'keep at most this many bytes per partition (-1: no limit)', intArg(-1))
    .addOption(new Option('--cleanup-policy <policy>', 'delete old segments, or compact by key').argParser(choiceArg(['delete', 'compact'] as const)))
    .option('--config <key=value>', 'any topic setting, e.g. maxBatchBytes=8388608 (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .action(withClient(create))
  topic.command('list')
    .description('list topics with their partitions, records and size')
    .addOption(formatOption())
    .action(withClient(list))
  topic.command('describe')
    .description('show a topic\'s config and, per partition, offsets and size')
    .argument('<topic>')
    .addOption(formatOption())
    .action(withClient(describe))
  topic.command('reassign')
    .description('move a partition to other brokers (cluster mode): new replicas catch up, then old ones go')
    .argument('[topic]')
    .option('--partition <p>', 'the partition to move', intArg(0))
    .option('--replicas <ids>', 'its new replicas, preferred leader first (node ids, e.g. 2,3,4)', nodeList)
    .option('--plan <file>', 'a JSON file of moves: [{ "topic", "partition", "replicas" }, ...]')
    .action(withClient(reassign))
  topic.command('delete')
    .description('delete a topic and its data')
    .argument('<topic>')
    .action(withClient(remove))
  return topic
}
