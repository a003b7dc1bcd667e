// Prints a topic's messages as they arrive; Ctrl-C stops it cleanly.
//
//   node examples/node-consumer.js orders                      (new messages only)
//   node examples/node-consumer.js orders --from-beginning     (everything, then new ones)
//   node examples/node-consumer.js orders --group billing      (as a member of group "billing")
//
// Broker: $SPOOL_BROKER or 127.0.0.1:7420 (with --auth: SPOOL_USER and SPOOL_PASSWORD; with
// TLS: SPOOL_CA, the broker's CA file, and its TLS port). Without --group it reads every partition. With
// --group, start it in several shells: the group's partitions are shared between the
// instances (`spool group describe billing` shows who has which), an instance that stops
// hands its partitions to the others (at once on Ctrl-C; after the 10 s session timeout if
// it is killed), and every instance continues from the group's committed offsets. With
// --group, --from-beginning applies to partitions the group has no committed offset for.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { Client, text } from 'spool/client'

const usage = 'usage: node examples/node-consumer.js <topic> [--from-beginning] [--group <group>]'
let args
try {
  args = parseArgs({ allowPositionals: true, options: { group: { type: 'string' }, 'from-beginning': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } })
} catch (err) {
  console.error(`${err.message}\n${usage}`)
  process.exit(1)
}
if (args.values.help) {
  console.log(usage)
  process.exit(0)
}
if (args.positionals.length > 1 || args.values.group === '') {
  console.error(usage)
  process.exit(1)
}
const topic = args.positionals[0] ?? 'orders'
const groupId = args.values.group
const fromBeginning = args.values['from-beginning'] === true

// A broker with --auth and TLS: SPOOL_USER + SPOOL_PASSWORD (SCRAM-SHA-256), SPOOL_CA (its CA file).
const security = {
  ...(process.env.SPOOL_USER ? { sasl: { username: process.env.SPOOL_USER, password: process.env.SPOOL_PASSWORD ?? '' } } : {}),
  ...(process.env.SPOOL_CA ? { tls: { ca: readFileSync(process.env.SPOOL_CA, 'utf8') } } : {}),
}
const client = new Client({ brokers: [process.env.SPOOL_BROKER ?? '127.0.0.1:7420'], clientId: 'example-consumer', ...security })
const partitions = list => list.map(tp => tp.partition).join(',')
const consumer = client.consumer(groupId === undefined
  ? { fromBeginning }
  : {
      groupId,
      fromBeginning,
      sessionTimeoutMs: 10_000, // a killed instance's partitions move on after 10 s
      autoCommitIntervalMs: 1_000, // `spool group describe` shows progress within a second
      onAssigned: list => console.error(`assigned partitions ${partitions(list)}`),
      onRevoked: (list, { lost }) => console.error(`${lost ? 'lost' : 'revoked'} partitions ${partitions(list)}`),
    })
if (groupId === undefined) await consumer.assign({ topic })
else await consumer.subscribe({ topics: [topic] })
process.once('SIGINT', () => consumer.close())
process.once('SIGTERM', () => consumer.close())

console.error(`reading ${topic} (${groupId === undefined ? '' : `group ${groupId}, `}${fromBeginning ? 'from the beginning' : 'new messages'}); Ctrl-C to stop`)
let count = 0
// A message counts as processed (and is committed, in a group) once the loop asks for the next.
for await (const m of consumer) {
  count++
  console.log(`${m.partition}/${m.offset} ${new Date(m.timestamp).toISOString()} ${text(m.key) ?? '-'} ${text(m.value)}`)
}
await client.close()
console.error(`read ${count} messages`)
