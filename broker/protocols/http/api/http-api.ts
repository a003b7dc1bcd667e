/**
 * The admin JSON api under `/api/` on the HTTP port (docs/architecture.md, HTTP port): what the web
 * console shows, and what any other program (the CLI, scripts, dashboards) may use. Every
 * answer is JSON; errors are `{ "error": { "code", "message", "retriable" } }` with the
 * status of router.ts's statusFor. Documented in the README's "Web console and /api".
 *
 *   GET    /api                    the list of endpoints
 *   GET    /api/overview           broker, totals, current rates
 *   GET    /api/topics             topics with partition count, size, record span, policy
 *   POST   /api/topics             { topic, partitions?, config? } → 201 the new topic
 *   GET    /api/topics/:name       config and partitions (log start/end, high watermark, bytes)
 *   DELETE /api/topics/:name       deletes the topic
 *   GET    /api/groups             groups with state, members, total lag and its history
 *   GET    /api/groups/:id         members, assignment, committed/end offsets and lag
 *   DELETE /api/groups/:id         deletes a group without members
 *   GET    /api/traffic            per-second rates per topic (history) and connections
 *   GET    /api/connections        connections with rates (?by=group|topic|client|host), the egress notice
 *   GET    /api/cluster            brokers, controller, partitions under-replicated/offline/reassigning
 *
 * `?sinceMs=T` on /api/groups and /api/traffic limits the history to samples after T (the
 * console asks only for what it has not seen); `?internal=true` on /api/topics includes
 * internal topics.
 */

import { readFileSync } from 'node:fs'
import {
  GroupIdNotFoundError, InvalidRequestError, InvalidTopicError, errorFromCode,
} from '../../../../protocol/errors.js'
import type { BrokerPorts } from '../../../config/listeners.js'
import type { BrokerConfig } from '../../../config/settings.js'
import type { GroupAccess } from '../../../groups/group-access.js'
import type { LogConfig } from '../../../storage/config.js'
import type { TopicInfo, TopicService } from '../../../services/topics.js'
import { CLUSTER_RESOURCE, type AccessPolicy } from '../../../services/access.js'
import type { StatsSampler, TopicRate } from '../../../observability/stats.js'
import type { EgressWatch } from '../../../quotas/egress.js'
import { connectionsRoute } from './connections-api.js'
import type { ClusterView } from '../../../services/cluster-view.js'
import type { ApiRequest, ApiRoute } from './router.js'
import type {
  ClusterAnswer, GroupDetail, GroupSummary, OverviewAnswer, TopicDetail, TopicSummary, TrafficAnswer,
} from './types.js'

export interface ApiContext {
  config: BrokerConfig
  topics: TopicService
  /** The group coordinator behind its access checks. */
  groups: GroupAccess
  stats: StatsSampler
  /** Egress anomalies (the console's notice). */
  egress: EgressWatch
  /** Listener ports as bound (null when off). */
  ports: Readonly<BrokerPorts>
  startedAtMs: number
  /** Open connections, all protocols. */
  connectionCount: () => number
  /** The services' policy (what /api/traffic may show). */
  access: AccessPolicy
  /** The cluster (a single broker: itself); absent in embedders that do not give it. */
  cluster?: ClusterView
  now: () => number
}

let packageVersion: string | null = null
function version (): string {
  if (packageVersion === null) {
    try {
      packageVersion = String((JSON.parse(readFileSync(new URL('../../../../../package.json', import.meta.url), 'utf8')) as { version?: unknown }).version ?? 'unknown')
    } catch {
      packageVersion = 'unknown'
    }
  }
  return packageVersion
}

function sinceMs (req: ApiRequest): number {
  const raw = req.query.get('sinceMs')
  if (raw === null) return 0
  const n = Number(raw)
  if (!Number.isFinite(n)) throw new InvalidRequestError(`sinceMs must be a number of milliseconds since the epoch, got ${JSON.stringify(raw.slice(0, 32))}`)
  return n
}

/** Totals over a topic's partitions. */
function topicSummary (ctx: ApiContext, info: TopicInfo): TopicSummary {
  let sizeBytes = 0
  let records = 0
  for (const p of ctx.topics.partitionStats(info.name)) {
    sizeBytes += p.sizeBytes
    records += p.logEndOffset - p.logStartOffset
  }
  return {
    topic: info.name,
    internal: info.internal,
    partitions: info.partitions,
    sizeBytes,
    records,
    cleanupPolicy: info.config.cleanupPolicy,
    retentionMs: info.config.retentionMs,
    retentionBytes: info.config.retentionBytes,
    createdAtMs: info.createdAtMs,
  }
}

function topicDetail (ctx: ApiContext, info: TopicInfo): TopicDetail {
  return { ...topicSummary(ctx, info), config: { ...info.config }, partitions: ctx.topics.partitionStats(info.name) }
}

/** A topic the caller may describe (its authorization error first, so a denied caller does not learn whether it exists). */
function knownTopic (ctx: ApiContext, req: ApiRequest, name: string): TopicInfo {
  return ctx.topics.describe(req.caller, name)
}

