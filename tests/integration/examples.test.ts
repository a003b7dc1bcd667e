// What the README tells a new user to run, run as they would: every example under
// examples/ (its argument handling included) against a broker, as child processes with the
// broker address in SPOOL_BROKER; every shell block of the README, in README order, against
// one broker this test starts on free ports (the documented ports substituted); and the
// Docker files checked offline (docker-compose config, the Dockerfile's user and volume).
import t from 'tap'
// The README walk-through runs ~50 npx commands: more than the suite's 120 s per file when the machine is loaded.
t.setTimeout(660_000)
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Client } from '../../client/index.js'
import { startBroker, type TestLike } from '../helpers/broker.js'
import { spawnCollected, waitFor } from '../helpers/processes.js'
import { requestCount } from '../helpers/metrics.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))

function run (t: TestLike, cmd: string, args: string[], env: Record<string, string> = {}): { out: () => string, err: () => string, exited: Promise<number | string>, kill: (s: NodeJS.Signals) => void } {
  const p = spawnCollected(t, cmd, args, { cwd: root, env })
  return { out: p.stdout, err: p.stderr, exited: p.exited, kill: s => p.child.kill(s) }
}

/** Waits (bounded) until the broker has answered more fetches than `before`. */
async function fetchedSince (httpPort: number, before: number, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await requestCount(httpPort, 'Fetch') > before) return
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`${what} did not start fetching within 15 s`)
}

t.test('examples/node-producer.js and examples/node-consumer.js', async t => {
  const broker = await startBroker(t, { mqttPort: null })
  const env = { SPOOL_BROKER: `127.0.0.1:${broker.ports.native}` }
  await broker.logs.createTopic('orders', { partitions: 3 })
  const producer = run(t, process.execPath, ['examples/node-producer.js', 'orders', '50'], env)
  t.equal(await producer.exited, 0, producer.err())
  t.match(producer.out(), /produced 50 messages to orders/)
  const consumer = run(t, process.execPath, ['examples/node-consumer.js', 'orders', '--from-beginning'], env)
  await waitFor(() => consumer.out().split('\n').filter(l => l.includes('customer-')).length >= 50, 15_000, 'the consumer to print 50 orders')
  consumer.kill('SIGINT')
  t.equal(await consumer.exited, 0, 'Ctrl-C stops the consumer cleanly')
  t.match(consumer.err(), /read 50 messages/)
})

t.test('every example takes its arguments in any order, and refuses bad ones with its usage', async t => {
  const broker = await startBroker(t, { mqttPort: null })
  const env = { SPOOL_BROKER: `127.0.0.1:${broker.ports.native}` }
  await broker.logs.createTopic('clicks', { partitions: 2 })
  await broker.logs.createTopic('orders', { partitions: 1 })
  const made = run(t, process.execPath, ['examples/node-producer.js', 'clicks', '20'], env)
  t.equal(await made.exited, 0, made.err())
  const forms: Array<[string[], RegExp]> = [
    [['clicks', '--from-beginning'], /^reading clicks \(from the beginning\)/],
    [['--from-beginning', 'clicks'], /^reading clicks \(from the beginning\)/],
    [['clicks', '--group', 'g1', '--from-beginning'], /^reading clicks \(group g1, from the beginning\)/],
    [['--group', 'g2', '--from-beginning', 'clicks'], /^reading clicks \(group g2, from the beginning\)/],
    [['--group=g3', 'clicks', '--from-beginning'], /^reading clicks \(group g3, from the beginning\)/],
  ]
  for (const [args, reading] of forms) {
    const c = run(t, process.execPath, ['examples/node-consumer.js', ...args], env)
    await waitFor(() => c.out().split('\n').filter(l => l.includes('customer-')).length >= 20, 15_000, `${args.join(' ')}: 20 clicks`)
    c.kill('SIGINT')
    t.equal(await c.exited, 0, `${args.join(' ')}: exit 0 on Ctrl-C`)
    t.match(c.err(), reading, `${args.join(' ')}: reads clicks`)
  }
  for (const args of [['clicks', '--group'], ['--group', '--from-beginning', 'clicks'], ['clicks', 'orders'], ['clicks', '--nope']]) {
    const c = run(t, process.execPath, ['examples/node-consumer.js', ...args], env)
    t.equal(await c.exited, 1, `${args.join(' ')}: exit 1`)
    t.match(c.err(), /usage: node examples\/node-consumer\.js <topic>/, `${args.join(' ')}: says the usage`)
  }
  for (const [args, code] of [[['orders', 'ten'], 1], [['orders', '5', 'more'], 1], [['--count', '5'], 1], [['--help'], 0]] as Array<[string[], number]>) {
    const p = run(t, process.execPath, ['examples/node-producer.js', ...args], env)
    t.equal(await p.exited, code, `node-producer ${args.join(' ')}: exit ${code}`)
    t.match(p.out() + p.err(), /usage: node examples\/node-producer\.js/)
  }
  const help = run(t, process.execPath, ['examples/node-consumer.js', '--help'], env)
  t.equal(await help.exited, 0)
  t.equal(broker.logs.partition('orders', 0).logEndOffset, 0, 'no bad invocation produced anything')
})

