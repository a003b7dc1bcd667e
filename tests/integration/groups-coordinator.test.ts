// The group coordinator over the native protocol (raw frames, no SDK): broker-side sticky
// assignment with incremental moves, no partition owned twice, session-timeout eviction,
// fenced zombies, static membership, offsets and membership surviving a broker restart.
import t from 'tap'
import { ERROR_TABLE } from '../../protocol/errors.js'
import { RawClient } from '../helpers/raw-client.js'
import { startBroker } from '../helpers/broker.js'

const code = (name: keyof typeof ERROR_TABLE): number => ERROR_TABLE[name].code
type Assignment = Array<{ topic: string, partitions: number[] }>
const flat = (a: Assignment): string[] => a.flatMap(x => x.partitions.map(p => `${x.topic}:${p}`)).sort()

/** A member driven by hand: heartbeats, and confirms revocations like a real consumer. */
class Member {
  memberId = ''
  epoch = 0
  owned: string[] = []
  revoked: string[] = []
  assignedEver: string[] = []
  constructor (readonly c: RawClient, readonly group: string, readonly topics: string[], readonly opts: { instanceId?: string, sessionTimeoutMs?: number } = {}) {}

  async beat (): Promise<Record<string, unknown> & { errorCode: number }> {
    const r = await this.c.call('GroupHeartbeat', {
      groupId: this.group,
      memberId: this.memberId,
      memberEpoch: this.epoch,
      instanceId: this.opts.instanceId ?? null,
      sessionTimeoutMs: this.opts.sessionTimeoutMs ?? 10_000,
      rebalanceTimeoutMs: 10_000,
      subscribedTopics: this.epoch === 0 ? this.topics : null,
      ownedPartitions: [{ topic: this.topics[0]!, partitions: this.owned.map(tp => Number(tp.split(':')[1])) }],
    })
    if (r.errorCode !== 0) return r
    this.memberId = r.memberId
    this.epoch = r.memberEpoch
    const now = flat(r.assignment)
    for (const tp of this.owned) if (!now.includes(tp)) this.revoked.push(tp)
    for (const tp of now) if (!this.owned.includes(tp)) this.assignedEver.push(tp)
    this.owned = now
    return r
  }

  async leave (): Promise<void> {
    await this.c.call('GroupHeartbeat', { groupId: this.group, memberId: this.memberId, memberEpoch: -1, instanceId: null, subscribedTopics: null, ownedPartitions: null })
  }
}

/** Heartbeats every member until nothing changes, checking exclusivity after each beat. */
async function settle (t: { fail (msg: string): void }, members: Member[], rounds = 30): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const before = members.map(m => m.owned.join(','))
    for (const m of members) {
      await m.beat()
      const all = members.flatMap(x => x.owned)
      if (new Set(all).size !== all.length) t.fail(`a partition is owned by two members: ${all.join(' ')}`)
    }
    if (members.every((m, j) => m.owned.join(',') === before[j]) && i > 0) return
  }
}

t.test('join, balance, incremental move, leave', async t => {
  const broker = await startBroker(t)
  const c = await RawClient.connect(broker.ports.native!)
  t.teardown(() => c.close())
  await c.call('CreateTopics', { topics: [{ topic: 'jobs', partitions: 6 }] })
  const ms = [0, 1, 2].map(() => new Member(c, 'g1', ['jobs']))
  await settle(t, ms)
  t.same(ms.map(m => m.owned.length), [2, 2, 2], 'three members own two partitions each')
  t.same(ms.flatMap(m => m.owned).sort(), ['jobs:0', 'jobs:1', 'jobs:2', 'jobs:3', 'jobs:4', 'jobs:5'])
  const before = ms.map(m => [...m.owned])
  for (const m of ms) m.revoked = []
  const fourth = new Member(c, 'g1', ['jobs'])
  ms.push(fourth)
  await settle(t, ms)
  t.same(ms.map(m => m.owned.length).sort(), [1, 1, 2, 2], 'balanced after a fourth joins')
  const revoked = ms.slice(0, 3).flatMap(m => m.revoked)
  t.equal(revoked.length, 1, 'exactly one partition changed hands')
  for (let i = 0; i < 3; i++) for (const tp of ms[i]!.owned) t.ok(before[i]!.includes(tp), 'survivors gained nothing, kept the rest')
  t.same(fourth.owned, revoked, 'the new member got the revoked partition')

  const desc = await c.call('DescribeGroups', { groupIds: ['g1'] })
  t.equal(desc.groups[0]!.state, 'stable')
  t.equal(desc.groups[0]!.members.length, 4)
  const list = await c.call('ListGroups', {})
  t.same(list.groups.map(g => [g.groupId, g.members]), [['g1', 4]])

  await ms[0]!.leave()
  const rest = ms.slice(1)
  await settle(t, rest)
  t.same(rest.flatMap(m => m.owned).sort().length, 6, 'a leave hands its partitions on')
})

