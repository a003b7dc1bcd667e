// The sticky uniform assignor: balanced, deterministic, and sticky — partitions that need
// not move stay where they were when members join or leave.
import t from 'tap'
import { assignPartitions, tpKey, type Assignment } from '../../broker/groups/assignor.js'
import { rng } from '../helpers/bytes.js'

const sizes = (a: Assignment): number[] => [...a.values()].map(s => s.size).sort()
const all = (a: Assignment): string[] => [...a.values()].flatMap(s => [...s]).sort()

t.test('3 members on 6 partitions own 2 each; a 4th joins and only moved partitions change hands', async t => {
  const counts = new Map([['orders', 6]])
  const three = ['a', 'b', 'c'].map(memberId => ({ memberId, subscribedTopics: ['orders'] }))
  const first = assignPartitions(three, counts, new Map())
  t.same(sizes(first), [2, 2, 2])
  t.same(all(first), Array.from({ length: 6 }, (_, p) => tpKey('orders', p)).sort())
  const second = assignPartitions([...three, { memberId: 'd', subscribedTopics: ['orders'] }], counts, first)
  t.same(sizes(second), [1, 1, 2, 2])
  let moved = 0
  for (const id of ['a', 'b', 'c']) {
    for (const tp of first.get(id)!) if (!second.get(id)!.has(tp)) moved++
    for (const tp of second.get(id)!) t.ok(first.get(id)!.has(tp), `${id} gained nothing`)
  }
  t.equal(moved, 1, 'only the partition the new member takes was revoked')
  const third = assignPartitions(three, counts, second)
  t.same(sizes(third), [2, 2, 2], 'a leave rebalances')
  for (const id of ['a', 'b', 'c']) for (const tp of second.get(id)!) t.ok(third.get(id)!.has(tp), 'survivors keep theirs')
})

t.test('different subscriptions: partitions only go to subscribers, balanced per eligibility', async t => {
  const counts = new Map([['x', 4], ['y', 2]])
  const a = assignPartitions([
    { memberId: 'm1', subscribedTopics: ['x'] },
    { memberId: 'm2', subscribedTopics: ['x', 'y'] },
    { memberId: 'm3', subscribedTopics: ['y'] },
  ], counts, new Map())
  t.same(all(a).length, 6)
  t.ok([...a.get('m1')!].every(tp => tp.startsWith('x:')))
  t.ok([...a.get('m3')!].every(tp => tp.startsWith('y:')))
  t.same(sizes(a), [2, 2, 2])
})

t.test('unknown topics, more members than partitions, removed partitions', async t => {
  const a = assignPartitions([{ memberId: 'a', subscribedTopics: ['none'] }], new Map(), new Map())
  t.same(all(a), [])
  const many = assignPartitions(Array.from({ length: 5 }, (_, i) => ({ memberId: `m${i}`, subscribedTopics: ['t'] })), new Map([['t', 2]]), new Map())
  t.same(sizes(many), [0, 0, 0, 1, 1])
  const shrunk = assignPartitions([{ memberId: 'a', subscribedTopics: ['t'] }], new Map([['t', 1]]), new Map([['a', new Set(['t:0', 't:5'])]]))
  t.same(all(shrunk), ['t:0'])
})

t.test('random membership churn: always complete, disjoint, balanced within one', async t => {
  const random = rng(1234)
  let previous: Assignment = new Map()
  let members = ['m0', 'm1']
  const counts = new Map([['a', 7], ['b', 5]])
  for (let step = 0; step < 200; step++) {
    if (random() < 0.5 && members.length < 9) members = [...members, `m${step + 10}`]
    else if (members.length > 1) {
      const drop = Math.floor(random() * members.length)
      members = members.filter((_, i) => i !== drop)
    }
    const next = assignPartitions(members.map(memberId => ({ memberId, subscribedTopics: ['a', 'b'] })), counts, previous)
    const flat = all(next)
    if (flat.length !== 12 || new Set(flat).size !== 12) t.fail(`step ${step}: incomplete or overlapping`)
    const s = sizes(next)
    if (s[s.length - 1]! - s[0]! > 1) t.fail(`step ${step}: unbalanced ${s.join(',')}`)
    previous = next
  }
  t.pass('200 steps checked')
})
