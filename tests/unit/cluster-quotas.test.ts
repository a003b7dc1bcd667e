// Quotas in cluster mode, the parts without etcd: the document key of each entity and back
// (only canonical keys), the checks of a document read from etcd (a bad one is a
// ClusterDocumentInvalidError naming the key), and ClusterQuotaStore over an in-memory
// stand-in for the cluster's documents: writes are conditioned on the revision read, changes
// made elsewhere reach QuotaManager (connections are throttled or freed from their next
// charge), and a document that does not check is left out, reported once per revision.
import t from 'tap'
import { pino } from 'pino'
import { ClusterQuotaStore, decodeQuotaDocument, encodeQuotaDocument, parseQuotaDocumentKey, quotaDocumentKey } from '../../broker/quotas/cluster-quotas.js'
import { QuotaManager } from '../../broker/quotas/quota-manager.js'
import { ANONYMOUS, INTERNAL_CALLER } from '../../broker/security/principal.js'
import type { SharedDocument, SharedDocuments } from '../../broker/security/shared-documents.js'
import { ALLOW_ALL } from '../../broker/services/access.js'
import { ClusterDocumentInvalidError, MetadataConflictError, MetadataUnavailableError } from '../../protocol/errors.js'
import { capturingLogger } from '../helpers/security.js'

const silent = pino({ level: 'silent' })

/** The cluster's documents of one kind, in memory: CAS as etcd does it, a watch of every change. */
class MemoryDocuments implements SharedDocuments<unknown> {
  readonly docs = new Map<string, SharedDocument<unknown>>()
  readonly #listeners: Array<(key: string, value: unknown, modRevision: number) => void> = []
  revision = 1

  get (key: string): SharedDocument<unknown> | undefined { return this.docs.get(key) }
  list (): Array<SharedDocument<unknown>> { return [...this.docs.values()].sort((a, b) => (a.key < b.key ? -1 : 1)) }

  async put (key: string, value: unknown, condition: { expectedModRevision?: number } = {}): Promise<number> {
    this.#check(key, condition)
    return this.external(key, value)
  }

  async delete (key: string, condition: { expectedModRevision?: number } = {}): Promise<boolean> {
    this.#check(key, condition)
    return this.external(key, null) > 0
  }

