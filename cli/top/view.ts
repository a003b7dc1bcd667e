/**
 * What `spool top` shows, as pure functions of the broker's DescribeConnections answer and
 * the viewer's state (view, sort column, filter, paused) — no terminal here (screen.ts
 * draws; commands/top.ts wires keys and polling), so every frame can be tested as text.
 *
 * Layout: three header lines (broker, time, view and sort; the totals with the
 * egress/ingress ratio; the keys or the filter being typed), the column titles, then one row
 * per connection (or per group, topic, client id, host). Columns have priorities: an
 * 80-column terminal gets the essential ones (client, group, topics, out, in, lag,
 * throttled...), a wider one more (host, records, fetches, protocol, age, principal, id)
 * and wider text columns. Rates are bytes per second in binary units (K = KiB, M = MiB).
 */

import type { ConnectionActivityRow, ConnectionView, ConnectionsDescription } from '../../client/index.js'
import { compactBytes, compactCount, formatBytes } from '../units.js'

export const SORT_KEYS = ['out', 'in', 'records', 'fetches', 'lag', 'throttle', 'age', 'name'] as const
export type SortKey = typeof SORT_KEYS[number]

export interface TopState {
  view: ConnectionView
  sort: SortKey
  /** Reverse the sort's natural order (numbers: largest first; names: a to z). */
  reverse: boolean
  filter: string
  /** The filter is being typed (keys go to it). */
  editing: boolean
  paused: boolean
  broker: string
  /** The last error talking to the broker, shown until the next answer. */
  error: string | null
}

export function initialState (broker: string, view: ConnectionView = 'connection', sort: SortKey = 'out', filter = ''): TopState {
  return { view, sort, reverse: false, filter, editing: false, paused: false, broker, error: null }
}

interface Column {
  readonly id: string
  readonly title: string
  /** Width, or the least width of a column that grows (flex). */
  readonly width: number
  /** A text column that takes spare width, up to this. */
  readonly flex?: number
  readonly right?: boolean
  readonly priority: number
  readonly sort?: SortKey
  readonly value: (row: ConnectionActivityRow, nowMs: number) => string
}

export interface LaidColumn { column: Column, width: number }

const VIEW_TITLE: Record<ConnectionView, string> = { connection: 'connections', group: 'groups', topic: 'topics', client: 'client ids', host: 'hosts' }
const KEY_TITLE: Record<Exclude<ConnectionView, 'connection'>, string> = { group: 'GROUP', topic: 'TOPIC', client: 'CLIENT ID', host: 'HOST' }
const SORT_TITLE: Record<SortKey, string> = { out: 'OUT/s', in: 'IN/s', records: 'REC/s', fetches: 'FETCH/s', lag: 'LAG', throttle: 'THR%', age: 'AGE', name: 'name' }

const list = (names: readonly string[]): string => names.length === 0 ? '-' : names.join(',')
const none = (s: string): string => s === '' ? '-' : s
const topicsOf = (r: ConnectionActivityRow): string => list(r.topics.map(t => t.topic))

/** Records per second both ways (MQTT: messages). */
export function recordsPerSec (r: ConnectionActivityRow): number {
  return r.recordsInPerSec + r.recordsOutPerSec + r.messagesOutPerSec
}

