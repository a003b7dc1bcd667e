/**
 * One share of a lean MQTT fleet (mqtt-fleet.ts) in a process of its own, so a fleet larger
 * than one process's fd limit can be spread over several. Started by the mqtt-connections
 * scenario, not run by hand:
 *
 *   node dist/bench/scenarios/mqtt-fleet-worker.js <port> <first device> <devices> <filter> <keep-alive s>
 *
 * Lines on stdout (the parent reads them), on stdin (the parent writes them):
 *   → connected <ok> <failed>       every device connected (clean session) and subscribed
 *                                   to <filter> at QoS 1, or failed (bounded: 60 s each)
 *   ← round <r> <t0>                a publish every device should receive is about to be
 *                                   sent at t0 (ms since the epoch, performance.timeOrigin +
 *                                   performance.now(): one clock for the machine)
 *   → got <r> <received> <ms,ms,…>  every connected device received round r's message (or
 *                                   20 s passed): how many did, and each one's time since t0
 *   ← exit                          close every socket and exit (so does a closed stdin)
 * Every device sends PINGREQ every keep-alive/2 seconds, so the broker keeps it. Stderr
 * carries progress and errors.
 */

import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { Device, eachLimited } from './mqtt-fleet.js'

const CONNECT_CONCURRENCY = 1000
const ROUND_TIMEOUT_MS = 20_000

const [portText, firstText, countText, filter, keepAliveText] = process.argv.slice(2)
const port = Number(portText)
const first = Number(firstText)
const count = Number(countText)
const keepAliveSec = Number(keepAliveText)
if (![port, first, count, keepAliveSec].every(Number.isInteger) || filter === undefined) {
  process.stderr.write('usage: mqtt-fleet-worker.js <port> <first device> <devices> <filter> <keep-alive s>\n')
  process.exit(2)
}

const epochNow = (): number => performance.timeOrigin + performance.now()
const fleet = Array.from({ length: count }, (_, i) => new Device(first + i))
/** Per device: the round of the last message it received, and when (epoch ms). */
const lastRound = new Int32Array(count).fill(-1)
const receivedAt = new Float64Array(count)
let round = -1
let roundT0 = 0

const pinger = setInterval(() => { for (const d of fleet) d.ping() }, keepAliveSec * 500)
const shutdown = (): void => {
  clearInterval(pinger)
  for (const d of fleet) d.destroy()
  process.exit(0)
}

let failed = 0
await eachLimited(fleet, CONNECT_CONCURRENCY, async d => {
  const at = d.index - first
  const code = await d.open(port, {
    clean: true,
    subscribe: true,
    filter,
    keepAliveSec,
    timeoutMs: 60_000,
    onPublish: () => {
      if (round >= 0 && lastRound[at] !== round) {
        lastRound[at] = round
        receivedAt[at] = epochNow()
      }
    },
  })
  if (code !== 0) failed++
})
const connected = fleet.filter(d => d.returnCode === 0 && !d.closed)
process.stdout.write(`connected ${connected.length} ${failed}\n`)

async function reportRound (r: number): Promise<void> {
  const deadline = performance.now() + ROUND_TIMEOUT_MS
  const done = (): boolean => fleet.every((d, i) => lastRound[i] === r || d.returnCode !== 0 || d.closed)
  while (!done() && performance.now() < deadline) await new Promise(resolve => setTimeout(resolve, 5))
  const times: string[] = []
  for (let i = 0; i < count; i++) if (lastRound[i] === r) times.push((receivedAt[i]! - roundT0).toFixed(2))
  process.stdout.write(`got ${r} ${times.length} ${times.join(',')}\n`)
}

const lines = createInterface({ input: process.stdin })
lines.on('line', line => {
  const [command, a, b] = line.trim().split(' ')
  if (command === 'round') {
    round = Number(a)
    roundT0 = Number(b)
    void reportRound(round)
  } else if (command === 'exit') {
    shutdown()
  }
})
lines.on('close', shutdown)
