/**
 * Byte rates and sizes as people type and read them. Parsing: a number of bytes, or a
 * number with a unit — decimal K/KB, M/MB, G/GB, T/TB (1MB = 1,000,000) or binary KiB,
 * MiB, GiB, TiB (1MiB = 1,048,576), any case, optionally followed by `/s` ("1.5MB/s").
 * Printing: binary units with one decimal, as the rest of the CLI prints sizes.
 */

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  ki: 1024,
  kib: 1024,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
  ti: 1024 ** 4,
  tib: 1024 ** 4,
}

/** Bytes (per second) from `1048576`, `1MB`, `512KiB`, `2.5mb/s`; null when it is not one. */
export function parseBytes (text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*(?:\/\s*s(?:ec)?)?\s*$/i.exec(text)
  if (m === null) return null
  const factor = UNITS[m[2]!.toLowerCase()]
  if (factor === undefined) return null
  const n = Math.round(Number(m[1]) * factor)
  return Number.isSafeInteger(n) ? n : null
}

const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

/** 1536 → '1.5 KiB' (whole bytes below 1 KiB). */
export function formatBytes (n: number): string {
  if (!Number.isFinite(n)) return '-'
  let v = Math.abs(n)
  let i = 0
  while (v >= 1024 && i < BINARY.length - 1) {
    v /= 1024
    i++
  }
  return `${n < 0 ? '-' : ''}${i === 0 ? Math.round(v) : v.toFixed(1)} ${BINARY[i]}`
}

/** A rate in a few characters for narrow columns: 999, 12.3K, 340M, 1.2G (binary). */
export function compactBytes (n: number): string {
  if (!Number.isFinite(n) || n <= 0) return '0'
  if (n < 1024) return String(Math.round(n))
  const units = ['K', 'M', 'G', 'T']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v >= 100 ? Math.round(v) : v.toFixed(1)}${units[i]}`
}

/** A count in a few characters: 999, 12.3k, 4.5M (decimal). */
export function compactCount (n: number): string {
  if (!Number.isFinite(n) || n <= 0) return '0'
  if (n < 10) return Number.isInteger(n) ? String(n) : n.toFixed(1)
  if (n < 1000) return String(Math.round(n))
  const units = ['k', 'M', 'G', 'T']
  let v = n / 1000
  let i = 0
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000
    i++
  }
  return `${v >= 100 ? Math.round(v) : v.toFixed(1)}${units[i]}`
}

/**
 * A limit as it was most likely typed: 1000000 → '1 MB', 1048576 → '1 MiB', 1500 → '1.5 KB';
 * a number that is no round multiple shows its bytes and an approximation.
 */
export function formatLimit (n: number): string {
  const exact: Array<[number, string]> = [[1024 ** 4, 'TiB'], [1e12, 'TB'], [1024 ** 3, 'GiB'], [1e9, 'GB'], [1024 ** 2, 'MiB'], [1e6, 'MB'], [1024, 'KiB'], [1e3, 'KB']]
  for (const [factor, unit] of exact) {
    if (n >= factor && (n * 10) % factor === 0) return `${n / factor} ${unit}`
  }
  return n < 1024 ? `${n} B` : `${n} B (${formatBytes(n)})`
}
