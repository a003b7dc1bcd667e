/**
 * Derives the encoder and decoder of every version of a message from its schema.
 *
 * For each (struct, version) the schema is compiled once, on first use, into a plan: the
 * fields present in that version in wire order, each with a read and a write function
 * already specialised for the version (compact or classic forms, nullable or not), the
 * tagged fields by tag, and the smallest number of bytes one struct can take (used to bound
 * array counts). Decoding then is one loop over the plan per struct; nothing is looked up
 * by name or version on the hot path.
 *
 * Wire forms (KIP-482 for flexible versions): in a flexible version strings, bytes, records
 * and arrays use the compact forms (unsigned varint of length + 1, 0 = null) and every
 * struct ends with a tagged-field section: a uvarint count, then per field a uvarint tag,
 * a uvarint size and the field's bytes. Tagged fields equal to their default are not sent;
 * unknown tags are skipped.
 */

import { InvalidArgumentError, MalformedFrameError } from '../errors.js'
import type { Reader } from '../bytes/reader.js'
import { Writer } from '../bytes/writer.js'
import { inRange } from './schema.js'
import type { ElementSpec, FieldSpec, Fields, Primitive } from './schema.js'

type Read = (r: Reader) => unknown
type Write = (w: Writer, v: unknown) => void

/** A compiled type in one version. */
interface TypePlan {
  readonly read: Read
  readonly write: Write
  /** Fewest bytes a value takes on the wire. */
  readonly min: number
}

interface FieldPlan extends TypePlan {
  readonly name: string
  readonly spec: FieldSpec<unknown, unknown>
}

/** How a struct is built in one version: one step per schema field, in schema order. */
interface Step {
  readonly name: string
  /** Present and not tagged: read from the wire in this position. */
  readonly plan: FieldPlan | null
  readonly makeDefault: () => unknown
}

export interface StructPlan extends TypePlan {
  readonly steps: readonly Step[]
  readonly tagged: ReadonlyMap<number, FieldPlan>
}

const ZERO_UUID = '00000000000000000000000000000000'
const EMPTY = new Uint8Array(0)

function zeroOf (kind: Primitive): unknown {
  switch (kind) {
    case 'bool': return false
    case 'string': return ''
    case 'bytes': case 'records': return EMPTY
    case 'uuid': return ZERO_UUID
    default: return 0
  }
}

/** A fresh default value for a field (arrays and structs are new objects each time). */
export function defaultOf (spec: FieldSpec<unknown, unknown>): unknown {
  if (spec.defaultValue !== undefined) {
    if (spec.defaultValue === null) return null
    return spec.kind === 'array' ? [] : spec.defaultValue
  }
  if (spec.kind === 'array') return []
  if (spec.kind === 'struct') return defaultStruct(spec.fields!)
  return zeroOf(spec.kind)
}

function defaultStruct (fields: Fields): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const name of Object.keys(fields)) out[name] = defaultOf(fields[name]!)
  return out
}

/** Whether `v` equals the field's default (a tagged field is then not written). */
function isDefault (spec: FieldSpec<unknown, unknown>, v: unknown): boolean {
  if (v === undefined) return true
  const d = spec.defaultValue
  if (d === null) return v === null
  switch (spec.kind) {
    case 'array': return Array.isArray(v) && v.length === 0
    case 'bytes': case 'records': return v instanceof Uint8Array && v.length === 0
    case 'struct': {
      if (v === null || typeof v !== 'object') return false
      const fields = spec.fields!
      for (const name of Object.keys(fields)) if (!isDefault(fields[name]!, (v as Record<string, unknown>)[name])) return false
      return true
    }
    default: return v === (d !== undefined ? d : zeroOf(spec.kind))
  }
}

function nullNotAllowed (what: string): never {
  throw new MalformedFrameError(`${what} is null in a version where it may not be`)
}

