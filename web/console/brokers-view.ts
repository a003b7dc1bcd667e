/**
 * Brokers: the cluster this broker belongs to (GET /api/cluster) — a card per broker (node
 * id, rack, listeners, controller, decommissioned), the partition totals (under-replicated,
 * offline, being reassigned), and the partitions that need attention with their leader,
 * replicas and in-sync replicas. A single broker shows itself as a cluster of one.
 * Refreshed every 2 seconds.
 */

import { api, type ClusterAnswer } from './api.js'
import { errorBanner, h, poll, table, type View } from './dom.js'

const REFRESH_MS = 2000

function brokerCard (c: ClusterAnswer, b: ClusterAnswer['brokers'][number]): HTMLElement {
  const roles = [b.nodeId === c.controllerId ? 'controller' : '', b.nodeId === c.nodeId ? 'this broker' : '', b.decommissioned ? 'decommissioned' : ''].filter(Boolean)
  return h('div', { class: 'card broker-card', 'data-node': String(b.nodeId) },
    h('h3', null, `Broker ${b.nodeId}`, ...roles.map(r => h('span', { class: `badge role-${r.replace(/ /g, '-')}` }, r))),
    h('p', { class: 'muted' }, b.rack === null ? 'no rack' : `rack ${b.rack}`),
    table(['Protocol', 'Address'], Object.entries(b.listeners).map(([protocol, address]) => [protocol, address]), { empty: 'No listeners.' }))
}

export function brokersView (): View {
  const errors = errorBanner()
  const summary = h('div', { class: 'card' })
  const cards = h('div', { class: 'columns brokers' })
  const attention = h('div', { class: 'card' })
  const root = h('section', { class: 'view brokers' }, h('h2', null, 'Brokers'), errors.el, summary, cards, attention)
  const stop = poll(async () => {
    const c = await api.cluster()
    errors.clear()
    const p = c.partitions
    summary.replaceChildren(h('h3', null, c.clustered ? `Cluster ${c.clusterId}` : 'A single broker'),
      table(['Brokers', 'Controller', 'Partitions', 'Under-replicated', 'Offline', 'Reassigning'],
        [[c.brokers.length, c.controllerId < 0 ? '—' : c.controllerId, p.total, p.underReplicated, p.offline, p.reassigning]], { numeric: [0, 2, 3, 4, 5], className: 'cluster-summary' }))
    cards.replaceChildren(...c.brokers.map(b => brokerCard(c, b)))
    attention.replaceChildren(h('h3', null, 'Partitions needing attention'),
      table(['Topic', 'Partition', 'Leader', 'Epoch', 'Replicas', 'In sync', 'State'],
        c.attention.map(a => [a.topic, a.partition, a.leader < 0 ? '—' : a.leader, a.leaderEpoch, a.replicas.join(', '), a.isr.join(', '), a.state]),
        { numeric: [1, 2, 3], empty: 'Every partition is fully replicated and has a leader.', className: 'attention' }))
  }, REFRESH_MS, err => errors.show(err))
  return { root, stop }
}
