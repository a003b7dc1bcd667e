/**
 * The user database: one SCRAM credential per user and mechanism (salt, iteration count,
 * StoredKey, ServerKey — never the password), in `<dataDir>/security/users.json`:
 *
 *   { "version": 1,
 *     "users": { "alice": { "createdAtMs": 1760000000000, "updatedAtMs": 1760000000000,
 *       "scram": { "SCRAM-SHA-256": { "salt": "<base64>", "iterations": 4096,
 *                                      "storedKey": "<base64>", "serverKey": "<base64>" },
 *                  "SCRAM-SHA-512": { ... } } } } }
 *
 * SCRAM uses the stored keys directly. PLAIN and MQTT passwords are checked against them:
 * SaltedPassword = PBKDF2(password, salt, i), ClientKey = HMAC(SaltedPassword, "Client Key"),
 * and H(ClientKey) must equal StoredKey (constant-time). Written and reloaded as described
 * in secure-file.ts: the CLI may add a user while the broker runs, and the broker sees it
 * at the user's next authentication.
 */

import { timingSafeEqual } from 'node:crypto'
import path from 'node:path'
import type { Logger } from 'pino'
import { InvalidArgumentError, UserAlreadyExistsError, UserNotFoundError } from '../../protocol/errors.js'
import { base64Decode, base64Encode } from '../../protocol/sasl/encoding.js'
import {
  SCRAM_MAX_ITERATIONS, SCRAM_MECHANISMS, SCRAM_MIN_ITERATIONS, checkIterations, saltedPassword, scramCredential, scramKeys,
  type ScramCredential, type ScramMechanism,
} from '../../protocol/sasl/scram.js'
import { nodeSaslCrypto } from '../../platform/sasl-crypto-node.js'
import { WatchedJsonFile, asInt, asObject, asString, asVersion, invalid, securityDir } from './secure-file.js'

export const SCRAM_MECHANISM_NAMES: readonly ScramMechanism[] = ['SCRAM-SHA-256', 'SCRAM-SHA-512']

/** What the SASL server needs from a user database. */
export interface CredentialSource {
  getScramCredential (user: string, mechanism: ScramMechanism): ScramCredential | undefined
  /** True when `password` is the user's password; false for a wrong password or an unknown user. */
  verifyPassword (user: string, password: string): Promise<boolean>
}

export interface UserRecord {
  readonly createdAtMs: number
  readonly updatedAtMs: number
  readonly scram: ReadonlyMap<ScramMechanism, ScramCredential>
}

/** Options of a new password: PBKDF2 iterations and the mechanisms it gets credentials for. */
export interface PasswordOptions { iterations?: number, mechanisms?: readonly ScramMechanism[] }

/**
 * A user database: the data directory's users.json (CredentialStore) on a single broker, the
 * cluster's etcd documents (ClusterUserStore, cluster-users.ts) in cluster mode.
 */
export interface UserStore extends CredentialSource {
  /** Where the users live, for messages (a file path, or the cluster). */
  readonly location: string
  /** PBKDF2 iterations of new passwords (also the decoy work for unknown users). */
  readonly iterations: number
  addUser (name: string, password: string, options?: PasswordOptions): Promise<void>
  changePassword (name: string, password: string, options?: PasswordOptions): Promise<void>
  deleteUser (name: string): void | Promise<void>
  hasUser (name: string): boolean
  listUsers (): UserInfo[]
}

type Users = ReadonlyMap<string, UserRecord>

export interface UserInfo {
  readonly name: string
  readonly mechanisms: ReadonlyArray<{ readonly mechanism: ScramMechanism, readonly iterations: number }>
  readonly createdAtMs: number
  readonly updatedAtMs: number
}

export interface CredentialStoreOptions {
  readonly dataDir: string
  /** PBKDF2 iterations for new passwords (default 4096; 4096 to 1,000,000). */
  readonly iterations?: number
  /** Mechanisms a new password gets credentials for (default both SCRAM mechanisms). */
  readonly mechanisms?: readonly ScramMechanism[]
  readonly logger?: Logger
  readonly now?: () => number
}

/** A user name: 1-255 characters, no control characters, and not the ACL wildcard `*`. */
export function validateUserName (name: string): void {
  if (name.length === 0 || name.length > 255) throw new InvalidArgumentError('user name must be 1 to 255 characters')
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new InvalidArgumentError('user name may not contain control characters')
  if (name === '*') throw new InvalidArgumentError('"*" is the ACL wildcard and cannot be a user name')
}

function validatePassword (password: string): void {
  if (password.length === 0) throw new InvalidArgumentError('password is empty')
  if (password.length > 1024) throw new InvalidArgumentError('password is longer than 1024 characters')
}