function primitivePlan (kind: Primitive, nullable: boolean, flexible: boolean): TypePlan {
  switch (kind) {
    case 'bool': return { min: 1, read: r => r.bool(), write: (w, v) => w.bool(v as boolean) }
    case 'int8': return { min: 1, read: r => r.int8(), write: (w, v) => w.int8(v as number) }
    case 'int16': return { min: 2, read: r => r.int16(), write: (w, v) => w.int16(v as number) }
    case 'uint16': return { min: 2, read: r => r.uint16(), write: (w, v) => w.uint16(v as number) }
    case 'int32': return { min: 4, read: r => r.int32(), write: (w, v) => w.int32(v as number) }
    case 'uint32': return { min: 4, read: r => r.uint32(), write: (w, v) => w.uint32(v as number) }
    case 'int64': return { min: 8, read: r => r.int64(), write: (w, v) => w.int64(v as number) }
    case 'float64': return { min: 8, read: r => r.float64(), write: (w, v) => w.float64(v as number) }
    case 'uuid': return { min: 16, read: r => r.uuid(), write: (w, v) => w.uuid(v as string) }
    case 'string':
      if (flexible) {
        return nullable
          ? { min: 1, read: r => r.compactNullableString(), write: (w, v) => w.compactNullableString(v as string | null) }
          : { min: 1, read: r => r.compactString(), write: (w, v) => w.compactString(v as string) }
      }
      return nullable
        ? { min: 2, read: r => r.nullableString(), write: (w, v) => w.nullableString(v as string | null) }
        : { min: 2, read: r => r.string(), write: (w, v) => w.string(v as string) }
    case 'bytes':
      if (flexible) {
        return nullable
          ? { min: 1, read: r => r.compactNullableBytes(), write: (w, v) => w.compactNullableBytes(v as Uint8Array | null) }
          : { min: 1, read: r => r.compactBytes(), write: (w, v) => w.compactBytes(v as Uint8Array) }
      }
      return nullable
        ? { min: 4, read: r => r.nullableBytes(), write: (w, v) => w.nullableBytes(v as Uint8Array | null) }
        : { min: 4, read: r => r.bytes(), write: (w, v) => w.bytes(v as Uint8Array) }
    case 'records': return recordsPlan(nullable, flexible)
  }
}

/**
 * Records stay raw bytes: decoding returns a view of the frame, and encoding takes one
 * buffer or a list of slices, written after their length prefix by reference, so a fetch
 * response carries segment bytes to the socket without a copy.
 */
function recordsPlan (nullable: boolean, flexible: boolean): TypePlan {
  const read: Read = flexible
    ? (nullable ? r => r.compactNullableBytes() : r => r.compactBytes())
    : (nullable ? r => r.nullableBytes() : r => r.bytes())
  const write: Write = (w, v) => {
    if (v === null) {
      if (!nullable) throw new InvalidArgumentError('records are null in a version where they may not be')
      if (flexible) w.uvarint(0)
      else w.int32(-1)
      return
    }
    if (v instanceof Uint8Array) {
      if (flexible) w.uvarint(v.length + 1)
      else w.int32(v.length)
      w.ref(v)
      return
    }
    if (!Array.isArray(v)) throw new InvalidArgumentError('records must be a Uint8Array, a list of them, or null')
    let size = 0
    for (const part of v as unknown[]) {
      if (!(part instanceof Uint8Array)) throw new InvalidArgumentError('records slices must be Uint8Arrays')
      size += part.length
    }
    if (flexible) w.uvarint(size + 1)
    else w.int32(size)
    for (const part of v as Uint8Array[]) w.ref(part)
  }
  return { min: flexible ? 1 : 4, read, write }
}

function elementPlan (element: ElementSpec, version: number, flexible: boolean, path: string): TypePlan {
  if (typeof element === 'string') return primitivePlan(element, false, flexible)
  return compileStruct(element, version, flexible, path)
}

function arrayPlan (spec: FieldSpec<unknown, unknown>, nullable: boolean, version: number, flexible: boolean, path: string): TypePlan {
  const element = elementPlan(spec.element!, version, flexible, `${path}[]`)
  const elementMin = element.min
  const readElement = element.read
  const writeElement = element.write
  const read: Read = r => {
    const n = flexible ? r.compactArrayLength(elementMin) : r.arrayLength(elementMin)
    if (n === -1) return nullable ? null : nullNotAllowed(path)
    const out = new Array<unknown>(n)
    for (let i = 0; i < n; i++) out[i] = readElement(r)
    return out
  }
  const write: Write = (w, v) => {
    if (v === null) {
      if (!nullable) throw new InvalidArgumentError(`${path} is null in a version where it may not be`)
      if (flexible) w.uvarint(0)
      else w.int32(-1)
      return
    }
    if (!Array.isArray(v)) throw new InvalidArgumentError(`${path} must be an array`)
    if (flexible) w.compactArrayLength(v.length)
    else w.arrayLength(v.length)
    for (let i = 0; i < v.length; i++) writeElement(w, v[i])
  }
  return { min: flexible ? 1 : 4, read, write }
}

