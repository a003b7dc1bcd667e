/**
 * One Kafka API: its key, the versions Spool implements, the first flexible version, and
 * its request and response messages. `defineApi` turns the declarative field lists into
 * Message objects whose read/write work for every version in the range.
 */

import { MalformedFrameError, UnsupportedVersionError } from '../errors.js'
import { Reader } from '../bytes/reader.js'
import { Writer } from '../bytes/writer.js'
import { compileStruct } from './codec.js'
import type { StructPlan } from './codec.js'
import { versionRange } from './schema.js'
import type { Decoded, Encodable, Fields } from './schema.js'

export class Message<F extends Fields> {
  readonly name: string
  readonly fields: F
  readonly minVersion: number
  readonly maxVersion: number
  readonly flexibleFrom: number
  readonly #plans: Array<StructPlan | undefined> = []

  constructor (name: string, fields: F, minVersion: number, maxVersion: number, flexibleFrom: number) {
    this.name = name
    this.fields = fields
    this.minVersion = minVersion
    this.maxVersion = maxVersion
    this.flexibleFrom = flexibleFrom
  }

  /** The compiled plan of one version; UnsupportedVersionError outside the range. */
  plan (version: number): StructPlan {
    const cached = this.#plans[version]
    if (cached !== undefined) return cached
    if (!Number.isInteger(version) || version < this.minVersion || version > this.maxVersion) {
      throw new UnsupportedVersionError(`${this.name} v${version} is not supported (v${this.minVersion}-${this.maxVersion})`)
    }
    const plan = compileStruct(this.fields, version, version >= this.flexibleFrom)
    this.#plans[version] = plan
    return plan
  }

  /** Reads one message at the reader's position (the caller checks what follows). */
  read (version: number, r: Reader): Decoded<F> {
    return this.plan(version).read(r) as Decoded<F>
  }

  write (version: number, value: Encodable<F>, w: Writer): void {
    this.plan(version).write(w, value)
  }

  /** Decodes a whole buffer holding exactly one message body. */
  decode (version: number, bytes: Uint8Array): Decoded<F> {
    const r = new Reader(bytes)
    const value = this.read(version, r)
    r.expectEnd(`${this.name} v${version}`)
    return value
  }

  /** Encodes one message body into one buffer. */
  encode (version: number, value: Encodable<F>): Uint8Array {
    const w = new Writer()
    this.write(version, value, w)
    return w.toBytes()
  }
}

export interface KafkaApi<N extends string = string, K extends number = number, Req extends Fields = Fields, Res extends Fields = Fields> {
  readonly name: N
  readonly key: K
  readonly minVersion: number
  readonly maxVersion: number
  /** First flexible version (KIP-482), or Infinity when no implemented version is flexible. */
  readonly flexibleFrom: number
  readonly request: Message<Req>
  readonly response: Message<Res>
}

export interface ApiDefinition<N extends string, K extends number, Req extends Fields, Res extends Fields> {
  readonly name: N
  readonly key: K
  /** Versions Spool implements and advertises, e.g. '0-9'. */
  readonly versions: string
  /** Kafka's flexibleVersions for the API, e.g. '9+' or 'none'. */
  readonly flexibleVersions: string
  readonly request: Req
  readonly response: Res
}

export function defineApi<const N extends string, const K extends number, Req extends Fields, Res extends Fields> (
  def: ApiDefinition<N, K, Req, Res>,
): KafkaApi<N, K, Req, Res> {
  const range = versionRange(def.versions)
  const flexible = versionRange(def.flexibleVersions)
  const flexibleFrom = flexible.min <= flexible.max ? flexible.min : Infinity
  return {
    name: def.name,
    key: def.key,
    minVersion: range.min,
    maxVersion: range.max,
    flexibleFrom,
    request: new Message(`${def.name}Request`, def.request, range.min, range.max, flexibleFrom),
    response: new Message(`${def.name}Response`, def.response, range.min, range.max, flexibleFrom),
  }
}

/** Whether `version` of `api` uses the flexible (compact + tagged) forms. */
export function isFlexible (api: KafkaApi, version: number): boolean {
  return version >= api.flexibleFrom
}

/** Throws a MalformedFrameError naming the API when bytes remain after a message. */
export function expectEnd (r: Reader, api: KafkaApi, version: number, what: 'request' | 'response'): void {
  if (r.pos !== r.end) throw new MalformedFrameError(`${api.name} v${version} ${what}: ${r.end - r.pos} trailing bytes after the body`)
}