const CREATE_KEYS = new Set(['topic', 'partitions', 'config'])

/** Checks the shape of a create-topic body; values are checked by LogManager.createTopic. */
function createTopicBody (ctx: ApiContext, body: unknown): { name: string, partitions: number, config: Partial<LogConfig> } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequestError('body must be a JSON object: { "topic": "...", "partitions": 3, "config": { "retentionMs": 3600000 } }')
  }
  const unknown = Object.keys(body).filter(k => !CREATE_KEYS.has(k))
  if (unknown.length > 0) throw new InvalidRequestError(`unknown field ${JSON.stringify(unknown[0]!.slice(0, 64))} (fields: topic, partitions, config)`)
  const { topic: name, partitions, config } = body as { topic?: unknown, partitions?: unknown, config?: unknown }
  if (typeof name !== 'string') throw new InvalidTopicError('topic must be a string (the topic name)')
  if (partitions !== undefined && (typeof partitions !== 'number' || !Number.isSafeInteger(partitions))) {
    throw new InvalidRequestError(`partitions must be an integer, got ${JSON.stringify(partitions)?.slice(0, 32)}`)
  }
  if (config !== undefined && (typeof config !== 'object' || config === null || Array.isArray(config))) {
    throw new InvalidRequestError('config must be an object of topic settings (retentionMs, retentionBytes, cleanupPolicy, ...)')
  }
  return { name, partitions: (partitions as number | undefined) ?? ctx.config.defaultPartitions, config: (config ?? {}) as Partial<LogConfig> }
}

function describeGroup (ctx: ApiContext, req: ApiRequest, groupId: string): GroupDetail {
  const [group] = ctx.groups.describeGroups(req.caller, { groupIds: [groupId] }).groups
  if (group === undefined) throw new GroupIdNotFoundError(`group ${JSON.stringify(groupId)} does not exist`)
  if (group.errorCode !== 0) throw errorFromCode(group.errorCode, group.errorMessage ?? undefined)
  const { errorCode: _code, errorMessage: _message, ...rest } = group
  return rest
}

function groupLagHistory (ctx: ApiContext, since: number): Map<string, Array<[number, number]>> {
  const out = new Map<string, Array<[number, number]>>()
  for (const sample of ctx.stats.history(since)) {
    for (const [group, lag] of Object.entries(sample.groupLag)) {
      let list = out.get(group)
      if (list === undefined) out.set(group, (list = []))
      list.push([sample.timeMs, lag])
    }
  }
  return out
}

function totalRates (rates: Iterable<TopicRate>): TopicRate {
  const sum: TopicRate = { recordsInPerSec: 0, recordsOutPerSec: 0, bytesInPerSec: 0, bytesOutPerSec: 0 }
  for (const r of rates) {
    sum.recordsInPerSec += r.recordsInPerSec
    sum.recordsOutPerSec += r.recordsOutPerSec
    sum.bytesInPerSec += r.bytesInPerSec
    sum.bytesOutPerSec += r.bytesOutPerSec
  }
  return sum
}

