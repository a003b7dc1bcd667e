/**
 * Small SVG charts for the console: a line chart with a y scale, a time axis and one line
 * per series (Traffic, a group's lag; Traffic clips spikes, see chartScale), and a
 * sparkline (the groups table). Points are
 * [timeMs, value]; the x axis is the window ending now. Colours are SVG attributes, not
 * inline styles (the console's Content-Security-Policy has no 'unsafe-inline').
 */

const SVG = 'http://www.w3.org/2000/svg'

export const PALETTE = ['#2f7ed8', '#e4572e', '#29a36a', '#a05bd0', '#f0a202', '#17a2b8', '#d6336c', '#6c757d']

export interface Series {
  name: string
  points: ReadonlyArray<readonly [number, number]>
  color?: string
}

function svg<K extends keyof SVGElementTagNameMap> (tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
  return el
}

/** 1, 2 or 5 times a power of ten, at least `v` (for a y scale that reads well). */
export function niceCeiling (v: number): number {
  if (!(v > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p
  return 10 * p
}

/** niceCeiling in powers of 1024 (bytes: 500 KiB, not 488 KiB). */
export function niceBinaryCeiling (v: number): number {
  let scale = 1
  while (v / scale >= 1024) scale *= 1024
  return niceCeiling(v / scale) * scale
}

export interface LineChartOptions {
  windowMs: number
  nowMs: number
  format: (value: number) => string
  /** The top of the y scale for the largest value (default niceCeiling). */
  ceiling?: (max: number) => number
  /**
   * Keep ordinary values readable after a spike: the scale follows the 90th percentile
   * (chartScale) and values above it are drawn at the top, each marked, with the peak said.
   */
  clipSpikes?: boolean
  width?: number
  height?: number
}

/** Samples needed before a spike is told from the rest. */
const MIN_SAMPLES_FOR_CLIPPING = 6

/**
 * The top of a y scale for `values`: the largest (rounded up by `ceiling`), unless a few
 * spikes dwarf the rest (the largest is more than 3 times the 90th percentile of the
 * non-zero values): then 1.5 times that percentile, so steady traffic stays a readable
 * line instead of a flat one on zero for the five minutes the spike stays in the window.
 */
export function chartScale (values: readonly number[], ceiling: (max: number) => number = niceCeiling): { yMax: number, clipped: boolean, peak: number } {
  const positive = values.filter(v => v > 0).sort((a, b) => a - b)
  const peak = positive.at(-1) ?? 0
  if (positive.length >= MIN_SAMPLES_FOR_CLIPPING) {
    const p90 = positive[Math.floor((positive.length - 1) * 0.9)]!
    if (peak > 3 * p90) return { yMax: ceiling(p90 * 1.5), clipped: true, peak }
  }
  return { yMax: ceiling(peak), clipped: false, peak }
}

/** A line chart of `series` over the last `windowMs`; a legend is the caller's. */
export function lineChart (series: readonly Series[], o: LineChartOptions): SVGSVGElement {
  const width = o.width ?? 640
  const height = o.height ?? 180
  const left = 64
  const right = 8
  const top = 8
  const bottom = 20
  const from = o.nowMs - o.windowMs
  const values: number[] = []
  for (const s of series) for (const [t, v] of s.points) if (t >= from) values.push(v)
  const ceiling = o.ceiling ?? niceCeiling
  const scale = o.clipSpikes === true ? chartScale(values, ceiling) : { yMax: ceiling(Math.max(0, ...values)), clipped: false, peak: 0 }
  const yMax = scale.yMax
  const x = (t: number): number => left + ((t - from) / o.windowMs) * (width - left - right)
  const y = (v: number): number => top + (1 - Math.min(v, yMax) / yMax) * (height - top - bottom)
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img' })
  for (const frac of [0, 0.5, 1]) {
    const v = yMax * frac
    root.append(svg('line', { x1: left, x2: width - right, y1: y(v), y2: y(v), class: 'grid' }))
    const label = svg('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' })
    label.textContent = o.format(v)
    root.append(label)
  }
  const minutes = o.windowMs / 60_000
  for (const frac of [0, 0.5, 1]) {
    const label = svg('text', { x: left + frac * (width - left - right), y: height - 4, 'text-anchor': frac === 0 ? 'start' : frac === 1 ? 'end' : 'middle', class: 'axis' })
    label.textContent = frac === 1 ? 'now' : `-${+(minutes * (1 - frac)).toFixed(1)}m`
    root.append(label)
  }
  if (scale.clipped) {
    const note = svg('text', { x: width - right, y: top + 10, 'text-anchor': 'end', class: 'clip-note' })
    note.textContent = `▲ off the scale, peak ${o.format(scale.peak)}`
    root.append(note)
  }
  series.forEach((s, i) => {
    if (scale.clipped) {
      // Each value above the scale: a marker on the top edge saying it.
      for (const [t, v] of s.points) {
        if (t < from || v <= yMax) continue
        const mark = svg('path', { d: `M${(x(t) - 4).toFixed(1)},${top + 6} L${x(t).toFixed(1)},${top} L${(x(t) + 4).toFixed(1)},${top + 6} Z`, class: 'clipped', fill: s.color ?? PALETTE[i % PALETTE.length]! })
        const title = svg('title', {})
        title.textContent = `${s.name}: ${o.format(v)}`
        mark.append(title)
        root.append(mark)
      }
    }
    const pts = s.points.filter(([t]) => t >= from).map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`)
    if (pts.length === 0) return
    const color = s.color ?? PALETTE[i % PALETTE.length]!
    if (pts.length === 1) {
      const [cx, cy] = pts[0]!.split(',')
      root.append(svg('circle', { cx: cx!, cy: cy!, r: 2.5, fill: color }))
      return
    }
    const line = svg('polyline', { points: pts.join(' '), fill: 'none', stroke: color, 'stroke-width': 1.75, 'stroke-linejoin': 'round' })
    const title = svg('title', {})
    title.textContent = s.name
    line.append(title)
    root.append(line)
  })
  return root
}

/** A sparkline: one series, no axes, the latest value as a dot. */
export function sparkline (points: ReadonlyArray<readonly [number, number]>, o: { windowMs: number, nowMs: number, width?: number, height?: number }): SVGSVGElement {
  const width = o.width ?? 140
  const height = o.height ?? 28
  const from = o.nowMs - o.windowMs
  const visible = points.filter(([t]) => t >= from)
  const yMax = niceCeiling(Math.max(0, ...visible.map(([, v]) => v)))
  const x = (t: number): number => ((t - from) / o.windowMs) * (width - 4) + 2
  const y = (v: number): number => 2 + (1 - v / yMax) * (height - 4)
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, class: 'sparkline', role: 'img' })
  if (visible.length > 1) {
    const pts = visible.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`)
    root.append(svg('polygon', { points: `${x(visible[0]![0]).toFixed(1)},${height - 2} ${pts.join(' ')} ${x(visible.at(-1)![0]).toFixed(1)},${height - 2}`, class: 'area' }))
    root.append(svg('polyline', { points: pts.join(' '), fill: 'none', class: 'line', 'stroke-width': 1.5 }))
  }
  const last = visible.at(-1)
  if (last !== undefined) root.append(svg('circle', { cx: x(last[0]), cy: y(last[1]), r: 2.5, class: 'dot' }))
  return root
}
