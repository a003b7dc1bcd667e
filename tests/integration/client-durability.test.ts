// Durability through the client (docs/architecture.md §3, acks=1): a broker child process
// (`spool broker start`) is killed with SIGKILL while this process produces with acks=1,
// then restarted on the same data dir and port; production continues. Every acknowledged
// record must be readable exactly once, in order. Sends are not retried here (retries: 0):
// a non-idempotent retry of a batch whose answer was lost may be written twice, which is
// the producer's documented trade-off and not what this test is about.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Client, text } from '../../client/index.js'
import { startTestBroker } from '../helpers/client-broker.js'
import { CLI, freePort } from '../helpers/client-cli.js'

const dataDir = mkdtempSync(join(tmpdir(), 'spool-durability-'))
const port = await freePort()
const address = `127.0.0.1:${port}`
let broker: ChildProcess | null = null

async function startBroker (): Promise<void> {
  const child = spawn(process.execPath, [CLI, 'broker', 'start', '--data-dir', dataDir, '--port', String(port), '--http-port', '0', '--mqtt-port', 'off', '--kafka-port', 'off'], { stdio: ['ignore', 'ignore', 'pipe'] })
  broker = child
  const deadline = Date.now() + 15_000
  for (;;) {
    const probe = new Client({ brokers: [address], retry: { retries: 0 } })
    try {
      await probe.connect()
      return
    } catch (err) {
      if (Date.now() > deadline || child.exitCode !== null) throw err
      await new Promise(r => setTimeout(r, 50))
    } finally {
      await probe.close()
    }
  }
}

function killBroker (): Promise<void> {
  const child = broker!
  broker = null
  if (child.exitCode !== null) return Promise.resolve()
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  child.kill('SIGKILL')
  return exited
}

t.teardown(async () => {
  if (broker !== null) await killBroker()
  rmSync(dataDir, { recursive: true, force: true })
})

t.test('acks=1: every acknowledged record survives kill -9 of the broker, exactly once and in order', async t => {
  await startBroker()
  const client = new Client({ brokers: [address], retry: { retries: 0, initialRetryTimeMs: 50, maxRetryTimeMs: 200 } })
  t.teardown(() => client.close())
  await client.admin().createTopics([{ topic: 'durable', partitions: 1 }])
  const producer = client.producer({ acks: 1, lingerMs: 1 })
  const acknowledged = new Map<number, number>() // value -> offset
  let next = 0
  let failed = 0
  let killing: Promise<void> | null = null
  let killed = false

  // Sends one message per send() with up to 500 unanswered, until `stop()`: requests are on
  // the wire and batches in the accumulator whenever the broker dies.
  const pump = async (stop: () => boolean, killAtAcks = Infinity): Promise<void> => {
    const unanswered = new Set<Promise<void>>()
    while (!stop()) {
      const v = next++
      const sent: Promise<void> = producer.send({ topic: 'durable', messages: [{ value: String(v) }] }).then(([r]) => {
        acknowledged.set(v, r!.offset)
        // Killed 20 ms later, from a timer: production goes on meanwhile, so requests are
        // on the wire and batches in the accumulator when the broker dies.
        if (acknowledged.size >= killAtAcks && killing === null) killing = new Promise(resolve => setTimeout(resolve, 20)).then(killBroker).then(() => { killed = true })
      }, () => { failed++ }).finally(() => unanswered.delete(sent))
      unanswered.add(sent)
      if (unanswered.size >= 500) await Promise.race(unanswered)
    }
    await Promise.all(unanswered)
  }

  await pump(() => killed, 3_000)
  await killing
  const acknowledgedBeforeKill = acknowledged.size
  t.ok(acknowledgedBeforeKill >= 3_000, `${acknowledgedBeforeKill} acknowledged before the kill, ${failed} sends failed with it`)
  await startBroker()
  await pump(() => acknowledged.size >= acknowledgedBeforeKill + 2_000)
  await producer.close()
  t.ok(acknowledged.size >= acknowledgedBeforeKill + 2_000, `${acknowledged.size - acknowledgedBeforeKill} more acknowledged after the restart`)

  const consumer = client.consumer({ fromBeginning: true })
  await consumer.assign({ topic: 'durable' })
  const [end] = await consumer.endOffsets()
  const seen = new Map<number, number>() // value -> times
  const order: number[] = []
  const timeout = setTimeout(() => { void consumer.close() }, 20_000)
  for await (const m of consumer) {
    const v = Number(text(m.value))
    seen.set(v, (seen.get(v) ?? 0) + 1)
    order.push(v)
    if (m.offset + 1 >= end!.offset) break
  }
  clearTimeout(timeout)
  let missing = 0
  let duplicated = 0
  let wrongOffset = 0
  for (const [v, offset] of acknowledged) {
    const times = seen.get(v) ?? 0
    if (times === 0) missing++
    if (times > 1) duplicated++
    if (order[offset] !== v) wrongOffset++
  }
  t.equal(missing, 0, 'no acknowledged record lost')
  t.equal(duplicated, 0, 'none duplicated')
  t.equal(wrongOffset, 0, 'each at the offset its acknowledgement named')
  let disorder = 0
  for (let i = 1; i < order.length; i++) if (order[i]! <= order[i - 1]!) disorder++
  t.equal(disorder, 0, 'the log holds the values in the order they were sent')
})

t.test('default retries ride out a broker outage of a few seconds: no send fails, none is lost or doubled', async t => {
  const broker = await startTestBroker(t)
  const client = new Client({ brokers: [broker.address] })
  t.teardown(() => client.close())
  const producer = client.producer()
  await producer.send({ topic: 'outage', messages: [{ value: 'warm' }] })
  const sends: Array<Promise<unknown>> = []
  const failures: string[] = []
  let n = 0
  const timer = setInterval(() => {
    const value = `m${n++}`
    sends.push(producer.send({ topic: 'outage', messages: [{ value }] }).catch((err: Error) => { failures.push(`${value}: ${err.message}`) }))
  }, 200)
  t.teardown(() => clearInterval(timer))
  await new Promise(resolve => setTimeout(resolve, 300))
  await broker.stop()
  await new Promise(resolve => setTimeout(resolve, 4000))
  await broker.restart()
  await new Promise(resolve => setTimeout(resolve, 300))
  clearInterval(timer)
  await Promise.all(sends)
  t.same(failures, [], 'every send issued during the outage succeeded after the restart')
  const consumer = client.consumer({ fromBeginning: true })
  await consumer.assign({ topic: 'outage' })
  const seen: string[] = []
  const stopper = setTimeout(() => { void consumer.close() }, 10_000) // bounded: a missing message ends the loop
  for await (const m of consumer) {
    seen.push(text(m.value)!)
    if (seen.length === n + 1) break
  }
  clearTimeout(stopper)
  t.same(seen, ['warm', ...Array.from({ length: n }, (_, i) => `m${i}`)], 'each once, in order')
})
