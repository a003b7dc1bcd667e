/**
 * Live tail of a topic through the browser SDK (sdk.ts: `/sdk/spool.js` over `/ws`), newest
 * record first: from the latest offset, the earliest, an offset or a time; one partition or
 * all; pause and resume; keys, values and headers as text or pretty-printed JSON.
 *
 * Memory is capped: at most ROW_CAP records are kept (as display strings, never the fetched
 * buffers) and at most ROW_CAP table rows exist. A batch larger than the cap only has its
 * last ROW_CAP records decoded for display; every record is counted. Rendering happens once
 * per animation frame, whatever the message rate.
 */

import { api } from './api.js'
import { errorBanner, formatCount, formatTime, h, type View } from './dom.js'
import { brokerWebSocketUrl, loadSdk, type SdkClient, type SdkConsumer, type SdkMessage } from './sdk.js'

export const ROW_CAP = 1000
/** Longest value text shown per row; the rest is summarised. */
const VALUE_PREVIEW_CHARS = 4096

type From = 'latest' | 'earliest' | 'offset' | 'time'
type Format = 'text' | 'json'

interface Row {
  partition: number
  offset: number
  timestamp: number
  key: string | null
  /** The value as text, or null (a tombstone). */
  value: string | null
  valueBytes: number
  /** The value was cut to VALUE_PREVIEW_CHARS for display. */
  cut: boolean
  binary: boolean
  headers: string
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Text of bytes: UTF-8 when valid, else hex of the first bytes (marked binary). Long values
 * are cut to `limit` characters; the cut may fall inside a character, so the decoder streams
 * (an unfinished last character is left out instead of making the value "binary").
 */
function decode (bytes: Uint8Array, limit: number): { text: string, binary: boolean, cut: boolean } {
  try {
    const partial = bytes.length > limit * 4
    const text = partial ? new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, limit * 4), { stream: true }) : utf8.decode(bytes)
    return text.length > limit ? { text: text.slice(0, limit), binary: false, cut: true } : { text, binary: false, cut: partial }
  } catch {
    const hex = Array.from(bytes.subarray(0, 32), b => b.toString(16).padStart(2, '0')).join(' ')
    return { text: `${hex}${bytes.length > 32 ? ' …' : ''}`, binary: true, cut: bytes.length > 32 }
  }
}

function toRow (m: SdkMessage): Row {
  const value = m.value === null ? null : decode(m.value, VALUE_PREVIEW_CHARS)
  return {
    partition: m.partition,
    offset: m.offset,
    timestamp: m.timestamp,
    key: m.key === null ? null : decode(m.key, 256).text,
    value: value?.text ?? null,
    valueBytes: m.value?.length ?? 0,
    cut: value?.cut ?? false,
    binary: value?.binary ?? false,
    headers: m.headers.map(hd => `${hd.key}=${hd.value === null ? 'null' : decode(hd.value, 256).text}`).join(', '),
  }
}

function valueCell (row: Row, format: Format): HTMLElement {
  if (row.value === null) return h('td', { class: 'value muted' }, 'null')
  if (row.binary) return h('td', { class: 'value binary', title: `${row.valueBytes} bytes, not UTF-8` }, `binary: ${row.value}`)
  const more = row.cut ? h('span', { class: 'muted' }, ` … (${formatCount(row.valueBytes)} bytes)`) : null
  if (format === 'json') {
    if (row.cut) return h('td', { class: 'value', title: `cut at ${VALUE_PREVIEW_CHARS} characters: not parsed as JSON` }, clamped(row.value, more))
    try {
      return h('td', { class: 'value' }, clamped(h('pre', { class: 'json' }, JSON.stringify(JSON.parse(row.value), null, 2)), more))
    } catch {
      return h('td', { class: 'value not-json', title: 'not valid JSON' }, clamped(row.value, more))
    }
  }
  return h('td', { class: 'value' }, clamped(row.value, more))
}

/** A value shown in a few lines at most; a click opens or closes the rest. */
function clamped (...children: Array<Node | string | null>): HTMLElement {
  return h('div', { class: 'clamp', onclick: (event: Event) => { (event.currentTarget as HTMLElement).classList.toggle('open') } }, ...children)
}

function rowElement (row: Row, format: Format): HTMLTableRowElement {
  return h('tr', null,
    // On narrow screens only the time of day is shown (style.css hides the date).
    h('td', { class: 'time', title: formatTime(row.timestamp) }, h('span', { class: 'date' }, formatTime(row.timestamp).slice(0, 11)), formatTime(row.timestamp).slice(11)),
    h('td', { class: 'num' }, row.partition),
    h('td', { class: 'num' }, row.offset),
    // A key stays on one line (a long one is cut with an ellipsis; the whole key is the title).
    h('td', { class: row.key === null ? 'key muted' : 'key', title: row.key ?? undefined }, h('span', { class: 'one-line' }, row.key ?? 'null')),
    valueCell(row, format),
    h('td', { class: 'headers' }, row.headers))
}

