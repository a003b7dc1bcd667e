/**
 * `spool produce <topic>`: one message per stdin line (docs/architecture.md §7).
 *
 *   --key K             every message gets key K
 *   --key-separator S   split each line at the first S into key and value (a line without S
 *                       is all value, with no key)
 *   --partition P       every message goes to partition P (default: murmur2(key), or sticky)
 *   --acks 0|1|all      default 1
 *   --header k=v        add a header to every message (repeatable)
 *   --max-message-bytes N   largest record batch one line may make (the message plus about
 *                       70 bytes of framing, counted as the broker counts its maxBatchBytes);
 *                       default: the topic's maxBatchBytes (a new topic: no CLI-side limit,
 *                       the broker's refusal names its setting)
 *   --no-create         refuse a topic that does not exist instead of letting the broker
 *                       create it (its autoCreateTopics setting); without it, a topic the
 *                       produce created is said on stderr: `created topic T (1 partition)`
 *
 * Fast on a large stdin: each chunk read from stdin (up to 64 KiB of lines) is one send()
 * of all its lines; the producer batches them per partition. Reading pauses while too many
 * sends wait for acknowledgement, so memory stays bounded whatever the input size. The
 * command exits only after every message is acknowledged, printing
 * `produced N messages to T` on stderr (and a running count there when stderr is a TTY).
 */

import { Command, Option } from 'commander'
import type { Client, ProducerMessage, RecordMetadata, TopicDescription } from '../../client/index.js'
import { FrameTooLargeError, MessageTooLargeError, UnknownTopicOrPartitionError, utf8 } from '../../client/index.js'
import { recordSize, toRecordInput } from '../../client/producer-message.js'
import { BATCH_HEADER_SIZE } from '../../protocol/record-batch/header.js'
import { choiceArg, intArg, withClient } from '../context.js'
import { LineSplitter, splitKey } from '../lines.js'

interface ProduceOptions {
  key?: string
  keySeparator?: string
  partition?: number
  acks: '0' | '1' | 'all' | '-1'
  header: string[]
  lingerMs: number
  maxMessageBytes?: number
  create: boolean
}

/** The producer's request limit is this much above the largest batch (request and topic framing). */
const REQUEST_FRAMING_BYTES = 1024
/** Without a limit of its own (a new topic), the CLI sends lines up to this size and the broker decides. */
const UNCHECKED_BYTES = 1 << 30

/**
 * The broker's size errors, with the settings that raise them: a batch past the topic's
 * maxBatchBytes, a request frame past the broker's maxFrameBytes.
 */
function withHint (err: unknown, topic: string): unknown {
  if (err instanceof MessageTooLargeError) {
    return new MessageTooLargeError(`${err.message}: topic "${topic}" accepts batches up to its maxBatchBytes ` +
      '(default: the broker\'s --max-batch-bytes; per topic: `spool topic create <topic> --config maxBatchBytes=N`)', { cause: err })
  }
  if (err instanceof FrameTooLargeError) {
    return new FrameTooLargeError(`${err.message}: raise the broker's --max-frame-bytes (and --max-batch-bytes, which must stay below it)`, { cause: err })
  }
  return err
}

/** Sends waiting for acknowledgement before stdin is paused. */
const MAX_PENDING_SENDS = 32

function parseHeaders (headers: string[]): Array<{ key: string, value: Uint8Array }> {
  return headers.map(h => {
    const at = h.indexOf('=')
    if (at <= 0) throw new Error(`--header takes key=value, got "${h}"`)
    return { key: h.slice(0, at), value: utf8(h.slice(at + 1)) }
  })
}

/**
 * The CLI's own size limit for a line: --max-message-bytes, else the topic's maxBatchBytes
 * (an existing topic), else none (a new topic: the broker's limits apply and its error names
 * them). The producer's own limits leave room for one such batch, so they never refuse first
 * and the refusal names the flag. `own` holds the errors raised here (no broker hint added).
 */
function lineLimit (topic: string, existing: TopicDescription | null, flag: number | undefined): {
  maxRequestBytes: number
  batchBytes: number
  own: WeakSet<object>
  check: (message: ProducerMessage, line: number) => ProducerMessage
} {
  const topicLimit = existing?.config.maxBatchBytes
  const max = flag ?? (typeof topicLimit === 'number' ? topicLimit : null)
  const bytes = max ?? UNCHECKED_BYTES
  const own = new WeakSet<object>()
  return {
    maxRequestBytes: Math.max(1024, bytes + REQUEST_FRAMING_BYTES),
    batchBytes: Math.max(128, Math.min(64 * 1024, bytes - BATCH_HEADER_SIZE)),
    own,
    check (message, line) {
      if (max === null) return message
      const size = BATCH_HEADER_SIZE + recordSize(toRecordInput(message))
      if (size <= max) return message
      const error = new MessageTooLargeError(`line ${line} makes a record batch of about ${size} bytes, more than --max-message-bytes ${max}` +
        (flag === undefined ? ` (by default topic "${topic}"'s maxBatchBytes)` : '') +
        ': raise --max-message-bytes, and the topic\'s maxBatchBytes to match')
      own.add(error)
      throw error
    },
  }
}

/**
 * `created topic T (N partitions)` on stderr, once, when the first send to a topic that did
 * not exist came back (the broker auto-created it); `said()` resolves once it is written.
 */
