/**
 * A producer process for partition tests, run where the test itself cannot reach (inside a
 * network namespace, next to a broker cut off from the others): it sends one message at a
 * time to one partition and prints one JSON line per outcome, so the test can tell what a
 * broker on the minority side acknowledged.
 *
 *   node cluster-writer.js <host:port> <topic> <partition> <acks 1|all> <label> <count> <timeoutMs>
 *   → {"i":0,"ok":true,"offset":41,"atMs":...}  or  {"i":1,"ok":false,"code":"REQUEST_TIMED_OUT","atMs":...}
 *
 * No retries and no idempotence: each line is exactly one attempt. It exits 0 after `count`
 * attempts.
 */

import { Client } from '../../client/index.js'

const [address, topic, partitionArg, acksArg, label, countArg, timeoutArg] = process.argv.slice(2)
if (address === undefined || topic === undefined || label === undefined) {
  process.stderr.write('usage: cluster-writer.js <host:port> <topic> <partition> <acks> <label> <count> <timeoutMs>\n')
  process.exit(2)
}
const partition = Number(partitionArg)
const count = Number(countArg)
const timeoutMs = Number(timeoutArg)
const client = new Client({ brokers: [address], requestTimeoutMs: timeoutMs, connectTimeoutMs: timeoutMs, retry: { retries: 0, initialRetryTimeMs: 100, maxRetryTimeMs: 100 } })
const producer = client.producer({ acks: acksArg === 'all' ? 'all' : 1, lingerMs: 0, idempotent: false, timeoutMs, retry: { retries: 0 } })
for (let i = 0; i < count; i++) {
  try {
    const [meta] = await producer.send({ topic, messages: [{ value: `${label}:${i}`, partition }] })
    process.stdout.write(JSON.stringify({ i, ok: true, offset: meta!.offset, atMs: Date.now() }) + '\n')
  } catch (err) {
    process.stdout.write(JSON.stringify({ i, ok: false, code: (err as { code?: string }).code ?? 'unknown', atMs: Date.now() }) + '\n')
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
await client.close().catch(() => {})
process.exit(0)
