/**
 * Scenario "kafka": the Kafka listener beside the native protocol, on the same data, in
 * the same run, against one broker: kcat (librdkafka) producing and consuming through the
 * Kafka listener, the Spool SDK producing and consuming through the native protocol.
 *
 *   node dist/bench/scenarios/kafka.js [--quick|--tiny] [--json out.json]
 *
 * Records: 100-byte values, no keys, one partition per topic.
 *   produce  kcat -P reads the values (one per line) from a file: acks=1, linger.ms 5,
 *            batch.size 1 MiB, no compression; the SDK sends the same values with acks=1,
 *            lingerMs 5, batchBytes 1 MiB, 1,000 per send() with 16 in flight.
 *   consume  kcat -C -o beginning -e reads the kcat-produced topic to its end (output to
 *            /dev/null); the SDK reads the same topic from the beginning (eachBatch).
 * Each row gives records/s and the broker's CPU seconds per million records (from /proc),
 * and a last row per phase says how much broker CPU the Kafka listener spends per record
 * relative to the native protocol (the aim: within 20%). kcat's own CPU is its own process
 * and is not counted; the SDK's is this process (client CPU row).
 */

import { join } from 'node:path'
import { bySize, parseArgs } from '../lib/cli.js'
import { runMain, tempDir } from '../lib/cleanup.js'
import { runKcat, writeKcatInput } from '../lib/kcat.js'
import { measure, type Measured } from '../lib/measure.js'
import { findExecutable } from '../lib/procs.js'
import { Recorder, SPOOL } from '../lib/result.js'
import { closeClients, consumeAll, createTopic, openProducers, produceWith, spoolClient, startSpool, type SpoolBroker } from '../lib/spool.js'

const VALUE_BYTES = 100
const KCAT = `${SPOOL} (Kafka listener, kcat)`
const NATIVE = `${SPOOL} (native, SDK)`

function rows (rec: Recorder, name: string, system: string, records: number, m: Measured<unknown>, clientCpu: boolean): void {
  rec.add({ name, system, metric: 'records/s', value: records / m.seconds, unit: 'rec/s' })
  rec.add({ name, system, metric: 'MB/s (values)', value: records * VALUE_BYTES / m.seconds / 1e6, unit: 'MB/s' })
  rec.add({ name, system, metric: 'server CPU s per 1M records', value: m.serverCpuSeconds / records * 1e6, unit: 's', better: 'lower' })
  if (clientCpu) rec.add({ name, system, metric: 'client CPU s per 1M records', value: m.clientCpuSeconds / records * 1e6, unit: 's', better: 'lower' })
}

function ratio (rec: Recorder, name: string, aim: string, kafka: Measured<unknown>, kafkaRecords: number, native: Measured<unknown>, nativeRecords: number): void {
  const value = (kafka.serverCpuSeconds / kafkaRecords) / (native.serverCpuSeconds / nativeRecords) * 100
  rec.add({ name, system: KCAT, metric: 'broker CPU per record vs native', value, unit: '%', better: 'lower', aim })
}

async function producePhase (rec: Recorder, broker: SpoolBroker, input: string, records: number, timeoutMs: number): Promise<void> {
  const name = `kafka: produce ${VALUE_BYTES} B, 1 partition`
  await createTopic(broker, 'kafka-bench-kcat', 1)
  await createTopic(broker, 'kafka-bench-native', 1)
  const kafka = `127.0.0.1:${broker.ports.kafka}`
  const kcatArgs = ['-b', kafka, '-P', '-t', 'kafka-bench-kcat', '-p', '0', '-X', 'acks=1', '-X', 'linger.ms=5', '-X', 'batch.size=1048576', '-X', 'compression.codec=none']
  const k = await measure(broker.pid, () => runKcat(kcatArgs, input, timeoutMs))
  rows(rec, name, KCAT, records, k, false)
  const load = { topic: 'kafka-bench-native', producers: 1, records, valueBytes: VALUE_BYTES, maxSeconds: timeoutMs / 1000, producer: { acks: 1 as const, lingerMs: 5, batchBytes: 1024 * 1024 }, perSend: 1000, outstanding: 16 }
  const producers = await openProducers(broker, load)
  const n = await measure(broker.pid, () => produceWith(producers, load))
  await closeClients(producers)
  rows(rec, name, NATIVE, n.value, n, true)
  ratio(rec, name, 'kafka-produce-cpu', k, records, n, n.value)
}

async function consumePhase (rec: Recorder, broker: SpoolBroker, records: number, timeoutMs: number): Promise<void> {
  const name = `kafka: consume ${VALUE_BYTES} B, 1 partition`
  const kafka = `127.0.0.1:${broker.ports.kafka}`
  const k = await measure(broker.pid, () => runKcat(['-b', kafka, '-C', '-t', 'kafka-bench-kcat', '-p', '0', '-o', 'beginning', '-e', '-q'], null, timeoutMs))
  rows(rec, name, KCAT, records, k, false)
  const client = spoolClient(broker, 'bench-consumer')
  const n = await measure(broker.pid, () => consumeAll(client, 'kafka-bench-kcat', records, timeoutMs / 1000))
  await client.close()
  rows(rec, name, NATIVE, n.value, n, true)
  ratio(rec, name, 'kafka-consume-cpu', k, records, n, n.value)
}

await runMain(async () => {
  const args = parseArgs()
  const rec = new Recorder('kafka', 'Kafka listener vs native protocol (kcat vs the SDK, same data)',
    'Records/s and broker CPU per million records of 100-byte values produced and consumed by kcat (librdkafka 2.0.2) through the Kafka listener and by the Spool SDK through the native protocol, one broker, one partition each.')
  if (findExecutable('kcat') === null) {
    rec.skip('kcat is not installed (apt-get install kcat)')
    rec.finish(args.json)
    return
  }
  const records = bySize(args.mode, { full: 2_000_000, quick: 300_000, tiny: 20_000 })
  const timeoutMs = bySize(args.mode, { full: 300_000, quick: 90_000, tiny: 30_000 })
  rec.config({ records, valueBytes: VALUE_BYTES, kcat: { acks: 1, lingerMs: 5, batchSize: 1048576 }, sdk: { acks: 1, lingerMs: 5, batchBytes: 1048576, perSend: 1000, outstanding: 16 } })
  const dir = tempDir('kafka', args.tmp)
  const input = join(dir, 'values.txt')
  await writeKcatInput(input, records, VALUE_BYTES)
  const broker = await startSpool({ dataDir: join(dir, 'data'), kafka: true })
  try {
    // Warm-up (untimed): JIT and connections of both paths.
    await createTopic(broker, 'kafka-bench-warm', 1)
    await runKcat(['-b', `127.0.0.1:${broker.ports.kafka}`, '-P', '-t', 'kafka-bench-warm', '-p', '0'], input, timeoutMs)
    process.stderr.write('produce\n')
    await producePhase(rec, broker, input, records, timeoutMs)
    process.stderr.write('consume\n')
    await consumePhase(rec, broker, records, timeoutMs)
  } finally {
    await broker.stop()
  }
  rec.note('kcat runs as its own process: its CPU is not in these rows; the SDK runs in the benchmark process (client CPU row).')
  rec.note('Both paths store and send the same RecordBatch bytes; the difference is the framing and request handling of each protocol.')
  rec.finish(args.json)
})
