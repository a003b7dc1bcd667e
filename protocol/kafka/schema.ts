/**
 * Declarative message schemas for the Kafka wire protocol.
 *
 * Each API's request and response is written once, as an object of fields in wire order.
 * A field says in which versions it exists, in which it may be null, and whether (and from
 * which version) it is a tagged field; `codec.ts` derives the encoder and decoder of every
 * version from that one description. This mirrors how Kafka itself describes its messages
 * (validVersions, flexibleVersions, nullableVersions, taggedVersions), so a schema can be
 * checked line by line against Kafka's message definitions.
 *
 * Version ranges are strings: '3+' (3 and up), '1-4' (1 to 4), '5' (only 5), 'none'.
 *
 * Decoded values always carry every field of the schema: a field absent from the decoded
 * version (or a tagged field not sent) holds its default. Values to encode may leave any
 * field out (it is then written as its default), and fields absent from the encoded version
 * are ignored, so one response object can be encoded at whichever version was asked for.
 *
 * Types: int64 is a JS number (exact to 2^53, larger values are rejected); uuid is 32 hex
 * digits; bytes and records decode to views into the frame; records may be given to the
 * encoder as a list of slices, which reach the output by reference (never copied).
 */

import { InvalidArgumentError } from '../errors.js'

export type Primitive =
  | 'bool' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'float64'
  | 'string' | 'bytes' | 'records' | 'uuid'

interface PrimitiveOut {
  bool: boolean
  int8: number
  int16: number
  uint16: number
  int32: number
  uint32: number
  int64: number
  float64: number
  string: string
  bytes: Uint8Array
  records: Uint8Array
  uuid: string
}

interface PrimitiveIn extends Omit<PrimitiveOut, 'records'> {
  records: Uint8Array | readonly Uint8Array[]
}

/** An inclusive version range; [1, 0] is empty. */
export interface VersionRange {
  readonly min: number
  readonly max: number
}

export const NO_VERSIONS: VersionRange = { min: 1, max: 0 }

/** Parses '3+', '1-4', '5' or 'none'. */
export function versionRange (text: string): VersionRange {
  if (text === 'none') return NO_VERSIONS
  let m = /^(\d+)\+$/.exec(text)
  if (m) return { min: Number(m[1]), max: Number.MAX_SAFE_INTEGER }
  m = /^(\d+)-(\d+)$/.exec(text)
  if (m) return { min: Number(m[1]), max: Number(m[2]) }
  m = /^(\d+)$/.exec(text)
  if (m) return { min: Number(m[1]), max: Number(m[1]) }
  throw new InvalidArgumentError(`not a version range: '${text}'`)
}

export function inRange (range: VersionRange | null, version: number): boolean {
  return range !== null && version >= range.min && version <= range.max
}

export interface FieldOptions {
  /** Versions the field exists in (default '0+'). */
  readonly versions?: string
  /** Versions in which the field may be null. */
  readonly nullable?: string
  /** Tag number, for a tagged field. */
  readonly tag?: number
  /** Versions in which the field is tagged (the field must have `tag`). */
  readonly taggedVersions?: string
  /** Value when absent; defaults to 0, false, '', empty bytes, an empty array, the zero uuid. */
  readonly default?: number | string | boolean | null
}

/** A struct: field names in wire order. */
export type Fields = { readonly [name: string]: FieldSpec<unknown, unknown> }

export type ElementSpec = Primitive | Fields

export interface FieldSpec<Out, In> {
  readonly kind: Primitive | 'array' | 'struct'
  readonly versions: VersionRange
  readonly nullable: VersionRange | null
  readonly tag: number | null
  readonly taggedVersions: VersionRange | null
  /** Explicit default (undefined: the type's zero value). */
  readonly defaultValue: number | string | boolean | null | undefined
  /** Element type of an array. */
  readonly element: ElementSpec | null
  /** Fields of a struct. */
  readonly fields: Fields | null
  /** Type carriers only; never set at run time. */
  readonly __out?: Out
  readonly __in?: In
}

