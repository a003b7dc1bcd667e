/**
 * Command-line conventions shared by every benchmark program under bench/ (scenarios and
 * the older stand-alone programs), so the runner (bench/run.ts) can drive them all alike:
 *
 *   --quick          small counts (the whole suite in under 2 minutes)
 *   --tiny           smallest counts: only proves the program runs end to end (npm test)
 *   --json <file>    write { scenario, title, rows: [{ name, system, metric, value, unit }], ... }
 *   --no-peers       measure Spool only (no NATS, Redis, Mosquitto, Aedes)
 *   --tmp <dir>      put temporary data here (the runner deletes it afterwards)
 * Without --quick/--tiny a program runs its full size.
 */

export type Mode = 'full' | 'quick' | 'tiny'

export interface BenchArgs {
  mode: Mode
  json: string | null
  noPeers: boolean
  tmp: string | null
  /** Every `--name value` pair (also the ones above). */
  values: Map<string, string>
  /** Every bare `--flag`. */
  flags: Set<string>
}

const BARE = new Set(['quick', 'tiny', 'no-peers', 'scale', 'keep', 'list', 'fresh', 'no-report'])

const USAGE = `Benchmark programs take:
  --quick          small counts (the whole suite in under 2 minutes)
  --tiny           smallest counts: only proves the program runs end to end
  --json <file>    write the result rows as JSON
  --no-peers       measure Spool only (no NATS, Redis, Mosquitto, Aedes)
  --tmp <dir>      put temporary data here
  --only <names>   (the runner) these scenarios only; --list shows them
Without --quick or --tiny a program runs its full size (minutes). See bench/README.md.
`

export function parseArgs (argv: readonly string[] = process.argv.slice(2)): BenchArgs {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE)
    process.exit(0)
  }
  const values = new Map<string, string>()
  const flags = new Set<string>()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}"`)
    const eq = a.indexOf('=')
    if (eq > 0) {
      values.set(a.slice(2, eq), a.slice(eq + 1))
      continue
    }
    const name = a.slice(2)
    const next = argv[i + 1]
    if (BARE.has(name) || next === undefined || next.startsWith('--')) {
      flags.add(name)
    } else {
      values.set(name, next)
      i++
    }
  }
  const mode: Mode = flags.has('tiny') ? 'tiny' : flags.has('quick') ? 'quick' : 'full'
  return { mode, json: values.get('json') ?? null, noPeers: flags.has('no-peers'), tmp: values.get('tmp') ?? null, values, flags }
}

/** The value for the current mode. */
export function bySize<T> (mode: Mode, sizes: { full: T, quick: T, tiny: T }): T {
  return sizes[mode]
}

/** A numeric `--name` override, or the mode's default. */
export function numberArg (args: BenchArgs, name: string, fallback: number): number {
  const raw = args.values.get(name)
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got "${raw}"`)
  return n
}
