/**
 * A trie of topic filters for fan-out: one node per level, with `+` and `#` as ordinary
 * children, so matching a topic name costs one walk over its levels whatever the number of
 * subscriptions. Values are whatever the caller files under a filter (subscriptions, share
 * groups); a value is filed once per filter.
 *
 * Matching honours [MQTT-4.7.2-1]: at the first level, `+` and `#` do not match a topic
 * starting with `$`; "a/#" also matches "a" [MQTT-4.7.1-2].
 *
 * Not safe to mutate during a `match` callback's use of `out` (callers copy or finish first).
 *
 * Memory: a node's children map and value set exist only when it has children or values (a
 * device subscribed to `dev/<id>/cfg` costs two nodes, one map and one set).
 */

class TrieNode<T> {
  children: Map<string, TrieNode<T>> | null = null
  values: Set<T> | null = null
  constructor (readonly parent: TrieNode<T> | null, readonly level: string) {}
}

export class SubscriptionIndex<T> {
  readonly #root = new TrieNode<T>(null, '')
  #size = 0

  /** Number of (filter, value) entries. */
  get size (): number { return this.#size }

  add (filter: string, value: T): void {
    let node = this.#root
    for (const level of filter.split('/')) {
      let child = node.children?.get(level)
      if (child === undefined) {
        child = new TrieNode(node, level)
        ;(node.children ??= new Map()).set(level, child)
      }
      node = child
    }
    const values = node.values ??= new Set()
    if (!values.has(value)) {
      values.add(value)
      this.#size++
    }
  }

  remove (filter: string, value: T): void {
    let node: TrieNode<T> | undefined = this.#root
    for (const level of filter.split('/')) {
      node = node.children?.get(level)
      if (node === undefined) return
    }
    if (node.values === null || !node.values.delete(value)) return
    this.#size--
    if (node.values.size === 0) node.values = null
    // Prune empty branches so the trie stays as small as the live filters.
    while (node.parent !== null && node.values === null && (node.children === null || node.children.size === 0)) {
      const parent: TrieNode<T> = node.parent
      parent.children!.delete(node.level)
      if (parent.children!.size === 0) parent.children = null
      node = parent
    }
  }

  /** Appends every value whose filter matches `topic` to `out` (a value may appear once per filter). */
  match (topic: string, out: T[]): void {
    this.#walk(this.#root, topic, 0, true, out)
  }

  #walk (node: TrieNode<T>, topic: string, start: number, first: boolean, out: T[]): void {
    const dollar = first && topic.charCodeAt(0) === 36
    const children = node.children
    if (!dollar && children !== null) {
      const hash = children.get('#')
      if (hash !== undefined && hash.values !== null) for (const v of hash.values) out.push(v)
    }
    if (start > topic.length) {
      if (node.values !== null) for (const v of node.values) out.push(v)
      return
    }
    if (children === null) return
    let end = topic.indexOf('/', start)
    if (end < 0) end = topic.length
    const exact = children.get(topic.slice(start, end))
    if (exact !== undefined) this.#walk(exact, topic, end + 1, false, out)
    if (!dollar) {
      const plus = children.get('+')
      if (plus !== undefined) this.#walk(plus, topic, end + 1, false, out)
    }
  }
}
