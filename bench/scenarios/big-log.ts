/**
 * Scenario "big-log" (scale; opt-in with --scale): a 5 GB partition log.
 *   - append rate into the empty log vs the same load once 5 GB are in it (should be flat;
 *     the broker's CPU seconds per GB, split into user and system time, tell the broker's
 *     own cost apart from the machine's page-cache cost)
 *   - restart over the 5 GB: clean (SIGTERM) and after SIGKILL; time from spawn until the
 *     broker serves a fetch at the start and at the end of the log, and how many bytes it
 *     read while starting (/proc/<pid>/io rchar): it should not read the whole log.
 *
 *   node dist/bench/scenarios/big-log.js [--quick|--tiny] [--gb 5] [--json out.json]
 *
 * Load: 4 SDK producers, acks=1, 1 KiB values, one partition, default segment size (1 GiB).
 */

import { bySize, numberArg, parseArgs } from '../lib/cli.js'
import { runMain, tempDir } from '../lib/cleanup.js'
import { measure, type Measured } from '../lib/measure.js'
import { bytesRead, cpuSeconds, rssBytes } from '../lib/procs.js'
import { Recorder, SPOOL } from '../lib/result.js'
import { closeClients, createTopic, openProducers, produceWith, spoolClient, startSpool, type SpoolBroker } from '../lib/spool.js'

const TOPIC = 'big'
const VALUE_BYTES = 1024
const GB = 1e9

async function append (broker: SpoolBroker, bytes: number): Promise<Measured<number>> {
  const load = { topic: TOPIC, producers: 4, records: Math.ceil(bytes / VALUE_BYTES), valueBytes: VALUE_BYTES, maxSeconds: 600, producer: { acks: 1 as const, lingerMs: 5 }, perSend: 1000, outstanding: 8 }
  const producers = await openProducers(broker, load)
  const m = await measure(broker.pid, () => produceWith(producers, load))
  await closeClients(producers)
  return m
}

/** Time to read one record at `offset` through a new client (connect, metadata, fetch). */
async function fetchAt (broker: SpoolBroker, offset: number): Promise<number> {
  const started = performance.now()
  const client = spoolClient(broker, 'bench-big-fetch')
  const consumer = client.consumer({ maxWaitMs: 100 })
  await consumer.assign({ topic: TOPIC, partitions: [0] })
  consumer.seek({ topic: TOPIC, partition: 0, offset })
  for await (const m of consumer) {
    if (m.offset !== offset) throw new Error(`fetch at ${offset} returned ${m.offset}`)
    break
  }
  const seconds = (performance.now() - started) / 1000
  await client.close()
  return seconds
}

async function endOffset (broker: SpoolBroker): Promise<number> {
  const client = spoolClient(broker, 'bench-big-admin')
  const [p] = await client.admin().fetchTopicOffsets(TOPIC)
  await client.close()
  return p!.high
}

await runMain(async () => {
  const args = parseArgs()
  const gb = numberArg(args, 'gb', bySize(args.mode, { full: 5, quick: 1, tiny: 0.03 }))
  const probe = Math.min(512e6, gb * GB / 5)
  const rec = new Recorder('big-log', `Scale: a ${gb} GB log (append rate as it grows, restart time)`,
    `One partition, 1 KiB values from 4 producers (acks=1); ${(probe / 1e6).toFixed(0)} MB appended into the empty log and again on top of ${gb} GB; then restarts.`)
  rec.config({ gb, probeBytes: probe })
  const dir = tempDir('big-log', args.tmp)
  const dataDir = `${dir}/spool`
  let broker = await startSpool({ dataDir })
  await createTopic(broker, TOPIC, 1)
  const add = (name: string, metric: string, value: number, unit: string, better: 'higher' | 'lower' = 'lower', aim?: string): void => rec.add({ name, system: SPOOL, metric, value, unit, better, ...(aim !== undefined ? { aim } : {}) })
  const appendRows = (name: string, m: Measured<number>): void => {
    const bytes = m.value * VALUE_BYTES
    add(name, 'MB/s (values)', bytes / m.seconds / 1e6, 'MB/s', 'higher')
    add(name, 'broker CPU s per GB', m.serverCpuSeconds / (bytes / GB), 's')
    add(name, 'of which system (kernel) CPU s per GB', m.serverSystemSeconds / (bytes / GB), 's')
    add(name, 'client CPU s per GB', m.clientCpuSeconds / (bytes / GB), 's')
  }
  appendRows('append into the empty log', await append(broker, probe))
  const fillBytes = gb * GB - 2 * probe
  if (fillBytes > 0) appendRows(`fill up to ${gb} GB (untimed in the aims)`, await append(broker, fillBytes))
  appendRows(`append on top of ${gb} GB`, await append(broker, probe))
  const last = (await endOffset(broker)) - 1

  for (const kind of ['clean (SIGTERM)', 'after SIGKILL'] as const) {
    if (kind === 'clean (SIGTERM)') await broker.stop()
    else {
      broker.child.kill('SIGKILL')
      await broker.exited
    }
    broker = await startSpool({ dataDir })
    const startCpu = cpuSeconds(broker.pid)
    const startRead = bytesRead(broker.pid)
    const first = await fetchAt(broker, 0)
    const end = await fetchAt(broker, last)
    const name = `restart over ${gb} GB, ${kind}`
    add(name, 'spawn → broker started', broker.startSeconds, 's')
    add(name, 'spawn → fetch at offset 0 served', broker.startSeconds + first, 's', 'lower', kind === 'after SIGKILL' ? 'restart-kill' : 'restart-clean')
    add(name, 'spawn → fetch at the last offset served', broker.startSeconds + first + end, 's')
    add(name, 'broker CPU while starting', startCpu, 's')
    add(name, 'bytes read while starting (rchar)', startRead / 1e6, 'MB')
    add(name, 'broker RSS after the fetches', rssBytes(broker.pid) / 1e6, 'MB')
  }
  await broker.stop()
  rec.finish(args.json)
})
