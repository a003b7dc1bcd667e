/**
 * Topic administration for Kafka admin clients: CreateTopics (v0-7), DeleteTopics (v0-6),
 * CreatePartitions (v0-3), DeleteRecords (v0-2) — wire adapters over the topic and
 * partition services, which hold the rules and log who changed what. Every topic or
 * partition in a request gets its own error; one bad name does not fail the others.
 *
 * One node: a replication factor other than 1 (or -1, "the broker's default") is
 * INVALID_REPLICATION_FACTOR, and a manual assignment must name only this node. Topics are
 * known by name only: a DeleteTopics v6 entry that names a topic id alone is UNKNOWN_TOPIC_ID.
 */

import { InvalidTopicError } from '../../../protocol/errors.js'
import { KafkaErrorCode } from '../../../protocol/kafka/error-codes.js'
import type { RequestBody, ResponseInput } from '../../../protocol/kafka/registry.js'
import type { LogConfig } from '../../storage/config.js'
import { kafkaError, type ItemOf, type KafkaContext, type KafkaRequestContext } from './context.js'
import { brokerLogDefaults, describeTopicConfig, parseTopicConfig } from './topic-configs.js'

type CreatedTopic = ItemOf<ResponseInput<'CreateTopics'>['topics']>

const ZERO_UUID = '00000000000000000000000000000000'

export async function createTopics (ctx: KafkaContext, req: RequestBody<'CreateTopics'>, rc: KafkaRequestContext): Promise<ResponseInput<'CreateTopics'>> {
  const topics: CreatedTopic[] = []
  const defaults = brokerLogDefaults(ctx.config)
  for (const t of req.topics) {
    const failed = (errorCode: number, errorMessage: string): void => { topics.push({ name: t.name, topicId: ZERO_UUID, errorCode, errorMessage, configs: null }) }
    if (t.replicationFactor !== -1 && t.replicationFactor !== 1) {
      failed(KafkaErrorCode.INVALID_REPLICATION_FACTOR, `replication factor ${t.replicationFactor}: Spool is a single node (use 1 or -1)`)
      continue
    }
    let partitions = t.numPartitions
    if (t.assignments.length > 0) {
      if (t.numPartitions !== -1 || t.assignments.some(a => a.brokerIds.some(id => id !== ctx.nodeId))) {
        failed(KafkaErrorCode.INVALID_REPLICA_ASSIGNMENT, `a replica assignment may only name node ${ctx.nodeId}, with num_partitions -1`)
        continue
      }
      partitions = t.assignments.length
    }
    try {
      const config: Partial<LogConfig> = {}
      for (const c of t.configs) parseTopicConfig(c.name, c.value, config)
      const info = await ctx.topics.create(rc.connection.caller, t.name, { partitions, config, validateOnly: req.validateOnly })
      topics.push({
        name: t.name,
        topicId: ZERO_UUID,
        errorCode: 0,
        errorMessage: null,
        numPartitions: info.partitions,
        replicationFactor: 1,
        configs: describeTopicConfig(info.config, defaults, null).map(c => ({ name: c.name, value: c.value, readOnly: false, configSource: c.source, isSensitive: false })),
      })
    } catch (err) {
      const e = kafkaError(ctx, err, 'create topic')
      failed(e.errorCode, e.errorMessage)
    }
  }
  return { topics }
}

export async function deleteTopics (ctx: KafkaContext, req: RequestBody<'DeleteTopics'>, rc: KafkaRequestContext): Promise<ResponseInput<'DeleteTopics'>> {
  const named: Array<{ name: string | null, topicId: string }> = rc.apiVersion >= 6 ? req.topics : req.topicNames.map(name => ({ name, topicId: ZERO_UUID }))
  const responses: Array<ItemOf<ResponseInput<'DeleteTopics'>['responses']>> = []
  for (const t of named) {
    if (t.name === null) {
      responses.push({ name: null, topicId: t.topicId, errorCode: KafkaErrorCode.UNKNOWN_TOPIC_ID, errorMessage: 'Spool knows topics by name only' })
      continue
    }
    try {
      await ctx.topics.delete(rc.connection.caller, t.name)
      responses.push({ name: t.name, topicId: ZERO_UUID, errorCode: 0, errorMessage: null })
    } catch (err) {
      responses.push({ name: t.name, topicId: ZERO_UUID, ...kafkaError(ctx, err, 'delete topic') })
    }
  }
  return { responses }
}

export async function createPartitions (ctx: KafkaContext, req: RequestBody<'CreatePartitions'>, rc: KafkaRequestContext): Promise<ResponseInput<'CreatePartitions'>> {
  const results: Array<ItemOf<ResponseInput<'CreatePartitions'>['results']>> = []
  for (const t of req.topics) {
    if (t.assignments !== null && t.assignments.some(a => a.brokerIds.some(id => id !== ctx.nodeId))) {
      results.push({ name: t.name, errorCode: KafkaErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: `a replica assignment may only name node ${ctx.nodeId}` })
      continue
    }
    try {
      await ctx.topics.addPartitions(rc.connection.caller, t.name, t.count, { validateOnly: req.validateOnly })
      results.push({ name: t.name, errorCode: 0, errorMessage: null })
    } catch (err) {
      results.push({ name: t.name, ...kafkaError(ctx, err, 'create partitions') })
    }
  }
  return { results }
}

/** DeleteRecords: offset -1 means the high watermark; the answer is the new log start offset. */
export function deleteRecords (ctx: KafkaContext, req: RequestBody<'DeleteRecords'>, rc: KafkaRequestContext): ResponseInput<'DeleteRecords'> {
  return {
    topics: req.topics.map(t => ({
      name: t.name,
      partitions: t.partitions.map(p => {
        try {
          ctx.topics.authorize(rc.connection.caller, 'delete', t.name)
          if (ctx.topics.info(t.name)?.internal === true) throw new InvalidTopicError(`topic "${t.name}" is internal`)
          const lowWatermark = ctx.partitions.deleteRecordsBefore(rc.connection.caller, t.name, p.partitionIndex, p.offset)
          return { partitionIndex: p.partitionIndex, lowWatermark, errorCode: 0 }
        } catch (err) {
          return { partitionIndex: p.partitionIndex, lowWatermark: -1, errorCode: kafkaError(ctx, err, 'delete records').errorCode }
        }
      }),
    })),
  }
}
