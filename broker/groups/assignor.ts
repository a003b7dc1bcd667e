/**
 * The coordinator's server-side assignor: a sticky, uniform assignment of partitions to the
 * members that subscribe to their topics (KIP-848's "uniform" assignor in spirit). Pure:
 * given the members, their subscriptions, the topics' partition counts and the previous
 * target, it returns the new target.
 *
 * Steps, each deterministic (members taken in id order):
 *  1. keep every previous pair whose member still subscribes to the topic and whose
 *     partition still exists;
 *  2. take partitions away from members above their fair share, newest-kept last, until no
 *     member holds more than ceil(eligible / members) of what it could hold;
 *  3. give each unassigned partition to the eligible member holding the fewest;
 *  4. move single partitions from the fullest to the emptiest eligible member while the
 *     difference is more than one (bounded by the partition count).
 * Partitions that do not move are never revoked, so a join or a leave only touches the
 * partitions that must change hands.
 */

/** `topic:partition` (topic names cannot contain ':'). */
export type TopicPartition = string

export function tpKey (topic: string, partition: number): TopicPartition {
  return `${topic}:${partition}`
}

export function tpParse (key: TopicPartition): { topic: string, partition: number } {
  const i = key.lastIndexOf(':')
  return { topic: key.slice(0, i), partition: Number(key.slice(i + 1)) }
}

export interface AssignorMember {
  memberId: string
  subscribedTopics: readonly string[]
}

export type Assignment = Map<string, Set<TopicPartition>>

export function assignPartitions (
  members: readonly AssignorMember[],
  partitionCounts: ReadonlyMap<string, number>,
  previous: ReadonlyMap<string, ReadonlySet<TopicPartition>>,
): Assignment {
  const ids = members.map(m => m.memberId).sort()
  const subs = new Map(members.map(m => [m.memberId, new Set(m.subscribedTopics)]))
  const result: Assignment = new Map(ids.map(id => [id, new Set<TopicPartition>()]))
  const owner = new Map<TopicPartition, string>()

  // Every partition some member subscribes to, with who may hold it.
  const eligible = new Map<TopicPartition, string[]>()
  const topics = [...new Set(members.flatMap(m => m.subscribedTopics))].sort()
  for (const topic of topics) {
    const count = partitionCounts.get(topic) ?? 0
    const who = ids.filter(id => subs.get(id)!.has(topic))
    for (let p = 0; p < count; p++) eligible.set(tpKey(topic, p), who)
  }

  // 1. Stickiness.
  for (const id of ids) {
    for (const tp of previous.get(id) ?? []) {
      if (eligible.get(tp)?.includes(id) === true && !owner.has(tp)) {
        result.get(id)!.add(tp)
        owner.set(tp, id)
      }
    }
  }

  // 2. Fair-share cap: a member's share is its eligible partitions spread over everyone
  // eligible for them, rounded up.
  const cap = new Map<string, number>()
  for (const id of ids) {
    let share = 0
    for (const who of eligible.values()) if (who.includes(id)) share += 1 / who.length
    cap.set(id, Math.ceil(share - 1e-9))
  }
  for (const id of ids) {
    const held = [...result.get(id)!].sort()
    while (held.length > cap.get(id)!) {
      const tp = held.pop()!
      result.get(id)!.delete(tp)
      owner.delete(tp)
    }
  }

  // 3. Unassigned partitions to the least loaded eligible member.
  for (const [tp, who] of eligible) {
    if (owner.has(tp) || who.length === 0) continue
    let best = who[0]!
    for (const id of who) if (result.get(id)!.size < result.get(best)!.size) best = id
    result.get(best)!.add(tp)
    owner.set(tp, best)
  }

  // 4. Balance: move one partition at a time from a fuller to an emptier eligible member.
  for (let moves = 0; moves < eligible.size; moves++) {
    let moved = false
    for (const [tp, who] of [...eligible].sort((a, b) => (a[0] < b[0] ? 1 : -1))) {
      const from = owner.get(tp)
      if (from === undefined) continue
      let to: string | null = null
      for (const id of who) {
        if (result.get(from)!.size - result.get(id)!.size > 1 && (to === null || result.get(id)!.size < result.get(to)!.size)) to = id
      }
      if (to !== null) {
        result.get(from)!.delete(tp)
        result.get(to)!.add(tp)
        owner.set(tp, to)
        moved = true
        break
      }
    }
    if (!moved) break
  }
  return result
}