function fieldPlan (name: string, spec: FieldSpec<unknown, unknown>, version: number, flexible: boolean, path: string): FieldPlan {
  const nullable = inRange(spec.nullable, version)
  let plan: TypePlan
  if (spec.kind === 'array') plan = arrayPlan(spec, nullable, version, flexible, path)
  else if (spec.kind === 'struct') plan = compileStruct(spec.fields!, version, flexible, path)
  else plan = primitivePlan(spec.kind, nullable, flexible)
  const inner = plan.write
  // Fill in absent values and give write errors the path of the field.
  const write: Write = (w, v) => {
    try {
      inner(w, v === undefined ? defaultOf(spec) : v)
    } catch (err) {
      if (err instanceof InvalidArgumentError && !err.message.startsWith('field ')) {
        throw new InvalidArgumentError(`field ${path}: ${err.message}`, { cause: err })
      }
      throw err
    }
  }
  return { name, spec, read: plan.read, write, min: plan.min }
}

const cache = new WeakMap<Fields, Map<number, StructPlan>>()

/** The plan of a struct in one version (compiled once per struct object, version and form). */
export function compileStruct (fields: Fields, version: number, flexible: boolean, path = ''): StructPlan {
  let byVersion = cache.get(fields)
  if (byVersion === undefined) {
    byVersion = new Map()
    cache.set(fields, byVersion)
  }
  const cacheKey = flexible ? -1 - version : version
  const cached = byVersion.get(cacheKey)
  if (cached !== undefined) return cached

  const steps: Step[] = []
  const tagged = new Map<number, FieldPlan>()
  const regular: FieldPlan[] = []
  let min = flexible ? 1 : 0
  for (const name of Object.keys(fields)) {
    const spec = fields[name]!
    const fieldPath = path ? `${path}.${name}` : name
    const present = inRange(spec.versions, version)
    const isTagged = present && flexible && inRange(spec.taggedVersions, version)
    const plan = present ? fieldPlan(name, spec, version, flexible, fieldPath) : null
    if (plan !== null && isTagged) tagged.set(spec.tag!, plan)
    if (plan !== null && !isTagged) {
      regular.push(plan)
      min += plan.min
    }
    steps.push({ name, plan: isTagged ? null : plan, makeDefault: () => defaultOf(spec) })
  }
  const taggedInOrder = [...tagged.entries()].sort((a, b) => a[0] - b[0])

  // Decoded objects start as a copy of a template holding every field (primitive defaults
  // in place), so every object of this plan has one shape and fields are only overwritten.
  const template: Record<string, unknown> = {}
  const fill: Step[] = []
  for (const step of steps) {
    const d = step.makeDefault()
    const primitive = d === null || typeof d !== 'object'
    template[step.name] = primitive ? d : null
    if (step.plan !== null || !primitive) fill.push(step)
  }
  const read: Read = r => {
    const out: Record<string, unknown> = { ...template }
    for (let i = 0; i < fill.length; i++) {
      const step = fill[i]!
      out[step.name] = step.plan !== null ? step.plan.read(r) : step.makeDefault()
    }
    if (flexible) readTaggedFields(r, tagged, out)
    return out
  }
  const write: Write = (w, v) => {
    if (v === null || typeof v !== 'object') throw new InvalidArgumentError(`${path || 'message'} must be an object`)
    const value = v as Record<string, unknown>
    for (let i = 0; i < regular.length; i++) {
      const plan = regular[i]!
      plan.write(w, value[plan.name])
    }
    if (flexible) writeTaggedFields(w, taggedInOrder, value)
  }
  const plan: StructPlan = { steps, tagged, read, write, min }
  byVersion.set(cacheKey, plan)
  return plan
}

function readTaggedFields (r: Reader, tagged: ReadonlyMap<number, FieldPlan>, out: Record<string, unknown>): void {
  const count = r.uvarint()
  // Each tagged field takes at least 2 bytes (tag and size).
  if (count * 2 > r.remaining) throw new MalformedFrameError(`${count} tagged fields cannot fit in the ${r.remaining} bytes left`)
  for (let i = 0; i < count; i++) {
    const tag = r.uvarint()
    const size = r.uvarint()
    r.need(size, `tagged field ${tag}`)
    const end = r.pos + size
    const plan = tagged.get(tag)
    if (plan === undefined) {
      r.pos = end
      continue
    }
    const outerEnd = r.end
    r.end = end
    try {
      out[plan.name] = plan.read(r)
      r.expectEnd(`tagged field ${plan.name} (tag ${tag})`)
    } finally {
      r.end = outerEnd
    }
  }
}

function writeTaggedFields (w: Writer, tagged: ReadonlyArray<[number, FieldPlan]>, value: Record<string, unknown>): void {
  let count = 0
  for (const [, plan] of tagged) if (!isDefault(plan.spec, value[plan.name])) count++
  w.uvarint(count)
  if (count === 0) return
  for (const [tag, plan] of tagged) {
    const v = value[plan.name]
    if (isDefault(plan.spec, v)) continue
    const body = new Writer(64)
    plan.write(body, v)
    w.uvarint(tag)
    w.uvarint(body.length)
    w.append(body)
  }
}
