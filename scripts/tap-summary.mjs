// Prints `N passed, N failed` from the last `# { total: N, pass: N, fail: N }` line tap
// writes at the end of a run. Exits 1 when no summary line is found.
import { readFileSync } from 'node:fs'

const text = readFileSync(process.argv[2], 'utf8')
const matches = [...text.matchAll(/^# (\{ total: .*\})\s*$/gm)]
if (matches.length === 0) {
  console.error('tap-summary: no tap summary line found')
  process.exit(1)
}
const summary = matches[matches.length - 1][1]
const field = name => Number((summary.match(new RegExp(`${name}: (\\d+)`)) ?? [0, 0])[1])
console.log(`${field('pass')} passed, ${field('fail')} failed`)
