// The stats sampler's per-connection rates: an idle connection keeps its row from one sample
// to the next (nothing allocated for it), traffic shows up as rates at once, a closed
// connection leaves the list, and one that comes back counts from zero.
import t from 'tap'
import type { BrokerMetrics } from '../../broker/observability/metrics.js'
import { StatsSampler, type ConnectionSample } from '../../broker/observability/stats.js'

const EMPTY = new Map<string, never>()

function sampleOf (id: string, bytesOut = 0): ConnectionSample {
  return {
    id, clientId: `client-${id}`, principal: 'User:ANONYMOUS', remoteAddress: '127.0.0.1:1', host: '127.0.0.1', protocol: 'mqtt-tcp', group: null,
    bytesIn: 10, bytesOut, recordsIn: 0, recordsOut: 0, messagesIn: 1, messagesOut: 0, requests: 0, fetches: 0, produces: 0,
    throttledMs: 0, throttleMs: 0, topics: EMPTY, fetchLag: -1, lagByTopic: EMPTY, connectedAtMs: 0,
  }
}

t.test('idle connections keep no row and are not described by the sampler, traffic becomes rates, closed connections leave', async t => {
  let nowMs = 10_000
  const metrics = { topics: () => [] } as unknown as BrokerMetrics
  const sampler = new StatsSampler({ metrics, groupLag: () => [], now: () => nowMs })
  const a = sampleOf('a')
  const b = sampleOf('b')
  let open = [a, b]
  let described = 0
  sampler.addSource({
    list: () => open,
    activity: c => c.bytesIn + c.bytesOut + c.messagesIn,
    describe: c => { described++; return { ...c } },
  })
  const tick = (): void => { nowMs += 1000; sampler.sample() }
  sampler.sample()
  tick()
  const idleRow = sampler.connections().find(r => r.id === 'a')!
  t.equal(idleRow.bytesOutPerSec, 0)
  tick()
  described = 0
  tick()
  tick()
  t.equal(described, 0, 'an idle connection is not described by the samples')
  t.same(sampler.activeConnections(), [], 'nor listed as active (what the egress watch reads each second)')
  const again = sampler.connections()
  t.same(again.find(r => r.id === 'a'), idleRow, 'asked for, its row is made: the same figures, zero rates')
  t.equal(described, 2, 'described once each when the rows are asked for')
  t.equal(sampler.connections(), again, 'and not again within the same sample')
  t.equal(described, 2)

  a.bytesOut = 500
  tick()
  const busy = sampler.connections()[0]!
  t.equal(busy.id, 'a', 'the busiest connection first')
  t.same(sampler.activeConnections().map(r => r.id), ['a'], 'the moving connection is active')
  t.equal(busy.bytesOutPerSec, 500, 'bytes since the last sample, per second')
  t.not(busy, idleRow)
  tick()
  const after = sampler.connections().find(r => r.id === 'a')!
  t.equal(after.bytesOutPerSec, 0, 'no traffic in the next interval: rate 0 again')
  t.equal(after.bytesOut, 500)

  open = [sampleOf('b')]
  tick()
  t.same(sampler.connections().map(r => r.id), ['b'], 'a closed connection leaves the list')

  open = [sampleOf('a', 700), b]
  tick()
  t.equal(sampler.connections().find(r => r.id === 'a')!.bytesOutPerSec, 700, 'a connection seen again counts from zero')
})
