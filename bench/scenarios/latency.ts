/**
 * Scenario "latency": produce → consume latency at a fixed rate, Spool vs NATS JetStream
 * vs Redis Streams: p50, p99, p99.9 and max of (time the consumer got the message − time
 * it was sent), and p99 of the send → acknowledged time.
 *
 *   node dist/bench/scenarios/latency.js [--quick|--tiny] [--no-peers] [--json out.json]
 *
 * 100-byte messages at 5,000 and at 50,000 msg/s, 8 s each of which the first 2 s are
 * warm-up (JIT, heap sizing) and not counted. The sender wakes every millisecond and
 * sends what is due, one message per call (send() / publish / XADD), the send time written
 * into the message; producer and consumer are separate connections in this process (one
 * clock).
 *   Spool          producer acks=1, lingerMs 0 (what is sent in one tick leaves together);
 *                  consumer long-polls (maxWaitMs 500, minBytes 1)
 *   NATS JetStream JetStream publish with a reply subject (acks counted), ordered pull
 *                  consumer of new messages (consume(), callback)
 *   Redis Streams  XADD with ioredis auto-pipelining (one write per tick), consumer
 *                  XREAD BLOCK 0 COUNT 1000 from the last id
 */

import type { JsMsg } from 'nats'
import { bySize, parseArgs } from '../lib/cli.js'
import { runMain, tempDir } from '../lib/cleanup.js'
import { Recorder, forAim } from '../lib/result.js'
import { sleep } from '../lib/procs.js'
import { latencyRows, paced, sentAt, spoolLatency, stampedValue, until, type Samples } from '../lib/latency.js'
import { NatsPublisher, createStreams, natsConnect, natsTail, type NatsServer } from '../peers/nats.js'
import { redisClient, type RedisServer } from '../peers/redis.js'
import { startLogSystems } from '../lib/log-systems.js'

const RATES = [5000, 50_000]

async function nats (server: NatsServer, n: number, rate: number, seconds: number, warmupMs: number): Promise<Samples> {
  const pubConn = await natsConnect(server, 'bench-latency-producer')
  const subConn = await natsConnect(server, 'bench-latency-consumer')
  const [subject] = await createStreams(pubConn, `L${n}x`, 1)
  const s: Samples = { endToEnd: [], acks: [], sent: 0 }
  const startAt = performance.now() + warmupMs
  let received = 0
  const tail = await natsTail(subConn, `L${n}x0`, (m: JsMsg) => {
    const at = sentAt(m.data)
    if (at >= startAt) s.endToEnd.push(performance.now() - at)
    received++
  })
  const publisher = new NatsPublisher(pubConn)
  const sentTimes: number[] = []
  publisher.onAck = seq => {
    const at = sentTimes[seq]!
    if (at >= startAt) s.acks.push(performance.now() - at)
  }
  await pubConn.flush()
  await sleep(100)
  s.sent = await paced(rate, seconds, () => {
    const value = stampedValue()
    sentTimes[publisher.publish(subject!, value)] = sentAt(value)
  })
  await until(() => received >= s.sent && publisher.acked >= s.sent, 5000)
  publisher.close()
  await tail.close()
  await pubConn.close()
  await subConn.close()
  return s
}

async function redis (server: RedisServer, n: number, rate: number, seconds: number, warmupMs: number): Promise<Samples> {
  const key = `latency-${n}`
  const producer = redisClient(server, { autoPipelining: true })
  const consumer = redisClient(server)
  await producer.ping()
  await consumer.ping()
  const s: Samples = { endToEnd: [], acks: [], sent: 0 }
  const startAt = performance.now() + warmupMs
  let received = 0
  let stop = false
  let last = '$'
  const reading = (async () => {
    while (!stop) {
      const res = await consumer.xreadBuffer('COUNT', 1000, 'BLOCK', 200, 'STREAMS', key, last) as Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null
      if (res === null) continue
      const now = performance.now()
      for (const [, entries] of res) {
        for (const [id, fields] of entries) {
          const at = sentAt(fields[1]!)
          if (at >= startAt) s.endToEnd.push(now - at)
          received++
          last = id.toString()
        }
      }
    }
  })()
  await sleep(100)
  s.sent = await paced(rate, seconds, () => {
    const value = Buffer.from(stampedValue())
    const at = sentAt(value)
    void producer.xadd(key, '*', 'v', value).then(() => { if (at >= startAt) s.acks.push(performance.now() - at) }, () => {})
  })
  await until(() => received >= s.sent, 5000)
  stop = true
  await reading
  await producer.del(key)
  producer.disconnect()
  consumer.disconnect()
  return s
}

await runMain(async () => {
  const args = parseArgs()
  const seconds = bySize(args.mode, { full: 8, quick: 1.6, tiny: 0.6 })
  // Warm-up, sent at the same rate and not counted: Node's JIT and young-generation sizing
  // settle over the first seconds of a fresh process (the first run of a fresh broker had
  // 2-5× the p99 of the next ones); the same for every system.
  const warmupMs = bySize(args.mode, { full: 2000, quick: 600, tiny: 100 })
  const rec = new Recorder('latency', 'Produce → consume latency at a fixed rate (100 B messages)',
    `One producer and one consumer connection; ${seconds} s per rate, the first ${warmupMs} ms not counted.`)
  rec.config({ seconds, warmupMs, rates: RATES })
  const dir = tempDir('latency', args.tmp)
  const systems = await startLogSystems<(n: number, rate: number) => Promise<Samples>>(rec, dir, args.noPeers, {
    spool: broker => (n, rate) => spoolLatency(broker, n, rate, seconds, warmupMs),
    nats: server => (n, rate) => nats(server, n, rate, seconds, warmupMs),
    redis: server => (n, rate) => redis(server, n, rate, seconds, warmupMs),
  })
  let n = 0
  for (const rate of RATES) {
    process.stderr.write(`latency at ${rate} msg/s\n`)
    for (const s of systems) {
      const samples = await s.run(n++, rate)
      if (samples.endToEnd.length < samples.sent * 0.5) rec.note(`${s.name} at ${rate} msg/s: only ${samples.endToEnd.length} of ${samples.sent} messages were received after the warm-up`)
      for (const row of forAim(rate === 5000 ? 'latency-5000' : undefined, latencyRows(`latency 100 B at ${rate.toLocaleString('en-US')} msg/s`, s.name, samples))) rec.add(row)
    }
  }
  for (const s of systems) await s.stop()
  rec.finish(args.json)
})
