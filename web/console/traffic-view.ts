/**
 * Traffic: produce and fetch rates per topic as live charts (records/s or bytes/s, the
 * busiest topics drawn, the rest summed as "other"), current rates per topic, and every
 * connection (native TCP and WebSocket, MQTT) with its bytes in/out per second, heaviest
 * egress first — the screen to open when outbound traffic suddenly explodes. Refreshed
 * every second; only new samples are fetched (`?sinceMs=`).
 */

import { api, type ConnectionRow, type Rates } from './api.js'
import { PALETTE, lineChart, niceBinaryCeiling, niceCeiling, type Series } from './chart.js'
import { errorBanner, formatBytes, formatDuration, formatRate, h, poll, table, type View } from './dom.js'

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

export function trafficView (): View {
  const errors = errorBanner()
  let unit: Unit = 'records'
  const unitSelect = h('select', { name: 'unit', onchange: () => { unit = unitSelect.value as Unit; render() } },
    h('option', { value: 'records' }, 'records/s'), h('option', { value: 'bytes' }, 'bytes/s'))
  const charts = h('div', { class: 'charts' })
  const topicsCard = h('div', { class: 'card' })
  const connectionsCard = h('div', { class: 'card' })
  let connections: ConnectionRow[] = []
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
    const connRows = connections.map(c => [
      c.clientId || h('span', { class: 'muted' }, '(none)'),
      c.remoteAddress,
      h('span', { class: `badge proto-${c.protocol}` }, c.protocol),
      c.group ?? '—',
      formatRate(c.bytesInPerSec, 'bytes'),
      h('td', { class: `num egress${c.bytesOutPerSec > 1024 * 1024 ? ' hot' : ''}` }, formatRate(c.bytesOutPerSec, 'bytes')),
      formatBytes(c.bytesIn),
      formatBytes(c.bytesOut),
      formatDuration(nowMs - c.connectedAtMs),
    ])
    connectionsCard.replaceChildren(h('h3', null, `Connections (${connections.length}), heaviest egress first`),
      table(['Client id', 'Address', 'Protocol', 'Group', 'In', 'Out', 'Total in', 'Total out', 'Connected'], connRows,
        { numeric: [4, 5, 6, 7, 8], empty: 'No connections.', className: 'connections' }))
  }

  const root = h('section', { class: 'view traffic' },
    h('h2', null, 'Traffic ', h('label', { class: 'inline' }, 'show ', unitSelect)),
    errors.el, charts, h('div', { class: 'columns' }, topicsCard), connectionsCard)
  const stop = poll(async () => {
    const answer = await api.traffic(sampledUntil)
    errors.clear()
    nowMs = answer.timeMs
    const lastT = samples.at(-1)?.timeMs ?? 0
    // Internal topics (__consumer_offsets, the MQTT gateway's) are hidden, as on the Topics screen.
    for (const s of answer.history) if (s.timeMs > lastT) samples.push({ ...s, topics: withoutInternal(s.topics) })
    sampledUntil = samples.at(-1)?.timeMs
    while (samples.length > 0 && samples[0]!.timeMs < nowMs - WINDOW_MS) samples.shift()
    connections = answer.connections
    render()
  }, REFRESH_MS, err => errors.show(err))
  return { root, stop }
}

function withoutInternal (topics: Record<string, Rates>): Record<string, Rates> {
  const out: Record<string, Rates> = {}
  for (const [name, r] of Object.entries(topics)) if (!name.startsWith('__')) out[name] = r
  return out
}
