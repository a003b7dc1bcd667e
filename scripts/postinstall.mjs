// Runs after `npm ci` / `npm install` in this repository: rebuilds tap's plugin set without
// its TypeScript plugin, which crashes under TypeScript 7 (see toolchain.md). Does nothing
// when tap is absent (an install that omits dev dependencies, or spool used as a dependency).
import { existsSync } from 'node:fs'
import { spawnSync } from 'node:child_process'

if (existsSync('node_modules/tap/package.json') && existsSync('node_modules/.bin/tap')) {
  const r = spawnSync('node_modules/.bin/tap', ['build'], { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}
