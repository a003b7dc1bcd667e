// Prints `N passed, N failed` from the last `# { total: N, pass: N, fail: N }` line tap
// writes at the end of a run. Given several files (one per runtime .ci/run tested on), it
// prints their sum. A file with no summary line (tap crashed or never started) counts as one
// failure, is named on stderr, and makes the exit status 1; the line is printed either way.
import { existsSync, readFileSync } from 'node:fs'

const files = process.argv.slice(2)
if (files.length === 0) {
  console.error('usage: node scripts/tap-summary.mjs TAP_OUTPUT...')
  process.exit(2)
}

let passed = 0
let failed = 0
let missing = false
for (const file of files) {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : ''
  const matches = [...text.matchAll(/^# (\{ total: .*\})\s*$/gm)]
  if (matches.length === 0) {
    console.error(`tap-summary: no tap summary line in ${file}`)
    failed += 1
    missing = true
    continue
  }
  const summary = matches[matches.length - 1][1]
  const field = name => Number((summary.match(new RegExp(`${name}: (\\d+)`)) ?? [0, 0])[1])
  passed += field('pass')
  failed += field('fail')
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(missing ? 1 : 0)
