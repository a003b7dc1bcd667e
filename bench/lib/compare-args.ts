/**
 * The options of `npm run bench -- --compare <git-ref>` (bench/compare.ts):
 *
 *   --compare <ref>     the commit to compare this working tree with (any git ref)
 *   --only <a,b>        these scenarios (default: every scenario of the size)
 *   --rounds N          rounds of A B (this tree, then the ref) per scenario; default 3
 *   --quick | --tiny    the scenarios' smaller sizes (default: full)
 *   --json              print the comparison as JSON on stdout instead of tables
 *   --with-peers        also run the peers (NATS, Redis, ...); by default they are not run
 *   --keep              keep the temp dir with the ref's build (its path is printed)
 * Anything else, a missing value or a bad number is a BenchUsageError (exit code 2).
 * Whether a scenario name exists is checked by the caller against the registry.
 */

import type { Mode } from './cli.js'
import { BenchUsageError } from './errors.js'

export interface CompareOptions {
  ref: string
  only: string[] | null
  rounds: number
  mode: Mode
  json: boolean
  withPeers: boolean
  keep: boolean
}

export const COMPARE_USAGE = `npm run bench -- --compare <git-ref> [options]
  --only <a,b>     these scenarios only (see --list)
  --rounds N       rounds of this tree then the ref, per scenario (default 3)
  --quick | --tiny smaller sizes
  --json           the comparison as JSON on stdout
  --with-peers     also run the peers (not run by default when comparing)
  --keep           keep the temp dir with the ref's build
`

const FLAGS = new Set(['quick', 'tiny', 'json', 'with-peers', 'keep'])
const VALUES = new Set(['compare', 'only', 'rounds'])
/** More rounds than this is a typo, not a plan (each round runs every chosen scenario twice). */
export const MAX_ROUNDS = 100

/** Whether these runner arguments ask for a comparison. */
export function wantsCompare (argv: readonly string[]): boolean {
  return argv.some(a => a === '--compare' || a.startsWith('--compare='))
}

export function parseCompareArgs (argv: readonly string[]): CompareOptions {
  const values = new Map<string, string>()
  const flags = new Set<string>()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (!a.startsWith('--')) throw new BenchUsageError(`unexpected argument "${a}"\n${COMPARE_USAGE}`)
    const eq = a.indexOf('=')
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2)
    if (FLAGS.has(name)) {
      if (eq > 0) throw new BenchUsageError(`--${name} takes no value`)
      flags.add(name)
      continue
    }
    if (!VALUES.has(name)) throw new BenchUsageError(`unknown option --${name} with --compare\n${COMPARE_USAGE}`)
    let value: string | undefined
    if (eq > 0) {
      value = a.slice(eq + 1)
    } else {
      value = argv[i + 1]
      if (value === undefined || value.startsWith('--')) throw new BenchUsageError(`--${name} needs a value`)
      i++
    }
    if (value === '') throw new BenchUsageError(`--${name} needs a value`)
    if (values.has(name)) throw new BenchUsageError(`--${name} given twice`)
    values.set(name, value)
  }
  const ref = values.get('compare')
  if (ref === undefined) throw new BenchUsageError(`--compare needs a git ref\n${COMPARE_USAGE}`)
  if (ref.startsWith('-')) throw new BenchUsageError(`"${ref}" is not a git ref`)
  if (flags.has('quick') && flags.has('tiny')) throw new BenchUsageError('--quick and --tiny exclude each other')
  const roundsText = values.get('rounds') ?? '3'
  const rounds = /^\d+$/.test(roundsText) ? Number(roundsText) : NaN
  if (!Number.isSafeInteger(rounds) || rounds < 1 || rounds > MAX_ROUNDS) {
    throw new BenchUsageError(`--rounds must be a whole number from 1 to ${MAX_ROUNDS}, got "${roundsText}"`)
  }
  const onlyText = values.get('only')
  const only = onlyText === undefined ? null : onlyText.split(',').map(s => s.trim()).filter(s => s.length > 0)
  if (only !== null && only.length === 0) throw new BenchUsageError('--only needs at least one scenario name')
  return {
    ref,
    only,
    rounds,
    mode: flags.has('tiny') ? 'tiny' : flags.has('quick') ? 'quick' : 'full',
    json: flags.has('json'),
    withPeers: flags.has('with-peers'),
    keep: flags.has('keep'),
  }
}
