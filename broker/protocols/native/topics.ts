/**
 * Topic apis: Metadata (with auto-create), CreateTopics, DeleteTopics, DescribeTopics.
 * Every topic in a request gets its own error; one bad name does not fail the others.
 */

import { InvalidPartitionsError, SpoolError, UnknownServerError, UnknownTopicOrPartitionError } from '../../../protocol/errors.js'
import type { RequestOf } from '../../../protocol/native/api-keys.js'
import type { LogConfig } from '../../storage/config.js'
import type { BrokerContext } from './context.js'
import { errorFields } from './context.js'
import type { Reply } from './dispatcher.js'

function describePartitions (ctx: BrokerContext, partitions: number): Array<{ partition: number, errorCode: number, leader: number, leaderEpoch: number, replicas: number[], isr: number[] }> {
  const node = ctx.config.nodeId
  return Array.from({ length: partitions }, (_, partition) => ({ partition, errorCode: 0, leader: node, leaderEpoch: 0, replicas: [node], isr: [node] }))
}

export async function metadata (ctx: BrokerContext, req: RequestOf<'Metadata'>): Promise<Reply<'Metadata'>> {
  const names = req.topics ?? ctx.logs.topics().filter(t => !t.internal).map(t => t.name)
  const topics = []
  for (const name of names) {
    let error: unknown = null
    if (!ctx.logs.hasTopic(name)) {
      if (req.allowAutoCreate && ctx.config.autoCreateTopics) {
        try {
          await ctx.ensureTopic(name)
        } catch (err) {
          error = err
        }
      } else {
        error = new UnknownTopicOrPartitionError(`topic "${name}" does not exist`)
      }
    }
    const info = error === null ? ctx.logs.topic(name) : undefined
    if (info === undefined && error === null) error = new UnknownTopicOrPartitionError(`topic "${name}" does not exist`)
    topics.push({
      topic: name,
      ...errorFields(error),
      internal: info?.internal ?? false,
      partitions: info === undefined ? [] : describePartitions(ctx, info.partitions),
    })
  }
  return {
    body: {
      clusterId: ctx.config.clusterId,
      controllerId: ctx.config.nodeId,
      brokers: [{ nodeId: ctx.config.nodeId, host: ctx.advertised.host, port: ctx.advertised.port }],
      topics,
    },
  }
}

export async function createTopics (ctx: BrokerContext, req: RequestOf<'CreateTopics'>): Promise<Reply<'CreateTopics'>> {
  const topics = []
  for (const t of req.topics) {
    const partitions = t.partitions === -1 ? ctx.config.defaultPartitions : t.partitions
    try {
      if (partitions < 1 || partitions > ctx.config.maxPartitionsPerTopic) {
        throw new InvalidPartitionsError(`partitions must be 1-${ctx.config.maxPartitionsPerTopic} (got ${partitions})`)
      }
      if (!req.validateOnly) {
        await ctx.logs.createTopic(t.topic, { partitions, config: t.config as Partial<LogConfig> })
        ctx.logger.info({ topic: t.topic, partitions }, 'topic created')
      }
      topics.push({ topic: t.topic, errorCode: 0, errorMessage: null, partitions })
    } catch (err) {
      topics.push({ topic: t.topic, ...errorFields(asNamed(err, ctx)), partitions })
    }
  }
  return { body: { topics } }
}

export async function deleteTopics (ctx: BrokerContext, req: RequestOf<'DeleteTopics'>): Promise<Reply<'DeleteTopics'>> {
  const topics = []
  for (const topic of req.topics) {
    try {
      const info = ctx.logs.topic(topic)
      if (info?.internal === true) throw new UnknownTopicOrPartitionError(`topic "${topic}" is internal and cannot be deleted`)
      await ctx.logs.deleteTopic(topic)
      topics.push({ topic, errorCode: 0, errorMessage: null })
    } catch (err) {
      topics.push({ topic, ...errorFields(asNamed(err, ctx)) })
    }
  }
  return { body: { topics } }
}

export function describeTopics (ctx: BrokerContext, req: RequestOf<'DescribeTopics'>): Reply<'DescribeTopics'> {
  const names = req.topics ?? ctx.logs.topics().filter(t => req.includeInternal || !t.internal).map(t => t.name)
  const topics = names.map(name => {
    const info = ctx.logs.topic(name)
    if (info === undefined) {
      return { topic: name, ...errorFields(new UnknownTopicOrPartitionError(`topic "${name}" does not exist`)), internal: false, config: {}, partitions: [] }
    }
    return { topic: name, errorCode: 0, errorMessage: null, internal: info.internal, config: { ...info.config }, partitions: ctx.logs.partitionStats(name) }
  })
  return { body: { topics } }
}

/** Unexpected errors are logged and reported as UNKNOWN_SERVER_ERROR; named ones pass through. */
function asNamed (err: unknown, ctx: BrokerContext): SpoolError {
  if (err instanceof SpoolError) return err
  ctx.logger.error({ err }, 'topic operation failed')
  return new UnknownServerError('internal error', { cause: err })
}