t.test('session timeout evicts a silent member; its commits are then rejected', async t => {
  const broker = await startBroker(t)
  const c = await RawClient.connect(broker.ports.native!)
  t.teardown(() => c.close())
  await c.call('CreateTopics', { topics: [{ topic: 'ev', partitions: 2 }] })
  const a = new Member(c, 'g2', ['ev'], { sessionTimeoutMs: 600 })
  const b = new Member(c, 'g2', ['ev'], { sessionTimeoutMs: 600 })
  await settle(t, [a, b])
  t.same([a.owned.length, b.owned.length], [1, 1])
  const ok = await c.call('OffsetCommit', { groupId: 'g2', memberId: a.memberId, memberEpoch: a.epoch, topics: [{ topic: 'ev', partitions: [{ partition: Number(a.owned[0]!.split(':')[1]), offset: 5, metadata: null }] }] })
  t.equal(ok.topics[0]!.partitions[0]!.errorCode, 0)
  const notMine = Number(b.owned[0]!.split(':')[1])
  const steal = await c.call('OffsetCommit', { groupId: 'g2', memberId: a.memberId, memberEpoch: a.epoch, topics: [{ topic: 'ev', partitions: [{ partition: notMine, offset: 9, metadata: null }] }] })
  t.equal(steal.topics[0]!.partitions[0]!.errorCode, code('ILLEGAL_GENERATION'), 'a member cannot commit for a partition it does not own')
  // a goes silent; b keeps beating and takes over after the session timeout.
  const deadline = Date.now() + 5000
  while (b.owned.length < 2 && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 100))
    await b.beat()
  }
  t.equal(b.owned.length, 2, 'the survivor owns everything after the session timeout')
  const zombie = await c.response(c.send('OffsetCommit', { groupId: 'g2', memberId: a.memberId, memberEpoch: a.epoch, topics: [{ topic: 'ev', partitions: [{ partition: 0, offset: 7, metadata: null }] }] }))
  t.equal(zombie.body.errorCode, code('UNKNOWN_MEMBER_ID'), "the evicted zombie's commit is rejected")
  const zb = await a.beat()
  t.equal(zb.errorCode, code('UNKNOWN_MEMBER_ID'), 'its heartbeat tells it to rejoin')
  const fenced = await c.response(c.send('OffsetCommit', { groupId: 'g2', memberId: b.memberId, memberEpoch: b.epoch + 5, topics: [] }))
  t.equal(fenced.body.errorCode, code('FENCED_MEMBER_EPOCH'))
})

t.test('static membership: a quick restart moves nothing', async t => {
  const broker = await startBroker(t)
  const c = await RawClient.connect(broker.ports.native!)
  t.teardown(() => c.close())
  await c.call('CreateTopics', { topics: [{ topic: 'st', partitions: 4 }] })
  const a = new Member(c, 'g3', ['st'], { instanceId: 'node-a' })
  const b = new Member(c, 'g3', ['st'], { instanceId: 'node-b' })
  await settle(t, [a, b])
  const aOwned = [...a.owned]
  await c.call('GroupHeartbeat', { groupId: 'g3', memberId: a.memberId, memberEpoch: -2, instanceId: 'node-a', subscribedTopics: null, ownedPartitions: null })
  await b.beat()
  t.equal(b.owned.length, 2, 'the other member did not take the absent static member\'s partitions')
  const a2 = new Member(c, 'g3', ['st'], { instanceId: 'node-a' })
  await settle(t, [a2, b])
  t.same(a2.owned, aOwned, 'the restarted static member got its partitions back')
})

