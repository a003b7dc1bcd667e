/**
 * Every benchmark program the runner knows, in the order it runs them. Scenario files live
 * in bench/scenarios/ (one scenario per file); `external` programs are written by other
 * work (bench/groups.ts, bench/browser.ts) and run when they have been built, with only
 * the common flags (--quick, --json).
 */

import type { Mode } from './cli.js'

export interface ScenarioSpec {
  name: string
  /** Path of the compiled program relative to dist/bench/. */
  file: string
  /** Which runs include it when no --only is given. */
  in: { full: boolean, quick: boolean, tiny: boolean }
  /** Opt-in scale scenario (full runs include it with --scale). */
  scale?: boolean
  /** Opt-in long scenario (any run includes it with --soak). */
  soak?: boolean
  /** Written elsewhere: gets only --quick/--json, and is skipped when not built. */
  external?: boolean
  /** Extra arguments per mode. */
  args?: Partial<Record<Mode, string[]>>
  /** Seconds before the runner stops it. */
  timeout: Record<Mode, number>
}

const ALL = { full: true, quick: true, tiny: true }
const T = (full: number, quick: number, tiny: number): Record<Mode, number> => ({ full, quick, tiny })

export const SCENARIOS: ScenarioSpec[] = [
  { name: 'machine', file: 'scenarios/machine.js', in: ALL, timeout: T(120, 60, 30) },
  { name: 'micro', file: 'scenarios/micro.js', in: { full: true, quick: true, tiny: false }, timeout: T(300, 120, 60) },
  { name: 'produce', file: 'scenarios/produce.js', in: ALL, timeout: T(900, 120, 60) },
  { name: 'consume', file: 'scenarios/consume.js', in: ALL, timeout: T(900, 120, 60) },
  { name: 'latency', file: 'scenarios/latency.js', in: ALL, timeout: T(300, 90, 60) },
  { name: 'idle-consumers', file: 'scenarios/idle-consumers.js', in: ALL, timeout: T(300, 120, 60) },
  { name: 'acks-all', file: 'scenarios/acks-all.js', in: ALL, timeout: T(300, 60, 60) },
  { name: 'mqtt', file: 'scenarios/mqtt.js', in: ALL, timeout: T(600, 120, 60) },
  { name: 'mqtt-devices', file: 'scenarios/mqtt-devices.js', in: { full: true, quick: true, tiny: false }, timeout: T(1800, 600, 120) },
  { name: 'websocket', file: 'scenarios/websocket.js', in: ALL, timeout: T(300, 60, 60) },
  { name: 'kafka', file: 'scenarios/kafka.js', in: { full: true, quick: true, tiny: false }, timeout: T(600, 120, 60) },
  { name: 'security', file: 'scenarios/security.js', in: { full: true, quick: true, tiny: false }, timeout: T(600, 120, 60) },
  { name: 'cluster', file: 'scenarios/cluster.js', in: { full: true, quick: true, tiny: false }, timeout: T(1200, 300, 120) },
  { name: 'storage', file: 'storage.js', in: { full: true, quick: false, tiny: false }, args: { full: ['--gb', '2'], quick: ['--gb', '0.25'], tiny: ['--gb', '0.02'] }, timeout: T(600, 120, 60) },
  { name: 'groups', file: 'groups.js', in: { full: true, quick: true, tiny: false }, external: true, timeout: T(600, 120, 60) },
  { name: 'browser', file: 'browser.js', in: { full: true, quick: true, tiny: false }, external: true, timeout: T(600, 120, 60) },
  { name: 'partitions-1000', file: 'scenarios/partitions-1000.js', in: { full: false, quick: false, tiny: false }, scale: true, timeout: T(600, 120, 60) },
  { name: 'tailing-consumers', file: 'scenarios/tailing-consumers.js', in: { full: false, quick: false, tiny: false }, scale: true, timeout: T(900, 180, 60) },
  { name: 'mqtt-connections', file: 'scenarios/mqtt-connections.js', in: { full: false, quick: false, tiny: false }, scale: true, timeout: T(900, 300, 120) },
  { name: 'big-log', file: 'scenarios/big-log.js', in: { full: false, quick: false, tiny: false }, scale: true, timeout: T(1800, 300, 60) },
  { name: 'soak', file: 'scenarios/soak.js', in: { full: false, quick: false, tiny: false }, soak: true, timeout: T(2700, 600, 300) },
]

export function scenarioByName (name: string): ScenarioSpec | undefined {
  return SCENARIOS.find(s => s.name === name)
}
