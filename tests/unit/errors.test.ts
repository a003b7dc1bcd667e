// The error registry: one class per table row, unique names and codes, wire codes map back
// to the right class, and the README's Errors section lists exactly the same rows.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { ERROR_CLASSES, ERROR_TABLE, SpoolError, errorFromCode, errorCodeOf, type ErrorName } from '../../protocol/errors.js'

t.test('one class per table row, each constructing with its own code', async t => {
  const names = ERROR_CLASSES.map(c => c.errorName)
  t.same([...names].sort(), Object.keys(ERROR_TABLE).sort(), 'every row has exactly one class')
  for (const cls of ERROR_CLASSES) {
    const err = new cls()
    const row = ERROR_TABLE[cls.errorName]
    t.ok(err instanceof SpoolError && err instanceof Error)
    t.equal(err.code, cls.errorName)
    t.equal(err.errorCode, row.code)
    t.equal(err.retriable, row.retriable)
    t.equal(err.name, cls.name, 'name is the class name')
    t.equal(err.message, row.message, 'default message from the table')
    t.ok(cls.name.endsWith('Error'))
  }
})

t.test('codes are unique and round-trip through the wire number', async t => {
  const codes = Object.values(ERROR_TABLE).map(r => r.code)
  t.equal(new Set(codes).size, codes.length)
  for (const cls of ERROR_CLASSES) {
    const back = errorFromCode(ERROR_TABLE[cls.errorName].code, 'm')
    t.ok(back instanceof cls, `${cls.errorName} maps back to its class`)
    t.equal(back.message, 'm')
  }
  t.equal(errorFromCode(424242).code, 'UNKNOWN_SERVER_ERROR')
  t.equal(errorCodeOf(new Error('x')), -1)
  const cause = new Error('root')
  const wrapped = new (ERROR_CLASSES[1]!)('outer', { cause })
  t.equal(wrapped.cause, cause, 'cause is kept')
})

t.test('README Errors section lists the same rows', async t => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
  const section = readme.split(/^## Errors\s*$/m)[1]?.split(/^## /m)[0] ?? ''
  const rows = new Map<string, { code: number, retriable: boolean }>()
  for (const m of section.matchAll(/^\| `([A-Z_]+)` \| (-?\d+) \| (yes|no) \|/gm)) {
    rows.set(m[1]!, { code: Number(m[2]), retriable: m[3] === 'yes' })
  }
  t.ok(rows.size > 0, 'README has an Errors table')
  for (const [name, row] of Object.entries(ERROR_TABLE)) {
    t.same(rows.get(name), { code: row.code, retriable: row.retriable }, `README row for ${name}`)
  }
  const extra = [...rows.keys()].filter(n => !(n in ERROR_TABLE))
  t.same(extra, [], 'README lists no error the table lacks')
  const _typed: ErrorName = 'CORRUPT_MESSAGE'
  t.ok(_typed)
})
