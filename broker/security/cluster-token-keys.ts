/**
 * The token signing keys of a cluster (docs/cluster.md, "Security"): one document per key,
 * `P/docs/token-keys/<kid>` = `{ "secret": "<base64, 32 bytes>", "createdAtMs", "retiredAtMs" }`,
 * held in every broker's metadata cache and followed through its watch — so a token issued
 * at any broker (its `/api/tokens`, or `spool token create --etcd-endpoints`) verifies at
 * every broker, and a rotation with --revoke-all made anywhere ends every older token
 * everywhere. The TokenService's rules (which key signs, when one is retired, when a retired
 * one is deleted) are the same as for the data directory's file; only the storage differs.
 *
 * Writes are compare-and-swap transactions, one per key: a new key only if its id is absent,
 * a retirement or a deletion at the revision read. Two brokers rotating at the same moment
 * both succeed in adding a key (ids are random) and both retire the old one; either new key
 * signs and both verify. A conflict on the old key's retirement is MetadataConflictError
 * (retriable): the TokenService then signs with whatever key the watch shows.
 *
 * The secrets are in etcd: whoever may read the cluster's keys there may forge tokens, as
 * with Kafka's delegation-token master key in ZooKeeper — restrict etcd (TLS, authentication)
 * to the brokers and their operators. Documents are untrusted input: one that does not check
 * (its id not a key id, a secret shorter than 32 bytes, times that are not whole
 * milliseconds) is left out, with one warning per document revision.
 */

import type { Logger } from 'pino'
import { ClusterDocumentInvalidError, MetadataUnavailableError } from '../../protocol/errors.js'
import { base64Decode, base64Encode } from '../../protocol/sasl/encoding.js'
import { followDocuments, type SharedDocuments } from './shared-documents.js'
import { MIN_TOKEN_SECRET_BYTES, TOKEN_KID, type TokenKey, type TokenKeyRing } from './tokens.js'

/** A document's value as the store hands it over: checked by decodeTokenKeyDocument. */
export function rawTokenKeyDocument (value: unknown): unknown {
  return value
}

function whole (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/** Checks a key document read from etcd (ClusterDocumentInvalidError naming the key and the fault). */
export function decodeTokenKeyDocument (kid: string, value: unknown): TokenKey {
  const bad = (why: string): ClusterDocumentInvalidError => new ClusterDocumentInvalidError(`token key document ${JSON.stringify(kid.slice(0, 80))}: ${why}`)
  if (!TOKEN_KID.test(kid)) throw bad('the key id is not 1-64 characters of [A-Za-z0-9_-]')
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('not a JSON object')
  const o = value as Record<string, unknown>
  const secret = typeof o.secret === 'string' ? base64Decode(o.secret) : null
  if (secret === null || secret.length < MIN_TOKEN_SECRET_BYTES) throw bad('secret must be base64 of at least 32 bytes')
  if (!whole(o.createdAtMs)) throw bad('createdAtMs must be a whole number of milliseconds')
  if (o.retiredAtMs !== null && o.retiredAtMs !== undefined && !whole(o.retiredAtMs)) throw bad('retiredAtMs must be null or a whole number of milliseconds')
  return { kid, secret, createdAtMs: o.createdAtMs, retiredAtMs: (o.retiredAtMs as number | null | undefined) ?? null }
}

function encode (k: TokenKey): { secret: string, createdAtMs: number, retiredAtMs: number | null } {
  return { secret: base64Encode(k.secret), createdAtMs: k.createdAtMs, retiredAtMs: k.retiredAtMs }
}

export class ClusterTokenKeys implements TokenKeyRing {
  readonly location = 'the cluster (etcd documents token-keys/<kid>)'
  readonly #logger: Logger | null
  readonly #keys = new Map<string, TokenKey>()
  /** Revisions of the documents left out, so each is reported once. */
  readonly #invalid = new Map<string, number>()
  #sorted: TokenKey[] = []
  #docs: SharedDocuments<unknown> | null = null
  #unwatch: () => void = () => {}

  constructor (options: { logger?: Logger } = {}) {
    this.#logger = options.logger ?? null
  }

  /** Connects to the cluster's key documents (once the broker has joined). */
  bind (docs: SharedDocuments<unknown>): void {
    this.#unwatch()
    this.#docs = docs
    this.#unwatch = followDocuments(docs, (kid, value, modRevision) => this.#apply(kid, value, modRevision))
  }

  keys (): readonly TokenKey[] { return this.#sorted }

  /** The watch keeps the keys current: nothing to read again. */
  refresh (): boolean { return false }

  /**
   * Writes the difference between the keys now and what `change` makes of them: new keys
   * (only if absent), changed ones and removed ones (at the revision read).
   */
  async update (change: (keys: readonly TokenKey[]) => { value: TokenKey[], result: string }): Promise<string> {
    const docs = this.#docs
    if (docs === null) throw new MetadataUnavailableError('the broker is still joining the cluster (token keys live in etcd); retry')
    const { value, result } = change(this.#sorted)
    const next = new Map(value.map(k => [k.kid, k]))
    for (const k of value) {
      const before = this.#keys.get(k.kid)
      if (before !== undefined && before.retiredAtMs === k.retiredAtMs) continue
      await docs.put(k.kid, encode(k), { expectedModRevision: docs.get(k.kid)?.modRevision ?? 0 })
    }
    for (const kid of [...this.#keys.keys()]) {
      if (next.has(kid)) continue
      const current = docs.get(kid)
      if (current !== undefined) await docs.delete(kid, { expectedModRevision: current.modRevision })
    }
    for (const doc of docs.list()) this.#apply(doc.key, doc.value, doc.modRevision)
    return result
  }

  close (): void {
    this.#unwatch()
    this.#unwatch = () => {}
  }

  #apply (kid: string, value: unknown, modRevision: number): void {
    if (value === null) {
      this.#keys.delete(kid)
      this.#invalid.delete(kid)
    } else {
      try {
        this.#keys.set(kid, decodeTokenKeyDocument(kid, value))
        this.#invalid.delete(kid)
      } catch (err) {
        this.#keys.delete(kid)
        if (this.#invalid.get(kid) !== modRevision) {
          this.#invalid.set(kid, modRevision)
          this.#logger?.warn({ key: kid, modRevision, err: (err as Error).message }, 'cluster token key document is not valid; left out (it verifies nothing)')
        }
      }
    }
    this.#sorted = [...this.#keys.values()].sort((a, b) => a.createdAtMs - b.createdAtMs || (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0))
  }
}
