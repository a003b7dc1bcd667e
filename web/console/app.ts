/**
 * The web console (served at `/` by the broker, built by scripts/build-web.mjs into
 * dist/console/app.js). Plain TypeScript and DOM, no framework, no CDN: the header shows
 * the broker's overview, and a hash route picks the view:
 *
 *   #/topics  #/topics/<name>   topics-view.ts
 *   #/groups  #/groups/<id>     groups-view.ts
 *   #/tail    #/tail/<topic>    tail-view.ts (through the browser SDK)
 *   #/traffic  #/traffic/<conn> traffic-view.ts (a connection id highlights its row)
 *   #/brokers                   brokers-view.ts (the cluster's brokers and replica state)
 *
 * Every number comes from the broker's JSON api (`/api/...`, api.ts), polled by the view
 * on screen only; leaving a view stops its timers and closes its connections.
 */

import { api } from './api.js'
import { brokersView } from './brokers-view.js'
import { formatBytes, formatDuration, formatRate, h, poll, type View } from './dom.js'
import { groupsView } from './groups-view.js'
import { tailView } from './tail-view.js'
import { topicsView } from './topics-view.js'
import { trafficView } from './traffic-view.js'

const VIEWS: Record<string, { title: string, make: (param: string | null) => View }> = {
  topics: { title: 'Topics', make: topicsView },
  groups: { title: 'Consumer groups', make: groupsView },
  tail: { title: 'Live tail', make: tailView },
  traffic: { title: 'Traffic', make: trafficView },
  brokers: { title: 'Brokers', make: () => brokersView() },
}

function parseHash (): { name: string, param: string | null } {
  const [, name = 'topics', ...rest] = location.hash.replace(/^#/, '').split('/')
  const raw = rest.join('/')
  let param: string | null = null
  if (raw !== '') {
    try {
      param = decodeURIComponent(raw)
    } catch {
      param = raw // a malformed %-escape: show the view for the name as typed (it will not be found)
    }
  }
  return VIEWS[name] === undefined ? { name: 'topics', param: null } : { name, param }
}

function overviewBar (el: HTMLElement): void {
  const item = (label: string, value: string, id: string): HTMLElement =>
    h('span', { class: 'stat', id }, h('span', { class: 'label' }, label), ' ', h('span', { class: 'value' }, value))
  poll(async () => {
    const o = await api.overview()
    el.classList.remove('offline')
    el.replaceChildren(
      item('version', o.broker.version, 'stat-version'),
      item('up', formatDuration(o.broker.uptimeMs), 'stat-uptime'),
      item('topics', String(o.topics.count), 'stat-topics'),
      item('on disk', formatBytes(o.topics.sizeBytes), 'stat-bytes'),
      item('groups', String(o.groups.count), 'stat-groups'),
      item('connections', String(o.connections.count), 'stat-connections'),
      item('in', formatRate(o.rates.bytesInPerSec, 'bytes'), 'stat-in'),
      item('out', formatRate(o.rates.bytesOutPerSec, 'bytes'), 'stat-out'),
      ...(o.egress.anomaly
        ? [h('a', { class: 'stat egress-alert', id: 'stat-egress', href: `#/traffic/${encodeURIComponent(o.egress.heaviest?.id ?? '')}` },
            o.egress.ratio === null ? 'egress without ingress' : `egress ${Math.round(o.egress.ratio)}× ingress`)]
        : []))
  }, 2000, err => {
    el.classList.add('offline')
    el.replaceChildren(h('span', { class: 'stat' }, `broker unreachable: ${(err as Error).message}`))
  })
}

function main (): void {
  const nav = document.getElementById('nav')!
  const main = document.getElementById('view')!
  overviewBar(document.getElementById('overview')!)
  let current: View | null = null
  let shown = ''
  const show = (): void => {
    const { name, param } = parseHash()
    const key = `${name}/${param ?? ''}`
    if (key === shown) return
    current?.stop()
    shown = key
    current = VIEWS[name]!.make(param)
    main.replaceChildren(current.root)
    document.title = `${VIEWS[name]!.title} · Spool`
    for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.view === name)
  }
  window.addEventListener('hashchange', show)
  show()
}

main()