  watch (listener: (key: string, value: unknown, modRevision: number) => void): () => void {
    this.#listeners.push(listener)
    return () => { this.#listeners.splice(this.#listeners.indexOf(listener), 1) }
  }

  /** A write by someone else (another broker, the CLI, etcdctl): the watchers are told. */
  external (key: string, value: unknown): number {
    const rev = ++this.revision
    if (value === null) this.docs.delete(key)
    else this.docs.set(key, { key, value, modRevision: rev })
    for (const fn of [...this.#listeners]) fn(key, value, value === null ? 0 : rev)
    return rev
  }

  #check (key: string, condition: { expectedModRevision?: number }): void {
    const expected = condition.expectedModRevision
    if (expected === undefined) return
    const actual = this.docs.get(key)?.modRevision ?? 0
    if (actual !== expected) throw new MetadataConflictError(`${key} is at ${actual}, not ${expected}`)
  }
}

t.test('document keys: one per entity, canonical only', async t => {
  const cases: Array<[{ type: 'client-id' | 'principal' | 'group' | 'default', name: string | null }, string]> = [
    [{ type: 'client-id', name: 'replayer' }, 'client-id:replayer'],
    [{ type: 'client-id', name: '' }, 'client-id:'],
    [{ type: 'principal', name: 'User:alice' }, 'principal:User:alice'],
    [{ type: 'group', name: 'a:b/c' }, 'group:a:b/c'],
    [{ type: 'default', name: null }, 'default'],
  ]
  for (const [entity, key] of cases) {
    t.equal(quotaDocumentKey(entity), key)
    t.same(parseQuotaDocumentKey(key), entity, `${key} parses back`)
  }
  for (const bad of ['', 'planet:x', 'default:', 'default:x', 'principal:alice', 'group:', `client-id:${'x'.repeat(300)}`, 'client-id']) {
    t.throws(() => parseQuotaDocumentKey(bad), ClusterDocumentInvalidError, JSON.stringify(bad.slice(0, 40)))
  }
})

t.test('documents: round trip, and what does not check is a named error', async t => {
  const entry = { entity: { type: 'client-id' as const, name: 'bulk' }, limits: { produceBytesPerSec: 1000, requestsPerSec: 5 } }
  const stored = JSON.parse(JSON.stringify(encodeQuotaDocument(entry))) as unknown
  t.same(stored, { entity: { type: 'client-id', name: 'bulk' }, produceBytesPerSec: 1000, requestsPerSec: 5 }, 'as quotas.json holds an entry')
  t.same(decodeQuotaDocument('client-id:bulk', stored), entry, 'round trip')
  t.same(decodeQuotaDocument('client-id:bulk', { ...(stored as object), future: 1 }), entry, 'fields of a later version are ignored')
  const bad: Array<[string, unknown]> = [
    ['client-id:bulk', null], ['client-id:bulk', 'x'], ['client-id:bulk', []], ['client-id:bulk', {}],
    ['client-id:bulk', { entity: { type: 'client-id', name: 'bulk' } }],
    ['client-id:bulk', { entity: { type: 'client-id', name: 'other' }, produceBytesPerSec: 1 }],
    ['client-id:bulk', { entity: { type: 'client-id', name: 'bulk' }, produceBytesPerSec: 'fast' }],
    ['client-id:bulk', { entity: { type: 'client-id', name: 'bulk' }, produceBytesPerSec: 0 }],
    ['client-id:bulk', { entity: { type: 'client-id', name: 'bulk' }, fetchBytesPerSec: 1.5 }],
    ['client-id:bulk', { entity: { type: 'client-id', name: 7 }, fetchBytesPerSec: 1 }],
    ['nope', { entity: { type: 'client-id', name: 'bulk' }, fetchBytesPerSec: 1 }],
  ]
  for (const [key, value] of bad) {
    t.throws(() => decodeQuotaDocument(key, value), { name: 'ClusterDocumentInvalidError', code: 'CLUSTER_DOCUMENT_INVALID', message: new RegExp(`^quota document "${key}"`) }, `${key} ${JSON.stringify(value)}`)
  }
})

t.test('ClusterQuotaStore: CAS writes, changes from elsewhere reach the manager, bad documents left out and reported', async t => {
  const clock = { now: 1_000_000 }
  const captured = capturingLogger()
  const store = new ClusterQuotaStore({ logger: captured.logger })
  const quotas = new QuotaManager({ store, settings: { quotaWindowNum: 10, quotaWindowSizeMs: 100 }, access: ALLOW_ALL, logger: silent, now: () => clock.now })
  t.teardown(() => quotas.close())
  const set = (name: string, value: number | null): ReturnType<QuotaManager['alter']> =>
    quotas.alter(INTERNAL_CALLER, [{ entity: { type: 'client-id', name }, ops: [{ key: 'produceBytesPerSec', value }] }])

  const unbound = await set('bulk', 1000)
  t.ok(unbound[0]!.error instanceof MetadataUnavailableError, 'before the broker joined: METADATA_UNAVAILABLE')

  const docs = new MemoryDocuments()
  docs.external('client-id:early', encodeQuotaDocument({ entity: { type: 'client-id', name: 'early' }, limits: { fetchBytesPerSec: 10 } }))
  docs.external('client-id:broken', { entity: { type: 'client-id', name: 'broken' }, fetchBytesPerSec: -1 })
  store.bind(docs)
  t.same(store.list().map(e => e.entity.name), ['early'], 'documents present at bind are read; the bad one is left out')
  t.same(store.invalid.map(d => d.key), ['client-id:broken'], 'and reported')

  t.same((await set('bulk', 1000)).map(r => r.error), [null], 'set: written')
  t.same(docs.get('client-id:bulk')?.value, { entity: { type: 'client-id', name: 'bulk' }, produceBytesPerSec: 1000 })
  const bulk = { clientId: 'bulk', principal: ANONYMOUS, group: null }
  t.ok(quotas.charge(bulk, 'produce', 10_000) > 0, 'and enforced')

  // Another broker raises the limit: the manager resolves the connection's quotas again.
  docs.external('client-id:bulk', encodeQuotaDocument({ entity: { type: 'client-id', name: 'bulk' }, limits: { produceBytesPerSec: 1e12 } }))
  t.equal(quotas.charge(bulk, 'produce', 10_000), 0, 'a change made elsewhere applies from the next charge')
  docs.external('client-id:bulk', null)
  t.equal(store.get({ type: 'client-id', name: 'bulk' }), undefined, 'a deletion elsewhere removes it')

  // A write conditioned on a revision that moved on loses, with METADATA_CONFLICT.
  await set('race', 1000)
  const realPut = docs.put.bind(docs)
  docs.put = async (key, value, condition) => {
    docs.external(key, encodeQuotaDocument({ entity: { type: 'client-id', name: 'race' }, limits: { produceBytesPerSec: 7 } }))
    return realPut(key, value, condition)
  }
  const lost = await set('race', 2000)
  docs.put = realPut
  t.ok(lost[0]!.error instanceof MetadataConflictError, 'a concurrent change: METADATA_CONFLICT')
  t.same(store.get({ type: 'client-id', name: 'race' })?.limits, { produceBytesPerSec: 7 }, 'the store holds what won')

  // A valid quota overwritten with garbage stops limiting at once, and is reported once.
  const before = captured.lines.length
  docs.external('client-id:race', { entity: { type: 'client-id', name: 'race' }, produceBytesPerSec: 'lots' })
  t.equal(store.get({ type: 'client-id', name: 'race' }), undefined, 'an invalid version replaces the valid one: left out')
  t.equal(quotas.charge({ clientId: 'race', principal: ANONYMOUS, group: null }, 'produce', 1e9), 0, 'so it limits nobody')
  const warned = captured.lines.slice(before).filter(l => l.includes('cluster quota document is not valid'))
  t.equal(warned.length, 1, 'one warning')
  t.match(warned[0], /client-id:race/)
  t.match(warned[0], /CLUSTER_DOCUMENT_INVALID/)
  docs.external('client-id:other', encodeQuotaDocument({ entity: { type: 'client-id', name: 'other' }, limits: { requestsPerSec: 1 } }))
  t.equal(captured.lines.slice(before).filter(l => l.includes('cluster quota document is not valid')).length, 1, 'not repeated on other changes')
  t.same(store.invalid.map(d => d.key), ['client-id:broken', 'client-id:race'])
  t.same((await set('race', 3000)).map(r => r.error), [null], 'an invalid document can be overwritten (CAS at its revision)')
  t.same(store.invalid.map(d => d.key), ['client-id:broken'])
  t.same(store.list().map(e => `${e.entity.name}`), ['early', 'other', 'race'])
  store.close()
})
