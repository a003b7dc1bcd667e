/**
 * Traffic: produce and fetch rates per topic as live charts (records/s or bytes/s, the
 * busiest topics drawn, the rest summed as "other"), current rates per topic, and every
 * connection (native TCP and WebSocket, MQTT, Kafka) with what `spool top` shows — client
 * id, group, topics, bytes and records per second, how far behind the log end it reads,
 * how much a quota throttles it — heaviest egress first, or summed by group, topic, client
 * id or host: the screen to open when outbound traffic suddenly explodes. When egress is
 * far above ingress (the broker's egress anomaly), a notice says so and links to the
 * heaviest connection (`#/traffic/<connection id>` highlights its row). Refreshed every
 * second; only new samples are fetched (`?sinceMs=`).
 */

import { api, type ConnectionActivityRow, type ConnectionView, type EgressNotice, type Rates } from './api.js'
import { PALETTE, lineChart, niceBinaryCeiling, niceCeiling, type Series } from './chart.js'
import { errorBanner, formatBytes, formatCount, formatDuration, formatRate, h, poll, table, type View } from './dom.js'

const REFRESH_MS = 1000
const WINDOW_MS = 5 * 60_000
const MAX_LINES = 7

type Unit = 'records' | 'bytes'

/** Samples kept across refreshes for the last WINDOW_MS. */
const samples: Array<{ timeMs: number, topics: Record<string, Rates> }> = []
let sampledUntil: number | undefined

function value (r: Rates | undefined, dir: 'in' | 'out', unit: Unit): number {
  if (r === undefined) return 0
  if (unit === 'records') return dir === 'in' ? r.recordsInPerSec : r.recordsOutPerSec
  return dir === 'in' ? r.bytesInPerSec : r.bytesOutPerSec
}

/** One line per busy topic (by peak in the window), the rest summed as "other". */
function seriesFor (dir: 'in' | 'out', unit: Unit): Series[] {
  const peak = new Map<string, number>()
  for (const s of samples) for (const [topic, r] of Object.entries(s.topics)) peak.set(topic, Math.max(peak.get(topic) ?? 0, value(r, dir, unit)))
  const busy = [...peak.entries()].filter(([, p]) => p > 0).sort((a, b) => b[1] - a[1])
  const drawn = busy.slice(0, MAX_LINES).map(([topic]) => topic)
  const rest = busy.slice(MAX_LINES).map(([topic]) => topic)
  const series: Series[] = drawn.map((topic, i) => ({ name: topic, color: PALETTE[i % PALETTE.length]!, points: samples.map(s => [s.timeMs, value(s.topics[topic], dir, unit)] as const) }))
  if (rest.length > 0) {
    series.push({ name: `other (${rest.length})`, color: '#999999', points: samples.map(s => [s.timeMs, rest.reduce((sum, t) => sum + value(s.topics[t], dir, unit), 0)] as const) })
  }
  return series
}

function legend (series: Series[]): HTMLElement {
  return h('div', { class: 'legend' }, ...series.map(s => {
    const swatch = h('span', { class: 'swatch' })
    swatch.style.background = s.color ?? '#999999'
    return h('span', { class: 'item' }, swatch, s.name)
  }))
}

const VIEW_LABEL: Record<ConnectionView, string> = { connection: 'connection', group: 'group', topic: 'topic', client: 'client id', host: 'host' }

/** "egress is 283× ingress", with the heaviest connection and a link to its row. */
export function egressNotice (e: EgressNotice): HTMLElement | null {
  if (!e.anomaly) return null
  const ratio = e.ratio === null ? 'egress without ingress' : `egress is ${e.ratio >= 10 ? Math.round(e.ratio) : e.ratio.toFixed(1)}× ingress`
  const parts: Array<string | HTMLElement> = [h('strong', null, ratio[0]!.toUpperCase() + ratio.slice(1)), ` (${formatRate(e.bytesOutPerSec, 'bytes')} out, ${formatRate(e.bytesInPerSec, 'bytes')} in).`]
  if (e.heaviest !== null) {
    const who = e.heaviest.clientId === '' ? e.heaviest.id : e.heaviest.clientId
    parts.push(' Heaviest: ', h('a', { href: `#/traffic/${encodeURIComponent(e.heaviest.id)}`, class: 'heaviest' }, who),
      `${e.heaviest.group === null ? '' : ` (group ${e.heaviest.group})`} on ${e.heaviest.host}, ${Math.round(e.heaviest.sharePct)}% of egress${e.heaviest.topics.length === 0 ? '' : `, reading ${e.heaviest.topics.join(', ')}`}.`,
      ' Limit it with ', h('code', null, `spool quota set --client-id ${who} --fetch-bytes-per-sec 1MB`), '.')
  }
  return h('div', { class: 'notice egress', role: 'status' }, ...parts)
}

