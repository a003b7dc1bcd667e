// The README stays true: every broker setting is in its Configuration table with the right
// flag, environment variable and default, and the table lists nothing that does not exist.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { SETTINGS, envName, flagName, type SettingName } from '../../broker/config/settings.js'

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')

function section (title: string): string {
  return readme.split(new RegExp(`^## ${title}\\s*$`, 'm'))[1]?.split(/^## /m)[0] ?? ''
}

t.test('Configuration table matches broker/config/settings.ts', async t => {
  const rows = new Map<string, { env: string, def: string }>()
  for (const m of section('Configuration').matchAll(/^\| `(--[a-z-]+)` \| `(SPOOL_[A-Z_]+)` \| ([^|]+) \|/gm)) {
    rows.set(m[1]!, { env: m[2]!, def: m[3]!.trim() })
  }
  t.ok(rows.size > 10, 'the table was found')
  for (const [name, setting] of Object.entries(SETTINGS) as Array<[SettingName, (typeof SETTINGS)[SettingName]]>) {
    const flag = name === 'configFile' ? '--config' : flagName(name)
    const row = rows.get(flag)
    t.ok(row, `${flag} is documented`)
    if (row === undefined) continue
    t.equal(row.env, envName(name), `${flag} environment variable`)
    t.equal(row.def, setting.default === null ? '—' : `\`${String(setting.default)}\``, `${flag} default`)
    rows.delete(flag)
  }
  t.same([...rows.keys()], [], 'no documented flag is missing from the code')
})
