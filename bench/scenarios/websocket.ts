/**
 * Scenario "websocket": Spool's native protocol over WebSocket (the SDK's `url` option
 * with Node's `ws` client, as a browser or a proxy-friendly client uses it) next to the
 * same SDK over TCP, on the same broker and data.
 *
 *   node dist/bench/scenarios/websocket.js [--quick|--tiny] [--json out.json]
 *
 *   consume 100 B     read back from the beginning (consumer.run({ eachBatch }))
 *   latency 5,000/s   producer over TCP, consumer over WebSocket vs over TCP
 * Peers: none (NATS and Redis clients here speak TCP); the ratio column is WebSocket ÷ TCP.
 */

import { bySize, parseArgs } from '../lib/cli.js'
import { runMain, tempDir } from '../lib/cleanup.js'
import { latencyRows, spoolLatency } from '../lib/latency.js'
import { measure, throughputRows } from '../lib/measure.js'
import { Recorder } from '../lib/result.js'
import { closeClients, consumeAll, createTopic, openProducers, produceWith, spoolClient, startSpool } from '../lib/spool.js'

const WS = 'Spool over WebSocket'
const TCP = 'Spool over TCP'

await runMain(async () => {
  const args = parseArgs()
  const records = bySize(args.mode, { full: 2_000_000, quick: 300_000, tiny: 5_000 })
  const seconds = bySize(args.mode, { full: 8, quick: 2, tiny: 0.6 })
  // Warm-up, sent at the same rate and not counted: Node's JIT and young-generation sizing
  // settle over the first seconds of a fresh process (the first run of a fresh broker had
  // 2-5× the p99 of the next ones); the same for every system.
  const warmupMs = bySize(args.mode, { full: 2000, quick: 600, tiny: 100 })
  const rec = new Recorder('websocket', 'WebSocket consumer (SDK url option, Node ws) vs the same SDK over TCP',
    `${records.toLocaleString('en-US')} records of 100 B read back from the beginning; latency at 5,000 msg/s for ${seconds} s with the consumer on each transport.`)
  rec.config({ records, seconds })
  const dir = tempDir('websocket', args.tmp)
  const broker = await startSpool({ dataDir: `${dir}/spool` })
  const topic = 'websocket-consume'
  await createTopic(broker, topic, 1)
  const load = { topic, producers: 1, records, valueBytes: 100, maxSeconds: 120, producer: { acks: 1 as const, lingerMs: 5 }, perSend: 1000, outstanding: 16 }
  const producers = await openProducers(broker, load)
  const written = await produceWith(producers, load) + 1
  await closeClients(producers)
  // Each transport reads twice, alternating (WebSocket first); the first read of each is
  // the untimed warm-up.
  const warmed = new Set<string>()
  for (const [system, webSocket] of [[WS, true], [TCP, false], [WS, true], [TCP, false]] as const) {
    const client = spoolClient(broker, 'bench-ws-consumer', { webSocket })
    await client.connect()
    const m = await measure(broker.pid, () => consumeAll(client, topic, written, 120))
    await client.close()
    if (m.value < written) rec.note(`${system}: read ${m.value} of ${written}`)
    if (warmed.has(system)) for (const row of throughputRows('consume 100 B, 1 partition', system, m.value, 100, m)) rec.add(row)
    warmed.add(system)
  }
  let n = 0
  for (const [system, webSocket] of [[WS, true], [TCP, false]] as const) {
    const samples = await spoolLatency(broker, n++, 5000, seconds, warmupMs, webSocket)
    for (const row of latencyRows('latency 100 B at 5,000 msg/s', system, samples)) rec.add(row)
  }
  await broker.stop()
  rec.finish(args.json)
})