function createdNotice (client: Client, topic: string, existing: TopicDescription | null): { sent: () => void, said: () => Promise<void> } {
  let saying: Promise<void> | null = null
  return {
    sent () {
      if (existing !== null || saying !== null) return
      saying = describeIfExists(client, topic).then(t => {
        if (t === null) return
        const n = t.partitions.length
        process.stderr.write(`created topic ${topic} (${n} partition${n === 1 ? '' : 's'})\n`)
      }, () => {})
    },
    said: () => saying ?? Promise.resolve(),
  }
}

/** The topic's description, or null when it does not exist (asked without auto-creating it). */
async function describeIfExists (client: Client, topic: string): Promise<TopicDescription | null> {
  try {
    return (await client.admin().describeTopics([topic]))[0] ?? null
  } catch (err) {
    if (err instanceof UnknownTopicOrPartitionError) return null
    throw err
  }
}

async function produce (client: Client, _broker: string, topic: string, options: ProduceOptions): Promise<void> {
  if (options.key !== undefined && options.keySeparator !== undefined) throw new Error('give either --key or --key-separator, not both')
  if (options.keySeparator === '') throw new Error('--key-separator must not be empty')
  const fixedKey = options.key === undefined ? null : utf8(options.key)
  const separator = options.keySeparator === undefined ? null : utf8(options.keySeparator)
  const headers = parseHeaders(options.header)
  const acks = options.acks === 'all' || options.acks === '-1' ? -1 : Number(options.acks) as 0 | 1
  const existing = await describeIfExists(client, topic)
  if (existing === null && !options.create) {
    throw new UnknownTopicOrPartitionError(`topic "${topic}" does not exist (--no-create: create it first with \`spool topic create ${topic}\`)`)
  }
  const limit = lineLimit(topic, existing, options.maxMessageBytes)
  const producer = client.producer({
    acks,
    lingerMs: options.lingerMs,
    maxRequestBytes: limit.maxRequestBytes,
    batchBytes: limit.batchBytes,
    allowAutoTopicCreation: options.create,
  })
  let lineNumber = 0
  const checked = (message: ProducerMessage): ProducerMessage => limit.check(message, ++lineNumber)
  const toMessage = (line: Uint8Array): ProducerMessage => {
    if (separator !== null) {
      const { key, value } = splitKey(line, separator)
      return checked({ key, value, headers, partition: options.partition })
    }
    return checked({ key: fixedKey, value: line, headers, partition: options.partition })
  }
  const notice = createdNotice(client, topic, existing)
  const sayCreated = notice.sent
  const stdin = process.stdin
  const splitter = new LineSplitter()
  const pending = new Set<Promise<RecordMetadata[]>>()
  let produced = 0
  let failure: unknown = null
  // Ends the wait for stdin: at its end, or at the first failed send (which pauses stdin,
  // so 'end' may never come).
  let inputDone: () => void = () => {}
  const progress = process.stderr.isTTY ? setInterval(() => process.stderr.write(`\rproduced ${produced} messages`), 200) : null

  const sendLines = (lines: Uint8Array[]): void => {
    if (lines.length === 0 || failure !== null) return
    const messages = new Array<ProducerMessage>(lines.length)
    try {
      for (let i = 0; i < lines.length; i++) messages[i] = toMessage(lines[i]!)
    } catch (err) {
      failure ??= err
      stdin.pause()
      inputDone()
      return
    }
    const sent = producer.send({ topic, messages })
    pending.add(sent)
    sent.then(results => {
      produced += results.length
      sayCreated()
    }, err => {
      sayCreated()
      failure ??= err
      stdin.pause()
      inputDone()
    }).finally(() => {
      pending.delete(sent)
      if (pending.size < MAX_PENDING_SENDS / 2 && failure === null && stdin.isPaused()) stdin.resume()
    })
    if (pending.size >= MAX_PENDING_SENDS) stdin.pause()
  }

  try {
    await new Promise<void>((resolve, reject) => {
      inputDone = resolve
      if (failure !== null) resolve()
      stdin.on('data', (chunk: Buffer) => {
        sendLines(splitter.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)))
        if (failure !== null) resolve()
      })
      stdin.on('end', () => {
        const last = splitter.end()
        if (last !== null) sendLines([last])
        resolve()
      })
      stdin.on('error', reject)
    })
    while (pending.size > 0 && failure === null) await Promise.race(pending).catch(() => {})
    if (failure !== null) {
      await notice.said()
      throw limit.own.has(failure as object) ? failure : withHint(failure, topic)
    }
    await producer.close()
    await notice.said()
  } finally {
    if (progress !== null) {
      clearInterval(progress)
      process.stderr.write('\r\x1b[K')
    }
    stdin.destroy()
  }
  process.stderr.write(`produced ${produced} message${produced === 1 ? '' : 's'} to ${topic}\n`)
}

export function produceCommand (): Command {
  return new Command('produce')
    .description('produce one message per line of stdin')
    .argument('<topic>')
    .option('--key <key>', 'key for every message')
    .option('--key-separator <separator>', 'split each line into key and value at the first separator')
    .option('--partition <n>', 'send every message to this partition', intArg(0))
    .addOption(new Option('--acks <acks>', '0 (no answer), 1 (written) or all / -1 (fsynced)').argParser(choiceArg(['0', '1', 'all', '-1'] as const)).default('1'))
    .option('--header <key=value>', 'add a header to every message (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--linger-ms <ms>', 'how long a batch waits for more lines', intArg(0), 5)
    .option('--max-message-bytes <n>', 'largest record batch one line may make (default: the topic\'s maxBatchBytes)', intArg(128))
    .option('--no-create', 'fail if the topic does not exist (default: the broker creates it, if its autoCreateTopics is on)')
    .action(withClient(produce))
}
