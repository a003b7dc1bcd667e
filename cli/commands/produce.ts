/**
 * `spool produce <topic>`: one message per stdin line (architecture.md §7).
 *
 *   --key K             every message gets key K
 *   --key-separator S   split each line at the first S into key and value (a line without S
 *                       is all value, with no key)
 *   --partition P       every message goes to partition P (default: murmur2(key), or sticky)
 *   --acks 0|1|all      default 1
 *   --header k=v        add a header to every message (repeatable)
 *
 * Fast on a large stdin: each chunk read from stdin (up to 64 KiB of lines) is one send()
 * of all its lines; the producer batches them per partition. Reading pauses while too many
 * sends wait for acknowledgement, so memory stays bounded whatever the input size. The
 * command exits only after every message is acknowledged, printing
 * `produced N messages to T` on stderr (and a running count there when stderr is a TTY).
 */

import { Command, Option } from 'commander'
import type { Client, ProducerMessage, RecordMetadata } from '../../client/index.js'
import { utf8 } from '../../client/index.js'
import { choiceArg, intArg, withClient } from '../context.js'
import { LineSplitter, splitKey } from '../lines.js'

interface ProduceOptions {
  key?: string
  keySeparator?: string
  partition?: number
  acks: '0' | '1' | 'all' | '-1'
  header: string[]
  lingerMs: number
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

async function produce (client: Client, _broker: string, topic: string, options: ProduceOptions): Promise<void> {
  if (options.key !== undefined && options.keySeparator !== undefined) throw new Error('give either --key or --key-separator, not both')
  if (options.keySeparator === '') throw new Error('--key-separator must not be empty')
  const fixedKey = options.key === undefined ? null : utf8(options.key)
  const separator = options.keySeparator === undefined ? null : utf8(options.keySeparator)
  const headers = parseHeaders(options.header)
  const acks = options.acks === 'all' || options.acks === '-1' ? -1 : Number(options.acks) as 0 | 1
  const producer = client.producer({ acks, lingerMs: options.lingerMs })
  const toMessage = (line: Uint8Array): ProducerMessage => {
    if (separator !== null) {
      const { key, value } = splitKey(line, separator)
      return { key, value, headers, partition: options.partition }
    }
    return { key: fixedKey, value: line, headers, partition: options.partition }
  }

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
    for (let i = 0; i < lines.length; i++) messages[i] = toMessage(lines[i]!)
    const sent = producer.send({ topic, messages })
    pending.add(sent)
    sent.then(results => {
      produced += results.length
    }, err => {
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
    if (failure !== null) throw failure
    await producer.close()
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
    .action(withClient(produce))
}
