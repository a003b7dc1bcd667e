/**
 * Consumer-group benchmark: a broker child process (`spool broker start` in a temp data
 * dir) and every client in this process, on one machine.
 *
 *   node dist/bench/groups.js [--quick] [--json results.json]
 *
 * Scenarios:
 *   join     a member joins a group of 10 (20 partitions, 2 each) that is stable: time
 *            until the coordinator reports the group stable with 11 members (DescribeGroups
 *            polled every 5 ms) — the existing members must each hear of the move at their
 *            next heartbeat, so this is bounded by the heartbeat interval; measured with the
 *            broker's default interval (3000 ms) and with 200 ms. Repeated (the member leaves
 *            and joins again); median and max.
 *   commit   consumer.commit([{ topic, partition, offset }]) by a member owning 8 partitions:
 *            sequential (await each) and pipelined (64 in flight): commits/s
 *   consume  the same 100 B records read from the beginning with run({ eachBatch }), by a
 *            consumer without a group (assign) and by a group member (subscribe), alternately,
 *            3 times each (1 with --quick): median records/s and the group's overhead
 * Prints a markdown table; --json writes { scenario: 'groups', rows: [...] } for the bench
 * harness. A benchmark, not a test: it never fails on a number.
 */

import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client, type Consumer } from '../client/index.js'

const here = dirname(fileURLToPath(import.meta.url))
const cli = resolve(here, '../cli/spool.js')
const quick = process.argv.includes('--quick')
const jsonAt = process.argv.indexOf('--json')
const jsonFile = jsonAt >= 0 ? process.argv[jsonAt + 1] : undefined

const JOIN_REPEATS = quick ? 3 : 10
const COMMITS = quick ? 2_000 : 20_000
const RECORDS = quick ? 200_000 : 2_000_000
const CONSUME_ROUNDS = quick ? 1 : 3

interface Row { name: string, system: 'spool', metric: string, value: number, unit: string, aim?: string }
const rows: Row[] = []
const sleep = (ms: number): Promise<void> => new Promise(r => setTimeout(r, ms))
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function freePort (): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolvePort(port))
    })
  })
}

async function startBroker (dataDir: string, heartbeatMs: number): Promise<{ child: ChildProcess, address: string }> {
  const port = await freePort()
  const child = spawn(process.execPath, [cli, 'broker', 'start', '--data-dir', dataDir, '--port', String(port), '--http-port', 'off',
    '--mqtt-port', 'off', '--kafka-port', 'off', '--group-heartbeat-interval-ms', String(heartbeatMs)], { stdio: ['ignore', 'ignore', 'inherit'] })
  const address = `127.0.0.1:${port}`
  const deadline = Date.now() + 15_000
  for (;;) {
    const probe = new Client({ brokers: [address], retry: { retries: 0 } })
    try {
      await probe.connect()
      return { child, address }
    } catch (err) {
      if (Date.now() > deadline || child.exitCode !== null) throw err
      await sleep(100)
    } finally {
      await probe.close()
    }
  }
}

async function stopBroker (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise(r => child.once('exit', r))
  child.kill('SIGTERM')
  await exited
}

/** A member on its own connection, subscribed and joined. */
async function member (address: string, group: string, topic: string, clients: Client[]): Promise<Consumer> {
  const client = new Client({ brokers: [address], clientId: 'bench-member' })
  clients.push(client)
  const consumer = client.consumer({ groupId: group, sessionTimeoutMs: 30_000, autoCommit: false })
  await consumer.subscribe({ topics: [topic] })
  return consumer
}

async function waitStable (admin: Client, group: string, members: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const [d] = await admin.admin().describeGroups([group])
    if (d!.state === 'stable' && d!.members.length === members) return
    if (Date.now() > deadline) throw new Error(`group ${group} did not become stable with ${members} members`)
    await sleep(5)
  }
}

async function joinScenario (heartbeatMs: number): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'spool-bench-groups-'))
  const { child, address } = await startBroker(dataDir, heartbeatMs)
  const clients: Client[] = []
  try {
    const admin = new Client({ brokers: [address] })
    clients.push(admin)
    await admin.admin().createTopics([{ topic: 'join', partitions: 20 }])
    const group = 'bench-join'
    for (let i = 0; i < 10; i++) await member(address, group, 'join', clients)
    await waitStable(admin, group, 10)
    const times: number[] = []
    for (let r = 0; r < JOIN_REPEATS; r++) {
      const started = performance.now()
      const joining = await member(address, group, 'join', clients)
      await waitStable(admin, group, 11)
      times.push(performance.now() - started)
      await joining.close()
      await waitStable(admin, group, 10)
    }
    const name = `join: 11th member until stable (heartbeat ${heartbeatMs} ms)`
    rows.push({ name, system: 'spool', metric: 'median', value: Math.round(median(times)), unit: 'ms' })
    rows.push({ name, system: 'spool', metric: 'max', value: Math.round(Math.max(...times)), unit: 'ms' })
  } finally {
    await Promise.all(clients.map(c => c.close()))
    await stopBroker(child)
    rmSync(dataDir, { recursive: true, force: true })
  }
}

