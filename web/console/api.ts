/**
 * The console's client of the broker's `/api/` (same origin: the console is served by the
 * broker it shows). Answers are typed by broker/protocols/http/api/types.ts; an error answer becomes an
 * ApiError carrying the named code (`TOPIC_ALREADY_EXISTS`, ...) and the broker's message.
 */

import type {
  ApiErrorBody, ClusterAnswer, ConnectionView, ConnectionsAnswer, GroupDetail, GroupSummary, OverviewAnswer, TopicDetail, TopicSummary, TrafficAnswer,
} from '../../broker/protocols/http/api/types.js'

export type {
  ClusterAnswer, ConnectionActivityRow, ConnectionRow, ConnectionView, ConnectionsAnswer, EgressNotice, GroupDetail, GroupSummary, OverviewAnswer, Rates,
  TopicDetail, TopicSummary, TrafficAnswer,
} from '../../broker/protocols/http/api/types.js'

export class ApiError extends Error {
  readonly code: string
  readonly status: number
  constructor (status: number, code: string, message: string) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
  }
}

/** How long a request may take before the console reports the broker unreachable. */
const TIMEOUT_MS = 10_000

async function call<T> (method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  let res: Response
  try {
    res = await fetch(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    })
  } catch (err) {
    throw new ApiError(0, 'BROKER_UNREACHABLE', `the broker did not answer ${method} ${path}: ${(err as Error).message}`)
  }
  const text = await res.text()
  let json: unknown = null
  try {
    json = text === '' ? null : JSON.parse(text)
  } catch {
    json = null
  }
  if (!res.ok) {
    // A broker with --auth whose login session ended: back to its login form, then here.
    if (res.status === 401) location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`)
    const error = (json as Partial<ApiErrorBody> | null)?.error
    throw new ApiError(res.status, error?.code ?? `HTTP_${res.status}`, error?.message ?? (text.slice(0, 200) || res.statusText))
  }
  return json as T
}

export const api = {
  overview: () => call<OverviewAnswer>('GET', '/api/overview'),
  cluster: () => call<ClusterAnswer>('GET', '/api/cluster'),
  topics: () => call<{ topics: TopicSummary[] }>('GET', '/api/topics').then(r => r.topics),
  topic: (name: string) => call<{ topic: TopicDetail }>('GET', `/api/topics/${encodeURIComponent(name)}`).then(r => r.topic),
  createTopic: (body: { topic: string, partitions?: number, config?: Record<string, string | number> }) =>
    call<{ topic: TopicDetail }>('POST', '/api/topics', body).then(r => r.topic),
  deleteTopic: (name: string) => call<{ deleted: string }>('DELETE', `/api/topics/${encodeURIComponent(name)}`),
  groups: (sinceMs?: number) => call<{ groups: GroupSummary[], timeMs: number }>('GET', `/api/groups${sinceMs === undefined ? '' : `?sinceMs=${sinceMs}`}`),
  group: (id: string) => call<{ group: GroupDetail }>('GET', `/api/groups/${encodeURIComponent(id)}`).then(r => r.group),
  deleteGroup: (id: string) => call<{ deleted: string }>('DELETE', `/api/groups/${encodeURIComponent(id)}`),
  traffic: (sinceMs?: number) => call<TrafficAnswer>('GET', `/api/traffic${sinceMs === undefined ? '' : `?sinceMs=${sinceMs}`}`),
  connections: (by: ConnectionView) => call<ConnectionsAnswer>('GET', `/api/connections${by === 'connection' ? '' : `?by=${by}`}`),
}
