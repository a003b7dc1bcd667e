/**
 * Topic apis: Metadata (with auto-create), CreateTopics, DeleteTopics, DescribeTopics —
 * wire adapters over the topic service, which holds the rules. Every topic in a request
 * gets its own error; one bad name does not fail the others.
 */

import { ERROR_TABLE, SpoolError, UnknownServerError } from '../../../protocol/errors.js'
import type { RequestOf, ResponseOf } from '../../../protocol/native/api-keys.js'
import type { LogConfig } from '../../storage/config.js'
import { nativeAddressOf } from '../../services/cluster-view.js'
import type { BrokerContext } from './context.js'
import { errorFields } from './context.js'
import type { Reply } from './dispatcher.js'
import type { RequestContext } from './wire.js'

/** A topic's partitions as the cluster view has them (offline ones: LEADER_NOT_AVAILABLE). */
function describePartitions (ctx: BrokerContext, topic: string): ResponseOf<'Metadata'>['topics'][number]['partitions'] {
  return (ctx.cluster.partitions(topic) ?? []).map(p => ({
    partition: p.partition,
    errorCode: p.leader < 0 ? ERROR_TABLE.LEADER_NOT_AVAILABLE.code : 0,
    leader: p.leader,
    leaderEpoch: p.leaderEpoch,
    replicas: p.replicas,
    isr: p.isr,
    offlineReplicas: p.offlineReplicas,
    addingReplicas: p.addingReplicas,
    removingReplicas: p.removingReplicas,
  }))
}

export async function metadata (ctx: BrokerContext, req: RequestOf<'Metadata'>, rc: RequestContext): Promise<Reply<'Metadata'>> {
  const caller = rc.connection.caller
  const names = req.topics ?? ctx.topics.list(caller).map(t => t.name)
  const topics = []
  for (const name of names) {
    let error: unknown = null
    let info = ctx.topics.info(name)
    try {
      // Described only to who may describe it; to others it neither exists nor is created.
      if (req.topics !== null) ctx.topics.authorize(caller, 'describe', name)
      if (info === undefined) info = (await ctx.topics.ensure(caller, name, req.allowAutoCreate)).info
    } catch (err) {
      error = asNamed(err, ctx)
    }
    topics.push({
      topic: name,
      ...errorFields(error),
      internal: info?.internal ?? false,
      partitions: info === undefined || error !== null ? [] : describePartitions(ctx, name),
      ...(error !== null ? { internal: false } : {}),
    })
  }
  const brokers = []
  for (const b of ctx.cluster.brokers()) {
    const native = nativeAddressOf(b, rc.connection.peer.encrypted)
    if (native !== undefined) brokers.push({ nodeId: b.nodeId, host: native.host, port: native.port, rack: b.rack, decommissioned: b.decommissioned })
  }
  return { body: { clusterId: ctx.cluster.clusterId, controllerId: ctx.cluster.controllerId(), brokers, topics } }
}

export async function createTopics (ctx: BrokerContext, req: RequestOf<'CreateTopics'>, rc: RequestContext): Promise<Reply<'CreateTopics'>> {
  const topics = []
  for (const t of req.topics) {
    try {
      const info = await ctx.topics.create(rc.connection.caller, t.topic, {
        partitions: t.partitions, config: t.config as Partial<LogConfig>, validateOnly: req.validateOnly, ...(t.replicationFactor === -1 ? {} : { replicationFactor: t.replicationFactor }),
      })
      topics.push({ topic: t.topic, errorCode: 0, errorMessage: null, partitions: info.partitions })
    } catch (err) {
      topics.push({ topic: t.topic, ...errorFields(asNamed(err, ctx)), partitions: t.partitions === -1 ? ctx.config.defaultPartitions : t.partitions })
    }
  }
  return { body: { topics } }
}

export async function deleteTopics (ctx: BrokerContext, req: RequestOf<'DeleteTopics'>, rc: RequestContext): Promise<Reply<'DeleteTopics'>> {
  const topics = []
  for (const topic of req.topics) {
    try {
      await ctx.topics.delete(rc.connection.caller, topic)
      topics.push({ topic, errorCode: 0, errorMessage: null })
    } catch (err) {
      topics.push({ topic, ...errorFields(asNamed(err, ctx)) })
    }
  }
  return { body: { topics } }
}

export function describeTopics (ctx: BrokerContext, req: RequestOf<'DescribeTopics'>, rc: RequestContext): Reply<'DescribeTopics'> {
  const caller = rc.connection.caller
  const names = req.topics ?? ctx.topics.list(caller, { includeInternal: req.includeInternal }).map(t => t.name)
  const topics = names.map(name => {
    try {
      const d = ctx.topics.describe(caller, name)
      return { topic: name, errorCode: 0, errorMessage: null, internal: d.internal, config: { ...d.config }, partitions: d.partitionStats }
    } catch (err) {
      return { topic: name, ...errorFields(asNamed(err, ctx)), internal: false, config: {}, partitions: [] }
    }
  })
  return { body: { topics } }
}

/** Unexpected errors are logged and reported as UNKNOWN_SERVER_ERROR; named ones pass through. */
function asNamed (err: unknown, ctx: BrokerContext): SpoolError {
  if (err instanceof SpoolError) return err
  ctx.logger.error({ err }, 'topic operation failed')
  return new UnknownServerError('internal error', { cause: err })
}
