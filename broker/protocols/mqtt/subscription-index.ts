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
 * Memory: a node holds its only child and its only value inline; a Map of children and a
 * Set of values are made when a second one comes (a device subscribed to `dev/<id>/cfg`
 * costs two small nodes and no hash table).
 */

import { SmallMap } from './small-map.js'

class TrieNode<T> {
  /** Made when the first child or value comes (a leaf has no children, an inner node often no values). */
  children: SmallMap<string, TrieNode<T>> | null = null
  values: SmallSet<T> | null = null
  constructor (readonly parent: TrieNode<T> | null, readonly level: string) {}
}

/** A set holding one value inline (most filters have one subscriber). */
class SmallSet<T> {
  #one: T | undefined = undefined
  #has = false
  #set: Set<T> | null = null

  get size (): number { return this.#set !== null ? this.#set.size : this.#has ? 1 : 0 }

  has (v: T): boolean { return this.#set !== null ? this.#set.has(v) : this.#has && this.#one === v }

  add (v: T): void {
    if (this.#set !== null) this.#set.add(v)
    else if (!this.#has) {
      this.#one = v
      this.#has = true
    } else if (this.#one !== v) {
      this.#set = new Set([this.#one as T, v])
      this.#one = undefined
      this.#has = false
    }
  }

  delete (v: T): boolean {
    if (this.#set !== null) return this.#set.delete(v)
    if (!this.#has || this.#one !== v) return false
    this.#one = undefined
    this.#has = false
    return true
  }

  /** Appends every value to `out` (no iterator object on the match path). */
  pushTo (out: T[]): void {
    if (this.#set !== null) for (const v of this.#set) out.push(v)
    else if (this.#has) out.push(this.#one as T)
  }
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
        ;(node.children ??= new SmallMap()).set(level, child)
      }
      node = child
    }
    const values = node.values ??= new SmallSet()
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
    if (children === null) {
      if (start > topic.length) node.values?.pushTo(out)
      return
    }
    if (!dollar) children.get('#')?.values?.pushTo(out)
    if (start > topic.length) {
      node.values?.pushTo(out)
      return
    }
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
