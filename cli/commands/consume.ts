/**
 * `spool consume <topic>` and `spool tail <topic>` (architecture.md §7).
 *
 *   spool consume <topic> [--from-beginning | --offset N | --from-time ISO] [-f|--follow]
 *                         [--max-messages N] [--format text|json] [--partition P] [--print-key]
 *   spool tail <topic>    = consume --follow from the end
 *
 * Start: the end of each partition (only new messages) unless --from-beginning, --offset N
 * (every partition from N; below the log start means from the log start) or --from-time
 * (the first message at or after that time). Without --follow the command stops once it
 * has printed everything up to the end offsets that existed when it started (like kcat -e),
 * so `spool consume t` with no start option prints nothing and exits.
 *
 * It ends with exit 0 after --max-messages N messages (exactly N printed), on SIGINT or
 * SIGTERM, and when stdout is closed (`| head -3`: noticed at the next write, EPIPE, as
 * `tail -f` and kafka-console-consumer do). Output formats: output.ts.
 */

import { Command, Option } from 'commander'
import type { Client, Message, TopicPartition } from '../../client/index.js'
import { choiceArg, intArg, withClient } from '../context.js'
import { UsageError } from '../exit-codes.js'
import { jsonLines, textLines } from '../output.js'

interface ConsumeOptions {
  fromBeginning?: boolean
  offset?: number
  fromTime?: string
  follow?: boolean
  maxMessages?: number
  format: 'text' | 'json'
  partition?: number
  printKey?: boolean
  group?: string
}

const key = (tp: TopicPartition): string => `${tp.topic}\u0000${tp.partition}`

/** Resolves once `data` is written (or stdout is gone); rejects on a write error other than EPIPE. */
function writeOut (data: Uint8Array | string): Promise<void> {
  const stdout = process.stdout
  if (stdout.destroyed || !stdout.writable) return Promise.resolve()
  if (stdout.write(data)) return Promise.resolve()
  return new Promise(resolve => {
    const done = (): void => {
      stdout.off('drain', done)
      stdout.off('close', done)
      stdout.off('error', done)
      resolve()
    }
    stdout.on('drain', done)
    stdout.on('close', done)
    stdout.on('error', done)
  })
}

async function consume (client: Client, _broker: string, topic: string, options: ConsumeOptions): Promise<void> {
  const starts = [options.fromBeginning === true, options.offset !== undefined, options.fromTime !== undefined].filter(Boolean).length
  if (starts > 1) throw new UsageError('give at most one of --from-beginning, --offset and --from-time')
  if (options.group !== undefined) throw new UsageError('--group needs consumer groups, which this broker version does not have yet')
  let fromTime: number | undefined
  if (options.fromTime !== undefined) {
    fromTime = Date.parse(options.fromTime)
    if (Number.isNaN(fromTime) || fromTime < 0) throw new UsageError(`--from-time takes an ISO date or time, got "${options.fromTime}"`)
  }
  const follow = options.follow === true
  const consumer = client.consumer({
    fromBeginning: options.fromBeginning === true,
    autoOffsetReset: options.offset !== undefined || options.fromBeginning === true ? 'earliest' : 'latest',
  })
  await consumer.assign(options.partition === undefined ? { topic } : { topic, partition: options.partition })
  const partitions = consumer.assignment()
  if (options.offset !== undefined) for (const tp of partitions) consumer.seek({ ...tp, offset: options.offset })
  else if (fromTime !== undefined) await consumer.seekToTimestamp(fromTime)
  else if (options.fromBeginning === true) await consumer.seekToBeginning()
  else await consumer.seekToEnd()

  // Without --follow: stop at the end offsets of now.
  const endOf = new Map<string, number>()
  if (!follow) {
    for (const end of await consumer.endOffsets()) {
      if (consumer.position(end) < end.offset) endOf.set(key(end), end.offset)
    }
    if (endOf.size === 0) {
      await consumer.close()
      return
    }
    consumer.pause(partitions.filter(tp => !endOf.has(key(tp))))
  }

  let printed = 0
  const max = options.maxMessages ?? Infinity
  const stop = (): void => { void consumer.close() }
  const onStdoutError = (err: NodeJS.ErrnoException): void => {
    if (err.code !== 'EPIPE') process.stderr.write(`error: writing to stdout failed (${err.code ?? err.message})\n`)
    stop()
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  process.stdout.on('error', onStdoutError)
  try {
    if (max === 0) return
    await consumer.run({
      eachBatch: async ({ batch }) => {
        let messages: Message[] = batch.messages
        const tp = { topic: batch.topic, partition: batch.partition }
        if (!follow) {
          const end = endOf.get(key(tp))
          if (end === undefined) return
          if (messages[messages.length - 1]!.offset >= end - 1) {
            messages = messages.filter(m => m.offset < end)
            endOf.delete(key(tp))
            consumer.pause([tp])
          }
        }
        if (printed + messages.length > max) messages = messages.slice(0, max - printed)
        printed += messages.length
        if (messages.length > 0) await writeOut(options.format === 'json' ? jsonLines(messages) : textLines(messages, options.printKey === true))
        if (printed >= max || (!follow && endOf.size === 0)) stop()
      },
    })
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    process.stdout.off('error', onStdoutError)
    await consumer.close()
  }
}

function readOptions (command: Command, follow: boolean): Command {
  return command
    .option('--max-messages <n>', 'exit after printing this many messages', intArg(0))
    .addOption(new Option('--format <format>', 'text (the value per line) or json (one object per line)').argParser(choiceArg(['text', 'json'] as const)).default('text'))
    .option('--partition <n>', 'only this partition', intArg(0))
    .option('--print-key', 'text format: print key<TAB>value')
    .action(withClient((client: Client, broker: string, topic: string, options: ConsumeOptions) =>
      consume(client, broker, topic, follow ? { ...options, follow: true } : options)))
}

export function consumeCommand (): Command {
  return readOptions(new Command('consume')
    .description('print messages of a topic (up to its current end, or on and on with --follow)')
    .argument('<topic>')
    .option('--from-beginning', 'start at the earliest offset')
    .option('--offset <n>', 'start every partition at this offset', intArg(0))
    .option('--from-time <iso>', 'start at the first message at or after this time (e.g. 2024-05-01T12:00:00Z)')
    .option('-f, --follow', 'keep waiting for new messages')
    .option('--group <group>', 'consume as a member of a group (not available yet)'), false)
}

export function tailCommand (): Command {
  return readOptions(new Command('tail')
    .description('print new messages of a topic as they arrive (consume --follow from the end)')
    .argument('<topic>'), true)
}
