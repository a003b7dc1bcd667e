// A randomized fault schedule against a cluster of three broker processes and a three-member
// etcd in network namespaces (tests/helpers/cluster-chaos.ts: kill -9, SIGSTOP/SIGCONT,
// network partitions of a broker, etcd members killed or cut off), one fault at a time for
// about 35 s under idempotent acks=all load, then a check of every acknowledged record: none
// lost, none doubled, offsets unique and increasing per partition, every partition in send
// order, every replica byte for byte its leader's. Needs root for the namespaces (it says so
// and fails without). `npm run chaos` runs the same for longer.
import t from 'tap'
import { runChaos } from '../helpers/cluster-chaos.js'

// Setup, ~35 s of faults and the final check: may pass the suite's 120 s per file on a loaded machine.
t.setTimeout(240_000)

t.test('a seeded fault schedule under acks=all load: no anomaly', async t => {
  const seed = Number(process.env.SPOOL_CHAOS_SEED ?? 20261202)
  const result = await runChaos(t, { seconds: 35, seed, log: line => t.comment(line) })
  t.comment(`faults ${JSON.stringify(result.faults)}, ${result.acked} acknowledged, ${result.records} read back, longest stall ${result.longestStallMs} ms`)
  t.comment(`writes resumed after each fault (ms): ${result.schedule.map(f => `${f.kind} ${f.writesResumedMs ?? 'never'}`).join(', ')}`)
  for (const [kind, n] of Object.entries(result.faults)) t.ok(n > 0, `${kind} injected (${n} time(s))`)
  t.ok(result.acked > 500, `records were acknowledged throughout (${result.acked})`)
  t.equal(result.lost, 0, 'no acknowledged record lost', { details: result.details })
  t.equal(result.duplicates, 0, 'no duplicate', { details: result.details })
  t.equal(result.misordered, 0, 'offsets increasing and values in send order per partition', { details: result.details })
  t.equal(result.wrong, 0, 'every acknowledged offset holds its value', { details: result.details })
  t.equal(result.divergentReplicas, 0, 'every replica holds its leader\'s bytes')
  t.equal(result.failures, 0, 'no send failed for good', { details: result.details })
})
