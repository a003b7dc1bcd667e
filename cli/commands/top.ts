/**
 * `spool top`: every connection of every protocol the broker has (native TCP and
 * WebSocket, MQTT, Kafka), live, like top — heaviest egress first, so the client that eats
 * the bandwidth is the first row, with its client id, group, host, topics, bytes and
 * records per second, how far behind the log end it reads and how much a quota throttles
 * it. The data is the broker's DescribeConnections answer (its one-second sampler) over
 * the native protocol at --broker, like every other command (as client id `spool-top`, so
 * its own connection is easy to tell apart).
 *
 *   spool top [--by connection|group|topic|client|host] [--sort out|in|records|fetches|lag|throttle|age|name]
 *             [--filter TEXT] [--interval S] [--once [--format text|json]]
 *
 * In a terminal: keys sort (o out, i in, r records, f fetches, l lag, w throttled; again:
 * reversed; < > the next column), aggregate (g group, t topic, c client id, h host, a
 * connections; the same key again goes back), filter (/ then text, Enter keeps it, Esc
 * clears it), pause (p or space) and quit (q or Ctrl-C; the terminal is left as it was).
 * Without a terminal (a pipe), each interval prints the table as text. `--once` prints one
 * table and exits: text, or one JSON object { timeMs, intervalMs, by, broker, sort, totals,
 * rows } with the rows filtered and sorted as asked (heaviest egress first by default).
 */

import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander'
import type { Client, ConnectionView, ConnectionsDescription } from '../../client/index.js'
import { CONNECTION_VIEWS } from '../../protocol/native/apis/describe-connections.js'
import { choiceArg, withClient } from '../context.js'
import { errorLine } from '../exit-codes.js'
import { Screen } from '../top/screen.js'
import { SORT_KEYS, initialState, onKey, renderFrame, renderText, splitKeys, visibleRows, type SortKey, type TopState } from '../top/view.js'

interface TopOptions {
  by: ConnectionView
  sort: SortKey
  filter: string
  interval: number
  once?: boolean
  format: 'text' | 'json'
}

function secondsArg (value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0.2 || n > 3600) throw new CommanderArgumentError('expected seconds between 0.2 and 3600')
  return n
}

/** Width for text written to something that is not a terminal. */
function pipeWidth (): number {
  const columns = Number(process.env.COLUMNS)
  return Number.isInteger(columns) && columns >= 40 ? columns : 160
}

async function once (client: Client, state: TopState, format: 'text' | 'json'): Promise<void> {
  const data = await client.admin().describeConnections({ by: state.view })
  if (format === 'json') {
    const rows = visibleRows(data, state)
    process.stdout.write(JSON.stringify({ ...data, broker: state.broker, sort: state.sort, rows }) + '\n')
    return
  }
  process.stdout.write(renderText(data, state, process.stdout.isTTY ? process.stdout.columns ?? 80 : pipeWidth()))
}

/** A pipe: the table every interval until SIGINT/SIGTERM. */
async function batch (client: Client, state: TopState, intervalMs: number): Promise<void> {
  let stop = false
  let wake: (() => void) | null = null
  const end = (): void => {
    stop = true
    wake?.()
  }
  process.once('SIGINT', end)
  process.once('SIGTERM', end)
  try {
    while (!stop) {
      try {
        const data = await client.admin().describeConnections({ by: state.view })
        process.stdout.write(renderText(data, state, pipeWidth()) + '\n')
      } catch (err) {
        process.stderr.write(errorLine(err, state.broker) + '\n')
      }
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, intervalMs)
        wake = () => { clearTimeout(timer); resolve() }
      })
    }
  } finally {
    process.off('SIGINT', end)
    process.off('SIGTERM', end)
  }
}

/** A terminal: the live view until q, Ctrl-C or a signal. */
function live (client: Client, state: TopState, intervalMs: number): Promise<void> {
  const screen = new Screen(process.stdout, process.stdin)
  const admin = client.admin()
  let data: ConnectionsDescription | null = null
  let timer: NodeJS.Timeout | null = null
  let fetching = false
  let generation = 0
  let finish: () => void = () => {}
  const done = new Promise<void>(resolve => { finish = resolve })

  const draw = (): void => {
    const frame = renderFrame(data, state, screen.width, screen.height)
    screen.draw(frame.lines, new Set([frame.titleRow]))
  }
  const schedule = (): void => {
    if (timer !== null) clearTimeout(timer)
    timer = setTimeout(() => { void refresh() }, intervalMs)
  }
  const refresh = async (): Promise<void> => {
    if (fetching) return
    fetching = true
    const asked = ++generation
    const view = state.view
    try {
      const answer = await admin.describeConnections({ by: view })
      // A view changed while this was on its way is fetched again at once.
      if (asked === generation && view === state.view && !state.paused) data = answer
      state.error = null
    } catch (err) {
      state.error = errorLine(err, state.broker)
    } finally {
      fetching = false
    }
    if (quitting) return
    draw()
    if (view !== state.view) void refresh()
    else if (!state.paused) schedule()
  }
  let quitting = false
  const quit = (): void => {
    if (quitting) return
    quitting = true
    if (timer !== null) clearTimeout(timer)
    screen.stop()
    for (const s of SIGNALS) process.off(s, quit)
    finish()
  }
  const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
  for (const s of SIGNALS) process.once(s, quit)
  screen.onResize = draw
  try {
    screen.start(chunk => {
      for (const key of splitKeys(chunk)) {
        const action = onKey(state, key)
        if (action === 'quit') {
          quit()
          return
        }
        if (action === 'refetch') {
          if (data !== null && data.by !== state.view) data = null
          draw()
          if (!state.paused) void refresh()
        } else if (action === 'redraw') {
          if (state.paused && timer !== null) clearTimeout(timer)
          draw()
        }
      }
    })
    draw()
    void refresh()
  } catch (err) {
    quit()
    throw err
  }
  return done
}

async function top (client: Client, broker: string, options: TopOptions): Promise<void> {
  const state = initialState(broker, options.by, options.sort, options.filter)
  if (options.once === true) return once(client, state, options.format)
  if (options.format === 'json') throw new CommanderArgumentError('--format json needs --once')
  const intervalMs = Math.round(options.interval * 1000)
  if (process.stdout.isTTY !== true) return batch(client, state, intervalMs)
  return live(client, state, intervalMs)
}

export function topCommand (): Command {
  return new Command('top')
    .description('live view of every connection (all protocols), heaviest egress first: who is using the bandwidth')
    .addOption(new Option('--by <view>', 'aggregate by group, topic, client id or host').argParser(choiceArg(CONNECTION_VIEWS)).default('connection'))
    .addOption(new Option('--sort <column>', 'sort by this column (largest first)').argParser(choiceArg(SORT_KEYS)).default('out'))
    .option('--filter <text>', 'only rows whose client id, group, host, principal or topics contain this text', '')
    .option('--interval <seconds>', 'seconds between refreshes', secondsArg, 1)
    .option('--once', 'print one table and exit (for scripts)')
    .addOption(new Option('--format <format>', 'with --once: text or json').argParser(choiceArg(['text', 'json'] as const)).default('text'))
    .action(withClient(top, { clientId: 'spool-top' }))
}
