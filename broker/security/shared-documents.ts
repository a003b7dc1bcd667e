/**
 * What the security code needs of the cluster's document store (broker/cluster/documents.ts,
 * `P/docs/<kind>/<key>` in etcd, every broker's metadata cache holding every document):
 * reads from memory, writes as etcd transactions conditioned on the revision the writer read
 * (`expectedModRevision`; 0 = only if absent), and a watch of changes. Declared here so
 * broker/security does not depend on broker/cluster; DocumentStore satisfies it as it is.
 */

export interface SharedDocument<T> { readonly key: string, readonly value: T, readonly modRevision: number }

export interface SharedDocuments<T> {
  get (key: string): SharedDocument<T> | undefined
  list (): Array<SharedDocument<T>>
  /** Resolves with the new revision once this broker's cache has it; MetadataConflictError when the condition fails. */
  put (key: string, value: T, condition?: { expectedModRevision?: number }): Promise<number>
  /** False when there was none; MetadataConflictError when the condition fails. */
  delete (key: string, condition?: { expectedModRevision?: number }): Promise<boolean>
  /** Every change (value null: deleted); returns the unsubscribe function. */
  watch (listener: (key: string, value: T | null, modRevision: number) => void): () => void
}

/**
 * Hands `apply` every document `docs` holds now, then every change its watch delivers (value
 * null: deleted); returns the function that stops following.
 */
export function followDocuments<T> (docs: SharedDocuments<T>, apply: (key: string, value: T | null, modRevision: number) => void): () => void {
  const unwatch = docs.watch(apply)
  for (const doc of docs.list()) apply(doc.key, doc.value, doc.modRevision)
  return unwatch
}
