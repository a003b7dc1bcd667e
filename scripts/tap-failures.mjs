// Prints every failed assertion of tap output files with the subtests it sits in (file >
// subtest > assertion) and the first lines of its diagnostics, so the tail of a long CI log
// says what failed without scrolling back. Prints nothing when nothing failed. A subtest that
// failed only because something inside it failed is not repeated; todo and skip are not
// failures. Always exits 0: the pass/fail verdict is tap-summary.mjs's.
import { existsSync, readFileSync } from 'node:fs'

const DIAG_LINES = 12
const files = process.argv.slice(2)
const out = []
for (const file of files) {
  if (!existsSync(file)) continue
  const lines = readFileSync(file, 'utf8').split('\n')
  const stack = [] // [indent, name] of the open "# Subtest:" lines
  const failedAt = new Set() // indents where a failure was reported since the subtest opened
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/^> ?/, '')
    const sub = /^( *)# Subtest: (.*)$/.exec(line)
    if (sub !== null) {
      const indent = sub[1].length
      while (stack.length > 0 && stack[stack.length - 1][0] >= indent) stack.pop()
      stack.push([indent, sub[2]])
      continue
    }
    const bad = /^( *)not ok \d+ - (.*?)(\s+#\s*(TODO|SKIP)\b.*)?$/i.exec(line)
    if (bad === null || bad[3] !== undefined) continue
    const indent = bad[1].length
    // A "not ok" closing a subtest whose own assertions already failed adds nothing.
    const inner = [...failedAt].some(at => at > indent)
    for (const at of [...failedAt]) if (at > indent) failedAt.delete(at)
    failedAt.add(indent)
    // Subtests opened at this indent or deeper are closed (their own closing line included).
    while (stack.length > 0 && stack[stack.length - 1][0] >= indent) stack.pop()
    if (inner) continue
    out.push(`not ok: ${[...stack.map(([, name]) => name), bad[2]].join(' > ')}`)
    let shown = 0
    for (let j = i + 1; j < lines.length && shown < DIAG_LINES; j++) {
      const diag = lines[j].replace(/^> ?/, '')
      if (!diag.startsWith(`${bad[1]}  `)) break
      if (diag.trim() === '...') break
      out.push(`    ${diag.trim()}`)
      shown++
    }
  }
}
if (out.length > 0) {
  console.log(`=== failures (${out.filter(l => l.startsWith('not ok')).length})`)
  console.log(out.join('\n'))
}
