// The README stays true: every broker setting is in its Configuration table with the right
// flag, environment variable, config-file key and default (and a config file takes that key
// and the flag's spelling), the table lists nothing that does not exist, every setting the
// Size limits table names exists, and every README program block is the examples/ file it
// says it is (tests/integration/examples.test.ts runs those files and the shell blocks).
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SETTINGS, envName, flagName, readConfigFile, type SettingName } from '../../broker/config/settings.js'

const root = new URL('../../../', import.meta.url)
const readme = readFileSync(new URL('README.md', root), 'utf8')

function section (title: string): string {
  return readme.split(new RegExp(`^## ${title}\\s*$`, 'm'))[1]?.split(/^## /m)[0] ?? ''
}

const settings = Object.entries(SETTINGS) as Array<[SettingName, (typeof SETTINGS)[SettingName]]>

t.test('Configuration table matches broker/config/settings.ts', async t => {
  const rows = new Map<string, { env: string, key: string, def: string }>()
  for (const m of section('Configuration').matchAll(/^\| `(--[a-z-]+)` \| `(SPOOL_[A-Z_]+)` \| ([^|]+) \| ([^|]+) \|/gm)) {
    rows.set(m[1]!, { env: m[2]!, key: m[3]!.trim(), def: m[4]!.trim() })
  }
  t.ok(rows.size > 10, 'the table was found')
  t.match(section('Configuration'), /^\| flag \| environment \| config-file key \| default \| meaning \|$/m, 'with a config-file key column')
  for (const [name, setting] of settings) {
    const flag = name === 'configFile' ? '--config' : flagName(name)
    const row = rows.get(flag)
    t.ok(row, `${flag} is documented`)
    if (row === undefined) continue
    t.equal(row.env, envName(name), `${flag} environment variable`)
    t.equal(row.key, name === 'configFile' ? '—' : `\`${name}\``, `${flag} config-file key`)
    t.equal(row.def, setting.default === null ? '—' : `\`${String(setting.default)}\``, `${flag} default`)
    rows.delete(flag)
  }
  t.same([...rows.keys()], [], 'no documented flag is missing from the code')
})

/** A value a config file may give the setting. */
function sample (name: SettingName): unknown {
  const s = SETTINGS[name]
  if (s.default !== null) return s.default
  return s.kind === 'list' ? ['http://a.example:1'] : s.kind === 'port' ? 1234 : 'x'
}

t.test('a config file takes every key of the table, camelCase or as the flag is spelled', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-readme-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'spool.json')
  const read = (body: Record<string, unknown>): Record<string, unknown> => {
    writeFileSync(file, JSON.stringify(body))
    return readConfigFile(file) as Record<string, unknown>
  }
  for (const [name] of settings) {
    if (name === 'configFile') continue
    t.same(read({ [name]: sample(name) }), { [name]: sample(name) }, `"${name}"`)
    const kebab = flagName(name).slice(2)
    t.same(read({ [kebab]: sample(name) }), { [name]: sample(name) }, `"${kebab}" is ${name}`)
  }
  t.throws(() => read({ dataDri: './x' }), { code: 'INVALID_CONFIG', message: /unknown setting "dataDri"/ }, 'a typo is an error naming the key')
  t.throws(() => read({ 'data-dri': './x' }), { code: 'INVALID_CONFIG', message: /unknown setting "data-dri"/ })
  t.throws(() => read({ dataDir: './a', 'data-dir': './b' }), { code: 'INVALID_CONFIG', message: /dataDir is given twice/ }, 'both spellings at once are refused')
  t.throws(() => read({ config: 'x.json' }), { code: 'INVALID_CONFIG' }, 'a file cannot name another file')
})

t.test('the Size limits table names settings and options that exist', async t => {
  const limits = section('Size limits')
  t.ok(limits.length > 500, 'the section exists')
  const flags = new Set(settings.map(([name]) => flagName(name)))
  const brokerFlags = [...limits.matchAll(/broker `(--[a-z-]+)` \/ `(\w+)`/g)]
  t.ok(brokerFlags.length >= 5, `${brokerFlags.length} broker settings named`)
  for (const [, flag, key] of brokerFlags) {
    t.ok(flags.has(flag!), `${flag} exists`)
    t.equal(flagName(key as SettingName), flag, `${key} is ${flag}`)
  }
  for (const name of ['maxBatchBytes', 'maxFrameBytes', 'httpMaxBodyBytes', 'mqttMaxPacketBytes', 'maxQueuedBytes'] as const) {
    t.match(limits, new RegExp(`\`${name}\``), `${name} is in the table`)
  }
  const sdk = ['client/producer-options.ts', 'client/client.ts', 'client/consumer-options.ts'].map(f => readFileSync(new URL(f, root), 'utf8')).join('\n')
  for (const option of ['maxRequestBytes', 'batchBytes', 'maxBufferedBytes', 'maxFrameBytes', 'maxBytes', 'maxBytesPerPartition']) {
    t.match(limits, new RegExp(`\\b${option}\\b`), `${option} is in the table`)
    t.match(sdk, new RegExp(`^\\s+${option}\\?: number`, 'm'), `${option} is an SDK option`)
  }
  const cli = readFileSync(new URL('cli/commands/produce.ts', root), 'utf8')
  t.match(cli, /--max-message-bytes <n>/, 'spool produce --max-message-bytes exists')
})

t.test('every README program block is the examples/ file it names', async t => {
  const blocks = [...readme.matchAll(/^```(js|ts|html)\n((?:\/\/|<!--) (examples\/[\w./-]+): [^\n]*\n[\s\S]*?)^```$/gm)]
  t.ok(blocks.length >= 2, `${blocks.length} blocks from examples/`)
  for (const [, , body, path] of blocks) {
    t.equal(body, readFileSync(new URL(path!, root), 'utf8'), `the README block is ${path}, byte for byte`)
  }
  t.match(section('SDK'), /^```js\n\/\/ examples\/sdk-tour\.js: /m, 'the SDK section shows examples/sdk-tour.js')
  t.match(section('Browser SDK'), /^```html\n<!-- examples\/browser\/sdk-snippet\.html: /m, 'the Browser SDK section shows examples/browser/sdk-snippet.html')
})
