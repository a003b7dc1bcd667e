/** Reading a broker's `/metrics` in tests (Prometheus text). */

/** The `/metrics` text of the broker whose HTTP port is `httpPort`. */
export async function scrape (httpPort: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
}

/** The sum of a series' values over every label set that has all of `labels`. */
export function metricValue (text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue
    sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

/** Requests of one api the broker has handled (every protocol). */
export async function requestCount (httpPort: number, api: string): Promise<number> {
  return metricValue(await scrape(httpPort), 'spool_requests_total', { api })
}
