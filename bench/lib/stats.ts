/** Small statistics helpers. */

/** The p-quantile (0..1) of an ascending array, nearest rank; NaN when empty. */
export function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil(p * sorted.length) - 1
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!
}

export function median (values: readonly number[]): number {
  const finite = values.filter(v => Number.isFinite(v)).sort((a, b) => a - b)
  if (finite.length === 0) return NaN
  const mid = finite.length >> 1
  return finite.length % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2
}
