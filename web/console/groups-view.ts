/**
 * Consumer groups: each group's state, members, topics and total lag with a sparkline of the
 * last minutes; `#/groups/<id>` shows members (client id, host, assignment), committed and
 * end offsets and lag per partition, and a chart of the total lag. Refreshed every second;
 * the lag history is fetched once and then only what is new (`?sinceMs=`).
 */

import { ApiError, api, type GroupDetail, type GroupSummary } from './api.js'
import { lineChart, sparkline } from './chart.js'
import { errorBanner, formatCount, h, lagClass, poll, table, type View } from './dom.js'
import { fact } from './topics-view.js'

const REFRESH_MS = 1000
const MISSING_REFRESH_MS = 10_000
const WINDOW_MS = 5 * 60_000

/** Lag history per group, kept across refreshes (and views) for the last WINDOW_MS. */
const history = new Map<string, Array<[number, number]>>()
let historyUntil: number | undefined

async function refreshGroups (): Promise<{ groups: GroupSummary[], nowMs: number }> {
  const answer = await api.groups(historyUntil)
  historyUntil = answer.timeMs
  const from = answer.timeMs - WINDOW_MS
  for (const g of answer.groups) {
    const known = history.get(g.groupId) ?? []
    const lastT = known.at(-1)?.[0] ?? 0
    for (const p of g.lagHistory) if (p[0] > lastT) known.push(p)
    while (known.length > 0 && known[0]![0] < from) known.shift()
    history.set(g.groupId, known)
  }
  for (const id of [...history.keys()]) if (!answer.groups.some(g => g.groupId === id)) history.delete(id)
  return { groups: answer.groups, nowMs: answer.timeMs }
}

export function groupsView (id: string | null): View {
  return id === null ? groupList() : groupDetail(id)
}

/** A member id's first 8 characters (as `spool group describe` prints it); the whole id is the cell's title. */
function shortId (id: string): string {
  return id.length > 9 ? `${id.slice(0, 8)}…` : id
}

function stateBadge (state: string): HTMLElement {
  return h('span', { class: `badge state-${state}` }, state)
}

function groupList (): View {
  const errors = errorBanner()
  const body = h('div', { class: 'card' }, h('p', { class: 'muted' }, 'Loading…'))
  const root = h('section', { class: 'view groups' }, h('h2', null, 'Consumer groups'), errors.el, body)
  const stop = poll(async () => {
    const { groups, nowMs } = await refreshGroups()
    errors.clear()
    body.replaceChildren(table(['Group', 'State', 'Members', 'Topics', 'Total lag', 'Lag, last 5 minutes'], groups.map(g => [
      h('a', { href: `#/groups/${encodeURIComponent(g.groupId)}`, class: 'group-name' }, g.groupId),
      stateBadge(g.state),
      g.members,
      g.topics.join(', '),
      h('td', { class: `num lag ${lagClass(g.totalLag)}`, 'data-group': g.groupId }, formatCount(g.totalLag)),
      h('td', { class: 'spark' }, sparkline(history.get(g.groupId) ?? [], { windowMs: WINDOW_MS, nowMs })),
    ]), { numeric: [2, 4], empty: 'No consumer groups yet: start one with `spool consume <topic> --group <group>`.', className: 'groups' }))
  }, REFRESH_MS, err => errors.show(err))
  return { root, stop }
}

function groupDetail (id: string): View {
  const errors = errorBanner()
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading…'))
  const root = h('section', { class: 'view group' }, h('h2', null, h('a', { href: '#/groups' }, 'Consumer groups'), ' / ', id), errors.el, body)
  const render = (g: GroupDetail, nowMs: number): void => {
    const clientOf = new Map(g.members.map(m => [m.memberId, m]))
    const members = table(['Member', 'Client id', 'Host', 'Assignment'], g.members.map(m => [
      h('code', { title: m.memberId }, shortId(m.memberId)),
      m.clientId,
      m.clientHost,
      m.assignment.map(a => `${a.topic} [${a.partitions.join(', ')}]`).join('; ') || '—',
    ]), { empty: 'No members: the group only holds committed offsets.', className: 'members' })
    const partitions = table(['Topic', 'Partition', 'Committed', 'Log end', 'Lag', 'Member'], g.offsets.map(o => [
      o.topic,
      o.partition,
      o.committedOffset < 0 ? '—' : o.committedOffset,
      o.logEndOffset,
      h('td', { class: `num lag ${lagClass(o.lag)}` }, o.lag < 0 ? '—' : formatCount(o.lag)),
      o.memberId === null ? '—' : `${clientOf.get(o.memberId)?.clientId ?? ''} (${shortId(o.memberId)})`,
    ]), { numeric: [1, 2, 3], className: 'offsets' })
    const width = Math.max(360, body.clientWidth - 34)
    const lag = lineChart([{ name: 'total lag', points: history.get(id) ?? [] }], { windowMs: WINDOW_MS, nowMs, format: formatCount, width, height: 160 })
    body.replaceChildren(
      h('div', { class: 'facts' },
        h('div', { class: 'fact' }, h('div', { class: 'label' }, 'State'), h('div', { class: 'value' }, stateBadge(g.state))),
        fact('Members', String(g.members.length)),
        fact('Epoch', String(g.groupEpoch)),
        h('div', { class: 'fact' }, h('div', { class: 'label' }, 'Total lag'), h('div', { class: `value lag ${lagClass(g.totalLag)}`, id: 'group-total-lag' }, formatCount(g.totalLag)))),
      h('div', { class: 'card' }, h('h3', null, 'Total lag, last 5 minutes'), lag),
      h('div', { class: 'card' }, h('h3', null, 'Members'), members),
      h('div', { class: 'card' }, h('h3', null, 'Partitions'), partitions))
  }
  // A group that does not exist is a state, not a failure: said in words, and asked about
  // only every MISSING_REFRESH_MS (it shows once a consumer joins it or commits to it).
  let missing = false
  const stop = poll(async () => {
    const [{ nowMs }, group] = await Promise.all([refreshGroups(), api.group(id)])
    errors.clear()
    missing = false
    render(group, nowMs)
  }, () => missing ? MISSING_REFRESH_MS : REFRESH_MS, err => {
    if (err instanceof ApiError && err.code === 'GROUP_ID_NOT_FOUND') {
      missing = true
      errors.clear()
      body.replaceChildren(h('p', { class: 'muted missing', id: 'group-missing' },
        `There is no consumer group named "${id}". It appears here once a consumer joins it (spool consume <topic> --group ${id}); looking again every ${MISSING_REFRESH_MS / 1000} s.`))
    } else errors.show(err)
  })
  return { root, stop }
}
