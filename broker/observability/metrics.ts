/**
 * The broker's metrics on `/metrics`, in a prom-client registry: the standard `process_*`
 * and `nodejs_*` families (resident memory, CPU, open file descriptors, event-loop lag,
 * GC, heap) and Spool's own `spool_*` series.
 *
 * Hot paths never touch prom-client: they add to plain numbers (a topic's traffic row, a
 * connection's byte counts, a request tally), and the series are filled from those numbers
 * when `/metrics` is scraped (prom-client's `collect`). Series of closed connections and
 * deleted topics disappear with them, so the label sets stay bounded by what is alive.
 *
 * Naming scheme (the README's Metrics section lists every series and the old names):
 *   spool_connections{protocol,transport}                 open connections now
 *   spool_connections_opened_total{protocol,transport}
 *   spool_connection_errors_total{protocol,reason}        refused or closed for a reason
 *   spool_received_bytes_total{protocol} / spool_sent_bytes_total{protocol}
 *   spool_connection_received_bytes_total{connection,protocol,client_id,peer} / ..._sent_...
 *   spool_requests_total{protocol,api} / spool_request_errors_total{protocol,api,error}
 *   spool_topic_{bytes,records}_{in,out}_total{topic}, spool_partition_* gauges, spool_group_*
 */

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'

export type Labels = Record<string, string | number>

/** Traffic of one topic, added to by the partition service. */
export interface TopicTraffic {
  bytesIn: number
  recordsIn: number
  bytesOut: number
  recordsOut: number
}

/** A source of labelled values computed at scrape time. */
export type Collector = () => Iterable<[Labels, number]>

export class BrokerMetrics {
  readonly registry = new Registry()
  readonly #topics = new Map<string, TopicTraffic>()
  readonly #requests = new Map<string, { labels: Labels, count: number }>()
  readonly #requestErrors = new Map<string, { labels: Labels, count: number }>()

  constructor (options: { defaultMetrics?: boolean } = {}) {
    // Event-loop lag is sampled every 10 ms by prom-client's histogram; the defaults are
    // what Prometheus users know from every Node service.
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 })
    const topics = this.#topics
    const topicCounter = (name: string, help: string, read: (t: TopicTraffic) => number): void => {
      this.counter(name, help, ['topic'], function * () {
        for (const [topic, t] of topics) yield [{ topic }, read(t)]
      })
    }
    topicCounter('spool_topic_bytes_in_total', 'Record batch bytes appended, by topic', t => t.bytesIn)
    topicCounter('spool_topic_records_in_total', 'Records appended, by topic', t => t.recordsIn)
    topicCounter('spool_topic_bytes_out_total', 'Record batch bytes sent to consumers, by topic', t => t.bytesOut)
    topicCounter('spool_topic_records_out_total', 'Records sent to consumers, by topic', t => t.recordsOut)
    const requests = this.#requests
    const requestErrors = this.#requestErrors
    this.counter('spool_requests_total', 'Requests handled, by protocol and api', ['protocol', 'api'], function * () {
      for (const r of requests.values()) yield [r.labels, r.count]
    })
    this.counter('spool_request_errors_total', 'Requests answered with an error, by protocol, api and error', ['protocol', 'api', 'error'], function * () {
      for (const r of requestErrors.values()) yield [r.labels, r.count]
    })
  }

  /** The traffic row of a topic (created on first use); hot paths keep the reference. */
  topic (name: string): TopicTraffic {
    let t = this.#topics.get(name)
    if (t === undefined) this.#topics.set(name, (t = { bytesIn: 0, recordsIn: 0, bytesOut: 0, recordsOut: 0 }))
    return t
  }

  /** Every topic's traffic so far (the stats sampler turns them into rates). */
  topics (): ReadonlyMap<string, TopicTraffic> { return this.#topics }

  /** Drops a deleted topic's series. */
  forgetTopic (name: string): void { this.#topics.delete(name) }

  countRequest (protocol: string, api: string): void {
    tally(this.#requests, { protocol, api })
  }

  countRequestError (protocol: string, api: string, error: string): void {
    tally(this.#requestErrors, { protocol, api, error })
  }

  requestCount (protocol: string, api: string): number {
    return this.#requests.get(keyOf({ protocol, api }))?.count ?? 0
  }

  /** A counter whose values are read from `collect` at scrape time. */
  counter (name: string, help: string, labelNames: string[], collect: Collector): void {
    this.registry.registerMetric(new Counter({
      name,
      help,
      labelNames,
      registers: [],
      collect () {
        this.reset()
        for (const [labels, value] of collect()) if (value > 0) this.inc(labels, value)
      },
    }))
  }

  /** A gauge whose values are read from `collect` at scrape time. */
  gauge (name: string, help: string, labelNames: string[], collect: Collector): void {
    this.registry.registerMetric(new Gauge({
      name,
      help,
      labelNames,
      registers: [],
      collect () {
        this.reset()
        for (const [labels, value] of collect()) this.set(labels, value)
      },
    }))
  }

  /** The Prometheus text exposition. */
  render (): Promise<string> {
    return this.registry.metrics()
  }

  get contentType (): string { return this.registry.contentType }
}

function keyOf (labels: Labels): string {
  return Object.values(labels).join('\u0000')
}

function tally (map: Map<string, { labels: Labels, count: number }>, labels: Labels): void {
  const key = keyOf(labels)
  const row = map.get(key)
  if (row === undefined) map.set(key, { labels, count: 1 })
  else row.count++
}
