/**
 * A small Prometheus registry (text exposition format 0.0.4): counters and gauges with
 * labels. Hot paths hold a reference to a labelled child (`counter.labels(...)`) and add to
 * it with no lookups; series of closed connections are removed so the label set stays
 * bounded by what is alive.
 */

type LabelValues = readonly string[]

class Series {
  value = 0
  inc (n = 1): void { this.value += n }
  set (n: number): void { this.value = n }
}

abstract class Metric {
  readonly name: string
  readonly help: string
  readonly labelNames: readonly string[]
  readonly #series = new Map<string, { labels: LabelValues, series: Series }>()
  abstract readonly type: 'counter' | 'gauge'
  /** Computed at scrape time (gauges of current state). */
  collect?: () => Iterable<[LabelValues, number]>

  constructor (name: string, help: string, labelNames: readonly string[] = []) {
    this.name = name
    this.help = help
    this.labelNames = labelNames
  }

  /** The series for these label values (created on first use). */
  labels (...values: string[]): Series {
    const key = values.join('\u0000')
    let entry = this.#series.get(key)
    if (entry === undefined) {
      entry = { labels: values, series: new Series() }
      this.#series.set(key, entry)
    }
    return entry.series
  }

  /** Drops the series for these label values. */
  remove (...values: string[]): void {
    this.#series.delete(values.join('\u0000'))
  }

  /** Drops every series whose labels match `predicate`. */
  removeWhere (predicate: (labels: LabelValues) => boolean): void {
    for (const [key, entry] of this.#series) if (predicate(entry.labels)) this.#series.delete(key)
  }

  /** Current value of a series (0 if absent), for tests and the JSON api. */
  get (...values: string[]): number {
    return this.#series.get(values.join('\u0000'))?.series.value ?? 0
  }

  *entries (): Iterable<[LabelValues, number]> {
    for (const { labels, series } of this.#series.values()) yield [labels, series.value]
    if (this.collect !== undefined) yield * this.collect()
  }

  render (out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`)
    for (const [labels, value] of this.entries()) {
      const rendered = labels.length === 0
        ? ''
        : '{' + labels.map((v, i) => `${this.labelNames[i]}="${escapeLabel(v)}"`).join(',') + '}'
      out.push(`${this.name}${rendered} ${value}`)
    }
  }
}

export class Counter extends Metric { readonly type = 'counter' }
export class Gauge extends Metric { readonly type = 'gauge' }

function escapeLabel (v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

export class MetricsRegistry {
  readonly #metrics: Metric[] = []

  counter (name: string, help: string, labelNames: readonly string[] = []): Counter {
    const m = new Counter(name, help, labelNames)
    this.#metrics.push(m)
    return m
  }

  gauge (name: string, help: string, labelNames: readonly string[] = [], collect?: () => Iterable<[LabelValues, number]>): Gauge {
    const m = new Gauge(name, help, labelNames)
    if (collect !== undefined) m.collect = collect
    this.#metrics.push(m)
    return m
  }

  /** The Prometheus text exposition of every metric. */
  render (): string {
    const out: string[] = []
    for (const m of this.#metrics) m.render(out)
    return out.join('\n') + '\n'
  }
}

/** The broker's metrics, created once per broker. */
export class BrokerMetrics {
  readonly registry = new MetricsRegistry()
  readonly requests = this.registry.counter('spool_requests_total', 'Requests handled, by api and listener', ['api', 'listener'])
  readonly requestErrors = this.registry.counter('spool_request_errors_total', 'Requests answered with an error, by api and error', ['api', 'error'])
  readonly topicBytesIn = this.registry.counter('spool_topic_bytes_in_total', 'Record batch bytes appended, by topic', ['topic'])
  readonly topicRecordsIn = this.registry.counter('spool_topic_records_in_total', 'Records appended, by topic', ['topic'])
  readonly topicBytesOut = this.registry.counter('spool_topic_bytes_out_total', 'Record batch bytes sent to consumers, by topic', ['topic'])
  readonly topicRecordsOut = this.registry.counter('spool_topic_records_out_total', 'Records sent to consumers, by topic', ['topic'])
  readonly connectionBytesIn = this.registry.counter('spool_connection_bytes_in_total', 'Bytes received per open connection', ['connection', 'client_id', 'remote_address', 'listener'])
  readonly connectionBytesOut = this.registry.counter('spool_connection_bytes_out_total', 'Bytes sent per open connection', ['connection', 'client_id', 'remote_address', 'listener'])
  readonly connectionsOpened = this.registry.counter('spool_connections_opened_total', 'Connections accepted, by listener', ['listener'])
  readonly connectionsRejected = this.registry.counter('spool_connections_rejected_total', 'Connections refused or closed for a limit or bad input, by reason', ['reason'])
}
