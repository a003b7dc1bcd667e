/**
 * Topics: every topic with partitions, records, bytes on disk, retention and cleanup
 * policy; a form to create one and a two-click delete (no browser dialog). `#/topics/<name>`
 * shows one topic: log start/end offset, high watermark, bytes and segments per partition,
 * and its effective config. Refreshed every 2 s.
 */

import { ApiError, api, type TopicDetail, type TopicSummary } from './api.js'
import {
  errorBanner, formatBytes, formatConfigValue, formatCount, formatRetention, formatTime, h, poll, table, type View,
} from './dom.js'

const REFRESH_MS = 2000
/** What a topic name may hold (the broker's rule: [A-Za-z0-9._-]{1,249}). */
export const TOPIC_NAME_RULE = 'A topic name uses only letters (A-Z, a-z), digits, dots (.), underscores (_) and hyphens (-), at most 249 of them'

const RETENTION_CHOICES: Array<[string, string]> = [
  ['', 'broker default'], ['3600000', '1 hour'], ['86400000', '1 day'], ['604800000', '7 days'], ['-1', 'forever'],
]

export function topicsView (name: string | null): View {
  return name === null ? topicList() : topicDetail(name)
}

function topicList (): View {
  const errors = errorBanner()
  const body = h('div', { class: 'card' }, h('p', { class: 'muted' }, 'Loading…'))
  let pendingDelete: string | null = null
  let last: TopicSummary[] = []

  const nameInput = h('input', { name: 'name', placeholder: 'topic name', required: true, pattern: '[A-Za-z0-9._\\-]{1,249}', maxlength: 249, autocomplete: 'off', title: TOPIC_NAME_RULE })
  // The browser's own message for a pattern mismatch says only "match the requested format".
  nameInput.addEventListener('input', () => nameInput.setCustomValidity(nameInput.validity.patternMismatch ? TOPIC_NAME_RULE : ''))
  const partitionsInput = h('input', { name: 'partitions', type: 'number', min: 1, value: 1, class: 'narrow' })
  const retention = h('select', { name: 'retention' }, ...RETENTION_CHOICES.map(([v, label]) => h('option', { value: v }, label)))
  const policy = h('select', { name: 'cleanupPolicy' }, h('option', { value: 'delete' }, 'delete'), h('option', { value: 'compact' }, 'compact'))
  const createButton = h('button', { type: 'submit' }, 'Create topic')
  const form = h('form', { class: 'create', onsubmit: (event: Event) => { event.preventDefault(); void create() } },
    h('label', null, 'Name ', nameInput, h('small', { class: 'hint' }, 'letters, digits, . _ -')),
    h('label', null, 'Partitions ', partitionsInput),
    h('label', null, 'Retention ', retention),
    h('label', null, 'Cleanup ', policy),
    createButton)

  async function create (): Promise<void> {
    createButton.disabled = true
    try {
      const config: Record<string, string | number> = { cleanupPolicy: policy.value }
      if (retention.value !== '') config.retentionMs = Number(retention.value)
      await api.createTopic({ topic: nameInput.value.trim(), partitions: Number(partitionsInput.value), config })
      errors.clear()
      nameInput.value = ''
      await refresh()
    } catch (err) {
      errors.show(err)
    } finally {
      createButton.disabled = false
    }
  }

  async function remove (name: string): Promise<void> {
    if (pendingDelete !== name) {
      pendingDelete = name
      render()
      return
    }
    pendingDelete = null
    try {
      await api.deleteTopic(name)
      errors.clear()
    } catch (err) {
      errors.show(err)
    }
    await refresh()
  }

  function render (): void {
    const rows = last.map(t => [
      h('a', { href: `#/topics/${encodeURIComponent(t.topic)}`, class: 'topic-name' }, t.topic),
      t.partitions,
      formatCount(t.records),
      formatBytes(t.sizeBytes),
      formatRetention(t.retentionMs) + (t.retentionBytes >= 0 ? ` / ${formatBytes(t.retentionBytes)}` : ''),
      h('span', { class: `badge ${t.cleanupPolicy}` }, t.cleanupPolicy),
      formatTime(t.createdAtMs).slice(0, 19),
      h('td', { class: 'actions' },
        h('a', { href: `#/tail/${encodeURIComponent(t.topic)}`, class: 'button small' }, 'Tail'),
        h('button', {
          class: pendingDelete === t.topic ? 'small danger confirm' : 'small danger',
          'data-topic': t.topic,
          onclick: () => { void remove(t.topic) },
        }, pendingDelete === t.topic ? 'Confirm delete' : 'Delete')),
    ])
    body.replaceChildren(table(['Topic', 'Partitions', 'Records', 'On disk', 'Retention', 'Cleanup', 'Created', ''], rows,
      { numeric: [1, 2, 3], empty: 'No topics yet: create one above, or produce to one (topics are created on first use).', className: 'topics' }))
  }

  // A failed refresh shows its error until a refresh succeeds; a failed create or delete
  // until the next action (or the user edits the form).
  let refreshFailed = false
  async function refresh (): Promise<void> {
    last = await api.topics()
    if (refreshFailed) {
      refreshFailed = false
      errors.clear()
    }
    if (pendingDelete !== null && !last.some(t => t.topic === pendingDelete)) pendingDelete = null
    render()
  }
  nameInput.addEventListener('input', () => { if (!refreshFailed) errors.clear() })

  const root = h('section', { class: 'view topics' }, h('h2', null, 'Topics'), errors.el, h('div', { class: 'card' }, form), body)
  const stop = poll(refresh, REFRESH_MS, err => { refreshFailed = true; errors.show(err) })
  return { root, stop }
}