export function formatAge (ms: number): string {
  if (!(ms >= 0)) return '-'
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}`
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}`
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600)}h`
}

const NUMBERS: Column[] = [
  { id: 'out', title: 'OUT/s', width: 7, right: true, priority: 0, sort: 'out', value: r => compactBytes(r.bytesOutPerSec) },
  { id: 'in', title: 'IN/s', width: 7, right: true, priority: 3, sort: 'in', value: r => compactBytes(r.bytesInPerSec) },
  { id: 'records', title: 'REC/s', width: 6, right: true, priority: 8, sort: 'records', value: r => compactCount(recordsPerSec(r)) },
  { id: 'fetches', title: 'FETCH/s', width: 7, right: true, priority: 9, sort: 'fetches', value: r => compactCount(r.fetchesPerSec) },
  { id: 'lag', title: 'LAG', width: 6, right: true, priority: 5, sort: 'lag', value: r => r.fetchLag < 0 ? '-' : compactCount(r.fetchLag) },
  { id: 'throttle', title: 'THR%', width: 4, right: true, priority: 6, sort: 'throttle', value: r => r.throttledMs === 0 ? '-' : String(Math.round(r.throttledPct)) },
]

function connectionColumns (): Column[] {
  return [
    { id: 'client', title: 'CLIENT ID', width: 10, flex: 24, priority: 1, sort: 'name', value: r => none(r.clientId) },
    { id: 'group', title: 'GROUP', width: 8, flex: 20, priority: 2, value: r => r.group ?? '-' },
    { id: 'host', title: 'HOST', width: 9, flex: 24, priority: 7, value: r => none(r.host) },
    { id: 'proto', title: 'PROTO', width: 10, priority: 10, value: r => `${r.protocol}/${r.transport}` },
    { id: 'topics', title: 'TOPICS', width: 10, flex: 40, priority: 4, value: topicsOf },
    { id: 'principal', title: 'PRINCIPAL', width: 10, flex: 24, priority: 12, value: r => none(r.principal) },
    { id: 'id', title: 'ID', width: 10, priority: 13, value: r => r.id },
    ...NUMBERS,
    { id: 'age', title: 'AGE', width: 6, right: true, priority: 11, sort: 'age', value: (r, now) => formatAge(now - r.connectedAtMs) },
  ]
}

function aggregateColumns (view: Exclude<ConnectionView, 'connection'>): Column[] {
  const lists: Column[] = []
  if (view !== 'client') lists.push({ id: 'clients', title: 'CLIENT IDS', width: 10, flex: 30, priority: 4, value: r => list(r.clientIds) })
  if (view !== 'group') lists.push({ id: 'groups', title: 'GROUPS', width: 8, flex: 24, priority: view === 'topic' ? 2 : 5, value: r => list(r.groups) })
  if (view !== 'host') lists.push({ id: 'hosts', title: 'HOSTS', width: 9, flex: 30, priority: 7, value: r => list(r.hosts) })
  if (view !== 'topic') lists.push({ id: 'topics', title: 'TOPICS', width: 10, flex: 40, priority: 4, value: topicsOf })
  return [
    { id: 'key', title: KEY_TITLE[view], width: 10, flex: 30, priority: 1, sort: 'name', value: r => r.key === '' ? (view === 'group' ? '(no group)' : '(none)') : r.key },
    { id: 'conns', title: 'CONNS', width: 5, right: true, priority: 2, value: r => String(r.connections) },
    ...lists,
    ...NUMBERS,
  ]
}

export function columnsFor (view: ConnectionView): Column[] {
  return view === 'connection' ? connectionColumns() : aggregateColumns(view)
}

/** The columns that fit `width` (by priority), in display order, spare width given to text columns. */
export function layout (columns: readonly Column[], width: number): LaidColumn[] {
  const chosen = new Set<Column>()
  let used = 0
  for (const c of [...columns].sort((a, b) => a.priority - b.priority)) {
    const need = c.width + (chosen.size > 0 ? 1 : 0)
    if (used + need > width) continue
    chosen.add(c)
    used += need
  }
  const laid = columns.filter(c => chosen.has(c)).map(column => ({ column, width: column.width }))
  let spare = width - used
  const flexible = laid.filter(l => l.column.flex !== undefined)
  while (spare > 0 && flexible.some(l => l.width < l.column.flex!)) {
    for (const l of flexible) {
      if (spare === 0) break
      if (l.width < l.column.flex!) {
        l.width++
        spare--
      }
    }
  }
  return laid
}

function fit (text: string, width: number, right: boolean): string {
  if (text.length > width) return width <= 1 ? text.slice(0, width) : text.slice(0, width - 1) + '…'
  return right ? text.padStart(width) : text.padEnd(width)
}

function sortValue (r: ConnectionActivityRow, key: SortKey, nowMs: number): number {
  switch (key) {
    case 'out': return r.bytesOutPerSec
    case 'in': return r.bytesInPerSec
    case 'records': return recordsPerSec(r)
    case 'fetches': return r.fetchesPerSec
    case 'lag': return r.fetchLag
    case 'throttle': return r.throttledPct * 1e9 + r.throttledMs
    case 'age': return nowMs - r.connectedAtMs
    case 'name': return 0
  }
}

function haystack (r: ConnectionActivityRow): string {
  return [r.key, r.clientId, r.group ?? '', r.host, r.address, r.principal, r.protocol, ...r.clientIds, ...r.groups, ...r.hosts, ...r.topics.map(t => t.topic)].join(' ').toLowerCase()
}

/** The rows to show: filtered (case-insensitive substring of any name), then sorted. */
export function visibleRows (data: ConnectionsDescription, state: Pick<TopState, 'sort' | 'reverse' | 'filter'>): ConnectionActivityRow[] {
  const needle = state.filter.trim().toLowerCase()
  const rows = needle === '' ? [...data.rows] : data.rows.filter(r => haystack(r).includes(needle))
  const dir = state.reverse ? -1 : 1
  return rows.sort((a, b) => {
    if (state.sort === 'name') return dir * (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
    return dir * (sortValue(b, state.sort, data.timeMs) - sortValue(a, state.sort, data.timeMs)) ||
      b.bytesOutPerSec - a.bytesOutPerSec || b.bytesInPerSec - a.bytesInPerSec || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
  })
}

function ratioText (data: ConnectionsDescription): string {
  const r = data.totals.egressRatio
  if (r === null) return data.totals.bytesOutPerSec > 0 ? 'no ingress' : '-'
  return `${r >= 10 ? Math.round(r) : r.toFixed(1)}×`
}

function clock (ms: number): string {
  return new Date(ms).toISOString().slice(11, 19)
}

/** The three header lines. */
export function headerLines (data: ConnectionsDescription | null, state: TopState, width: number): string[] {
  const sort = `${SORT_TITLE[state.sort]}${state.reverse ? '▲' : '▼'}`
  const count = data === null ? 'waiting for the broker' : `${data.totals.connections} connection${data.totals.connections === 1 ? '' : 's'}`
  const first = `spool top  ${state.broker}  ${data === null ? '--:--:--' : clock(data.timeMs)}  ${count}  by ${VIEW_TITLE[state.view]}  sort ${sort}`
  const t = data?.totals
  const second = t === undefined
    ? ''
    : `in ${formatBytes(t.bytesInPerSec)}/s  out ${formatBytes(t.bytesOutPerSec)}/s  egress/ingress ${ratioText(data!)}  records in ${compactCount(t.recordsInPerSec)}/s out ${compactCount(t.recordsOutPerSec)}/s${t.throttled > 0 ? `  throttled ${t.throttled}` : ''}`
  let third: string
  if (state.editing) third = `filter: ${state.filter}_   (Enter keeps it, Esc clears it)`
  else if (state.error !== null) third = state.error
  else {
    // What holds the view first (a narrow terminal cuts the end of the line), then the keys.
    const held = `${state.paused ? '[paused]  ' : ''}${state.filter === '' ? '' : `filter "${state.filter}" (Esc clears)  `}`
    third = `${held}sort o i r f l w  by a g t c h  / filter  p pause  q quit`
  }
  return [first, second, third].map(l => fit(l, width, false))
}

/**
 * One frame of `height` lines of at most `width` characters (the last line one less, so a
 * terminal never scrolls): header, column titles (marked to be shown inverted), rows, and
 * how many rows did not fit.
 */
export function renderFrame (data: ConnectionsDescription | null, state: TopState, width: number, height: number): { lines: string[], titleRow: number } {
  const lines = headerLines(data, state, width)
  const laid = layout(columnsFor(state.view), width)
  const titleRow = lines.length
  lines.push(fit(laid.map(l => fit(l.column.sort === state.sort ? `${l.column.title}${state.reverse ? '▲' : '▼'}` : l.column.title, l.width, l.column.right === true)).join(' '), width, false))
  if (data === null) return { lines, titleRow }
  const rows = visibleRows(data, state)
  const room = Math.max(0, height - lines.length)
  const shown = rows.length > room ? Math.max(0, room - 1) : rows.length
  for (const r of rows.slice(0, shown)) lines.push(rowLine(r, laid, data.timeMs, width))
  if (shown < rows.length) lines.push(fit(`… ${rows.length - shown} more (/ to filter, or a taller window)`, width, false))
  if (rows.length === 0) lines.push(fit(state.filter === '' ? '(no connections)' : `(nothing matches "${state.filter}")`, width, false))
  const last = lines.length - 1
  if (lines.length >= height && last >= 0) lines[last] = lines[last]!.slice(0, Math.max(0, width - 1))
  return { lines: lines.slice(0, height), titleRow }
}

function rowLine (r: ConnectionActivityRow, laid: readonly LaidColumn[], nowMs: number, width: number): string {
  return fit(laid.map(l => fit(l.column.value(r, nowMs), l.width, l.column.right === true)).join(' '), width, false)
}

/** `--once --format text`: the header and every row, at `width`. */
export function renderText (data: ConnectionsDescription, state: TopState, width: number): string {
  const lines = headerLines(data, state, width).slice(0, 2)
  const laid = layout(columnsFor(state.view), width)
  lines.push(laid.map(l => fit(l.column.title, l.width, l.column.right === true)).join(' ').trimEnd())
  for (const r of visibleRows(data, state)) lines.push(rowLine(r, laid, data.timeMs, width).trimEnd())
  return lines.join('\n') + '\n'
}

export type KeyAction = 'quit' | 'refetch' | 'redraw' | null

const SORT_BY_KEY: Record<string, SortKey> = { o: 'out', i: 'in', r: 'records', f: 'fetches', l: 'lag', w: 'throttle', A: 'age', n: 'name' }
const VIEW_BY_KEY: Record<string, ConnectionView> = { a: 'connection', g: 'group', t: 'topic', c: 'client', h: 'host' }

/**
 * One key: sort keys (again: reverse), view keys (again: back to connections), `/` to type
 * a filter, `p` or space to pause, `<` `>` to move the sort column, Esc to clear the
 * filter, `q` or Ctrl-C to quit. While typing a filter, keys edit it.
 */
export function onKey (state: TopState, key: string): KeyAction {
  if (key === '\u0003') return 'quit'
  if (state.editing) {
    if (key === '\r' || key === '\n') state.editing = false
    else if (key === '\u001b') {
      state.editing = false
      state.filter = ''
    } else if (key === '\u007f' || key === '\b') state.filter = state.filter.slice(0, -1)
    else if (key.length === 1 && key >= ' ') state.filter += key
    else return null
    return 'redraw'
  }
  if (key === 'q') return 'quit'
  const sort = SORT_BY_KEY[key]
  if (sort !== undefined) {
    state.reverse = state.sort === sort ? !state.reverse : false
    state.sort = sort
    return 'redraw'
  }
  const view = VIEW_BY_KEY[key]
  if (view !== undefined) {
    state.view = state.view === view ? 'connection' : view
    if (state.sort === 'age' && state.view !== 'connection') state.sort = 'out'
    return 'refetch'
  }
  switch (key) {
    case '/':
      state.editing = true
      return 'redraw'
    case 'p': case ' ':
      state.paused = !state.paused
      return state.paused ? 'redraw' : 'refetch'
    case '\u001b':
      if (state.filter === '') return null
      state.filter = ''
      return 'redraw'
    case '<': case '>': {
      const order = SORT_KEYS.filter(k => state.view === 'connection' || k !== 'age')
      const at = order.indexOf(state.sort)
      state.sort = order[(at + (key === '>' ? 1 : order.length - 1)) % order.length]!
      state.reverse = false
      return 'redraw'
    }
  }
  return null
}

/** Splits what a terminal sent in one read into keys (an escape sequence is one key, ignored by onKey). */
export function splitKeys (chunk: string): string[] {
  const keys: string[] = []
  for (let i = 0; i < chunk.length; i++) {
    if (chunk[i] === '\u001b' && chunk[i + 1] === '[') {
      let j = i + 2
      while (j < chunk.length && !/[A-Za-z~]/.test(chunk[j]!)) j++
      keys.push(chunk.slice(i, j + 1))
      i = j
      continue
    }
    keys.push(chunk[i]!)
  }
  return keys
}
