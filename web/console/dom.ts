/**
 * The console's DOM helpers and number formats. The console is plain TypeScript and DOM
 * (no framework): views build elements with `h()` and replace what changed on each poll.
 * The page's Content-Security-Policy forbids inline styles, so nothing here sets a `style`
 * attribute; sizes are set through `element.style` (CSSOM), which the policy allows.
 */

type Child = Node | string | number | null | undefined | false
type Props = Record<string, string | number | boolean | ((event: Event) => void) | undefined>

/** `h('td', { class: 'num' }, '42')`: props starting with `on` are listeners, the rest attributes. */
export function h<K extends keyof HTMLElementTagNameMap> (tag: K, props: Props | null = null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === false) continue
    if (typeof value === 'function') el.addEventListener(key.slice(2).toLowerCase(), value)
    else if (key === 'value' && 'value' in el) (el as HTMLInputElement).value = String(value)
    else el.setAttribute(key, value === true ? '' : String(value))
  }
  append(el, children)
  return el
}

export function append (el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue
    el.append(typeof c === 'number' ? String(c) : c)
  }
}

/** A table with a header row; `rows` are arrays of cells (strings, nodes or full <td>s). */
export function table (headers: string[], rows: Child[][], options: { numeric?: number[], empty?: string, className?: string } = {}): HTMLTableElement {
  const numeric = new Set(options.numeric ?? [])
  const head = h('thead', null, h('tr', null, ...headers.map((text, i) => h('th', numeric.has(i) ? { class: 'num' } : null, text))))
  const body = h('tbody')
  if (rows.length === 0 && options.empty !== undefined) {
    body.append(h('tr', null, h('td', { class: 'empty', colspan: headers.length }, options.empty)))
  }
  for (const row of rows) {
    body.append(h('tr', null, ...row.map((cell, i) => cell instanceof HTMLTableCellElement ? cell : h('td', numeric.has(i) ? { class: 'num' } : null, cell))))
  }
  return h('table', options.className === undefined ? null : { class: options.className }, head, body)
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

export function formatBytes (n: number): string {
  if (!Number.isFinite(n)) return '—'
  let v = Math.abs(n)
  let i = 0
  while (v >= 1024 && i < BYTE_UNITS.length - 1) {
    v /= 1024
    i++
  }
  // One decimal from KiB up, as the CLI prints sizes (15.5 KiB in both).
  return `${n < 0 ? '-' : ''}${i === 0 ? v.toFixed(0) : v.toFixed(1)} ${BYTE_UNITS[i]}`
}

export function formatCount (n: number): string {
  if (!Number.isFinite(n)) return '—'
  const abs = Math.abs(n)
  if (abs >= 1e9) return `${(n / 1e9).toFixed(abs >= 1e10 ? 0 : 1)}G`
  if (abs >= 1e6) return `${(n / 1e6).toFixed(abs >= 1e7 ? 0 : 1)}M`
  if (abs >= 1e4) return `${(n / 1e3).toFixed(abs >= 1e5 ? 0 : 1)}k`
  return Number.isInteger(n) ? String(n) : n.toFixed(abs < 10 ? 1 : 0)
}

export function formatRate (perSec: number, unit: 'records' | 'bytes'): string {
  return unit === 'bytes' ? `${formatBytes(perSec)}/s` : `${formatCount(perSec)}/s`
}

export function formatDuration (ms: number): string {
  if (ms < 0) return '—'
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`
}

/** Retention in words: -1 is forever, whole days, hours, minutes and seconds are said so. */
export function formatRetention (ms: number): string {
  if (ms < 0) return 'forever'
  const day = 86_400_000
  const hour = 3_600_000
  if (ms % day === 0) return `${ms / day}d`
  if (ms % hour === 0) return `${ms / hour}h`
  if (ms < 1000 || ms % 1000 !== 0) return `${ms} ms`
  return formatDuration(ms)
}

export function formatTime (ms: number): string {
  const d = new Date(ms)
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
}

/** Where to draw attention: `lag` cells and rates get classes the stylesheet colours. */
export function lagClass (lag: number): string {
  return lag < 0 ? 'muted' : lag === 0 ? 'ok' : lag < 1000 ? 'warn' : 'bad'
}

/**
 * Calls `fn` now and then every `intervalMs` after each call settles (never two at once);
 * `onError` gets what it throws. `intervalMs` may be a function, asked after each call (a
 * view polls a missing group slowly, for instance). Returns the stop function.
 */
export function poll (fn: () => Promise<void>, intervalMs: number | (() => number), onError: (err: unknown) => void): () => void {
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | null = null
  const tick = async (): Promise<void> => {
    if (stopped) return
    try {
      await fn()
    } catch (err) {
      if (!stopped) onError(err)
    }
    if (!stopped) timer = setTimeout(() => { void tick() }, typeof intervalMs === 'number' ? intervalMs : intervalMs())
  }
  void tick()
  return () => {
    stopped = true
    if (timer !== null) clearTimeout(timer)
  }
}

/**
 * A topic config value with its unit: durations (`...Ms`) and sizes (`...Bytes`) in words
 * next to the raw number (`7d (604800000 ms)`, `1.0 GiB (1073741824 bytes)`), -1 as
 * "forever" / "no limit", other values as they are.
 */
export function formatConfigValue (key: string, value: string | number): string {
  if (typeof value !== 'number') return String(value)
  if (key.endsWith('Ms')) {
    if (value < 0) return `forever (${value})`
    const words = formatRetention(value)
    return words.endsWith(' ms') ? words : `${words} (${value} ms)`
  }
  if (key.endsWith('Bytes')) return value < 0 ? `no limit (${value})` : value < 1024 ? `${value} bytes` : `${formatBytes(value)} (${value} bytes)`
  if (key.endsWith('Ratio')) return `${value} (${Math.round(value * 100)}%)`
  return String(value)
}

/** A view of the console: its element, and how to stop its timers and connections. */
export interface View {
  readonly root: HTMLElement
  stop (): void
}

/** An error line a view shows above its content (hidden when empty): a named error, or words (`say`). */
export function errorBanner (): { el: HTMLElement, show (err: unknown): void, say (text: string): void, clear (): void } {
  const el = h('div', { class: 'error', role: 'alert', hidden: true })
  return {
    el,
    show (err) {
      const e = err as { code?: string, message?: string }
      el.textContent = e.code !== undefined ? `${e.code}: ${e.message ?? ''}` : String(e.message ?? err)
      el.hidden = false
    },
    say (text) {
      el.textContent = text
      el.hidden = false
    },
    clear () {
      el.hidden = true
      el.textContent = ''
    },
  }
}
