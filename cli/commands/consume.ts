/**
 * `spool consume <topic>` and `spool tail <topic>` (docs/architecture.md §7).
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
 *
 * --group G: joins consumer group G and reads the partitions the group gives it, each from
 * the group's committed offset (partitions without one: the end, or the start with
 * --from-beginning). It commits exactly what it has printed (a message counts once its
 * write to stdout succeeded) before it exits, whatever ends it: --max-messages, SIGINT,
 * SIGTERM, a closed stdout. Without --follow it stops once every partition it owns reached
 * the end offsets of when it started (a member that gets no partition stops after about
 * 2 s). --offset, --from-time and --partition do not combine with --group.
 */

import { Command, Option } from 'commander'
import type { Client, Consumer, EachBatchPayload, Message, TopicPartition } from '../../client/index.js'
import { CLI_RETRY, choiceArg, intArg, withClient } from '../context.js'
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

/**
 * Resolves true once `data` is handed to the OS, false when stdout is gone or the write
 * failed (EPIPE): what a group commits as printed.
 */
function writeOut (data: Uint8Array | string): Promise<boolean> {
  const stdout = process.stdout
  if (stdout.destroyed || !stdout.writable) return Promise.resolve(false)
  return new Promise(resolve => {
    stdout.write(data, err => resolve(err === null || err === undefined))
  })
}

function format (messages: readonly Message[], options: ConsumeOptions): Uint8Array | string {
  return options.format === 'json' ? jsonLines(messages) : textLines(messages, options.printKey === true)
}

/** Ends `consumer` on SIGINT, SIGTERM and a stdout error; returns the function undoing that. */
function stopOnSignals (stop: () => void): () => void {
  const onStdoutError = (err: NodeJS.ErrnoException): void => {
    if (err.code !== 'EPIPE') process.stderr.write(`error: writing to stdout failed (${err.code ?? err.message})\n`)
    stop()
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  process.stdout.on('error', onStdoutError)
  return () => {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    process.stdout.off('error', onStdoutError)
  }
}

/**
 * The long poll: an idle `tail` or `consume -f` has one fetch parked in the broker for up to
 * this long (the broker answers at once when a record arrives), instead of the SDK's default
 * 500 ms round trips. Seeks, pauses and reassignments do not wait for it (the consumer
 * abandons the parked fetch and sends a fresh one), nor does Ctrl-C.
 */
export const LONG_POLL_MS = 10_000

/** How long a member without partitions waits before it concludes (without --follow) that there is nothing for it. */
const IDLE_MEMBER_MS = 2000

async function consumeGroup (client: Client, topic: string, group: string, options: ConsumeOptions): Promise<void> {
  if (options.offset !== undefined || options.fromTime !== undefined || options.partition !== undefined) {
    throw new UsageError('--group reads from the group\'s committed offsets: --offset, --from-time and --partition do not apply')
  }
  const follow = options.follow === true
  const max = options.maxMessages ?? Infinity
  const endOf = new Map<string, number>()
  if (!follow) for (const r of await client.admin().fetchTopicOffsets(topic)) endOf.set(key({ topic, partition: r.partition }), r.high)
  const consumer: Consumer = client.consumer({
    groupId: group,
    fromBeginning: options.fromBeginning === true,
    // A CLI member that is killed outright gives its partitions back within 10 s, and
    // `spool group describe` shows its progress within a second.
    sessionTimeoutMs: 10_000,
    autoCommitIntervalMs: 1_000,
    maxWaitMs: LONG_POLL_MS,
  })
  let printed = 0
  const stop = (): void => { void consumer.close() }
  const undo = stopOnSignals(stop)
  let checker: ReturnType<typeof setInterval> | null = null
  try {
    await consumer.subscribe({ topics: [topic] })
    if (max === 0) return
    if (!follow) {
      let idleSince = Date.now()
      checker = setInterval(() => {
        const owned = consumer.assignment()
        if (owned.length === 0) {
          if (Date.now() - idleSince > IDLE_MEMBER_MS) stop()
          return
        }
        idleSince = Date.now()
        if (owned.every(tp => consumer.position(tp) >= (endOf.get(key(tp)) ?? 0))) stop()
      }, 50)
    }
    await consumer.run({
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset }: EachBatchPayload) => {
        let messages: Message[] = batch.messages
        const tp = { topic: batch.topic, partition: batch.partition }
        if (!follow) {
          const end = endOf.get(key(tp)) ?? 0
          messages = messages.filter(m => m.offset < end)
          if (batch.messages[batch.messages.length - 1]!.offset >= end - 1) consumer.pause([tp])
        }
        if (printed + messages.length > max) messages = messages.slice(0, max - printed)
        if (messages.length > 0 && await writeOut(format(messages, options))) {
          printed += messages.length
          resolveOffset(messages[messages.length - 1]!.offset)
        }
        if (printed >= max) stop()
      },
    })
  } finally {
    if (checker !== null) clearInterval(checker)
    undo()
    await consumer.close()
  }
}