async function commitScenario (address: string): Promise<void> {
  const clients: Client[] = []
  try {
    const admin = new Client({ brokers: [address] })
    clients.push(admin)
    await admin.admin().createTopics([{ topic: 'commits', partitions: 8 }])
    const consumer = await member(address, 'bench-commit', 'commits', clients)
    while (consumer.assignment().length < 8) await sleep(5)
    let offset = 0
    let started = performance.now()
    for (let i = 0; i < COMMITS; i++) await consumer.commit([{ topic: 'commits', partition: i % 8, offset: ++offset }])
    let seconds = (performance.now() - started) / 1000
    rows.push({ name: 'commit: sequential (one in flight)', system: 'spool', metric: 'throughput', value: Math.round(COMMITS / seconds), unit: 'commits/s' })
    const window = new Set<Promise<void>>()
    started = performance.now()
    for (let i = 0; i < COMMITS; i++) {
      const p: Promise<void> = consumer.commit([{ topic: 'commits', partition: i % 8, offset: ++offset }]).finally(() => window.delete(p))
      window.add(p)
      if (window.size >= 64) await Promise.race(window)
    }
    await Promise.all(window)
    seconds = (performance.now() - started) / 1000
    rows.push({ name: 'commit: pipelined (64 in flight)', system: 'spool', metric: 'throughput', value: Math.round(COMMITS / seconds), unit: 'commits/s' })
    await consumer.close()
  } finally {
    await Promise.all(clients.map(c => c.close()))
  }
}

/** Reads `total` records from the beginning; returns records/s (subscribe or assign included). */
async function consumeOnce (address: string, topic: string, total: number, group: string | null): Promise<number> {
  const client = new Client({ brokers: [address] })
  try {
    const consumer = client.consumer(group === null ? { fromBeginning: true } : { groupId: group, fromBeginning: true })
    let count = 0
    const started = performance.now()
    if (group === null) await consumer.assign({ topic })
    else await consumer.subscribe({ topics: [topic] })
    await consumer.run({
      eachBatch: ({ batch }) => {
        count += batch.messages.length
        if (count >= total) void consumer.close()
      },
    })
    return total / ((performance.now() - started) / 1000)
  } finally {
    await client.close()
  }
}

async function consumeScenario (address: string): Promise<void> {
  const client = new Client({ brokers: [address] })
  try {
    await client.admin().createTopics([{ topic: 'consume', partitions: 4 }])
    const producer = client.producer({ lingerMs: 5 })
    const value = new Uint8Array(100).fill(97)
    const messages = Array.from({ length: 1000 }, () => ({ value }))
    const window = new Set<Promise<unknown>>()
    for (let i = 0; i < RECORDS; i += 1000) {
      const p: Promise<unknown> = producer.send({ topic: 'consume', messages }).finally(() => window.delete(p))
      window.add(p)
      if (window.size >= 64) await Promise.race(window)
    }
    await Promise.all(window)
    await producer.close()
  } finally {
    await client.close()
  }
  const plain: number[] = []
  const grouped: number[] = []
  for (let round = 0; round < CONSUME_ROUNDS; round++) {
    plain.push(await consumeOnce(address, 'consume', RECORDS, null))
    grouped.push(await consumeOnce(address, 'consume', RECORDS, `bench-consume-${round}`))
  }
  const p = median(plain)
  const g = median(grouped)
  rows.push({ name: 'consume: without a group (assign)', system: 'spool', metric: 'throughput', value: Math.round(p), unit: 'records/s' })
  rows.push({ name: 'consume: through a group (subscribe)', system: 'spool', metric: 'throughput', value: Math.round(g), unit: 'records/s' })
  rows.push({ name: 'consume: group overhead', system: 'spool', metric: 'overhead', value: Math.round((1 - g / p) * 1000) / 10, unit: '%', aim: 'group-overhead' })
}

const startedAt = new Date()
await joinScenario(3000)
await joinScenario(200)
{
  const dataDir = mkdtempSync(join(tmpdir(), 'spool-bench-groups-'))
  const { child, address } = await startBroker(dataDir, 3000)
  try {
    await commitScenario(address)
    await consumeScenario(address)
  } finally {
    await stopBroker(child)
    rmSync(dataDir, { recursive: true, force: true })
  }
}

console.log(`command: node dist/bench/groups.js ${process.argv.slice(2).join(' ')}`.trimEnd())
console.log(`date: ${startedAt.toISOString()}, node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`)
console.log(`counts: ${JOIN_REPEATS} joins, ${COMMITS} commits per mode, ${RECORDS} records x ${CONSUME_ROUNDS} rounds\n`)
console.log('| scenario | metric | value | unit |\n| --- | --- | ---: | --- |')
for (const r of rows) console.log(`| ${r.name} | ${r.metric} | ${r.value.toLocaleString('en-US')} | ${r.unit} |`)
if (jsonFile !== undefined) writeFileSync(jsonFile, JSON.stringify({ scenario: 'groups', rows }, null, 2) + '\n')