function parseCredential (v: unknown, file: string, where: string, mechanism: ScramMechanism): ScramCredential {
  const o = asObject(v, file, where)
  const keyLength = SCRAM_MECHANISMS[mechanism].keyLength
  const bytes = (field: string, length?: number): Uint8Array => {
    const b = base64Decode(asString(o[field], file, `${where}.${field}`))
    if (b === null || b.length === 0) throw invalid(file, `${where}.${field}`, 'expected non-empty base64')
    if (length !== undefined && b.length !== length) throw invalid(file, `${where}.${field}`, `expected ${length} bytes, got ${b.length}`)
    return b
  }
  return {
    salt: bytes('salt'),
    iterations: asInt(o.iterations, file, `${where}.iterations`, SCRAM_MIN_ITERATIONS, SCRAM_MAX_ITERATIONS),
    storedKey: bytes('storedKey', keyLength),
    serverKey: bytes('serverKey', keyLength),
  }
}

/** One user's record (`where` names it in errors), as stored in users.json or a cluster document. */
export function parseUserRecord (v: unknown, file: string, where: string): UserRecord {
  const u = asObject(v, file, where)
  const scram = new Map<ScramMechanism, ScramCredential>()
  for (const [mech, c] of Object.entries(asObject(u.scram, file, `${where}.scram`))) {
    if (mech !== 'SCRAM-SHA-256' && mech !== 'SCRAM-SHA-512') throw invalid(file, `${where}.scram`, `unknown mechanism ${JSON.stringify(mech)}`)
    scram.set(mech, parseCredential(c, file, `${where}.scram[${JSON.stringify(mech)}]`, mech))
  }
  if (scram.size === 0) throw invalid(file, `${where}.scram`, 'no credentials')
  return {
    createdAtMs: asInt(u.createdAtMs, file, `${where}.createdAtMs`, 0, Number.MAX_SAFE_INTEGER),
    updatedAtMs: asInt(u.updatedAtMs, file, `${where}.updatedAtMs`, 0, Number.MAX_SAFE_INTEGER),
    scram,
  }
}

/** The JSON form of a user's record (what parseUserRecord reads back). */
export function serializeUserRecord (u: UserRecord): Record<string, unknown> {
  const scram: Record<string, unknown> = {}
  for (const [mech, c] of u.scram) {
    scram[mech] = { salt: base64Encode(c.salt), iterations: c.iterations, storedKey: base64Encode(c.storedKey), serverKey: base64Encode(c.serverKey) }
  }
  return { createdAtMs: u.createdAtMs, updatedAtMs: u.updatedAtMs, scram }
}

function parseUsers (json: unknown, file: string): Users {
  const root = asObject(json, file, '(top level)')
  asVersion(root, file)
  const users = new Map<string, UserRecord>()
  for (const [name, v] of Object.entries(asObject(root.users, file, 'users'))) {
    const where = `users[${JSON.stringify(name)}]`
    try { validateUserName(name) } catch (err) { throw invalid(file, where, (err as Error).message) }
    users.set(name, parseUserRecord(v, file, where))
  }
  return users
}

function serializeUsers (users: Users): unknown {
  const out: Record<string, unknown> = {}
  for (const [name, u] of [...users].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) out[name] = serializeUserRecord(u)
  return { version: 1, users: out }
}

/** What `spool user list` shows of a user. */
export function userInfo (name: string, u: UserRecord): UserInfo {
  return {
    name,
    mechanisms: [...u.scram].map(([mechanism, c]) => ({ mechanism, iterations: c.iterations })),
    createdAtMs: u.createdAtMs,
    updatedAtMs: u.updatedAtMs,
  }
}

/** New SCRAM credentials for a password (validated: 1-1024 characters). */
export async function deriveCredentials (password: string, iterations: number, mechanisms: readonly ScramMechanism[]): Promise<Map<ScramMechanism, ScramCredential>> {
  validatePassword(password)
  checkIterations(iterations)
  if (mechanisms.length === 0) throw new InvalidArgumentError('at least one SCRAM mechanism is needed')
  const scram = new Map<ScramMechanism, ScramCredential>()
  for (const m of mechanisms) scram.set(m, await scramCredential(nodeSaslCrypto, m, password, iterations))
  return scram
}

// A fixed salt for the decoy derivation of an unknown user (PLAIN, MQTT): the same work as
// for a real one, so response time does not tell whether a user exists.
const DECOY_SALT = new Uint8Array(32).fill(0x5a)

/**
 * True when `password` is the password of the user `u` (false for an unknown user, after
 * the same work with a decoy salt, so response time does not tell whether a user exists).
 */
export async function verifyUserPassword (u: UserRecord | undefined, password: string, decoyIterations: number): Promise<boolean> {
  // SHA-256 when the user has it: the same answer as SHA-512, for less work.
  const mechanism: ScramMechanism = u === undefined || u.scram.has('SCRAM-SHA-256') ? 'SCRAM-SHA-256' : 'SCRAM-SHA-512'
  const cred = u?.scram.get(mechanism)
  const salt = cred?.salt ?? DECOY_SALT
  const iterations = cred?.iterations ?? decoyIterations
  const keys = await scramKeys(nodeSaslCrypto, mechanism, await saltedPassword(nodeSaslCrypto, mechanism, password, salt, iterations))
  if (cred === undefined) return false
  return timingSafeEqual(keys.storedKey, cred.storedKey)
}

