// The gateway's small data structures on their own: the read budget (grants, waiting in
// order, the account following real read sizes), the one-entry map, and the subscription trie
// as its nodes move between one child or value held inline and many.
import t from 'tap'
import { MIN_GRANT_BYTES, ReadBudget } from '../../broker/protocols/mqtt/read-budget.js'
import { SmallMap } from '../../broker/protocols/mqtt/small-map.js'
import { SubscriptionIndex } from '../../broker/protocols/mqtt/subscription-index.js'

t.test('ReadBudget: grants what is left, queues readers in order, follows real sizes', async t => {
  const budget = new ReadBudget(100 * 1024)
  t.equal(budget.tryTake(64 * 1024), 64 * 1024, 'a grant of what was asked')
  t.equal(budget.tryTake(64 * 1024), 36 * 1024, 'what is left when less than asked')
  t.equal(budget.tryTake(1024), null, 'nothing left: wait')
  const order: string[] = []
  const first = budget.take(32 * 1024).then(n => { order.push(`first ${n}`) })
  const second = budget.take(8 * 1024).then(n => { order.push(`second ${n}`) })
  t.equal(budget.waiting, 2, 'two readers wait')
  t.equal(budget.tryTake(1), null, 'a newcomer does not jump the queue')
  budget.give(8 * 1024)
  await Promise.resolve()
  t.same(order, [], `${8 * 1024} bytes are below the first reader's minimum grant: nobody is served yet`)
  budget.give(56 * 1024)
  await Promise.all([first, second])
  t.same(order, [`first ${32 * 1024}`, `second ${8 * 1024}`], 'served in arrival order once there is room')
  t.equal(budget.used, 76 * 1024, 'what they hold is accounted')
  t.equal(budget.adjust(8 * 1024, 40 * 1024), 40 * 1024, 'a read larger than its grant is accounted at its size')
  t.equal(budget.used, 108 * 1024, 'over the limit, so the next readers wait for it')
  t.equal(budget.tryTake(1), null, 'and they do')
  t.equal(budget.waits, 2, 'waits counted')
  t.equal(budget.peak, 108 * 1024, 'peak kept')
})

t.test('ReadBudget: a limit below the minimum grant still serves one reader at a time', async t => {
  const budget = new ReadBudget(1000)
  t.equal(budget.tryTake(64 * 1024), MIN_GRANT_BYTES, 'an empty budget grants the minimum')
  const waiting = budget.take(64 * 1024)
  budget.give(MIN_GRANT_BYTES)
  t.equal(await waiting, MIN_GRANT_BYTES, 'the next one gets it once the first gave it back')
})

t.test('SmallMap: one entry inline, a Map from the second, in insertion order', async t => {
  const m = new SmallMap<string, number>()
  t.equal(m.size, 0)
  t.equal(m.get('a'), undefined)
  m.set('a', 1)
  t.equal(m.get('a'), 1)
  m.set('a', 2)
  t.equal(m.size, 1, 'replaced, not added')
  m.set('b', 3).set('c', 4)
  t.same([...m.keys()], ['a', 'b', 'c'])
  t.same([...m.values()], [2, 3, 4])
  t.ok(m.delete('b'))
  t.notOk(m.delete('b'))
  t.ok(m.has('c'))
  t.equal(m.size, 2)
  const one = new SmallMap<string, number>()
  one.set('x', 1)
  t.notOk(one.delete('y'), 'deleting another key leaves the entry')
  t.ok(one.delete('x'))
  t.same([...one.values()], [], 'empty again')
})

t.test('SubscriptionIndex: nodes going from one child or value to many and back still match exactly', async t => {
  const index = new SubscriptionIndex<string>()
  const match = (topic: string): string[] => {
    const out: string[] = []
    index.match(topic, out)
    return out.sort()
  }
  index.add('dev/1/cfg', 's1')
  t.same(match('dev/1/cfg'), ['s1'])
  t.same(match('dev/1'), [])
  index.add('dev/1/cfg', 's2')
  index.add('dev/+/cfg', 'w')
  index.add('dev/#', 'h')
  index.add('dev/2/cfg', 's3')
  t.same(match('dev/1/cfg'), ['h', 's1', 's2', 'w'], 'two values on one node, wildcards beside it')
  t.same(match('dev/2/cfg'), ['h', 's3', 'w'])
  t.same(match('dev'), ['h'], '"dev/#" matches its parent [MQTT-4.7.1-2]')
  t.same(match('$SYS/dev/1/cfg'), [], 'not $ topics')
  t.equal(index.size, 5)
  index.remove('dev/1/cfg', 's1')
  index.remove('dev/1/cfg', 's2')
  index.remove('dev/#', 'h')
  t.same(match('dev/1/cfg'), ['w'], 'after removals only what is left matches')
  index.remove('dev/+/cfg', 'w')
  index.remove('dev/2/cfg', 's3')
  t.equal(index.size, 0)
  t.same(match('dev/2/cfg'), [], 'empty')
  index.add('dev/2/cfg', 's4')
  t.same(match('dev/2/cfg'), ['s4'], 'pruned branches grow again')
})
