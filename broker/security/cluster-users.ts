/**
 * The user database of a cluster (docs/cluster.md, "Security"): one document per user,
 * `P/docs/users/<name>` in etcd, whose value is the user's record as users.json holds it
 * (`{ createdAtMs, updatedAtMs, scram: { "SCRAM-SHA-256": { salt, iterations, storedKey,
 * serverKey }, ... } }` — never the password). Every broker's metadata cache holds every
 * document, so lookups are in memory and a user written through one broker can log in at
 * any other once that broker's watch delivered it (milliseconds on a healthy etcd).
 *
 * Writes are compare-and-swap transactions: a new user only if its key is absent (two admins
 * creating the same user: one gets USER_ALREADY_EXISTS), a password change or a deletion only
 * if the document is still at the revision read (a concurrent change: METADATA_CONFLICT,
 * retriable). Until the broker has joined the cluster there are no users (nobody can log
 * in; the broker serves nothing before it joins anyway) and writes fail with
 * METADATA_UNAVAILABLE.
 */

import { MetadataConflictError, MetadataUnavailableError, UserAlreadyExistsError, UserNotFoundError } from '../../protocol/errors.js'
import { SCRAM_MIN_ITERATIONS, type ScramCredential, type ScramMechanism } from '../../protocol/sasl/scram.js'
import {
  SCRAM_MECHANISM_NAMES, deriveCredentials, parseUserRecord, serializeUserRecord, userInfo, validateUserName, verifyUserPassword,
  type PasswordOptions, type UserInfo, type UserRecord, type UserStore,
} from './credentials.js'
import type { SharedDocuments } from './shared-documents.js'

/** The JSON value of a user document. */
export type UserDocument = Readonly<Record<string, unknown>>

const WHERE = 'cluster user document'

/** Checks a user document's value (throws SecurityFileInvalidError naming the field); the parse of the document store. */
export function parseUserDocument (value: unknown): UserDocument {
  parseUserRecord(value, WHERE, 'value')
  return value as UserDocument
}

/** A user's record as its document's value. */
export function encodeUserDocument (record: UserRecord): UserDocument {
  return serializeUserRecord(record)
}

/** A document's value as the user's record. */
export function decodeUserDocument (value: UserDocument): UserRecord {
  return parseUserRecord(value, WHERE, 'value')
}

export class ClusterUserStore implements UserStore {
  readonly location = 'the cluster (etcd documents users/<name>)'
  readonly iterations: number
  readonly mechanisms: readonly ScramMechanism[]
  readonly #now: () => number
  #docs: SharedDocuments<UserDocument> | null = null

  constructor (options: { now?: () => number, iterations?: number, mechanisms?: readonly ScramMechanism[] } = {}) {
    this.#now = options.now ?? Date.now
    this.iterations = options.iterations ?? SCRAM_MIN_ITERATIONS
    this.mechanisms = options.mechanisms ?? SCRAM_MECHANISM_NAMES
  }

  /** Connects the store to the cluster's user documents (once the broker has joined). */
  bind (docs: SharedDocuments<UserDocument>): void {
    this.#docs = docs
  }

  get bound (): boolean { return this.#docs !== null }

  async addUser (name: string, password: string, options: PasswordOptions = {}): Promise<void> {
    validateUserName(name)
    const docs = this.#require()
    if (docs.get(name) !== undefined) throw new UserAlreadyExistsError(`user ${name} already exists`)
    const scram = await deriveCredentials(password, options.iterations ?? this.iterations, options.mechanisms ?? this.mechanisms)
    const now = this.#now()
    try {
      await docs.put(name, encodeUserDocument({ createdAtMs: now, updatedAtMs: now, scram }), { expectedModRevision: 0 })
    } catch (err) {
      // The key appeared between the check and the write: another broker created the user
      // (this broker's cache may not have it yet).
      if (err instanceof MetadataConflictError) throw new UserAlreadyExistsError(`user ${name} already exists`, { cause: err })
      throw err
    }
  }

  /**
   * Stores a user's record as it is (an import from a data directory's users.json: the same
   * SCRAM credentials, so the same password works), only if the cluster has no user of that
   * name; false when it has one (the cluster's is kept).
   */
  async importUser (name: string, record: UserRecord): Promise<boolean> {
    validateUserName(name)
    const docs = this.#require()
    if (docs.get(name) !== undefined) return false
    try {
      await docs.put(name, encodeUserDocument(record), { expectedModRevision: 0 })
      return true
    } catch (err) {
      if (err instanceof MetadataConflictError) return false
      throw err
    }
  }

  async changePassword (name: string, password: string, options: PasswordOptions = {}): Promise<void> {
    const docs = this.#require()
    const doc = docs.get(name)
    if (doc === undefined) throw new UserNotFoundError(`user ${name} does not exist`)
    const existing = decodeUserDocument(doc.value)
    const scram = await deriveCredentials(password, options.iterations ?? this.iterations, options.mechanisms ?? [...existing.scram.keys()])
    await docs.put(name, encodeUserDocument({ createdAtMs: existing.createdAtMs, updatedAtMs: this.#now(), scram }), { expectedModRevision: doc.modRevision })
  }

  async deleteUser (name: string): Promise<void> {
    const docs = this.#require()
    const doc = docs.get(name)
    if (doc === undefined || !await docs.delete(name, { expectedModRevision: doc.modRevision })) throw new UserNotFoundError(`user ${name} does not exist`)
  }

  hasUser (name: string): boolean {
    return this.#record(name) !== undefined
  }

  listUsers (): UserInfo[] {
    const out: UserInfo[] = []
    for (const doc of this.#docs?.list() ?? []) {
      const record = this.#record(doc.key)
      if (record !== undefined) out.push(userInfo(doc.key, record))
    }
    return out
  }

  getScramCredential (name: string, mechanism: ScramMechanism): ScramCredential | undefined {
    return this.#record(name)?.scram.get(mechanism)
  }

  verifyPassword (name: string, password: string): Promise<boolean> {
    return verifyUserPassword(this.#record(name), password, this.iterations)
  }

  #record (name: string): UserRecord | undefined {
    const doc = this.#docs?.get(name)
    if (doc === undefined) return undefined
    try {
      return decodeUserDocument(doc.value)
    } catch {
      return undefined // the store's parse already skips such documents; this is belt and braces
    }
  }

  #require (): SharedDocuments<UserDocument> {
    if (this.#docs === null) throw new MetadataUnavailableError('the broker is still joining the cluster (users live in etcd); retry')
    return this.#docs
  }
}
