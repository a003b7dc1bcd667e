/**
 * Metadata, DescribeCluster and FindCoordinator: what the cluster looks like to a Kafka
 * client. Spool is one node, so every broker id, partition leader, replica, in-sync replica,
 * controller and coordinator is this broker's node id (kafkajs sends admin calls to the
 * controller and fails with "Broker N not found in the cached metadata" otherwise), at the
 * advertised host:port.
 *
 * Metadata topics: v0 an empty list means every topic; v1+ null means every topic and an
 * empty list none. A missing topic is auto-created when the request allows it
 * (allow_auto_topic_creation, v4+; always before) and the broker's autoCreateTopics is on —
 * TopicService.ensure decides — and is answered with its partitions and leader at once.
 * Internal topics (`__consumer_offsets`, Spool's own formats) are not listed.
 *
 * Authorization, as Kafka's broker answers: asked for every topic, a client sees those it
 * may describe; a topic it names but may not describe is TOPIC_AUTHORIZATION_FAILED whether
 * or not it exists (existence is not revealed), and so is a missing topic it may describe
 * but not create while auto-creation would otherwise make it. FindCoordinator names this
 * node without a group check: one node is every coordinator, so the answer reveals nothing,
 * and the group apis that follow answer GROUP_AUTHORIZATION_FAILED where every client shows
 * it (kafkajs turns a FindCoordinator error into "Failed to find group coordinator").
 */

import type { RequestBody, ResponseInput } from '../../../protocol/kafka/registry.js'
import { kafkaError, type ItemOf, type KafkaAdvertised, type KafkaContext, type KafkaRequestContext } from './context.js'

export const TRANSACTIONS_NOT_SUPPORTED = 'transactions are not supported by Spool (idempotent producers are)'

function brokers (ctx: KafkaContext, advertised: KafkaAdvertised): Array<{ nodeId: number, host: string, port: number, rack: null }> {
  return [{ nodeId: ctx.nodeId, host: advertised.host, port: advertised.port, rack: null }]
}

type MetadataTopic = ItemOf<ResponseInput<'Metadata'>['topics']>

function partitionsOf (ctx: KafkaContext, count: number): MetadataTopic['partitions'] {
  const node = [ctx.nodeId]
  return Array.from({ length: count }, (_, partitionIndex) => ({
    errorCode: 0, partitionIndex, leaderId: ctx.nodeId, leaderEpoch: 0, replicaNodes: node, isrNodes: node, offlineReplicas: [],
  }))
}

export async function metadata (ctx: KafkaContext, req: RequestBody<'Metadata'>, rc: KafkaRequestContext): Promise<ResponseInput<'Metadata'>> {
  const caller = rc.connection.caller
  const all = req.topics === null || (rc.apiVersion === 0 && req.topics.length === 0)
  const names = all ? ctx.topics.list(caller).map(t => t.name) : req.topics!.map(t => t.name)
  const allowAutoCreate = rc.apiVersion < 4 || req.allowAutoTopicCreation
  const topics: MetadataTopic[] = []
  for (const name of names) {
    try {
      if (!all) ctx.topics.authorize(caller, 'describe', name)
      let info = ctx.topics.info(name)
      if (info === undefined) {
        // What auto-creation would make but the caller may not create: TOPIC_AUTHORIZATION_FAILED.
        if (allowAutoCreate && ctx.config.autoCreateTopics && !name.startsWith('__')) ctx.topics.authorize(caller, 'create', name)
        info = (await ctx.topics.ensure(caller, name, allowAutoCreate)).info
      }
      topics.push({ errorCode: 0, name, isInternal: info.internal, partitions: partitionsOf(ctx, info.partitions) })
    } catch (err) {
      topics.push({ errorCode: kafkaError(ctx, err, 'metadata').errorCode, name, isInternal: false, partitions: [] })
    }
  }
  return { brokers: brokers(ctx, rc.advertised), clusterId: ctx.clusterId, controllerId: ctx.nodeId, topics }
}

export function describeCluster (ctx: KafkaContext, rc: KafkaRequestContext): ResponseInput<'DescribeCluster'> {
  return {
    errorCode: 0,
    clusterId: ctx.clusterId,
    controllerId: ctx.nodeId,
    brokers: brokers(ctx, rc.advertised).map(b => ({ brokerId: b.nodeId, host: b.host, port: b.port, rack: null })),
  }
}

/**
 * Every coordinator is this node. That includes transaction coordinators, which refuse at
 * the first transactional step (InitProducerId with a transactional id, producer-ids.ts):
 * there the clients show the error as what it is ("Transactional Id authorization failed",
 * fatal), whereas an error here is swallowed by kafkajs into "Failed to find group
 * coordinator" and retried by librdkafka.
 */
export function findCoordinator (ctx: KafkaContext, req: RequestBody<'FindCoordinator'>, rc: KafkaRequestContext): ResponseInput<'FindCoordinator'> {
  const answer = { errorCode: 0, errorMessage: null, nodeId: ctx.nodeId, host: rc.advertised.host, port: rc.advertised.port }
  if (rc.apiVersion >= 4) return { coordinators: req.coordinatorKeys.map(key => ({ key, ...answer })) }
  return answer
}
