/**
 * A map for the common case of one entry (a device's single subscription): the entry is held
 * inline and a real Map is made only for a second one. An empty or one-entry SmallMap costs
 * an object of four fields instead of a Map and its hash table (~250 bytes), which matters
 * when a broker holds tens of thousands of sessions.
 *
 * Iteration order is insertion order, as for Map. Not safe to mutate while iterating
 * `values()` (callers copy first, as they would for a Map they change).
 */

export class SmallMap<K, V> {
  #key: K | undefined = undefined
  #value: V | undefined = undefined
  #has = false
  #map: Map<K, V> | null = null

  get size (): number {
    return this.#map !== null ? this.#map.size : this.#has ? 1 : 0
  }

  get (key: K): V | undefined {
    if (this.#map !== null) return this.#map.get(key)
    return this.#has && this.#key === key ? this.#value : undefined
  }

  has (key: K): boolean {
    if (this.#map !== null) return this.#map.has(key)
    return this.#has && this.#key === key
  }

  set (key: K, value: V): this {
    if (this.#map !== null) {
      this.#map.set(key, value)
    } else if (!this.#has || this.#key === key) {
      this.#key = key
      this.#value = value
      this.#has = true
    } else {
      this.#map = new Map([[this.#key as K, this.#value as V], [key, value]])
      this.#key = this.#value = undefined
      this.#has = false
    }
    return this
  }

  delete (key: K): boolean {
    if (this.#map !== null) return this.#map.delete(key)
    if (!this.#has || this.#key !== key) return false
    this.#key = this.#value = undefined
    this.#has = false
    return true
  }

  * keys (): IterableIterator<K> {
    if (this.#map !== null) yield * this.#map.keys()
    else if (this.#has) yield this.#key as K
  }

  * values (): IterableIterator<V> {
    if (this.#map !== null) yield * this.#map.values()
    else if (this.#has) yield this.#value as V
  }
}