/** The api's routes, bound to the broker's state; `extra` routes (logins, tokens) join the index. */
export function apiRoutes (ctx: ApiContext, extra: readonly ApiRoute[] = []): ApiRoute[] {
  const routes: ApiRoute[] = [
    ...extra,
    {
      pattern: '/api/overview',
      doc: 'broker, totals and current rates',
      methods: {
        GET: req => {
          const topics = ctx.topics.list(req.caller)
          let partitions = 0
          let sizeBytes = 0
          for (const t of topics) {
            partitions += t.partitions
            for (const p of ctx.topics.partitionStats(t.name)) sizeBytes += p.sizeBytes
          }
          const last = ctx.stats.history().at(-1)
          const body: OverviewAnswer = {
            broker: {
              version: version(),
              nodeId: ctx.config.nodeId,
              clusterId: ctx.config.clusterId,
              startedAtMs: ctx.startedAtMs,
              uptimeMs: ctx.now() - ctx.startedAtMs,
              ports: ctx.ports,
            },
            topics: { count: topics.length, partitions, sizeBytes },
            groups: { count: ctx.groups.listGroups(req.caller).groups.length },
            connections: { count: ctx.connectionCount() },
            rates: totalRates(Object.values(last?.topics ?? {})),
            egress: ctx.egress.notice(),
            timeMs: ctx.now(),
          }
          return { body }
        },
      },
    },
    {
      pattern: '/api/topics',
      doc: 'topics (?internal=true includes internal ones); POST { topic, partitions?, config? } creates one',
      methods: {
        GET: req => {
          const internal = req.query.get('internal') === 'true'
          return { body: { topics: ctx.topics.list(req.caller, { includeInternal: internal }).map(t => topicSummary(ctx, t)) } }
        },
        POST: async req => {
          const { name, partitions, config } = createTopicBody(ctx, req.body)
          const info = await ctx.topics.create(req.caller, name, { partitions, config })
          return { status: 201, body: { topic: topicDetail(ctx, info) } }
        },
      },
    },
    {
      pattern: '/api/topics/:name',
      doc: 'one topic: config and partitions; DELETE deletes it',
      methods: {
        GET: req => ({ body: { topic: topicDetail(ctx, knownTopic(ctx, req, req.params.name!)) } }),
        DELETE: async req => {
          const name = req.params.name!
          await ctx.topics.delete(req.caller, name)
          return { body: { deleted: name } }
        },
      },
    },
    {
      pattern: '/api/groups',
      doc: 'consumer groups with state, members, total lag and lag history (?sinceMs=T)',
      methods: {
        GET: req => {
          const history = groupLagHistory(ctx, sinceMs(req))
          const groups = ctx.groups.listGroups(req.caller).groups.map((g): GroupSummary => {
            const detail = ctx.groups.describeGroups(req.caller, { groupIds: [g.groupId] }).groups[0]
            return {
              groupId: g.groupId,
              state: g.state,
              members: g.members,
              topics: [...new Set(detail?.offsets.map(o => o.topic) ?? [])],
              totalLag: detail?.totalLag ?? 0,
              lagHistory: history.get(g.groupId) ?? [],
            }
          })
          return { body: { groups, timeMs: ctx.now() } }
        },
      },
    },
    {
      pattern: '/api/groups/:id',
      doc: 'one group: members, assignment, committed/end offsets and lag per partition; DELETE deletes an empty group',
      methods: {
        GET: req => ({ body: { group: describeGroup(ctx, req, req.params.id!) } }),
        DELETE: req => {
          const [result] = ctx.groups.deleteGroups(req.caller, { groupIds: [req.params.id!] }).groups
          if (result !== undefined && result.errorCode !== 0) throw errorFromCode(result.errorCode, result.errorMessage ?? undefined)
          return { body: { deleted: req.params.id! } }
        },
      },
    },
    {
      pattern: '/api/traffic',
      doc: 'per-second produce/fetch rates per topic (?sinceMs=T) and connections, heaviest egress first',
      methods: {
        GET: req => {
          // Rates only of topics the caller may describe; connections only to who may describe the cluster.
          const visible = ctx.access.allows(req.caller, 'describe', 'cluster', CLUSTER_RESOURCE) ? null : new Set(ctx.topics.list(req.caller, { includeInternal: true }).map(t => t.name))
          const history = ctx.stats.history(sinceMs(req)).map(s => ({
            timeMs: s.timeMs,
            topics: visible === null ? s.topics : Object.fromEntries(Object.entries(s.topics).filter(([name]) => visible.has(name))),
          }))
          const body: TrafficAnswer = { timeMs: ctx.now(), history, connections: visible === null ? ctx.stats.connections() : [] }
          return { body }
        },
      },
    },
    connectionsRoute(ctx),
    {
      pattern: '/api/cluster',
      doc: 'brokers, controller, and partitions under-replicated, offline or being reassigned',
      methods: { GET: req => ({ body: clusterAnswer(ctx, req) }) },
    },
  ]
  routes.unshift({
    pattern: '/api',
    doc: 'this list',
    methods: {
      GET: () => ({
        body: {
          endpoints: routes.flatMap(r => Object.keys(r.methods).map(m => ({ method: m, path: r.pattern, doc: r.doc }))),
        },
      }),
    },
  })
  return routes
}

/** The cluster as the ClusterView has it, summed up for the console's Brokers screen. */
function clusterAnswer (ctx: ApiContext, req: ApiRequest): ClusterAnswer {
  const view = ctx.cluster
  const counts = { total: 0, underReplicated: 0, offline: 0, reassigning: 0 }
  const attention: ClusterAnswer['attention'] = []
  if (view === undefined) {
    return { clustered: false, clusterId: ctx.config.clusterId, controllerId: ctx.config.nodeId, nodeId: ctx.config.nodeId, brokers: [], partitions: counts, attention }
  }
  for (const t of ctx.topics.list(req.caller, { includeInternal: true })) {
    for (const p of view.partitions(t.name) ?? []) {
      counts.total++
      const flags = [p.leader < 0 ? 'offline' : '', p.isr.length < p.replicas.length ? 'under-replicated' : '', p.addingReplicas.length + p.removingReplicas.length > 0 ? 'reassigning' : ''].filter(Boolean)
      if (p.leader < 0) counts.offline++
      if (p.isr.length < p.replicas.length) counts.underReplicated++
      if (p.addingReplicas.length + p.removingReplicas.length > 0) counts.reassigning++
      if (flags.length > 0 && attention.length < 200) {
        attention.push({ topic: t.name, partition: p.partition, leader: p.leader, leaderEpoch: p.leaderEpoch, replicas: p.replicas, isr: p.isr, state: flags.join(',') })
      }
    }
  }
  return {
    clustered: view.clustered,
    clusterId: view.clusterId,
    controllerId: view.controllerId(),
    nodeId: view.nodeId,
    brokers: view.brokers().map(b => ({
      nodeId: b.nodeId, rack: b.rack, decommissioned: b.decommissioned,
      listeners: Object.fromEntries(Object.entries(b.listeners).map(([k, v]) => [k, `${v.host}:${v.port}`])),
    })),
    partitions: counts,
    attention,
  }
}