t.test('examples/sdk-tour.js (the README\'s SDK program) runs to its end, twice', async t => {
  const broker = await startBroker(t, { mqttPort: null })
  const env = { SPOOL_BROKER: `127.0.0.1:${broker.ports.native}` }
  for (const round of [1, 2]) {
    const p = run(t, process.execPath, ['examples/sdk-tour.js'], env)
    t.equal(await p.exited, 0, `run ${round}: ${p.err()}`)
    t.match(p.out(), /^produced \d\/\d+ \d\/\d+\n/, `run ${round}: produced`)
    t.match(p.out(), /the group processed this run's payments: total 42\.5\n/, `run ${round}: the group read exactly this run's records`)
    t.equal(p.out().split('\n').filter(l => l.includes('user-')).length, 2 * round, `run ${round}: the reader without a group read everything`)
    t.match(p.out(), /\npayments 0: 0-\d+, 1: 0-\d+, 2: 0-\d+\n$/, `run ${round}: described`)
  }
})

// ---------------------------------------------------------------------------------------
// The README's shell blocks, in order, against one broker, as a user types them.

interface ShellBlock { heading: string, line: number, commands: string[] }

function readmeShellBlocks (): ShellBlock[] {
  const lines = readFileSync(new URL('README.md', `file://${root}`), 'utf8').split('\n')
  const blocks: ShellBlock[] = []
  let heading = ''
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.startsWith('#')) heading = lines[i]!.replace(/^#+\s*/, '')
    if (lines[i] !== '```sh') continue
    const start = i
    const commands: string[] = []
    while (lines[++i] !== '```') if (lines[i]!.trim() !== '' && !lines[i]!.trimStart().startsWith('#')) commands.push(lines[i]!)
    blocks.push({ heading, line: start + 1, commands })
  }
  return blocks
}

/** Blocks a test cannot run as written, each with the reason (anything else runs). */
const NOT_RUN: Array<[RegExp, string]> = [
  [/^npm ci && npm start/, 'installs and starts a broker on the default ports'],
  [/^docker compose/, 'needs a Docker engine (the compose file is checked offline below)'],
  [/^sudo bench\/setup/, 'benchmarks: installs peers and runs for minutes'],
  [/^npm run torture/, 'the campaign programs run for many minutes (their short runs are part of npm test)'],
  [/^spool broker start --data-dir \.\/data &/, 'starts its own broker on the default ports (MQTT is covered by the MQTT tests)'],
  [/^etcd --name/, 'starts etcd and three brokers on fixed ports (tests/integration/cluster-*.test.ts run the same cluster on free ports)'],
]

/** A line that does not end by itself: run in the background, stopped (Ctrl-C) at the block's end. */
const isBackground = (line: string): boolean => /#.*(shell \d|third shell|another shell|Ctrl-C)/.test(line)

function shell (command: string, env: Record<string, string>): ChildProcess {
  return spawn('bash', ['-c', command], { cwd: root, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
}

t.test('every shell block of the README runs as written', { timeout: 600_000 }, async t => {
  // Kafka-protocol groups form at once (the 3 s initial rebalance delay would only add waiting).
  const broker = await startBroker(t, { mqttPort: null, groupInitialRebalanceDelayMs: 0 })
  const native = broker.ports.native!
  const http = broker.ports.http!
  const kafka = broker.ports.kafka!
  // The Security section's `spool user`/`acl`/`token` edit this broker's data directory.
  const env = { SPOOL_BROKER: `127.0.0.1:${native}`, SPOOL_DATA_DIR: broker.config.dataDir }
  const substitute = (line: string): string => line
    .replace(/(127\.0\.0\.1|localhost):9092/g, `127.0.0.1:${kafka}`)
    .replace(/(127\.0\.0\.1|localhost):7421/g, `127.0.0.1:${http}`)
    .replace(/(127\.0\.0\.1|localhost):7420/g, `127.0.0.1:${native}`)
  const children = new Set<ChildProcess>()
  t.teardown(() => { for (const c of children) if (c.exitCode === null && c.signalCode === null) process.kill(-c.pid!, 'SIGKILL') })

  const blocks = readmeShellBlocks()
  t.ok(blocks.length >= 6, `${blocks.length} shell blocks found`)
  // The first `npx spool` in a checkout installs it into npm's npx cache; do that once, alone,
  // before blocks start commands in the background (two first runs at once can race there).
  // Without scripts: that install would run the package's `prepare` (tsc), which rewrites
  // dist/ under the other test files running meanwhile, and fails anyway under the require
  // hook tap puts in every child's NODE_OPTIONS (a require(esm) cycle in typescript/bin/tsc,
  // on every Node version) — so in a fresh clone `npx spool` failed. dist/ is built already.
  const warm = shell('npx --ignore-scripts spool --version', env)
  t.equal(await new Promise(resolve => warm.once('exit', code => resolve(code))), 0, 'npx spool runs')
  let ran = 0
  for (const block of blocks) {
    const skip = NOT_RUN.find(([first]) => first.test(block.commands[0] ?? ''))
    if (skip !== undefined) {
      t.comment(`README line ${block.line} (${block.heading}) not run: ${skip[1]}`)
      continue
    }
    ran++
    const background: Array<{ line: string, child: ChildProcess, out: () => string, exited: Promise<string> }> = []
    for (const line of block.commands) {
      const command = substitute(line)
      const where = `README line ${block.line} (${block.heading}): ${line.trim()}`
      const child = shell(command, env)
      children.add(child)
      let out = ''
      child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d })
      child.stderr!.setEncoding('utf8').on('data', (d: string) => { out += d })
      const exited = new Promise<string>(resolve => child.once('exit', (code, signal) => resolve(signal ?? String(code))))
      if (isBackground(line)) {
        const before = await requestCount(http, 'Fetch')
        background.push({ line, child, out: () => out, exited })
        await fetchedSince(http, before, where)
        continue
      }
      const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 60_000)
      const code = await exited
      clearTimeout(timer)
      t.equal(code, '0', where, { output: out.slice(-2000) })
    }
    for (const bg of background) {
      const where = `README line ${block.line} (${block.heading}): ${bg.line.trim()}`
      t.equal(bg.child.exitCode, null, `${where}: still running until stopped`, { output: bg.out().slice(-2000) })
      process.kill(-bg.child.pid!, 'SIGINT')
      const timer = setTimeout(() => process.kill(-bg.child.pid!, 'SIGKILL'), 15_000)
      t.match(await bg.exited, /^(0|SIGINT|130)$/, `${where}: Ctrl-C stops it`)
      clearTimeout(timer)
      t.notMatch(bg.out(), /^error:/m, `${where}: no error`)
      if (/spool tail orders/.test(bg.line)) t.match(bg.out(), /^live line$/m, `${where}: the tail printed the live line`)
    }
  }
  t.ok(ran >= 4, `${ran} blocks ran`)
  const client = new Client({ brokers: [`127.0.0.1:${native}`] })
  t.teardown(() => client.close())
  t.same((await client.admin().describeGroups(['billing']))[0]?.offsets.map(o => o.lag), [0, 0, 0], 'the consumer-group walk-through left group billing caught up')
})

t.test('docker-compose.yml is valid and binds loopback only; the image runs as a non-root user', async t => {
  const check = run(t, 'docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'])
  t.equal(await check.exited, 0, check.err())
  // `config` prints the normalized file: each published port as host_ip:published:target/proto.
  const config = run(t, 'docker-compose', ['-f', 'docker-compose.yml', 'config'])
  t.equal(await config.exited, 0, config.err())
  const ports = /^ {4}ports:\n((?: {4}- .*\n)+)/m.exec(config.out())?.[1]?.trim().split('\n').map(l => l.replace(/^\s*- /, '')) ?? []
  t.same(ports, ['127.0.0.1:7420:7420/tcp', '127.0.0.1:7421:7421/tcp', '127.0.0.1:1883:1883/tcp'], 'native, HTTP and MQTT published on 127.0.0.1 only')

  const dockerfile = readFileSync(new URL('Dockerfile', `file://${root}`), 'utf8')
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '))
  const user = /^USER\s+(\S+)\s*$/m.exec(runtime)?.[1] ?? 'root'
  t.notMatch(user, /^(root|0)(:|$)/, `the runtime stage switches to a non-root user (USER ${user})`)
  const name = user.split(':')[0]!
  t.match(runtime, new RegExp(`useradd [^\\n]*${name}`), 'the user is created in the image')
  t.match(runtime, new RegExp(`chown ${name}(:\\S+)? /data`), 'and owns /data')
  t.match(runtime, /^VOLUME \/data$/m, 'the data dir is a volume')
  t.ok(runtime.indexOf('chown') < runtime.indexOf('VOLUME /data') && runtime.indexOf('VOLUME /data') < runtime.indexOf('\nUSER '), 'owned before it becomes a volume, the user switched after')
  t.match(runtime, /CMD \["broker", "start", "--data-dir", "\/data"/, 'the broker keeps its data in the volume')
})
