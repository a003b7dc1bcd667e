// tsc does not keep the executable bit: make the built `spool` bin runnable as ./dist/cli/spool.js.
import { chmodSync } from 'node:fs'
chmodSync('dist/cli/spool.js', 0o755)
