/**
 * The cluster's documents of one kind (`P/docs/<kind>/<key>`) for a one-shot program — the
 * CLI's `spool user` and `spool acl` with `--etcd-endpoints` — that keeps no metadata cache:
 * one range read at open, reads from that snapshot, writes as the same conditioned etcd
 * transactions as DocumentStore (documents.ts; `expectedModRevision` 0 = only if absent), the
 * snapshot updated with each write's result. The brokers see the writes through their
 * watches. `watch` reports nothing (a snapshot does not follow etcd).
 */

import type { Etcd3, ICompare } from 'etcd3'
import { InvalidRequestError, MetadataConflictError } from '../../protocol/errors.js'
import { bytes, etcdCall, rev, utf8 } from './etcd.js'
import type { ClusterKeys, DocumentKind } from './keys.js'

interface Entry<T> { key: string, value: T, modRevision: number }

export class DocumentSnapshot<T> {
  readonly kind: DocumentKind
  readonly #client: Etcd3
  readonly #keys: ClusterKeys
  readonly #timeoutMs: number
  readonly #parse: (value: unknown) => T
  readonly #docs = new Map<string, Entry<T>>()

  private constructor (kind: DocumentKind, client: Etcd3, keys: ClusterKeys, timeoutMs: number, parse: (value: unknown) => T) {
    this.kind = kind
    this.#client = client
    this.#keys = keys
    this.#timeoutMs = timeoutMs
    this.#parse = parse
  }

  /** Reads every document of `kind` once; documents that do not parse are left out. */
  static async open<T> (kind: DocumentKind, client: Etcd3, keys: ClusterKeys, timeoutMs: number, parse: (value: unknown) => T): Promise<DocumentSnapshot<T>> {
    const s = new DocumentSnapshot(kind, client, keys, timeoutMs, parse)
    const prefix = `${keys.all}docs/${kind}/`
    const res = await etcdCall(`reading ${kind} documents`, timeoutMs, () => client.getAll().prefix(prefix).exec())
    for (const kv of res.kvs) {
      const parsed = keys.parse(utf8(kv.key))
      if (parsed?.kind !== 'document' || parsed.documentKind !== kind) continue
      try {
        s.#docs.set(parsed.key, { key: parsed.key, value: parse(JSON.parse(utf8(kv.value))), modRevision: rev(kv.mod_revision) })
      } catch {
        // a document that does not parse is skipped, as the brokers skip it
      }
    }
    return s
  }

  get (key: string): Entry<T> | undefined {
    return this.#docs.get(key)
  }

  list (): Array<Entry<T>> {
    return [...this.#docs.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  }

  async put (key: string, value: T, condition: { expectedModRevision?: number } = {}): Promise<number> {
    if (key === '') throw new InvalidRequestError('a document key cannot be empty')
    this.#parse(value)
    const k = bytes(this.#keys.document(this.kind, key))
    const res = await etcdCall(`writing ${this.kind} document`, this.#timeoutMs, () => this.#client.kv.txn({
      compare: compare(k, condition.expectedModRevision),
      success: [{ request_put: { key: k, value: bytes(JSON.stringify(value)) } }],
      failure: [],
    }))
    if (!res.succeeded) throw new MetadataConflictError(`${this.kind} document ${JSON.stringify(key)} is not at revision ${condition.expectedModRevision}`)
    const revision = rev(res.header.revision)
    this.#docs.set(key, { key, value, modRevision: revision })
    return revision
  }

  async delete (key: string, condition: { expectedModRevision?: number } = {}): Promise<boolean> {
    const k = bytes(this.#keys.document(this.kind, key))
    const res = await etcdCall(`deleting ${this.kind} document`, this.#timeoutMs, () => this.#client.kv.txn({
      compare: compare(k, condition.expectedModRevision),
      success: [{ request_delete_range: { key: k } }],
      failure: [],
    }))
    if (!res.succeeded) throw new MetadataConflictError(`${this.kind} document ${JSON.stringify(key)} is not at revision ${condition.expectedModRevision}`)
    this.#docs.delete(key)
    return Number(res.responses[0]?.response_delete_range.deleted ?? 0) > 0
  }

  watch (): () => void {
    return () => {}
  }
}

function compare (key: Buffer, expected: number | undefined): ICompare[] {
  if (expected === undefined) return []
  return [expected === 0
    ? { key, target: 'Create', result: 'Equal', create_revision: 0 }
    : { key, target: 'Mod', result: 'Equal', mod_revision: expected }]
}
