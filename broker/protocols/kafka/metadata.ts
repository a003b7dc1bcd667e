/**
 * Metadata, DescribeCluster and FindCoordinator: what the cluster looks like to a Kafka
 * client. A single broker is one node, so every broker id, partition leader, replica,
 * in-sync replica, controller and coordinator is this broker's node id (kafkajs sends admin
 * calls to the controller and fails with "Broker N not found in the cached metadata"
 * otherwise), at the listener's advertised host:port.
 *
 * In cluster mode the answers come from the ClusterView: every live broker with a Kafka
 * listener at its advertised Kafka address, each partition's leader, leader epoch, replicas,
 * in-sync replicas and offline replicas, the controller; a group's coordinator is the leader
 * of its `__consumer_offsets` partition (COORDINATOR_NOT_AVAILABLE while it has none), so
 * kcat, librdkafka and kafkajs route produce, fetch and group calls as against Kafka.
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

import { CoordinatorNotAvailableError } from '../../../protocol/errors.js'
import { kafkaErrorCodeOf } from '../../../protocol/kafka/error-codes.js'
import type { RequestBody, ResponseInput } from '../../../protocol/kafka/registry.js'
import { OFFSETS_TOPIC } from '../../groups/offset-store.js'
import type { ClusterView } from '../../services/cluster-view.js'
import { kafkaError, type ItemOf, type KafkaAdvertised, type KafkaContext, type KafkaRequestContext } from './context.js'

export const TRANSACTIONS_NOT_SUPPORTED = 'transactions are not supported by Spool (idempotent producers are)'

function brokers (ctx: KafkaContext, advertised: KafkaAdvertised): Array<{ nodeId: number, host: string, port: number, rack: string | null }> {
  if (ctx.cluster === null) return [{ nodeId: ctx.nodeId, host: advertised.host, port: advertised.port, rack: null }]
  const out = []
  for (const b of ctx.cluster.brokers()) {
    // A client on the TLS listener is told every broker's TLS listener, one on the plain
    // listener every plain one: the same security on every connection it makes.
    const kafka = b.listeners[advertised.listener]
    if (kafka !== undefined) out.push({ nodeId: b.nodeId, host: kafka.host, port: kafka.port, rack: b.rack })
  }
  return out.sort((a, b) => a.nodeId - b.nodeId)
}

type MetadataTopic = ItemOf<ResponseInput<'Metadata'>['topics']>

function partitionsOf (ctx: KafkaContext, name: string, count: number): MetadataTopic['partitions'] {
  const described = ctx.cluster?.partitions(name) ?? null
  if (described !== null) {
    return described.map(p => ({
      // A partition without a leader is LEADER_NOT_AVAILABLE, as Kafka answers it: clients retry.
      errorCode: p.leader < 0 ? LEADER_NOT_AVAILABLE : 0,
      partitionIndex: p.partition,
      leaderId: p.leader,
      leaderEpoch: p.leaderEpoch,
      replicaNodes: p.replicas,
      isrNodes: p.isr,
      offlineReplicas: p.offlineReplicas,
    }))
  }
  const node = [ctx.nodeId]
  return Array.from({ length: count }, (_, partitionIndex) => ({
    errorCode: 0, partitionIndex, leaderId: ctx.nodeId, leaderEpoch: 0, replicaNodes: node, isrNodes: node, offlineReplicas: [],
  }))
}

const LEADER_NOT_AVAILABLE = 5

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
      topics.push({ errorCode: 0, name, isInternal: info.internal, partitions: partitionsOf(ctx, name, info.partitions) })
    } catch (err) {
      topics.push({ errorCode: kafkaError(ctx, err, 'metadata').errorCode, name, isInternal: false, partitions: [] })
    }
  }
  return { brokers: brokers(ctx, rc.advertised), clusterId: ctx.clusterId, controllerId: controllerOf(ctx, rc.advertised.listener), topics }
}

/** The controller clients send admin calls to: in a cluster, one that is alive and has a Kafka listener. */
function controllerOf (ctx: KafkaContext, listener: KafkaAdvertised['listener']): number {
  if (ctx.cluster === null) return ctx.nodeId
  const id = ctx.cluster.controllerId()
  // Any broker forwards admin work to the controller; a controller without this Kafka listener
  // (or none known) is answered with this broker, which clients can reach.
  return ctx.cluster.brokers().some(b => b.nodeId === id && b.listeners[listener] !== undefined) ? id : ctx.nodeId
}

export function describeCluster (ctx: KafkaContext, rc: KafkaRequestContext): ResponseInput<'DescribeCluster'> {
  return {
    errorCode: 0,
    clusterId: ctx.clusterId,
    controllerId: controllerOf(ctx, rc.advertised.listener),
    brokers: brokers(ctx, rc.advertised).map(b => ({ brokerId: b.nodeId, host: b.host, port: b.port, rack: b.rack })),
  }
}

/** Cluster mode: the broker leading the group's `__consumer_offsets` partition, at its Kafka address. */
function groupCoordinator (ctx: KafkaContext, cluster: ClusterView, group: string, listener: KafkaAdvertised['listener']): { nodeId: number, host: string, port: number } {
  const partition = ctx.groups.coordinatorPartition(group)
  const leader = cluster.partitions(OFFSETS_TOPIC)?.[partition]?.leader ?? -1
  const kafka = cluster.brokers().find(b => b.nodeId === leader)?.listeners[listener]
  if (leader < 0 || kafka === undefined) throw new CoordinatorNotAvailableError(`partition ${partition} of ${OFFSETS_TOPIC}, which holds group ${group}, has no leader with a Kafka listener right now`)
  return { nodeId: leader, host: kafka.host, port: kafka.port }
}

/**
 * Every coordinator is this node. That includes transaction coordinators, which refuse at
 * the first transactional step (InitProducerId with a transactional id, producer-ids.ts):
 * there the clients show the error as what it is ("Transactional Id authorization failed",
 * fatal), whereas an error here is swallowed by kafkajs into "Failed to find group
 * coordinator" and retried by librdkafka.
 */
export function findCoordinator (ctx: KafkaContext, req: RequestBody<'FindCoordinator'>, rc: KafkaRequestContext): ResponseInput<'FindCoordinator'> {
  type Answer = { errorCode: number, errorMessage: string | null, nodeId: number, host: string, port: number }
  const here: Answer = { errorCode: 0, errorMessage: null, nodeId: ctx.nodeId, host: rc.advertised.host, port: rc.advertised.port }
  const cluster = ctx.cluster
  const GROUP = 0
  const answerFor = (key: string): Answer => {
    if (cluster === null || req.keyType !== GROUP) return here
    try {
      return { errorCode: 0, errorMessage: null, ...groupCoordinator(ctx, cluster, key, rc.advertised.listener) }
    } catch (err) {
      const e = err instanceof CoordinatorNotAvailableError ? err : new CoordinatorNotAvailableError(String(err))
      return { errorCode: kafkaErrorCodeOf(e), errorMessage: e.message, nodeId: -1, host: '', port: -1 }
    }
  }
  if (rc.apiVersion >= 4) return { coordinators: req.coordinatorKeys.map(key => ({ key, ...answerFor(key) })) }
  return answerFor(req.key)
}