const lagText = (lag: number): string => lag < 0 ? '—' : formatCount(lag)
const throttleText = (r: ConnectionActivityRow): string => r.throttledMs === 0 ? '—' : `${Math.round(r.throttledPct)}% (${formatDuration(r.throttledMs)})`
const names = (list: readonly string[]): string => list.length === 0 ? '—' : list.join(', ')

export function trafficView (highlight: string | null = null): View {
  const errors = errorBanner()
  let unit: Unit = 'records'
  let by: ConnectionView = 'connection'
  const unitSelect = h('select', { name: 'unit', onchange: () => { unit = unitSelect.value as Unit; render() } },
    h('option', { value: 'records' }, 'records/s'), h('option', { value: 'bytes' }, 'bytes/s'))
  const bySelect = h('select', { name: 'by', onchange: () => { by = bySelect.value as ConnectionView; connections = []; render(); void refreshConnections() } },
    ...(['connection', 'group', 'topic', 'client', 'host'] as const).map(v => h('option', { value: v }, v === 'connection' ? 'each connection' : `by ${VIEW_LABEL[v]}`)))
  const notice = h('div', { class: 'notice-slot' })
  const charts = h('div', { class: 'charts' })
  const topicsCard = h('div', { class: 'card' })
  const connectionsCard = h('div', { class: 'card' })
  let connections: ConnectionActivityRow[] = []
  let scrolled = false
  let nowMs = Date.now()

  function chartCard (title: string, dir: 'in' | 'out'): HTMLElement {
    const series = seriesFor(dir, unit)
    // Drawn at the size it is shown (two columns on wide screens; see .charts in style.css).
    const columns = charts.clientWidth >= 974 ? 2 : 1
    const width = Math.max(360, Math.floor((charts.clientWidth - 14 * (columns - 1)) / columns) - 34)
    const chart = lineChart(series, { windowMs: WINDOW_MS, nowMs, format: v => formatRate(v, unit), ceiling: unit === 'bytes' ? niceBinaryCeiling : niceCeiling, clipSpikes: true, width, height: 200 })
    return h('div', { class: 'card chart-card', 'data-chart': dir }, h('h3', null, title), chart,
      series.length === 0 ? h('p', { class: 'muted' }, 'No traffic in the last 5 minutes.') : legend(series))
  }

  function render (): void {
    charts.replaceChildren(chartCard('Produce (into the broker)', 'in'), chartCard('Fetch (out of the broker)', 'out'))
    const latest = samples.at(-1)?.topics ?? {}
    const topicRows = Object.entries(latest)
      .sort((a, b) => b[1].bytesOutPerSec - a[1].bytesOutPerSec || b[1].bytesInPerSec - a[1].bytesInPerSec || (a[0] < b[0] ? -1 : 1))
      .map(([topic, r]) => [topic, formatRate(r.recordsInPerSec, 'records'), formatRate(r.bytesInPerSec, 'bytes'), formatRate(r.recordsOutPerSec, 'records'), formatRate(r.bytesOutPerSec, 'bytes')])
    topicsCard.replaceChildren(h('h3', null, 'Topics now'), table(['Topic', 'Produce records', 'Produce bytes', 'Fetch records', 'Fetch bytes'], topicRows,
      { numeric: [1, 2, 3, 4], empty: 'No topic has had traffic since the broker started.', className: 'topic-rates' }))
    connectionsCard.replaceChildren(h('h3', null, by === 'connection'
      ? `Connections (${connections.length}), heaviest egress first `
      : `Connections by ${VIEW_LABEL[by]} (${connections.length}), heaviest egress first `, h('label', { class: 'inline' }, bySelect)),
    by === 'connection' ? connectionTable() : aggregateTable())
    const table_ = connectionsCard.querySelector('table')
    if (highlight !== null && by === 'connection' && !scrolled) {
      const row = table_?.querySelector(`tr[data-id="${CSS.escape(highlight)}"]`)
      if (row !== null && row !== undefined) {
        scrolled = true
        row.scrollIntoView({ block: 'center' })
      }
    }
  }

  function connectionTable (): HTMLTableElement {
    const rows = connections.map(c => [
      c.clientId || h('span', { class: 'muted' }, '(none)'),
      c.address,
      h('span', { class: `badge proto-${c.protocol}-${c.transport}` }, `${c.protocol}-${c.transport}`),
      c.group ?? '—',
      names(c.topics.map(t => t.topic)),
      formatRate(c.bytesInPerSec, 'bytes'),
      h('td', { class: `num egress${c.bytesOutPerSec > 1024 * 1024 ? ' hot' : ''}` }, formatRate(c.bytesOutPerSec, 'bytes')),
      formatRate(c.recordsInPerSec + c.recordsOutPerSec + c.messagesOutPerSec, 'records'),
      h('td', { class: `num lag${c.fetchLag > 100_000 ? ' bad' : ''}` }, lagText(c.fetchLag)),
      h('td', { class: `num throttled${c.throttleMs > 0 ? ' warn' : ''}` }, throttleText(c)),
      formatBytes(c.bytesOut),
      formatDuration(nowMs - c.connectedAtMs),
    ])
    const t = table(['Client id', 'Address', 'Protocol', 'Group', 'Topics', 'In', 'Out', 'Records', 'Behind', 'Throttled', 'Total out', 'Connected'], rows,
      { numeric: [5, 6, 7, 8, 9, 10, 11], empty: 'No connections.', className: 'connections' })
    t.querySelectorAll('tbody tr').forEach((tr, i) => {
      const id = connections[i]?.id
      if (id === undefined) return
      tr.setAttribute('data-id', id)
      if (id === highlight) tr.classList.add('highlight')
    })
    return t
  }

  function aggregateTable (): HTMLTableElement {
    const rows = connections.map(r => [
      r.key === '' ? h('span', { class: 'muted' }, by === 'group' ? '(no group)' : '(none)') : r.key,
      r.connections,
      names(r.clientIds),
      by === 'topic' ? names(r.groups) : names(r.topics.map(t => t.topic)),
      names(r.hosts),
      formatRate(r.bytesInPerSec, 'bytes'),
      h('td', { class: `num egress${r.bytesOutPerSec > 1024 * 1024 ? ' hot' : ''}` }, formatRate(r.bytesOutPerSec, 'bytes')),
      formatRate(r.recordsInPerSec + r.recordsOutPerSec + r.messagesOutPerSec, 'records'),
      h('td', { class: 'num lag' }, lagText(r.fetchLag)),
      h('td', { class: `num throttled${r.throttleMs > 0 ? ' warn' : ''}` }, throttleText(r)),
    ])
    return table([VIEW_LABEL[by][0]!.toUpperCase() + VIEW_LABEL[by].slice(1), 'Connections', 'Client ids', by === 'topic' ? 'Groups' : 'Topics', 'Hosts', 'In', 'Out', 'Records', 'Behind', 'Throttled'], rows,
      { numeric: [1, 5, 6, 7, 8, 9], empty: 'No connections.', className: 'connections aggregate' })
  }

  async function refreshConnections (): Promise<void> {
    const asked = by
    const answer = await api.connections(asked)
    if (asked !== by) return
    connections = answer.rows
    const n = egressNotice(answer.egress)
    notice.replaceChildren(...(n === null ? [] : [n]))
    render()
  }

  const root = h('section', { class: 'view traffic' },
    h('h2', null, 'Traffic ', h('label', { class: 'inline' }, 'show ', unitSelect)),
    errors.el, notice, charts, h('div', { class: 'columns' }, topicsCard), connectionsCard)
  const stop = poll(async () => {
    const answer = await api.traffic(sampledUntil)
    errors.clear()
    nowMs = answer.timeMs
    const lastT = samples.at(-1)?.timeMs ?? 0
    // Internal topics (__consumer_offsets, the MQTT gateway's) are hidden, as on the Topics screen.
    for (const s of answer.history) if (s.timeMs > lastT) samples.push({ ...s, topics: withoutInternal(s.topics) })
    sampledUntil = samples.at(-1)?.timeMs
    while (samples.length > 0 && samples[0]!.timeMs < nowMs - WINDOW_MS) samples.shift()
    await refreshConnections()
  }, REFRESH_MS, err => errors.show(err))
  return { root, stop }
}

function withoutInternal (topics: Record<string, Rates>): Record<string, Rates> {
  const out: Record<string, Rates> = {}
  for (const [name, r] of Object.entries(topics)) if (!name.startsWith('__')) out[name] = r
  return out
}