export class CredentialStore implements UserStore {
  readonly file: string
  readonly iterations: number
  readonly mechanisms: readonly ScramMechanism[]
  readonly #users: WatchedJsonFile<Users>
  readonly #now: () => number

  /** Opens (or starts empty) `<dataDir>/security/users.json`; a bad file throws SecurityFileInvalidError. */
  static open (options: CredentialStoreOptions): CredentialStore {
    return new CredentialStore(options)
  }

  private constructor (options: CredentialStoreOptions) {
    this.iterations = options.iterations ?? SCRAM_MIN_ITERATIONS
    checkIterations(this.iterations)
    this.mechanisms = options.mechanisms ?? SCRAM_MECHANISM_NAMES
    if (this.mechanisms.length === 0) throw new InvalidArgumentError('at least one SCRAM mechanism is needed')
    this.#now = options.now ?? Date.now
    this.file = path.join(securityDir(options.dataDir), 'users.json')
    this.#users = new WatchedJsonFile<Users>({
      file: this.file,
      parse: parseUsers,
      serialize: serializeUsers,
      empty: () => new Map(),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    })
  }

  get location (): string { return this.file }

  /** Every user's stored record (SCRAM credentials, never a password), by name: what an import into a cluster copies. */
  records (): ReadonlyMap<string, UserRecord> {
    this.refresh()
    return this.#users.value
  }

  /** Re-reads the file if another process changed it (done by every lookup). */
  refresh (): boolean {
    return this.#users.refresh()
  }

  /** The error of the last reload that failed (the previous users stay in force), or null. */
  get lastError (): Error | null { return this.#users.lastError }

  async addUser (name: string, password: string, options: { iterations?: number, mechanisms?: readonly ScramMechanism[] } = {}): Promise<void> {
    validateUserName(name)
    this.refresh()
    if (this.#users.value.has(name)) throw new UserAlreadyExistsError(`user ${name} already exists`)
    const scram = await this.#derive(password, options)
    this.#users.update(users => {
      if (users.has(name)) throw new UserAlreadyExistsError(`user ${name} already exists`)
      const now = this.#now()
      return { value: new Map(users).set(name, { createdAtMs: now, updatedAtMs: now, scram }), result: undefined }
    })
  }

  /** Replaces the password: new salts and keys for the user's mechanisms (or `options.mechanisms`). */
  async changePassword (name: string, password: string, options: { iterations?: number, mechanisms?: readonly ScramMechanism[] } = {}): Promise<void> {
    this.refresh()
    const existing = this.#users.value.get(name)
    if (existing === undefined) throw new UserNotFoundError(`user ${name} does not exist`)
    const scram = await this.#derive(password, { mechanisms: options.mechanisms ?? [...existing.scram.keys()], ...(options.iterations === undefined ? {} : { iterations: options.iterations }) })
    this.#users.update(users => {
      const u = users.get(name)
      if (u === undefined) throw new UserNotFoundError(`user ${name} does not exist`)
      return { value: new Map(users).set(name, { createdAtMs: u.createdAtMs, updatedAtMs: this.#now(), scram }), result: undefined }
    })
  }

  /** Stores a credential computed elsewhere (an import from Kafka, a test vector); creates the user if needed. */
  putCredential (name: string, mechanism: ScramMechanism, credential: ScramCredential): void {
    validateUserName(name)
    checkIterations(credential.iterations)
    const keyLength = SCRAM_MECHANISMS[mechanism].keyLength
    if (credential.storedKey.length !== keyLength || credential.serverKey.length !== keyLength || credential.salt.length === 0) {
      throw new InvalidArgumentError(`${mechanism} keys must be ${keyLength} bytes and the salt non-empty`)
    }
    this.#users.update(users => {
      const now = this.#now()
      const u = users.get(name)
      const scram = new Map(u?.scram ?? []).set(mechanism, credential)
      return { value: new Map(users).set(name, { createdAtMs: u?.createdAtMs ?? now, updatedAtMs: now, scram }), result: undefined }
    })
  }

  deleteUser (name: string): void {
    this.#users.update(users => {
      if (!users.has(name)) throw new UserNotFoundError(`user ${name} does not exist`)
      const next = new Map(users)
      next.delete(name)
      return { value: next, result: undefined }
    })
  }

  hasUser (name: string): boolean {
    this.refresh()
    return this.#users.value.has(name)
  }

  listUsers (): UserInfo[] {
    this.refresh()
    return [...this.#users.value].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([name, u]) => userInfo(name, u))
  }

  getScramCredential (name: string, mechanism: ScramMechanism): ScramCredential | undefined {
    this.refresh()
    return this.#users.value.get(name)?.scram.get(mechanism)
  }

  async verifyPassword (name: string, password: string): Promise<boolean> {
    this.refresh()
    return verifyUserPassword(this.#users.value.get(name), password, this.iterations)
  }

  async #derive (password: string, options: PasswordOptions): Promise<Map<ScramMechanism, ScramCredential>> {
    return deriveCredentials(password, options.iterations ?? this.iterations, options.mechanisms ?? this.mechanisms)
  }
}
