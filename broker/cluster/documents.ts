/**
 * Cluster-wide documents whose contents other parts of the broker define: ACLs, quotas and
 * users, each kind under `P/docs/<kind>/<key>` as JSON. Reads come from the metadata cache
 * (every broker has every document); writes go straight to etcd, optionally conditioned on the
 * revision the writer last saw (`expectedModRevision`; 0 = only if absent), which is how two
 * admins changing the same user do not overwrite each other. Any broker may write; these are
 * not controller state. `parse` checks a value (throw to reject it): a document that fails it
 * is skipped by readers, and a put that fails it is refused before it is sent.
 */

import type { Etcd3, ICompare } from 'etcd3'
import { InvalidRequestError, MetadataConflictError } from '../../protocol/errors.js'
import { bytes, etcdCall, rev } from './etcd.js'
import type { ClusterKeys, DocumentKind } from './keys.js'
import type { MetadataCache, MetadataChange } from './metadata-cache.js'

export interface StoredDocument<T> { key: string, value: T, modRevision: number }

export interface WriteCondition {
  /** Write only if the document is at this revision (0: only if it does not exist). */
  expectedModRevision?: number
}

export class DocumentStore<T> {
  readonly kind: DocumentKind
  readonly #client: Etcd3
  readonly #keys: ClusterKeys
  readonly #cache: MetadataCache
  readonly #timeoutMs: number
  readonly #parse: (value: unknown) => T

  constructor (kind: DocumentKind, client: Etcd3, keys: ClusterKeys, cache: MetadataCache, timeoutMs: number, parse: (value: unknown) => T) {
    this.kind = kind
    this.#client = client
    this.#keys = keys
    this.#cache = cache
    this.#timeoutMs = timeoutMs
    this.#parse = parse
  }

  get (key: string): StoredDocument<T> | undefined {
    const doc = this.#cache.documents(this.kind).get(key)
    if (doc === undefined) return undefined
    try {
      return { key, value: this.#parse(doc.value), modRevision: doc.modRevision }
    } catch {
      return undefined
    }
  }

  list (): Array<StoredDocument<T>> {
    const out: Array<StoredDocument<T>> = []
    for (const key of this.#cache.documents(this.kind).keys()) {
      const doc = this.get(key)
      if (doc !== undefined) out.push(doc)
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  }

  /** Writes the document; resolves with its new revision once this broker's cache has it. */
  async put (key: string, value: T, condition: WriteCondition = {}): Promise<number> {
    if (key === '') throw new InvalidRequestError('a document key cannot be empty')
    this.#parse(value)
    const k = bytes(this.#keys.document(this.kind, key))
    const res = await etcdCall(`writing ${this.kind} document`, this.#timeoutMs, () => this.#client.kv.txn({
      compare: this.#compare(k, condition),
      success: [{ request_put: { key: k, value: bytes(JSON.stringify(value)) } }],
      failure: [],
    }))
    if (!res.succeeded) throw new MetadataConflictError(`${this.kind} document ${JSON.stringify(key)} is not at revision ${condition.expectedModRevision}`)
    const revision = rev(res.header.revision)
    await this.#cache.waitForRevision(revision)
    return revision
  }

  /** Deletes the document; false when there was none. */
  async delete (key: string, condition: WriteCondition = {}): Promise<boolean> {
    const k = bytes(this.#keys.document(this.kind, key))
    const res = await etcdCall(`deleting ${this.kind} document`, this.#timeoutMs, () => this.#client.kv.txn({
      compare: this.#compare(k, condition),
      success: [{ request_delete_range: { key: k } }],
      failure: [],
    }))
    if (!res.succeeded) throw new MetadataConflictError(`${this.kind} document ${JSON.stringify(key)} is not at revision ${condition.expectedModRevision}`)
    const deleted = Number(res.responses[0]?.response_delete_range.deleted ?? 0) > 0
    if (deleted) await this.#cache.waitForRevision(rev(res.header.revision))
    return deleted
  }

  /** Calls `listener` for every change of this kind (value null: deleted). Returns the unsubscribe function. */
  watch (listener: (key: string, value: T | null, modRevision: number) => void): () => void {
    const onChange = (change: MetadataChange): void => {
      if (change.type !== 'documentChanged' || change.kind !== this.kind) return
      let value: T | null = null
      if (change.value !== null) {
        try {
          value = this.#parse(change.value)
        } catch {
          return // a value the parser rejects is skipped, as in get()
        }
      }
      listener(change.key, value, change.modRevision)
    }
    this.#cache.on('change', onChange)
    return () => { this.#cache.off('change', onChange) }
  }

  #compare (key: Buffer, condition: WriteCondition): ICompare[] {
    const expected = condition.expectedModRevision
    if (expected === undefined) return []
    return [expected === 0
      ? { key, target: 'Create', result: 'Equal', create_revision: 0 }
      : { key, target: 'Mod', result: 'Equal', mod_revision: expected }]
  }
}