function topicDetail (name: string): View {
  const errors = errorBanner()
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading…'))
  const render = (t: TopicDetail): void => {
    const partitions = table(['Partition', 'Log start', 'Log end', 'High watermark', 'Records', 'On disk', 'Segments'],
      t.partitions.map(p => [p.partition, p.logStartOffset, p.logEndOffset, p.highWatermark, formatCount(p.logEndOffset - p.logStartOffset), formatBytes(p.sizeBytes), p.segments]),
      { numeric: [0, 1, 2, 3, 4, 5, 6], className: 'partitions' })
    const config = table(['Setting', 'Value'], Object.entries(t.config).map(([k, v]) => [k, formatConfigValue(k, v)]), { className: 'config' })
    body.replaceChildren(
      h('div', { class: 'facts' },
        fact('Partitions', String(t.partitions.length)),
        fact('Records', formatCount(t.records)),
        fact('On disk', formatBytes(t.sizeBytes)),
        fact('Retention', formatRetention(t.retentionMs)),
        fact('Cleanup policy', t.cleanupPolicy),
        fact('Created', formatTime(t.createdAtMs).slice(0, 19))),
      h('div', { class: 'card' }, h('h3', null, 'Partitions'), partitions),
      h('div', { class: 'card' }, h('h3', null, 'Config'), config))
  }
  const root = h('section', { class: 'view topic' },
    h('h2', null, h('a', { href: '#/topics' }, 'Topics'), ' / ', name, ' ', h('a', { href: `#/tail/${encodeURIComponent(name)}`, class: 'button small' }, 'Tail')),
    errors.el, body)
  const stop = poll(async () => {
    render(await api.topic(name))
    errors.clear()
  }, REFRESH_MS, err => {
    // A missing topic is a state, not a failure: say so (it is shown if it gets created).
    if (err instanceof ApiError && err.status === 404) {
      errors.clear()
      body.replaceChildren(h('p', { class: 'muted' }, `There is no topic named "${name}" (now).`))
    } else errors.show(err)
  })
  return { root, stop }
}

export function fact (label: string, value: string): HTMLElement {
  return h('div', { class: 'fact' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value))
}