t.test('offsets: fetch, admin reset only when empty, delete; all survive a restart', async t => {
  const first = await startBroker(t)
  const dataDir = first.config.dataDir
  const c = await RawClient.connect(first.ports.native!)
  await c.call('CreateTopics', { topics: [{ topic: 'off', partitions: 2 }] })
  const m = new Member(c, 'g4', ['off'])
  await settle(t, [m])
  await c.call('OffsetCommit', { groupId: 'g4', memberId: m.memberId, memberEpoch: m.epoch, topics: [{ topic: 'off', partitions: [{ partition: 0, offset: 3, metadata: 'x' }, { partition: 1, offset: 4, metadata: null }] }] })
  const fetched = await c.call('OffsetFetch', { groupId: 'g4', topics: null })
  t.same(fetched.topics[0]!.partitions.map(p => [p.partition, p.offset]), [[0, 3], [1, 4]])
  const busy = await c.call('OffsetCommit', { groupId: 'g4', memberId: '', memberEpoch: -1, topics: [{ topic: 'off', partitions: [{ partition: 0, offset: 0, metadata: null }] }] })
  t.equal(busy.errorCode, code('NON_EMPTY_GROUP'), 'reset refused while the group has members')
  const del = await c.call('DeleteGroups', { groupIds: ['g4'] })
  t.equal(del.groups[0]!.errorCode, code('NON_EMPTY_GROUP'))
  const memberId = m.memberId
  const epoch = m.epoch
  c.close()
  await first.close()

  const second = await startBroker(t, { dataDir })
  const c2 = await RawClient.connect(second.ports.native!)
  t.teardown(() => c2.close())
  const again = await c2.call('OffsetFetch', { groupId: 'g4', topics: [{ topic: 'off', partitions: [0, 1] }] })
  t.same(again.topics[0]!.partitions.map(p => p.offset), [3, 4], 'committed offsets survive a restart')
  const resumed = await c2.call('GroupHeartbeat', { groupId: 'g4', memberId, memberEpoch: epoch, instanceId: null, subscribedTopics: null, ownedPartitions: null })
  t.equal(resumed.errorCode, 0, 'the member resumes with its id and epoch after the restart')
  t.same(flat(resumed.assignment), ['off:0', 'off:1'], 'with its partitions')
  await c2.call('GroupHeartbeat', { groupId: 'g4', memberId, memberEpoch: resumed.memberEpoch, instanceId: null, subscribedTopics: null, ownedPartitions: null })
  await c2.call('GroupHeartbeat', { groupId: 'g4', memberId, memberEpoch: -1, instanceId: null, subscribedTopics: null, ownedPartitions: null })
  const reset = await c2.call('OffsetCommit', { groupId: 'g4', memberId: '', memberEpoch: -1, topics: [{ topic: 'off', partitions: [{ partition: 0, offset: 0, metadata: null }] }] })
  t.equal(reset.topics[0]!.partitions[0]!.errorCode, 0, 'reset accepted once the group is empty')
  const gone = await c2.call('DeleteGroups', { groupIds: ['g4', 'never'] })
  t.same(gone.groups.map(g => g.errorCode), [0, code('GROUP_ID_NOT_FOUND')])
  const after = await c2.call('OffsetFetch', { groupId: 'g4', topics: [{ topic: 'off', partitions: [0] }] })
  t.equal(after.topics[0]!.partitions[0]!.offset, -1, 'a deleted group has no offsets')
})

t.test('a session shorter than the heartbeat interval gets a heartbeat interval that fits in it', async t => {
  const broker = await startBroker(t, { groupHeartbeatIntervalMs: 3000 })
  const c = await RawClient.connect(broker.ports.native!)
  t.teardown(() => c.close())
  await c.call('CreateTopics', { topics: [{ topic: 'hb', partitions: 1 }] })
  const short = new Member(c, 'g-hb', ['hb'], { sessionTimeoutMs: 2000 })
  await settle(t, [short])
  const r = await short.beat()
  t.equal(r.heartbeatIntervalMs, 666, 'a third of the 2 s session, not the 3 s group interval')
  const long = new Member(c, 'g-hb2', ['hb'], { sessionTimeoutMs: 30_000 })
  await settle(t, [long])
  t.equal((await long.beat()).heartbeatIntervalMs, 3000, 'a long session keeps the group interval')
})

t.test('deleting a topic drops the offsets groups committed for it (a topic created again starts empty)', async t => {
  const broker = await startBroker(t)
  const c = await RawClient.connect(broker.ports.native!)
  t.teardown(() => c.close())
  await c.call('CreateTopics', { topics: [{ topic: 'again', partitions: 2 }, { topic: 'kept', partitions: 1 }] })
  await c.call('OffsetCommit', { groupId: 'g-del', memberId: '', memberEpoch: -1, topics: [{ topic: 'again', partitions: [{ partition: 0, offset: 206, metadata: null }] }, { topic: 'kept', partitions: [{ partition: 0, offset: 3, metadata: null }] }] })
  await c.call('DeleteTopics', { topics: ['again'] })
  await c.call('CreateTopics', { topics: [{ topic: 'again', partitions: 2 }] })
  const fetched = await c.call('OffsetFetch', { groupId: 'g-del', topics: [{ topic: 'again', partitions: [0] }, { topic: 'kept', partitions: [0] }] })
  t.same(fetched.topics.map(x => [x.topic, x.partitions[0]!.offset]), [['again', -1], ['kept', 3]], 'the deleted topic\'s offset is gone, the other stays')
  const dataDir = broker.config.dataDir
  c.close()
  await broker.close()
  const second = await startBroker(t, { dataDir })
  const c2 = await RawClient.connect(second.ports.native!)
  t.teardown(() => c2.close())
  const again = await c2.call('OffsetFetch', { groupId: 'g-del', topics: [{ topic: 'again', partitions: [0] }] })
  t.equal(again.topics[0]!.partitions[0]!.offset, -1, 'and stays gone after a restart')
})