export function tailView (initialTopic: string | null): View {
  const errors = errorBanner()
  let client: SdkClient | null = null
  let consumer: SdkConsumer | null = null
  let state: 'stopped' | 'starting' | 'running' | 'paused' = 'stopped'
  let generation = 0
  let rows: Row[] = []
  let pending: Row[] = []
  let count = 0
  let frame: number | null = null
  let rateCount = 0
  let rate = 0

  const topicInput = h('input', { name: 'topic', list: 'tail-topics', placeholder: 'topic', required: true, autocomplete: 'off', value: initialTopic ?? '' })
  const topicList = h('datalist', { id: 'tail-topics' })
  const fromSelect = h('select', { name: 'from', onchange: () => syncInputs() },
    h('option', { value: 'latest' }, 'latest (new records)'), h('option', { value: 'earliest' }, 'earliest'),
    h('option', { value: 'offset' }, 'offset'), h('option', { value: 'time' }, 'time'))
  const offsetInput = h('input', { name: 'offset', type: 'number', min: 0, value: 0, class: 'narrow' })
  const timeInput = h('input', { name: 'time', type: 'datetime-local', step: 1 })
  const partitionInput = h('input', { name: 'partition', type: 'number', min: 0, placeholder: 'all', class: 'narrow' })
  const formatSelect = h('select', { name: 'format', onchange: () => rerender() }, h('option', { value: 'text' }, 'text'), h('option', { value: 'json' }, 'JSON (pretty)'))
  const startButton = h('button', { type: 'submit', name: 'start' }, 'Start')
  const pauseButton = h('button', { type: 'button', name: 'pause', disabled: true, onclick: () => togglePause() }, 'Pause')
  const stopButton = h('button', { type: 'button', name: 'stop', disabled: true, onclick: () => { void stop() } }, 'Stop')
  const clearButton = h('button', { type: 'button', name: 'clear', onclick: () => { rows = []; pending = []; count = 0; rerender(); renderStatus() } }, 'Clear')
  const status = h('div', { class: 'status', id: 'tail-status', 'data-state': 'stopped' })
  const tbody = h('tbody')
  const rowsTable = h('table', { class: 'tail' },
    h('thead', null, h('tr', null, h('th', null, 'Time'), h('th', { class: 'num', title: 'Partition' }, h('span', { class: 'wide' }, 'Partition'), h('span', { class: 'narrow' }, 'P')), h('th', { class: 'num' }, 'Offset'), h('th', null, 'Key'), h('th', null, 'Value'), h('th', null, 'Headers'))),
    tbody)

  const form = h('form', { class: 'tail-controls', onsubmit: (event: Event) => { event.preventDefault(); void start() } },
    h('label', null, 'Topic ', topicInput, topicList),
    h('label', null, 'From ', fromSelect),
    h('label', { class: 'from-offset' }, 'Offset ', offsetInput),
    h('label', { class: 'from-time' }, 'Time ', timeInput),
    h('label', null, 'Partition ', partitionInput),
    h('label', null, 'Show ', formatSelect),
    startButton, pauseButton, stopButton, clearButton)

  function syncInputs (): void {
    const from = fromSelect.value as From
    offsetInput.closest('label')!.hidden = from !== 'offset'
    timeInput.closest('label')!.hidden = from !== 'time'
  }

  /** A note about where the tail started, kept on the status line. */
  let notice = ''

  function renderStatus (): void {
    status.dataset.state = state
    const topic = topicInput.value.trim()
    const what = state === 'stopped' ? 'Stopped.' : state === 'starting' ? `Connecting to ${topic}…` : state === 'paused' ? `Paused on ${topic}.` : `Live: ${topic}.`
    status.textContent = `${what} ${formatCount(count)} records received (${formatCount(rate)}/s); showing the last ${Math.min(rows.length, ROW_CAP)} (at most ${ROW_CAP}), newest first.${notice}`
    startButton.disabled = state === 'starting' || state === 'running' || state === 'paused'
    pauseButton.disabled = state !== 'running' && state !== 'paused'
    pauseButton.textContent = state === 'paused' ? 'Resume' : 'Pause'
    stopButton.disabled = state === 'stopped'
  }

  function rerender (): void {
    const format = formatSelect.value as Format
    tbody.replaceChildren(...rows.map(r => rowElement(r, format)))
  }

  function flush (): void {
    frame = null
    if (pending.length === 0) return
    const format = formatSelect.value as Format
    const fresh = pending.reverse()
    pending = []
    rows = fresh.concat(rows)
    if (rows.length > ROW_CAP) rows.length = ROW_CAP
    const fragment = document.createDocumentFragment()
    for (const r of fresh.length > ROW_CAP ? fresh.slice(0, ROW_CAP) : fresh) fragment.append(rowElement(r, format))
    tbody.prepend(fragment)
    while (tbody.rows.length > ROW_CAP) tbody.lastElementChild!.remove()
    renderStatus()
  }

  async function start (): Promise<void> {
    const topic = topicInput.value.trim()
    if (topic === '') return
    await stop()
    const mine = ++generation
    errors.clear()
    state = 'starting'
    count = 0
    renderStatus()
    history.replaceState(null, '', `#/tail/${encodeURIComponent(topic)}`)
    try {
      const sdk = await loadSdk()
      client = new sdk.Client({ url: brokerWebSocketUrl(), clientId: 'spool-console-tail' })
      consumer = client.consumer({ maxWaitMs: 10_000, maxBytes: 4 * 1024 * 1024, maxBytesPerPartition: 1024 * 1024, autoOffsetReset: 'latest' })
      const partition = partitionInput.value.trim()
      await consumer.assign(partition === '' ? { topic } : { topic, partitions: [Number(partition)] })
      const from = fromSelect.value as From
      notice = ''
      if (from === 'latest') await consumer.seekToEnd()
      else if (from === 'earliest') await consumer.seekToBeginning()
      else if (from === 'offset') {
        // As the CLI does: a partition that ends before the offset is read from its end,
        // and the status line says so.
        const offset = Math.max(0, Number(offsetInput.value) || 0)
        const short = (await consumer.endOffsets()).filter(e => e.offset < offset)
        notice = short.length === 0 ? '' : ` Partition${short.length > 1 ? 's' : ''} ${short.map(e => `${e.partition} (ends at ${e.offset})`).join(', ')} end${short.length > 1 ? '' : 's'} before offset ${offset}: new records only there.`
        for (const tp of consumer.assignment()) consumer.seek({ ...tp, offset: Math.min(offset, short.find(e => e.partition === tp.partition)?.offset ?? offset) })
      }
      else {
        const at = new Date(timeInput.value).getTime()
        if (!Number.isFinite(at)) throw new Error('choose a time to start from')
        await consumer.seekToTimestamp(at)
      }
      if (mine !== generation) return
      state = 'running'
      renderStatus()
      const running = consumer
      running.run({
        eachBatch: ({ batch }) => {
          if (mine !== generation) return
          const messages = batch.messages
          count += messages.length
          rateCount += messages.length
          for (let i = Math.max(0, messages.length - ROW_CAP); i < messages.length; i++) pending.push(toRow(messages[i]!))
          if (pending.length > ROW_CAP) pending.splice(0, pending.length - ROW_CAP)
          frame ??= requestAnimationFrame(flush)
        },
      }).catch((err: unknown) => {
        if (mine !== generation) return
        errors.show(err)
        void stop()
      })
    } catch (err) {
      if (mine !== generation) return
      if ((err as { code?: string }).code === 'UNKNOWN_TOPIC_OR_PARTITION') {
        // Said in words, as the topic page does; the tail starts once the topic exists.
        errors.say(`There is no topic named "${topic}". Create it on the Topics page or produce to it (spool produce ${topic}), then start the tail again.`)
      } else errors.show(err)
      await stop()
    }
  }

  function togglePause (): void {
    if (consumer === null) return
    if (state === 'running') {
      consumer.pause(consumer.assignment())
      state = 'paused'
    } else if (state === 'paused') {
      consumer.resume(consumer.assignment())
      state = 'running'
    }
    renderStatus()
  }

  async function stop (): Promise<void> {
    generation++
    const closing = client
    client = null
    consumer = null
    state = 'stopped'
    renderStatus()
    await closing?.close().catch(() => {})
  }

  const rateTimer = setInterval(() => {
    rate = rateCount
    rateCount = 0
    if (state !== 'stopped') renderStatus()
  }, 1000)

  api.topics().then(topics => {
    topicList.replaceChildren(...topics.map(t => h('option', { value: t.topic })))
  }, (err: unknown) => errors.show(err))

  const root = h('section', { class: 'view tail' }, h('h2', null, 'Live tail'), errors.el, h('div', { class: 'card' }, form, status), h('div', { class: 'card scroll' }, rowsTable))
  syncInputs()
  renderStatus()
  if (initialTopic !== null && initialTopic !== '') void start()
  return {
    root,
    stop () {
      clearInterval(rateTimer)
      if (frame !== null) cancelAnimationFrame(frame)
      void stop()
    },
  }
}