/** Retries for --follow: without end, at most 5 s apart. */
const FOLLOW_RETRY = { retries: Number.MAX_SAFE_INTEGER, initialRetryTimeMs: 200, maxRetryTimeMs: 5_000 }

async function consume (client: Client, _broker: string, topic: string, options: ConsumeOptions): Promise<void> {
  const starts = [options.fromBeginning === true, options.offset !== undefined, options.fromTime !== undefined].filter(Boolean).length
  if (starts > 1) throw new UsageError('give at most one of --from-beginning, --offset and --from-time')
  if (options.group !== undefined) return consumeGroup(client, topic, options.group, options)
  let fromTime: number | undefined
  if (options.fromTime !== undefined) {
    fromTime = Date.parse(options.fromTime)
    if (Number.isNaN(fromTime) || fromTime < 0) throw new UsageError(`--from-time takes an ISO date or time, got "${options.fromTime}"`)
  }
  const follow = options.follow === true
  const consumer = client.consumer({
    fromBeginning: options.fromBeginning === true,
    autoOffsetReset: options.offset !== undefined || options.fromBeginning === true ? 'earliest' : 'latest',
    // Following is open-ended: like `tail -f` and kafka-console-consumer it waits out a
    // broker restart (retrying with backoff) instead of giving up after a few attempts;
    // reading up to the end offsets of now gives up like any other command.
    retry: follow ? FOLLOW_RETRY : CLI_RETRY,
    maxWaitMs: LONG_POLL_MS,
  })
  await consumer.assign(options.partition === undefined ? { topic } : { topic, partition: options.partition })
  const partitions = consumer.assignment()
  if (options.offset !== undefined) {
    // An offset outside a partition's range is said, not silently moved: past the end of
    // every partition is an error; past the end of some, those start at their end; before
    // the log start (retention), reading starts at the log start. Each with a note.
    const ranges = new Map((await client.admin().fetchTopicOffsets(topic)).map(r => [r.partition, r]))
    const past = partitions.filter(tp => options.offset! > (ranges.get(tp.partition)?.high ?? Infinity))
    if (past.length === partitions.length) {
      const ends = past.map(tp => `${tp.partition}: ${ranges.get(tp.partition)!.high}`).join(', ')
      throw new UsageError(`--offset ${options.offset} is past the end of ${topic} (next offset per partition: ${ends})`)
    }
    for (const tp of partitions) {
      const range = ranges.get(tp.partition)
      let offset = options.offset
      if (range !== undefined && offset > range.high) {
        process.stderr.write(`note: ${topic} partition ${tp.partition} ends before offset ${offset}; reading it from its end (${range.high})\n`)
        offset = range.high
      } else if (range !== undefined && offset < range.low) {
        process.stderr.write(`note: ${topic} partition ${tp.partition} starts at offset ${range.low} (older records were deleted); reading from there\n`)
        offset = range.low
      }
      consumer.seek({ ...tp, offset })
    }
  } else if (fromTime !== undefined) await consumer.seekToTimestamp(fromTime)
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
  const undo = stopOnSignals(stop)
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
        if (messages.length > 0) await writeOut(format(messages, options))
        if (printed >= max || (!follow && endOf.size === 0)) stop()
      },
    })
  } finally {
    undo()
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
    .option('--group <group>', 'consume as a member of this consumer group, from its committed offsets; commits what it printed'), false)
}

export function tailCommand (): Command {
  return readOptions(new Command('tail')
    .description('print new messages of a topic as they arrive (consume --follow from the end)')
    .argument('<topic>'), true)
}