type Nullable<T, O> = O extends { readonly nullable: string } ? T | null : T

/** The decoded type of a field. */
export type OutOf<F> = F extends FieldSpec<infer O, unknown> ? O : never
/** The type accepted by the encoder for a field. */
export type InOf<F> = F extends FieldSpec<unknown, infer I> ? I : never

/** A decoded struct: every field present. */
export type Decoded<F extends Fields> = { -readonly [K in keyof F]: OutOf<F[K]> }
/** A struct to encode: every field optional (absent = default). */
export type Encodable<F extends Fields> = { [K in keyof F]?: InOf<F[K]> }

type ElementOut<E> = E extends Primitive ? PrimitiveOut[E] : E extends Fields ? Decoded<E> : never
type ElementIn<E> = E extends Primitive ? PrimitiveIn[E] : E extends Fields ? Encodable<E> : never

function spec<Out, In> (
  kind: FieldSpec<Out, In>['kind'],
  o: FieldOptions | undefined,
  element: ElementSpec | null,
  fields: Fields | null,
): FieldSpec<Out, In> {
  const tagged = o?.taggedVersions !== undefined ? versionRange(o.taggedVersions) : null
  if ((tagged === null) !== (o?.tag === undefined)) throw new InvalidArgumentError('a tagged field needs both tag and taggedVersions')
  return {
    kind,
    versions: versionRange(o?.versions ?? '0+'),
    nullable: o?.nullable !== undefined ? versionRange(o.nullable) : null,
    tag: o?.tag ?? null,
    taggedVersions: tagged,
    defaultValue: o?.default,
    element,
    fields,
  }
}

type Prim<P extends Primitive, O> = FieldSpec<Nullable<PrimitiveOut[P], O>, Nullable<PrimitiveIn[P], O>>

export const bool = <const O extends FieldOptions = {}>(o?: O): Prim<'bool', O> => spec('bool', o, null, null)
export const int8 = <const O extends FieldOptions = {}>(o?: O): Prim<'int8', O> => spec('int8', o, null, null)
export const int16 = <const O extends FieldOptions = {}>(o?: O): Prim<'int16', O> => spec('int16', o, null, null)
export const uint16 = <const O extends FieldOptions = {}>(o?: O): Prim<'uint16', O> => spec('uint16', o, null, null)
export const int32 = <const O extends FieldOptions = {}>(o?: O): Prim<'int32', O> => spec('int32', o, null, null)
export const uint32 = <const O extends FieldOptions = {}>(o?: O): Prim<'uint32', O> => spec('uint32', o, null, null)
export const int64 = <const O extends FieldOptions = {}>(o?: O): Prim<'int64', O> => spec('int64', o, null, null)
export const float64 = <const O extends FieldOptions = {}>(o?: O): Prim<'float64', O> => spec('float64', o, null, null)
export const string = <const O extends FieldOptions = {}>(o?: O): Prim<'string', O> => spec('string', o, null, null)
export const bytes = <const O extends FieldOptions = {}>(o?: O): Prim<'bytes', O> => spec('bytes', o, null, null)
/** RecordBatch bytes: never decoded by the message codec, passed through as views. */
export const records = <const O extends FieldOptions = {}>(o?: O): Prim<'records', O> => spec('records', o, null, null)
export const uuid = <const O extends FieldOptions = {}>(o?: O): Prim<'uuid', O> => spec('uuid', o, null, null)

/** An array of a primitive type or of a struct given as its fields. */
export const array = <const E extends ElementSpec, const O extends FieldOptions = {}>(element: E, o?: O): FieldSpec<
  Nullable<Array<ElementOut<E>>, O>,
  Nullable<ReadonlyArray<ElementIn<E>>, O>
> => spec('array', o, element, null)

/** A nested struct (not an array), e.g. a tagged struct field. */
export const struct = <const F extends Fields, const O extends FieldOptions = {}>(fields: F, o?: O): FieldSpec<
  Decoded<F>,
  Encodable<F>
> => spec('struct', o, null, fields)
